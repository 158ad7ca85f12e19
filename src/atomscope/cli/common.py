"""What the commands share: the parser class, structure reading, aberrations and Dask options.

Nothing here imports the physics at module level, so building a parser stays quick.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from pathlib import Path

# Python 3.11's argparse takes "-1.2e5" for an option; this is 3.13's pattern for negative numbers
_NEGATIVE_NUMBER = re.compile(
    r"^-(?:\d+(?:_\d+)*(?:\.\d+(?:_\d+)*)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+)?$"
)

#: The defocus convention, stated in every help text that takes a defocus or aberrations
DEFOCUS_SIGN = "defocus = −C10 [Å], positive = underfocus"


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


def add_out_option(parser: argparse.ArgumentParser, command: str) -> None:
    """``--out/-o DIR``, the directory every command writes into (default ``out/COMMAND``)."""
    parser.add_argument(
        "--out",
        "-o",
        default=f"out/{command}",
        metavar="DIR",
        help="output directory; only files an earlier run of this command wrote are replaced",
    )


def add_sampling_option(parser: argparse.ArgumentParser) -> None:
    """``--sampling`` [Å] of a command that reads images: overrides the file's calibration."""
    parser.add_argument(
        "--sampling",
        type=float,
        default=None,
        help="pixel size [Å]; overrides the file's calibration (default: from the file)",
    )


def read_structure(path: str, all_frames: bool = False, option: str = "STRUCTURE"):
    """Read any structure file ASE reads; a ``ValueError`` names ``option`` and the file if it
    does not parse or if a frame has a NaN/inf position or cell (`check_atoms`).

    Returns the last frame (ASE's default), or with ``all_frames`` one ``Atoms`` for a
    single-frame file and the list of frames (frozen-phonon snapshots) otherwise.
    """
    import ase.io

    from atomscope.core.validate import check_atoms

    if not Path(path).is_file():
        raise ValueError(f"{option} {path!r} does not exist")
    try:
        frames = ase.io.read(path, index=":" if all_frames else -1)
    except Exception as error:  # ASE raises many types for unparsable files
        raise ValueError(f"{option} {path!r} could not be parsed by ASE: {error}") from error
    if not all_frames:
        return check_atoms(f"{option} {path!r}", frames)
    if not frames:
        raise ValueError(f"{option} {path!r} holds no structure")
    for index, frame in enumerate(frames):
        check_atoms(f"{option} {path!r}" + (f" frame {index}" if len(frames) > 1 else ""), frame)
    return frames[0] if len(frames) == 1 else frames


def read_simulation_structure(path: str):
    """`read_structure` with every frame, each non-orthorhombic periodic cell replaced by its
    `orthogonal_supercell` (and a warning naming the supercell), as the multislice needs."""
    import warnings

    from atomscope.structures.orient import orthogonal_supercell

    frames = read_structure(path, all_frames=True)
    single = not isinstance(frames, list)
    made = []
    for frame in [frames] if single else frames:
        try:
            supercell, matrix = orthogonal_supercell(frame)
        except ValueError as error:
            raise ValueError(f"STRUCTURE {path!r}: {error}") from None
        made.append(supercell)
    if matrix.tolist() != [[1, 0, 0], [0, 1, 0], [0, 0, 1]]:
        warnings.warn(
            f"STRUCTURE {path!r}: the cell is not orthorhombic; simulating its orthogonal "
            f"supercell {matrix.tolist()} ({len(made[0])} atoms, "
            f"{' × '.join(f'{v:.4g}' for v in made[0].cell.lengths())} Å)",
            stacklevel=2,
        )
    return made[0] if single else made


def aberration_entry(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` of ``--aberration`` → (name, value)."""
    name, _, value = text.partition("=")
    if not value:
        raise argparse.ArgumentTypeError(f"--aberration must look like NAME=VALUE, got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--aberration {name}: {value!r} is not a number"
        ) from None


def add_aberration_options(
    parser: argparse.ArgumentParser, Cs_default: float, defocus_default: str | None
) -> None:
    """``--Cs``, ``--defocus`` (unless ``defocus_default`` is None: the command takes its
    defoci otherwise) and ``--aberration NAME=VALUE``, merged by `merge_aberrations`."""
    parser.add_argument(
        "--Cs",
        type=float,
        default=None,
        help=f"spherical aberration C30 [Å] (default: {Cs_default:g})",
    )
    if defocus_default is not None:
        parser.add_argument(
            "--defocus",
            type=float,
            default=None,
            help=f"{DEFOCUS_SIGN} (default: {defocus_default})",
        )
    parser.add_argument(
        "--aberration",
        type=aberration_entry,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="polar aberration coefficient [Å] or angle [rad] by symbol or alias, repeatable: "
        "C10 C12 phi12 C21 … C56 phi56, Cs (= C30), defocus (= −C10), C5 (= C50); "
        "--Cs and --defocus merge with these; setting one coefficient twice is an error",
    )


def merge_aberrations(args: argparse.Namespace) -> dict[str, float]:
    """``--Cs``, ``--defocus`` and the ``--aberration`` entries as one dict of symbols.

    Every name is checked (`resolve_aberrations`); a coefficient set twice (``--Cs 1e5
    --aberration C30=2e5``, ``--defocus 50 --aberration C10=-40``) is a ``ValueError`` naming
    both. Options not given are absent, so a command can apply its own defaults.
    """
    from atomscope.optics.aberrations import resolve_aberrations

    given: dict[str, tuple[str, float]] = {}  # symbol -> (as written, value of the symbol)
    named = [("--Cs", "Cs", args.Cs), ("--defocus", "defocus", getattr(args, "defocus", None))]
    entries = [(f"--aberration {name}={value:g}", name, value) for name, value in args.aberration]
    for written, name, value in named + entries:
        if value is None:
            continue
        try:
            ((symbol, resolved),) = resolve_aberrations({name: value}).items()
        except ValueError as error:
            raise ValueError(f"{written}: {error}") from None
        if symbol in given:
            raise ValueError(f"{given[symbol][0]} and {written} both set {symbol}; give it once")
        given[symbol] = (written, resolved)
    return {symbol: value for symbol, (_, value) in given.items()}


def add_scheduler_options(
    parser: argparse.ArgumentParser, tasks: str = "frozen-phonon configurations"
) -> None:
    """``--scheduler`` / ``--workers``: run independent ``tasks`` on Dask distributed."""
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help=f"run {tasks} on a running Dask scheduler",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="run them on a local Dask cluster of N worker processes",
    )


def check_scheduler_options(args: argparse.Namespace) -> None:
    """Refuse ``--scheduler`` with ``--workers``, or ``--workers`` < 1, before any command runs."""
    scheduler, workers = getattr(args, "scheduler", None), getattr(args, "workers", None)
    if scheduler is not None and workers is not None:
        raise ValueError("give either --scheduler or --workers, not both")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be ≥ 1, got {workers}")


@contextlib.contextmanager
def scheduler_client(args: argparse.Namespace):
    """The Dask client the options ask for (``None`` for a plain local run), closed on exit;
    the options were checked by `check_scheduler_options`."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    from atomscope.parallel import client

    workers = 2 if args.workers is None else args.workers
    with client(address=args.scheduler, workers=workers) as dask_client:
        yield dask_client


#: suffixes of the image files a folder of frames may hold
FRAME_SUFFIXES = (".tif", ".tiff", ".npz", ".dm3", ".dm4", ".emd", ".hspy", ".hdf5", ".mrc", ".ser")


def _natural_key(path) -> list:
    """Sort key that puts frame_2 before frame_10."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def inputs_name(paths: list[str]) -> str:
    """How a job names its input files in its summary: the file, or the first … the last."""
    return paths[0] if len(paths) == 1 else f"{paths[0]} … {paths[-1]}"


def read_stack(paths: list[str], sampling: float | None, option: str = "STACK"):
    """One stack file, a folder of single-image files (natural order), or several single-image
    files, as `Images` [n, x, y]; every frame must share one shape and pixel size.

    Raises
    ------
    ValueError
        One line naming ``option``: one single image, a stack among several files, an empty
        folder, frames of different shapes or pixel sizes.
    """
    from pathlib import Path

    import numpy as np

    from atomscope.images import Images
    from atomscope.io import read_image

    if len(paths) == 1 and Path(paths[0]).is_dir():
        folder = Path(paths[0])
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES), key=_natural_key
        )
        if not files:
            raise ValueError(f"{option}: folder {str(folder)!r} holds no image files")
        paths = [str(p) for p in files]
    if len(paths) == 1:
        stack = read_image(paths[0], sampling=sampling)
        if stack.array.ndim != 3:
            raise ValueError(
                f"{option}: {paths[0]!r} holds one image; give a stack file, a folder of "
                "frames or several image files"
            )
        return stack
    images = [read_image(path, sampling=sampling) for path in paths]
    for path, image in zip(paths, images, strict=True):
        if image.array.ndim != 2:
            raise ValueError(
                f"{option}: {path!r} is a stack of {image.shape[0]}; give one stack file or "
                "several single images, not both"
            )
        if image.shape != images[0].shape:
            raise ValueError(
                f"{option}: {path!r} is {image.shape[0]}×{image.shape[1]} pixels, {paths[0]!r} "
                f"{images[0].shape[0]}×{images[0].shape[1]}; the frames must share one grid"
            )
        if not np.allclose(image.sampling, images[0].sampling, rtol=1e-6):
            raise ValueError(
                f"{option}: {path!r} has pixel size {image.sampling} Å, {paths[0]!r} "
                f"{images[0].sampling} Å; the frames must share one pixel size"
            )
    return Images(
        np.stack([image.array for image in images]),
        images[0].sampling,
        {"sources": list(paths)},
        sampling_source=images[0].sampling_source,
    )
