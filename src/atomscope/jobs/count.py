"""The counting job: a focal series in, the number of atoms in every column written out.

Writes ``STEM_columns.csv`` (position [Å] and in pixels, atoms, score, the probability of each
count), ``STEM_columns.npz``, ``STEM_counts.png`` (columns coloured by count over the middle
image, and the histogram) named after the series, and ``summary.json``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _write_csv(path: Path, result, sampling, atoms_per_class) -> None:
    from atomscope.outputs import atomic_output

    pixels = result.positions / np.asarray(sampling)
    header = ["x_A", "y_A", "x", "y", "atoms", "score", *(f"p_{n}" for n in atoms_per_class)]
    with atomic_output(path) as tmp, open(tmp, "w") as handle:
        handle.write(",".join(header) + "\n")
        for (xa, ya), (x, y), count, score, probabilities in zip(
            result.positions, pixels, result.counts, result.scores, result.probabilities,
            strict=True,
        ):  # fmt: skip
            values = ",".join(f"{p:.4f}" for p in probabilities)
            handle.write(f"{xa:.4f},{ya:.4f},{x:.3f},{y:.3f},{count},{score:.4f},{values}\n")


def run_count(
    images,
    out: str | Path,
    model="gold-counting",
    threshold: float | None = None,
    name: str = "series",
) -> dict:
    """Count the atoms in every column of a focal series with a counting network.

    Parameters
    ----------
    images
        `Images` stack [k, x, y] ordered as the model's focal series (seed Eq 6.19), with its
        pixel size [Å].
    out
        Output directory; each series adds its own files (see the module).
    model
        A shipped counting model (``"gold-counting"``), a ``model.pt`` file or a `Recognizer`.
    threshold
        t of Eq 6.16 (default: the model's validated threshold).
    name
        The series' name: the outputs are named after its stem.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    from atomscope.core.memory import check_and_report
    from atomscope.images import Images
    from atomscope.io import write_npz
    from atomscope.learning.infer import Recognizer
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import counts_figure, save_figure
    from atomscope.summary import write_summary

    started = time.perf_counter()
    out = Path(out)
    recognizer = Recognizer.resolve(model)
    if recognizer.atoms_per_class is None:
        raise ValueError(
            f"--model {model!r} does not count atoms (no atoms per class); use a counting "
            "model such as 'gold-counting'"
        )
    array = images.array if images.array.ndim == 3 else images.array[None]
    if len(array) != recognizer.in_channels:
        raise ValueError(
            f"FOCAL_SERIES has {len(array)} image(s); the model {model!r} takes a focal series "
            f"of {recognizer.in_channels} (see its model card)"
        )
    stem = Path(name).stem
    outputs = [f"{stem}_columns.csv", f"{stem}_columns.npz", f"{stem}_counts.png", "summary.json"]
    claim_outputs(out, "count", outputs)
    nx, ny = array.shape[-2:]
    check_and_report(
        recognizer.memory_estimate(array.shape, images.sampling[0]),
        f"counting in a {len(array)}×{nx}×{ny} focal series at {images.sampling[0]:g} Å/px",
        "check --sampling (the series is resampled to the model's pixel size) or crop it",
    )
    result = recognizer.predict(array, images.sampling[0], threshold=threshold, progress=True)
    middle = Images(array[len(array) // 2], images.sampling)
    with staged_outputs(out, "count", keep_others=True) as stage:
        _write_csv(stage / outputs[0], result, images.sampling, recognizer.atoms_per_class)
        write_npz(
            stage / outputs[1],
            positions=result.positions,
            counts=result.counts,
            probabilities=result.probabilities,
            scores=result.scores,
            atoms_per_class=recognizer.atoms_per_class,
        )
        save_figure(counts_figure(middle, result), stage / outputs[2])
        histogram = np.bincount(result.counts) if len(result) else np.zeros(0, int)
        summary = write_summary(
            stage / "summary.json",
            "count",
            {"series": name, "model": str(model), "threshold": threshold},
            outputs,
            started,
            {
                "model": recognizer.metadata.get("name", str(model)),
                "sampling_A": images.sampling,
                "sampling_source": images.sampling_source,
                "num_columns": len(result),
                "num_atoms": int(np.sum(result.counts)) if len(result) else 0,
                "columns_per_count": {str(n): int(c) for n, c in enumerate(histogram) if c},
            },
        )
    print(
        f"{len(result)} columns, {summary['num_atoms']} atoms -> {out / outputs[0]} "
        f"(figure {out / outputs[2]})"
    )
    return summary
