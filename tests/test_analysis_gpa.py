"""Geometric phase analysis (seed Eqs 3.1–3.3) against fields with known strain."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.analysis.gpa import bragg_peaks, gpa_strain
from atomscope.analysis.synthetic import eq315_field, lattice_image, square_lattice

SHAPE = (256, 256)


def _lattice(spacing=8.0, pad=24.0):
    return square_lattice(SHAPE, spacing, margin=-pad)


def _truth_on_pixels(field):
    x, y = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    pixels = np.stack([x, y], axis=-1).astype(float)
    return field.strain(field.undeformed(pixels))


def test_eq315_field_recovered_in_the_bulk():
    field = eq315_field(SHAPE, amplitude=0.05)
    reference = _lattice()
    image = lattice_image(reference + field.displacement(reference), SHAPE, width=1.5)
    result = gpa_strain(image, g_vectors=[[1 / 8, 0], [0, 1 / 8]], sigma=0.02)
    truth = _truth_on_pixels(field)
    bulk = (slice(32, -32), slice(32, -32))
    for component in ("exx", "eyy", "exy", "rotation"):
        error = getattr(result, component)[bulk] - truth[component][bulk]
        assert np.sqrt(np.mean(error**2)) < 1.5e-3, component
    # the field itself is a few percent, so this is a real measurement
    assert np.abs(truth["exx"]).max() > 0.015


def test_uniform_strain_relative_to_a_reference_region():
    points = _lattice()
    stretched = points.copy()
    right = points[:, 0] > 128
    stretched[right, 0] = 128 + (points[right, 0] - 128) * 1.02  # +2 % in x on the right
    image = lattice_image(stretched, SHAPE, width=1.5)
    left = np.zeros(SHAPE, dtype=bool)
    left[16:100, 16:-16] = True
    result = gpa_strain(image, g_vectors=[[1 / 8, 0], [0, 1 / 8]], sigma=0.015, reference=left)
    assert np.median(result.exx[170:240, 16:-16]) == pytest.approx(0.02, abs=1e-3)
    assert np.median(result.exx[16:100, 16:-16]) == pytest.approx(0.0, abs=1e-4)
    assert np.abs(np.median(result.eyy[170:240, 16:-16])) < 1e-3
    np.testing.assert_allclose(result.g_vectors, [[1 / 8, 0], [0, 1 / 8]], atol=1e-5)


def test_displacement_follows_a_rigid_shift():
    points = _lattice()
    image = lattice_image(points + np.array([1.5, -0.75]), SHAPE, width=1.5)
    result = gpa_strain(image, g_vectors=[[1 / 8, 0], [0, 1 / 8]], reference=np.ones(SHAPE, bool))
    centre = result.displacement[:, 64:192, 64:192].reshape(2, -1)
    # a uniform shift is pure displacement: the same everywhere, no strain
    assert np.ptp(centre, axis=1).max() < 0.05
    assert np.abs(result.exx[64:192, 64:192]).max() < 1e-3


def test_bragg_peaks_finds_the_lattice_frequencies():
    image = lattice_image(_lattice(spacing=8.0), SHAPE, width=1.5)
    found = np.abs(bragg_peaks(image))
    np.testing.assert_allclose(np.sort(found.max(axis=1)), [1 / 8, 1 / 8], atol=2e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"g_vectors": [[0.7, 0], [0, 0.1]]}, "inside the FFT"),
        ({"g_vectors": [[0.1, 0], [0.2, 0]]}, "non-collinear"),
        ({"g_vectors": [[0.1, 0]]}, "shape"),
        ({"sigma": 0.0}, "sigma"),
        ({"reference": np.zeros((3, 3), bool)}, "reference"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    image = lattice_image(_lattice(), SHAPE, width=1.5)
    with pytest.raises(ValueError, match=message):
        gpa_strain(image, **kwargs)


def test_constant_image_refused():
    with pytest.raises(ValueError, match="constant"):
        gpa_strain(np.ones(SHAPE))


# --- automatic g-vectors (#13): peaks between FFT bins, no mirror peaks, any period ------------


def _fringes(shape, g_vectors, amplitudes=(1.0, 1.0)):
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return sum(
        a * np.cos(2 * np.pi * (g[0] * x + g[1] * y))
        for a, g in zip(amplitudes, g_vectors, strict=True)
    )


def _angles_between(g_vectors):
    # angle between the lines through each pair (so also between g and −g') [degrees]
    g = g_vectors / np.linalg.norm(g_vectors, axis=1, keepdims=True)
    return [np.degrees(np.arccos(min(abs(a @ b), 1.0))) for a, b in itertools.combinations(g, 2)]


def _interior(result, sigma):
    # farther than three real-space widths of the Bragg filter, 1 / (2π sigma), from the edges
    margin = int(np.ceil(3 / (2 * np.pi * sigma)))
    inner = (slice(margin, -margin), slice(margin, -margin))
    return max(np.abs(getattr(result, c)[inner]).max() for c in ("exx", "eyy", "exy"))


@pytest.mark.parametrize(
    "period, second_period, second_amplitude",
    [(29.5, 12.0, 0.2), (17.3, 20.0, 1.0), (31.25, 31.25, 1.0)],
)
def test_automatic_g_vectors_are_never_a_peak_and_its_mirror(
    period, second_period, second_amplitude
):
    # Found in #13: with the peak between FFT bins, bragg_peaks returned one peak twice (from two
    # bins, 0.06° apart, or as g and nearly −g) and the strain blew up (εxx spread ~800).
    image = _fringes(
        SHAPE, [[1 / period, 0], [0, 1 / second_period]], amplitudes=(1.0, second_amplitude)
    )
    found = bragg_peaks(image)
    assert min(_angles_between(found)) > 5.0
    truth = np.array([[1 / period, 0], [0, 1 / second_period]])
    for g in found:  # each is ± a true g, to sub-pixel precision
        assert np.min(np.linalg.norm(np.abs(g) - truth, axis=1)) < 1e-5
    result = gpa_strain(image)
    assert _interior(result, np.linalg.norm(result.g_vectors, axis=1).min() / 4) < 1e-3


LATTICES = {  # rows: the two lattice vectors in units of the period
    "square": [[1.0, 0.0], [0.0, 1.0]],
    "oblique": [[1.0, 0.0], [0.4, 0.8]],
}


@pytest.mark.parametrize("period", [17.3, 29.5, 31.25])
@pytest.mark.parametrize("lattice", ["square", "oblique"])
@pytest.mark.parametrize("angle", [0.0, 17.0])
def test_fringes_of_any_period_give_no_strain(period, lattice, angle):
    # Found in #13: the g-vectors of the strongest FFT bins were up to half a bin off and the
    # filter wrapped around the image edges, so perfect lattices showed 1–2 % strain inside.
    shape = (300, 280)
    turn = np.radians(angle)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    basis = period * np.array(LATTICES[lattice]) @ rotation.T
    steps = np.arange(-40, 41)
    points = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2) @ basis
    points = points + np.array(shape) / 2 + 0.37
    keep = np.all((points > -3 * period) & (points < np.array(shape) + 3 * period), axis=1)
    image = lattice_image(points[keep], shape, width=period / 6)
    found = bragg_peaks(image)
    assert min(_angles_between(found)) > 5.0
    reciprocal = np.linalg.inv(basis).T  # rows: reciprocal lattice vectors [1/pixel]
    hk = np.stack(np.meshgrid(np.arange(-3, 4), np.arange(-3, 4), indexing="ij"), -1)
    nodes = hk.reshape(-1, 2) @ reciprocal
    for g in found:
        assert np.min(np.linalg.norm(nodes - g, axis=1)) < 1e-5
    result = gpa_strain(image)
    assert _interior(result, np.linalg.norm(result.g_vectors, axis=1).min() / 4) < 1e-3


@settings(max_examples=15, deadline=None)
@given(st.floats(6.0, 40.0), st.floats(-90.0, 90.0), st.floats(0.3, 1.0))
def test_bragg_peaks_are_independent_and_on_the_lattice(period, angle, ratio):
    turn = np.radians(angle)
    g1 = np.array([np.cos(turn), np.sin(turn)]) / period
    g2 = np.array([-np.sin(turn), np.cos(turn)]) / period * ratio
    if np.linalg.norm(g2) < 0.03:
        g2 = g2 / np.linalg.norm(g2) * 0.03
    found = bragg_peaks(_fringes((200, 180), [g1, g2]))
    assert min(_angles_between(found)) > 5.0
    for g in found:
        assert min(np.linalg.norm(g - s * t) for s in (1, -1) for t in (g1, g2)) < 1e-4


def test_one_set_of_fringes_is_not_two():
    x = np.arange(256.0)
    image = np.add.outer(np.cos(2 * np.pi * x / 29.5), np.zeros(256))
    with pytest.raises(ValueError, match="fewer than 2 independent Bragg peaks"):
        bragg_peaks(image)
    with pytest.raises(ValueError, match="fewer than 2 independent Bragg peaks"):
        gpa_strain(image)


def test_the_window_is_scipys_periodic_hann():
    from scipy.signal.windows import hann

    from atomscope.analysis.gpa import _hann

    for n in (7, 64, 351):
        np.testing.assert_allclose(_hann(n), hann(n, sym=False), atol=1e-15)
