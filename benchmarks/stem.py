"""HAADF scan speed against abTEM 1.0.11 in one run (issue #6): SrTiO3 [001], the settings of
benchmarks/compare_abtem_stem.py (169 positions, 384² grid, 20 slices, 70–200 mrad).

Prints positions per second for atomscope and abTEM, cold (first scan in a fresh process;
atomscope's FFTW wisdom is cached on disk, abTEM plans anew) and warm (best of the next
REPEATS - 1 scans; the machine is shared), each with
the potential built inside the timed run, the speed-up abTEM time / atomscope time (target
≥ 2×), the FFT floor (one forward and one inverse FFT of the batch per slice), and the
peak RSS growth of a scan against the memory estimate of `Probe.plan_batches` (measured in a
fresh process: ``stem.py --memory``).

``stem.py --prism`` (also run by the default): PRISM against plain multislice on a 39 Å field
(SrTiO3 10×10×5 cells, 256² grid, 10 slices, 200 keV, 20 mrad probe, 30–50 mrad ADF, a 64×64
scan of the whole field): for f = 1 (beams only; its S-matrix would be 3 GB), 2 and 4, the
number of beams, the relative L2 error of the image against `Probe.scan` and the speed-up
(plain time / PRISM time, both including the potential's slices, measured in this run).
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase.spacegroup import crystal
from compare_abtem_stem import (
    HAADF,
    SRTIO3,
    haadf_probe_and_scan,
    run_abtem,
    strontium_titanate,
)

import atomscope as ats
from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace
from atomscope.waves.detectors import AnnularDetector, PixelatedDetector
from atomscope.waves.prism import PRISM
from atomscope.waves.probe import Probe
from atomscope.waves.scan import GridScan

#: Scans per code; warm is the best of all but the first (the machine is shared).
REPEATS = 4


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
    estimate (issue #6: ≤ 1.2). Needs a fresh process, whose peak is still the baseline."""
    potential = ats.Potential(atoms, gpts=HAADF["gpts"], slice_thickness=HAADF["slice_thickness"])
    probe, scan, detector = haadf_probe_and_scan(HAADF)
    detectors = [detector, PixelatedDetector(max_angle=60)]
    positions = int(np.prod(scan.resolve(0, potential.extent).shape))
    estimate = probe.plan_batches(potential, positions, detectors).nbytes
    before = peak_rss()
    probe.scan(potential, detectors, scan)
    return (peak_rss() - before) / estimate, estimate


def peak_rss():
    """This process's peak resident memory [bytes] (VmHWM; unlike ru_maxrss it is not
    inherited from the parent across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def prism_speedup():
    """PRISM f = 2, 4 against `Probe.scan` on a 39 Å SrTiO3 field: error and speed-up."""
    atoms = crystal(
        ["Sr", "Ti", "O"],
        [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
        spacegroup=221,
        cellpar=SRTIO3,
    ).repeat((10, 10, 5))
    probe = Probe(200e3, 20)
    detector = AnnularDetector(30, 50)
    scan = GridScan(gpts=64)

    def potential():
        return ats.Potential(atoms, gpts=256, slice_thickness=SRTIO3 / 2)

    start = time.perf_counter()
    plain = probe.scan(potential(), detector, scan)[0].array
    plain_seconds = time.perf_counter() - start
    grid = potential().grid
    print(
        f"PRISM vs multislice: SrTiO3 {grid.extent[0]:.1f} Å field, grid {grid.gpts}, "
        f"{potential().num_slices} slices, {plain.size} positions; plain multislice "
        f"{plain.size / plain_seconds:.1f} positions/s "
        f"(f = 1 would need {len(PRISM(probe, 1).beams(grid)[0])} beams)"
    )
    for f in (2, 4):
        start = time.perf_counter()
        image = PRISM(probe, f).scan(potential(), detector, scan)[0].array
        seconds = time.perf_counter() - start
        error = np.linalg.norm(image - plain) / np.linalg.norm(plain)
        print(
            f"f = {f}: {len(PRISM(probe, f).beams(grid)[0])} beams, relative L2 error "
            f"{100 * error:.2f} %, speed-up {plain_seconds / seconds:.2f}× "
            f"({seconds:.1f} s vs {plain_seconds:.1f} s)"
        )


def main():
    if "--prism" in sys.argv:
        prism_speedup()
        return
    atoms = strontium_titanate()
    if "--memory" in sys.argv:
        ratio, estimate = peak_rss_over_estimate(atoms)
        print(
            f"peak RSS growth of a HAADF + 4D-STEM scan: {ratio:.2f}× the estimate "
            f"({estimate / 2**20:.0f} MiB; target ≤ 1.2×)"
        )
        return
    cold, potential, scan = atomscope_seconds(atoms)
    warm = min(atomscope_seconds(atoms)[0] for _ in range(REPEATS - 1))
    ref = run_abtem("haadf", atoms, {**HAADF, "repeats": REPEATS})
    positions = int(np.prod(scan.shape))
    floor = fft_floor_seconds(positions, potential.gpts, potential.num_slices)
    abtem_cold, abtem_warm = float(ref["cold_seconds"]), float(ref["warm_seconds"])
    print(
        f"SrTiO3 [001] HAADF: {positions} positions, grid {potential.gpts}, "
        f"{potential.num_slices} slices; FFT floor {positions / floor:.1f} positions/s"
    )
    for label, ours, theirs in (("cold", cold, abtem_cold), ("warm", warm, abtem_warm)):
        print(
            f"{label}: atomscope {positions / ours:.1f} positions/s ({ours / floor:.2f}× floor),"
            f" abTEM {positions / theirs:.1f} positions/s, speed-up {theirs / ours:.2f}×"
            " (target ≥ 2×)"
        )
    subprocess.run([sys.executable, __file__, "--memory"], check=True)
    prism_speedup()


if __name__ == "__main__":
    main()
