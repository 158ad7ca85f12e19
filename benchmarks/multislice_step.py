"""One multislice step with a precomputed transmission function vs the FFT floor.

Floor = one forward + one inverse in-place FFT plus two complex multiplies on the same buffers,
timed in the same run. Issue #3 target: step / floor ≤ 1.15 at 1024² and 2048².
"""

import time

import numpy as np
from contention import run

from atomscope.core.fft import backend, empty, fft2_inplace, ifft2_inplace
from atomscope.core.grid import Grid
from atomscope.waves.multislice import MultisliceStepper


def best_of(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n):
    """Best step and floor times [s] at n × n."""
    grid = Grid(gpts=n, sampling=0.05)
    stepper = MultisliceStepper(grid, 300e3)
    rng = np.random.default_rng(0)
    transmission = stepper.transmission(rng.random((n, n), dtype=np.float32) * 20)
    transmission = transmission.copy()
    propagator = stepper.propagator(0.5)
    wave = empty((n, n))
    wave[...] = 1
    a, b = empty((n, n)), empty((n, n))
    a[...], b[...] = transmission, propagator

    def floor():
        np.multiply(wave, a, out=wave)
        fft2_inplace(wave)
        np.multiply(wave, b, out=wave)
        ifft2_inplace(wave, normalize=False)

    def step():
        stepper.step(wave, transmission, propagator)

    step(), floor()
    repeats = 20 if n == 1024 else 8
    t_floor = min(best_of(floor, repeats), best_of(floor, repeats))
    t_step = min(best_of(step, repeats), best_of(step, repeats))
    return t_step, t_floor


def main():
    print(f"FFT backend: {backend()}")
    for n in (1024, 2048):
        t_step, t_floor = measure(n)
        print(
            f"{n}²: step {t_step * 1e3:.2f} ms, FFT floor {t_floor * 1e3:.2f} ms, "
            f"ratio step/floor = {t_step / t_floor:.3f} (target ≤ 1.15)"
        )


if __name__ == "__main__":
    run(main)
