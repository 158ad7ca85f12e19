"""Validation over random microscopes, image by image (issue #21, seed Figs 6.17–6.19).

`random_lens_scores` images every held-out exit wave through several microscopes drawn from a
`MicroscopeRanges` (e.g. the whole of seed Table 6.1 at one dose), recognises the atoms and
scores each image on its own: precision over all atoms, recall over all and over ideal-lattice
atoms (graphene; every atom otherwise), next to the lens-aware oracle of `lens_oracle` at its
best threshold for a target precision. `summarise` gives the issue's numbers: median precision,
median ideal recall, images with both ≥ 0.9.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from atomscope.core.rng import as_generator
from atomscope.core.validate import check_positive, check_positive_int, check_range
from atomscope.learning.metrics import ideal_lattice, match, within

__all__ = ["ImageScore", "random_lens_scores", "random_lens_sweep", "summarise"]

#: regularisations α the oracle tries per image (it keeps the best)
ORACLE_REGULARIZATIONS = (0.01, 0.05, 0.2)


@dataclass(frozen=True)
class ImageScore:
    """One validation image: the network's scores at its threshold and the oracle's best.

    Attributes
    ----------
    structure
        Index of the exit wave in the dataset.
    microscope
        Every setting of the drawn microscope (`Microscope.parameters`).
    precision, recall, ideal_recall
        The network at its threshold (Eq 6.17; ideal: ideal-lattice truth atoms).
    oracle_precision, oracle_recall
        The lens-aware oracle at the threshold and regularisation giving the highest ideal
        recall with precision ≥ the target (0, 0 if none reaches it).
    """

    structure: int
    microscope: dict[str, Any]
    precision: float
    recall: float
    ideal_recall: float
    oracle_precision: float
    oracle_recall: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON friendly)."""
        return asdict(self)


def _truth(dataset, index: int, extent: np.ndarray, margin: float, graphene: bool):
    truth = dataset.positions[index]
    if graphene:  # neighbours across the periodic cell decide the ideal lattice
        tiled = np.concatenate(
            [truth + np.array([i, j]) * extent for i in (-1, 0, 1) for j in (-1, 0, 1)]
        )
        ideal = ideal_lattice(tiled)[4 * len(truth) : 5 * len(truth)]
    else:
        ideal = np.ones(len(truth), bool)
    inside = within(truth, extent, margin)
    return truth[inside], ideal[inside]


def _precision_recall(predicted, truth, ideal, radius: float) -> tuple[float, float, float]:
    pairs = match(predicted, truth, radius)
    precision = len(pairs.truth) / len(predicted) if len(predicted) else 1.0
    recall = len(pairs.truth) / max(len(truth), 1)
    ideal_recall = int(ideal[pairs.truth].sum()) / max(int(ideal.sum()), 1)
    return precision, recall, ideal_recall


def _oracle(image, microscope, sampling, truth, ideal, extent, margin, radius, target):
    from atomscope.learning.lens_oracle import linear_transfer, oracle_peaks

    best = (0.0, 0.0)
    transfer = linear_transfer(microscope, np.shape(image), sampling)
    for alpha in ORACLE_REGULARIZATIONS:
        peaks, heights = oracle_peaks(image, microscope, sampling, alpha, transfer=transfer)
        keep = within(peaks, extent, margin)
        peaks, heights = peaks[keep], heights[keep]
        for t in np.quantile(heights, np.linspace(0, 0.95, 40)) if len(heights) else []:
            precision, _, ideal_recall = _precision_recall(
                peaks[heights >= t], truth, ideal, radius
            )
            if precision >= target and ideal_recall > best[1]:
                best = (precision, ideal_recall)
    return best


def random_lens_sweep(
    recognizer,
    dataset,
    ranges,
    thresholds,
    microscopes: int = 4,
    rng: int | np.random.Generator | None = 0,
    radius: float = 0.5,
    margin: float = 2.0,
    oracle: bool = True,
    target_precision: float = 0.9,
    unknown_lens: bool = False,
) -> dict[float, list[ImageScore]]:
    """`random_lens_scores` at several thresholds from one recognition per image.

    The segmentation does not depend on t (Eq 6.16 only drops segments whose peak score is
    below it), so each image is recognised once at t = 0 and its atoms filtered per threshold.

    Returns
    -------
    dict
        threshold → list of `ImageScore` (the same images and oracle for every threshold).

    Examples
    --------
    >>> from dataclasses import replace
    >>> from atomscope.learning.data import generate
    >>> from atomscope.learning.infer import Recognizer
    >>> from atomscope.learning.randomize import GRAPHENE_80KV
    >>> data = generate("polycrystalline", 1, rng=1, extent=24.0, sampling=0.1)
    >>> ranges = replace(GRAPHENE_80KV, dose=(1e4, 1e4))
    >>> sweep = random_lens_sweep(Recognizer.pretrained("graphene"), data, ranges, [0.3, 0.5], 1)
    >>> sorted(sweep), sweep[0.3][0].recall >= sweep[0.5][0].recall
    ([0.3, 0.5], True)
    """
    from atomscope.learning.infer import Recognizer
    from atomscope.learning.lens_search import search_lens
    from atomscope.learning.randomize import check_ranges, draw, image_from_exit_wave

    if not isinstance(recognizer, Recognizer):
        raise TypeError(f"recognizer must be a Recognizer, got {type(recognizer).__name__}")
    check_ranges(ranges, dataset.energy)
    thresholds = [check_range("thresholds", float(t), 0.0, 1.0) for t in np.atleast_1d(thresholds)]
    if not thresholds:
        raise ValueError("thresholds must not be empty")
    microscopes = check_positive_int("microscopes", microscopes)
    radius = check_positive("radius", radius)
    margin = check_range("margin", margin, 0.0, np.inf)
    target = check_range("target_precision", target_precision, 0.0, 1.0)
    generator = as_generator(rng)
    graphene = tuple(dataset.class_names) == ("C",)
    sweep: dict[float, list[ImageScore]] = {t: [] for t in thresholds}
    for index in range(len(dataset)):
        for _ in range(microscopes):
            microscope = draw(ranges, generator)
            image = image_from_exit_wave(dataset.wave(index), microscope, generator)
            sampling = image.sampling[0]
            extent = np.array(image.shape) * sampling
            truth, ideal = _truth(dataset, index, extent, margin, graphene)
            if unknown_lens:  # the lens found from the image, then re-imaged to the model's own
                found = search_lens(recognizer, image.array, sampling, threshold=0.0).recognition
            else:
                found = recognizer.predict(image.array, sampling, threshold=0.0)
            inside = within(found.positions, extent, margin)
            best = (
                _oracle(
                    image.array, microscope, sampling, truth, ideal, extent, margin, radius, target
                )
                if oracle
                else (np.nan, np.nan)
            )
            for t in thresholds:
                predicted = found.positions[inside & (found.scores >= t)]
                precision, recall, ideal_recall = _precision_recall(predicted, truth, ideal, radius)
                sweep[t].append(
                    ImageScore(
                        index,
                        microscope.parameters(),
                        precision,
                        recall,
                        ideal_recall,
                        float(best[0]),
                        float(best[1]),
                    )
                )
    return sweep


def random_lens_scores(
    recognizer,
    dataset,
    ranges,
    microscopes: int = 4,
    rng: int | np.random.Generator | None = 0,
    threshold: float | None = None,
    radius: float = 0.5,
    margin: float = 2.0,
    oracle: bool = True,
    target_precision: float = 0.9,
    unknown_lens: bool = False,
) -> list[ImageScore]:
    """Score ``recognizer`` image by image on random microscopes from ``ranges``.

    Parameters
    ----------
    recognizer
        A single-image `Recognizer`.
    dataset
        Held-out `ExitWaveDataset` (graphene: ideal-lattice recall; other classes: all atoms).
    ranges
        `MicroscopeRanges` the microscopes are drawn from (e.g. Table 6.1 with the dose fixed).
    microscopes
        Microscopes per exit wave (the images are structure-major).
    rng
        Seed or generator for the microscopes and the shot noise.
    threshold
        t of Eq 6.16; default the model's.
    radius
        Matching radius [Å].
    margin
        Atoms closer than this to the image edge are ignored [Å].
    oracle
        Also score the lens-aware oracle (`lens_oracle.oracle_peaks`).
    target_precision
        Precision the oracle's threshold must reach.
    unknown_lens
        Recognise through `lens_search.search_lens` (the lens found from each image, which is
        then re-imaged to the model's home lens) instead of the network alone.

    Returns
    -------
    list of ImageScore

    Examples
    --------
    >>> from atomscope.learning.data import generate
    >>> from atomscope.learning.infer import Recognizer
    >>> from atomscope.learning.randomize import GRAPHENE_80KV
    >>> held_out = generate("polycrystalline", 1, rng=1, extent=14.0, sampling=0.1)
    >>> model = Recognizer.pretrained("graphene")
    >>> [s.structure for s in random_lens_scores(model, held_out, GRAPHENE_80KV, 2, oracle=False)]
    [0, 0]
    """
    if threshold is None:
        threshold = getattr(recognizer, "metadata", {}).get("threshold", 0.5)
    sweep = random_lens_sweep(
        recognizer,
        dataset,
        ranges,
        [threshold],
        microscopes,
        rng,
        radius,
        margin,
        oracle,
        target_precision,
        unknown_lens,
    )
    return next(iter(sweep.values()))


def summarise(scores: list[ImageScore], level: float = 0.9) -> dict[str, float]:
    """Issue #21's numbers of a list of `ImageScore`.

    Returns
    -------
    dict
        ``median_precision``, ``median_ideal_recall``, ``images_at_level`` (precision and ideal
        recall ≥ ``level``), the oracle's ``oracle_median_recall`` and ``oracle_images_at_level``
        and ``images``.

    Examples
    --------
    >>> score = ImageScore(0, {}, 0.95, 0.9, 0.92, 0.9, 0.8)
    >>> summarise([score, score])["images_at_level"]
    2
    """
    if not scores:
        raise ValueError("scores must not be empty")
    precision = np.array([s.precision for s in scores])
    ideal = np.array([s.ideal_recall for s in scores])
    oracle_precision = np.array([s.oracle_precision for s in scores])
    oracle_recall = np.array([s.oracle_recall for s in scores])
    return {
        "images": len(scores),
        "median_precision": float(np.median(precision)),
        "median_ideal_recall": float(np.median(ideal)),
        "images_at_level": int(np.sum((precision >= level) & (ideal >= level))),
        "oracle_median_recall": float(np.median(oracle_recall)),
        "oracle_images_at_level": int(
            np.sum((oracle_precision >= level) & (oracle_recall >= level))
        ),
    }
