"""HAADF scan speed against abTEM 1.0.11 in one run (issue #6): SrTiO3 [001], the settings of
benchmarks/compare_abtem_stem.py (169 positions, 384² grid, 20 slices, 70–200 mrad).

Prints positions per second for atomscope and abTEM, cold (first scan in a fresh process;
atomscope's FFTW wisdom is cached on disk, abTEM plans anew) and warm (second scan), each with
the potential built inside the timed run, the speed-up abTEM time / atomscope time (target
≥ 2×), the FFT floor (one forward and one inverse FFT of the batch per slice), and the
peak RSS growth of a scan against the memory estimate of `Probe.plan_batches`.
"""

import resource
import time

import numpy as np
from compare_abtem_stem import HAADF, haadf_probe_and_scan, run_abtem, strontium_titanate

import atomscope as ats
from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace
from atomscope.waves.detectors import PixelatedDetector


def atomscope_seconds(atoms):
    start = time.perf_counter()
    potential = ats.Potential(atoms, gpts=HAADF["gpts"], slice_thickness=HAADF["slice_thickness"])
    probe, scan, detector = haadf_probe_and_scan(HAADF)
    probe.scan(potential, detector, scan)
    return time.perf_counter() - start, potential, scan


def fft_floor_seconds(num_positions, gpts, num_slices, batch=64):
    wave = empty((batch, *gpts))
    wave[...] = 1
    start = time.perf_counter()
    for _ in range(num_slices):
        fft2_inplace(wave)
        ifft2_inplace(wave, normalize=False)
    return (time.perf_counter() - start) * num_positions / batch


def peak_rss_over_estimate(atoms):
    """Peak RSS growth of a scan with an in-memory 4D-STEM detector over `plan_batches`'s
    estimate (issue #6: ≤ 1.2). Run first, while the process's peak is still the baseline."""
    potential = ats.Potential(atoms, gpts=HAADF["gpts"], slice_thickness=HAADF["slice_thickness"])
    probe, scan, detector = haadf_probe_and_scan(HAADF)
    detectors = [detector, PixelatedDetector(max_angle=60)]
    positions = int(np.prod(scan.resolve(0, potential.extent).shape))
    estimate = probe.plan_batches(potential, positions, detectors).nbytes
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    probe.scan(potential, detectors, scan)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return (after - before) / estimate, estimate


def main():
    atoms = strontium_titanate()
    ratio, estimate = peak_rss_over_estimate(atoms)
    print(f"peak RSS growth of a HAADF + 4D-STEM scan: {ratio:.2f}× the estimate "
          f"({estimate / 2**20:.0f} MiB; target ≤ 1.2×)")
    cold, potential, scan = atomscope_seconds(atoms)
    warm = min(atomscope_seconds(atoms)[0], atomscope_seconds(atoms)[0])
    ref = run_abtem("haadf", atoms, HAADF)
    positions = int(np.prod(scan.shape))
    floor = fft_floor_seconds(positions, potential.gpts, potential.num_slices)
    abtem_cold, abtem_warm = float(ref["cold_seconds"]), float(ref["warm_seconds"])
    print(f"SrTiO3 [001] HAADF: {positions} positions, grid {potential.gpts}, "
          f"{potential.num_slices} slices; FFT floor {positions / floor:.1f} positions/s")
    for label, ours, theirs in (("cold", cold, abtem_cold), ("warm", warm, abtem_warm)):
        print(f"{label}: atomscope {positions / ours:.1f} positions/s ({ours / floor:.2f}× floor),"
              f" abTEM {positions / theirs:.1f} positions/s, speed-up {theirs / ours:.2f}×"
              " (target ≥ 2×)")


if __name__ == "__main__":
    main()
