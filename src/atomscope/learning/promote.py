"""Replace a shipped model only by one that beats it (issue #21 item 4).

`score_model` measures a recognizer the two ways its card reports: the narrow validation
(held-out structures through the preset's evaluation microscope at 1e4 e⁻/Å²) and the random-lens
validation (held-out structures through random microscopes of the full preset ranges at one dose,
`lens_validation`). `beats` decides: better on the random lenses (more images at precision and
recall ≥ 0.9, or as many and a higher min(median precision, median recall)) while the narrow
precision and recall drop by at most 0.01. `replace_if_better` writes the candidate over the shipped file only then, atomically.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

__all__ = ["ModelScores", "beats", "replace_if_better", "score_model"]

#: seeds of the held-out structures: the random-lens set and the cards' narrow set
RANDOM_LENS_SEED = 2121
NARROW_SEED = 12345
#: how much the narrow precision or recall may drop for a model that generalises better
NARROW_TOLERANCE = 0.01


@dataclass(frozen=True)
class ModelScores:
    """A model's numbers on the narrow and the random-lens validation.

    Attributes
    ----------
    narrow_precision, narrow_recall
        Evaluation microscope, 1e4 e⁻/Å², the model's threshold (recall: ideal-lattice atoms
        for graphene, all atoms otherwise).
    random_lens
        `lens_validation.summarise` of the random-lens images (without the oracle).
    """

    narrow_precision: float
    narrow_recall: float
    random_lens: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON friendly)."""
        return asdict(self)


def score_model(
    recognizer,
    preset: str,
    structures: int = 6,
    microscopes: int = 4,
    dose: float = 1e4,
    narrow_structures: int = 5,
) -> ModelScores:
    """The narrow and random-lens numbers of ``recognizer`` for ``preset`` (graphene or gold).

    Examples
    --------
    >>> from atomscope.learning.infer import Recognizer
    >>> scores = score_model(Recognizer.pretrained("graphene"), "graphene", 1, 1, 1e4, 1)
    >>> scores.narrow_precision > 0.9, scores.random_lens["images"]
    (True, 1)
    """
    from atomscope.core.validate import check_choice, check_positive
    from atomscope.learning.data import generate
    from atomscope.learning.lens_validation import random_lens_scores, summarise
    from atomscope.learning.randomize import PRESETS
    from atomscope.learning.validate import (
        evaluate,
        evaluation_microscope,
        gold_evaluation_microscope,
    )

    check_choice("preset", preset, ("graphene", "gold"))
    dose = check_positive("dose", dose)
    gold = preset == "gold"
    kind = "gold" if gold else "polycrystalline"
    held_out = generate(kind, structures, rng=RANDOM_LENS_SEED)
    ranges = replace(PRESETS[preset], dose=(dose, dose))
    scores = random_lens_scores(
        recognizer, held_out, ranges, microscopes, rng=RANDOM_LENS_SEED, oracle=False
    )
    narrow_set = generate(kind, narrow_structures, rng=NARROW_SEED)
    microscope = gold_evaluation_microscope(1e4) if gold else evaluation_microscope(1e4)
    threshold = recognizer.metadata.get("threshold", 0.5)
    narrow = evaluate(recognizer, narrow_set, microscope, rng=1, thresholds=[threshold])
    recall = narrow["all" if gold else "ideal"].recall[0]
    return ModelScores(float(narrow["all"].precision[0]), float(recall), summarise(scores))


def _balanced(scores: ModelScores) -> float:
    """The lower of the median precision and median recall on the random lenses (a detector
    that marks every bright spot has recall 1 and no precision)."""
    lens = scores.random_lens
    return min(lens["median_precision"], lens["median_ideal_recall"])


def beats(candidate: ModelScores, reference: ModelScores) -> bool:
    """True when ``candidate`` generalises better and keeps the narrow numbers (within 0.01).

    Better on the random lenses: more images at precision and recall ≥ 0.9, or as many and a
    higher min(median precision, median recall).

    Examples
    --------
    >>> old = ModelScores(0.98, 0.99, {"median_precision": 0.1, "median_ideal_recall": 0.05,
    ...                                "images_at_level": 1})
    >>> new = ModelScores(0.975, 0.99, {"median_precision": 0.7, "median_ideal_recall": 0.6,
    ...                                 "images_at_level": 3})
    >>> beats(new, old), beats(old, new)
    (True, False)
    """
    ours, theirs = (
        candidate.random_lens["images_at_level"],
        reference.random_lens["images_at_level"],
    )
    better = ours > theirs or (ours == theirs and _balanced(candidate) > _balanced(reference))
    return (
        better
        and candidate.narrow_precision >= reference.narrow_precision - NARROW_TOLERANCE
        and candidate.narrow_recall >= reference.narrow_recall - NARROW_TOLERANCE
    )


def replace_if_better(
    candidate: str | os.PathLike,
    shipped: str | os.PathLike,
    preset: str,
    **settings,
) -> tuple[bool, ModelScores, ModelScores]:
    """Write the model file ``candidate`` over ``shipped`` (float16) only if it `beats` it.

    Parameters
    ----------
    candidate
        A `Recognizer` file (e.g. a training run's ``best.pt``).
    shipped
        The model file it may replace.
    preset
        ``"graphene"`` or ``"gold"``.
    settings
        Passed to `score_model`.

    Returns
    -------
    (promoted, candidate scores, shipped scores)
    """
    import tempfile

    from atomscope.learning.infer import Recognizer

    new, old = Recognizer.load(candidate), Recognizer.load(shipped)
    if (new.model.in_channels, new.class_names) != (old.model.in_channels, old.class_names):
        raise ValueError(
            f"candidate {str(candidate)!r} recognises {new.class_names} from "
            f"{new.model.in_channels} image(s), the shipped model {old.class_names} from "
            f"{old.model.in_channels}: not a replacement"
        )
    shipped = Path(shipped)
    with tempfile.TemporaryDirectory(dir=shipped.parent) as scratch:
        # score the candidate as it would ship: float16 weights
        rounded = Recognizer.load(new.save(Path(scratch) / "candidate.pt", half=True))
        new_scores = score_model(rounded, preset, **settings)
        old_scores = score_model(old, preset, **settings)
        better = beats(new_scores, old_scores)
        if better:
            rounded.metadata["validation_random_lens"] = new_scores.to_dict()
            rounded.save(shipped, half=True)
    return better, new_scores, old_scores
