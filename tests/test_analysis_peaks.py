"""Peak finding, sub-pixel refinement (seed Eq 3.4) and the Wiener filter."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from atomscope.analysis.filters import estimate_noise_variance, wiener_filter
from atomscope.analysis.peaks import find_peaks, refine_peaks
from atomscope.analysis.synthetic import (
    add_gaussian_noise,
    lattice_image,
    square_lattice,
)


def _jittered_lattice(seed, spacing=16.0, size=200):
    rng = np.random.default_rng(seed)
    points = square_lattice((size, size), spacing, margin=spacing / 2)
    return points + rng.uniform(-0.5, 0.5, points.shape)


def _rms_error(found, truth):
    distance, _ = cKDTree(truth).query(found)
    return float(np.sqrt(np.mean(distance**2)))


@pytest.mark.parametrize("method", ["polynomial", "com"])
@pytest.mark.parametrize("width", [1.0, 2.0, 3.0])
def test_isolated_gaussians_refined_within_0_02_px(method, width):
    truth = _jittered_lattice(0)
    image = lattice_image(truth, (200, 200), width=width)
    found = refine_peaks(image, find_peaks(image, min_distance=5), method=method)
    assert len(found) == len(truth)
    assert _rms_error(found, truth) < 0.02


@settings(max_examples=20, deadline=None)
@given(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.floats(1.2, 3.0))
def test_single_gaussian_any_offset(dx, dy, width):
    centre = np.array([[20.0 + dx, 21.0 + dy]])
    image = lattice_image(centre, (41, 41), width=width)
    found = refine_peaks(image, find_peaks(image, min_distance=3))
    np.testing.assert_allclose(found, centre, atol=0.02)


def test_polynomial_fit_beats_integer_maxima_by_far():
    truth = _jittered_lattice(1)
    image = lattice_image(truth, (200, 200), width=2.0)
    peaks = find_peaks(image, min_distance=5)
    assert _rms_error(refine_peaks(image, peaks), truth) < 0.05 * _rms_error(peaks, truth)


def test_find_peaks_threshold_and_order():
    image = np.zeros((30, 30))
    image[10, 20], image[20, 5], image[15, 15] = 1.0, 0.5, 0.05
    peaks = find_peaks(image, min_distance=2, threshold=0.1)
    assert peaks.tolist() == [[10.0, 20.0], [20.0, 5.0]]


def test_wiener_filter_estimates_noise_and_removes_it():
    truth = square_lattice((256, 256), 12.0, margin=6.0)
    clean = lattice_image(truth, (256, 256), width=2.5)
    noisy = add_gaussian_noise(clean, variance=0.05, rng=3)
    assert estimate_noise_variance(noisy) == pytest.approx(0.05, rel=0.05)
    filtered = wiener_filter(noisy)
    assert np.std(filtered - clean) < 0.3 * np.std(noisy - clean)
    assert np.std(wiener_filter(noisy, smoothing=0.0) - clean) > np.std(filtered - clean)
    assert np.std(wiener_filter(noisy, noise=0.0) - noisy) < 1e-12


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: find_peaks(np.ones((10, 10))), "constant"),
        (lambda: find_peaks(np.zeros((0, 5))), "empty"),
        (lambda: find_peaks(np.full((5, 5), np.nan)), "finite"),
        (lambda: find_peaks(np.eye(5), min_distance=0), "min_distance"),
        (lambda: find_peaks(np.eye(5), threshold=1.5), "threshold"),
        (lambda: refine_peaks(np.eye(5), [[np.nan, 1.0]]), "peaks"),
        (lambda: refine_peaks(np.eye(5), [[7.0, 1.0]]), "peaks"),
        (lambda: refine_peaks(np.eye(5), [[1.0, 1.0]], window=4), "window"),
        (lambda: refine_peaks(np.eye(5), [[1.0, 1.0]], method="gauss"), "method"),
        (lambda: wiener_filter(np.eye(5), noise=-1.0), "noise"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
