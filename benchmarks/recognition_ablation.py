"""Model and loss choices measured, not assumed (issue #21 item 3): a short ablation.

Each variant trains from scratch for the same budget (graphene, 64² crops, 4 crops of one image
per step, lr 1e-3, exact augmentation, seed 0) on the same "medium" microscope ranges — a third
of the way from the easy ranges (high dose, negative-Cs lens) to the full Table 6.1 ranges
(dose 3e3–1e5) — and is validated like a curriculum step: the median F1 over held-out structures
through random microscopes of the medium and of the full ranges, at the best of five thresholds
(`learning.curriculum`). Variants: the seed's squared loss (Eq 6.6) with LCN at width 8
(baseline), atom classes weighted 4×, cross-entropy, per-image standardisation instead of LCN,
width 16.

    python benchmarks/recognition_ablation.py [--iterations 2000] [--variants baseline ...]
    python benchmarks/recognition_ablation.py --report      # the table of the finished variants

Each variant writes out/benchmarks/ablation/VARIANT/ (a resumable training directory) and
result.json; run two processes with different --variants to use two cores. An untrained
network marks every bright spot: F1 ≈ 0.2 (precision ≈ 0.1, recall 1) is the floor.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from atomscope.learning.curriculum import VALIDATION_THRESHOLDS, best_threshold, validation_dataset
from atomscope.learning.data import ExitWaveDataset, generate
from atomscope.learning.infer import Recognizer
from atomscope.learning.lens_validation import random_lens_sweep
from atomscope.learning.randomize import EASY_RANGES, GRAPHENE_80KV, blend
from atomscope.learning.train import TrainConfig, train

OUT = Path("out/benchmarks/ablation")
FULL = {"dose": (3e3, 1e5)}
MEDIUM_FRACTION = 1 / 3
VARIANTS = {
    "baseline": {},
    "atom-weight-4": {"atom_weight": 4.0},
    "cross-entropy": {"loss": "cross_entropy"},
    "standardised": {"normalization": "standard"},
    "width-16": {"width": 16},
}


def medium_ranges():
    full = replace(GRAPHENE_80KV, **FULL)
    return blend(replace(full, **EASY_RANGES), full, MEDIUM_FRACTION), full


def run_variant(name: str, iterations: int) -> dict:
    medium, full = medium_ranges()
    config = TrainConfig(
        preset="graphene",
        iterations=iterations,
        batch_size=4,
        crops_per_image=4,
        crop=64,
        width=8,
        learning_rate=1e-3,
        checkpoint_every=500,
        augment=True,
        ranges={k: getattr(medium, k) for k in ("C10", "Cs", "C5", "astigmatism", "dose")},
        **VARIANTS[name],
    )
    shared = OUT / "exit_waves"  # the variants train on the same 150 exit waves
    data = ExitWaveDataset.open(shared) if shared.exists() else generate("graphene", 150, 0, shared)
    start = time.perf_counter()
    result = train(config, OUT / name, dataset=data, progress=False)
    seconds = time.perf_counter() - start
    recognizer = Recognizer.load(OUT / name / "model.pt")
    validation = validation_dataset("graphene", 3, OUT / "validation")
    scores = {}
    for label, ranges, stream in (("medium", medium, 1), ("full", full, 2)):
        sweep = random_lens_sweep(
            recognizer,
            validation,
            ranges,
            VALIDATION_THRESHOLDS,
            4,
            rng=np.random.default_rng([31337, stream]),
            oracle=False,
        )
        f1, precision, recall, threshold = best_threshold(sweep)
        scores[label] = {"f1": f1, "precision": precision, "recall": recall, "threshold": threshold}
    record = {
        "variant": name,
        "settings": VARIANTS[name],
        "iterations": iterations,
        "train_seconds": seconds,
        "iterations_per_second": result.iterations_per_second,
        "last_loss": float(np.mean(result.losses[-100:])),
        **scores,
    }
    (OUT / name / "result.json").write_text(json.dumps(record, indent=1))
    return record


def report() -> None:
    print("variant        | medium F1 (P/R, t)      | full F1 (P/R, t)        | it/s  | minutes")
    for name in VARIANTS:
        path = OUT / name / "result.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        cells = [
            f"{r[k]['f1']:.3f} ({r[k]['precision']:.2f}/{r[k]['recall']:.2f}, {r[k]['threshold']:.1f})"
            for k in ("medium", "full")
        ]
        print(f"{name:14s} | {cells[0]:23s} | {cells[1]:23s} | "
              f"{r['iterations_per_second']:.2f}  | {r['train_seconds'] / 60:.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if not args.report:
        for name in args.variants:
            record = run_variant(name, args.iterations)
            print(
                f"{name}: medium F1 {record['medium']['f1']:.3f}, full F1 {record['full']['f1']:.3f}"
            )
    report()


if __name__ == "__main__":
    main()
