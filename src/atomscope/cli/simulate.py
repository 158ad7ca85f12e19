"""``atomscope demo | hrtem | stem | cbed``: options → `atomscope.jobs.hrtem` / `jobs.stem`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from atomscope.cli.common import (
    add_aberration_options,
    add_out_option,
    add_scheduler_options,
    merge_aberrations,
    read_simulation_structure,
    scheduler_client,
)

#: HRTEM options: settings field -> (type, help); each defaults to the preset's value, else
#: the `HRTEMSettings` default printed in the help
_HRTEM_OPTIONS = {
    "energy": (float, "electron energy [eV]"),
    "sampling": (float, "potential pixel size [Å]"),
    "slice_thickness": (float, "slice thickness [Å]"),
    "parametrization": (str, "lobato | kirkland | peng | weickenmeier_kohl"),
    "projection": (str, "infinite | finite"),
    "semiangle_cutoff": (float, "objective aperture [mrad]; inf for none"),
    "focal_spread": (float, "focal spread, 1/e width [Å]"),
    "angular_spread": (float, "illumination semi-angle β, 1/e [mrad]"),
    "deflection": (float, "image deflection (vibration), σ [Å]"),
    "camera_sampling": (float, "camera pixel size [Å]"),
    "dose": (float, "electron dose [e⁻/Å²]"),
    "rng": (int, "random seed of the shot noise"),
}


#: options that make the potential, which a stored one (--potential) brings ready made
_POTENTIAL_OPTIONS = ("sampling", "slice_thickness", "parametrization", "projection")


def _mtf(text: str) -> tuple[str, float, float, float] | None:
    if text == "none":
        return None
    parts = text.split(":")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"--mtf must look like rational:c1:c2:c3, exp_gauss:c1:c2:c3 or none, got {text!r}"
        )
    try:
        return parts[0], float(parts[1]), float(parts[2]), float(parts[3])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--mtf parameters must be numbers, got {text!r}"
        ) from None


def _add_hrtem_options(parser: argparse.ArgumentParser, command: str) -> None:
    from atomscope.jobs.hrtem import PRESETS, HRTEMSettings

    defaults = HRTEMSettings()
    add_out_option(parser, command)
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help=f"a shipped model's microscope ({', '.join(PRESETS)}): its energy, lens, "
        "envelopes, camera and potential sampling; options given beside it win",
    )
    for name, (kind, text) in _HRTEM_OPTIONS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            default=None,
            help=f"{text} (default: {getattr(defaults, name):g})"
            if kind is not str
            else f"{text} (default: {getattr(defaults, name)})",
        )
    add_aberration_options(parser, Cs_default=defaults.Cs, defocus_default="Scherzer for Cs")
    parser.add_argument("--no-camera", action="store_true", help="skip resampling, noise, MTF")
    mtf = ":".join(map(str, defaults.mtf)) if defaults.mtf else "none"
    parser.add_argument(
        "--mtf",
        type=_mtf,
        default=None,
        metavar="FORM:c1:c2:c3",
        help=f"camera MTF, e.g. rational:0.1:0.5:2.5, or none (default: {mtf})",
    )
    add_scheduler_options(parser)


def hrtem_settings(args: argparse.Namespace):
    """`HRTEMSettings` from the options: the preset (or the defaults), then every option given.

    ``--Cs``, ``--defocus`` and ``--aberration`` merge (`merge_aberrations`); without a
    defocus the lens is at Scherzer defocus for its Cs.
    """
    from atomscope.jobs.hrtem import HRTEMSettings, preset_settings

    settings = HRTEMSettings() if args.preset is None else preset_settings(args.preset)
    given = {
        name: getattr(args, name) for name in _HRTEM_OPTIONS if getattr(args, name) is not None
    }
    aberrations = merge_aberrations(args)
    if "C30" in aberrations:
        given["Cs"] = aberrations.pop("C30")
    if "C10" in aberrations:
        given["defocus"] = -aberrations.pop("C10")
    if aberrations:
        given["aberrations"] = {**settings.aberrations, **aberrations}
    if args.mtf is not None:
        given["mtf"] = args.mtf
    if args.no_camera:
        given["camera_sampling"] = None
    return replace(settings, **given)


def _report(summary: dict, out: str) -> None:
    grid = summary["grid"]
    print(
        f"{summary['num_atoms']} atoms × {summary['num_configs']} configurations, "
        f"{grid['gpts'][0]}×{grid['gpts'][1]} px, "
        f"{grid['num_slices']} slices, multislice {summary['multislice_seconds']:.2f} s; "
        f"outputs in {out}/"
    )


def _hrtem(args: argparse.Namespace) -> None:
    from atomscope.jobs.hrtem import run_hrtem

    settings = hrtem_settings(args)
    if (args.structure is None) == (args.potential is None):
        raise ValueError("give a STRUCTURE file or --potential FILE (one of them)")
    if args.potential is not None:
        from atomscope.potentials.stored import StoredPotential

        fixed = [
            f"--{name.replace('_', '-')}" for name in _POTENTIAL_OPTIONS if getattr(args, name)
        ]
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} set the potential, which --potential {args.potential!r} "
                "brings ready made; leave them out"
            )
        specimen, name = StoredPotential(args.potential), Path(args.potential).name
    else:
        specimen = read_simulation_structure(args.structure)
        name = Path(args.structure).name
    with scheduler_client(args) as dask_client:
        summary = run_hrtem(specimen, settings, args.out, name=name, client=dask_client)
    _report(summary, args.out)


def _demo(args: argparse.Namespace) -> None:
    from atomscope.jobs.hrtem import demo_structure, run_hrtem

    settings = hrtem_settings(args)
    with scheduler_client(args) as dask_client:
        summary = run_hrtem(
            demo_structure(),
            settings,
            args.out,
            name="Au particle (seed §2.7.1)",
            client=dask_client,
            command="demo",
        )
    _report(summary, args.out)


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


def _add_probe_options(parser: argparse.ArgumentParser, command: str) -> None:
    from atomscope.jobs.stem import ProbeSettings

    defaults = ProbeSettings()
    parser.add_argument("structure", help="any file ASE reads; several frames = frozen phonons")
    add_out_option(parser, command)
    parser.add_argument(
        "--energy", type=float, default=defaults.energy, help="electron energy [eV]"
    )
    parser.add_argument(
        "--semiangle-cutoff",
        type=float,
        default=defaults.semiangle_cutoff,
        help="probe (condenser) semi-angle [mrad]",
    )
    add_aberration_options(parser, Cs_default=0.0, defocus_default="0")
    parser.add_argument(
        "--sampling", type=float, default=defaults.sampling, help="potential pixel [Å]"
    )
    parser.add_argument(
        "--slice-thickness", type=float, default=defaults.slice_thickness, help="[Å]"
    )
    parser.add_argument(
        "--parametrization",
        default=defaults.parametrization,
        help="lobato | kirkland | peng | weickenmeier_kohl",
    )
    parser.add_argument(
        "--phonons",
        type=_phonons,
        default=None,
        metavar="einstein:SIGMA:N[:SEED]",
        help="average N Einstein frozen-phonon snapshots of RMS displacement "
        "SIGMA [Å] per axis (seed default 0)",
    )
    add_scheduler_options(parser)


def _probe_settings(args: argparse.Namespace):
    from atomscope.jobs.stem import ProbeSettings

    return ProbeSettings(
        energy=args.energy,
        semiangle_cutoff=args.semiangle_cutoff,
        aberrations=merge_aberrations(args),
        sampling=args.sampling,
        slice_thickness=args.slice_thickness,
        parametrization=args.parametrization,
        phonons=args.phonons,
    )


def _stem(args: argparse.Namespace) -> None:
    from atomscope.jobs.stem import run_stem

    settings = _probe_settings(args)
    atoms = read_simulation_structure(args.structure)
    with scheduler_client(args) as client:
        run_stem(
            atoms,
            args.out,
            args.detector,
            settings,
            scan_sampling=args.scan_sampling,
            scan_start=tuple(args.scan_start),
            scan_end=None if args.scan_end is None else tuple(args.scan_end),
            batch_size=args.batch_size,
            prism=args.prism,
            client=client,
            name=str(args.structure),
        )


def _cbed(args: argparse.Namespace) -> None:
    from atomscope.jobs.stem import run_cbed

    settings = _probe_settings(args)
    atoms = read_simulation_structure(args.structure)
    with scheduler_client(args) as client:
        run_cbed(
            atoms,
            args.out,
            settings,
            position=None if args.position is None else tuple(args.position),
            max_angle=args.max_angle,
            client=client,
            name=str(args.structure),
        )


def _configure_stem(parser: argparse.ArgumentParser) -> None:
    _add_probe_options(parser, "stem")
    parser.add_argument(
        "--detector",
        type=_detector,
        action="append",
        default=[],
        help="annular:INNER:OUTER | segmented:INNER:OUTER:RINGS:SECTORS[:ROT] | "
        "pixelated[:MAX_ANGLE] (mrad; repeat for several)",
    )
    parser.add_argument(
        "--scan-sampling",
        type=float,
        default=None,
        help="scan step [Å] (default: probe Nyquist λ/(4 α))",
    )
    parser.add_argument(
        "--scan-start",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("X", "Y"),
        help="scan corner [Å]",
    )
    parser.add_argument(
        "--scan-end",
        type=float,
        nargs=2,
        default=None,
        metavar=("X", "Y"),
        help="opposite corner [Å] (default: the whole cell)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="positions per batch")
    parser.add_argument(
        "--prism",
        type=int,
        default=None,
        metavar="F",
        help="use the PRISM S-matrix with interpolation factor F (F = 1 is exact)",
    )
    parser.set_defaults(func=_stem)


def _configure_cbed(parser: argparse.ArgumentParser) -> None:
    _add_probe_options(parser, "cbed")
    parser.add_argument(
        "--position",
        type=float,
        nargs=2,
        default=None,
        metavar=("X", "Y"),
        help="probe position [Å] (default: the cell centre)",
    )
    parser.add_argument(
        "--max-angle",
        type=float,
        default=None,
        help="crop the pattern at this angle [mrad] (default: 2/3 Nyquist)",
    )
    parser.set_defaults(func=_cbed)


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``command`` (demo, hrtem, stem or cbed) to its ``parser``."""
    if command == "hrtem":
        parser.add_argument(
            "structure",
            nargs="?",
            help="any file ASE reads (xyz, cif, traj, POSCAR, ...); the frames of a multi-frame "
            "file (e.g. from `atomscope phonons`) are averaged as frozen phonons",
        )
        parser.add_argument(
            "--potential",
            metavar="FILE",
            help="a stored potential instead of STRUCTURE: potential.npz of `atomscope dft` "
            "(its own pixel size and slices; --sampling, --slice-thickness, --parametrization "
            "and --projection do not apply)",
        )
        _add_hrtem_options(parser, "hrtem")
        parser.set_defaults(func=_hrtem)
    elif command == "demo":
        _add_hrtem_options(parser, "demo")
        parser.set_defaults(func=_demo)
    elif command == "stem":
        _configure_stem(parser)
    else:
        _configure_cbed(parser)
