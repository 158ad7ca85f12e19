"""Scoring recognised positions against the truth (seed §6.3.6, Eq 6.17) and a baseline, and
atom counts per column (seed Figs 6.29–6.30).

Predictions and truth are matched one to one within a radius by the Hungarian algorithm
(`scipy.optimize.linear_sum_assignment`), so no truth atom is counted twice.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from atomscope.core.validate import check_finite_array, check_positive


class Matching(NamedTuple):
    """One-to-one matches: index pairs into (predicted, truth) and their distances [Å]."""

    predicted: np.ndarray
    truth: np.ndarray
    distances: np.ndarray


class Scores(NamedTuple):
    """Counts and Eq 6.17: precision = TP/(TP+FP), recall = TP/(TP+FN)."""

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float


def _positions(name: str, value) -> np.ndarray:
    array = check_finite_array(name, value)
    if array.size == 0:
        return np.zeros((0, 2))
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must be (n, 2) positions [Å], got shape {array.shape}")
    return array


def match(predicted, truth, radius: float = 0.5) -> Matching:
    """Hungarian one-to-one matching of ``predicted`` to ``truth`` within ``radius`` [Å].

    Among all one-to-one assignments the number of pairs closer than ``radius`` is maximal and,
    among those, the summed distance is minimal.

    Examples
    --------
    >>> m = match([[0.0, 0.0], [1.0, 0.0]], [[0.9, 0.0], [0.1, 0.0]], radius=0.5)
    >>> sorted(zip(m.predicted.tolist(), m.truth.tolist(), strict=True))
    [(0, 1), (1, 0)]
    """
    predicted = _positions("predicted", predicted)
    truth = _positions("truth", truth)
    radius = check_positive("radius", radius)
    if len(predicted) == 0 or len(truth) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Matching(empty, empty, np.zeros(0))
    distances = np.hypot(*(predicted[:, None, :] - truth[None, :, :]).transpose(2, 0, 1))
    # a pair within the radius always beats any pair outside it (cost < 1 vs. cost 1 + n)
    cost = np.where(distances <= radius, distances / radius, 1.0 + len(predicted) + len(truth))
    rows, cols = linear_sum_assignment(cost)
    keep = distances[rows, cols] <= radius
    return Matching(rows[keep], cols[keep], distances[rows, cols][keep])


def precision_recall(predicted, truth, radius: float = 0.5) -> Scores:
    """Precision and recall (Eq 6.17) of a one-to-one matching within ``radius`` [Å].

    An empty prediction has precision 1 (no false positives); an empty truth recall 1.

    Examples
    --------
    >>> precision_recall([[0.0, 0.0], [5.0, 5.0]], [[0.1, 0.0], [2.0, 2.0], [3.0, 0.0]])
    Scores(true_positives=1, false_positives=1, false_negatives=2, precision=0.5, recall=0.3333333333333333)
    """
    predicted = _positions("predicted", predicted)
    truth = _positions("truth", truth)
    tp = len(match(predicted, truth, radius).predicted)
    fp, fn = len(predicted) - tp, len(truth) - tp
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Scores(tp, fp, fn, precision, recall)


def count_errors(predicted, predicted_counts, truth, truth_counts, radius: float = 0.5):
    """Counting error of every truth column: predicted minus true atoms (seed Figs 6.29–6.30).

    Predicted and truth columns are matched one to one within ``radius`` [Å] (`match`). A truth
    column without a match counts as predicted empty: its error is −(its atoms), i.e. it is off
    by its full count. Unmatched predictions (false positives) do not enter; count them apart.

    Parameters
    ----------
    predicted
        (m, 2) predicted column positions [Å].
    predicted_counts
        (m,) predicted atoms per column.
    truth
        (n, 2) true column positions [Å].
    truth_counts
        (n,) true atoms per column.
    radius
        Matching radius [Å].

    Returns
    -------
    numpy.ndarray
        (n,) int errors, one per truth column, in the order of ``truth``.

    Examples
    --------
    >>> count_errors([[0.0, 0.0], [3.0, 0.0]], [4, 2], [[0.1, 0.0], [3.0, 0.1], [6.0, 0.0]],
    ...              [5, 2, 3]).tolist()
    [-1, 0, -3]
    """
    predicted = _positions("predicted", predicted)
    truth = _positions("truth", truth)
    predicted_counts = check_finite_array("predicted_counts", predicted_counts).reshape(-1)
    truth_counts = check_finite_array("truth_counts", truth_counts).reshape(-1)
    for name, counts, positions in (
        ("predicted_counts", predicted_counts, predicted),
        ("truth_counts", truth_counts, truth),
    ):
        if len(counts) != len(positions):
            raise ValueError(
                f"{name} must have one count per position ({len(positions)}), got {len(counts)}"
            )
    pairs = match(predicted, truth, radius)
    estimate = np.zeros(len(truth), dtype=np.int64)  # unmatched: no atoms found
    estimate[pairs.truth] = np.round(predicted_counts[pairs.predicted]).astype(np.int64)
    return estimate - np.round(truth_counts).astype(np.int64)


def count_error_fractions(errors) -> np.ndarray:
    """Fractions of columns off by 0, 1, 2 and more than 2 atoms (seed Fig 6.30).

    Examples
    --------
    >>> count_error_fractions([0, 0, 1, -1, -2, 5, 0, 0]).tolist()
    [0.5, 0.25, 0.125, 0.125]
    """
    magnitude = np.abs(check_finite_array("errors", errors).reshape(-1))
    if magnitude.size == 0:
        raise ValueError("errors must hold at least one column's error, got none")
    return np.array([*(np.mean(magnitude == n) for n in (0, 1, 2)), np.mean(magnitude > 2)])


def precision_recall_curve(predicted, scores, truth, thresholds, radius: float = 0.5):
    """Precision and recall of the predictions with score ≥ t, for each threshold t.

    Returns
    -------
    precision, recall : numpy.ndarray, one value per threshold

    Examples
    --------
    >>> p, r = precision_recall_curve([[0, 0], [3, 3]], [0.9, 0.2], [[0, 0]], [0.1, 0.5])
    >>> p.tolist(), r.tolist()
    ([0.5, 1.0], [1.0, 1.0])
    """
    predicted = _positions("predicted", predicted)
    scores = check_finite_array("scores", scores).reshape(-1)
    if len(scores) != len(predicted):
        raise ValueError(
            f"scores must have one value per prediction ({len(predicted)}), got {len(scores)}"
        )
    results = [
        precision_recall(predicted[scores >= t], truth, radius)
        for t in check_finite_array("thresholds", thresholds).reshape(-1)
    ]
    return np.array([r.precision for r in results]), np.array([r.recall for r in results])


def within(positions, extent, margin: float) -> np.ndarray:
    """Boolean mask of positions at least ``margin`` [Å] inside the box [0, extent).

    Examples
    --------
    >>> within([[0.5, 5.0], [5.0, 5.0]], (10.0, 10.0), margin=1.0).tolist()
    [False, True]
    """
    positions = _positions("positions", positions)
    extent = np.asarray(extent, dtype=float)
    return np.all((positions >= margin) & (positions <= extent - margin), axis=1)


def ideal_lattice(positions, bond_length: float = 1.42, tolerance: float = 0.15) -> np.ndarray:
    """Mask of graphene atoms in ideal surroundings (the seed's split of Figs 6.17–6.19).

    An atom is "ideal lattice" if it and each of its neighbours have exactly three neighbours
    within ``bond_length`` ± ``tolerance`` [Å]; the rest are near defects, holes or grain
    boundaries.

    Examples
    --------
    >>> from atomscope.structures import graphene_sheet
    >>> sheet = graphene_sheet((20.0, 20.0))
    >>> bool(ideal_lattice(sheet.positions[:, :2]).any())
    True
    """
    positions = _positions("positions", positions)
    tree = cKDTree(positions)
    pairs = tree.query_pairs(bond_length + tolerance, output_type="ndarray")
    lengths = np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1)
    bonds = pairs[lengths >= bond_length - tolerance]
    coordination = np.bincount(bonds.ravel(), minlength=len(positions))
    three = coordination == 3
    bad_neighbour = np.zeros(len(positions), dtype=bool)
    np.logical_or.at(bad_neighbour, bonds[:, 0], ~three[bonds[:, 1]])
    np.logical_or.at(bad_neighbour, bonds[:, 1], ~three[bonds[:, 0]])
    return three & ~bad_neighbour


def bond_lengths(positions, max_length: float = 1.8) -> np.ndarray:
    """All distances [Å] between positions closer than ``max_length`` (bond-length histogram).

    Examples
    --------
    >>> bond_lengths([[0, 0], [1.42, 0], [5, 5]]).round(2).tolist()
    [1.42]
    """
    positions = _positions("positions", positions)
    max_length = check_positive("max_length", max_length)
    pairs = cKDTree(positions).query_pairs(max_length, output_type="ndarray")
    return np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1)


def gaussian_peaks(
    image,
    sampling: float,
    sigma: float = 0.3,
    min_distance: float = 1.0,
    bright: bool = True,
    threshold: float = 0.0,
):
    """Baseline: Gaussian filter, then local maxima (or minima for dark atoms).

    Parameters
    ----------
    image
        2D image [x, y].
    sampling
        Pixel size [Å].
    sigma
        Gaussian filter σ [Å].
    min_distance
        Smallest separation of two peaks [Å].
    bright
        Atoms are bright (maxima) or dark (minima).
    threshold
        Keep peaks whose standardised filtered value ((v − mean)/std) is ≥ this.

    Returns
    -------
    positions (n, 2) [Å], scores (n,) the standardised filtered value at each peak

    Examples
    --------
    >>> image = np.zeros((40, 40)); image[10, 20] = image[30, 12] = 1
    >>> positions, scores = gaussian_peaks(image, sampling=0.1, sigma=0.2)
    >>> sorted(positions.round(1).tolist())
    [[1.0, 2.0], [3.0, 1.2]]
    """
    from scipy.ndimage import gaussian_filter
    from skimage.feature import peak_local_max

    array = check_finite_array("image", image, ndim=2)
    sampling = check_positive("sampling", sampling)
    sigma = check_positive("sigma", sigma)
    min_distance = check_positive("min_distance", min_distance)
    filtered = gaussian_filter(array if bright else -array, sigma / sampling)
    spread = filtered.std()
    standard = (filtered - filtered.mean()) / (spread if spread > 0 else 1.0)
    peaks = peak_local_max(
        standard,
        min_distance=max(1, round(min_distance / sampling)),
        threshold_abs=threshold,
        exclude_border=False,
    )
    return peaks * sampling, standard[tuple(peaks.T)]
