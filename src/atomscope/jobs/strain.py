"""The strain job: image → peaks → structural templates → strain, with GPA beside it."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np


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


def run_strain(
    image,
    out: str | Path,
    templates: Sequence,
    templates_in_angstrom: bool = False,
    points: np.ndarray | None = None,
    invert: bool = False,
    gpa: str | Sequence[tuple[float, float]] | None = None,
    min_distance: int | None = None,
    refine_window: int | None = None,
    threshold: float = 0.1,
    rmax: float | None = None,
    min_matched: int | None = None,
    wiener: bool = False,
    reference: tuple[float, float, float, float] | None = None,
    name: str = "image",
) -> dict:
    """Strain of every atomic column in ``image`` by template matching (and GPA), written
    into directory ``out``: points.csv, strain.npz, strain.png and summary.json.

    Parameters
    ----------
    image
        `Images` (2D) with its pixel size [Å].
    out
        Output directory; only files an earlier strain run wrote are replaced.
    templates
        `Template` objects (several: the best per point).
    templates_in_angstrom
        True when the templates' spacings are in Å (`Template.from_atoms`): the peak search
        then uses physical defaults and the summary gives ``lattice_scale``.
    points
        Column positions (n, 2) ``[x, y]`` [pixels], e.g. from `atomscope recognize`, instead
        of the peak search.
    invert
        Atoms are dark (ABF, negative-Cs HRTEM of light atoms): find minima.
    gpa
        None, ``"auto"`` or two g-vectors ``(gx, gy)`` [1/pixel] for GPA beside the templates.
    min_distance, refine_window
        Peak separation and refinement window [pixels] (default: from the templates' nearest
        spacing when in Å, else 5).
    threshold
        Peak height, fraction of the image range.
    rmax, min_matched
        Largest RMSD of a full match and fewest neighbours N′ of a partial match.
    wiener
        Wiener-filter the image first.
    reference
        Unstrained region (x0, x1, y0, y1) [pixels] for both methods (default: the matched
        points with complete, well-fitting neighbourhoods / the whole image).
    name
        The image's name for the summary.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    started = time.perf_counter()
    arguments = {key: value for key, value in locals().items() if key not in ("image", "started")}
    arguments["templates"] = [template.name for template in templates]
    # the positions themselves are results (points.csv), not a parameter to copy into the summary
    arguments["points"] = None if points is None else f"{len(points)} positions given"
    from atomscope.jobs.figures import FigureProcess

    # the figure's helper process starts first: it imports matplotlib while this one computes
    with FigureProcess() as figures:
        from atomscope.analysis import (
            find_peaks,
            gpa_strain,
            refine_peaks,
            strain_from_match,
            wiener_filter,
        )
        from atomscope.analysis.gpa import check_g_vectors
        from atomscope.analysis.peaks import atoms_look_dark
        from atomscope.analysis.strain import default_reference
        from atomscope.analysis.templates import match_templates
        from atomscope.core.memory import check_and_report
        from atomscope.core.validate import check_positive, check_positive_int
        from atomscope.io import write_npz
        from atomscope.outputs import claim_outputs, staged_outputs
        from atomscope.summary import write_summary

        if min_distance is not None:
            check_positive_int("--min-distance", min_distance)
        if refine_window is not None:
            check_positive_int("--refine-window", refine_window, minimum=3)
        if rmax is not None:
            check_positive("--rmax", rmax)
        if min_matched is not None:
            check_positive_int("--min-matched", min_matched, minimum=3)
        g_vectors = None
        if gpa is not None and gpa != "auto":
            if len(gpa) != 2:
                raise ValueError(f"--gpa takes 'auto' or two g-vectors gx,gy, got {gpa}")
            g_vectors = check_g_vectors(gpa)
        if image.array.ndim != 2:
            raise ValueError(f"the image must be 2D, got shape {image.shape}; choose one --frame")
        if points is not None:
            points = np.asarray(points, dtype=float)
            if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
                raise ValueError(
                    f"--points must be at least 3 rows of x, y; got shape {points.shape}"
                )
            if np.any(points < 0) or np.any(points > np.asarray(image.shape) - 1):
                raise ValueError(
                    "--points lie outside the image: they must be pixels of this image"
                )
        claim_outputs(out, "strain", _OUTPUTS)
        nx, ny = image.shape
        in_angstrom = templates_in_angstrom
        radius = max(float(np.linalg.norm(t.points, axis=1).max()) for t in templates)
        if in_angstrom and min(image.extent) < 2 * radius:
            raise ValueError(
                f"image {name!r} ({image.extent[0]:.3g}×{image.extent[1]:.3g} Å) is too small "
                f"for the template (radius {radius:.3g} Å): it needs at least {2 * radius:.3g} Å"
            )
        check_and_report(
            strain_memory(image.shape, gpa=gpa is not None),
            f"strain of a {nx}×{ny} image",
            "crop the image",
        )
        box = _reference_box(reference, image.shape)
        array = -image.array if invert else image.array
        array = wiener_filter(array) if wiener else array
        if not invert and atoms_look_dark(array):
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
        nearest = (
            min(_nearest_spacing(t) for t in templates) / sampling.min() if in_angstrom else None
        )
        min_distance = min_distance or (max(2, int(0.35 * nearest)) if nearest else 5)
        window = refine_window or (max(5, 2 * int(0.3 * nearest) + 1) if nearest else 5)
        if points is None:
            peaks = refine_peaks(array, find_peaks(array, min_distance, threshold), window=window)
        else:
            peaks = points
        match = match_templates(
            peaks * sampling if in_angstrom else peaks,
            templates,
            rmax=rmax,
            min_matched=min_matched,
        )
        reference_points = None if box is None else _inside(peaks, box)
        if reference_points is not None and not (reference_points & match.mask).any():
            raise ValueError(f"--reference {reference}: no matched point lies in this region")
        strain = strain_from_match(match, reference=reference_points)
        rmsd_median = float(np.nanmedian(match.rmsd[match.mask])) if match.mask.any() else None
        if rmsd_median is not None and rmsd_median > RMSD_FIT:
            warnings.warn(
                f"the template does not fit: median RMSD {rmsd_median:.3f} > {RMSD_FIT} (a lattice "
                "that fits has a few 0.01); check --template / --template-structure and --zone-axis",
                stacklevel=2,
            )
        gpa_maps = None
        if gpa is not None:
            x, y = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]), indexing="ij")
            pixels = None if box is None else _inside(np.stack([x, y], axis=-1), box)
            gpa_maps = gpa_strain(array, g_vectors=g_vectors, reference=pixels)
        # "unmatched" for the interior: no complete, well-fitting neighbourhood (the default
        # reference rule), which also catches the force-matched points along the edges
        complete, _ = default_reference(match)
        reach = radius / sampling.min() if in_angstrom else radius * float(np.nanmax(strain.scale))
        interior = _interior(peaks, complete, image.shape, reach)

        with staged_outputs(out, "strain") as stage:
            # the figure first (it may draw in the helper process while the rest is written);
            # it draws points over the image in pixels
            on_image = dataclasses.replace(strain, points=peaks)
            figures.draw(
                "atomscope.plot.strain_png",
                stage / "strain.png",
                image,
                on_image,
                rmsd=match.rmsd,
                gpa=gpa_maps,
                focus=interior if interior.any() else None,
            )
            _write_points_csv(stage / "points.csv", peaks, sampling, strain, match)
            arrays = {
                name: getattr(strain, name)
                for name in ("points", "exx", "eyy", "exy", "rotation", "mask")
            }
            arrays.update(
                rmsd=match.rmsd, template_index=match.template_index, num_matched=match.num_matched
            )
            if gpa_maps is not None:
                arrays.update(
                    {
                        f"gpa_{name}": getattr(gpa_maps, name)
                        for name in ("exx", "eyy", "exy", "rotation")
                    }
                )
            write_npz(stage / "strain.npz", compress=False, **arrays)
            matched = strain.mask
            results = {
                "image": name,
                "sampling_A": image.sampling,
                "sampling_source": image.sampling_source,
                "templates": [t.name for t in templates],
                "min_distance_px": min_distance,
                "refine_window_px": window,
                "inverted": bool(invert),
                "points_given": points is not None,
                "rmsd_median": rmsd_median,
                "lattice_scale": _lattice_scale(strain) if in_angstrom else None,
                "lattice_scale_per_template": (
                    dict(
                        zip([t.name for t in templates], strain.lattice_scale.tolist(), strict=True)
                    )
                    if in_angstrom
                    else None
                ),
                "reference_rule": strain.reference_rule,
                "num_interior": int(interior.sum()),
                "strain_rms_interior": {
                    "templates": _rms(strain, interior),
                    "gpa": None if gpa_maps is None else _rms_at(gpa_maps, peaks[interior]),
                },
                "num_points": len(peaks),
                "num_matched": int(matched.sum()),
                "scale": strain.scale,
                "reference_px": box,
                "mean_exx": float(np.nanmean(strain.exx)) if matched.any() else None,
                "mean_eyy": float(np.nanmean(strain.eyy)) if matched.any() else None,
                "std_exx": float(np.nanstd(strain.exx)) if matched.any() else None,
                "std_eyy": float(np.nanstd(strain.eyy)) if matched.any() else None,
                "gpa_g_vectors": None if gpa_maps is None else gpa_maps.g_vectors,
            }
            figures.wait()
            summary = write_summary(
                stage / "summary.json", "strain", arguments, _OUTPUTS, started, results
            )
        return summary
