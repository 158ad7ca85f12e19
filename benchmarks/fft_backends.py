"""What reproducibility costs: the default scipy.fft backend vs FFTW's measured plans.

scipy.fft (pocketfft) is the default because its results do not depend on planning, threads or
cache (issue #12); FFTW chooses its algorithm by timing. For each backend and thread count this
prints, in one run: the forward + inverse in-place FFT time on the grids atomscope uses (the
demo's 600×570, a 576² and a 1024² grid, a STEM batch of 16 × 384²) and the seed's Au
nanoparticle HRTEM exit wave + image (warm, best of 3), and the ratio FFTW / scipy.

    python benchmarks/fft_backends.py
"""

import json
import os
import subprocess
import sys
import time

from contention import run

SHAPES = ((600, 570), (576, 576), (1024, 1024), (16, 384, 384))

_WORKER = """
import json, sys, time
import numpy as np
from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace
from atomscope.jobs.hrtem import HRTEMSettings, demo_structure, prepare
from atomscope.waves.ensemble import frozen_phonon_average
from atomscope.waves.plane import PlaneWave

def best(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)

result = {}
for shape in json.loads(sys.argv[1]):
    wave = empty(tuple(shape))
    wave[...] = np.random.default_rng(0).random(shape)
    result["x".join(map(str, shape))] = best(lambda: ifft2_inplace(fft2_inplace(wave)), 20)
settings = HRTEMSettings()
potential, ctf, _, _ = prepare(demo_structure(), settings)
job = lambda: frozen_phonon_average(PlaneWave(settings.energy), potential, ctf, progress=False)
result["HRTEM demo"] = best(job, 3)
print(json.dumps(result))
"""


def measure(backend: str, threads: int) -> dict[str, float]:
    env = {**os.environ, "ATOMSCOPE_FFT": backend, "ATOMSCOPE_THREADS": str(threads)}
    run = subprocess.run(
        [sys.executable, "-c", _WORKER, json.dumps(SHAPES)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def main() -> None:
    start = time.perf_counter()
    for threads in (1, 2):
        scipy_times, fftw_times = measure("scipy", threads), measure("fftw", threads)
        print(f"{threads} thread(s): time [ms] scipy | FFTW | ratio FFTW/scipy (< 1: FFTW faster)")
        for name, scipy_time in scipy_times.items():
            fftw_time = fftw_times[name]
            print(
                f"  {name:>12}: {scipy_time * 1e3:8.2f} | {fftw_time * 1e3:8.2f} | "
                f"{fftw_time / scipy_time:.2f}"
            )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    run(main)
