"""``atomscope series``: options → `atomscope.jobs.series.run_series`."""

from __future__ import annotations

import argparse

from atomscope.cli.common import add_out_option, add_sampling_option, inputs_name, read_stack


def _series(args: argparse.Namespace) -> None:
    from atomscope.jobs.series import run_series

    frames = read_stack(args.stack, args.sampling)
    summary = run_series(
        frames,
        args.out,
        spacing=args.spacing,
        bright_atoms=not args.dark_atoms,
        max_step=args.max_step,
        model=args.model,
        periodic=args.periodic,
        name=inputs_name(args.stack),
        track_range=args.track_range,
        track_memory=args.track_memory,
    )
    print(
        f"{summary['num_sites']} sites, {summary['num_flipping_sites']} of them flipping, over "
        f"{summary['num_frames']} frames, {summary['num_tracks']} column tracks; outputs in "
        f"{args.out}/"
    )


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``atomscope series`` to its ``parser``."""
    parser.description = (
        "Drift, atomic sites and how often each is occupied and flips, from an image series "
        "(seed §6.4.3); writes sites.csv, tracks.csv, series.npz, series.png, detections.gif, "
        "summary.json."
    )
    parser.add_argument(
        "stack",
        nargs="+",
        metavar="STACK",
        help="a multi-frame file (TIFF stack, dm4/EMD series, hspy, mrc, npz [t, x, y]), a "
        "folder of frames (natural order) or several frame files",
    )
    add_out_option(parser, "series")
    add_sampling_option(parser)
    parser.add_argument(
        "--spacing", type=float, default=2.0, help="nearest distance between two sites [Å]"
    )
    parser.add_argument(
        "--model",
        default="peaks",
        help="how atoms are recognised in each frame: 'peaks' (the intensity itself, default), "
        "a shipped single-image model ('gold', 'graphene') or a model.pt file",
    )
    parser.add_argument(
        "--dark-atoms", action="store_true", help="atoms are darker than their surroundings"
    )
    parser.add_argument(
        "--max-step",
        type=float,
        default=None,
        help="largest drift between two frames [Å] (default 0.45 × --spacing: on a crystal a "
        "wider search can lock onto the next column)",
    )
    parser.add_argument(
        "--periodic",
        action="store_true",
        help="the frames are periodic (a simulation of a periodic cell): compared whole, "
        "moved by Fourier shifts; a camera's frames are not (default)",
    )
    parser.add_argument(
        "--track-range",
        type=float,
        default=None,
        help="farthest a column moves between two frames [Å], for linking the columns found in "
        "each frame into tracks.csv (trackpy; default half of --spacing)",
    )
    parser.add_argument(
        "--track-memory",
        type=int,
        default=0,
        help="frames a column may go unseen and keep its track (default 0)",
    )
    parser.set_defaults(func=_series)
