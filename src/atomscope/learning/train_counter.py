"""Training of a `ColumnCounter`: simulated focal series of relaxed particles through random
microscopes, every column of one series per step, cross-entropy on its true atoms."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from atomscope.core.validate import check_positive, check_positive_int
from atomscope.learning.column_counter import (
    DEFAULT_GEOMETRY,
    ColumnCounter,
    PatchGeometry,
    column_patches,
    vacuum_relative,
)

#: σ [Å] of the jitter of a column's place in training: the found positions of the
#: ``gold-counting`` FusionNet are off by about this much
POSITION_SIGMA = 0.08
SCHEDULES = ("one-cycle", "cosine")


def _series_stream(data, ranges, series, geometry, seed):
    """Endless (patches, classes) of the columns of one simulated focal series at a time."""
    import torch

    from atomscope.learning.randomize import draw

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            torch.set_num_threads(1)
            rng = np.random.default_rng(seed)
            while True:
                index = int(rng.integers(len(data)))
                images = series.images(data.wave(index), draw(ranges, rng), rng)
                stack = vacuum_relative(np.stack([image.array for image in images]))
                sampling = float(np.mean(images[0].sampling))
                patches = column_patches(
                    stack, sampling, data.positions[index], geometry, rng, POSITION_SIGMA
                )
                classes = np.asarray(data.classes[index], np.int64)
                yield torch.from_numpy(patches), torch.from_numpy(classes)

    return Stream()


def train_column_counter(
    data,
    out: str | os.PathLike,
    iterations: int = 4000,
    learning_rate: float = 2e-3,
    schedule: str = "one-cycle",
    width: int = 32,
    geometry: PatchGeometry = DEFAULT_GEOMETRY,
    seed: int = 0,
    init: ColumnCounter | None = None,
    checkpoint_every: int = 500,
    progress: bool = True,
) -> ColumnCounter:
    """Train a counter on ``data`` (`generate("gold-counting", …)`: exit waves, column positions,
    classes) imaged as the preset's focal series (seed Eq 6.19) through microscopes drawn from
    ``GOLD_COUNTING_300KV`` without the brightness/contrast/gamma jitter (the counts are in
    the contrast relative to the vacuum).

    One step: one focal series, all its columns (patches turned, mirrored and jittered by
    `POSITION_SIGMA`), Adam with weight decay 1e-5 on the cross-entropy. ``schedule``:
    ``"one-cycle"`` (up to ``learning_rate`` over the first 10 %, then down) or ``"cosine"``
    (from ``learning_rate`` to 0, for fine-tuning ``init``). The series are drawn in one
    worker process while the network trains. Writes ``out/column_counter.pt`` every
    ``checkpoint_every`` steps and at the end.

    Returns
    -------
    ColumnCounter
    """
    import torch

    from atomscope.learning.data import STRUCTURE_PRESETS
    from atomscope.learning.randomize import GOLD_COUNTING_300KV, PRESET_FOCAL_SERIES

    iterations = check_positive_int("iterations", iterations)
    learning_rate = check_positive("learning_rate", learning_rate)
    checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ranges = replace(GOLD_COUNTING_300KV, brightness=(0, 0), contrast=(1, 1), gamma=(1, 1))
    series = PRESET_FOCAL_SERIES["gold-counting"]
    atoms = np.array(STRUCTURE_PRESETS["gold-counting"]["atoms_per_class"])
    torch.manual_seed(seed)
    counter = init or ColumnCounter(atoms, series.num_images, width, geometry)
    counter.metadata = {
        "training": {
            "iterations": iterations,
            "learning_rate": learning_rate,
            "schedule": schedule,
            "seed": seed,
            "structures": len(data),
            "position_sigma": POSITION_SIGMA,
            "fine_tuned": init is not None,
        }
    }
    network = counter.network.train()
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=1e-5)
    if schedule == "one-cycle":
        steps = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=learning_rate, total_steps=iterations, pct_start=0.1
        )
    else:
        steps = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, iterations)
    source = _series_stream(data, ranges, series, counter.geometry, seed + 1)
    loader = iter(
        torch.utils.data.DataLoader(source, batch_size=None, num_workers=1, prefetch_factor=4)
    )
    started, losses = time.perf_counter(), []
    bar = tqdm(range(1, iterations + 1), desc="column counter", disable=not progress)
    for iteration in bar:
        patches, classes = next(loader)
        loss = torch.nn.functional.cross_entropy(counter.logits(patches), classes)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        steps.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses[-100:]):.3f}")
        if iteration % checkpoint_every == 0 or iteration == iterations:
            counter.metadata["iterations"] = iteration
            counter.metadata["seconds"] = round(time.perf_counter() - started, 1)
            counter.metadata["final_loss"] = round(float(np.mean(losses[-100:])), 4)
            counter.save(out / "column_counter.pt")
    return counter
