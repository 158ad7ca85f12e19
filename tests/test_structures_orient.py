"""Orientation, centring and supports: rotations checked against closed-form rotation matrices."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc100
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.structures import center, orient, place_on_support, wulff_particle


def _pair(vector):
    return Atoms("Au2", [(0, 0, 0), vector])


@given(
    axis=st.tuples(*[st.integers(-3, 3)] * 3).filter(any),
    in_plane=st.floats(-180, 180),
    tilt=st.tuples(st.floats(-45, 45), st.floats(-45, 45)),
)
@settings(max_examples=60, deadline=None)
def test_orient_is_rigid_and_sends_the_zone_axis_along_the_tilted_beam(axis, in_plane, tilt):
    atoms = _pair(axis)
    rotated = orient(atoms, axis, in_plane=in_plane, tilt=tilt)
    vector = rotated.positions[1] - rotated.positions[0]
    tx, ty = np.radians(tilt)
    # R_y(ty) R_x(tx) ẑ, independent of the in-plane angle
    expected = np.array([np.sin(ty) * np.cos(tx), -np.sin(tx), np.cos(ty) * np.cos(tx)])
    assert np.allclose(vector, np.linalg.norm(axis) * expected, atol=1e-9)
    assert np.allclose(rotated.positions.mean(0), atoms.positions.mean(0))


def test_in_plane_rotation_turns_x_about_the_beam():
    atoms = Atoms("Au3", [(0, 0, 0), (1, 0, 0), (0, 0, 1)])
    rotated = orient(atoms, (0, 0, 1), in_plane=30)
    vector = rotated.positions[1] - rotated.positions[0]
    assert np.allclose(vector, [np.cos(np.pi / 6), np.sin(np.pi / 6), 0])


def test_zone_axis_in_a_lattice_basis():
    lattice = np.array([[2.0, 0, 0], [0, 3.0, 0], [0, 0, 5.0]])
    atoms = _pair((2.0, 3.0, 0))
    rotated = orient(atoms, (1, 1, 0), lattice=lattice)
    vector = rotated.positions[1] - rotated.positions[0]
    assert np.allclose(vector, [0, 0, np.sqrt(13)])


def test_oriented_fcc_particle_shows_atomic_columns():
    particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], size=400)
    columns = {}
    for axis in [(1, 0, 0), (1, 1, 0), (1, 1, 1)]:
        xy = orient(particle, axis).positions[:, :2]
        columns[axis] = len(np.unique(np.round(xy, 3), axis=0))
    # atoms per column ∝ 1 / (projected area per column): 〈110〉 columns are densest
    assert columns[(1, 1, 0)] < columns[(1, 0, 0)] < columns[(1, 1, 1)] < len(particle)
    assert columns[(1, 1, 0)] < len(particle) / 4


def test_center_with_vacuum_and_with_a_cell():
    atoms = Atoms("Au2", [(0, 0, 0), (1, 2, 3)])
    boxed = center(atoms, vacuum=4)
    assert np.allclose(boxed.cell.lengths(), [9, 10, 11])
    assert np.allclose(boxed.positions.min(0), 4)
    fixed = center(atoms, cell=(50, 50, 20))
    assert np.allclose(fixed.positions.min(0) + fixed.positions.max(0), [50, 50, 20])
    slab = fcc100("Au", (2, 2, 3), vacuum=1)
    centred = center(slab, vacuum=6)
    assert np.allclose(centred.cell[:2], slab.cell[:2])
    assert centred.positions[:, 2].min() == pytest.approx(6)
    assert np.allclose(atoms.positions, [(0, 0, 0), (1, 2, 3)])  # input untouched


def test_place_on_support_sets_gap_centre_and_tags():
    slab = fcc100("Pt", size=(12, 12, 3), vacuum=5)
    particle = wulff_particle("Au", [(1, 1, 1)], [1.0], size=100)
    system = place_on_support(particle, slab, distance=2.5, vacuum=7)
    tags = system.get_tags()
    on_top = system.positions[tags == 1]
    assert on_top[:, 2].min() - system.positions[tags == 0, 2].max() == pytest.approx(2.5)
    assert np.allclose(on_top[:, :2].mean(0), 0.5 * (slab.cell[0] + slab.cell[1])[:2])
    assert system.cell[2, 2] == pytest.approx(on_top[:, 2].max() + 7)
    assert system.pbc.tolist() == slab.pbc.tolist()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: orient(_pair((1, 0, 0)), (0, 0, 0)), "zone_axis"),
        (lambda: orient(_pair((1, 0, 0)), (1, 0, 0), tilt=(46, 0)), r"tilt\[0\]"),
        (lambda: orient(_pair((1, 0, 0)), (1, 0, 0), tilt=(0, -60)), r"tilt\[1\]"),
        (lambda: orient(bulk("Au"), (1, 0, 0)), "pbc"),
        (lambda: orient(Atoms(), (1, 0, 0)), "atoms"),
        (lambda: center(_pair((1, 0, 0)), vacuum=-1), "vacuum"),
        (lambda: center(_pair((1, 0, 0)), cell=(0.5, 9, 9)), "cell"),
        (lambda: place_on_support(_pair((1, 0, 0)), _pair((0, 1, 0)), 2.0), "support"),
        (
            lambda: place_on_support(_pair((9, 0, 0)), fcc100("Pt", (2, 2, 2), vacuum=5), 2.0),
            "does not fit",
        ),
        (
            lambda: place_on_support(_pair((1, 0, 0)), fcc100("Pt", (4, 4, 2), vacuum=5), 0),
            "distance",
        ),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
