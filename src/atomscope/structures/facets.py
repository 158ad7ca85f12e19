"""Surface columns of a projected particle, their outward normals and facet types.

A particle seen along a zone axis is a 2D set of column positions (`projected_columns`). Its
outline is found as the boundary of an alpha shape: the Delaunay triangles of the columns whose
circumradius is at most ``alpha`` (default: the median nearest-neighbour distance) cover the
particle; every edge that borders only one kept triangle lies on the outline, and its ends are
surface columns, together with the convex-hull vertices and any column left in no kept
triangle. Inside a crystal every triangle has a circumradius of about 0.6 of the nearest
column distance, so straight facets keep every column on them (not only the hull vertices),
while a notch (a missing surface column) is opened and the column under it becomes surface.

Each outline edge has an outward unit normal (perpendicular to it, pointing away from its
triangle); a surface column's normal n̂ is the normalised sum of the normals of its outline
edges, so on a straight facet it is the facet normal and at a corner the bisector. The column
is a *corner* where its outline edges turn by more than ``corner_angle``. Every other surface
column is named by the crystal plane family that is edge-on (its plane normal perpendicular
to the beam) with a normal within ``max_angle`` of n̂: "{100}", "{110}", "{111}", ... or
"other". The in-plane plane normals come from the zone axis and the orientation the columns
were projected with (`orient` / `projected_columns`, cubic crystal axes along x, y, z).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.spatial import ConvexHull, Delaunay, QhullError, cKDTree

from atomscope.core.validate import check_finite_array, check_range
from atomscope.structures.columns import Columns
from atomscope.structures.orient import orient

__all__ = ["FAMILIES", "Facets", "column_facets", "crystal_rotation", "facet_directions"]

#: Default facet families: the low-index planes of a cubic crystal.
FAMILIES = ((1, 0, 0), (1, 1, 0), (1, 1, 1))
#: Label of a surface column whose outline turns by more than ``corner_angle``.
CORNER = "corner"
#: Label of a surface column whose normal is near no edge-on family.
OTHER = "other"
_LABEL_DTYPE = "<U16"


@dataclass(frozen=True, eq=False)
class Facets:
    """Surface columns of a projected particle, aligned with its `Columns` (or positions).

    Attributes
    ----------
    surface
        (n,) True for a column on the outline.
    normals
        (n, 2) outward unit normal n̂ (x, y) of each surface column; NaN for bulk columns.
    labels
        (n,) str: the edge-on plane family of the facet, e.g. ``"{100}"``, ``"{111}"``;
        ``"corner"`` where the outline turns by more than ``corner_angle``; ``"other"`` for a
        surface column whose normal is near no family; ``""`` for bulk columns.
    deviation
        (n,) angle between n̂ and the nearest edge-on plane normal of any family [degrees];
        NaN for bulk columns.
    turning
        (n,) largest angle between the outward normals of a surface column's outline edges
        [degrees] (0 on a straight facet); NaN for bulk columns.
    directions
        Family label → (m, 2) in-plane unit plane normals (x, y) of that family's edge-on
        planes in the projected frame; empty (0, 2) when no plane of the family is edge-on.
    alpha
        The circumradius limit of the alpha shape that was used [Å].
    """

    surface: np.ndarray
    normals: np.ndarray
    labels: np.ndarray
    deviation: np.ndarray
    turning: np.ndarray
    directions: dict[str, np.ndarray]
    alpha: float

    def __len__(self) -> int:
        return len(self.surface)

    def mask(self, label: str) -> np.ndarray:
        """(n,) True for the columns labelled ``label`` (e.g. ``"{111}"``)."""
        return self.labels == label

    def counts(self) -> dict[str, int]:
        """Number of surface columns per label, e.g. ``{"{100}": 6, "{111}": 12, ...}``."""
        names, numbers = np.unique(self.labels[self.surface], return_counts=True)
        return {str(k): int(v) for k, v in zip(names, numbers, strict=True)}


def _family_label(family: Sequence[int]) -> str:
    return "{" + "".join(str(abs(int(i))) for i in family) + "}"


def _check_families(families) -> list[tuple[int, int, int]]:
    if isinstance(families, (str, bytes)) or not isinstance(families, Sequence) or not families:
        raise ValueError(
            f"families must be a non-empty sequence of Miller indices, got {families!r}"
        )
    checked = []
    for index, family in enumerate(families):
        miller = check_finite_array(f"families[{index}]", family, ndim=1)
        if miller.shape != (3,) or not np.any(miller) or np.any(miller != np.round(miller)):
            raise ValueError(
                f"families[{index}] must be three integer Miller indices, not all zero, got "
                f"{tuple(family)!r}"
            )
        checked.append(tuple(int(i) for i in miller))
    return checked


def crystal_rotation(
    zone_axis: Sequence[float],
    in_plane: float = 0.0,
    tilt: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """The 3×3 rotation that `orient` applies for these arguments (crystal → beam frame).

    ``R @ d`` is where a crystal direction ``d`` (cubic axes x, y, z) points after
    ``orient(atoms, zone_axis, in_plane, tilt)`` — and after ``projected_columns(atoms,
    zone_axis)``, which orients with ``in_plane=0`` and no tilt. Found by orienting a probe of
    four points, so it is `orient`'s rotation by construction.

    Parameters
    ----------
    zone_axis
        Direction [uvw] turned onto the beam (+z), in the crystal's cubic axes.
    in_plane
        Rotation about the beam after alignment [degrees].
    tilt
        Tilts about x and y [degrees], each within ±45°.

    Returns
    -------
    numpy.ndarray
        (3, 3) rotation matrix.

    Examples
    --------
    >>> rotation = crystal_rotation((1, 1, 0))
    >>> (rotation @ [1, 1, 0]).round(6).tolist()   # the zone axis ends along the beam
    [0.0, 0.0, 1.414214]
    """
    probe = Atoms("H4", positions=[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    rotated = orient(probe, zone_axis, in_plane=in_plane, tilt=tilt).positions
    return (rotated[1:] - rotated[0]).T


def facet_directions(
    zone_axis: Sequence[float],
    families: Sequence[Sequence[int]] = FAMILIES,
    *,
    in_plane: float = 0.0,
    tilt: tuple[float, float] = (0.0, 0.0),
    max_angle: float = 10.0,
) -> dict[str, np.ndarray]:
    """In-plane unit normals (x, y) of the edge-on planes of each family, in the beam frame.

    A plane (hkl) of a cubic crystal has the normal [hkl]; it is edge-on (seen as a line of
    columns) when that normal is perpendicular to the beam, i.e. within ``max_angle`` of the
    image plane for a slightly tilted crystal. The family's members are all signed
    permutations of (h, k, l).

    Parameters
    ----------
    zone_axis, in_plane, tilt
        The orientation, as given to `orient` (see `crystal_rotation`).
    families
        Miller indices of the families, e.g. ``[(1, 0, 0), (1, 1, 1)]``.
    max_angle
        Largest angle of a plane normal out of the image plane [degrees], in [0, 45].

    Returns
    -------
    dict
        ``"{hkl}"`` → (m, 2) unit vectors, opposite normals both listed.

    Examples
    --------
    >>> directions = facet_directions((1, 1, 0))
    >>> {name: len(vectors) for name, vectors in directions.items()}
    {'{100}': 2, '{110}': 2, '{111}': 4}
    """
    families = _check_families(families)
    max_angle = check_range("max_angle", max_angle, 0.0, 45.0)
    rotation = crystal_rotation(zone_axis, in_plane, tilt)
    limit = np.sin(np.radians(max_angle)) + 1e-9
    directions = {}
    for family in families:
        members = {
            tuple(sign * value for sign, value in zip(signs, perm, strict=True))
            for perm in itertools.permutations(family)
            for signs in itertools.product((1, -1), repeat=3)
        }
        vectors = np.array(sorted(members), float)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        turned = vectors @ rotation.T
        edge_on = np.abs(turned[:, 2]) <= limit
        flat = turned[edge_on, :2]
        flat /= np.linalg.norm(flat, axis=1, keepdims=True)
        directions[_family_label(family)] = flat.reshape(-1, 2)
    return directions


def _positions(columns) -> np.ndarray:
    if isinstance(columns, Columns):
        if np.any(columns.period > 0):
            raise ValueError(
                f"columns come from a periodic cell (period {columns.period.tolist()} Å), which "
                "has no outline; project a finite particle"
            )
        positions = np.asarray(columns.positions, float)
    else:
        positions = check_finite_array("columns", columns, ndim=2)
        if positions.shape[1] != 2:
            raise ValueError(
                f"columns must be a Columns or positions of shape (n, 2) [Å], got shape "
                f"{positions.shape}"
            )
    if len(positions) < 3:
        raise ValueError(f"columns must hold at least 3 columns, got {len(positions)}")
    return positions


def _circumradii(points: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    a, b, c = (points[simplices[:, i]] for i in range(3))
    ab, ac, bc = (np.linalg.norm(u - v, axis=1) for u, v in ((a, b), (a, c), (b, c)))
    cross = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    with np.errstate(divide="ignore"):
        return np.where(np.abs(cross) > 0, ab * ac * bc / (2 * np.abs(cross)), np.inf)


def _outline_edges(points: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Outline edges (m, 2) of the alpha shape, their outward unit normals (m, 2), and a mask of
    # the points that lie in a kept triangle.
    try:
        triangulation = Delaunay(points)
    except QhullError as error:
        raise ValueError(
            "columns: the positions span no area (all on one line or coincident); an outline "
            "needs a 2D particle"
        ) from error
    simplices = triangulation.simplices
    kept = simplices[_circumradii(points, simplices) <= alpha]
    covered = np.zeros(len(points), bool)
    covered[kept.ravel()] = True
    if len(kept) == 0:
        return np.empty((0, 2), int), np.empty((0, 2)), covered
    # the three edges of each triangle, with the triangle's opposite vertex
    edges = np.concatenate([kept[:, [0, 1]], kept[:, [1, 2]], kept[:, [2, 0]]])
    opposite = np.concatenate([kept[:, 2], kept[:, 0], kept[:, 1]])
    key = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    single = counts[inverse.ravel()] == 1
    edges, opposite = edges[single], opposite[single]
    start, end = points[edges[:, 0]], points[edges[:, 1]]
    tangent = end - start
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    inward = points[opposite] - start
    normal *= np.where(np.einsum("ij,ij->i", normal, inward) > 0, -1.0, 1.0)[:, None]
    return edges, normal, covered


def column_facets(
    columns,
    zone_axis: Sequence[float],
    *,
    in_plane: float = 0.0,
    tilt: tuple[float, float] = (0.0, 0.0),
    families: Sequence[Sequence[int]] = FAMILIES,
    max_angle: float = 10.0,
    corner_angle: float = 20.0,
    alpha: float | None = None,
) -> Facets:
    """Surface columns of a projected particle, their outward normals and facet types.

    The outline is the boundary of the alpha shape of the column positions (Delaunay triangles
    with circumradius ≤ ``alpha``); its columns, the convex-hull vertices and columns in no
    kept triangle are surface. A surface column's outward normal is the normalised sum of the
    outward normals of its outline edges; it is a corner where those normals differ by more
    than ``corner_angle``, else it is labelled by the edge-on plane family whose normal is
    nearest n̂, if within ``max_angle`` (see the module docstring).

    Parameters
    ----------
    columns
        `Columns` of a finite particle (`projected_columns`), or column positions (n, 2) [Å]
        in the same projected frame (e.g. measured positions), n ≥ 3.
    zone_axis
        The crystal direction [uvw] along the beam, in the crystal's cubic axes: the
        ``zone_axis`` given to `projected_columns`, or to `orient` for a model oriented first.
    in_plane, tilt
        The rest of that orientation, as given to `orient` [degrees] (`projected_columns`
        uses 0 and no tilt).
    families
        Plane families to name facets by, Miller indices (cubic).
    max_angle
        Largest angle between n̂ and a family's plane normal for the label [degrees], in
        (0, 45]; also the largest out-of-plane angle of an edge-on plane normal.
    corner_angle
        A surface column is a ``"corner"`` when the outward normals of its outline edges differ
        by more than this [degrees], in (0, 180].
    alpha
        Largest circumradius of a triangle inside the particle [Å], > 0; default the median
        nearest-neighbour distance of the columns (a crystal's triangles have ≈ 0.6 of it, a
        [110] fcc {110} edge 0.87).

    Returns
    -------
    Facets
        Surface mask, normals, labels, deviations and turning angles, aligned with the
        columns.

    Examples
    --------
    >>> from ase.cluster import Octahedron
    >>> from atomscope.structures import projected_columns
    >>> particle = Octahedron("Au", length=7, cutoff=2)     # truncated octahedron
    >>> columns = projected_columns(particle, zone_axis=(1, 1, 0))
    >>> facets = column_facets(columns, zone_axis=(1, 1, 0))
    >>> facets.counts()
    {'corner': 6, '{100}': 2, '{111}': 12}
    >>> int((~facets.surface).sum())   # bulk columns
    23
    """
    positions = _positions(columns)
    max_angle = check_range("max_angle", max_angle, 0.0, 45.0, low_open=True)
    corner_angle = check_range("corner_angle", corner_angle, 0.0, 180.0, low_open=True)
    if alpha is not None:
        alpha = check_range("alpha", alpha, 0.0, np.inf, low_open=True)
    directions = facet_directions(
        zone_axis, families, in_plane=in_plane, tilt=tilt, max_angle=max_angle
    )

    tree = cKDTree(positions)
    nearest = tree.query(positions, k=2)[0][:, 1]
    if alpha is None:
        alpha = float(np.median(nearest))
        if alpha <= 0:
            raise ValueError("columns: most columns coincide with another (distance 0)")
    edges, edge_normals, covered = _outline_edges(positions, alpha)

    n = len(positions)
    surface = ~covered
    surface[edges.ravel()] = True
    try:
        surface[ConvexHull(positions).vertices] = True
    except QhullError:  # collinear: refused by _outline_edges already
        pass

    # vertex normal: sum of its outline edges' normals (Σ over both ends of every edge)
    summed = np.zeros((n, 2))
    np.add.at(summed, edges[:, 0], edge_normals)
    np.add.at(summed, edges[:, 1], edge_normals)
    # turning: the largest angle between two outline-edge normals at a column
    turning = np.zeros(n)
    order = np.argsort(np.concatenate([edges[:, 0], edges[:, 1]]), kind="stable")
    owners = np.concatenate([edges[:, 0], edges[:, 1]])[order]
    stacked = np.concatenate([edge_normals, edge_normals])[order]
    starts = np.flatnonzero(np.r_[True, np.diff(owners) > 0])
    for begin, stop in zip(starts, np.r_[starts[1:], len(owners)], strict=True):
        group = stacked[begin:stop]
        cosines = np.clip(group @ group.T, -1.0, 1.0)
        turning[owners[begin]] = np.degrees(np.arccos(cosines.min()))

    length = np.linalg.norm(summed, axis=1)
    weak = surface & (length < 1e-6)  # isolated columns, or edge normals that cancel
    if weak.any():
        # away from the mean of the columns within two nearest-neighbour distances
        for index in np.flatnonzero(weak):
            near = tree.query_ball_point(positions[index], 2 * alpha)
            away = positions[index] - positions[near].mean(axis=0)
            if np.linalg.norm(away) < 1e-9:
                away = positions[index] - positions.mean(axis=0)
            summed[index] = away
            turning[index] = 180.0
        length = np.linalg.norm(summed, axis=1)
    normals = np.full((n, 2), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        normals[surface] = summed[surface] / length[surface, None]

    labels = np.full(n, "", dtype=_LABEL_DTYPE)
    deviation = np.full(n, np.nan)
    best_name = np.full(n, OTHER, dtype=_LABEL_DTYPE)
    for name, vectors in directions.items():
        if len(vectors) == 0:
            continue
        cosines = np.clip(np.nan_to_num(normals) @ vectors.T, -1.0, 1.0).max(axis=1)
        angles = np.degrees(np.arccos(cosines))
        better = surface & ~(angles >= deviation)  # NaN deviation: first family wins
        deviation[better] = angles[better]
        best_name[better] = name
    labels[surface] = np.where(deviation[surface] <= max_angle, best_name[surface], OTHER)
    corner = surface & (turning > corner_angle)
    labels[corner] = CORNER
    turning[~surface] = np.nan
    return Facets(
        surface=surface,
        normals=normals,
        labels=labels,
        deviation=deviation,
        turning=turning,
        directions=directions,
        alpha=float(alpha),
    )
