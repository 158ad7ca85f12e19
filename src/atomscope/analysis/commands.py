"""``atomscope strain``: peaks → structural templates → strain, with GPA beside it."""

from __future__ import annotations

import dataclasses
import warnings
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


def _structure_templates(args) -> list:
    """One template per column site of ``--template-structure`` along ``--zone-axis`` [Å]."""
    from atomscope.analysis.templates import Template
    from atomscope.cli import read_structure

    if args.zone_axis is None:
        raise ValueError("--template-structure needs --zone-axis U V W (e.g. 1 1 0)")
    try:
        atoms = read_structure(args.template_structure)
    except ValueError as error:
        raise ValueError(f"--template-structure: {error}") from None
    species = None if args.species is None else args.species.split(",")
    try:
        return Template.from_atoms(atoms, args.zone_axis, species=species)
    except ValueError as error:
        option = "--species" if "species" in str(error) else "--zone-axis"
        if "periodic" in str(error):
            option = "--template-structure"
        raise ValueError(f"{option}: {error}") from None


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


def _write_points_csv(path: Path, peaks, sampling, strain, match) -> None:
    from atomscope.outputs import atomic_output

    names = ["x", "y", "x_A", "y_A", "matched", "template", "num_matched", "rmsd"]
    names += ["exx", "eyy", "exy", "rotation"]
    columns = [
        peaks[:, 0],
        peaks[:, 1],
        peaks[:, 0] * sampling[0],
        peaks[:, 1] * sampling[1],
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


#: Median RMSD (Eqs 3.7–3.10, scale-free) above which a template is said not to fit; a template
#: of the imaged lattice stays at a few 0.01 even with noise
RMSD_FIT = 0.1


def _nearest_spacing(template) -> float:
    """The template's shortest centre–neighbour distance [template units]."""
    return float(np.linalg.norm(template.points, axis=1).min())


def _looks_dark(array: np.ndarray) -> bool:
    """True for bright-background images with dark spots: the intensities are skewed low."""
    values = array.ravel()
    spread = values.std()
    return bool(spread > 0 and np.mean((values - values.mean()) ** 3) / spread**3 < 0)


def _interior(peaks: np.ndarray, matched: np.ndarray, shape, radius: float) -> np.ndarray:
    """Matched points more than ``radius`` [px] (one template radius) from the image edge and
    from every unmatched point: where strain is not made up by missing neighbours."""
    from scipy.spatial import cKDTree

    inside = np.all((peaks >= radius) & (peaks <= np.asarray(shape) - 1 - radius), axis=1)
    interior = matched & inside
    if (~matched).any():
        near, _ = cKDTree(peaks[~matched]).query(peaks, distance_upper_bound=radius)
        interior &= ~np.isfinite(near)
    return interior


def _rms(strain, interior: np.ndarray) -> dict | None:
    if not interior.any():
        return None
    return {
        name: float(np.sqrt(np.mean(getattr(strain, name)[interior] ** 2)))
        for name in ("exx", "eyy", "exy")
    }


def _rms_at(gpa, pixels: np.ndarray) -> dict | None:
    """RMS of the GPA maps at the given points (nearest pixel)."""
    if not len(pixels):
        return None
    i, j = np.round(pixels).astype(int).T
    return {
        name: float(np.sqrt(np.nanmean(getattr(gpa, name)[i, j] ** 2)))
        for name in ("exx", "eyy", "exy")
    }


def _lattice_scale(strain) -> float | None:
    """Measured spacing / template spacing, averaged over the templates by their points."""
    counts = np.bincount(strain.template_index[strain.mask], minlength=len(strain.scale))
    usable = counts > 0
    if not usable.any():
        return None
    return float(np.average(strain.lattice_scale[usable], weights=counts[usable]))


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
    from atomscope.analysis.strain import default_reference
    from atomscope.analysis.templates import match_templates
    from atomscope.core.memory import check_and_report
    from atomscope.core.validate import check_positive, check_positive_int
    from atomscope.io import read_image, write_json, write_npz
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import strain_png

    if args.template_structure is not None:
        templates = _structure_templates(args)
    else:
        templates = [_template(name) for name in args.template]
    if args.min_distance is not None:
        check_positive_int("--min-distance", args.min_distance)
    if args.refine_window is not None:
        check_positive_int("--refine-window", args.refine_window, minimum=3)
    if args.rmax is not None:
        check_positive("--rmax", args.rmax)
    if args.min_matched is not None:
        check_positive_int("--min-matched", args.min_matched, minimum=3)
    g_vectors = None
    if args.gpa is not None and args.gpa != ["auto"]:
        if len(args.gpa) != 2:
            raise ValueError(f"--gpa takes 'auto' or two g-vectors gx,gy, got {args.gpa}")
        g_vectors = check_g_vectors([_g_vector(g) for g in args.gpa])
    image = read_image(args.image, sampling=args.sampling, frames=args.frame, single_frame=True)
    claim_outputs(args.out, "strain", _OUTPUTS)
    nx, ny = image.shape
    in_angstrom = args.template_structure is not None
    radius = max(float(np.linalg.norm(t.points, axis=1).max()) for t in templates)
    if in_angstrom and min(image.extent) < 2 * radius:
        raise ValueError(
            f"image {args.image!r} ({image.extent[0]:.3g}×{image.extent[1]:.3g} Å) is too small "
            f"for the template (radius {radius:.3g} Å): it needs at least {2 * radius:.3g} Å"
        )
    check_and_report(
        strain_memory(image.shape, gpa=args.gpa is not None),
        f"strain of a {nx}×{ny} image",
        "crop the image",
    )
    box = _reference_box(args.reference, image.shape)
    array = -image.array if args.invert else image.array
    array = wiener_filter(array) if args.wiener else array
    if not args.invert and _looks_dark(array):
        warnings.warn(
            "most of the image is bright with dark spots: if the atoms are dark (ABF, "
            "negative-Cs HRTEM of light atoms), the peaks found sit on the background; "
            "use --invert",
            stacklevel=2,
        )
    sampling = np.asarray(image.sampling)
    # physical defaults: peaks at least 0.35 of the nearest column spacing apart (at 0.5
    # scikit-image's min_distance lost a quarter of the weak O columns of [110] SrTiO3), a
    # refinement window of 0.6 spacing (0.4 left 0.5 % RMS strain of noise, 0.6 0.2 %)
    nearest = min(_nearest_spacing(t) for t in templates) / sampling.min() if in_angstrom else None
    min_distance = args.min_distance or (max(2, int(0.35 * nearest)) if nearest else 5)
    window = args.refine_window or (max(5, 2 * int(0.3 * nearest) + 1) if nearest else 5)
    peaks = refine_peaks(array, find_peaks(array, min_distance, args.threshold), window=window)
    points = peaks * sampling if in_angstrom else peaks
    match = match_templates(points, templates, rmax=args.rmax, min_matched=args.min_matched)
    reference_points = None if box is None else _inside(peaks, box)
    if reference_points is not None and not (reference_points & match.mask).any():
        raise ValueError(f"--reference {args.reference}: no matched point lies in this region")
    strain = strain_from_match(match, reference=reference_points)
    rmsd_median = float(np.nanmedian(match.rmsd[match.mask])) if match.mask.any() else None
    if rmsd_median is not None and rmsd_median > RMSD_FIT:
        warnings.warn(
            f"the template does not fit: median RMSD {rmsd_median:.3f} > {RMSD_FIT} (a lattice "
            "that fits has a few 0.01); check --template / --template-structure and --zone-axis",
            stacklevel=2,
        )
    gpa = None
    if args.gpa is not None:
        x, y = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]), indexing="ij")
        pixels = None if box is None else _inside(np.stack([x, y], axis=-1), box)
        gpa = gpa_strain(array, g_vectors=g_vectors, reference=pixels)
    # "unmatched" for the interior: no complete, well-fitting neighbourhood (the default
    # reference rule), which also catches the force-matched points along the edges
    complete, _ = default_reference(match)
    reach = radius / sampling.min() if in_angstrom else radius * float(np.nanmax(strain.scale))
    interior = _interior(peaks, complete, image.shape, reach)

    with staged_outputs(args.out, "strain") as stage:
        _write_points_csv(stage / "points.csv", peaks, sampling, strain, match)
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
        write_npz(stage / "strain.npz", compress=False, **arrays)
        # the figure draws points over the image in pixels
        on_image = dataclasses.replace(strain, points=peaks)
        strain_png(
            stage / "strain.png",
            image,
            on_image,
            rmsd=match.rmsd,
            gpa=gpa,
            focus=interior if interior.any() else None,
        )
        matched = strain.mask
        summary = {
            "image": str(args.image),
            "sampling_A": image.sampling,
            "sampling_source": image.sampling_source,
            "templates": [t.name for t in templates],
            "min_distance_px": min_distance,
            "refine_window_px": window,
            "inverted": bool(args.invert),
            "rmsd_median": rmsd_median,
            "lattice_scale": _lattice_scale(strain) if in_angstrom else None,
            "lattice_scale_per_template": (
                dict(zip([t.name for t in templates], strain.lattice_scale.tolist(), strict=True))
                if in_angstrom
                else None
            ),
            "reference_rule": strain.reference_rule,
            "num_interior": int(interior.sum()),
            "strain_rms_interior": {
                "templates": _rms(strain, interior),
                "gpa": None if gpa is None else _rms_at(gpa, peaks[interior]),
            },
            "num_points": len(peaks),
            "num_matched": int(matched.sum()),
            "scale": strain.scale,
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
    parser.add_argument("--out", "-o", default="out/strain", help="output directory")
    parser.add_argument(
        "--sampling",
        type=float,
        default=None,
        help="pixel size [Å]; overrides the file's calibration (default: from the file)",
    )
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
