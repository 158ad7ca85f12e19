"""Run by benchmarks/compare_abtem_stem.py and benchmarks/stem.py with abTEM's own interpreter.

Usage: ABTEM_PYTHON abtem_stem_reference.py cbed|haadf STRUCTURE.traj OUT.npz JSON_SETTINGS

cbed:  abTEM 1.0.11's exit wave and diffraction pattern (antialias cutoff) of one probe
       position, its potential slices, and the time of the run.
haadf: abTEM's annular-detector image of a grid scan from ``repeats`` (default 2) runs, the
       times (cold: the first in the process; warm: the best of the others) with the potential
       built inside the run, and its slices.
JSON_SETTINGS may hold "synchronous": true to run abTEM's dask graph one task at a time and
"fftw_threads": N to give each FFT N threads (abTEM's default: 1).
"""

import json
import sys
import time

import abtem
import ase.io
import dask
import numpy as np

mode, structure, out, settings = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
config = {"device": "cpu", "diagnostics.progress_bar": False}
if "fftw_threads" in settings:
    config["fftw.threads"] = settings["fftw_threads"]
abtem.config.set(config)  # otherwise abTEM's defaults: one FFTW thread per dask task
if settings.get("synchronous"):
    # one dask task at a time: abTEM's threaded scan has come out wrong under load (a 43 % and a
    # 57 % different image from the same input), so reference values for fidelity use this
    dask.config.set(scheduler="synchronous")
atoms = ase.io.read(structure)


def potential():
    return abtem.Potential(
        atoms,
        gpts=settings["gpts"],
        slice_thickness=settings["slice_thickness"],
        parametrization="lobato",
        projection="infinite",
    )


def probe():
    return abtem.Probe(
        energy=settings["energy"], semiangle_cutoff=settings["semiangle_cutoff"], soft=True
    )


if mode == "cbed":
    start = time.perf_counter()
    exit_wave = probe().multislice(potential(), scan=settings["position"]).compute()
    seconds = time.perf_counter() - start
    pattern = exit_wave.diffraction_patterns(max_angle="cutoff").compute()
    np.savez(
        out,
        exit_wave=exit_wave.array,
        cbed=pattern.array,
        angular_sampling=np.array(pattern.angular_sampling),
        slices=potential().build().compute().array,
        seconds=seconds,
    )
elif mode == "haadf":
    scan = abtem.GridScan(
        start=settings["scan_start"],
        end=settings["scan_end"],
        gpts=settings["scan_gpts"],
        endpoint=False,
    )
    detector = abtem.AnnularDetector(inner=settings["inner"], outer=settings["outer"])
    times, images = [], []
    for _ in range(settings.get("repeats", 2)):
        start = time.perf_counter()
        images.append(probe().scan(potential(), scan=scan, detectors=detector).compute().array)
        times.append(time.perf_counter() - start)
    np.savez(
        out,
        image=images[1],
        first_image=images[0],
        cold_seconds=times[0],
        warm_seconds=min(times[1:]),
        slices=potential().build().compute().array,
    )
else:
    sys.exit(f"mode must be cbed or haadf, got {mode!r}")
