"""Run by benchmarks/series_vs_abtem.py with abTEM's own interpreter (a separate venv).

Usage: ABTEM_PYTHON abtem_hopping_series.py TRAJECTORY.traj OUT.npz JSON_SETTINGS
Writes abTEM 1.0.11's noise-free HRTEM intensity of every frame of the trajectory, each frame's
atoms moved by its drift (periodic cell), resampled to the camera pixel.
"""

import json
import sys

import abtem
import ase.io
import numpy as np

trajectory, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
abtem.config.set({"device": "cpu", "fftw.threads": 1, "diagnostics.progress_bar": False})
ctf = abtem.CTF(
    energy=settings["energy"],
    Cs=settings["Cs"],
    defocus=settings["defocus"],
    semiangle_cutoff=settings["semiangle_cutoff"],
    focal_spread=settings["focal_spread"],
)
frames = []
for atoms, shift in zip(ase.io.read(trajectory, index=":"), settings["drift"], strict=True):
    moved = atoms.copy()
    moved.positions[:, :2] += shift
    moved.wrap()
    potential = abtem.Potential(
        moved,
        sampling=settings["sampling"],
        slice_thickness=settings["slice_thickness"],
        parametrization="lobato",
        projection="infinite",
    )
    wave = abtem.PlaneWave(energy=settings["energy"]).multislice(potential)
    image = wave.apply_ctf(ctf).intensity().interpolate(sampling=settings["camera_sampling"])
    image = image.compute()
    frames.append(image.array)
np.savez(out, frames=np.stack(frames), sampling=np.asarray(image.sampling))
