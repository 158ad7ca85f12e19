"""Template.from_atoms (#13 item 2): column templates of a crystal seen along a zone axis, in Å."""

import io
import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read, write
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from atomscope.analysis.templates import Template

A = 3.905  # SrTiO3 lattice parameter [Å]


def srtio3(a=A):
    return Atoms(
        "SrTiO3",
        cell=[a, a, a],
        pbc=True,
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def as_set(points):
    return sorted(map(tuple, np.round(np.asarray(points) + 0.0, 6).tolist()))


def congruent(points, other, scale=1.0, tolerance=1e-9):
    # same point set up to a rotation about the centre (and the scale factor)
    points, other = np.asarray(points, float) * scale, np.asarray(other, float)
    if points.shape != other.shape:
        return False
    radius = np.linalg.norm(points, axis=1)
    first = int(np.argmin(radius))
    tree = cKDTree(other)
    for target in other[np.abs(np.linalg.norm(other, axis=1) - radius[first]) < tolerance]:
        angle = math.atan2(target[1], target[0]) - math.atan2(*points[first, ::-1])
        turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        if tree.query(points @ turn.T)[0].max() < tolerance * max(1.0, radius.max()):
            return True
    return False


# --- SrTiO3 --------------------------------------------------------------------------------------


def test_srtio3_001_columns_on_the_square_lattice():
    templates = Template.from_atoms(srtio3(), (0, 0, 1))
    assert [t.name for t in templates] == ["Sr", "Ti+O", "O (1)", "O (2)"]
    assert [t.composition for t in templates] == [{"Sr": 1}, {"Ti": 1, "O": 1}, {"O": 1}, {"O": 1}]
    sr = templates[0]
    # O columns at a/2 along x and y, Ti+O columns at the cell centres a/√2 away
    expected = [(s * A / 2, 0) for s in (-1, 1)] + [(0, s * A / 2) for s in (-1, 1)]
    expected += [(sx * A / 2, sy * A / 2) for sx in (-1, 1) for sy in (-1, 1)]
    assert as_set(sr.points) == as_set(expected)
    assert sr.symmetry == 4 and sr.shells.tolist() == [0] * 4 + [1] * 4
    # only the heavy columns (ADF): Sr alone is the square lattice of spacing a
    (only_sr,) = Template.from_atoms(srtio3(), (0, 0, 1), species=["Sr"])
    assert as_set(only_sr.points) == as_set(Template.square(spacing=A).points)
    heavy = Template.from_atoms(srtio3(), (0, 0, 1), species=["Sr", "Ti"])
    assert [t.name for t in heavy] == ["Sr", "Ti+O"]
    for template in heavy:  # the other site at a/√2 (diagonal), own site at a
        radius = np.linalg.norm(template.points, axis=1)
        np.testing.assert_allclose(np.sort(radius), [A / np.sqrt(2)] * 4 + [A] * 4, atol=1e-12)


def test_srtio3_110_rectangle_with_b_site_columns_halfway():
    templates = Template.from_atoms(srtio3(), (1, 1, 0))
    # along [110] the columns are Sr+O, pure Ti and pure O (Ti+O columns are those of [001])
    assert [t.name for t in templates] == ["Sr+O", "Ti", "O"]
    assert [t.composition for t in templates] == [{"Sr": 1, "O": 1}, {"Ti": 1}, {"O": 1}]
    width = A / np.sqrt(2)  # the a/√2 × a cell: x along [1-10], y along [001]
    sr_o, ti, oxygen = templates
    assert as_set(ti.points) == as_set([(0, A / 2), (0, -A / 2), (width / 2, 0), (-width / 2, 0)])
    assert as_set(oxygen.points) == as_set(
        [(width / 2, 0), (-width / 2, 0)]
        + [(sx * width / 2, sy * A / 2) for sx in (-1, 1) for sy in (-1, 1)]
    )
    assert as_set(sr_o.points) == as_set(
        [(0, A / 2), (0, -A / 2)]
        + [(sx * width / 2, sy * A / 2) for sx in (-1, 1) for sy in (-1, 1)]
    )
    # ADF: O columns invisible. B-site (Ti) halfway up the a edge of the a/√2 × a rectangle
    heavy = Template.from_atoms(srtio3(), (1, 1, 0), species=["Sr", "Ti"])
    assert [t.name for t in heavy] == ["Sr+O", "Ti"]
    rectangle = [(0, A / 2), (0, -A / 2), (width, 0), (-width, 0)]
    for template in heavy:
        assert as_set(template.points) == as_set(rectangle)
        assert template.symmetry == 2


def test_the_lattice_parameter_sets_the_spacings():
    small, large = (Template.from_atoms(srtio3(a), (1, 1, 0))[1] for a in (3.905, 4.1))
    np.testing.assert_allclose(large.points, small.points * 4.1 / 3.905, atol=1e-12)
    assert large.mean_distance == pytest.approx(small.mean_distance * 4.1 / 3.905)


def test_a_cif_file_gives_the_same_templates():
    text = io.BytesIO()
    write(text, srtio3(), format="cif")
    text.seek(0)
    atoms = read(text, format="cif")
    for zone in [(0, 0, 1), (1, 1, 0), (1, 1, 1)]:
        ours = Template.from_atoms(srtio3(), zone)
        theirs = Template.from_atoms(atoms, zone)
        assert [t.name for t in theirs] == [t.name for t in ours]
        for a, b in zip(ours, theirs, strict=True):
            assert congruent(a.points, b.points, tolerance=1e-6)


# --- other crystals ------------------------------------------------------------------------------


def test_si_110_dumbbells():
    templates = Template.from_atoms(bulk("Si", "diamond", a=5.431, cubic=True), (1, 1, 0))
    assert [t.name for t in templates] == ["Si (1)", "Si (2)"]
    for template in templates:
        assert template.composition == {"Si": 1}
        radius = np.sort(np.linalg.norm(template.points, axis=1))
        assert radius[0] == pytest.approx(5.431 / 4, abs=1e-9)  # the dumbbell: 1.358 Å
        assert radius[1] > 2.0
    # the two columns of a dumbbell are related by a half turn, not by a translation
    assert congruent(templates[0].points, templates[1].points)


def test_fcc_110_is_the_hand_built_fcc110_template_up_to_scale():
    a = 4.08
    (gold,) = Template.from_atoms(bulk("Au", "fcc", a=a, cubic=True), (1, 1, 0), shells=3)
    reference = Template.fcc110(spacing=np.sqrt(3 / 8) * a)  # projected nearest distance
    assert gold.name == "Au" and gold.composition == {"Au": 1}
    assert np.bincount(gold.shells).tolist() == [4, 2, 2] and gold.symmetry == 2
    assert congruent(gold.points, reference.points)
    # the primitive fcc cell, zone [001] of its vectors = Cartesian [110]/2: the same columns
    (primitive,) = Template.from_atoms(bulk("Au", "fcc", a=a), (0, 0, 1), shells=3)
    assert congruent(primitive.points, reference.points)


def test_rounded_cif_coordinates_snap_to_the_hexagonal_sites():
    # hcp Mg along [0001]: a honeycomb of two column sites, at 1/3 and 2/3 written as 0.3333
    a, c = 3.209, 5.211
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]]
    atoms = Atoms(
        "Mg2",
        cell=cell,
        pbc=True,
        scaled_positions=[[0.3333, 0.6667, 0.25], [0.6667, 0.3333, 0.75]],
    )
    templates = Template.from_atoms(atoms, (0, 0, 1))
    assert [t.name for t in templates] == ["Mg (1)", "Mg (2)"]
    honeycomb = Template.honeycomb(spacing=a / np.sqrt(3))
    for template in templates:
        assert template.symmetry == 3
        assert np.bincount(template.shells).tolist() == [3, 6]
        assert congruent(template.points, honeycomb.points)


# --- invariance ----------------------------------------------------------------------------------


def same_templates(first, second):
    assert sorted(t.name for t in first) == sorted(t.name for t in second)
    for template in first:
        assert any(
            other.name.split(" (")[0] == template.name.split(" (")[0]
            and other.composition == template.composition
            and congruent(template.points, other.points, tolerance=1e-7)
            for other in second
        ), template


@st.composite
def orthorhombic_crystals(draw):
    lengths = [draw(st.floats(2.5, 6.0)) for _ in range(3)]
    count = draw(st.integers(1, 4))
    grid = st.tuples(*(st.integers(0, 7) for _ in range(3)))
    sites = draw(st.lists(grid, min_size=count, max_size=count, unique=True))
    symbols = [draw(st.sampled_from(["Sr", "Ti", "O"])) for _ in sites]
    atoms = Atoms(symbols, cell=lengths, pbc=True, scaled_positions=np.array(sites) / 8)
    zone = draw(st.sampled_from([(0, 0, 1), (1, 0, 0), (1, 1, 0), (0, 1, 1), (1, 1, 1), (2, 1, 0)]))
    return atoms, np.array(zone)


@settings(max_examples=30, deadline=None)
@given(orthorhombic_crystals(), st.tuples(*(st.integers(1, 3) for _ in range(3))))
def test_a_supercell_gives_the_templates_of_its_unit_cell(crystal, repeat):
    atoms, zone = crystal
    unit = Template.from_atoms(atoms, zone)
    n1, n2, n3 = repeat
    # the same direction in the supercell's vectors: [u/n1, v/n2, w/n3]
    super_zone = zone * np.array([n2 * n3, n1 * n3, n1 * n2])
    same_templates(unit, Template.from_atoms(atoms.repeat(repeat), super_zone))


@settings(max_examples=30, deadline=None)
@given(orthorhombic_crystals(), st.sampled_from([-1, 1, 2]), st.sampled_from([-1, 0, 1]))
def test_another_unit_cell_of_the_same_crystal_gives_the_same_templates(crystal, p, q):
    atoms, zone = crystal
    change = np.array([[1, p, 0], [0, 1, q], [0, 0, 1]])  # unimodular: new vectors = change @ old
    other = atoms.copy()
    other.set_cell(change @ np.asarray(atoms.cell), scale_atoms=False)
    other.wrap()
    other_zone = zone @ np.linalg.inv(change)  # the same Cartesian direction
    same_templates(
        Template.from_atoms(atoms, zone), Template.from_atoms(other, np.round(other_zone))
    )


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone_axis, species, shells, message",
    [
        ((0, 0, 0), None, 2, "zone_axis"),
        ((1, 0.5, 0), None, 2, "zone_axis"),
        ((1, float("nan"), 0), None, 2, "zone_axis"),
        ((1, 1), None, 2, "zone_axis"),
        ((1, 1, 0), ["Xe"], 2, "species"),
        ((1, 1, 0), [], 2, "species"),
        ((1, 1, 0), None, 0, "shells"),
    ],
)
def test_bad_arguments_are_named(zone_axis, species, shells, message):
    with pytest.raises(ValueError, match=message):
        Template.from_atoms(srtio3(), zone_axis, species=species, shells=shells)


def test_a_structure_without_a_periodic_cell_is_refused():
    finite = srtio3()
    finite.pbc = False
    with pytest.raises(ValueError, match="atoms must be a periodic crystal"):
        Template.from_atoms(finite, (0, 0, 1))
    with pytest.raises(ValueError, match="atoms must be a periodic crystal"):
        Template.from_atoms(Atoms("Au", positions=[[0, 0, 0]], pbc=True), (0, 0, 1))
    with pytest.raises(TypeError, match="atoms"):
        Template.from_atoms([[0, 0, 0]], (0, 0, 1))
