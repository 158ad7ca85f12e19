"""Affine fit (Eq 3.12), polar decomposition (Eq 3.13) and strain tensor (Eq 3.14)."""

import numpy as np
import pytest
import scipy.linalg
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.analysis.strain import (
    Strain,
    affine_transforms,
    default_reference,
    polar_decomposition,
    strain_from_match,
    strain_tensor,
)
from atomscope.analysis.templates import Template, match_templates

SQUARE = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1], [1, 1], [-1, 1], [-1, -1], [1, -1]])

small = st.floats(-0.05, 0.05)


@settings(max_examples=50, deadline=None)
@given(small, small, small, st.floats(-np.pi, np.pi), st.floats(2.0, 20.0))
def test_strain_of_a_known_deformation_is_recovered(exx, eyy, exy, angle, scale):
    epsilon = np.array([[exx, exy], [exy, eyy]])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a = scale * (np.eye(2) + epsilon) @ rotation  # A = P U (Eq 3.13), P = s (I + ε)
    segments = SQUARE @ a.T
    transforms = affine_transforms(SQUARE[None], segments[None])
    np.testing.assert_allclose(transforms[0], a, atol=1e-10)
    deformation, theta = polar_decomposition(transforms)
    np.testing.assert_allclose(strain_tensor(deformation, scale)[0], epsilon, atol=1e-10)
    assert np.angle(np.exp(1j * (theta[0] - angle))) == pytest.approx(0.0, abs=1e-10)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=4, max_size=4))
def test_polar_decomposition_matches_scipy(values):
    a = np.array(values).reshape(2, 2) + 2 * np.eye(2)
    if np.linalg.det(a) <= 1e-3:
        return
    deformation, theta = polar_decomposition(a[None])
    u, p = scipy.linalg.polar(a, side="left")  # a = p u
    np.testing.assert_allclose(deformation[0], p, atol=1e-9)
    np.testing.assert_allclose(theta[0], np.arctan2(u[1, 0], u[0, 0]), atol=1e-9)


def test_unmatched_rows_are_ignored_and_degenerate_segments_give_nan():
    a = np.array([[1.01, 0.02], [0.0, 0.98]])
    segments = SQUARE @ a.T
    partial = segments.copy()
    partial[[1, 4, 6]] = np.nan  # three neighbours missing: partial match (N' = 5)
    collinear = np.full_like(SQUARE, np.nan)
    collinear[[0, 2]] = SQUARE[[0, 2]]  # only points on one line: A is undetermined
    transforms = affine_transforms(
        np.stack([SQUARE, SQUARE, SQUARE]), np.stack([segments, partial, collinear])
    )
    np.testing.assert_allclose(transforms[1], a, atol=1e-12)
    assert np.isnan(transforms[2]).all()


def test_normal_strain_and_planar():
    strain = Strain(
        points=np.zeros((1, 2)),
        exx=np.array([0.02]),
        eyy=np.array([-0.01]),
        exy=np.array([0.005]),
        rotation=np.array([0.0]),
        mask=np.array([True]),
        scale=np.array([1.0]),
        template_index=np.array([0]),
        lattice_scale=np.array([1.0]),
        reference=np.array([True]),
        reference_rule="given",
    )
    assert strain.planar[0] == pytest.approx(0.005)
    assert strain.normal_strain([0, 3])[0] == pytest.approx(-0.01)
    assert strain.normal_strain([1, 1])[0] == pytest.approx((0.02 - 0.01) / 2 + 0.005)
    with pytest.raises(ValueError, match="normal"):
        strain.normal_strain([0, 0])


# --- several templates, the default reference and the lattice scale (#13) ----------------------

A = 3.905  # SrTiO3 [Å]
WIDTH = A / np.sqrt(2)  # the [110] cell is WIDTH × A


def srtio3():
    return Atoms(
        "SrTiO3",
        cell=[A, A, A],
        pbc=True,
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def srtio3_110_columns(size=(14, 10), deformation=None):
    """Sr+O, Ti and O column positions [Å] of SrTiO3 [110], built by hand (not by from_atoms)."""
    steps = np.stack(np.meshgrid(*map(np.arange, size), indexing="ij"), -1).reshape(-1, 2)
    corners = steps * np.array([WIDTH, A])
    columns = [corners, corners + np.array([0, A / 2]), corners + np.array([WIDTH / 2, A / 2])]
    points = np.concatenate(columns) @ (np.eye(2) if deformation is None else deformation).T
    return points, np.repeat([0, 1, 2], len(corners))


def well_inside(points, margin):
    low, high = points.min(axis=0) + margin, points.max(axis=0) - margin
    return np.all((points > low) & (points < high), axis=1)


def test_several_templates_each_get_their_own_scale():
    # Found in #13: one s (Eq 3.14) for templates normalised each on its own; the perfect
    # three-sublattice lattice of SrTiO3 [110] showed +12.9 %, −16.2 % and +3.3 %.
    templates = Template.from_atoms(srtio3(), (1, 1, 0))
    points, kind = srtio3_110_columns()
    match = match_templates(points, templates, rmax=0.05)
    assert np.array_equal(match.template_index[match.mask], kind[match.mask])
    strain = strain_from_match(match)
    for k in range(3):
        assert (strain.mask & (kind == k)).sum() > 100
    for component in ("exx", "eyy", "exy"):
        assert np.nanmax(np.abs(getattr(strain, component))) < 1e-6, component
    # the same lattice parameter for all three: the spacings are in Å like the points
    np.testing.assert_allclose(strain.lattice_scale, 1.0, atol=1e-9)
    np.testing.assert_allclose(match.lattice_scale[match.mask], 1.0, atol=1e-9)
    np.testing.assert_allclose(strain.scale, [t.mean_distance for t in templates], atol=1e-9)


def test_the_adf_sublattices_give_no_strain_either():
    templates = Template.from_atoms(srtio3(), (1, 1, 0), species=["Sr", "Ti"])
    points, kind = srtio3_110_columns()
    points = points[kind < 2]
    strain = strain_from_match(match_templates(points, templates))  # rmax None
    inside = well_inside(points, A)
    assert strain.mask[inside].all()
    assert np.abs(np.stack([strain.exx, strain.eyy, strain.exy])[:, inside]).max() < 1e-6


def test_default_reference_drops_points_force_matched_at_the_edges():
    # Found in #13: with rmax None (docs/api.md's example) the reference held edge points
    # matched to wrong neighbours; a perfect 12 × 12 lattice showed +0.58 % in the bulk.
    grid = np.stack(np.meshgrid(np.arange(12.0), np.arange(12.0), indexing="ij"), -1)
    points = grid.reshape(-1, 2) * 7.0 @ np.array([[0.96, -0.28], [0.28, 0.96]]).T  # turned
    match = match_templates(points, [Template.square()])
    strain = strain_from_match(match)
    inner = well_inside(points @ np.array([[0.96, -0.28], [0.28, 0.96]]), 6.5)
    assert inner.sum() == 100
    assert np.array_equal(strain.reference, inner)  # edges force-matched: not in the reference
    assert strain.reference_rule.startswith("default: 100 of 144 matched points")
    for component in ("exx", "eyy", "exy"):
        assert np.abs(getattr(strain, component)[inner]).max() < 1e-6, component
    assert strain.lattice_scale[0] == pytest.approx(7.0)  # pixels per template unit


def test_default_reference_with_several_templates_and_edges():
    points, _ = srtio3_110_columns(size=(9, 6))
    strain = strain_from_match(match_templates(points, TEMPLATES_110))
    inside = well_inside(points, 1.5 * A)
    assert strain.reference[inside].all() and not strain.reference.all()
    assert np.abs(np.stack([strain.exx, strain.eyy, strain.exy])[:, inside]).max() < 1e-6


def test_the_robust_cut_drops_a_displaced_point():
    grid = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0), indexing="ij"), -1)
    points = grid.reshape(-1, 2) * 5.0
    points += np.random.default_rng(0).normal(scale=0.05, size=points.shape)
    points[55] += [0.9, 0.4]  # a defect: inside every neighbour tolerance, but a misfit
    reference, _ = default_reference(match_templates(points, [Template.square()]))
    assert not reference[55] and reference.sum() > 50


def test_a_known_homogeneous_strain_is_recovered_with_several_templates():
    epsilon = np.array([[0.01, 0.004], [0.004, -0.006]])
    angle = 0.3
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points, _ = srtio3_110_columns(deformation=(np.eye(2) + epsilon) @ turn)
    templates = Template.from_atoms(srtio3(), (1, 1, 0))
    match = match_templates(points, templates)
    inside = well_inside(points @ turn, 1.5 * A) & match.mask
    # templates in Å, points in Å: the strain is relative to the crystal's own lattice
    strain = strain_from_match(match, lattice_scale=1.0)
    assert strain.reference_rule.startswith("lattice_scale given")
    assert not strain.reference.any()
    for name, value in (("exx", 0.01), ("eyy", -0.006), ("exy", 0.004)):
        np.testing.assert_allclose(getattr(strain, name)[inside], value, atol=1e-6)
    # the same in pixels of 0.1 Å: lattice_scale = 1 / sampling
    pixels = strain_from_match(match_templates(points / 0.1, templates), lattice_scale=10.0)
    np.testing.assert_allclose(pixels.exx[inside], 0.01, atol=1e-6)
    # the default reference takes the mean planar strain (0.2 %) as zero: s = 1.002 Å / Å
    relative = strain_from_match(match)
    np.testing.assert_allclose(relative.lattice_scale, 1.002, atol=1e-9)
    np.testing.assert_allclose(relative.exy[inside], 0.004 / 1.002, atol=1e-9)
    np.testing.assert_allclose(relative.planar[inside], 0.0, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(small, small, small, st.floats(-np.pi, np.pi), st.floats(0.05, 20.0))
def test_homogeneous_strain_in_any_unit_and_orientation(exx, eyy, exy, angle, per_angstrom):
    epsilon = np.array([[exx, exy], [exy, eyy]])
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points, _ = srtio3_110_columns(size=(9, 7), deformation=(np.eye(2) + epsilon) @ turn)
    match = match_templates(points * per_angstrom, TEMPLATES_110)
    strain = strain_from_match(match, lattice_scale=per_angstrom)
    inside = well_inside(points @ turn, 1.2 * A) & match.mask
    assert inside.sum() > 20
    for name, value in (("exx", exx), ("eyy", eyy), ("exy", exy)):
        np.testing.assert_allclose(getattr(strain, name)[inside], value, atol=1e-6)


TEMPLATES_110 = Template.from_atoms(srtio3(), (1, 1, 0))


def test_scale_and_reference_round_trip_and_rules():
    points, _ = srtio3_110_columns(size=(8, 6))
    match = match_templates(points, TEMPLATES_110)
    strain = strain_from_match(match)
    again = strain_from_match(match, scale=strain.scale)
    np.testing.assert_allclose(again.exx, strain.exx, equal_nan=True)
    assert again.reference_rule == "scale given" and not again.reference.any()
    chosen = points[:, 0] < 10
    given_region = strain_from_match(match, reference=chosen)
    assert given_region.reference_rule.startswith("given: ")
    assert np.array_equal(given_region.reference, chosen & match.mask)
    with pytest.raises(ValueError, match="one value per template"):
        strain_from_match(match, scale=1.0)
    with pytest.raises(ValueError, match="not both"):
        strain_from_match(match, scale=strain.scale, lattice_scale=1.0)
    with pytest.raises(ValueError, match="reference selects no matched point"):
        strain_from_match(match, reference=np.zeros(len(points), bool))


def test_nothing_matched_says_so():
    points = np.random.default_rng(1).uniform(0, 50, size=(40, 2))
    match = match_templates(points, [Template.square()], rmax=1e-4, min_matched=8)
    assert not match.mask.any()
    with pytest.raises(ValueError, match="no matched point"):
        strain_from_match(match)
