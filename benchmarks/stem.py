"""HAADF scan speed against abTEM 1.0.11 in one run (issue #6): SrTiO3 [001], the settings of
benchmarks/compare_abtem_stem.py (169 positions, 384² grid, 20 slices, 70–200 mrad).

Prints positions per second for atomscope and abTEM, cold (first scan in a fresh process;
atomscope's FFTW wisdom is cached on disk, abTEM plans anew) and warm (best of the next
REPEATS - 1 scans; the machine is shared), each with
the potential built inside the timed run, abTEM at its defaults (dask tasks in threads, one
FFTW thread each), the speed-up abTEM time / atomscope time (issue #15: ≥ 3× quiet, ≥ 2× with
one busy core; cold only in a fresh process), the FFT floor (one forward and one inverse FFT of the batch per slice), and the
peak RSS growth of a scan against the memory estimate of `Probe.plan_batches` (measured in a
fresh process: ``stem.py --memory``).

``stem.py --haadf``: this comparison alone. ``stem.py --prism`` (also run by the default): PRISM against plain multislice on a 39 Å field
(SrTiO3 10×10×5 cells, 256² grid, 10 slices, 200 keV, 20 mrad probe, 30–50 mrad ADF, a 64×64
scan of the whole field): for f = 1 (beams only; its S-matrix would be 3 GB), 2 and 4, the
number of beams, the relative L2 error of the image against `Probe.scan` and the speed-up
(plain time / PRISM time, both including the potential's slices, measured in this run).
It ends with the error budget (``stem.py --prism-budget`` alone, 16×16 positions): plain
multislice exit waves cut to PRISM's crop window (its coarser angular grid λf/extent and the
probe tails it loses, the tails alone measured by zero-padding the cut waves back to the full
grid) and PRISM against those cut waves (the beam interpolation).
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
from contention import fresh_process, run

import atomscope as ats
from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace
from atomscope.waves.detectors import AnnularDetector, PixelatedDetector, WavesDetector
from atomscope.waves.prism import PRISM, window_origins
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


def srtio3_field():
    """The 39 Å SrTiO3 field of the PRISM runs: atoms, probe, ADF detector, potential maker."""
    atoms = crystal(
        ["Sr", "Ti", "O"],
        [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
        spacegroup=221,
        cellpar=SRTIO3,
    ).repeat((10, 10, 5))

    def potential():
        return ats.Potential(atoms, gpts=256, slice_thickness=SRTIO3 / 2)

    return Probe(200e3, 20), AnnularDetector(30, 50), potential


def prism_speedup():
    """PRISM f = 2, 4 against `Probe.scan` on a 39 Å SrTiO3 field: error and speed-up."""
    probe, detector, potential = srtio3_field()
    scan = GridScan(gpts=64)
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
        print(
            f"f = {f}: {len(PRISM(probe, f).beams(grid)[0])} beams, relative L2 error "
            f"{100 * relative_error(image, plain):.2f} %, speed-up {plain_seconds / seconds:.2f}× "
            f"({seconds:.1f} s vs {plain_seconds:.1f} s)"
        )
    prism_error_budget(probe, detector, potential)


def relative_error(image, reference):
    return float(np.linalg.norm(image - reference) / np.linalg.norm(reference))


def prism_error_budget(probe, detector, potential, positions_per_axis=16):
    """Split PRISM's error into the crop window (exit waves of plain multislice cut to the
    window: a coarser angular grid λf/extent and the probe tails outside it) and the beam
    interpolation (PRISM against those cropped multislice waves)."""
    scan = GridScan(gpts=positions_per_axis)
    grid = potential().grid
    exit_waves = probe.scan(potential(), WavesDetector(), scan)[0]
    full = detector.integrate(exit_waves.diffraction_pattern())
    positions = scan.resolve(0, grid.extent).positions
    print(
        f"PRISM error budget on {len(positions)} positions (annular {detector.inner:g}–"
        f"{detector.outer:g} mrad; full-grid angular sampling "
        f"{1e3 * exit_waves.wavelength / grid.extent[0]:.2f} mrad):"
    )
    for f in (2, 4):
        window = PRISM(probe, f).window(grid)
        cropped = crop_windows(exit_waves.array, positions, grid, window)
        crop_only = detector.integrate(
            ats.Waves(cropped, grid.sampling, probe.energy).diffraction_pattern()
        ).reshape(full.shape)
        padded = np.zeros_like(exit_waves.array.reshape(-1, *grid.gpts))
        padded[:, : window.gpts[0], : window.gpts[1]] = cropped
        truncated = detector.integrate(
            ats.Waves(padded, grid.sampling, probe.energy).diffraction_pattern()
        ).reshape(full.shape)
        prism = PRISM(probe, f).scan(potential(), detector, scan)[0].array
        print(
            f"f = {f}: window {window.gpts[0]} px ({window.extent[0]:.1f} Å, angular sampling "
            f"{1e3 * exit_waves.wavelength / window.extent[0]:.2f} mrad): PRISM vs multislice "
            f"{100 * relative_error(prism, full):.2f} %; multislice waves cut to the window "
            f"{100 * relative_error(crop_only, full):.2f} % (of which the lost tails, measured "
            f"on the full angular grid: {100 * relative_error(truncated, full):.2f} %); PRISM vs "
            f"those cut waves {100 * relative_error(prism, crop_only):.2f} % (interpolation)"
        )


def crop_windows(waves, positions, grid, window):
    """Each probe's exit wave cut to PRISM's crop ``window`` centred on it (periodic), with
    PRISM's own window origins."""
    flat = waves.reshape(-1, *waves.shape[-2:])
    out = np.empty((len(flat), *window.gpts), dtype=np.complex64)
    for index, (x0, y0) in enumerate(window_origins(positions, grid, window)):
        rows = np.arange(x0, x0 + window.gpts[0]) % grid.gpts[0]
        columns = np.arange(y0, y0 + window.gpts[1]) % grid.gpts[1]
        out[index] = flat[index][np.ix_(rows, columns)]
    return out


def main():
    if "--prism" in sys.argv:
        prism_speedup()
        return
    if "--prism-budget" in sys.argv:
        prism_error_budget(*srtio3_field())
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
    timings = [("warm", warm, abtem_warm)]
    if fresh_process():
        timings.insert(0, ("cold", cold, abtem_cold))
    for label, ours, theirs in timings:
        print(
            f"{label}: atomscope {positions / ours:.1f} positions/s ({ours / floor:.2f}× floor),"
            f" abTEM (its defaults) {positions / theirs:.1f} positions/s, speed-up "
            f"{theirs / ours:.2f}× (target ≥ 3× quiet, ≥ 2× with one busy core)"
        )
    if "--haadf" in sys.argv:
        return
    subprocess.run([sys.executable, __file__, "--memory"], check=True)
    prism_speedup()


if __name__ == "__main__":
    run(main)
