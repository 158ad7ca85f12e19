"""The STEM and CBED jobs: a structure in, images or a pattern written into a directory.

Outputs go to ``out`` (a directory): per annular/segmented detector a TIFF and a PNG, the
pixelated detector a zarr store (``4dstem.zarr``, attribute ``complete``) and a PNG of the
position-averaged pattern, a CBED run ``cbed.npz`` and ``cbed.png``; every run writes
``summary.json`` (`atomscope.summary`). A sequence of structures (frozen-phonon
snapshots) is averaged. The memory estimate is printed before the run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from atomscope.core.validate import check_positive


@dataclass
class ProbeSettings:
    """The probe and the potential of a STEM or CBED run (units: eV, mrad, Å).

    ``aberrations`` holds polar coefficients by symbol or alias (C10 = −defocus, Cs = C30,
    C12, phi12, ...). ``phonons`` = (σ [Å], snapshots, seed) averages Einstein frozen phonons
    of a single structure.
    """

    energy: float = 200e3
    semiangle_cutoff: float = 20.0
    aberrations: dict[str, float] = field(default_factory=dict)
    sampling: float = 0.04
    slice_thickness: float = 1.0
    parametrization: str = "lobato"
    phonons: tuple[float, int, int] | None = None


def _detector_name(detector) -> str:
    from atomscope.waves.detectors import AnnularDetector, PixelatedDetector

    if isinstance(detector, AnnularDetector):
        return f"annular_{detector.inner:g}-{detector.outer:g}mrad"
    if isinstance(detector, PixelatedDetector):
        return "4dstem"
    return (
        f"segmented_{detector.inner:g}-{detector.outer:g}mrad_"
        f"{detector.nbins_radial}x{detector.nbins_azimuthal}"
    )


def _setup(atoms, settings: ProbeSettings):
    """Potential and probe from the settings (all checked before any work)."""
    from ase import Atoms

    from atomscope.potentials.projected import Potential
    from atomscope.waves.probe import Probe

    check_positive("--sampling", settings.sampling)
    check_positive("--slice-thickness", settings.slice_thickness)
    probe = Probe(settings.energy, settings.semiangle_cutoff, **settings.aberrations)
    if settings.phonons is not None:
        from atomscope.thermal import EinsteinPhonons

        if not isinstance(atoms, Atoms):
            raise ValueError("--phonons needs a single-frame STRUCTURE (it already has frames)")
        sigma, count, seed = settings.phonons
        atoms = list(EinsteinPhonons(atoms, sigmas=sigma, num_configs=count, rng=seed))
    potential = Potential(
        atoms,
        sampling=settings.sampling,
        slice_thickness=settings.slice_thickness,
        parametrization=settings.parametrization,
    )
    probe.check_grid(potential.grid)
    return probe, potential


def _check_disk_space(out: Path, scan, probe, potential, detectors, scan_sampling) -> None:
    """Refuse a scan whose 4D-STEM store (uncompressed: positions × pattern pixels × 4 B) does
    not fit on the disk of ``out``."""
    from atomscope.core.memory import check_disk
    from atomscope.waves.detectors import PixelatedDetector

    patterns = [
        detector.allocate((1,), potential.grid, probe.energy)
        for detector in detectors
        if isinstance(detector, PixelatedDetector)
    ]
    if not patterns:
        return
    step = "default" if scan_sampling is None else f"{scan_sampling:g} Å"
    sizes = ", ".join(f"{p.shape[-2]}×{p.shape[-1]}" for p in patterns)
    check_disk(
        out,
        int(np.prod(scan.shape)) * sum(pattern.nbytes for pattern in patterns),
        f"a 4D-STEM scan of {scan.shape[0]}×{scan.shape[1]} positions (--scan-sampling {step}) "
        f"with {sizes}-pixel patterns (--detector pixelated:MAX_ANGLE)",
        "use a larger --scan-sampling, a smaller MAX_ANGLE or free some disk space",
    )


def _results(name: str, probe, potential, **extra) -> dict:
    return {
        "structure": name,
        "probe": probe.parameters(),
        "grid": {
            "gpts": potential.gpts,
            "sampling": potential.sampling,
            "num_slices": potential.num_slices,
        },
        "parametrization": potential.parametrization,
        "num_configs": potential.num_configs,
        **extra,
    }


def _output_names(detectors) -> list[str]:
    """The files (and the zarr store) a STEM run writes, known before the scan starts."""
    from atomscope.waves.detectors import PixelatedDetector

    names = ["summary.json"]
    for detector in detectors:
        name = _detector_name(detector)
        if isinstance(detector, PixelatedDetector):
            names += [f"{name}.zarr", f"{name}_mean.png"]
        else:
            names += [f"{name}.tif", f"{name}.png"]
            if detector.signal_shape:
                names.append(f"{name}_segments.npz")
    return names


def run_stem(
    atoms,
    out: str | Path,
    detectors: Sequence,
    settings: ProbeSettings | None = None,
    scan_sampling: float | None = None,
    scan_start: tuple[float, float] = (0.0, 0.0),
    scan_end: tuple[float, float] | None = None,
    batch_size: int | None = None,
    prism: int | None = None,
    client=None,
    name: str = "structure",
) -> dict:
    """Scan a probe over ``atoms`` and write one image per detector into directory ``out``.

    Parameters
    ----------
    atoms
        An ASE ``Atoms`` or a sequence of frozen-phonon snapshots.
    out
        Output directory; only files an earlier STEM run wrote are replaced.
    detectors
        `AnnularDetector`, `SegmentedDetector` and/or `PixelatedDetector` objects.
    settings
        The probe and potential (`ProbeSettings`; default: its defaults).
    scan_sampling, scan_start, scan_end
        Scan step [Å] (default: the probe's Nyquist step) and corners [Å] (default: the cell).
    batch_size
        Probe positions per batch (default: what fits the memory budget).
    prism
        PRISM interpolation factor, or None for plain multislice.
    client
        A Dask client, or None for a local run.
    name
        The structure's name for the summary.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    from atomscope.core.memory import describe
    from atomscope.io import write_npz, write_tiff
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import image_png, save_figure
    from atomscope.summary import write_summary
    from atomscope.waves.detectors import PixelatedDetector
    from atomscope.waves.prism import PRISM
    from atomscope.waves.probe import check_inside
    from atomscope.waves.scan import GridScan

    started = time.perf_counter()
    settings = ProbeSettings() if settings is None else settings
    if not detectors:
        raise ValueError("give at least one --detector, e.g. --detector annular:70:200")
    out = Path(out)
    probe, potential = _setup(atoms, settings)
    limit = probe.check_grid(potential.grid)
    for detector in detectors:
        detector.check(limit)
    scan = GridScan(scan_start, scan_end, sampling=scan_sampling).resolve(
        probe.nyquist_sampling(), potential.extent, name="--scan-sampling"
    )
    check_inside(scan.positions, potential.extent)
    num_positions = int(np.prod(scan.shape))
    if prism is None:
        batch_size, nbytes, _, _ = probe.plan_batches(
            potential, num_positions, detectors, batch_size
        )
        method = f"batches of {batch_size}"
    else:
        prism_scan = PRISM(probe, prism)
        batch_size, nbytes = None, prism_scan.estimate(potential, num_positions, detectors)
        method = f"PRISM f = {prism}, {len(prism_scan.beams(potential.grid)[0])} beams"
    _check_disk_space(out, scan, probe, potential, detectors, scan_sampling)
    outputs = _output_names(detectors)
    claim_outputs(out, "stem", outputs)
    print(
        f"scan {scan.shape[0]}×{scan.shape[1]} positions (step {scan.step[0]:.3f} Å), "
        f"{method}, {describe(nbytes)}"
    )
    # the 4D-STEM store is written inside the staging directory too: the previous complete set
    # stays in out until this scan has finished
    with staged_outputs(out, "stem") as stage:
        staged = [
            PixelatedDetector(d.max_angle, stage / f"{_detector_name(d)}.zarr")
            if isinstance(d, PixelatedDetector)
            else d
            for d in detectors
        ]
        start = time.perf_counter()
        if prism is None:
            measurements = probe.scan(
                potential, staged, scan, batch_size, progress=True, client=client
            )
        else:
            measurements = prism_scan.scan(potential, staged, scan, progress=True, client=client)
        seconds = time.perf_counter() - start
        for detector, measurement in zip(staged, measurements, strict=True):
            label = _detector_name(detector)
            if isinstance(detector, PixelatedDetector):
                save_figure(
                    measurement.plot(title="position-averaged CBED"), stage / f"{label}_mean.png"
                )
                continue
            # segments are summed for the TIFF/PNG and kept separately in an .npz
            total = measurement.with_array(measurement.array.reshape(-1, *scan.shape).sum(axis=0))
            write_tiff(stage / f"{label}.tif", total)
            image_png(stage / f"{label}.png", total, title=label)
            if measurement.array.ndim > 2:
                write_npz(stage / f"{label}_segments.npz", segments=measurement.array)
        summary = write_summary(
            stage / "summary.json",
            "stem",
            {
                "structure": name,
                "settings": asdict(settings),
                "detectors": [repr(d) for d in detectors],
                "scan_sampling": scan_sampling,
                "scan_start": scan_start,
                "scan_end": scan_end,
                "batch_size": batch_size,
                "prism": prism,
            },
            outputs,
            started,
            _results(
                name,
                probe,
                potential,
                scan={"start": scan.start, "end": scan.end, "shape": scan.shape, "step": scan.step},
                batch_size=batch_size,
                prism_interpolation=prism,
                memory_estimate_bytes=nbytes,
                scan_seconds=seconds,
                positions_per_second=num_positions / seconds,
            ),
        )
    print(f"{num_positions} positions in {seconds:.1f} s; outputs in {out}/")
    return summary


_FIGURE_BYTES = 40 * 2**20  # matplotlib and the figure of a pattern
_CBED_OUTPUTS = ["cbed.npz", "cbed.png", "summary.json"]


def run_cbed(
    atoms,
    out: str | Path,
    settings: ProbeSettings | None = None,
    position: tuple[float, float] | None = None,
    max_angle: float | None = None,
    client=None,
    name: str = "structure",
) -> dict:
    """Propagate one probe through ``atoms`` and write its diffraction pattern into ``out``.

    ``position`` [Å] defaults to the cell centre; ``max_angle`` [mrad] crops the pattern
    (default: 2/3 of the Nyquist angle). The other parameters are those of `run_stem`.
    Returns the summary written to ``out/summary.json``.
    """
    from atomscope.core.memory import check_and_report, estimate
    from atomscope.io import write_npz
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import save_figure
    from atomscope.summary import write_summary
    from atomscope.waves.diffraction import check_max_angle
    from atomscope.waves.multislice import multislice_memory

    started = time.perf_counter()
    settings = ProbeSettings() if settings is None else settings
    probe, potential = _setup(atoms, settings)
    if max_angle is not None:
        check_max_angle(max_angle, probe.check_grid(potential.grid), "--max-angle")
    nx, ny = potential.gpts
    check_and_report(
        # one probe through the slices, then every configuration's exit wave and its FFT copy,
        # and the pattern's figure
        multislice_memory(potential)
        + 2 * estimate("waves", gpts=potential.gpts, count=potential.num_configs)
        + _FIGURE_BYTES,
        f"a CBED multislice on the {nx}×{ny} grid of --sampling {settings.sampling:g} Å",
        "use a coarser --sampling or a smaller structure",
    )
    out = Path(out)
    claim_outputs(out, "cbed", _CBED_OUTPUTS)
    centre = np.array(potential.extent) / 2 if position is None else np.asarray(position)
    waves = probe.multislice(potential, position=centre, progress=True, client=client)
    pattern = waves.diffraction_pattern(max_angle)
    with staged_outputs(out, "cbed") as stage:
        write_npz(
            stage / "cbed.npz",
            pattern=pattern.array,
            angular_sampling=np.array(pattern.angular_sampling),
        )
        save_figure(pattern.plot(title="CBED"), stage / "cbed.png")
        summary = write_summary(
            stage / "summary.json",
            "cbed",
            {
                "structure": name,
                "settings": asdict(settings),
                "position": position,
                "max_angle": max_angle,
            },
            _CBED_OUTPUTS,
            started,
            _results(
                name,
                probe,
                potential,
                position=list(centre),
                max_angle=pattern.metadata["max_angle"],
                angular_sampling=pattern.angular_sampling,
            ),
        )
    print(
        f"CBED {pattern.shape[-2]}×{pattern.shape[-1]} px "
        f"({pattern.angular_sampling[0]:.3f} mrad/px); outputs in {out}/"
    )
    return summary
