"""Run by benchmarks/compare_abtem_phonons.py with abTEM's own interpreter (a separate venv).

Usage: ABTEM_PYTHON abtem_phonons_reference.py SNAPSHOTS.traj OUT.npz JSON_SETTINGS
For every sampling in the settings: abTEM 1.0.11's frozen-phonon HRTEM image, the mean over the
given snapshots of |ψ ⊗ CTF|² (quasi-coherent CTF per snapshot), and, at the first sampling,
its potential slices of every snapshot.
"""

import json
import sys

import abtem
import ase.io
import numpy as np

snapshots_path, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
abtem.config.set({"device": "cpu", "fftw.threads": 2, "diagnostics.progress_bar": False})
snapshots = ase.io.read(snapshots_path, index=":")
ctf = abtem.CTF(
    energy=settings["energy"],
    Cs=settings["Cs"],
    defocus=settings["defocus"],
    semiangle_cutoff=settings["semiangle_cutoff"],
    focal_spread=settings["focal_spread"],
    soft=False,
)
results = {}
for index, sampling in enumerate(settings["samplings"]):
    images, slices = [], []
    for atoms in snapshots:
        potential = abtem.Potential(
            atoms,
            sampling=sampling,
            slice_thickness=settings["slice_thickness"],
            parametrization="lobato",
            projection="infinite",
        )
        exit_wave = abtem.PlaneWave(energy=settings["energy"]).multislice(potential).compute()
        images.append(exit_wave.apply_ctf(ctf).intensity().compute().array)
        if index == 0:
            slices.append(potential.build().compute().array)
    results[f"image_{index}"] = np.mean(images, axis=0)
    if index == 0:
        results["slices"] = np.array(slices)
np.savez(out, **results)
