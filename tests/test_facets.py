"""Surface columns, outward normals and facet types of projected particles (column_facets).

The expected answers come from the convex hull by construction: in an ideal convex particle the
surface columns are exactly those on a hull edge's line, the facet normal is that edge's
outward normal, a column on two lines is a corner, and the facet's family is the crystal plane
whose normal, turned by the smallest rotation taking the zone axis onto z (`orient`), is that
normal.
"""

import numpy as np
import pytest
from ase.cluster import Octahedron
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from atomscope.structures import projected_columns, wulff_particle
from atomscope.structures.facets import column_facets, crystal_rotation, facet_directions

A = 4.08  # Au lattice constant [Å], ASE's reference value
ZONE = (1, 1, 0)
FAMILIES = {  # in-plane plane normals of the [110] zone, by family
    "{100}": [(0, 0, 1), (0, 0, -1)],
    "{110}": [(1, -1, 0), (-1, 1, 0)],
    "{111}": [(1, -1, 1), (1, -1, -1), (-1, 1, 1), (-1, 1, -1)],
}


def _turned(direction, zone=ZONE):
    # the smallest rotation taking the zone axis onto +z (as DESIGN.md's orient), applied
    rotation, _ = Rotation.align_vectors([[0, 0, 1]], [np.array(zone) / np.linalg.norm(zone)])
    vector = rotation.apply(np.array(direction, float) / np.linalg.norm(direction))
    return vector[:2] / np.linalg.norm(vector[:2])


def _expected(positions, tolerance=1e-6):
    # surface mask, per-column hull-edge normals (list), by the convex hull's edge lines
    hull = ConvexHull(positions)
    lines = [[] for _ in positions]
    for normal, offset in zip(hull.equations[:, :2], hull.equations[:, 2], strict=True):
        on = np.abs(positions @ normal + offset) < tolerance
        for index in np.flatnonzero(on):
            lines[index].append(normal)
    surface = np.array([len(found) > 0 for found in lines])
    return surface, lines


def _family(normal):
    for name, directions in FAMILIES.items():
        if any(np.dot(normal, _turned(d)) > np.cos(np.radians(1)) for d in directions):
            return name
    return "other"


CONVEX = {  # particles whose projected outline is convex
    "truncated octahedron": lambda: Octahedron("Au", length=7, cutoff=2, latticeconstant=A),
    "cuboctahedron": lambda: Octahedron("Au", length=9, cutoff=4, latticeconstant=A),
    "Wulff {100}/{111}": lambda: wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], 300),
}
PARTICLES = {
    **CONVEX,
    "Wulff with {110}": lambda: wulff_particle(
        "Au", [(1, 0, 0), (1, 1, 1), (1, 1, 0)], [1.0, 1.1, 1.05], 400
    ),
}


@pytest.mark.parametrize("name", CONVEX)
def test_surface_normals_and_labels_match_the_hull_lines(name):
    columns = projected_columns(PARTICLES[name](), zone_axis=ZONE)
    facets = column_facets(columns, ZONE)
    surface, lines = _expected(columns.positions)
    assert np.array_equal(facets.surface, surface)
    assert facets.surface.sum() < len(columns)  # there is a bulk
    assert np.all(facets.labels[~surface] == "")
    assert np.all(np.isnan(facets.normals[~surface]))
    for index in np.flatnonzero(surface):
        if len(lines[index]) == 1:  # on one facet: its normal and family
            normal = lines[index][0]
            assert np.allclose(facets.normals[index], normal, atol=1e-9)
            assert facets.labels[index] == _family(normal)
            assert facets.turning[index] < 1e-4  # degrees (arccos near 1)
        else:  # on two facets: a corner, its normal between theirs
            assert facets.labels[index] == "corner"
            bisector = np.sum(lines[index], axis=0)
            assert facets.normals[index] @ bisector / np.linalg.norm(bisector) > 1 - 1e-12


def test_truncated_octahedron_counts_by_hand():
    # Octahedron(7, cutoff 2) along [110]: 43 columns, a hexagonal outline of two {100} and
    # four {111} edges; 6 corners, 2 {100} and 12 {111} columns between them, 23 inside
    columns = projected_columns(PARTICLES["truncated octahedron"](), zone_axis=ZONE)
    facets = column_facets(columns, ZONE)
    assert len(columns) == 43
    assert facets.counts() == {"corner": 6, "{100}": 2, "{111}": 12}
    assert int((~facets.surface).sum()) == 23
    # the {100} columns face ±[001], the {111} columns one of the four <111> normals
    for label in ("{100}", "{111}"):
        targets = np.array([_turned(d) for d in FAMILIES[label]])
        best = (facets.normals[facets.mask(label)] @ targets.T).max(axis=1)
        assert np.all(best > np.cos(np.radians(1e-6)))


def test_wulff_particle_with_110_facets_and_reentrant_steps():
    # with cheap {110} the projected outline has all three families and four re-entrant
    # steps: a column one step (1.23 Å) inside the hull, exposed, is a surface corner
    columns = projected_columns(PARTICLES["Wulff with {110}"](), zone_axis=ZONE)
    facets = column_facets(columns, ZONE)
    counts = facets.counts()
    assert counts["{110}"] > 0 and counts["{100}"] > 0
    on_hull, _ = _expected(columns.positions)
    assert np.all(facets.surface[on_hull])
    inside = facets.surface & ~on_hull
    assert inside.sum() == 4
    assert np.all(facets.labels[inside] == "corner")
    hull = ConvexHull(columns.positions)
    depth = (-(columns.positions[inside] @ hull.equations[:, :2].T + hull.equations[:, 2])).min(1)
    assert np.allclose(depth, 1.23, atol=0.01)


def test_thermal_noise_keeps_surface_and_normals_within_a_few_degrees():
    columns = projected_columns(PARTICLES["Wulff {100}/{111}"](), zone_axis=ZONE)
    ideal = column_facets(columns, ZONE)
    rng = np.random.default_rng(0)
    noisy = columns.positions + rng.normal(0.0, 0.05, columns.positions.shape)  # 0.05 Å rms
    facets = column_facets(noisy, ZONE)
    assert np.array_equal(facets.surface, ideal.surface)
    on_facet = np.isin(ideal.labels, ["{100}", "{111}"])
    cosines = np.einsum("ij,ij->i", facets.normals[on_facet], ideal.normals[on_facet])
    assert np.degrees(np.arccos(np.clip(cosines, -1, 1))).max() < 5.0
    assert np.array_equal(facets.labels[on_facet], ideal.labels[on_facet])


def test_a_missing_surface_column_exposes_the_two_beneath():
    columns = projected_columns(PARTICLES["Wulff {100}/{111}"](), zone_axis=ZONE)
    ideal = column_facets(columns, ZONE)
    removed = np.flatnonzero(ideal.mask("{100}"))[1]
    positions = np.delete(columns.positions, removed, axis=0)
    facets = column_facets(positions, ZONE)
    # the two columns under the gap: nearest neighbours of the removed one, not on the surface
    distance = np.linalg.norm(columns.positions - columns.positions[removed], axis=1)
    beneath = np.flatnonzero((np.abs(distance - np.sqrt(3 / 8) * A) < 0.01) & ~ideal.surface)
    assert len(beneath) == 2
    kept = np.delete(np.arange(len(columns)), removed)
    expected = ideal.surface[kept].copy()
    expected[np.searchsorted(kept, beneath)] = True
    assert np.array_equal(facets.surface, expected)


@settings(max_examples=20, deadline=None)
@given(
    angle=st.floats(-180, 180),
    shift=st.tuples(st.floats(-50, 50), st.floats(-50, 50)),
)
def test_rigid_motion_moves_normals_and_keeps_labels(angle, shift):
    # turning the projection by `angle` is orient's in_plane rotation: labels must not change
    columns = projected_columns(PARTICLES["truncated octahedron"](), zone_axis=ZONE)
    reference = column_facets(columns, ZONE)
    turn = Rotation.from_euler("z", angle, degrees=True).as_matrix()[:2, :2]
    moved = columns.positions @ turn.T + np.array(shift)
    facets = column_facets(moved, ZONE, in_plane=angle)
    assert np.array_equal(facets.surface, reference.surface)
    assert np.array_equal(facets.labels, reference.labels)
    rotated = reference.normals[reference.surface] @ turn.T
    assert np.allclose(facets.normals[facets.surface], rotated, atol=1e-9)


def test_facet_directions_of_three_zone_axes():
    counts = {
        zone: {name: len(v) for name, v in facet_directions(zone).items()}
        for zone in [(0, 0, 1), (1, 1, 0), (1, 1, 1)]
    }
    assert counts[(0, 0, 1)] == {"{100}": 4, "{110}": 4, "{111}": 0}
    assert counts[(1, 1, 0)] == {"{100}": 2, "{110}": 2, "{111}": 4}
    assert counts[(1, 1, 1)] == {"{100}": 0, "{110}": 6, "{111}": 0}
    # the [110] zone: {111} normals at ±35.26° from [1-10] (tan = 1/√2), [001] at 90°
    directions = facet_directions((1, 1, 0))
    row = _turned((1, -1, 0))
    angles = np.degrees(np.arccos(np.abs(directions["{111}"] @ row)))
    assert np.allclose(angles, np.degrees(np.arctan(1 / np.sqrt(2))))
    assert np.allclose(directions["{100}"] @ row, 0.0, atol=1e-12)


def test_crystal_rotation_is_orients_rotation():
    rotation = crystal_rotation((1, 1, 0), in_plane=30, tilt=(1.0, -2.0))
    assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rotation), 1.0)
    assert np.allclose(crystal_rotation((0, 0, 1)), np.eye(3), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"zone_axis": (0, 0, 0)}, "zone_axis"),
        ({"max_angle": 0.0}, "max_angle"),
        ({"max_angle": 50.0}, "max_angle"),
        ({"corner_angle": 200.0}, "corner_angle"),
        ({"alpha": -1.0}, "alpha"),
        ({"families": [(0, 0, 0)]}, "families"),
        ({"families": [(1, 0.5, 0)]}, "families"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, message):
    positions = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [3.0, 3.0]])
    arguments = {"zone_axis": ZONE, **kwargs}
    with pytest.raises(ValueError, match=message):
        column_facets(positions, **arguments)


def test_bad_columns_are_refused():
    with pytest.raises(ValueError, match="at least 3"):
        column_facets([[0.0, 0.0], [1.0, 0.0]], ZONE)
    with pytest.raises(ValueError, match="no area"):
        column_facets([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], ZONE)
    with pytest.raises(ValueError, match="columns"):
        column_facets([[0.0, np.nan], [1.0, 0.0], [2.0, 1.0]], ZONE)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        column_facets(np.zeros((4, 3)), ZONE)
    from ase.build import bulk

    periodic = projected_columns(bulk("Au", cubic=True).repeat((2, 2, 2)))
    with pytest.raises(ValueError, match="periodic"):
        column_facets(periodic, (0, 0, 1))
