"""Orientation and assembly: zone axis along the beam, centring in a box, particles on supports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

from atomscope.core.validate import (
    check_finite_array,
    check_nonnegative,
    check_pair,
    check_positive,
    check_range,
    check_real,
)

MAX_TILT = 45.0  # [degrees]


def _check_atoms(name: str, atoms: object) -> Atoms:
    if not isinstance(atoms, Atoms):
        raise TypeError(f"{name} must be an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"{name} must contain at least one atom, got an empty Atoms")
    return atoms


def orient(
    atoms: Atoms,
    zone_axis: Sequence[float],
    in_plane: float = 0.0,
    tilt: tuple[float, float] = (0.0, 0.0),
    lattice: np.ndarray | None = None,
) -> Atoms:
    """Rotate a finite crystal so that ``zone_axis`` points along the beam (+z).

    The zone axis is first turned onto z by the smallest rotation, then the crystal is turned
    by ``in_plane`` about z, then tilted by ``tilt[0]`` about x and ``tilt[1]`` about y. The
    rotation is about the mean atomic position, which stays where it was.

    Parameters
    ----------
    atoms
        A finite crystal (no periodic boundaries), e.g. from `wulff_particle`.
    zone_axis
        Direction [uvw] in the basis ``lattice``; must not be (0, 0, 0).
    in_plane
        Rotation about the beam after alignment [degrees].
    tilt
        Small tilts about x and y away from the exact zone axis [degrees], each within ±45°.
    lattice
        3×3 rows a1, a2, a3 [Å] in which ``zone_axis`` is expressed; default the Cartesian
        axes, which are the cubic crystal axes of every atomscope particle builder.

    Returns
    -------
    ase.Atoms
        A rotated copy; the input is not changed.

    Examples
    --------
    >>> from atomscope.structures import wulff_particle
    >>> particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], size=200)
    >>> rotated = orient(particle, (1, 1, 0), in_plane=10, tilt=(1, 0))
    >>> len(rotated) == len(particle)
    True
    """
    _check_atoms("atoms", atoms)
    if atoms.pbc.any():
        raise ValueError(
            f"atoms must be a finite crystal (pbc all False) to be rotated, got pbc "
            f"{atoms.pbc.tolist()}; a rotated periodic cell is no longer periodic"
        )
    axis = check_finite_array("zone_axis", zone_axis, ndim=1)
    if axis.shape != (3,) or not np.any(axis):
        raise ValueError(f"zone_axis must be three numbers, not all zero, got {tuple(zone_axis)!r}")
    if lattice is not None:
        basis = check_finite_array("lattice", lattice, ndim=2)
        if basis.shape != (3, 3) or abs(np.linalg.det(basis)) < 1e-9:
            raise ValueError(f"lattice must be a non-singular 3×3 matrix, got {basis.tolist()}")
        axis = axis @ basis
    in_plane = check_real("in_plane", in_plane)
    tilt = check_pair("tilt", tilt, lambda n, v: check_range(n, v, -MAX_TILT, MAX_TILT))

    align, _ = Rotation.align_vectors([[0.0, 0.0, 1.0]], [axis / np.linalg.norm(axis)])
    if np.dot(align.apply(axis), [0, 0, 1]) < 0:  # antiparallel input: any half-turn about x
        align = Rotation.from_euler("x", 180, degrees=True)
    rotation = (
        Rotation.from_euler("xy", tilt, degrees=True)
        * Rotation.from_euler("z", in_plane, degrees=True)
        * align
    )
    rotated = atoms.copy()
    origin = atoms.positions.mean(0)
    rotated.positions = rotation.apply(atoms.positions - origin) + origin
    return rotated


def center(
    atoms: Atoms,
    vacuum: float | None = None,
    *,
    cell: Sequence[float] | None = None,
) -> Atoms:
    """Put atoms in the middle of a box: ``vacuum`` on each side, or a given orthorhombic ``cell``.

    With ``vacuum`` only the non-periodic axes change (a slab keeps its periodic cell in x, y).

    Parameters
    ----------
    atoms
        The structure; not changed.
    vacuum
        Empty space between the outermost atoms and each face of the box [Å].
    cell
        Box lengths (lx, ly, lz) [Å]; the atoms must fit inside.

    Examples
    --------
    >>> from ase import Atoms
    >>> boxed = center(Atoms("Au2", [(0, 0, 0), (0, 0, 3)]), vacuum=5)
    >>> boxed.cell.lengths().tolist()
    [10.0, 10.0, 13.0]
    """
    _check_atoms("atoms", atoms)
    if (vacuum is None) == (cell is None):
        raise ValueError(
            f"give exactly one of vacuum or cell, got vacuum={vacuum!r}, cell={cell!r}"
        )
    result = atoms.copy()
    if vacuum is not None:
        vacuum = check_nonnegative("vacuum", vacuum)
        axes = tuple(int(i) for i in np.flatnonzero(~atoms.pbc))
        if not axes:
            raise ValueError("atoms is periodic along x, y and z; vacuum cannot be added")
        result.center(vacuum=vacuum, axis=axes)
        return result
    lengths = check_finite_array("cell", cell, ndim=1)
    if lengths.shape != (3,):
        raise ValueError(f"cell must be three lengths (lx, ly, lz) [Å], got {tuple(cell)!r}")
    for name, length in zip(("cell[0]", "cell[1]", "cell[2]"), lengths, strict=True):
        check_positive(name, length)
    size = np.ptp(atoms.positions, axis=0)
    if np.any(size > lengths):
        raise ValueError(
            f"cell {lengths.tolist()} Å is smaller than the structure ({size.round(2).tolist()} Å)"
        )
    result.set_cell(np.diag(lengths))
    result.center()
    return result


def place_on_support(
    particle: Atoms,
    support: Atoms,
    distance: float,
    vacuum: float = 5.0,
) -> Atoms:
    """Put a particle above the middle of a periodic support slab (e.g. Au on TiO2(110)).

    The particle's lowest atom ends ``distance`` above the slab's highest atom, its mean
    position over the centre of the slab's xy cell; the cell's z length is extended to leave
    ``vacuum`` above the particle.

    Parameters
    ----------
    particle
        The finite particle, e.g. from `wulff_particle`.
    support
        A slab periodic in x and y with its third cell vector along z (ASE's surface builders,
        or any file read with ``ase.io.read``).
    distance
        Gap between the slab top and the particle bottom [Å].
    vacuum
        Empty space above the particle [Å].

    Returns
    -------
    ase.Atoms
        Support atoms first (tag 0), then the particle (tag 1); periodic like the support.

    Examples
    --------
    >>> from ase.build import fcc100
    >>> from atomscope.structures import wulff_particle
    >>> slab = fcc100("Pt", size=(12, 12, 3), vacuum=5)
    >>> particle = wulff_particle("Au", [(1, 1, 1)], [1.0], size=100)
    >>> system = place_on_support(particle, slab, distance=2.3)
    >>> len(system) == len(slab) + len(particle)
    True
    """
    _check_atoms("particle", particle)
    _check_atoms("support", support)
    distance = check_positive("distance", distance)
    vacuum = check_nonnegative("vacuum", vacuum)
    cell = support.cell.array
    if not (support.pbc[0] and support.pbc[1]) or support.cell.rank < 2:
        raise ValueError(
            f"support must be periodic in x and y with a cell, got pbc {support.pbc.tolist()} "
            f"and cell lengths {support.cell.lengths().round(3).tolist()}"
        )
    if np.any(np.abs(cell[:2, 2]) > 1e-9) or np.any(np.abs(cell[2, :2]) > 1e-9):
        raise ValueError("support cell must have a1, a2 in the xy plane and a3 along z")
    span = np.ptp(particle.positions[:, :2], axis=0)
    widths = np.abs(np.linalg.det(cell[:2, :2])) / np.linalg.norm(cell[:2, :2][::-1], axis=1)
    if np.any(span >= widths):
        raise ValueError(
            f"particle ({span.round(2).tolist()} Å wide in x, y) does not fit on the support "
            f"(cell widths {widths.round(2).tolist()} Å)"
        )
    placed = particle.copy()
    placed.set_cell(np.zeros((3, 3)))
    placed.pbc = False
    shift = 0.5 * (cell[0] + cell[1]) - placed.positions.mean(0)
    shift[2] = support.positions[:, 2].max() + distance - placed.positions[:, 2].min()
    placed.positions += shift
    placed.set_tags(1)
    base = support.copy()
    base.set_tags(0)
    system = base + placed
    system.set_cell(support.cell)
    height = system.positions[:, 2].max() + vacuum
    system.cell[2] = [0.0, 0.0, max(height, support.cell[2, 2])]
    return system


MAX_SUPERCELL = 64  # largest number of primitive cells `orthogonal_supercell` builds


def _is_orthorhombic(cell: np.ndarray) -> bool:
    return bool(np.allclose(cell[~np.eye(3, dtype=bool)], 0.0, atol=1e-8))


def orthogonal_supercell(
    atoms: Atoms, max_cells: int = MAX_SUPERCELL, tolerance: float = 1e-6
) -> tuple[Atoms, np.ndarray]:
    """The smallest supercell of a periodic cell whose vectors lie along x, y and z.

    A cell whose third vector is along z (the beam) and whose in-plane lattice has two
    perpendicular lattice vectors — hexagonal, centred rectangular, any rectangular lattice in a
    rotated frame — is repeated along those vectors (``ase.build.make_supercell``) and rotated
    so the first lies along x. An orthorhombic cell is returned unchanged (a copy).

    Parameters
    ----------
    atoms
        Structure with a cell; its third vector must be perpendicular to the first two.
    max_cells
        Largest supercell, in primitive cells.
    tolerance
        Relative tolerance of "perpendicular" (|cos| of the angle).

    Returns
    -------
    supercell : ase.Atoms
        The orthorhombic structure.
    matrix : numpy.ndarray
        The integer 3×3 supercell matrix P (new cell = P @ old cell).

    Examples
    --------
    >>> from ase.build import graphene
    >>> sheet, matrix = orthogonal_supercell(graphene(vacuum=2.0))
    >>> matrix.tolist(), len(sheet)
    ([[1, 0, 0], [1, 2, 0], [0, 0, 1]], 4)
    """
    from ase.build import make_supercell

    atoms = _check_atoms("atoms", atoms)
    cell = np.asarray(atoms.cell)
    if _is_orthorhombic(cell):
        return atoms.copy(), np.eye(3, dtype=int)
    in_plane, beam = cell[:2], cell[2]
    lengths = np.linalg.norm(cell, axis=1)
    if lengths.min() == 0 or np.abs(in_plane @ beam).max() > tolerance * lengths.max() ** 2:
        raise ValueError(
            "atoms.cell: the third cell vector must be perpendicular to the first two (the beam "
            f"along it); got {cell.round(6).tolist()} Å — rotate the structure first"
        )
    # integer combinations i a1 + j a2 with |i|, |j| <= reach, shortest first
    reach = int(np.ceil(np.sqrt(max_cells))) + 1
    steps = np.arange(-reach, reach + 1)
    combos = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2)
    combos = combos[np.any(combos != 0, axis=1)]
    vectors = combos @ in_plane
    norms = np.linalg.norm(vectors, axis=1)
    order = np.lexsort((np.abs(np.arctan2(vectors[:, 1], vectors[:, 0])), norms.round(8)))
    for first in order:
        cosines = np.abs(vectors @ vectors[first]) / (norms * norms[first])
        perpendicular = np.flatnonzero(cosines < tolerance)
        if not len(perpendicular):
            continue
        second = perpendicular[np.argmin(norms[perpendicular])]
        matrix = np.array([[*combos[first], 0], [*combos[second], 0], [0, 0, 1]])
        if np.linalg.det(matrix) < 0:
            matrix[1] *= -1
        if round(abs(np.linalg.det(matrix))) <= max_cells:
            break
    else:
        raise ValueError(
            f"atoms.cell {cell.round(6).tolist()} Å has no orthogonal supercell of at most "
            f"{max_cells} cells; build an orthorhombic cell (ase.build.make_supercell)"
        )
    supercell = make_supercell(atoms, matrix, wrap=True)
    a, b, c = np.asarray(supercell.cell)
    supercell.rotate(a, "x", rotate_cell=True)
    supercell.set_cell(np.diag([np.linalg.norm(a), np.linalg.norm(b), np.linalg.norm(c)]))
    supercell.wrap()
    return supercell, matrix
