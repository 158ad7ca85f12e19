"""What the strain-accuracy study measures (seed thesis §4.2.3, §4.3, §4.4.3).

Positions are in Å in the projected frame ``[x, y]`` (array axis 0 is x); strain is
dimensionless. The chain for one image is::

    true columns ──column_strain──▶ ε_true ─┐
    image ──measure_positions──▶ measured columns ──pair_points──▶ index
          measured columns ──column_strain──▶ ε_measured ──strain_errors(…, index, normals)──▶ Eq 4.3

and over K noisy images `mean_absolute_error` (Eq 4.6), over doses `fit_inverse_sqrt_dose`
(Eq 4.7).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from atomscope.core.validate import (
    check_choice,
    check_finite_array,
    check_pair,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)

__all__ = [
    "ColumnStrain",
    "DoseFit",
    "MeanAbsoluteError",
    "PointPairs",
    "StrainErrors",
    "column_strain",
    "fit_inverse_sqrt_dose",
    "mean_absolute_error",
    "measure_positions",
    "pair_points",
    "strain_errors",
    "surface_relaxation",
]

#: Default largest RMSD of a full template match [template units]; above it the local lattice
#: is matched partially, dropping its farthest neighbours (seed §3.2.3, Fig 3.5). Any value
#: from 0.05 to 0.2 gives the same matches on ideal and affinely strained Au particles.
RMAX = 0.1
#: Default number of template shells: the four nearest and two second-nearest neighbours.
SHELLS = 2
#: Scaled-MAD factor: σ = MAD_SCALE · median |x − median x| estimates a normal σ.
MAD_SCALE = 1.4826
_PAIR_BYTES_LIMIT = 2**27  # dense assignment per connected component: refuse above 128 MiB


def _check_positions(name: str, positions, minimum: int = 0) -> np.ndarray:
    points = check_finite_array(name, positions, ndim=2)
    if points.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2) [x, y] in Å, got shape {points.shape}")
    if len(points) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} positions, got {len(points)}")
    return points


@dataclass(frozen=True, eq=False)
class ColumnStrain:
    """Strain at every column position from template matching (Eqs 3.12–3.14, 4.1).

    Attributes
    ----------
    points
        (n, 2) column positions [Å], as given.
    exx, eyy, exy
        (n,) strain components in the frame of ``points``; NaN where not ``valid``.
    planar
        (n,) planar strain εp = (εxx + εyy)/2 (Eq 4.1); NaN where not ``valid``.
    rotation
        (n,) local lattice rotation against the template [rad]; NaN where not ``valid``.
    valid
        (n,) True where the template matched (fully, or partially with at least
        ``min_matched`` neighbours) and the strain is defined.
    num_matched
        (n,) N′, neighbours used (6 in the bulk with the default template, 3 at a corner).
    rmsd
        (n,) scale-invariant RMSD of the match (Eq 3.9) [template units]; NaN if unmatched.
    spacing
        The zero-strain nearest-neighbour distance a/√2 that was given [Å].
    """

    points: np.ndarray
    exx: np.ndarray
    eyy: np.ndarray
    exy: np.ndarray
    planar: np.ndarray
    rotation: np.ndarray
    valid: np.ndarray
    num_matched: np.ndarray
    rmsd: np.ndarray
    spacing: float

    def __len__(self) -> int:
        return len(self.valid)

    @property
    def tensor(self) -> np.ndarray:
        """(n, 2, 2) symmetric strain tensors [[εxx, εxy], [εxy, εyy]]; NaN where not valid."""
        return np.stack(
            [np.stack([self.exx, self.exy], -1), np.stack([self.exy, self.eyy], -1)], -2
        )


def column_strain(
    positions,
    spacing: float,
    *,
    rmax: float | None = RMAX,
    min_matched: int = 3,
    shells: int = SHELLS,
    max_evaluations: int | None = 100_000,
) -> ColumnStrain:
    """Strain at each column of an fcc ⟨110⟩ projection by structural template matching.

    Each column's local lattice is matched (`match_templates`, branch and bound) against the
    ⟨110⟩ fcc template of seed Fig 3.3 — by default its four nearest neighbours at
    √3/2·``spacing`` and two second-nearest at ``spacing`` along the ⟨110⟩ rows, the
    template of the chapter-4 paper — built as `Template.fcc110` in Å. Surface and corner
    columns are matched partially (seed §3.2.3): their farthest neighbours are dropped until
    the RMSD is below ``rmax`` (a corner keeps 3). The strain (`strain_from_match`, Eqs
    3.12–3.14) is relative to the template's own lattice (``lattice_scale=1``), so the zero of
    strain is the ideal crystal of nearest-neighbour distance ``spacing``, not the mean of the
    particle: bulk Au (a = 4.08 Å, ASE's value, as `wulff_particle` builds) has
    ``spacing = 4.08/√2 = 2.885`` Å. The template is rotation invariant, so the particle may
    lie in any in-plane orientation; εxx, εyy, εxy are in the frame of ``positions``.

    Parameters
    ----------
    positions
        (n, 2) column positions [Å], n ≥ template size + 1 (7 by default).
    spacing
        Zero-strain distance between neighbouring columns along a ⟨110⟩ row, the fcc
        nearest-neighbour distance a/√2 [Å], > 0.
    rmax
        Largest RMSD of a full match [template units], > 0; None forces full matches (the
        surface columns then pair with wrong neighbours).
    min_matched
        Fewest neighbours N′ of a partial match, ≥ 2; fewer leaves the column not valid.
    shells
        Template shells: 1 (the 4 nearest), 2 (+ 2 second-nearest, default) or 3 (+ 2 at a).
    max_evaluations
        Branch-and-bound budget per column (see `match_templates`).

    Returns
    -------
    ColumnStrain
        εxx, εyy, εxy, εp (Eq 4.1), rotation and the validity of each column's match.

    Examples
    --------
    >>> from ase.cluster import Octahedron
    >>> from atomscope.structures import projected_columns
    >>> particle = Octahedron("Au", length=7, cutoff=2, latticeconstant=4.08)
    >>> positions = projected_columns(particle, zone_axis=(1, 1, 0)).positions
    >>> strain = column_strain(positions * 1.01, spacing=4.08 / 2**0.5)   # stretched by 1 %
    >>> bool(strain.valid.all()), round(float(strain.planar.mean()), 9)
    (True, 0.01)
    """
    from atomscope.analysis.strain import strain_from_match
    from atomscope.analysis.templates import Template, match_templates

    spacing = check_positive("spacing", spacing)
    shells = check_positive_int("shells", shells)
    if shells > 3:
        raise ValueError(f"shells must be 1, 2 or 3, got {shells}")
    template = Template.fcc110(shells=shells, spacing=np.sqrt(3) / 2 * spacing)
    points = _check_positions("positions", positions, template.num_points + 1)
    if rmax is not None:
        rmax = check_positive("rmax", rmax)
    min_matched = check_positive_int("min_matched", min_matched, minimum=2)
    if min_matched > template.num_points:
        raise ValueError(
            f"min_matched must be in [2, {template.num_points}] (the template's size), got "
            f"{min_matched}"
        )
    match = match_templates(
        points,
        [template],
        rmax=rmax,
        min_matched=min_matched,
        max_evaluations=max_evaluations,
    )
    if not match.mask.any():
        nan = np.full(len(points), np.nan)
        return ColumnStrain(
            points=points,
            exx=nan,
            eyy=nan,
            exy=nan,
            planar=nan,
            rotation=nan,
            valid=np.zeros(len(points), bool),
            num_matched=np.zeros(len(points), int),
            rmsd=nan,
            spacing=spacing,
        )
    strain = strain_from_match(match, lattice_scale=1.0)  # template in Å, points in Å
    valid = strain.mask & np.isfinite(strain.exx)
    return ColumnStrain(
        points=points,
        exx=np.where(valid, strain.exx, np.nan),
        eyy=np.where(valid, strain.eyy, np.nan),
        exy=np.where(valid, strain.exy, np.nan),
        planar=np.where(valid, strain.planar, np.nan),  # Eq 4.1
        rotation=np.where(valid, strain.rotation, np.nan),
        valid=valid,
        num_matched=np.where(valid, match.num_matched, 0),
        rmsd=np.where(valid, match.rmsd, np.nan),
        spacing=spacing,
    )


def _tensor(name: str, strain) -> np.ndarray:
    if isinstance(strain, ColumnStrain):
        return strain.tensor
    try:
        array = np.asarray(strain, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a ColumnStrain or an (n, 2, 2) array") from error
    if array.ndim != 3 or array.shape[1:] != (2, 2):
        raise ValueError(f"{name} must have shape (n, 2, 2), got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} must not contain inf (NaN marks an undefined strain)")
    return array


def _normals(normals, count: int) -> np.ndarray:
    try:
        array = np.asarray(normals, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"normals must be an (n, 2) array, got {type(normals).__name__}") from error
    if array.shape != (count, 2):
        raise ValueError(f"normals must have shape ({count}, 2), got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError("normals must not contain inf (NaN rows mark bulk columns)")
    length = np.linalg.norm(array, axis=1)
    zero = np.isfinite(length) & (length < 1e-12)
    if zero.any():
        raise ValueError(
            f"normals must be non-zero (or NaN for no normal); row {int(np.argmax(zero))} is 0"
        )
    return array / length[:, None]


def surface_relaxation(strain_tensor, normals) -> np.ndarray:
    """Strain along the surface normal, ε_n̂ = n̂ᵀ ε n̂ (Eq 4.2), per column.

    Parameters
    ----------
    strain_tensor
        A `ColumnStrain`, or strain tensors (n, 2, 2) [dimensionless]; NaN where undefined.
    normals
        (n, 2) surface normals (x, y), normalised here; NaN rows (bulk columns) give NaN.

    Returns
    -------
    numpy.ndarray
        (n,) ε_n̂; NaN where the strain or the normal is undefined.

    Examples
    --------
    >>> strain = np.array([[[0.02, 0.0], [0.0, -0.01]]] * 3)
    >>> surface_relaxation(strain, [[1, 0], [0, 2], [np.nan, np.nan]]).tolist()
    [0.02, -0.01, nan]
    """
    tensor = _tensor("strain_tensor", strain_tensor)
    unit = _normals(normals, len(tensor))
    return np.einsum("ni,nij,nj->n", unit, tensor, unit)  # Eq 4.2


class PointPairs(NamedTuple):
    """One-to-one pairing of measured positions with the true ones (`pair_points`).

    Attributes
    ----------
    index
        (n_true,) row in the measured positions paired with each true position; −1 if none.
    positions
        (n_true, 2) the paired measured position [Å]; NaN where unpaired.
    distance
        (n_true,) distance between the pair [Å]; NaN where unpaired.
    """

    index: np.ndarray
    positions: np.ndarray
    distance: np.ndarray


def pair_points(true_positions, measured_positions, max_distance: float) -> PointPairs:
    """Pair measured column positions one-to-one with the true ones, within ``max_distance``.

    Among all one-to-one pairings of points closer than ``max_distance``, the one with the
    most pairs and, among those, the least total distance (`scipy.optimize.
    linear_sum_assignment` on each connected group of candidate pairs). True positions with no
    measured position left within reach are unpaired (NaN), as are spurious measured peaks.

    Parameters
    ----------
    true_positions
        (n, 2) true (projected) column positions [Å].
    measured_positions
        (m, 2) positions measured from an image [Å]; m may differ from n.
    max_distance
        Largest distance of a pair [Å], > 0; e.g. half the nearest column spacing.

    Returns
    -------
    PointPairs
        ``index``, ``positions`` and ``distance`` per true position.

    Examples
    --------
    >>> true = [[0.0, 0.0], [3.0, 0.0], [6.0, 0.0]]
    >>> pairs = pair_points(true, [[3.1, 0.0], [0.2, 0.1], [20.0, 0.0]], max_distance=1.0)
    >>> pairs.index.tolist(), pairs.positions[2].tolist()
    ([1, 0, -1], [nan, nan])
    """
    true = _check_positions("true_positions", true_positions)
    measured = _check_positions("measured_positions", measured_positions)
    max_distance = check_positive("max_distance", max_distance)
    n, m = len(true), len(measured)
    index = np.full(n, -1)
    near = cKDTree(true).query_ball_tree(cKDTree(measured), max_distance) if n and m else []
    if any(near):
        rows = np.repeat(np.arange(n), [len(j) for j in near])
        cols = np.fromiter((j for js in near for j in js), int, count=len(rows))
        distances = np.linalg.norm(true[rows] - measured[cols], axis=1)
        graph = coo_array((np.ones(len(rows)), (rows, n + cols)), shape=(n + m, n + m))
        _, labels = connected_components(graph, directed=False)
        order = np.argsort(labels[rows], kind="stable")
        rows, cols, distances = rows[order], cols[order], distances[order]
        groups = np.flatnonzero(np.r_[True, np.diff(labels[rows]) != 0, True])
        for begin, stop in itertools.pairwise(groups):
            r, c, d = rows[begin:stop], cols[begin:stop], distances[begin:stop]
            if stop - begin == 1:
                index[r[0]] = c[0]
                continue
            tr, rinv = np.unique(r, return_inverse=True)
            mc, cinv = np.unique(c, return_inverse=True)
            if len(tr) * len(mc) * 8 > _PAIR_BYTES_LIMIT:
                raise ValueError(
                    f"max_distance={max_distance} Å links {len(tr)} true and {len(mc)} measured "
                    "positions into one group; use a max_distance below the column spacing"
                )
            # infeasible pairs cost more than every feasible pairing together: most pairs first
            big = max_distance * (min(len(tr), len(mc)) + 1)
            cost = np.full((len(tr), len(mc)), big)
            cost[rinv, cinv] = d
            assigned_r, assigned_c = linear_sum_assignment(cost)
            keep = cost[assigned_r, assigned_c] < big
            index[tr[assigned_r[keep]]] = mc[assigned_c[keep]]
    paired = index >= 0
    positions = np.full((n, 2), np.nan)
    positions[paired] = measured[index[paired]]
    distance = np.full(n, np.nan)
    distance[paired] = np.linalg.norm(positions[paired] - true[paired], axis=1)
    return PointPairs(index=index, positions=positions, distance=distance)


class StrainErrors(NamedTuple):
    """Eq 4.3 errors per true lattice point (`strain_errors`); NaN where undefined.

    Attributes
    ----------
    planar
        (n,) error of the planar strain, εp,measured − εp,true.
    surface
        (n,) error of the surface relaxation, ε_n̂,measured − ε_n̂,true (surface columns only).
    tensor
        (n, 2, 2) ε_measured − ε_true.
    """

    planar: np.ndarray
    surface: np.ndarray
    tensor: np.ndarray


def strain_errors(true_strain, measured_strain, index=None, normals=None) -> StrainErrors:
    """error(ε) = ε_measured − ε_true (Eq 4.3) per true lattice point.

    ε_true is the strain of the true projected column positions, ε_measured that of the
    positions measured from the image, both from `column_strain`; ``index`` (from
    `pair_points`) says which measured column belongs to each true one. The planar-strain
    error uses Eq 4.1, the surface-relaxation error Eq 4.2 with the true column's outward
    normal (`column_facets`).

    Parameters
    ----------
    true_strain
        `ColumnStrain` (or (n, 2, 2) tensors) of the n true positions.
    measured_strain
        `ColumnStrain` (or (m, 2, 2) tensors) of the m measured positions.
    index
        (n,) row of ``measured_strain`` paired with each true point, −1 for none; default
        ``arange(n)`` (requires m = n).
    normals
        (n, 2) outward normals of the true columns, NaN for bulk; default none (the surface
        errors are all NaN).

    Returns
    -------
    StrainErrors
        ``planar`` (n,), ``surface`` (n,), ``tensor`` (n, 2, 2); NaN where a column is
        unpaired, either strain undefined, or (``surface``) the column has no normal.

    Examples
    --------
    >>> true = np.zeros((2, 2, 2))
    >>> measured = np.array([[[0.01, 0.0], [0.0, 0.03]], [[0.0, 0.0], [0.0, 0.0]]])
    >>> errors = strain_errors(true, measured, index=[0, -1], normals=[[0, 1], [1, 0]])
    >>> errors.planar.round(6).tolist(), errors.surface.round(6).tolist()
    ([0.02, nan], [0.03, nan])
    """
    truth = _tensor("true_strain", true_strain)
    measured = _tensor("measured_strain", measured_strain)
    n = len(truth)
    if index is None:
        if len(measured) != n:
            raise ValueError(
                f"index is required when measured_strain ({len(measured)} points) and "
                f"true_strain ({n} points) differ in length"
            )
        index = np.arange(n)
    index = np.asarray(index)
    if index.shape != (n,) or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"index must be ({n},) integers (−1 for unpaired), got {index!r}")
    if np.any((index < -1) | (index >= len(measured))):
        raise ValueError(f"index must be in [-1, {len(measured) - 1}], got {index.tolist()}")
    paired = np.full((n, 2, 2), np.nan)
    paired[index >= 0] = measured[index[index >= 0]]
    error = paired - truth  # Eq 4.3
    planar = (error[:, 0, 0] + error[:, 1, 1]) / 2  # Eq 4.1 is linear in ε
    if normals is None:
        surface = np.full(n, np.nan)
    else:
        surface = surface_relaxation(error, normals)  # Eq 4.2 is linear in ε
    return StrainErrors(planar=planar, surface=surface, tensor=error)


def measure_positions(
    image,
    sampling: float | tuple[float, float] | None = None,
    *,
    minima: bool = False,
    method: str = "polynomial",
    min_distance: float = 1.0,
    window: float = 0.3,
    threshold: float = 0.1,
    exclude_border: bool = True,
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Column positions from an image's intensity extrema, refined to sub-pixel [Å].

    Local maxima (`find_peaks`) — or minima with ``minima=True``, for dark columns — are
    refined by `refine_peaks`: ``"polynomial"`` moves each to the extremum of the quadratic of
    seed Eq 3.4 fitted over a ``window``-wide patch (the "intensity extrema" of §4.2.3);
    ``"com"`` to the patch's centre of mass (the alternative §4.2.3 finds about as precise).
    Pixel (i, j) lies at ``origin + (i, j)·sampling``, as on atomscope's grids, so positions
    compare directly with `projected_columns` of the simulated cell.

    Parameters
    ----------
    image
        2D array [x, y] or `Images`.
    sampling
        Pixel size [Å] (scalar or (x, y)); default the `Images`' own.
    minima
        Find intensity minima (dark columns) instead of maxima.
    method
        ``"polynomial"`` or ``"com"``.
    min_distance
        Smallest separation of two columns [Å], > 0 (at least one pixel is used).
    window
        Width of the refinement patch [Å], > 0; the nearest odd number of pixels, at least 3,
        is used. Keep it below the peak width: on the exit-wave intensity of an ideal Au
        particle at 0.05 Å/pixel, 0.3 Å finds every column within 0.002 Å, while 0.5 Å shifts
        the 6–7-atom columns by 0.1–0.2 Å (their sharp maxima sit in dips).
    threshold
        Smallest peak height as a fraction of the image range above its minimum, in [0, 1).
    exclude_border
        Drop peaks closer than ``min_distance`` to the image edge.
    origin
        Position of pixel (0, 0) [Å].

    Returns
    -------
    numpy.ndarray
        (n, 2) positions [Å], ordered by pixel (x, then y).

    Examples
    --------
    >>> x, y = np.meshgrid(np.arange(40) * 0.1, np.arange(40) * 0.1, indexing="ij")
    >>> image = np.exp(-((x - 1.23) ** 2 + (y - 2.51) ** 2) / 0.1)
    >>> measure_positions(image, 0.1).round(3).tolist()
    [[1.23, 2.51]]
    """
    from atomscope.analysis.peaks import _check_image, find_peaks, refine_peaks

    array = _check_image(image)
    if sampling is None:
        if not hasattr(image, "sampling"):
            raise ValueError("sampling is required for a plain array (pixel size in Å)")
        sampling = image.sampling
    step = np.array(check_pair("sampling", sampling))
    if not isinstance(minima, (bool, np.bool_)):
        raise TypeError(f"minima must be True or False, got {minima!r}")
    method = check_choice("method", method, ("polynomial", "com"))
    min_distance = check_positive("min_distance", min_distance)
    window = check_positive("window", window)
    threshold = check_range("threshold", threshold, 0.0, 1.0, high_open=True)
    offset = np.array(check_pair("origin", origin, check_real))
    if minima:
        array = -array
    distance_px = max(1, round(min_distance / step.min()))
    window_px = max(3, 2 * round(window / (2 * step.min())) + 1)
    peaks = find_peaks(array, distance_px, threshold, exclude_border=exclude_border)
    if len(peaks) == 0:
        return np.empty((0, 2))
    refined = refine_peaks(array, peaks, method=method, window=window_px)
    return offset + refined * step


class MeanAbsoluteError(NamedTuple):
    """Result of `mean_absolute_error`.

    Attributes
    ----------
    mae
        (n,) MAE per lattice point (Eq 4.6) over the kept realisations; NaN if none is kept or
        the reference is NaN.
    used
        (n,) realisations averaged.
    dropped
        (n,) finite realisations dropped as outliers.
    missing
        (n,) realisations with no value (NaN: no column found or no match).
    """

    mae: np.ndarray
    used: np.ndarray
    dropped: np.ndarray
    missing: np.ndarray


def mean_absolute_error(noisy, reference, *, max_mads: float = 5.0) -> MeanAbsoluteError:
    """MAE_i = (1/K) Σ_k |ε̃_k,i − ε_i| over K noisy realisations (Eq 4.6), outliers removed.

    The seed removes "extreme outliers" (failed fits at low dose) before averaging without
    saying how; here, per lattice point, a value ε̃_k,i is an outlier when it lies further
    than ``max_mads`` scaled MADs from the median over k: |ε̃ − med| > max_mads · 1.4826 ·
    med|ε̃ − med| (1.4826·MAD estimates σ of a normal distribution, so 5 keeps every normal
    value but ~6e-7 of them). A point whose MAD is 0 (most values equal) drops nothing. NaN
    values (no column or no match in that image) are missing, not outliers. K counts only the
    kept values.

    Parameters
    ----------
    noisy
        (K, n) strain of each lattice point i in each noisy image k, K ≥ 2; NaN allowed.
    reference
        (n,) the same strain from the noise-free image (ε_i); NaN allowed.
    max_mads
        Outlier cut in scaled MADs, > 0; ``inf`` keeps every finite value.

    Returns
    -------
    MeanAbsoluteError
        ``mae``, and per point the numbers ``used``, ``dropped`` (outliers), ``missing``.

    Examples
    --------
    >>> noisy = np.array([[0.01], [-0.01], [0.02], [-0.02], [0.5]])  # K = 5, one outlier
    >>> result = mean_absolute_error(noisy, np.array([0.0]))
    >>> result.mae.round(6).tolist(), result.dropped.tolist()
    ([0.015], [1])
    """
    values = np.asarray(noisy, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"noisy must have shape (K, n), got shape {values.shape}")
    if values.shape[0] < 2:
        raise ValueError(f"noisy must hold K >= 2 realisations (rows), got K = {values.shape[0]}")
    if np.isinf(values).any():
        raise ValueError("noisy must not contain inf (NaN marks a missing value)")
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if ref.shape != (values.shape[1],):
        raise ValueError(
            f"reference must have shape ({values.shape[1]},) like noisy's columns, got "
            f"{np.shape(reference)}"
        )
    if np.isinf(ref).any():
        raise ValueError("reference must not contain inf (NaN marks an undefined strain)")
    max_mads = float(max_mads)
    if not max_mads > 0:
        raise ValueError(f"max_mads must be > 0 (inf allowed), got {max_mads}")
    finite = np.isfinite(values)
    missing = (~finite).sum(axis=0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN is meant
        median = np.nanmedian(values, axis=0)
        sigma = MAD_SCALE * np.nanmedian(np.abs(values - median), axis=0)
        outlier = finite & (sigma > 0) & (np.abs(values - median) > max_mads * sigma)
    kept = finite & ~outlier
    used = kept.sum(axis=0)
    deviation = np.where(kept, np.abs(values - ref), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.where(used > 0, deviation.sum(axis=0) / used, np.nan)  # Eq 4.6
    return MeanAbsoluteError(mae=mae, used=used, dropped=outlier.sum(axis=0), missing=missing)


class DoseFit(NamedTuple):
    """Least-squares fit of MAE = c/√D (Eq 4.7), `fit_inverse_sqrt_dose`.

    Attributes
    ----------
    c
        The constant [strain · (e⁻/Å²)^½]; an array for several curves.
    r_squared
        Coefficient of determination 1 − SS_res/SS_tot of the fit.
    """

    c: float | np.ndarray
    r_squared: float | np.ndarray


def fit_inverse_sqrt_dose(doses, mae) -> DoseFit:
    """Fit MAE = c/√D (Eq 4.7) by least squares: c = Σ MAE_j D_j^(−½) / Σ D_j^(−1).

    Parameters
    ----------
    doses
        (d,) electron doses [e⁻/Å²], each > 0, at least 2.
    mae
        (d,) MAE at each dose, or (d, n) for n curves fitted independently; NaN entries are
        left out of their curve's fit.

    Returns
    -------
    DoseFit
        ``c`` and ``r_squared`` (floats for 1D ``mae``, (n,) arrays otherwise); NaN for a curve
        with fewer than two finite points, and R² NaN for a curve whose MAE is constant.

    Examples
    --------
    >>> doses = np.array([1e2, 1e3, 1e4, 1e5])
    >>> fit = fit_inverse_sqrt_dose(doses, 0.3 / np.sqrt(doses) * [1.1, 0.9, 1.0, 1.0])
    >>> round(fit.c, 4), round(fit.r_squared, 4)
    (0.3243, 0.9949)
    """
    dose = check_finite_array("doses", doses, ndim=1)
    if len(dose) < 2 or np.any(dose <= 0):
        raise ValueError(f"doses must be at least 2 values > 0 [e⁻/Å²], got {dose.tolist()}")
    values = np.asarray(mae, dtype=float)
    single = values.ndim == 1
    if single:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != len(dose):
        raise ValueError(
            f"mae must have shape ({len(dose)},) or ({len(dose)}, n) like doses, got "
            f"{np.shape(mae)}"
        )
    if np.isinf(values).any():
        raise ValueError("mae must not contain inf (NaN marks a missing value)")
    u = np.where(np.isfinite(values), 1 / np.sqrt(dose)[:, None], 0.0)
    m = np.nan_to_num(values)
    count = np.isfinite(values).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (u * m).sum(axis=0) / (u * u).sum(axis=0)  # Eq 4.7 least squares
        mean = m.sum(axis=0) / count
        residual = np.where(np.isfinite(values), m - c * u, 0.0)
        total = np.where(np.isfinite(values), m - mean, 0.0)
        ss_tot = (total**2).sum(axis=0)
        r_squared = np.where(ss_tot > 0, 1 - (residual**2).sum(axis=0) / ss_tot, np.nan)
    c = np.where(count >= 2, c, np.nan)
    r_squared = np.where(count >= 2, r_squared, np.nan)
    if single:
        return DoseFit(c=float(c[0]), r_squared=float(r_squared[0]))
    return DoseFit(c=c, r_squared=r_squared)
