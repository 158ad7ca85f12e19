"""Metrics (atomscope.learning.metrics): Hungarian matching, Eq 6.17, baseline, bond lengths."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.learning.metrics import (
    bond_lengths,
    gaussian_peaks,
    ideal_lattice,
    match,
    precision_recall,
    precision_recall_curve,
    within,
)
from atomscope.structures import graphene_sheet


def test_hungarian_beats_greedy_nearest_neighbour():
    # greedy (closest pair first) takes p1–t0 (0.05) and leaves p0 unmatched; the optimum pairs
    # p0–t0 (0.4) and p1–t1 (0.45)
    predicted = [[0.0, 0.0], [0.45, 0.0]]
    truth = [[0.4, 0.0], [0.9, 0.0]]
    m = match(predicted, truth, radius=0.5)
    assert sorted(zip(m.predicted.tolist(), m.truth.tolist(), strict=True)) == [(0, 0), (1, 1)]
    np.testing.assert_allclose(sorted(m.distances), [0.4, 0.45])


def test_precision_recall_counts():
    truth = np.array([[0, 0], [2, 0], [4, 0], [6, 0]], float)
    predicted = np.array([[0.1, 0], [2, 0.2], [2.1, 0], [9, 9]], float)
    s = precision_recall(predicted, truth, radius=0.5)
    # one prediction per truth atom: (0,0) and (2,0) matched; the duplicate and (9,9) are FP
    assert (s.true_positives, s.false_positives, s.false_negatives) == (2, 2, 2)
    assert s.precision == 0.5 and s.recall == 0.5
    assert precision_recall(np.zeros((0, 2)), truth).precision == 1.0
    assert precision_recall(np.zeros((0, 2)), truth).recall == 0.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), shift=st.floats(0, 0.3))
def test_shifted_copy_is_perfect_and_order_does_not_matter(seed, shift):
    rng = np.random.default_rng(seed)
    truth = np.stack(np.meshgrid(np.arange(5.0), np.arange(4.0)), -1).reshape(-1, 2) * 1.5
    predicted = rng.permutation(truth + shift * np.array([np.cos(seed), np.sin(seed)]))
    s = precision_recall(predicted, truth, radius=0.5)
    assert s.precision == s.recall == 1.0


def test_pr_curve_trades_precision_for_recall():
    truth = np.array([[0, 0], [2, 0], [4, 0]], float)
    predicted = np.array([[0, 0], [2, 0], [4, 0], [7, 7], [9, 9]], float)
    scores = np.array([0.9, 0.8, 0.3, 0.5, 0.2])
    precision, recall = precision_recall_curve(predicted, scores, truth, [0.0, 0.4, 0.6, 0.95])
    np.testing.assert_allclose(precision, [3 / 5, 2 / 3, 1.0, 1.0])
    np.testing.assert_allclose(recall, [1.0, 2 / 3, 2 / 3, 0.0])
    with pytest.raises(ValueError, match="scores"):
        precision_recall_curve(predicted, scores[:2], truth, [0.5])


def test_ideal_lattice_and_bond_lengths_on_a_sheet_with_a_vacancy():
    positions = graphene_sheet((20.0, 20.0)).positions[:, :2]
    positions = positions[within(positions, positions.max(0) + 0.01, 0.0)]
    inner = within(positions, positions.max(0), 6.0)
    assert ideal_lattice(positions)[inner].all()
    centre = np.argmin(np.linalg.norm(positions - positions.mean(0), axis=1))
    vacancy = np.delete(positions, centre, axis=0)
    ideal = ideal_lattice(vacancy)
    near = np.linalg.norm(vacancy - positions[centre], axis=1) < 2.6  # 1st and 2nd neighbours
    assert not ideal[near].any()
    assert near.sum() == 9
    np.testing.assert_allclose(bond_lengths(positions), 1.42, atol=0.01)


def test_gaussian_filter_baseline_finds_blobs():
    x = np.arange(80) * 0.1
    centres = np.array([[2.0, 3.0], [5.5, 2.2], [4.0, 6.1]])
    image = sum(
        np.exp(-((x[:, None] - cx) ** 2 + (x[None] - cy) ** 2) / (2 * 0.3**2)) for cx, cy in centres
    )
    noisy = image + 0.05 * np.random.default_rng(0).normal(size=image.shape)
    positions, scores = gaussian_peaks(noisy, 0.1, sigma=0.3, threshold=2.0)
    assert precision_recall(positions, centres, radius=0.15).recall == 1.0
    assert len(positions) == 3 and np.all(scores >= 2.0)
    dark, _ = gaussian_peaks(-noisy, 0.1, sigma=0.3, bright=False, threshold=2.0)
    np.testing.assert_allclose(np.sort(dark, axis=0), np.sort(positions, axis=0))


def test_bad_input():
    with pytest.raises(ValueError, match="predicted"):
        match(np.zeros((3, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="radius"):
        match([[0, 0]], [[0, 0]], radius=0)
    with pytest.raises(ValueError, match="NaN"):
        precision_recall([[np.nan, 0]], [[0, 0]])
    with pytest.raises(ValueError, match="image"):
        gaussian_peaks(np.zeros(5), 0.1)
