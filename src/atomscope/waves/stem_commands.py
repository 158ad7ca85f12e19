"""``atomscope stem | cbed``: STEM images and CBED patterns of a structure file.

Outputs go to ``--out`` (a directory): per annular/segmented detector a TIFF and a PNG, the
pixelated detector a zarr store (``4dstem.zarr``, attribute ``complete``) and a PNG of the
position-averaged pattern, a CBED run ``cbed.npz`` and ``cbed.png``; every run writes
``summary.json`` with all parameters. A multi-frame STRUCTURE (e.g. from ``atomscope
phonons``) is averaged as frozen phonons. The memory estimate is printed before the run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from atomscope.core.validate import check_positive


def _detector(text: str):
    """``annular:INNER:OUTER``, ``segmented:INNER:OUTER:RINGS:SECTORS[:ROTATION]`` or
    ``pixelated[:MAX_ANGLE]`` (angles in mrad, rotation in rad)."""
    from atomscope.waves.detectors import AnnularDetector, PixelatedDetector, SegmentedDetector

    kind, *values = text.split(":")
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--detector {text!r}: the fields must be numbers"
        ) from None
    if kind == "annular" and len(numbers) == 2:
        return AnnularDetector(*numbers)
    if kind == "segmented" and len(numbers) in (4, 5):
        return SegmentedDetector(
            numbers[0], numbers[1], int(numbers[2]), int(numbers[3]), *numbers[4:]
        )
    if kind == "pixelated" and len(numbers) <= 1:
        return PixelatedDetector(*numbers)
    raise argparse.ArgumentTypeError(
        f"--detector must look like annular:70:200, segmented:10:40:2:4[:ROTATION] or "
        f"pixelated[:MAX_ANGLE], got {text!r}"
    )


def _phonons(text: str) -> tuple[float, int, int]:
    """``einstein:SIGMA:N[:SEED]`` → (σ [Å], number of snapshots, seed)."""
    kind, *values = text.split(":")
    try:
        sigma, count, *seed = (float(values[0]), int(values[1]), *map(int, values[2:]))
    except (ValueError, IndexError):
        sigma = count = None
        seed = []
    if kind != "einstein" or sigma is None or sigma < 0 or count < 1 or len(seed) > 1:
        raise argparse.ArgumentTypeError(
            f"--phonons must look like einstein:SIGMA:N[:SEED] (σ ≥ 0 in Å, N ≥ 1 snapshots), "
            f"got {text!r}"
        )
    return sigma, count, seed[0] if seed else 0


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


def _setup(args):
    """Structure, potential and probe from the shared options (all checked before any work)."""
    from ase import Atoms

    from atomscope.cli import read_structure
    from atomscope.potentials.projected import Potential
    from atomscope.waves.probe import Probe

    check_positive("--sampling", args.sampling)
    check_positive("--slice-thickness", args.slice_thickness)
    probe = Probe(args.energy, args.semiangle_cutoff, defocus=args.defocus, **dict(args.aberration))
    atoms = read_structure(args.structure, all_frames=True)
    if args.phonons is not None:
        from atomscope.thermal import EinsteinPhonons

        if not isinstance(atoms, Atoms):
            raise ValueError("--phonons needs a single-frame STRUCTURE (it already has frames)")
        sigma, count, seed = args.phonons
        atoms = list(EinsteinPhonons(atoms, sigmas=sigma, num_configs=count, rng=seed))
    potential = Potential(
        atoms,
        sampling=args.sampling,
        slice_thickness=args.slice_thickness,
        parametrization=args.parametrization,
    )
    probe.check_grid(potential.grid)
    return probe, potential


def _check_disk_space(out: Path, scan, probe, potential, args) -> None:
    """Refuse a scan whose 4D-STEM store (uncompressed: positions × pattern pixels × 4 B) does
    not fit on the disk of ``out``."""
    from atomscope.core.memory import check_disk
    from atomscope.waves.detectors import PixelatedDetector

    patterns = [
        detector.allocate((1,), potential.grid, probe.energy)
        for detector in args.detector
        if isinstance(detector, PixelatedDetector)
    ]
    if not patterns:
        return
    step = "default" if args.scan_sampling is None else f"{args.scan_sampling:g} Å"
    sizes = ", ".join(f"{p.shape[-2]}×{p.shape[-1]}" for p in patterns)
    check_disk(
        out,
        int(np.prod(scan.shape)) * sum(pattern.nbytes for pattern in patterns),
        f"a 4D-STEM scan of {scan.shape[0]}×{scan.shape[1]} positions (--scan-sampling {step}) "
        f"with {sizes}-pixel patterns (--detector pixelated:MAX_ANGLE)",
        "use a larger --scan-sampling, a smaller MAX_ANGLE or free some disk space",
    )


def _summary(args, probe, potential, **extra) -> dict:
    return {
        "structure": str(args.structure),
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


def _stem(args) -> None:
    from atomscope.cli import scheduler_client
    from atomscope.core.memory import describe
    from atomscope.io import write_json, write_npz, write_tiff
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import image_png, save_figure
    from atomscope.waves.detectors import PixelatedDetector
    from atomscope.waves.prism import PRISM
    from atomscope.waves.probe import check_inside
    from atomscope.waves.scan import GridScan

    if not args.detector:
        raise ValueError("give at least one --detector, e.g. --detector annular:70:200")
    out = Path(args.out)
    probe, potential = _setup(args)
    limit = probe.check_grid(potential.grid)
    for detector in args.detector:
        detector.check(limit)
    scan = GridScan(args.scan_start, args.scan_end, sampling=args.scan_sampling).resolve(
        probe.nyquist_sampling(), potential.extent, name="--scan-sampling"
    )
    check_inside(scan.positions, potential.extent)
    num_positions = int(np.prod(scan.shape))
    if args.prism is None:
        batch_size, nbytes, _ = probe.plan_batches(
            potential, num_positions, args.detector, args.batch_size
        )
        method = f"batches of {batch_size}"
    else:
        prism = PRISM(probe, args.prism)
        batch_size, nbytes = None, prism.estimate(potential, num_positions, args.detector)
        method = f"PRISM f = {args.prism}, {len(prism.beams(potential.grid)[0])} beams"
    _check_disk_space(out, scan, probe, potential, args)
    claim_outputs(out, "stem", _output_names(args.detector))
    print(
        f"scan {scan.shape[0]}×{scan.shape[1]} positions (step {scan.step[0]:.3f} Å), "
        f"{method}, {describe(nbytes)}"
    )
    # the 4D-STEM store is written inside the staging directory too: the previous complete set
    # stays in --out until this scan has finished
    with staged_outputs(out, "stem") as stage:
        detectors = [
            PixelatedDetector(d.max_angle, stage / f"{_detector_name(d)}.zarr")
            if isinstance(d, PixelatedDetector)
            else d
            for d in args.detector
        ]
        start = time.perf_counter()
        with scheduler_client(args) as client:
            if args.prism is None:
                measurements = probe.scan(
                    potential, detectors, scan, batch_size, progress=True, client=client
                )
            else:
                measurements = prism.scan(potential, detectors, scan, progress=True, client=client)
        seconds = time.perf_counter() - start
        for detector, measurement in zip(detectors, measurements, strict=True):
            name = _detector_name(detector)
            if isinstance(detector, PixelatedDetector):
                save_figure(
                    measurement.plot(title="position-averaged CBED"), stage / f"{name}_mean.png"
                )
                continue
            # segments are summed for the TIFF/PNG and kept separately in an .npz
            total = measurement.with_array(measurement.array.reshape(-1, *scan.shape).sum(axis=0))
            write_tiff(stage / f"{name}.tif", total)
            image_png(stage / f"{name}.png", total, title=name)
            if measurement.array.ndim > 2:
                write_npz(stage / f"{name}_segments.npz", segments=measurement.array)
        write_json(
            stage / "summary.json",
            _summary(
                args,
                probe,
                potential,
                detectors=[repr(d).replace(str(stage), str(out)) for d in detectors],
                scan={"start": scan.start, "end": scan.end, "shape": scan.shape, "step": scan.step},
                batch_size=batch_size,
                prism_interpolation=args.prism,
                memory_estimate_bytes=nbytes,
                scan_seconds=seconds,
                positions_per_second=num_positions / seconds,
                outputs=_output_names(args.detector),
            ),
        )
    print(f"{num_positions} positions in {seconds:.1f} s; outputs in {out}/")


_FIGURE_BYTES = 40 * 2**20  # matplotlib and the figure of a pattern


def _cbed(args) -> None:
    from atomscope.cli import scheduler_client
    from atomscope.core.memory import check_and_report, estimate
    from atomscope.io import write_json, write_npz
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import save_figure
    from atomscope.waves.diffraction import check_max_angle
    from atomscope.waves.multislice import multislice_memory

    probe, potential = _setup(args)
    if args.max_angle is not None:
        check_max_angle(args.max_angle, probe.check_grid(potential.grid), "--max-angle")
    nx, ny = potential.gpts
    check_and_report(
        # one probe through the slices, then every configuration's exit wave and its FFT copy,
        # and the pattern's figure
        multislice_memory(potential)
        + 2 * estimate("waves", gpts=potential.gpts, count=potential.num_configs)
        + _FIGURE_BYTES,
        f"a CBED multislice on the {nx}×{ny} grid of --sampling {args.sampling:g} Å",
        "use a coarser --sampling or a smaller structure",
    )
    out = Path(args.out)
    claim_outputs(out, "cbed", ["cbed.npz", "cbed.png", "summary.json"])
    position = args.position if args.position is not None else np.array(potential.extent) / 2
    with scheduler_client(args) as client:
        waves = probe.multislice(potential, position=position, progress=True, client=client)
    pattern = waves.diffraction_pattern(args.max_angle)
    with staged_outputs(out, "cbed") as stage:
        write_npz(
            stage / "cbed.npz",
            pattern=pattern.array,
            angular_sampling=np.array(pattern.angular_sampling),
        )
        save_figure(pattern.plot(title="CBED"), stage / "cbed.png")
        write_json(
            stage / "summary.json",
            _summary(
                args,
                probe,
                potential,
                position=list(position),
                max_angle=pattern.metadata["max_angle"],
                angular_sampling=pattern.angular_sampling,
                outputs=["cbed.npz", "cbed.png"],
            ),
        )
    print(
        f"CBED {pattern.shape[-2]}×{pattern.shape[-1]} px "
        f"({pattern.angular_sampling[0]:.3f} mrad/px); outputs in {out}/"
    )


def _add_common(parser: argparse.ArgumentParser, command: str) -> None:
    from atomscope.cli import _aberration

    parser.add_argument("structure", help="any file ASE reads; several frames = frozen phonons")
    parser.add_argument("--out", "-o", default=f"out/{command}", help="output directory")
    parser.add_argument("--energy", type=float, default=200e3, help="electron energy [eV]")
    parser.add_argument(
        "--semiangle-cutoff", type=float, default=20.0, help="probe (condenser) semi-angle [mrad]"
    )
    parser.add_argument(
        "--defocus", type=float, default=0.0, help="defocus = −C10 [Å], positive = underfocus"
    )
    parser.add_argument(
        "--aberration",
        type=_aberration,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="polar aberration, e.g. Cs=-1e4 C12=20",
    )
    parser.add_argument("--sampling", type=float, default=0.04, help="potential pixel [Å]")
    parser.add_argument("--slice-thickness", type=float, default=1.0, help="[Å]")
    parser.add_argument(
        "--parametrization", default="lobato", help="lobato | kirkland | peng | weickenmeier_kohl"
    )
    parser.add_argument(
        "--phonons",
        type=_phonons,
        default=None,
        metavar="einstein:SIGMA:N[:SEED]",
        help="average N Einstein frozen-phonon snapshots of RMS displacement "
        "SIGMA [Å] per axis (seed default 0)",
    )


def add_commands(subparsers) -> None:
    """Register ``stem`` and ``cbed`` on the ``atomscope`` parser."""
    from atomscope.cli import add_scheduler_options

    stem = subparsers.add_parser("stem", help="STEM images (annular, segmented, 4D-STEM)")
    _add_common(stem, "stem")
    stem.add_argument(
        "--detector",
        type=_detector,
        action="append",
        default=[],
        help="annular:INNER:OUTER | segmented:INNER:OUTER:RINGS:SECTORS[:ROT] | "
        "pixelated[:MAX_ANGLE] (mrad; repeat for several)",
    )
    stem.add_argument(
        "--scan-sampling",
        type=float,
        default=None,
        help="scan step [Å] (default: probe Nyquist λ/(4 α))",
    )
    stem.add_argument(
        "--scan-start",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("X", "Y"),
        help="scan corner [Å]",
    )
    stem.add_argument(
        "--scan-end",
        type=float,
        nargs=2,
        default=None,
        metavar=("X", "Y"),
        help="opposite corner [Å] (default: the whole cell)",
    )
    stem.add_argument("--batch-size", type=int, default=None, help="positions per batch")
    stem.add_argument(
        "--prism",
        type=int,
        default=None,
        metavar="F",
        help="use the PRISM S-matrix with interpolation factor F (F = 1 is exact)",
    )
    add_scheduler_options(stem)
    stem.set_defaults(func=_stem)

    cbed = subparsers.add_parser("cbed", help="convergent-beam diffraction pattern")
    _add_common(cbed, "cbed")
    cbed.add_argument(
        "--position",
        type=float,
        nargs=2,
        default=None,
        metavar=("X", "Y"),
        help="probe position [Å] (default: the cell centre)",
    )
    cbed.add_argument(
        "--max-angle",
        type=float,
        default=None,
        help="crop the pattern at this angle [mrad] (default: 2/3 Nyquist)",
    )
    add_scheduler_options(cbed)
    cbed.set_defaults(func=_cbed)
