"""Geometric phase analysis (seed Eqs 3.1–3.3) against fields with known strain."""

import numpy as np
import pytest

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
