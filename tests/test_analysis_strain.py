"""Affine fit (Eq 3.12), polar decomposition (Eq 3.13) and strain tensor (Eq 3.14)."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.analysis.strain import (
    Strain,
    affine_transforms,
    polar_decomposition,
    strain_tensor,
)

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
        scale=1.0,
    )
    assert strain.planar[0] == pytest.approx(0.005)
    assert strain.normal_strain([0, 3])[0] == pytest.approx(-0.01)
    assert strain.normal_strain([1, 1])[0] == pytest.approx((0.02 - 0.01) / 2 + 0.005)
    with pytest.raises(ValueError, match="normal"):
        strain.normal_strain([0, 0])
