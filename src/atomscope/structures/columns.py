"""Projected atomic columns of a 3D model along a zone axis: positions, counts, species, heights.

Atoms whose projected (x, y) positions lie within a tolerance of each other form one column
(single linkage: the connected components of the "closer than ``tolerance``" graph), so a
column is found whole even when thermal displacements spread its atoms. Periodic cells are
grouped on the torus of their xy cell, so a column split by the cell boundary stays one column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from atomscope.core.memory import check_memory
from atomscope.core.validate import (
    check_atoms,
    check_finite_array,
    check_pair,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)
from atomscope.structures.orient import _is_orthorhombic, orient

#: Upper bound (exclusive) of ``tolerance`` [Å]: wider would merge neighbouring columns (the
#: closest projected columns of common crystals are 1–2.5 Å apart).
MAX_TOLERANCE = 3.0
#: Peak bytes per pair of atoms closer than ``tolerance`` in projection (measured ~50 B: the
#: KD-tree's pair list and the sparse graph). Every pair of atoms of one column is such a pair,
#: so a column of c atoms costs c(c−1)/2 pairs.
PAIR_BYTES = 64
_MAP_BLOCK = 2**18  # pixels per KD-tree query of `Columns.count_map`


def _wrap(points: np.ndarray, period: np.ndarray) -> np.ndarray:
    # A copy of points [Å] moved into [0, period) along the periodic axes (period > 0).
    periodic = period > 0
    wrapped = np.array(points, float)
    wrapped[:, periodic] %= period[periodic]
    wrapped[wrapped >= np.where(periodic, period, np.inf)] = 0.0  # x % L may round up to L
    return wrapped


@dataclass(frozen=True, eq=False)
class Columns:
    """Atomic columns of a structure projected along the beam (+z), in the projected frame.

    Columns are ordered by their lowest atom index, so the order does not depend on where the
    structure sits in space.

    Attributes
    ----------
    positions
        (n, 2) mean projected position (x, y) of each column's atoms [Å]; in a periodic cell
        the mean is taken over the nearest periodic images and lies in [0, cell length).
    counts
        (n,) number of atoms in each column.
    members
        Indices into the input atoms of each column's atoms, ascending.
    species
        Sorted tuple of the element symbols present in each column, e.g. ``("Au",)``.
    heights
        (n, 2) lowest and highest z of each column's atoms [Å] (projected frame).
    tolerance
        Grouping distance [Å]; also the disc radius of `count_map`.
    period
        (2,) cell lengths (x, y) of a periodic cell [Å]; 0 along an axis that is not periodic.
    """

    positions: np.ndarray
    counts: np.ndarray
    members: list[np.ndarray]
    species: list[tuple[str, ...]]
    heights: np.ndarray
    tolerance: float
    period: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    def count_map(
        self,
        shape: int | Sequence[int],
        sampling: float | Sequence[float],
        origin: Sequence[float] = (0.0, 0.0),
    ) -> np.ndarray:
        """Rasterise the columns as a label image [x, y]: each column a disc valued its count.

        Pixel (i, j) lies at ``origin + (i, j) * sampling``, as on atomscope's grids (an atom
        at x = 2 Å peaks at index 20 for a 0.1 Å sampling). A pixel closer than ``tolerance``
        to a column takes that column's atom count (the nearest column's where discs
        overlap), every other pixel 0. Along a periodic axis the columns repeat with the cell,
        so an image larger than the cell shows the periodic images too.

        Parameters
        ----------
        shape
            Number of pixels (nx, ny), or one number for a square image.
        sampling
            Pixel size [Å], one number or (x, y).
        origin
            Position of pixel (0, 0) [Å].

        Returns
        -------
        numpy.ndarray
            int32 array of ``shape``: atoms per column inside each disc, 0 elsewhere.

        Examples
        --------
        >>> from ase.build import bulk
        >>> columns = projected_columns(bulk("Au", cubic=True).repeat((1, 1, 2)))
        >>> labels = columns.count_map((40, 40), sampling=0.102)
        >>> labels.shape, sorted(set(labels.ravel().tolist()))
        ((40, 40), [0, 2])
        """
        nx, ny = check_pair("shape", shape, check_positive_int)
        sampling = np.array(check_pair("sampling", sampling, check_positive))
        origin = np.array(check_pair("origin", origin, check_real))
        check_memory(
            4 * nx * ny + 64 * min(nx * ny, _MAP_BLOCK),
            f"a count map of shape=({nx}, {ny}) pixels",
            "use a smaller shape",
        )
        labels = np.zeros((nx, ny), np.int32)
        if len(self) == 0:
            return labels
        tree = cKDTree(_wrap(self.positions, self.period), boxsize=self.period)
        ys = origin[1] + sampling[1] * np.arange(ny)
        rows = max(1, _MAP_BLOCK // ny)
        for start in range(0, nx, rows):
            xs = origin[0] + sampling[0] * np.arange(start, min(start + rows, nx))
            pixels = np.stack(np.broadcast_arrays(xs[:, None], ys[None, :]), -1).reshape(-1, 2)
            distance, index = tree.query(
                _wrap(pixels, self.period), distance_upper_bound=self.tolerance
            )
            inside = np.isfinite(distance)
            block = np.zeros(len(pixels), np.int32)
            block[inside] = self.counts[index[inside]]
            labels[start : start + len(xs)] = block.reshape(len(xs), ny)
        return labels


def _beam_frame(atoms: Atoms, zone_axis: Sequence[float]) -> Atoms:
    # The atoms with zone_axis along +z: unchanged if it already is, else rotated by `orient`.
    axis = check_finite_array("zone_axis", zone_axis, ndim=1)
    if axis.shape != (3,) or not np.any(axis):
        raise ValueError(f"zone_axis must be three numbers, not all zero, got {tuple(zone_axis)!r}")
    if axis[0] == 0 and axis[1] == 0 and axis[2] > 0:
        return atoms
    if atoms.pbc.any():
        raise ValueError(
            f"zone_axis {tuple(axis.tolist())} needs a rotation, which a periodic cell (pbc "
            f"{atoms.pbc.tolist()}) does not survive; give a cell whose third vector is the "
            "zone axis (e.g. ase.build.surface) and zone_axis=(0, 0, 1)"
        )
    return orient(atoms, axis)


def _period(atoms: Atoms, tolerance: float) -> np.ndarray:
    # Cell lengths (x, y) [Å] of the periodic axes, 0 along a non-periodic axis.
    periodic = atoms.pbc[:2]
    if not periodic.any():
        return np.zeros(2)
    cell = np.asarray(atoms.cell)
    if not _is_orthorhombic(cell):
        raise ValueError(
            f"atoms is periodic (pbc {atoms.pbc.tolist()}) with a non-orthorhombic cell "
            f"{cell.round(6).tolist()} Å; make it orthorhombic first with "
            "atomscope.structures.orthogonal_supercell"
        )
    period = np.where(periodic, np.abs(np.diag(cell)[:2]), 0.0)
    if np.any(period[periodic] <= 2 * tolerance):
        raise ValueError(
            f"tolerance {tolerance} Å must be less than half the periodic cell lengths "
            f"{period[periodic].round(6).tolist()} Å (a column would touch its own image)"
        )
    return period


def _group(xy: np.ndarray, tolerance: float, period: np.ndarray) -> np.ndarray:
    # Column label per point, columns numbered by their lowest point index.
    tree = cKDTree(xy, boxsize=period)
    num_pairs = (tree.count_neighbors(tree, tolerance) - len(xy)) // 2
    check_memory(
        PAIR_BYTES * num_pairs,
        f"grouping {len(xy)} atoms into columns ({num_pairs} pairs closer than "
        f"tolerance={tolerance} Å)",
        "use a smaller tolerance or fewer atoms",
    )
    pairs = tree.query_pairs(tolerance, output_type="ndarray")
    graph = coo_array(
        (np.ones(len(pairs), bool), (pairs[:, 0], pairs[:, 1])), shape=(len(xy), len(xy))
    )
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)
    rank = np.empty_like(first)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[labels]


def projected_columns(
    atoms: Atoms, zone_axis: Sequence[float] = (0, 0, 1), tolerance: float = 0.5
) -> Columns:
    """The atomic columns of a 3D model seen along a zone axis: where, how many atoms, which.

    Parameters
    ----------
    atoms
        The structure: a finite model (e.g. `wulff_particle`), or a cell periodic in x and/or
        y, which must be orthorhombic (see `orthogonal_supercell`).
    zone_axis
        Viewing direction [uvw] in the Cartesian axes of ``atoms`` — the cubic crystal axes of
        every atomscope particle builder, as the default of `orient`. Along +z (the default)
        the atoms are taken as they are, already oriented with the beam along +z. Any other
        direction is first turned onto +z with ``orient(atoms, zone_axis)`` (about the mean
        atomic position), so the projected frame is that of the oriented model; a periodic
        cell cannot be rotated and needs ``(0, 0, 1)``. For a crystal of another lattice,
        orient it first (``orient(atoms, uvw, lattice=...)``) and keep the default.
    tolerance
        Atoms whose projected (x, y) positions are within this distance [Å] of each other,
        directly or through a chain of such neighbours, form one column; in (0, 3) Å.

    Returns
    -------
    Columns
        Positions, atom counts, member indices, species and z ranges of the columns.

    Examples
    --------
    >>> from ase.build import bulk
    >>> crystal = bulk("Au", cubic=True).repeat((3, 3, 3))  # periodic, 108 atoms
    >>> columns = projected_columns(crystal)  # beam along [001]
    >>> len(columns), set(columns.counts.tolist())
    (36, {3})
    >>> crystal.pbc = False  # a finite block of 3×3×3 cubic cells
    >>> columns = projected_columns(crystal, zone_axis=(1, 1, 0))
    >>> int(columns.counts.max()), int(columns.counts.sum()), columns.species[0]
    (6, 108, ('Au',))
    """
    check_atoms("atoms", atoms)
    if len(atoms) == 0:
        raise ValueError("atoms must contain at least one atom, got an empty Atoms")
    tolerance = check_range(
        "tolerance", tolerance, 0.0, MAX_TOLERANCE, low_open=True, high_open=True
    )
    oriented = _beam_frame(atoms, zone_axis)
    period = _period(oriented, tolerance)

    xy = _wrap(oriented.positions[:, :2], period)
    labels = _group(xy, tolerance, period)
    counts = np.bincount(labels)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    # mean over the nearest periodic images of each column's lowest-index atom
    reference = xy[order[starts]]
    offset = xy - reference[labels]
    periodic = period > 0
    offset[:, periodic] -= period[periodic] * np.round(offset[:, periodic] / period[periodic])
    shift = np.stack([np.bincount(labels, offset[:, i]) for i in range(2)], -1) / counts[:, None]
    positions = _wrap(reference + shift, period)

    z = oriented.positions[order, 2]
    heights = np.stack([np.minimum.reduceat(z, starts), np.maximum.reduceat(z, starts)], -1)

    present = np.unique(labels.astype(np.int64) * len(chemical_symbols) + oriented.numbers)
    column_of, number = np.divmod(present, len(chemical_symbols))
    species = [
        tuple(sorted(chemical_symbols[n] for n in numbers))
        for numbers in np.split(number, np.flatnonzero(np.diff(column_of)) + 1)
    ]
    return Columns(
        positions=positions,
        counts=counts,
        members=np.split(order, starts[1:]),
        species=species,
        heights=heights,
        tolerance=tolerance,
        period=period,
    )
