"""Run by benchmarks/ewr_vs_abtem.py with abTEM's own interpreter (a separate venv).

Usage: ABTEM_PYTHON abtem_focal_series.py STRUCTURE.traj OUT.npz JSON_SETTINGS
Writes abTEM 1.0.11's exit wave and its quasi-coherent images at each defocus of the settings.
"""

import json
import sys

import abtem
import ase.io
import numpy as np

structure, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
abtem.config.set({"device": "cpu", "fftw.threads": 2, "diagnostics.progress_bar": False})
potential = abtem.Potential(
    ase.io.read(structure),
    gpts=settings["gpts"],
    slice_thickness=settings["slice_thickness"],
    parametrization="lobato",
    projection="infinite",
)
exit_wave = abtem.PlaneWave(energy=settings["energy"]).multislice(potential).compute()
images = []
for defocus in settings["defoci"]:
    ctf = abtem.CTF(
        energy=settings["energy"],
        Cs=settings["Cs"],
        defocus=defocus,
        semiangle_cutoff=settings["semiangle_cutoff"],
        focal_spread=settings["focal_spread"],
        soft=False,
    )
    images.append(exit_wave.apply_ctf(ctf).intensity().compute().array)
np.savez(out, exit_wave=exit_wave.array, images=np.stack(images), sampling=exit_wave.sampling)
