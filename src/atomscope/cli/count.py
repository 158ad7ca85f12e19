"""``atomscope count``: options → `atomscope.jobs.count.run_count`."""

from __future__ import annotations

import argparse

from atomscope.cli.common import add_out_option, add_sampling_option, inputs_name, read_stack


def _count(args: argparse.Namespace) -> None:
    from atomscope.jobs.count import run_count

    series = read_stack(args.series, args.sampling, option="FOCAL_SERIES")
    run_count(series, args.out, args.model, threshold=args.threshold, name=inputs_name(args.series))


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``atomscope count`` to its ``parser``."""
    parser.description = (
        "Atoms per column from an HRTEM focal series with a counting network (seed §6.4.2); "
        "writes NAME_columns.csv, NAME_columns.npz, NAME_counts.png and summary.json."
    )
    parser.add_argument(
        "series",
        nargs="+",
        metavar="FOCAL_SERIES",
        help="the focal series ordered as the model was trained (gold-counting: three images, "
        "k = 0, 1, 2 of seed Eq 6.19): one stack file, a folder of frames or the image files",
    )
    add_out_option(parser, "count")
    parser.add_argument("--model", default="gold-counting", help="counting model name or .pt file")
    add_sampling_option(parser)
    parser.add_argument(
        "--threshold", type=float, default=None, help="t of Eq 6.16 (default: the model's)"
    )
    parser.set_defaults(func=_count)
