"""``atomscope strain``: options → `atomscope.jobs.strain.run_strain`."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from atomscope.cli.common import add_out_option, add_sampling_option, read_structure

BUILTIN_TEMPLATES = ("square", "hexagonal", "fcc110", "honeycomb")


def _g_vector(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(
            f"--gpa takes 'auto' or two frequencies gx,gy [1/pixel] such as 0.1,0 0,0.1; "
            f"got {text!r}"
        ) from None


def _template(text: str):
    from atomscope.analysis.templates import Template

    if text in BUILTIN_TEMPLATES:
        return Template.from_name(text)
    path = Path(text)
    if not path.is_file():
        raise ValueError(
            f"--template must be one of {', '.join(BUILTIN_TEMPLATES)} or a CSV file of points "
            f"(x, y relative to the centre); got {text!r}"
        )
    try:
        points = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as error:
        raise ValueError(f"--template file {text!r} is not a CSV of x, y rows: {error}") from None
    return Template(points)


def _structure_templates(args) -> list:
    """One template per column site of ``--template-structure`` along ``--zone-axis`` [Å]."""
    from atomscope.analysis.templates import Template

    if args.zone_axis is None:
        raise ValueError("--template-structure needs --zone-axis U V W (e.g. 1 1 0)")
    try:
        atoms = read_structure(args.template_structure, option="--template-structure")
    except ValueError as error:
        raise ValueError(str(error)) from None
    species = None if args.species is None else args.species.split(",")
    try:
        return Template.from_atoms(atoms, args.zone_axis, species=species)
    except ValueError as error:
        option = "--species" if "species" in str(error) else "--zone-axis"
        if "periodic" in str(error):
            option = "--template-structure"
        raise ValueError(f"{option}: {error}") from None


def read_points(path: str, sampling) -> np.ndarray:
    """Column positions (n, 2) [pixels] from a CSV with a header naming ``x`` and ``y`` (or
    only ``x_A`` and ``y_A`` [Å], divided by ``sampling``) or an .npz with ``positions`` [Å]
    (`atomscope recognize`)."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--points {path!r} does not exist")
    try:
        if file.suffix == ".npz":
            with np.load(file) as data:
                return np.asarray(data["positions"], float).reshape(-1, 2) / np.asarray(sampling)
        with open(file) as handle:
            names = [name.strip() for name in handle.readline().split(",")]
        for columns, scale in ((("x", "y"), 1.0), (("x_A", "y_A"), np.asarray(sampling))):
            if set(columns) <= set(names):
                usecols = [names.index(column) for column in columns]
                table = np.loadtxt(file, delimiter=",", skiprows=1, ndmin=2, usecols=usecols)
                return table / scale
    except (OSError, ValueError, KeyError, UnicodeDecodeError, IndexError) as error:
        raise ValueError(f"--points {path!r} could not be read: {error}") from None
    raise ValueError(f"--points {path!r} needs a header with x,y [pixels] or x_A,y_A [Å] columns")


def _strain(args: argparse.Namespace) -> None:
    from atomscope.io import read_image
    from atomscope.jobs.strain import run_strain

    if args.template_structure is not None:
        templates = _structure_templates(args)
    else:
        templates = [_template(name) for name in args.template]
    gpa = args.gpa
    if gpa is not None:
        gpa = "auto" if gpa == ["auto"] else [_g_vector(g) for g in gpa]
    image = read_image(args.image, sampling=args.sampling, frames=args.frame, single_frame=True)
    points = None if args.points is None else read_points(args.points, image.sampling)
    summary = run_strain(
        image,
        args.out,
        templates,
        templates_in_angstrom=args.template_structure is not None,
        points=points,
        invert=args.invert,
        gpa=gpa,
        min_distance=args.min_distance,
        refine_window=args.refine_window,
        threshold=args.threshold,
        rmax=args.rmax,
        min_matched=args.min_matched,
        wiener=args.wiener,
        reference=args.reference,
        name=str(args.image),
    )
    print(
        f"{summary['num_matched']}/{summary['num_points']} points matched; outputs in {args.out}/"
    )


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``atomscope strain`` to its ``parser``."""
    parser.description = (
        "Find and refine peaks (or take --points), match structural templates (seed §3.2), "
        "compute the strain tensor of every point, optionally GPA beside it; writes points.csv, "
        "strain.npz, strain.png and summary.json."
    )
    parser.add_argument(
        "image",
        help="image file (TIFF, npz, dm3/dm4, emd, hspy, mrc, ser); its x axis is the array's "
        "first axis, i.e. the TIFF's columns (left to right), y its rows",
    )
    parser.add_argument(
        "--template",
        nargs="+",
        default=["hexagonal"],
        help="square | hexagonal | fcc110 | honeycomb | CSV file (several: best per point)",
    )
    parser.add_argument(
        "--template-structure",
        metavar="FILE",
        help="crystal structure (CIF or any file ASE reads): one template per column site "
        "along --zone-axis, in Å (replaces --template)",
    )
    parser.add_argument(
        "--zone-axis",
        type=int,
        nargs=3,
        metavar=("U", "V", "W"),
        help="zone axis [uvw] of --template-structure, in its cell vectors' basis",
    )
    parser.add_argument(
        "--species",
        help="with --template-structure: keep columns containing these elements, e.g. Sr,Ti",
    )
    parser.add_argument(
        "--invert",
        action="store_true",
        help="atoms are dark (ABF, negative-Cs HRTEM of light atoms): find minima",
    )
    parser.add_argument("--frame", type=int, help="the frame of a stack to analyse (from 0)")
    parser.add_argument(
        "--gpa",
        nargs="+",
        metavar="GX,GY",
        help="also run GPA with two g-vectors [1/pixel], or 'auto'",
    )
    add_out_option(parser, "strain")
    parser.add_argument(
        "--points",
        metavar="FILE",
        help="column positions instead of the peak search: a CSV with x, y columns [pixels] "
        "(recognize's atoms CSV, strain's points.csv) or recognize's .npz",
    )
    add_sampling_option(parser)
    parser.add_argument(
        "--min-distance",
        type=int,
        default=None,
        help="peak separation [pixels] (default: 0.35 × the nearest column spacing of "
        "--template-structure, else 5)",
    )
    parser.add_argument(
        "--refine-window",
        type=int,
        default=None,
        help="sub-pixel refinement window [pixels] (default: 0.6 × the nearest column spacing "
        "of --template-structure, at least 5; else 5)",
    )
    parser.add_argument(
        "--threshold", type=float, default=0.1, help="peak height, fraction of the image range"
    )
    parser.add_argument(
        "--rmax",
        type=float,
        default=None,
        help="largest RMSD for a full match; above it partial matching",
    )
    parser.add_argument(
        "--min-matched",
        type=int,
        default=None,
        help="fewest matched neighbours N′ for a partial match (default 3)",
    )
    parser.add_argument("--wiener", action="store_true", help="Wiener-filter the image first")
    parser.add_argument(
        "--reference",
        type=float,
        nargs=4,
        metavar=("X0", "X1", "Y0", "Y1"),
        help="unstrained region [pixels]: zero mean planar strain there (both "
        "methods); default: all matched points / the whole image",
    )
    parser.set_defaults(func=_strain)
