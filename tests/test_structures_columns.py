"""Projected atomic columns, checked against column lengths counted by hand and in 3D."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc100, fcc111
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.structures import (
    orient,
    orthogonal_supercell,
    projected_columns,
    wulff_particle,
)

A = 4.08  # lattice constant of Au in ASE's reference data [Å]


def _block(n: int) -> Atoms:
    # finite block of n×n×n cubic fcc cells: atoms at (i, j, k)·a/2, 0 ≤ i, j, k < 2n, i+j+k even
    block = bulk("Au", "fcc", a=A, cubic=True).repeat((n, n, n))
    block.pbc = False
    return block


def _slab(layers: int) -> Atoms:
    # 4×4 fcc(100) surface cells, periodic in x and y; layers alternate between two sublattices
    return fcc100("Au", size=(4, 4, layers), vacuum=5.0)


def _minimum_image(delta: np.ndarray, period: np.ndarray) -> np.ndarray:
    periodic = period > 0
    delta = np.array(delta, float)
    delta[..., periodic] -= period[periodic] * np.round(delta[..., periodic] / period[periodic])
    return delta


@pytest.mark.parametrize("n", [2, 3])
def test_cube_along_001_has_4n2_columns_of_n_atoms(n):
    # the cubic cell projects its 4 atoms onto 4 distinct sites of the a/2 square lattice
    columns = projected_columns(_block(n))
    assert len(columns) == 4 * n * n
    assert columns.counts.tolist() == [n] * (4 * n * n)
    half_cells = columns.positions / (A / 2)
    assert np.allclose(half_cells, np.round(half_cells), atol=1e-9)
    assert np.allclose(columns.heights[:, 1] - columns.heights[:, 0], (n - 1) * A)


@pytest.mark.parametrize("n", [2, 3])
def test_cube_along_110_column_lengths_match_the_count_by_hand(n):
    # a [110] column through (i, j, k) holds the sites (i+t, j+t, k): with M = 2n sites per
    # edge its length is M − |d| for d = j − i, and it exists when d + k is even (parity of
    # i+j+k); the central column (d = 0) holds 2n atoms
    m = 2 * n
    expected = sorted(m - abs(d) for d in range(1 - m, m) for k in range(m) if (d + k) % 2 == 0)
    columns = projected_columns(_block(n), zone_axis=(1, 1, 0))
    assert sorted(columns.counts.tolist()) == expected
    assert columns.counts.max() == 2 * n
    assert sum(expected) == len(_block(n))


def test_wulff_particle_along_110_columns_are_lines_along_the_beam():
    particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], size=300)
    columns = projected_columns(particle, zone_axis=(1, 1, 0))
    assert columns.counts.sum() == len(particle)
    assert np.array_equal(np.sort(np.concatenate(columns.members)), np.arange(len(particle)))
    beam = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    positions = particle.positions
    for index, members in enumerate(columns.members):
        # independent count in the particle's own frame: the atoms on the line along [110]
        # through the column's first atom
        offsets = positions - positions[members[0]]
        on_line = np.flatnonzero(np.linalg.norm(np.cross(offsets, beam), axis=1) < 1e-6)
        assert np.array_equal(on_line, members)
        assert columns.counts[index] == len(on_line)
    # the central column, checked by the same count of atoms on the line through the centre
    central = np.argmin(np.linalg.norm(columns.positions - columns.positions.mean(0), axis=1))
    along = positions[columns.members[central]]
    assert columns.counts[central] == columns.counts.max() == len(along)
    # a convex particle's columns have no gaps: span = (count − 1) × the [110] spacing a/√2
    span = columns.heights[:, 1] - columns.heights[:, 0]
    assert np.allclose(span, (columns.counts - 1) * A / np.sqrt(2), atol=1e-6)
    assert set(columns.species) == {("Au",)}
    # in the projected frame (the particle oriented by `orient`) every member sits on its column
    xy = orient(particle, (1, 1, 0)).positions[:, :2]
    for position, members in zip(columns.positions, columns.members, strict=True):
        assert np.linalg.norm(xy[members] - position, axis=1).max() < 1e-6 < columns.tolerance


@pytest.mark.parametrize("layers", [4, 5])
def test_periodic_fcc100_slab_has_columns_of_alternate_layers(layers):
    # ABAB stacking: sublattice A (layers 1, 3, ...) holds ⌈L/2⌉ atoms per column, B ⌊L/2⌋
    slab = _slab(layers)
    columns = projected_columns(slab)
    assert len(columns) == 2 * 4 * 4
    expected = [layers // 2] * 16 + [(layers + 1) // 2] * 16
    assert sorted(columns.counts.tolist()) == expected
    assert np.all((columns.positions >= 0) & (columns.positions < slab.cell.lengths()[:2]))


def test_columns_split_by_the_cell_boundary_stay_whole():
    slab = _slab(6)
    slab.positions[:, :2] -= slab.positions[0, :2]  # atom 0's column on the cell corner
    corner = np.flatnonzero(np.all(np.abs(slab.positions[:, :2]) < 1e-9, axis=1))
    slab.positions[:, :2] += np.random.default_rng(0).normal(0, 0.05, (len(slab), 2))
    slab.positions[corner, :2] = [(-0.05, 0.03), (0.04, -0.04), (-0.02, 0.01)]
    slab.wrap()  # as stored in a file: the corner column split over all four corners
    period = slab.cell.lengths()[:2]
    assert np.ptp(slab.positions[corner, 0]) > period[0] - 0.1
    assert np.ptp(slab.positions[corner, 1]) > period[1] - 0.1
    before = slab.positions.copy()
    columns = projected_columns(slab)
    assert np.array_equal(slab.positions, before)  # the input is not changed
    assert len(columns) == 32 and columns.counts.tolist() == [3] * 32
    assert np.array_equal(columns.members[0], corner)
    # mean over the nearest images: (−0.01, 0), wrapped into the cell
    assert np.allclose(_minimum_image(columns.positions[0], period), (-0.01, 0.0), atol=1e-9)
    assert np.all((columns.positions >= 0) & (columns.positions < period))
    # without periodicity the same atoms give split columns along the two boundaries
    finite = slab.copy()
    finite.pbc = False
    assert len(projected_columns(finite)) > 32


def test_non_orthorhombic_cell_works_after_orthogonal_supercell():
    # fcc(111) stacking ABC: 6 layers give 2 atoms in every column, 3 columns per layer site
    slab = fcc111("Au", size=(2, 2, 6), vacuum=5.0, orthogonal=False)
    with pytest.raises(ValueError, match="orthogonal_supercell"):
        projected_columns(slab)
    supercell, _ = orthogonal_supercell(slab)
    columns = projected_columns(supercell)
    assert columns.counts.tolist() == [2] * (len(supercell) // 2)


def test_species_of_mixed_and_pure_columns():
    rocksalt = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 2, 2))
    # [001]: Na and Cl alternate along every column
    assert set(projected_columns(rocksalt).species) == {("Cl", "Na")}
    rocksalt.pbc = False
    columns = projected_columns(rocksalt, zone_axis=(1, 1, 0))  # pure Na and pure Cl columns
    assert set(columns.species) == {("Na",), ("Cl",)}
    symbols = np.array(rocksalt.get_chemical_symbols())
    for members, species in zip(columns.members, columns.species, strict=True):
        assert set(symbols[members]) == set(species)


_FINITE = _block(2)
_FINITE.positions += np.random.default_rng(1).normal(0, 0.05, _FINITE.positions.shape)
_PERIODIC = _slab(4)


@given(
    structure=st.sampled_from(["finite [001]", "finite [110]", "periodic"]),
    shift=st.tuples(*[st.floats(-30, 30, allow_nan=False)] * 3),
)
@settings(max_examples=40, deadline=None)
def test_translation_moves_the_columns_and_keeps_the_counts(structure, shift):
    atoms = _PERIODIC if structure == "periodic" else _FINITE
    zone_axis = (1, 1, 0) if structure == "finite [110]" else (0, 0, 1)
    moved = atoms.copy()
    moved.positions += shift
    before = projected_columns(atoms, zone_axis)
    after = projected_columns(moved, zone_axis)
    assert np.array_equal(after.counts, before.counts)
    assert all(map(np.array_equal, after.members, before.members))
    delta = _minimum_image(after.positions - before.positions - shift[:2], before.period)
    assert np.allclose(delta, 0, atol=1e-8)
    assert np.allclose(after.heights - before.heights, shift[2], atol=1e-8)


@pytest.mark.parametrize("structure", ["finite", "periodic"])
def test_count_map_gives_each_column_a_disc_of_its_count(structure):
    if structure == "periodic":  # the image is 1.5 cells wide: columns repeat, discs wrap
        columns, origin = projected_columns(_slab(5), tolerance=0.6), np.zeros(2)
        shape = np.round(1.5 * columns.period / 0.1).astype(int)
    else:
        columns = projected_columns(_block(2), zone_axis=(1, 1, 0), tolerance=0.6)
        origin = columns.positions.min(0) - 1.0
        shape = np.ceil((np.ptp(columns.positions, 0) + 2.0) / 0.1).astype(int)
    labels = columns.count_map(tuple(shape), 0.1, origin=tuple(origin))
    assert labels.shape == tuple(shape)
    grid = np.stack(np.meshgrid(*(np.arange(s) for s in shape), indexing="ij"), -1)
    pixels = origin + 0.1 * grid
    covered = np.zeros(shape, bool)
    total = 0
    for position, count in zip(columns.positions, columns.counts, strict=True):
        disc = np.linalg.norm(_minimum_image(pixels - position, columns.period), axis=-1) < 0.6
        assert disc.any() and np.all(labels[disc] == count)
        covered |= disc
        total += count * disc.sum()
    assert np.all(labels[~covered] == 0)
    assert labels.sum() == total


def test_count_map_overlapping_discs_go_to_the_nearest_column():
    atoms = Atoms("Au3", [(5.0, 5.0, 0.0), (5.0, 5.0, 2.9), (6.2, 5.0, 0.0)])
    columns = projected_columns(atoms, tolerance=0.7)
    assert columns.counts.tolist() == [2, 1]
    labels = columns.count_map(100, 0.1)
    assert labels[55, 50] == 2 and labels[57, 50] == 1 and labels[50, 50] == 2
    assert labels[62, 50] == 1 and labels[69, 50] == 0 and labels[43, 50] == 0


@pytest.mark.parametrize(
    ("atoms", "kwargs", "match"),
    [
        (Atoms(), {}, "atoms must contain at least one atom"),
        (_FINITE, {"tolerance": 0.0}, r"tolerance must be in \(0.0, 3.0\)"),
        (_FINITE, {"tolerance": -0.5}, r"tolerance must be in \(0.0, 3.0\)"),
        (_FINITE, {"tolerance": 3.0}, r"tolerance must be in \(0.0, 3.0\)"),
        (_FINITE, {"zone_axis": (0, 0, 0)}, "zone_axis must be three numbers, not all zero"),
        (_FINITE, {"zone_axis": (1, 1)}, "zone_axis must be three numbers"),
        (_PERIODIC, {"zone_axis": (1, 1, 0)}, "zone_axis .* periodic cell"),
        (Atoms("Au", cell=[0.8, 5, 5], pbc=True), {}, "tolerance 0.5 Å must be less than half"),
    ],
)
def test_bad_input_is_refused(atoms, kwargs, match):
    with pytest.raises(ValueError, match=match):
        projected_columns(atoms, **kwargs)


def test_wrong_types_and_bad_count_map_arguments_are_refused():
    columns = projected_columns(_FINITE)
    with pytest.raises(TypeError, match=r"atoms must be an ase\.Atoms"):
        projected_columns(_FINITE.positions)
    with pytest.raises(ValueError, match=r"shape\[1\] must be an integer >= 1"):
        columns.count_map((10, 0), 0.1)
    with pytest.raises(ValueError, match=r"sampling must be > 0"):
        columns.count_map(10, -0.1)
