"""``atomscope strain``: peaks → structural templates → strain, with GPA beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def _reference_box(values, shape) -> tuple[float, float, float, float] | None:
    if values is None:
        return None
    x0, x1, y0, y1 = values
    if not (0 <= x0 < x1 <= shape[0] and 0 <= y0 < y1 <= shape[1]):
        raise ValueError(
            f"--reference X0 X1 Y0 Y1 must satisfy 0 ≤ X0 < X1 ≤ {shape[0]} and "
            f"0 ≤ Y0 < Y1 ≤ {shape[1]} [pixels]; got {values}"
        )
    return x0, x1, y0, y1


def _inside(points: np.ndarray, box) -> np.ndarray:
    x0, x1, y0, y1 = box
    x, y = points[..., 0], points[..., 1]
    return (x >= x0) & (x < x1) & (y >= y0) & (y < y1)


def _write_points_csv(path: Path, strain, match) -> None:
    from atomscope.outputs import atomic_output

    names = [
        "x",
        "y",
        "matched",
        "template",
        "num_matched",
        "rmsd",
        "exx",
        "eyy",
        "exy",
        "rotation",
    ]
    columns = [
        strain.points[:, 0],
        strain.points[:, 1],
        strain.mask.astype(int),
        match.template_index,
        match.num_matched,
        match.rmsd,
        strain.exx,
        strain.eyy,
        strain.exy,
        strain.rotation,
    ]
    with atomic_output(path) as tmp:
        np.savetxt(
            tmp,
            np.column_stack(columns),
            delimiter=",",
            header=",".join(names),
            comments="",
            fmt="%.8g",
        )


_OUTPUTS = ["points.csv", "strain.npz", "strain.png", "summary.json"]
#: Peak bytes per image pixel of `run_strain`, measured (VmHWM, 96² to 1024² lattices): peak
#: finding, refinement, the strain maps and their figure; GPA's complex Bragg-filtered images
_STRAIN_PIXEL_BYTES = 130
_GPA_PIXEL_BYTES = 220
_FIGURE_BYTES = 64 * 2**20  # the figure canvas, fonts and colour maps of strain.png


def strain_memory(shape: tuple[int, int], gpa: bool) -> int:
    """Bytes `run_strain` adds to the process for an image of ``shape`` [B] (with GPA or not).

    Examples
    --------
    >>> strain_memory((512, 512), gpa=True) > strain_memory((512, 512), gpa=False)
    True
    """
    per_pixel = _STRAIN_PIXEL_BYTES + (_GPA_PIXEL_BYTES if gpa else 0)
    return int(per_pixel * shape[0] * shape[1] + _FIGURE_BYTES)


def run_strain(args) -> dict:
    """Run the strain command on parsed arguments; returns the JSON summary."""
    from atomscope.analysis import (
        find_peaks,
        gpa_strain,
        refine_peaks,
        strain_from_match,
        wiener_filter,
    )
    from atomscope.analysis.gpa import check_g_vectors
    from atomscope.analysis.templates import match_templates
    from atomscope.core.memory import check_and_report
    from atomscope.core.validate import check_positive, check_positive_int
    from atomscope.io import read_image, write_json, write_npz
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import strain_png

    templates = [_template(name) for name in args.template]
    check_positive_int("--min-distance", args.min_distance)
    if args.rmax is not None:
        check_positive("--rmax", args.rmax)
    if args.min_matched is not None:
        check_positive_int("--min-matched", args.min_matched, minimum=3)
    g_vectors = None
    if args.gpa is not None and args.gpa != ["auto"]:
        if len(args.gpa) != 2:
            raise ValueError(f"--gpa takes 'auto' or two g-vectors gx,gy, got {args.gpa}")
        g_vectors = check_g_vectors([_g_vector(g) for g in args.gpa])
    image = read_image(args.image, sampling=args.sampling, single_frame=True)
    claim_outputs(args.out, "strain", _OUTPUTS)
    nx, ny = image.shape
    check_and_report(
        strain_memory(image.shape, gpa=args.gpa is not None),
        f"strain of a {nx}×{ny} image",
        "crop the image",
    )
    box = _reference_box(args.reference, image.shape)
    array = wiener_filter(image.array) if args.wiener else image.array

    peaks = refine_peaks(array, find_peaks(array, args.min_distance, args.threshold))
    match = match_templates(peaks, templates, rmax=args.rmax, min_matched=args.min_matched)
    reference_points = None if box is None else _inside(peaks, box)
    if reference_points is not None and not (reference_points & match.mask).any():
        raise ValueError(f"--reference {args.reference}: no matched point lies in this region")
    strain = strain_from_match(match, reference=reference_points)
    gpa = None
    if args.gpa is not None:
        x, y = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]), indexing="ij")
        pixels = None if box is None else _inside(np.stack([x, y], axis=-1), box)
        gpa = gpa_strain(array, g_vectors=g_vectors, reference=pixels)

    with staged_outputs(args.out, "strain") as stage:
        _write_points_csv(stage / "points.csv", strain, match)
        arrays = {
            name: getattr(strain, name)
            for name in ("points", "exx", "eyy", "exy", "rotation", "mask")
        }
        arrays.update(
            rmsd=match.rmsd, template_index=match.template_index, num_matched=match.num_matched
        )
        if gpa is not None:
            arrays.update(
                {f"gpa_{name}": getattr(gpa, name) for name in ("exx", "eyy", "exy", "rotation")}
            )
        write_npz(stage / "strain.npz", **arrays)
        strain_png(stage / "strain.png", image, strain, rmsd=match.rmsd, gpa=gpa)
        matched = strain.mask
        summary = {
            "image": str(args.image),
            "sampling_A": image.sampling,
            "templates": list(args.template),
            "num_points": len(peaks),
            "num_matched": int(matched.sum()),
            "scale_px": strain.scale,
            "reference_px": box,
            "mean_exx": float(np.nanmean(strain.exx)) if matched.any() else None,
            "mean_eyy": float(np.nanmean(strain.eyy)) if matched.any() else None,
            "std_exx": float(np.nanstd(strain.exx)) if matched.any() else None,
            "std_eyy": float(np.nanstd(strain.eyy)) if matched.any() else None,
            "gpa_g_vectors": None if gpa is None else gpa.g_vectors,
            "outputs": _OUTPUTS,
        }
        write_json(stage / "summary.json", summary)
    return summary


def _strain(args) -> None:
    summary = run_strain(args)
    print(
        f"{summary['num_matched']}/{summary['num_points']} points matched; outputs in {args.out}/"
    )


def add_commands(subparsers) -> None:
    """Register ``atomscope strain``."""
    parser = subparsers.add_parser(
        "strain",
        help="strain maps from an atomic-resolution image (templates, optionally GPA)",
        description="Find and refine peaks, match structural templates (seed §3.2), compute the "
        "strain tensor of every point, optionally GPA beside it; writes points.csv, strain.npz, "
        "strain.png and summary.json.",
    )
    parser.add_argument("image", help="TIFF, npz, dm3 or dm4 image")
    parser.add_argument(
        "--template",
        nargs="+",
        default=["hexagonal"],
        help="square | hexagonal | fcc110 | honeycomb | CSV file (several: best per point)",
    )
    parser.add_argument(
        "--gpa",
        nargs="+",
        metavar="GX,GY",
        help="also run GPA with two g-vectors [1/pixel], or 'auto'",
    )
    parser.add_argument("--out", "-o", default="out/strain", help="output directory")
    parser.add_argument(
        "--sampling", type=float, default=None, help="pixel size [Å] if the file records none"
    )
    parser.add_argument("--min-distance", type=int, default=5, help="peak separation [pixels]")
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
