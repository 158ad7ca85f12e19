"""Run by benchmarks/recognition_vs_abtem.py with abTEM's own interpreter (a separate venv).

Usage: ABTEM_PYTHON abtem_graphene_lenses.py STRUCTURES.traj OUT.npz JSON_SETTINGS
Writes abTEM 1.0.11's noise-free HRTEM intensity of each (structure, lens) pair of the settings:
the structure's exit wave (plane wave, Lobato potential, infinite projection) through
``abtem.CTF`` with the lens's aberrations (C10, C12, phi12, C30, C50 [Å, rad]) and focal
spread (quasi-coherent envelope), at the wave's pixel (``sampling``).
"""

import json
import sys

import abtem
import ase.io
import numpy as np

structures, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
abtem.config.set({"device": "cpu", "fftw.threads": 1, "diagnostics.progress_bar": False})
waves = []
for atoms in ase.io.read(structures, index=":"):
    potential = abtem.Potential(
        atoms,
        sampling=settings["sampling"],
        slice_thickness=settings["slice_thickness"],
        parametrization="lobato",
        projection="infinite",
    )
    waves.append(abtem.PlaneWave(energy=settings["energy"]).multislice(potential).compute())
images = {}
for index, item in enumerate(settings["images"]):
    lens = item["lens"]
    ctf = abtem.CTF(
        energy=settings["energy"],
        semiangle_cutoff=np.inf,
        focal_spread=item["focal_spread"],
        aberration_coefficients={key: lens[key] for key in ("C10", "C12", "phi12", "C30", "C50")},
    )
    intensity = waves[item["structure"]].apply_ctf(ctf).intensity().compute()
    images[f"image_{index}"] = intensity.array.astype(np.float32)
np.savez(out, sampling=np.asarray(intensity.sampling), **images)
