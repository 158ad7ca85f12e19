"""Graphene: ideal and polycrystalline sheets, and the seed's random networks (Fig 6.9)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.spatial import Voronoi, cKDTree
from tqdm.auto import tqdm

from atomscope.core.memory import check_memory
from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_nonnegative,
    check_pair,
    check_positive,
    check_positive_int,
    check_real,
)

BOND_LENGTH = 1.42  # C–C bond of graphene [Å]
# Random polygon networks need ~3 % more atoms than the honeycomb for the same mean relaxed
# bond (measured over seeds for 43.2 Å cells: mean bond 1.42 ± 0.01 Å).
_SEED_DENSITY_FACTOR = 1.03
_POISSON_SEPARATION = 0.7  # minimum seed separation, in units of the hexagon spacing √3 b
_SEED_LLOYD_ITERATIONS = 4
_BOND_RELAXATION_ITERATIONS = 30
# the cell itself first, then its eight neighbours
_TILES = np.array([(0, 0)] + [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j], float)
_MARGIN = 10.0  # images this close to the cell fix the Voronoi cells of points inside [Å]
_HOLE_WOBBLE = 0.08  # largest amplitude of each of the cos(2θ), cos(3θ), cos(4θ) edge terms
_HOLE_GAP = 3.0  # least carbon between two holes, or a hole and its own image [Å]
DEFAULT_HOLE_RADIUS = (3.5, 7.0)  # mean hole radii [Å] when the cell is large enough
_SMALLEST_HOLE = 1.5  # [Å]: a default hole no smaller than a missing hexagon


#: Peak bytes per atom while a sheet is built (measured 970–1150 B for `random_graphene`: the
#: Voronoi diagrams of the tiled seeds; 530–900 B for the honeycomb builders: the sites of the
#: lattice around the cell).
RANDOM_ATOM_BYTES = 1200
LATTICE_ATOM_BYTES = 1000


#: Smallest area [Å²] per grain of `polycrystalline_graphene`: about five hexagons (5.24 Å² each)
MIN_GRAIN_AREA = 25.0


def _check_extent(extent) -> np.ndarray:
    return np.array(check_pair("extent", extent), float)


def _check_memory(extent: np.ndarray, bond_length: float, bytes_per_atom: int) -> None:
    """Refuse a sheet that cannot fit in memory, before building it."""
    # 2 atoms per hexagon of side b, 3√3/2 b² (5.24 Å² for b = 1.42 Å)
    atoms = 2 * float(extent.prod()) / (3 * np.sqrt(3) / 2 * bond_length**2)
    check_memory(
        bytes_per_atom * atoms,
        f"a graphene sheet of extent=({extent[0]:g}, {extent[1]:g}) Å (about {atoms:.3g} atoms)",
        "use a smaller extent",
    )


def _sheet(positions: np.ndarray, extent: np.ndarray, vacuum: float) -> Atoms:
    xyz = np.column_stack([positions, np.full(len(positions), vacuum)])
    return Atoms(
        ["C"] * len(xyz), xyz, cell=[extent[0], extent[1], 2 * vacuum], pbc=(True, True, False)
    )


def _minimum_image(vectors: np.ndarray, extent: np.ndarray) -> np.ndarray:
    return (vectors + extent / 2) % extent - extent / 2


def _tile(points: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """The points (first) followed by their periodic images within `_MARGIN` of the box."""
    images = (points[None] + _TILES[:, None] * extent).reshape(-1, 2)[len(points) :]
    near = np.all((images > -_MARGIN) & (images < extent + _MARGIN), axis=1)
    return np.vstack([points, images[near]])


def _thin(points: np.ndarray, distance: float, extent: np.ndarray) -> np.ndarray:
    """Mask keeping, of every pair closer than ``distance`` (periodic), the lower index."""
    keep = np.ones(len(points), bool)
    pairs = cKDTree(points, boxsize=extent).query_pairs(distance, output_type="ndarray")
    for first, second in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]:
        if keep[first] and keep[second]:
            keep[second] = False
    return keep


def _poisson_disc(count: int, separation: float, extent: np.ndarray, rng) -> np.ndarray:
    """``count`` points in the periodic box, no two closer than ``separation`` (dart throwing)."""
    points = np.empty((0, 2))
    while len(points) < count:
        missing = count - len(points)
        candidates = rng.uniform(size=(4 * missing, 2)) * extent % extent
        if len(points):
            distance, _ = cKDTree(points, boxsize=extent).query(candidates)
            candidates = candidates[distance >= separation]
        keep = _thin(candidates, separation, extent)
        points = np.vstack([points, candidates[keep][:missing]])
    return points


def _lloyd(points: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """One periodic Lloyd step: each point moves to the centroid of its Voronoi cell."""
    count = len(points)
    tiled = _tile(points, extent)
    voronoi = Voronoi(tiled)
    ridges = np.array(voronoi.ridge_vertices)
    finite = np.all(ridges >= 0, axis=1)
    owners, ridges = voronoi.ridge_points[finite], ridges[finite]
    first, second = voronoi.vertices[ridges[:, 0]], voronoi.vertices[ridges[:, 1]]
    area = np.zeros(len(tiled))
    moment = np.zeros((len(tiled), 2))
    for side in (0, 1):  # cell = union of triangles (generator, ridge start, ridge end)
        apex = tiled[owners[:, side]]
        u, v = first - apex, second - apex
        triangle = 0.5 * np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
        np.add.at(area, owners[:, side], triangle)
        np.add.at(moment, owners[:, side], triangle[:, None] * (apex + first + second) / 3)
    return (moment[:count] / area[:count, None]) % extent


def _voronoi_network(points: np.ndarray, extent: np.ndarray):
    """Vertices of the periodic Voronoi diagram inside the box and its edges as index pairs."""
    voronoi = Voronoi(_tile(points, extent))
    vertices = voronoi.vertices
    inside = np.all((vertices >= 0) & (vertices < extent), axis=1)
    atoms = vertices[inside]
    _, image_of = cKDTree(atoms, boxsize=extent).query(vertices % extent)
    ridges = np.array([r for r in voronoi.ridge_vertices if -1 not in r])
    ridges = ridges[inside[ridges].any(axis=1)]
    bonds = np.unique(np.sort(image_of[ridges], axis=1), axis=0)
    return atoms, bonds


def _relax_bonds(
    positions: np.ndarray, bonds: np.ndarray, extent: np.ndarray, length: float
) -> np.ndarray:
    """Steepest descent on Σ (|r_ij| − b)² over the network's bonds (topology kept)."""
    for _ in range(_BOND_RELAXATION_ITERATIONS):
        vectors = _minimum_image(positions[bonds[:, 1]] - positions[bonds[:, 0]], extent)
        distances = np.linalg.norm(vectors, axis=1)
        pull = ((distances - length) / distances)[:, None] * vectors
        step = np.zeros_like(positions)
        np.add.at(step, bonds[:, 0], pull)
        np.add.at(step, bonds[:, 1], -pull)
        positions = (positions + 0.1 * step) % extent
    return positions


def _holes(count: int, radius: tuple[float, float], extent: np.ndarray, rng):
    """Centres, mean radii and shape harmonics of ``count`` separated star-shaped holes."""
    radii = rng.uniform(*radius, count)
    amplitudes = rng.uniform(0, _HOLE_WOBBLE, (count, 3))  # cos(2θ), cos(3θ), cos(4θ) terms
    phases = rng.uniform(0, 2 * np.pi, (count, 3))
    outer = radii * (1 + amplitudes.sum(axis=1))
    centres = np.empty((0, 2))
    for index in range(count):
        for _ in range(1000):
            centre = rng.uniform(size=2) * extent
            gaps = np.linalg.norm(_minimum_image(centres - centre, extent), axis=1)
            if np.all(gaps > outer[:index] + outer[index] + _HOLE_GAP):
                break
        else:
            raise ValueError(
                f"num_holes: {count} holes of radius {radius} Å do not fit apart in "
                f"extent {extent.tolist()} Å; ask for fewer or smaller holes"
            )
        centres = np.vstack([centres, centre])
    return centres, radii, amplitudes, phases


def _inside_holes(positions, extent, centres, radii, amplitudes, phases) -> np.ndarray:
    inside = np.zeros(len(positions), bool)
    orders = np.array([2, 3, 4])
    for centre, mean, amplitude, phase in zip(centres, radii, amplitudes, phases, strict=True):
        offset = _minimum_image(positions - centre, extent)
        angle = np.arctan2(offset[:, 1], offset[:, 0])[:, None]
        boundary = mean * (1 + np.sum(amplitude * np.cos(orders * angle + phase), axis=1))
        inside |= np.linalg.norm(offset, axis=1) < boundary
    return inside


def random_graphene(
    extent: float | tuple[float, float],
    rng: int | np.random.Generator | None,
    num_holes: int | tuple[int, int] = (0, 4),
    hole_radius: tuple[float, float] | None = None,
    bond_length: float = BOND_LENGTH,
    vacuum: float = 2.0,
    progress: bool = False,
) -> Atoms:
    """A random, periodic, mostly 3-coordinated carbon network (seed thesis Fig 6.9).

    Seed points with a minimum separation (Poisson disc) in the periodic cell are regularised
    by four Lloyd steps; the vertices of their Voronoi diagram become the carbon atoms and its
    edges the bonds. The vertices are then relaxed along those bonds towards ``bond_length``
    (the seed relaxes them with Lloyd's algorithm, which for vertices drifts towards a
    triangular lattice and loses the 3-coordination), and zero to four star-shaped holes are
    cut. The result has distorted 5–8-membered rings as at grain boundaries (about half
    hexagons, a quarter pentagons, a fifth heptagons), a mean bond of
    ``bond_length`` ± 0.01 Å, and tiles periodically.

    Parameters
    ----------
    extent
        Cell size (lx, ly) [Å], or one value for a square.
    rng
        Seed or generator.
    num_holes
        Number of holes, or an inclusive range (low, high) to draw it from.
    hole_radius
        Range of mean hole radii [Å]; each hole's edge wobbles by up to ±24 %. Default
        (3.5, 7.0), narrowed to what fits a small cell (down to 1.5 Å).
    bond_length
        Target C–C distance b [Å].
    vacuum
        Space above and below the sheet [Å]; the cell height is 2 × vacuum.
    progress
        Show a progress bar over the construction stages.

    Returns
    -------
    ase.Atoms
        Carbon atoms at z = vacuum, pbc (True, True, False); ``info["num_holes"]``.

    Examples
    --------
    >>> sheet = random_graphene(20.0, rng=0, num_holes=0)
    >>> sheet.get_chemical_formula()[:1], sheet.pbc.tolist()
    ('C', [True, True, False])
    """
    extent = _check_extent(extent)
    low, high = (num_holes, num_holes) if np.ndim(num_holes) == 0 else tuple(num_holes)
    for name, value in (("num_holes[0]", low), ("num_holes[1]", high)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if low > high:
        raise ValueError(f"num_holes must be (low, high) with low <= high, got {num_holes!r}")
    widest_radius = (extent.min() - _HOLE_GAP) / (2 * (1 + 3 * _HOLE_WOBBLE))
    if hole_radius is None:
        upper = float(np.clip(widest_radius, _SMALLEST_HOLE, DEFAULT_HOLE_RADIUS[1]))
        hole_radius = (min(DEFAULT_HOLE_RADIUS[0], upper), upper)
    hole_radius = check_pair("hole_radius", hole_radius)
    if hole_radius[0] > hole_radius[1]:
        raise ValueError(f"hole_radius must be (low, high) with low <= high, got {hole_radius}")
    bond_length = check_positive("bond_length", bond_length)
    vacuum = check_nonnegative("vacuum", vacuum)
    if extent.min() < 4 * bond_length:
        raise ValueError(f"extent must be >= {4 * bond_length} Å per side, got {extent.tolist()}")
    widest = 2 * hole_radius[1] * (1 + 3 * _HOLE_WOBBLE) + _HOLE_GAP
    if high > 0 and widest > extent.min():
        raise ValueError(
            f"hole_radius {hole_radius} Å is too large for extent {extent.tolist()} Å: holes "
            f"up to {widest:.1f} Å wide with their gap need hole_radius[1] <= "
            f"{widest_radius:.2f} Å (or num_holes 0)"
        )
    _check_memory(extent, bond_length, RANDOM_ATOM_BYTES)
    rng = as_generator(rng)

    hexagon_area = 3 * np.sqrt(3) / 2 * bond_length**2
    count = max(3, round(_SEED_DENSITY_FACTOR * extent.prod() / hexagon_area))
    # stages: Poisson disc, Lloyd steps, Voronoi network, bond relaxation, holes
    bar = tqdm(total=_SEED_LLOYD_ITERATIONS + 4, desc="graphene", disable=not progress)
    with bar:
        seeds = _poisson_disc(count, _POISSON_SEPARATION * np.sqrt(3) * bond_length, extent, rng)
        bar.update()
        for _ in range(_SEED_LLOYD_ITERATIONS):
            seeds = _lloyd(seeds, extent)
            bar.update()
        positions, bonds = _voronoi_network(seeds, extent)
        bar.update()
        positions = _relax_bonds(positions, bonds, extent, bond_length)
        bar.update()
        holes = int(rng.integers(low, high + 1))
        removed = _inside_holes(positions, extent, *_holes(holes, hole_radius, extent, rng))
        bar.update()
    kept_bonds = bonds[~removed[bonds].any(axis=1)]
    isolated = np.bincount(kept_bonds.ravel(), minlength=len(positions)) == 0
    sheet = _sheet(positions[~removed & ~isolated], extent, vacuum)
    sheet.info["num_holes"] = holes
    return sheet


def _honeycomb(extent, rotation, shift, bond_length) -> np.ndarray:
    """Honeycomb sites rotated by ``rotation`` [degrees] and shifted, inside [0, extent)."""
    a = np.sqrt(3) * bond_length
    lattice = np.array([[a, 0.0], [a / 2, a * np.sqrt(3) / 2]])
    basis = np.array([[0.0, 0.0], (lattice[0] + lattice[1]) / 3])
    reach = int(np.ceil(np.hypot(*extent) / (a * np.sqrt(3) / 2))) + 2
    indices = np.stack(np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1)), -1)
    sites = (indices.reshape(-1, 2) @ lattice)[:, None, :] + basis
    angle = np.radians(rotation)
    rotation_matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    sites = sites.reshape(-1, 2) @ rotation_matrix.T + extent / 2 + shift
    # half-open box with a tolerance, so that commensurate sheets count edge sites once
    inside = np.all((sites >= -1e-6) & (sites < extent - 1e-6), axis=1)
    return sites[inside] % extent


def graphene_sheet(
    extent: float | tuple[float, float],
    rotation: float = 0.0,
    bond_length: float = BOND_LENGTH,
    vacuum: float = 2.0,
) -> Atoms:
    """An ideal graphene sheet filling a rectangular cell, its lattice turned by ``rotation``.

    The sheet is rotated about the cell centre. The cell is marked periodic in x and y; the
    lattice is continuous across the cell edges only when it is commensurate (e.g. rotation 0
    with lx a multiple of √3 b and ly a multiple of 3 b).

    Parameters
    ----------
    extent
        Cell size (lx, ly) [Å], or one value for a square.
    rotation
        Angle of the lattice's armchair direction from x [degrees].
    bond_length
        C–C distance [Å].
    vacuum
        Space above and below the sheet [Å].

    Examples
    --------
    >>> sheet = graphene_sheet((1.42 * 3**0.5 * 4, 1.42 * 3 * 3))  # 4 × 3 rectangular cells
    >>> len(sheet)
    48
    """
    extent = _check_extent(extent)
    rotation = check_real("rotation", rotation)
    bond_length = check_positive("bond_length", bond_length)
    vacuum = check_nonnegative("vacuum", vacuum)
    _check_memory(extent, bond_length, LATTICE_ATOM_BYTES)
    return _sheet(_honeycomb(extent, rotation, np.zeros(2), bond_length), extent, vacuum)


def polycrystalline_graphene(
    extent: float | tuple[float, float],
    num_grains: int,
    rng: int | np.random.Generator | None,
    bond_length: float = BOND_LENGTH,
    min_distance: float = 1.0,
    vacuum: float = 2.0,
    progress: bool = False,
) -> Atoms:
    """Graphene grains of random orientation stitched along periodic Voronoi cells.

    Each grain is an ideal sheet with a random rotation (0–60°) and offset, kept inside the
    Voronoi cell of a random grain centre (periodic distances). Of two atoms closer than
    ``min_distance`` across a boundary, one is removed. Grains that cross the cell edge have an
    extra seam there unless their lattice happens to be commensurate.

    Parameters
    ----------
    extent
        Cell size (lx, ly) [Å], or one value for a square.
    num_grains
        Number of grains, 1 to the sheet's area / `MIN_GRAIN_AREA` (a grain of 25 Å² holds
        about five hexagons; smaller ones are no longer crystalline).
    rng
        Seed or generator.
    bond_length
        C–C distance [Å].
    min_distance
        Atoms closer than this across grain boundaries are thinned [Å].
    vacuum
        Space above and below the sheet [Å].
    progress
        Show a progress bar over the grains.

    Returns
    -------
    ase.Atoms
        pbc (True, True, False); per-atom array ``"grain"`` and ``info["rotations"]`` [degrees].

    Examples
    --------
    >>> sheet = polycrystalline_graphene(30.0, num_grains=3, rng=0)
    >>> sorted(set(sheet.arrays["grain"].tolist()))
    [0, 1, 2]
    """
    extent = _check_extent(extent)
    num_grains = check_positive_int("num_grains", num_grains)
    most = max(1, int(extent.prod() // MIN_GRAIN_AREA))
    if num_grains > most:
        raise ValueError(
            f"num_grains {num_grains} leaves less than {MIN_GRAIN_AREA:g} Å² per grain in a "
            f"{extent[0]:g}×{extent[1]:g} Å sheet; at most {most} grains"
        )
    bond_length = check_positive("bond_length", bond_length)
    min_distance = check_nonnegative("min_distance", min_distance)
    vacuum = check_nonnegative("vacuum", vacuum)
    _check_memory(extent, bond_length, LATTICE_ATOM_BYTES)
    rng = as_generator(rng)

    centres = rng.uniform(size=(num_grains, 2)) * extent
    rotations = rng.uniform(0, 60, num_grains)
    shifts = rng.uniform(0, np.sqrt(3) * bond_length, (num_grains, 2))
    nearest = cKDTree(centres, boxsize=extent)
    positions, grains = [], []
    for grain in tqdm(range(num_grains), desc="grains", disable=not progress):
        sites = _honeycomb(extent, rotations[grain], shifts[grain], bond_length)
        owner = nearest.query(sites)[1]
        positions.append(sites[owner == grain])
        grains.append(np.full(np.count_nonzero(owner == grain), grain))
    positions, grains = np.concatenate(positions), np.concatenate(grains)

    keep = _thin(positions, min_distance, extent)
    sheet = _sheet(positions[keep], extent, vacuum)
    sheet.arrays["grain"] = grains[keep]
    sheet.info["rotations"] = rotations.tolist()
    return sheet
