"""Run by benchmarks/compare_abtem.py with abTEM's own interpreter (a separate venv).

Usage: ABTEM_PYTHON abtem_reference.py STRUCTURE.traj OUT.npz JSON_SETTINGS [FFTW_THREADS]
Writes abTEM 1.0.11's exit wave and image for the same settings and its timings: cold (first
run) and warm (best of the next three). abTEM runs at its defaults (one FFTW thread) unless
FFTW_THREADS is given.
"""

import json
import sys
import time

import abtem
import ase.io
import numpy as np

structure, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
config = {"device": "cpu", "diagnostics.progress_bar": False}
if len(sys.argv) > 4:
    config["fftw.threads"] = int(sys.argv[4])
abtem.config.set(config)
atoms = ase.io.read(structure)

potential = abtem.Potential(
    atoms,
    gpts=settings["gpts"],
    slice_thickness=settings["slice_thickness"],
    parametrization="lobato",
    projection="infinite",
)


def exit_wave_and_image():
    exit_wave = abtem.PlaneWave(energy=settings["energy"]).multislice(potential).compute()
    ctf = abtem.CTF(
        energy=settings["energy"],
        Cs=settings["Cs"],
        defocus=settings["defocus"],
        semiangle_cutoff=settings["semiangle_cutoff"],
        focal_spread=settings["focal_spread"],
        soft=False,
    )
    return exit_wave, exit_wave.apply_ctf(ctf).intensity().compute()


# The first run includes FFTW planning; the others reuse the plans (warm).
times = []
for _ in range(4):
    start = time.perf_counter()
    exit_wave, image = exit_wave_and_image()
    times.append(time.perf_counter() - start)

start = time.perf_counter()
built = potential.build().compute()
potential_seconds = time.perf_counter() - start

np.savez(
    out,
    exit_wave=exit_wave.array,
    image=image.array,
    slices=built.array,
    potential_seconds=potential_seconds,
    cold_seconds=times[0],
    warm_seconds=min(times[1:]),
    num_slices=len(built),
    gpts=np.array(exit_wave.gpts),
)
