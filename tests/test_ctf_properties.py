"""Property tests of the aberration function χ and the CTF (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.core.energy import energy2wavelength
from atomscope.core.grid import Grid
from atomscope.optics import CTF, Aberrations
from atomscope.optics.aberrations import ORDERS

LAMBDA = energy2wavelength(200e3)
# magnitudes that give χ of order 1–100 rad at k ≈ 1/Å: |C_nm| ~ 10^(n+1) Å
SCALE = {n: 10.0 ** (n + 1) for n, _ in ORDERS}


@st.composite
def aberration_sets(draw, parity=None):
    """Random polar coefficients; ``parity`` 0 / 1 keeps only even / odd m."""
    values = {}
    for n, m in ORDERS:
        if parity is not None and m % 2 != parity:
            continue
        values[f"C{n}{m}"] = draw(st.floats(-1, 1)) * SCALE[n]
        if m > 0:
            values[f"phi{n}{m}"] = draw(st.floats(-np.pi, np.pi))
    return Aberrations(**values)


frequencies = st.lists(st.floats(-1.5, 1.5), min_size=2, max_size=2)


@settings(max_examples=60, deadline=None)
@given(aberration_sets(parity=0), frequencies)
def test_even_m_terms_are_centrosymmetric(aberrations, k):
    np.testing.assert_allclose(
        aberrations.chi(-k[0], -k[1], LAMBDA),
        aberrations.chi(k[0], k[1], LAMBDA),
        rtol=1e-9,
        atol=1e-9,
    )


@settings(max_examples=60, deadline=None)
@given(aberration_sets(parity=1), frequencies)
def test_odd_m_terms_are_antisymmetric(aberrations, k):
    np.testing.assert_allclose(
        aberrations.chi(-k[0], -k[1], LAMBDA),
        -aberrations.chi(k[0], k[1], LAMBDA),
        rtol=1e-9,
        atol=1e-9,
    )


@settings(max_examples=60, deadline=None)
@given(aberration_sets(), frequencies, st.floats(-np.pi, np.pi))
def test_rotating_every_angle_rotates_chi(aberrations, k, theta):
    rotated_k = (
        k[0] * np.cos(theta) - k[1] * np.sin(theta),
        k[0] * np.sin(theta) + k[1] * np.cos(theta),
    )
    np.testing.assert_allclose(
        aberrations.rotated(theta).chi(*rotated_k, LAMBDA),
        aberrations.chi(*k, LAMBDA),
        rtol=1e-9,
        atol=1e-8,
    )


@settings(max_examples=60, deadline=None)
@given(aberration_sets(), st.floats(0.05, 1.5), st.floats(-np.pi, np.pi))
def test_analytic_gradient_matches_central_differences(aberrations, radius, angle):
    kx, ky = radius * np.cos(angle), radius * np.sin(angle)
    h = 1e-6
    gx, gy = aberrations.chi_gradient(kx, ky, LAMBDA)
    fx = (aberrations.chi(kx + h, ky, LAMBDA) - aberrations.chi(kx - h, ky, LAMBDA)) / (2 * h)
    fy = (aberrations.chi(kx, ky + h, LAMBDA) - aberrations.chi(kx, ky - h, LAMBDA)) / (2 * h)
    scale = 1 + np.hypot(fx, fy)
    np.testing.assert_allclose([gx, gy], [fx, fy], rtol=1e-6, atol=1e-6 * scale)


@settings(max_examples=40, deadline=None)
@given(st.floats(-2e3, 2e3), frequencies)
def test_defocus_alias_is_minus_c10(defocus, k):
    assert Aberrations(defocus=defocus).chi(*k, LAMBDA) == Aberrations(C10=-defocus).chi(*k, LAMBDA)


@settings(max_examples=25, deadline=None)
@given(
    aberration_sets(),
    st.floats(0, 60),
    st.floats(0, 2),
    st.floats(5, 40),
    st.booleans(),
)
def test_ctf_is_bounded_and_passes_the_direct_beam(aberrations, focal_spread, beta, cutoff, soft):
    ctf = CTF(
        energy=200e3,
        focal_spread=focal_spread,
        angular_spread=beta,
        semiangle_cutoff=cutoff,
        soft=soft,
        **aberrations.nonzero(),
    )
    array = ctf.evaluate(Grid(gpts=32, sampling=0.15))
    assert np.abs(array).max() <= 1 + 1e-6
    assert abs(array[0, 0] - 1) < 1e-6
    profile = ctf.radial_profile(np.linspace(0, 1.5, 64))
    for envelope in (profile.spatial, profile.temporal, profile.envelope):
        assert np.all((envelope >= 0) & (envelope <= 1))
