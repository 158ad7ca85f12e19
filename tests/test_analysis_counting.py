"""Counting atoms by integrated column signals and a simulation-calibrated Gaussian mixture."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.analysis.counting import CountingLibrary, voronoi_signals


def test_voronoi_signals_integrate_each_cell():
    # two Gaussian columns of known integral 2 and 5 [units·Å²] far apart
    sampling = 0.05
    x, y = np.meshgrid(np.arange(200) * sampling, np.arange(120) * sampling, indexing="ij")
    width = 0.3
    image = np.zeros_like(x)
    for (cx, cy), total in (((2.5, 3.0), 2.0), ((7.5, 3.0), 5.0)):
        image += (
            total
            / (2 * np.pi * width**2)
            * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
        )
    signals = voronoi_signals(image, [[2.5, 3.0], [7.5, 3.0]], sampling, max_radius=2.0)
    np.testing.assert_allclose(signals, [2.0, 5.0], rtol=1e-6)
    stack = voronoi_signals(np.stack([image, 2 * image, 3 * image]), [[2.5, 3.0], [7.5, 3.0]],
                            sampling, max_radius=2.0)  # fmt: skip
    np.testing.assert_allclose(stack, [[2, 4, 6], [5, 10, 15]], rtol=1e-6)


def test_library_recovers_counts_through_a_calibration_error():
    rng = np.random.default_rng(1)
    truth = rng.integers(1, 9, 2000)

    # three-image signals, nonlinear in the count (as channelling makes them)
    def signal(counts):
        return np.stack([np.sqrt(counts), counts / 4, np.sin(counts / 3) + 1.5], axis=1)

    library = CountingLibrary.from_samples(signal(truth) + rng.normal(0, 0.04, (2000, 3)), truth)
    assert library.counts.tolist() == list(range(1, 9))
    columns = rng.integers(1, 9, 300)
    measured = 0.85 * (signal(columns) + rng.normal(0, 0.04, (300, 3)))  # 15 % dimmer camera
    result = library.predict(measured)
    assert result.scale == pytest.approx(0.85, rel=0.02)
    assert np.mean(result.counts == columns) > 0.97
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0)
    # without the EM refinement the miscalibration costs counts
    assert np.mean(library.predict(measured, refine=False).counts == columns) < 0.9


@settings(max_examples=20, deadline=None)
@given(st.floats(0.5, 2.0), st.integers(0, 2**31 - 1))
def test_scale_is_found_for_any_calibration(scale, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(2, 7, 600)
    library = CountingLibrary.from_samples(truth + rng.normal(0, 0.05, 600), truth)
    columns = rng.integers(2, 7, 200)
    result = library.predict(scale * (columns + rng.normal(0, 0.05, 200)))
    assert result.scale == pytest.approx(scale, rel=0.02)
    assert np.mean(result.counts == columns) > 0.95


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="counts"):
        CountingLibrary.from_samples(np.ones(5), np.ones(4, int))
    with pytest.raises(ValueError, match="two counts"):
        CountingLibrary.from_samples(np.ones(5), np.ones(5, int))
    library = CountingLibrary.from_samples(np.arange(10.0), np.repeat([1, 2], 5))
    with pytest.raises(ValueError, match="values per column"):
        library.predict(np.ones((3, 2)))
    with pytest.raises(ValueError, match="max_radius"):
        voronoi_signals(np.ones((4, 4)), [[0, 0]], 0.1, max_radius=0)
    with pytest.raises(ValueError, match="positions"):
        voronoi_signals(np.ones((4, 4)), [[0, 0, 0]], 0.1, max_radius=1)


def test_column_features_are_the_voronoi_signals_per_radius():
    from atomscope.analysis.counting import column_features, voronoi_signals

    rng = np.random.default_rng(3)
    stack = rng.random((3, 30, 30))
    positions = rng.uniform(0.5, 2.5, (6, 2))
    features = column_features(stack, positions, 0.1, radii=(0.3, 0.7))
    assert features.shape == (6, 6)
    for r, radius in enumerate((0.3, 0.7)):
        assert np.allclose(
            features[:, 3 * r : 3 * r + 3], voronoi_signals(stack, positions, 0.1, radius)
        )
    # a wider radius never collects less of a positive image
    assert np.all(features[:, 3:] >= features[:, :3])
    with pytest.raises(ValueError, match="radii"):
        column_features(stack, positions, 0.1, radii=())
