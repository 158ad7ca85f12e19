"""Structural template matching (seed thesis §3.2, Fig 3.1).

Every point's local lattice (the point and its N nearest neighbours) is compared with one or more
ideal templates using the scale- and rotation-invariant RMSD (Eqs 3.7–3.10); the correspondence
comes from (shell, azimuth) sorting refined by branch and bound (Eq 3.11), optionally with partial
matches below ``rmax``. The template with the lowest RMSD wins. The matched point pairs are kept
so that the strain can be fitted afterwards (Eqs 3.12–3.14, ``strain_from_match``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from ase.data import atomic_numbers
from scipy.spatial import cKDTree

from atomscope.analysis.correspondence import branch_and_bound, sorted_permutations
from atomscope.analysis.rmsd import horn_2d, kabsch_rotation
from atomscope.analysis.segments import interface_lengths, local_lattices
from atomscope.core.validate import (
    check_atoms,
    check_choice,
    check_finite_array,
    check_positive,
    check_positive_int,
)

_TOLERANCE = 1e-6  # relative tolerance for equal shells and symmetry [fraction of mean distance]


def _group(values: np.ndarray) -> np.ndarray:
    # Labels 0, 1, ... of values equal within _TOLERANCE, in increasing order.
    order = np.argsort(values, kind="stable")
    steps = np.diff(values[order]) > _TOLERANCE
    labels = np.empty(len(values), dtype=int)
    labels[order] = np.concatenate(([0], np.cumsum(steps)))
    return labels


def _rotational_symmetry(points: np.ndarray) -> int:
    # Largest n such that rotating by 2π/n maps the point set onto itself.
    tree = cKDTree(points)
    for order in range(len(points), 1, -1):
        angle = 2 * np.pi / order
        turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        distance, _ = tree.query(points @ turn)
        if np.all(distance < _TOLERANCE):
            return order
    return 1


def _lattice_points(cell: np.ndarray, basis: np.ndarray, reach: int = 6) -> np.ndarray:
    # Lattice + basis around the origin (basis[0] must be the origin), origin removed.
    steps = np.arange(-reach, reach + 1)
    grid = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2) @ cell
    points = (grid[:, None, :] + basis[None]).reshape(-1, 2)
    return points[np.linalg.norm(points, axis=1) > _TOLERANCE]


class Template:
    """An ideal local lattice: vectors from a central point to its N neighbours.

    Parameters
    ----------
    points : array_like, shape (N, 2) or (N, 3)
        Neighbour vectors relative to the central point [any length unit], N ≥ 2, none at the
        origin.
    symmetry : int, optional
        Order of the rotational symmetry about the centre (2D); detected when omitted.
    shell_metric : {"distance", "voronoi"}
        How neighbour shells are told apart: by distance from the centre, or by the length of the
        interface with the central Voronoi cell (for nearly overlapping shells, Fig 3.3c).
    name : str, optional
        Label used in reports.
    composition : dict, optional
        Species of the central column, atoms per repeat of the column along the zone axis
        (set by `Template.from_atoms`, e.g. ``{"Sr": 1, "O": 1}``).

    Attributes
    ----------
    points : numpy.ndarray, shape (N, d)
        As given [input unit].
    mean_distance : float
        S(W), the mean distance of the points from the centre (Eq 3.10) [input unit].
    normalized : numpy.ndarray, shape (N, d)
        ``points / mean_distance`` (mean distance 1).
    shells : numpy.ndarray of int, shape (N,)
        Neighbour shell of each point, 0 innermost.
    symmetry : int
        Rotational symmetry order (1 for 3D templates, which are matched without sorting).
    composition : dict or None
        As given.

    Examples
    --------
    >>> t = Template([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    >>> t.symmetry, t.shells.tolist(), t.mean_distance
    (4, [0, 0, 0, 0], 1.0)
    """

    _BUILTIN = ("square", "hexagonal", "fcc110", "honeycomb")

    def __init__(
        self,
        points,
        symmetry: int | None = None,
        shell_metric: str = "distance",
        name: str | None = None,
        composition: dict[str, int] | None = None,
    ):
        points = check_finite_array("points", points, ndim=2)
        if points.shape[1] not in (2, 3) or points.shape[0] < 2:
            raise ValueError(
                f"points must have shape (N, 2) or (N, 3) with N >= 2, got {points.shape}"
            )
        radius = np.linalg.norm(points, axis=1)
        if np.any(radius <= _TOLERANCE * radius.max()):
            raise ValueError("points must not contain the central point (a vector of length 0)")
        check_choice("shell_metric", shell_metric, ("distance", "voronoi"))
        if shell_metric == "voronoi" and points.shape[1] != 2:
            raise ValueError("shell_metric='voronoi' needs 2D points, got 3D points")
        self.points = points
        self.mean_distance = float(radius.mean())  # S(W), Eq 3.10
        self.normalized = points / self.mean_distance
        self.shell_metric = shell_metric
        self.name = name or f"custom-{len(points)}"
        self.composition = composition
        self.shells = self._find_shells()
        if points.shape[1] == 3:
            if symmetry not in (None, 1):
                raise ValueError(f"symmetry must be None or 1 for 3D points, got {symmetry}")
            self.symmetry = 1
            return
        found = _rotational_symmetry(self.normalized)
        if symmetry is None:
            symmetry = found
        symmetry = check_positive_int("symmetry", symmetry)
        if found % symmetry:
            raise ValueError(
                f"symmetry must divide the points' rotational symmetry order {found}, "
                f"got {symmetry}"
            )
        self.symmetry = symmetry

    def _find_shells(self) -> np.ndarray:
        radius = np.linalg.norm(self.normalized, axis=1)
        if self.shell_metric == "distance":
            return _group(radius)
        # by decreasing interface length, points without interface split by distance (Fig 3.3c)
        lengths = interface_lengths(self.normalized[None])[0]
        by_length = _group(-lengths)
        return _group(by_length * 10.0 * (radius.max() + 1) + radius)

    @property
    def orbit_roots(self) -> np.ndarray:
        """One point per orbit of the rotational symmetry group, as a bool mask (N,).

        Branch and bound only needs to try these for the nearest neighbour (§3.2.3).

        Examples
        --------
        >>> Template.square().orbit_roots.sum()   # one per shell
        np.int64(2)
        """
        roots = np.ones(self.num_points, dtype=bool)
        if self.symmetry == 1:
            return roots
        angle = 2 * np.pi / self.symmetry
        turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        image = cKDTree(self.normalized).query(self.normalized @ turn)[1]
        for j in range(self.num_points):
            if roots[j]:
                k = image[j]
                while k != j:
                    roots[k] = False
                    k = image[k]
        return roots

    @property
    def num_points(self) -> int:
        """N, the number of neighbours."""
        return len(self.points)

    @property
    def dim(self) -> int:
        """Spatial dimension (2 or 3)."""
        return self.points.shape[1]

    def __repr__(self) -> str:
        return (
            f"Template({self.name!r}, N={self.num_points}, shells="
            f"{np.bincount(self.shells).tolist()}, symmetry={self.symmetry})"
        )

    @classmethod
    def from_points(
        cls,
        points,
        center: int | None = None,
        num_neighbors: int | None = None,
        symmetry: int | None = None,
        shell_metric: str = "distance",
        name: str | None = None,
    ) -> Template:
        """A template from neighbour vectors, or cut from a patch of ideal lattice.

        Parameters
        ----------
        points : array_like, shape (M, 2) or (M, 3)
            Neighbour vectors (``center=None``), or positions of a lattice patch [any unit].
        center : int, optional
            Row of the central point in ``points``; its ``num_neighbors`` nearest neighbours
            become the template.
        num_neighbors : int, optional
            N; must not split a neighbour shell. Default: all other points.
        symmetry, shell_metric, name
            As for ``Template``.

        Examples
        --------
        >>> import numpy as np
        >>> grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0), indexing="ij"), -1)
        >>> Template.from_points(grid.reshape(-1, 2), center=12, num_neighbors=8)
        Template('custom-8', N=8, shells=[4, 4], symmetry=4)
        """
        points = check_finite_array("points", points, ndim=2)
        if center is None:
            vectors = points
        else:
            center = check_positive_int("center", center, minimum=0)
            if center >= len(points):
                raise ValueError(f"center must be in [0, {len(points) - 1}], got {center}")
            vectors = np.delete(points, center, axis=0) - points[center]
        order = np.argsort(np.linalg.norm(vectors, axis=1), kind="stable")
        vectors = vectors[order]
        if num_neighbors is not None:
            num_neighbors = check_positive_int("num_neighbors", num_neighbors, minimum=2)
            if num_neighbors > len(vectors):
                raise ValueError(
                    f"num_neighbors must be <= {len(vectors)} (points available), "
                    f"got {num_neighbors}"
                )
            radius = np.linalg.norm(vectors, axis=1)
            if num_neighbors < len(vectors) and (
                radius[num_neighbors] - radius[num_neighbors - 1]
                < _TOLERANCE * radius[num_neighbors]
            ):
                raise ValueError(
                    f"num_neighbors={num_neighbors} splits a neighbour shell; choose a number "
                    f"that fills the shell at distance {radius[num_neighbors - 1]:.6g}"
                )
            vectors = vectors[:num_neighbors]
        return cls(vectors, symmetry=symmetry, shell_metric=shell_metric, name=name)

    @classmethod
    def _from_lattice(
        cls, cell, basis, shells: int, spacing: float, name: str, shell_metric: str = "distance"
    ) -> Template:
        shells = check_positive_int("shells", shells)
        spacing = check_positive("spacing", spacing)
        points = _lattice_points(np.asarray(cell, float), np.asarray(basis, float))
        radius = np.linalg.norm(points, axis=1)
        points = points / radius.min() * spacing
        labels = _group(np.round(radius / radius.min(), 9))
        keep = labels < shells
        order = np.lexsort((np.arctan2(points[keep, 1], points[keep, 0]), labels[keep]))
        return cls(points[keep][order], shell_metric=shell_metric, name=name)

    @classmethod
    def square(cls, shells: int = 2, spacing: float = 1.0) -> Template:
        """Square lattice (fcc ⟨100⟩ projection): shells of 4, 4, 4, 8, ... points; symmetry 4.

        Parameters
        ----------
        shells : int
            Number of neighbour shells (default 2: the 8 points of Fig 3.2).
        spacing : float
            Nearest-neighbour distance [input unit, e.g. px or Å].

        Examples
        --------
        >>> Template.square()
        Template('square', N=8, shells=[4, 4], symmetry=4)
        """
        return cls._from_lattice([[1, 0], [0, 1]], [[0, 0]], shells, spacing, "square")

    @classmethod
    def hexagonal(cls, shells: int = 1, spacing: float = 1.0) -> Template:
        """Hexagonal lattice (fcc ⟨111⟩, graphene's Bravais lattice): shells of 6; symmetry 6.

        Examples
        --------
        >>> Template.hexagonal()
        Template('hexagonal', N=6, shells=[6], symmetry=6)
        """
        cell = [[1, 0], [0.5, np.sqrt(3) / 2]]
        return cls._from_lattice(cell, [[0, 0]], shells, spacing, "hexagonal")

    @classmethod
    def honeycomb(cls, shells: int = 2, spacing: float = 1.0) -> Template:
        """Graphene's honeycomb around one atom: shells of 3, 6, 3, ... points; symmetry 3.

        ``spacing`` is the bond length (1.42 Å in graphene).

        Examples
        --------
        >>> Template.honeycomb()
        Template('honeycomb', N=9, shells=[3, 6], symmetry=3)
        """
        cell = [[np.sqrt(3), 0], [np.sqrt(3) / 2, 1.5]]
        return cls._from_lattice(cell, [[0, 0], [0, 1]], shells, spacing, "honeycomb")

    @classmethod
    def fcc110(cls, shells: int = 3, spacing: float = 1.0) -> Template:
        """fcc in the ⟨110⟩ zone axis (centred rectangular, a/√2 × a): shells of 4, 2, 2 points.

        Shells are separated by their Voronoi interface (Fig 3.3c). ``spacing`` is the projected
        nearest-neighbour distance √(3/8)·a.

        Examples
        --------
        >>> Template.fcc110()
        Template('fcc110', N=8, shells=[4, 2, 2], symmetry=2)
        """
        cell = [[1 / np.sqrt(2), 0], [0, 1]]
        basis = [[0, 0], [1 / (2 * np.sqrt(2)), 0.5]]
        return cls._from_lattice(cell, basis, shells, spacing, "fcc110", "voronoi")

    @classmethod
    def from_atoms(
        cls,
        atoms,
        zone_axis: Sequence[int],
        species: Sequence[str] | str | None = None,
        shells: int = 2,
        tolerance: float = 0.01,
    ) -> list[Template]:
        """One template per distinct atomic column of a crystal seen along a zone axis [Å].

        The crystal is projected along ``zone_axis`` onto the plane normal to it. Atoms that
        coincide in projection form a column; the columns repeat on the projected 2D lattice
        (the projection of the 3D lattice, i.e. the image's periodicity: perovskite [110] gives
        the a/√2 × a rectangle). Columns related by a translation of the projected pattern are
        one site, so a supercell gives the same templates as its unit cell. Each site's
        template holds the vectors to every column (of any site) in its first ``shells``
        distance shells, in Å, so a calibrated image gives the lattice parameter
        (`Strain.lattice_scale`). The frame: x along the shortest in-plane lattice vector,
        x, y and the zone axis right-handed (the zone axis along +z, the beam, as in
        `atomscope.structures.orient`); viewed along −[uvw] the projection is mirrored.

        Parameters
        ----------
        atoms : ase.Atoms
            A periodic crystal: three independent cell vectors and ``pbc`` all True (e.g. from
            ``ase.io.read("SrTiO3.cif")`` or ``ase.build.bulk``).
        zone_axis : sequence of 3 int
            [u, v, w] in the basis of the cell vectors, not (0, 0, 0); (2, 2, 0) is [110].
        species : str or sequence of str, optional
            Keep only columns that contain one of these elements (e.g. ``["Sr", "Ti"]`` for an
            ADF image where O columns are invisible). Default: all columns.
        shells : int
            Number of neighbour distance shells per template.
        tolerance : float
            Columns closer than this in projection merge into one, and column coordinates this
            close to a simple fraction (denominator ≤ 12) of the 2D cell snap to it, against
            rounded CIF coordinates [Å].

        Returns
        -------
        list of Template
            One per site, heaviest column first (Σ Z per Å along the column), named by
            composition: ``"Sr+O"``, ``"Ti"``; equal compositions are numbered ``"Si (1)"``.
            ``.composition`` gives the atoms per column repeat.

        Examples
        --------
        >>> from ase import Atoms
        >>> srtio3 = Atoms("SrTiO3", cell=[3.905] * 3, pbc=True, scaled_positions=[
        ...     [0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
        >>> [t.name for t in Template.from_atoms(srtio3, (1, 1, 0))]
        ['Sr+O', 'Ti', 'O']
        >>> sr, ti = Template.from_atoms(srtio3, (1, 1, 0), species=["Sr", "Ti"])
        >>> (ti.points.round(3) + 0.0).tolist()   # Sr at ±a/2 along [001], Ti at ±a/√2
        [[0.0, -1.952], [0.0, 1.952], [-2.761, 0.0], [2.761, 0.0]]
        """
        check_atoms("atoms", atoms)
        if len(atoms) == 0:
            raise ValueError("atoms must contain at least one atom, got an empty Atoms")
        if not np.all(atoms.pbc) or abs(np.linalg.det(np.asarray(atoms.cell))) < 1e-6:
            raise ValueError(
                f"atoms must be a periodic crystal (three independent cell vectors, pbc all "
                f"True), got pbc {atoms.pbc.tolist()} and cell {np.asarray(atoms.cell).tolist()} Å"
            )
        zone = _zone_indices(zone_axis)
        shells = check_positive_int("shells", shells)
        tolerance = check_positive("tolerance", tolerance)
        present = sorted(set(atoms.get_chemical_symbols()))
        if species is not None:
            species = [species] if isinstance(species, str) else list(species)
            missing = [s for s in species if s not in present]
            if not species or missing:
                raise ValueError(
                    f"species must name elements of the structure ({', '.join(present)}), "
                    f"got {species!r}"
                )
        cell2d, columns = _columns(atoms, zone, tolerance)
        if species is not None:
            columns = [c for c in columns if any(s in species for s, _ in c.composition)]
        basis, sites = _sites(cell2d, columns, tolerance)
        templates = []
        for index, name in enumerate(_site_names(sites)):
            points = _neighbors(basis, sites, index, shells)
            if len(points) < 2:
                raise ValueError(
                    f"shells={shells} gives site {name} only {len(points)} neighbour; "
                    f"use more shells"
                )
            templates.append(cls(points, name=name, composition=dict(sites[index].composition)))
        return templates

    @classmethod
    def from_name(cls, name: str) -> Template:
        """A built-in template by name: 'square', 'hexagonal', 'fcc110' or 'honeycomb'.

        Examples
        --------
        >>> Template.from_name("hexagonal").num_points
        6
        """
        check_choice("template", name, cls._BUILTIN)
        return getattr(cls, name)()


# --- projection of a periodic crystal onto its 2D column lattice (Template.from_atoms) ----------

_MAX_DENOMINATOR = 12  # column coordinates within `tolerance` of p/q, q ≤ 12, snap to it


@dataclass(frozen=True)
class _Column:
    position: np.ndarray  # fractional coordinates in the 2D cell
    composition: tuple[tuple[str, int], ...]  # (symbol, atoms per period), heaviest first
    period: float  # the column's own repeat along the zone axis [Å]

    @property
    def weight(self) -> float:
        # Σ Z per Å along the column: orders the sites heaviest first
        return sum(atomic_numbers[s] * n for s, n in self.composition) / self.period

    def same_kind(self, other: _Column, tolerance: float) -> bool:
        return self.composition == other.composition and abs(self.period - other.period) < tolerance


def _zone_indices(zone_axis) -> np.ndarray:
    values = check_finite_array("zone_axis", zone_axis, ndim=1)
    if values.shape != (3,):
        raise ValueError(f"zone_axis must be three integers [u, v, w], got {zone_axis!r}")
    if np.any(values != np.round(values)) or np.any(np.abs(values) > 1e6):
        raise ValueError(
            f"zone_axis must be integers [u, v, w] (each at most 1e6 in size) in the basis of "
            f"the cell vectors, got {values.tolist()}"
        )
    indices = np.round(values).astype(np.int64)
    if not indices.any():
        raise ValueError("zone_axis must not be (0, 0, 0)")
    return indices // np.gcd.reduce(np.abs(indices))


def _extended_gcd(a: int, b: int) -> tuple[int, int, int]:
    # g = gcd(a, b) ≥ 0 and x, y with a·x + b·y = g
    x0, y0, x1, y1 = 1, 0, 0, 1
    while b:
        q, a, b = a // b, b, a % b
        x0, x1 = x1, x0 - q * x1
        y0, y1 = y1, y0 - q * y1
    return (a, x0, y0) if a >= 0 else (-a, -x0, -y0)


def _unimodular(zone: np.ndarray) -> np.ndarray:
    # Integer 3×3 matrix of determinant 1 whose first row is the primitive vector [u, v, w]:
    # its rows, applied to the cell, are a lattice basis whose first vector runs along the zone.
    u, v, w = (int(i) for i in zone)
    g, p, q = _extended_gcd(u, v)  # p·u + q·v = g
    if g == 0:  # zone along the third cell vector, w = ±1
        return np.array([[0, 0, w], [w, 0, 0], [0, 1, 0]])
    _, z, k = _extended_gcd(g, w)  # z·g + k·w = 1, as gcd(g, w) = gcd(u, v, w) = 1
    return np.array([[u, v, w], [-q, p, 0], [-k * u // g, -k * v // g, z]])


def _reduce(basis: np.ndarray) -> np.ndarray:
    # Integer 2×2 K such that the rows of K @ basis are the two shortest independent vectors of
    # the 2D lattice spanned by the rows of basis (Lagrange–Gauss reduction)
    k = np.eye(2, dtype=np.int64)
    while True:
        a, b = k @ basis
        if b @ b < a @ a:
            k = k[::-1].copy()
            continue
        ratio = a @ b / (a @ a)
        if abs(ratio) <= 0.5 + 1e-9:  # reduced (a tie at ½ must not alternate forever)
            return k
        k[1] -= int(np.round(ratio)) * k[0]


def _union_find(count: int, pairs: np.ndarray) -> np.ndarray:
    # group label per item, items joined by the rows of pairs (i, j)
    parent = np.arange(count)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    return np.unique([root(i) for i in range(count)], return_inverse=True)[1]


def _periodic_groups(fractions: np.ndarray, cell: np.ndarray, tolerance: float) -> np.ndarray:
    # Label per point; points closer than tolerance [Å] modulo the 2D lattice share a label.
    shifts = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1], indexing="ij"), -1).reshape(-1, 2)
    wrapped = fractions - np.floor(fractions)
    images = ((wrapped[None] + shifts[:, None]) @ cell).reshape(-1, 2)
    pairs = cKDTree(images).query_pairs(tolerance, output_type="ndarray") % len(fractions)
    return _union_find(len(fractions), pairs)


def _covered(moved: np.ndarray, fixed: np.ndarray, tolerance: float) -> bool:
    # every value of moved lies within tolerance of one of fixed, modulo 1
    distance = np.abs((moved[:, None] - fixed[None, :] + 0.5) % 1.0 - 0.5)
    return bool(np.all(distance.min(axis=1) < tolerance))


def _own_period(symbols: np.ndarray, heights: np.ndarray, tolerance: float) -> int:
    # Largest m such that shifting the column by 1/m of its repeat maps it onto itself (heights
    # and tolerance in fractions of the repeat).
    kinds, counts = np.unique(symbols, return_counts=True)
    for m in range(int(np.gcd.reduce(counts)), 1, -1):
        if all(
            _covered(heights[symbols == s] + 1 / m, heights[symbols == s], tolerance) for s in kinds
        ):
            return m
    return 1


def _columns(atoms, zone: np.ndarray, tolerance: float) -> tuple[np.ndarray, list[_Column]]:
    # The 2D cell [Å] (rows, in the projection plane's x, y) and the columns of one cell.
    cell = np.asarray(atoms.cell)
    lattice = _unimodular(zone) @ cell  # rows: t (along the zone), then two more lattice vectors
    repeat = lattice[0]
    length = float(np.linalg.norm(repeat))
    beam = repeat / length
    plane = lattice[1:] - np.outer(lattice[1:] @ beam, beam)  # projected lattice vectors
    lattice[1:] = _reduce(plane) @ lattice[1:]
    plane = lattice[1:] - np.outer(lattice[1:] @ beam, beam)
    e1 = plane[0] / np.linalg.norm(plane[0])
    e2 = np.cross(beam, e1)  # x, y, beam right-handed: the zone axis points along +z
    cell2d = plane @ np.stack([e1, e2], axis=1)
    fractions = atoms.positions @ np.linalg.inv(lattice[[1, 2, 0]])  # (a, b, t) coordinates
    fractions -= np.floor(fractions)
    labels = _periodic_groups(fractions[:, :2], cell2d, tolerance)
    symbols = np.array(atoms.get_chemical_symbols())
    columns = []
    for label in range(labels.max() + 1):
        members = np.flatnonzero(labels == label)
        offsets = fractions[members, :2] - fractions[members[0], :2]
        position = fractions[members[0], :2] + np.mean(offsets - np.round(offsets), axis=0)
        m = _own_period(symbols[members], fractions[members, 2], tolerance / length)
        kinds, counts = np.unique(symbols[members], return_counts=True)
        composition = sorted(
            zip(kinds.tolist(), (counts // m).tolist(), strict=True),
            key=lambda item: (-atomic_numbers[item[0]], item[0]),
        )
        columns.append(_Column(position % 1.0, tuple(composition), length / m))
    return cell2d, columns


def _sites(
    cell2d: np.ndarray, columns: list[_Column], tolerance: float
) -> tuple[np.ndarray, list[_Column]]:
    # The primitive 2D cell of the column pattern (rows, first along +x) and one column per
    # site, heaviest first, positions relative to the first site. A supercell of the crystal
    # has more columns per cell than its unit cell: translations mapping every column onto a
    # column of the same kind refine the 2D lattice.
    positions = np.array([c.position for c in columns])

    def is_symmetry(shift):
        moved = positions + shift
        for i, column in enumerate(columns):
            offset = moved[i] - positions
            near = np.linalg.norm((offset - np.round(offset)) @ cell2d, axis=1) < tolerance
            if not any(columns[j].same_kind(column, tolerance) for j in np.flatnonzero(near)):
                return False
        return True

    translations = [np.zeros(2)] + [
        positions[j] - positions[0]
        for j in range(1, len(columns))
        if columns[j].same_kind(columns[0], tolerance) and is_symmetry(positions[j] - positions[0])
    ]
    steps = np.stack(np.meshgrid(np.arange(-2, 3), np.arange(-2, 3), indexing="ij"), -1)
    vectors = ((np.array(translations)[:, None] + steps.reshape(1, -1, 2)) @ cell2d).reshape(-1, 2)
    vectors = vectors[np.linalg.norm(vectors, axis=1) > tolerance]
    vectors = vectors[np.argsort(np.linalg.norm(vectors, axis=1), kind="stable")]
    first = vectors[0]
    cross = np.abs(first[0] * vectors[:, 1] - first[1] * vectors[:, 0])
    second = vectors[
        np.argmax(cross > 1e-6 * np.linalg.norm(first) * np.linalg.norm(vectors, axis=1))
    ]
    basis = _reduce(np.array([first, second])) @ np.array([first, second])
    angle = np.arctan2(basis[0, 1], basis[0, 0])
    turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    basis = basis @ turn.T  # first vector along +x
    basis[1] *= np.sign(basis[1, 1])
    fractions = (positions @ cell2d @ turn.T) @ np.linalg.inv(basis)
    labels = _periodic_groups(fractions, basis, tolerance)
    order = sorted(
        (np.flatnonzero(labels == label)[0] for label in range(labels.max() + 1)),
        key=lambda i: (-columns[i].weight, *np.round(fractions[i] % 1.0, 6)),
    )
    origin = fractions[order[0]]
    sites = []
    for i in order:
        relative = (fractions[i] - origin) % 1.0
        for axis in (0, 1):
            snapped = float(Fraction(float(relative[axis])).limit_denominator(_MAX_DENOMINATOR))
            if abs(snapped - relative[axis]) * np.linalg.norm(basis[axis]) < tolerance:
                relative[axis] = snapped % 1.0
        sites.append(_Column(relative, columns[i].composition, columns[i].period))
    return basis, sites


def _site_names(sites: list[_Column]) -> list[str]:
    # "Sr+O", "Ti", ...; sites of equal composition numbered "Si (1)", "Si (2)"
    names = ["+".join(s if n == 1 else f"{s}{n}" for s, n in site.composition) for site in sites]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(f"{name} ({seen[name]})" if names.count(name) > 1 else name)
    return out


def _neighbors(basis: np.ndarray, sites: list[_Column], index: int, shells: int) -> np.ndarray:
    # Vectors [Å] from site `index` to every column of the first `shells` distance shells,
    # ordered by shell, then azimuth.
    heights = abs(np.linalg.det(basis)) / np.linalg.norm(basis[::-1], axis=1)
    offsets = np.array([site.position - sites[index].position for site in sites])
    reach = 2
    while True:
        steps = np.arange(-reach, reach + 1)
        grid = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2)
        vectors = ((grid[:, None] + offsets[None]).reshape(-1, 2)) @ basis
        radius = np.linalg.norm(vectors, axis=1)
        vectors, radius = vectors[radius > 1e-9], radius[radius > 1e-9]
        labels = _group(radius / radius.min())
        complete = radius <= (reach - 1) * heights.min()  # every column this close is listed
        if labels[complete].max(initial=-1) >= shells - 1:
            break
        reach *= 2
    keep = labels < shells
    order = np.lexsort((np.arctan2(vectors[keep, 1], vectors[keep, 0]), labels[keep]))
    return vectors[keep][order]


@dataclass(frozen=True)
class TemplateMatch:
    """Per-point result of ``match_templates``; unmatched points have mask False and NaN values.

    Attributes
    ----------
    rmsd : numpy.ndarray, shape (n,)
        Scale-invariant RMSD of the best template (Eq 3.9) over the N′ matched neighbours
        [template units: fraction of the template's mean neighbour distance].
    template_index : numpy.ndarray of int, shape (n,)
        Index into ``templates`` of the best template; −1 if unmatched.
    rotation : numpy.ndarray
        Rotation mapping the template onto the local lattice: angle [rad], shape (n,), in 2D
        (only defined modulo 2π/symmetry); rotation matrices, shape (n, 3, 3), in 3D.
    scale : numpy.ndarray, shape (n,)
        Least-squares σ in local lattice ≈ σ·U·(normalised template) [input unit]: the local
        mean neighbour distance.
    mask : numpy.ndarray of bool, shape (n,)
        True where a (full or partial) match was found.
    num_matched : numpy.ndarray of int, shape (n,)
        N′, matched neighbours (0 if unmatched).
    segments : numpy.ndarray, shape (n, K, d)
        Matched neighbour vectors (neighbour − centre) [input unit]; rows ≥ N′ are NaN.
        K is the largest template size.
    template_points : numpy.ndarray, shape (n, K, d)
        The corresponding points of the best template, normalised to mean distance 1 over the
        full template (Eq 3.10); multiply by ``templates[template_index].mean_distance`` for the
        template's own units. Rows ≥ N′ are NaN. For the affine fit of Eq 3.12 fit
        ``segments[i, :N′] ≈ template_points[i, :N′] @ A.T``.
    neighbors : numpy.ndarray of int, shape (n, K)
        Row in ``points`` of each matched neighbour; −1 where unmatched.
    evaluations : numpy.ndarray of int, shape (n,)
        RSSD evaluations of the branch-and-bound search, summed over templates.
    optimal : numpy.ndarray of bool, shape (n,)
        True where every template's search finished within ``max_evaluations``, so the
        permutations are proven optimal (always False for ``method="sort"``).
    templates : tuple of Template
    points : numpy.ndarray, shape (n, d)
        The input points in input order (the centres of the local lattices).
    """

    rmsd: np.ndarray
    template_index: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    mask: np.ndarray
    num_matched: np.ndarray
    segments: np.ndarray
    template_points: np.ndarray
    neighbors: np.ndarray
    evaluations: np.ndarray
    optimal: np.ndarray
    templates: tuple
    points: np.ndarray

    @property
    def lattice_scale(self) -> np.ndarray:
        """Local mean neighbour distance over the matched template's, σ / S(W) (n,).

        [input unit per template unit]: the measured spacing in units of the template's
        spacing; dimensionless (1 at the template's lattice parameter) for points and template
        both in Å, pixels per Å for points in pixels. NaN where unmatched.

        Examples
        --------
        >>> grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0), indexing="ij"), -1)
        >>> match = match_templates(grid.reshape(-1, 2) * 4.0, [Template.square(spacing=2.0)])
        >>> float(match.lattice_scale[12])
        2.0
        """
        sizes = np.array([t.mean_distance for t in self.templates])
        return np.where(self.mask, self.scale / sizes[np.maximum(self.template_index, 0)], np.nan)


def _as_templates(templates) -> tuple[Template, ...]:
    if isinstance(templates, (str, Template)):
        templates = [templates]
    if not isinstance(templates, Sequence) or len(templates) == 0:
        raise ValueError(
            f"templates must be a non-empty list of Template or names, got {templates!r}"
        )
    out = []
    for item in templates:
        if isinstance(item, str):
            item = Template.from_name(item)
        elif not isinstance(item, Template):
            raise TypeError(f"templates must hold Template objects or names, got {item!r}")
        out.append(item)
    return tuple(out)


def _match_one(vectors, template, rmax, method, min_matched, max_evaluations):
    # Permutation, RMSD, N′, evaluation count and completeness of one template's search.
    n, m = vectors.shape[:2]
    if template.dim == 2:
        seeds, rmsd = sorted_permutations(vectors, template)
        if method == "sort":
            matched = np.full(n, m)
            if rmax is not None:
                matched = np.where(rmsd <= rmax, m, 0)
            perm = np.where(matched[:, None] > 0, seeds, -1)
            return (
                perm,
                np.where(matched > 0, rmsd, np.inf),
                matched,
                np.zeros(n, int),
                np.zeros(n, bool),
            )
    else:
        seeds = None
    perm, rmsd, matched, evaluations, finished = branch_and_bound(
        vectors, template.normalized, seeds, rmax, max_evaluations, template.orbit_roots
    )
    failed = matched < min(min_matched, m)
    perm[failed] = -1
    rmsd[failed] = np.inf
    matched[failed] = 0
    return perm, rmsd, matched, evaluations, finished


def match_templates(
    points,
    templates,
    rmax: float | None = None,
    method: str = "bnb",
    min_matched: int | None = None,
    max_evaluations: int | None = 100_000,
) -> TemplateMatch:
    """Match every point's local lattice against templates (seed thesis §3.2, Fig 3.1).

    Parameters
    ----------
    points : array_like, shape (n, 2) or (n, 3)
        Point positions (e.g. refined peaks [px], or atom positions [Å]).
    templates : Template, str or sequence of them
        Candidates; names 'square', 'hexagonal', 'fcc110', 'honeycomb' give the built-ins.
    rmax : float, optional
        Largest acceptable RMSD [template units]. With it, nodes above ``rmax`` are not branched
        and a local lattice whose full match exceeds it gets a partial match of its nearest N′
        neighbours (§3.2.3, Fig 3.5), or none when N′ < ``min_matched``.
    method : {"bnb", "sort"}
        "bnb": sorting seeds branch and bound, which guarantees the optimal permutation.
        "sort": (shell, azimuth) sorting only (2D; fastest, may miss the optimum when shells
        overlap; with ``rmax`` a lattice is matched fully or not at all, never partially).
    min_matched : int, optional
        Smallest acceptable N′ for partial matches (default d + 1).
    max_evaluations : int or None
        Budget of RSSD evaluations per local lattice and template. Branch and bound is
        exponential in the worst case (a wrong or large template with no ``rmax``, points at a
        free surface in 3D); when the budget runs out the best permutation found so far is kept
        and ``optimal`` is False there. None: unlimited.

    Returns
    -------
    TemplateMatch
        Per-point RMSD, best template, rotation, scale, mask, N′ and the matched pairs. Among
        templates, a full match beats a partial one, then the lowest RMSD wins.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0), indexing="ij"), -1)
    >>> match = match_templates(grid.reshape(-1, 2) * 3.0, ["square", "hexagonal"], rmax=0.05)
    >>> int(match.template_index[14]), round(float(match.scale[14]), 4), int(match.num_matched[0])
    (0, 3.6213, 3)
    """
    points = check_finite_array("points", points, ndim=2)
    templates = _as_templates(templates)
    check_choice("method", method, ("bnb", "sort"))
    dim = points.shape[1]
    if dim not in (2, 3):
        raise ValueError(f"points must have shape (n, 2) or (n, 3), got {points.shape}")
    for template in templates:
        if template.dim != dim:
            raise ValueError(
                f"templates must be {dim}D like points, got {template!r} ({template.dim}D)"
            )
    if method == "sort" and dim == 3:
        raise ValueError("method='sort' needs 2D points; use method='bnb' for 3D")
    if rmax is not None:
        rmax = check_positive("rmax", rmax)
    if max_evaluations is not None:
        max_evaluations = check_positive_int("max_evaluations", max_evaluations)
    min_matched = dim + 1 if min_matched is None else check_positive_int("min_matched", min_matched)
    needed = max(t.num_points for t in templates) + 1
    if len(points) < needed:
        raise ValueError(
            f"points must hold at least {needed} points (template size + 1), got {len(points)}"
        )
    n, width = len(points), needed - 1
    vectors, indices = local_lattices(points, width)
    best = np.full(n, -1)
    best_key = np.full((n, 2), np.inf)
    perm_all = np.full((n, width), -1)
    evaluations = np.zeros(n, dtype=np.int64)
    optimal = np.ones(n, dtype=bool)
    for k, template in enumerate(templates):
        m = template.num_points
        perm, rmsd, matched, evals, finished = _match_one(
            vectors[:, :m], template, rmax, method, min_matched, max_evaluations
        )
        evaluations += evals
        optimal &= finished
        key = np.stack([np.where(matched == m, 0.0, 1.0), rmsd], axis=1)
        better = (matched > 0) & (
            (key[:, 0] < best_key[:, 0])
            | ((key[:, 0] == best_key[:, 0]) & (key[:, 1] < best_key[:, 1]))
        )
        best[better] = k
        best_key[better] = key[better]
        perm_all[better] = -1
        perm_all[better, :m] = perm[better]
    return _result(points, vectors, indices, best, perm_all, evaluations, optimal, templates)


def _result(points, vectors, indices, best, perm, evaluations, optimal, templates) -> TemplateMatch:
    _, width, dim = vectors.shape
    stacked = np.full((len(templates), width, dim), np.nan)
    for k, template in enumerate(templates):
        stacked[k, : template.num_points] = template.normalized
    matched_slot = perm >= 0
    num_matched = matched_slot.sum(axis=1)
    # matched neighbours come first (partial matches drop the farthest ones, §3.2.3)
    segments = np.where(matched_slot[..., None], vectors, np.nan)
    template_points = np.where(
        matched_slot[..., None],
        stacked[np.maximum(best, 0)[:, None], np.maximum(perm, 0)],
        np.nan,
    )
    neighbors = np.where(matched_slot, indices, -1)
    mask = best >= 0
    v = np.where(matched_slot[..., None], vectors, 0.0)
    w = np.nan_to_num(template_points)
    if dim == 2:
        rssd2, rotation, g, sww = horn_2d(v, w)
    else:
        rotation = kabsch_rotation(v, w)
        g = np.einsum("nij,nij->n", v, w @ np.swapaxes(rotation, 1, 2))
        svv = np.einsum("nij,nij->n", v, v)
        sww = np.einsum("nij,nij->n", w, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            rssd2 = np.maximum(np.where(svv > 0, sww - g * g / svv, sww), 0.0)  # Eq 3.9
    with np.errstate(divide="ignore", invalid="ignore"):
        rmsd = np.where(mask, np.sqrt(rssd2 / num_matched), np.nan)
        scale = np.where(mask, g / sww, np.nan)
    rotation = np.where(mask.reshape(-1, *([1] * (rotation.ndim - 1))), rotation, np.nan)
    return TemplateMatch(
        rmsd=rmsd,
        template_index=best,
        rotation=rotation,
        scale=scale,
        mask=mask,
        num_matched=np.where(mask, num_matched, 0),
        segments=segments,
        template_points=template_points,
        neighbors=neighbors,
        evaluations=evaluations,
        optimal=optimal,
        templates=templates,
        points=points,
    )
