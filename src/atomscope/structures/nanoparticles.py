"""Nanoparticles: Wulff shapes and the seed's randomly grown training particles (Eq 6.18)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.cluster import wulff_construction
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

from atomscope.core.memory import check_memory
from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_finite_array,
    check_nonnegative,
    check_pair,
    check_positive,
    check_positive_int,
)
from atomscope.structures._elements import check_symbol, cubic_reference

#: Peak bytes per lattice site of the block `random_particle` carves its particle from (measured
#: 140–170 B: ASE's positions and numbers, the KD-tree and its nearest-neighbour query, the
#: distances to the 26 facet planes).
BLOCK_SITE_BYTES = 200
#: Peak bytes per atom of ASE's ``wulff_construction`` (measured 430–560 B: its trial clusters).
WULFF_ATOM_BYTES = 600

# The 26 low-index directions: 6 ⟨100⟩, 12 ⟨110⟩ and 8 ⟨111⟩.
_DIRECTIONS = np.array([d for d in itertools.product((-1, 0, 1), repeat=3) if any(d)], float)
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)


def _volume_per_atom(symbol: str, structure: str, a: float) -> float:
    cell = bulk(symbol, structure, a=a, cubic=True)
    return cell.get_volume() / len(cell)


def wulff_particle(
    symbol: str,
    surfaces: Sequence[Sequence[int]],
    energies: Sequence[float],
    size: int | float,
    lattice_constant: float | None = None,
    progress: bool = False,
) -> Atoms:
    """A Wulff-shaped particle of a cubic element (ASE's ``wulff_construction``).

    Parameters
    ----------
    symbol
        Chemical symbol of an fcc, bcc or simple-cubic element, e.g. ``"Au"``.
    surfaces
        Miller indices of the facet families, e.g. ``[(1, 0, 0), (1, 1, 1)]``.
    energies
        Surface energy of each family [any common unit; only ratios matter].
    size
        An ``int`` is the approximate number of atoms; a ``float`` is the radius [Å] of the
        sphere of equal volume, converted to an atom count with the bulk volume per atom.
    lattice_constant
        Cubic lattice constant [Å]; default ASE's reference value (4.08 Å for Au).
    progress
        Show a (one-step) progress bar around the construction.

    Returns
    -------
    ase.Atoms
        The particle centred on the origin, crystal axes along x, y, z, no cell.

    Examples
    --------
    >>> particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], size=500)
    >>> 400 < len(particle) < 600
    True
    """
    check_symbol("symbol", symbol)
    if len(surfaces) == 0 or len(surfaces) != len(energies):
        raise ValueError(
            f"surfaces and energies must be non-empty and of equal length, got "
            f"{len(surfaces)} surfaces and {len(energies)} energies"
        )
    for index, surface in enumerate(surfaces):
        miller = check_finite_array(f"surfaces[{index}]", surface, ndim=1)
        if miller.shape != (3,) or not np.any(miller) or np.any(miller != np.round(miller)):
            raise ValueError(
                f"surfaces[{index}] must be three integer Miller indices, not all zero, "
                f"got {tuple(surface)!r}"
            )
    energies = [check_positive(f"energies[{i}]", e) for i, e in enumerate(energies)]
    if lattice_constant is not None:
        lattice_constant = check_positive("lattice_constant", lattice_constant)
    structure, a = cubic_reference(symbol, lattice_constant)
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        num_atoms = check_positive_int("size", size)
        given = f"{num_atoms} atoms (size={num_atoms})"
    else:
        radius = check_positive("size", size)
        volume = 4 / 3 * np.pi * radius**3
        num_atoms = max(1.0, volume / _volume_per_atom(symbol, structure, a))
        given = f"about {num_atoms:.3g} atoms (size={radius:g} Å, the radius)"
    check_memory(
        WULFF_ATOM_BYTES * float(num_atoms), f"a Wulff particle of {given}", "use a smaller size"
    )
    num_atoms = round(num_atoms)
    with tqdm(total=1, desc="wulff", unit="particle", disable=not progress) as bar:
        cluster = wulff_construction(
            symbol,
            [tuple(int(i) for i in s) for s in surfaces],
            energies,
            num_atoms,
            structure,
            latticeconstant=a,
        )
        bar.update()
    return Atoms(cluster.get_chemical_symbols(), cluster.positions - cluster.positions.mean(0))


def _lattice_block(symbol: str, structure: str, a: float, radius: float):
    """Lattice sites within ``radius`` of a site at the origin, their neighbour table and
    whether each site's full first shell lies inside the block."""
    cell = bulk(symbol, structure, a=a, cubic=True)
    repeats = int(np.ceil(radius / a)) + 1
    block = cell.repeat(2 * repeats + 1)
    positions = block.positions - repeats * a
    positions = positions[np.linalg.norm(positions, axis=1) <= radius]
    tree = cKDTree(positions)
    nearest = tree.query(np.zeros(3), k=2)[0][1]
    shell = len(tree.query_ball_point(np.zeros(3), 1.1 * nearest)) - 1
    _, neighbours = tree.query(positions, k=shell + 1, distance_upper_bound=1.1 * nearest)
    neighbours = neighbours[:, 1:]  # drop the site itself; missing neighbours are len(positions)
    complete = np.all(neighbours < len(positions), axis=1)
    return positions, neighbours, complete


def random_particle(
    symbol: str,
    rng: int | np.random.Generator | None,
    *,
    radius: float | tuple[float, float] = (6.0, 12.0),
    growth: float | tuple[float, float] = (0.0, 0.5),
    temperature: float = 1.0,
    lattice_constant: float | None = None,
    progress: bool = False,
) -> Atoms:
    """A random training particle: a faceted seed crystal roughened by coordination-weighted
    growth (seed thesis §6, Eq 6.18).

    The seed crystal keeps, in each of the 26 ⟨100⟩, ⟨110⟩ and ⟨111⟩ directions
    independently, the lattice planes whose distance from the central atom is at most a
    distance drawn uniformly from ``radius``. Then ``round(f × seed atoms)`` atoms, with
    ``f`` drawn uniformly from ``growth``, are added one at a time at empty lattice sites with
    ``N_i > 0`` occupied nearest neighbours, site ``i`` chosen with probability
    ``exp(N_i/T) / Σ_j exp(N_j/T)``.

    Parameters
    ----------
    symbol
        Chemical symbol of an fcc, bcc or simple-cubic element.
    rng
        Seed or generator; equal seeds give identical particles.
    radius
        Range (low, high) of facet-plane distances from the centre [Å], or one value.
    growth
        Range of the number of added atoms as a fraction of the seed crystal, or one value.
    temperature
        Roughness temperature T of Eq 6.18 [dimensionless, > 0]; ``inf`` picks every
        coordinated site with equal probability, small T only the best-coordinated sites.
    lattice_constant
        Cubic lattice constant [Å]; default ASE's reference value.
    progress
        Show a progress bar over the added atoms.

    Returns
    -------
    ase.Atoms
        Centred on the origin (mean position), crystal axes along x, y, z, no cell.

    Examples
    --------
    >>> particle = random_particle("Au", rng=0, radius=(6, 9), growth=0.2)
    >>> len(particle) == len(random_particle("Au", rng=0, radius=(6, 9), growth=0.2))
    True
    """
    check_symbol("symbol", symbol)
    low, high = check_pair("radius", radius)
    if low > high:
        raise ValueError(f"radius must be (low, high) with low <= high, got {radius!r}")
    growth_low, growth_high = check_pair("growth", growth, check_nonnegative)
    if growth_low > growth_high:
        raise ValueError(f"growth must be (low, high) with low <= high, got {growth!r}")
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (inf allowed), got {temperature}")
    if lattice_constant is not None:
        lattice_constant = check_positive("lattice_constant", lattice_constant)
    structure, a = cubic_reference(symbol, lattice_constant)
    rng = as_generator(rng)

    # Outermost vertex of the seed polyhedron is ≤ 1.13 × the largest plane distance.
    extent = 1.13 * high * (1 + growth_high) ** (1 / 3) + 3 * a
    sites = len(bulk(symbol, structure, a=a, cubic=True)) * (2 * np.ceil(extent / a) + 3) ** 3
    check_memory(
        BLOCK_SITE_BYTES * sites,
        f"a particle of radius up to {high:g} Å (growth up to {growth_high:g}), carved from a "
        f"block of {sites:.3g} lattice sites,",
        "use a smaller radius",
    )
    positions, neighbours, complete = _lattice_block(symbol, structure, a, extent)
    distances = rng.uniform(low, high, len(_DIRECTIONS))
    occupied = np.all(positions @ _DIRECTIONS.T <= distances + 1e-6, axis=1)
    num_added = round(rng.uniform(growth_low, growth_high) * occupied.sum())
    _grow(occupied, neighbours, complete, num_added, temperature, rng, progress)

    grown = positions[occupied]
    return Atoms([symbol] * len(grown), grown - grown.mean(0))


def _grow(occupied, neighbours, complete, num_added, temperature, rng, progress=False) -> None:
    """Add ``num_added`` atoms in place by Eq 6.18, updating coordinations per added atom."""
    padded = np.append(occupied, False)
    coordination = padded[neighbours].sum(axis=1)
    coordination = np.append(coordination, 0)  # the sentinel "missing neighbour" slot
    for _ in tqdm(range(num_added), desc="growth", unit="atom", disable=not progress):
        candidates = np.flatnonzero(~occupied & complete & (coordination[:-1] > 0))
        if len(candidates) == 0:
            break
        # Eq 6.18: p_i ∝ exp(N_i/T), shifted by the maximum to avoid overflow as T → 0
        logits = coordination[candidates] / temperature
        weights = np.cumsum(np.exp(logits - logits.max()))
        site = candidates[np.searchsorted(weights, rng.random() * weights[-1], side="right")]
        occupied[site] = True
        coordination[neighbours[site]] += 1
