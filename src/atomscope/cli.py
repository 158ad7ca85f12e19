"""The ``atomscope`` command line.

Every subcommand validates its arguments before any work; a ``ValueError``/``TypeError``, an
``OSError`` (disk full, permission denied) or a ``MemoryError`` is printed as one line (no
traceback) and the exit status is 2.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import re
import signal
import sys
import threading
import warnings
from pathlib import Path

from atomscope import __version__

# Subcommand modules owned by each package; each exposes add_commands(subparsers).
_COMMAND_MODULES = (
    "atomscope.structures.commands",
    "atomscope.analysis.commands",
    "atomscope.waves.stem_commands",
    "atomscope.learning.commands",
)


# Python 3.11's argparse takes "-1.2e5" for an option; this is 3.13's pattern for negative numbers
_NEGATIVE_NUMBER = re.compile(
    r"^-(?:\d+(?:_\d+)*(?:\.\d+(?:_\d+)*)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+)?$"
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: …)" after options whose default says something (not None/False/[])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        silent = action.default is None or action.default is False or action.default == []
        if silent or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with negative numbers in any notation (``--Cs -1.2e5``) and defaults in help.

    Subcommand parsers are made of this class too.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER


def _aberration(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if not value:
        raise argparse.ArgumentTypeError(f"--aberration must look like NAME=VALUE, got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--aberration {name}: {value!r} is not a number"
        ) from None


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
    from atomscope.hrtem import HRTEMSettings

    d = HRTEMSettings()
    parser.add_argument("--out", "-o", default=f"out/{command}", help="output directory")
    parser.add_argument("--energy", type=float, default=d.energy, help="electron energy [eV]")
    parser.add_argument("--sampling", type=float, default=d.sampling, help="pixel size [Å]")
    parser.add_argument("--slice-thickness", type=float, default=d.slice_thickness, help="[Å]")
    parser.add_argument(
        "--parametrization",
        default=d.parametrization,
        help="lobato | kirkland | peng | weickenmeier_kohl",
    )
    parser.add_argument("--projection", default=d.projection, help="infinite | finite")
    parser.add_argument("--Cs", type=float, default=d.Cs, help="spherical aberration C30 [Å]")
    parser.add_argument(
        "--defocus",
        type=float,
        default=None,
        help="defocus = −C10 [Å], positive = underfocus (default: Scherzer)",
    )
    parser.add_argument(
        "--aberration",
        type=_aberration,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="polar aberration, e.g. C12=20 phi12=0.5",
    )
    parser.add_argument(
        "--semiangle-cutoff",
        type=float,
        default=d.semiangle_cutoff,
        help="objective aperture [mrad]; inf for none",
    )
    parser.add_argument(
        "--focal-spread", type=float, default=d.focal_spread, help="focal spread, 1/e width [Å]"
    )
    parser.add_argument(
        "--angular-spread",
        type=float,
        default=d.angular_spread,
        help="illumination semi-angle β, 1/e [mrad]",
    )
    parser.add_argument(
        "--deflection", type=float, default=d.deflection, help="image deflection (vibration) [Å]"
    )
    parser.add_argument(
        "--camera-sampling", type=float, default=d.camera_sampling, help="camera pixel size [Å]"
    )
    parser.add_argument("--no-camera", action="store_true", help="skip resampling, noise, MTF")
    parser.add_argument("--dose", type=float, default=d.dose, help="electron dose [e⁻/Å²]")
    parser.add_argument(
        "--mtf",
        type=_mtf,
        default="none" if d.mtf is None else ":".join(map(str, d.mtf)),
        metavar="FORM:c1:c2:c3",
        help="camera MTF, e.g. rational:0.1:0.5:2.5, or none",
    )
    parser.add_argument("--rng", type=int, default=d.rng, help="random seed for shot noise")
    add_scheduler_options(parser)


def add_scheduler_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler`` / ``--workers``: run independent tasks on Dask distributed."""
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run frozen-phonon configurations on a running Dask scheduler",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="run them on a local Dask cluster of N worker processes",
    )


@contextlib.contextmanager
def scheduler_client(args):
    """The Dask client the options ask for (``None`` for a plain local run), closed on exit."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    from atomscope.parallel import client

    if args.scheduler is not None and args.workers is not None:
        raise ValueError("give either --scheduler or --workers, not both")
    workers = 2 if args.workers is None else args.workers
    with client(address=args.scheduler, workers=workers) as dask_client:
        yield dask_client


def _settings(args):
    from atomscope.hrtem import HRTEMSettings

    return HRTEMSettings(
        energy=args.energy,
        sampling=args.sampling,
        slice_thickness=args.slice_thickness,
        parametrization=args.parametrization,
        projection=args.projection,
        Cs=args.Cs,
        defocus=args.defocus,
        aberrations=dict(args.aberration),
        semiangle_cutoff=args.semiangle_cutoff,
        focal_spread=args.focal_spread,
        angular_spread=args.angular_spread,
        deflection=args.deflection,
        camera_sampling=None if args.no_camera else args.camera_sampling,
        dose=args.dose,
        mtf=args.mtf,
        rng=args.rng,
    )


def read_structure(path: str, all_frames: bool = False):
    """Read any structure file ASE reads; a ``ValueError`` names the file if it does not parse
    or if a frame has a NaN/inf position or cell (`check_atoms`).

    Returns the last frame (ASE's default), or with ``all_frames`` one ``Atoms`` for a
    single-frame file and the list of frames (frozen-phonon snapshots) otherwise.
    """
    import ase.io

    from atomscope.core.validate import check_atoms

    if not Path(path).is_file():
        raise ValueError(f"STRUCTURE {path!r} does not exist")
    try:
        frames = ase.io.read(path, index=":" if all_frames else -1)
    except Exception as error:  # ASE raises many types for unparsable files
        raise ValueError(f"STRUCTURE {path!r} could not be parsed by ASE: {error}") from error
    if not all_frames:
        return check_atoms(f"STRUCTURE {path!r}", frames)
    if not frames:
        raise ValueError(f"STRUCTURE {path!r} holds no structure")
    for index, frame in enumerate(frames):
        check_atoms(f"STRUCTURE {path!r}" + (f" frame {index}" if len(frames) > 1 else ""), frame)
    return frames[0] if len(frames) == 1 else frames


def _report(summary: dict, out: str) -> None:
    grid = summary["grid"]
    print(
        f"{summary['num_atoms']} atoms × {summary['num_configs']} configurations, "
        f"{grid['gpts'][0]}×{grid['gpts'][1]} px, "
        f"{grid['num_slices']} slices, multislice {summary['multislice_seconds']:.2f} s; "
        f"outputs in {out}/"
    )


def _hrtem(args) -> None:
    from atomscope.hrtem import run_hrtem

    atoms = read_structure(args.structure, all_frames=True)
    settings = _settings(args)
    with scheduler_client(args) as dask_client:
        summary = run_hrtem(
            atoms, settings, args.out, name=Path(args.structure).name, client=dask_client
        )
    _report(summary, args.out)


def _demo(args) -> None:
    from atomscope.hrtem import demo_structure, run_hrtem

    settings = _settings(args)
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


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands of every package)."""
    parser = ArgumentParser(prog="atomscope", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"atomscope {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    hrtem = subparsers.add_parser("hrtem", help="simulate an HRTEM image of a structure file")
    hrtem.add_argument(
        "structure",
        help="any file ASE reads (xyz, cif, traj, POSCAR, ...); the frames of a multi-frame file "
        "(e.g. from `atomscope phonons`) are averaged as frozen phonons",
    )
    _add_hrtem_options(hrtem, "hrtem")
    hrtem.set_defaults(func=_hrtem)
    demo = subparsers.add_parser("demo", help="the seed's Au nanoparticle HRTEM example")
    _add_hrtem_options(demo, "demo")
    demo.set_defaults(func=_demo)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(subparsers)
    return parser


def _interrupt(signum: int, frame) -> None:
    from atomscope.outputs import termination_requested

    termination_requested.set()  # in case Python drops the exception (see outputs)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``atomscope`` command.

    SIGTERM is handled like Ctrl-C while a command runs, so a terminated job removes its
    staging directory and leaves ``--out`` as it was (exit status 130). Warnings print as one
    line each, ``atomscope CMD: warning: ...``.
    """
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    from atomscope.outputs import termination_requested

    termination_requested.clear()
    with warnings.catch_warnings():
        warnings.showwarning = functools.partial(_show_warning, args.command)
        try:
            return _run(args)
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)


def _show_warning(command: str, message, category, filename, lineno, file=None, line=None):
    """A warning as one line, ``atomscope CMD: warning: ...``, without the source line."""
    print(f"atomscope {command}: warning: {message}", file=sys.stderr if file is None else file)


def _run(args) -> int:
    try:
        if getattr(args, "out", None) is not None:
            from atomscope.outputs import check_output_directory

            check_output_directory(args.out, "--out")
        args.func(args)
    except (ValueError, TypeError) as error:
        print(f"atomscope {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # disk full, permission denied, ... while reading or writing
        reason = error.strerror or str(error) or type(error).__name__
        where = f" ({error.filename})" if error.filename else ""
        print(f"atomscope {args.command}: error: {reason}{where}", file=sys.stderr)
        return 2
    except MemoryError as error:
        detail = f" ({error})" if str(error) else ""
        print(
            f"atomscope {args.command}: error: out of memory{detail}; try a smaller job",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"atomscope {args.command}: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
