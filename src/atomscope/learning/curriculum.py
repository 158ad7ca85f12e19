"""A curriculum over the microscope ranges, driven by validation (issue #21 item 1).

Training starts from the preset's easy ranges (`randomize.PRESET_EASY_RANGES`: high dose,
negative-Cs lens) and widens every parameter's range one level at a time toward the full ranges
(`randomize.blend` at fraction level / levels) each time the network's validation F1 on the
current level's ranges passes a threshold. Validation images come from held-out structures that
no training item uses, each through its own microscope drawn with a fixed seed, so a run and its
resumed continuation take the same decisions. Every validation is logged (`CurriculumLog`):
the level, the F1 on the current level and on the full ranges; the network with the best
full-range F1 is kept beside the latest.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CurriculumLog",
    "best_threshold",
    "median_f1",
    "plot_curriculum",
    "validation_dataset",
]

#: seed of the held-out validation structures (training structures are drawn from the run's seed
#: with ``generate``'s per-structure children; this seed is used by nothing else)
VALIDATION_SEED = 31337
#: thresholds t (Eq 6.16) a validation tries; it keeps the one with the best median F1 (a
#: network's peak probabilities rise during training, so a fixed t would misjudge early weights)
VALIDATION_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
#: structures validated on per preset (graphene: the polycrystalline held-out kind)
VALIDATION_STRUCTURES = {"graphene": "polycrystalline", "gold": "gold"}


def validation_dataset(preset: str, structures: int, path: str | os.PathLike):
    """The held-out validation structures of ``preset`` (simulated once, then read from
    ``path``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> data = validation_dataset("graphene", 1, pathlib.Path(tempfile.mkdtemp()) / "v")
    >>> len(data), data.class_names
    (1, ('C',))
    """
    from atomscope.learning.data import ExitWaveDataset, generate

    if preset not in VALIDATION_STRUCTURES:
        raise ValueError(
            f"preset {preset!r} has no random-lens validation; allowed: "
            f"{', '.join(VALIDATION_STRUCTURES)}"
        )
    path = Path(path)
    if path.exists():
        return ExitWaveDataset.open(path)
    return generate(VALIDATION_STRUCTURES[preset], structures, VALIDATION_SEED, path)


def median_f1(scores) -> tuple[float, float, float]:
    """Median over images of F1 = 2PR/(P + R) (all atoms), and the median P and R.

    Examples
    --------
    >>> from atomscope.learning.lens_validation import ImageScore
    >>> median_f1([ImageScore(0, {}, 1.0, 0.5, 0.5, 0, 0), ImageScore(1, {}, 0.5, 0.5, 0.5, 0, 0)])
    (0.5833333333333333, 0.75, 0.5)
    """
    precision = np.array([s.precision for s in scores])
    recall = np.array([s.recall for s in scores])
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(np.median(f1)), float(np.median(precision)), float(np.median(recall))


def best_threshold(sweep) -> tuple[float, float, float, float]:
    """The threshold of a `random_lens_sweep` with the highest median F1: (F1, P, R, t).

    Examples
    --------
    >>> from atomscope.learning.lens_validation import ImageScore
    >>> sweep = {0.3: [ImageScore(0, {}, 0.6, 0.9, 0.9, 0, 0)],
    ...          0.5: [ImageScore(0, {}, 0.9, 0.8, 0.8, 0, 0)]}
    >>> [round(v, 3) for v in best_threshold(sweep)]
    [0.847, 0.9, 0.8, 0.5]
    """
    return max((*median_f1(scores), t) for t, scores in sweep.items())


@dataclass
class CurriculumLog:
    """State of a curriculum: the level and every validation so far (checkpointed).

    Attributes
    ----------
    levels
        Levels between the easy (0) and the full ranges (``levels``); 0: no curriculum (the
        validations are still logged).
    threshold
        Validation F1 on the current level's ranges that moves to the next level.
    level
        Current level.
    best_f1
        Best full-range validation F1 so far (−1 before the first).
    history
        One dict per validation: ``iteration``, ``level`` (before the decision), ``fraction``,
        ``level_f1``, ``full_f1``, ``full_precision``, ``full_recall``, ``full_threshold`` (the
        F1s at the best of `VALIDATION_THRESHOLDS`).
    """

    levels: int
    threshold: float
    level: int = 0
    best_f1: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Position between the easy (0) and the full ranges (1)."""
        return self.level / self.levels if self.levels else 1.0

    def record(
        self, iteration: int, level_f1: float, full: tuple[float, float, float, float]
    ) -> bool:
        """Log one validation, move up a level when ``level_f1`` ≥ the threshold; True when the
        full-range F1 is the best so far. ``full``: (F1, precision, recall, threshold t).

        Examples
        --------
        >>> log = CurriculumLog(levels=2, threshold=0.8)
        >>> log.record(100, 0.85, (0.3, 0.5, 0.2, 0.4)), log.level, log.fraction
        (True, 1, 0.5)
        >>> log.record(200, 0.7, (0.2, 0.4, 0.1, 0.4)), log.level
        (False, 1)
        """
        self.history.append(
            {
                "iteration": int(iteration),
                "level": self.level,
                "fraction": self.fraction,
                "level_f1": float(level_f1),
                "full_f1": float(full[0]),
                "full_precision": float(full[1]),
                "full_recall": float(full[2]),
                "full_threshold": float(full[3]),
            }
        )
        if self.level < self.levels and level_f1 >= self.threshold:
            self.level += 1
        best = full[0] > self.best_f1
        self.best_f1 = max(self.best_f1, float(full[0]))
        return best

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (checkpoint and JSON friendly)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> CurriculumLog:
        """The log saved by `to_dict`."""
        return cls(**state)

    def write(self, path: str | os.PathLike) -> None:
        """JSON of the log (atomically)."""
        from atomscope.outputs import atomic_output

        with atomic_output(Path(path)) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1))


def plot_curriculum(log: CurriculumLog, path: str | os.PathLike) -> Path:
    """PNG: the ranges' position (easy 0 → full 1) and the validation F1s vs iteration.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = CurriculumLog(levels=2, threshold=0.8)
    >>> _ = log.record(100, 0.9, (0.3, 0.5, 0.2, 0.4))
    >>> plot_curriculum(log, pathlib.Path(tempfile.mkdtemp()) / "c.png").stat().st_size > 0
    True
    """
    from matplotlib.figure import Figure

    from atomscope.outputs import atomic_output

    path = Path(path)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    iterations = [h["iteration"] for h in log.history]
    ax.step(iterations, [h["fraction"] for h in log.history], "k-", where="post",
            label="ranges: easy (0) → full (1)")  # fmt: skip
    ax.plot(iterations, [h["level_f1"] for h in log.history], "o-", ms=3,
            label="validation F1, current ranges")  # fmt: skip
    ax.plot(iterations, [h["full_f1"] for h in log.history], "s-", ms=3,
            label="validation F1, full ranges")  # fmt: skip
    ax.axhline(log.threshold, color="0.6", ls=":", label=f"threshold {log.threshold:g}")
    ax.set_xlabel("iteration")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path
