"""Recognition over the whole randomized microscope (issue #21): the network vs a lens-aware oracle.

Held-out structures (graphene: polycrystalline sheets, seed 2121; gold: random particles, seed
2121; never used in training) are imaged through microscopes drawn uniformly from the full seed
Table 6.1 ranges at one dose (1e4 e⁻/Å²), several per structure. Per image it prints the
network's precision and recall at its threshold and the lens-aware Wiener oracle's best ideal
recall at precision ≥ 0.9 (`atomscope.learning.lens_oracle`); then the issue's numbers: median
precision, median ideal recall, images with both ≥ 0.9, beside the oracle's. Last, the narrow
validation of the model card (evaluation microscope, 1e4) so a model that generalises can be
checked not to have lost it.

Usage:
    python benchmarks/recognition_generalisation.py [MODEL.pt] [--preset graphene|gold]
        [--structures 6] [--microscopes 4] [--dose 1e4] [--threshold T] [--promote]

``--promote`` then writes MODEL.pt over the shipped model of --preset only if it beats it on both
validations (`atomscope.learning.promote`; narrow numbers within 0.01).
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from atomscope.learning.data import generate
from atomscope.learning.infer import Recognizer
from atomscope.learning.lens_validation import random_lens_scores, summarise
from atomscope.learning.randomize import PRESETS
from atomscope.learning.validate import evaluate, evaluation_microscope, gold_evaluation_microscope

OUT = Path("out/benchmarks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="model.pt (default: the shipped one of --preset)")
    parser.add_argument("--preset", choices=("graphene", "gold"), default="graphene")
    parser.add_argument("--structures", type=int, default=6)
    parser.add_argument("--microscopes", type=int, default=4)
    parser.add_argument("--dose", type=float, default=1e4)
    parser.add_argument("--seed", type=int, default=2121)
    parser.add_argument("--threshold", type=float, help="t of Eq 6.16 (default: the model's)")
    parser.add_argument(
        "--promote", action="store_true", help="replace the shipped model if beaten"
    )
    args = parser.parse_args()

    gold = args.preset == "gold"
    recognizer = Recognizer.load(args.model) if args.model else Recognizer.pretrained(args.preset)
    data = generate("gold" if gold else "polycrystalline", args.structures, rng=args.seed)
    ranges = replace(PRESETS[args.preset], dose=(args.dose, args.dose))
    if args.threshold is not None:
        recognizer.metadata["threshold"] = args.threshold
    scores = random_lens_scores(recognizer, data, ranges, args.microscopes, rng=args.seed)
    print(f"{args.preset} model {args.model or '(shipped)'}: {len(scores)} images, full Table 6.1 "
          f"lenses at {args.dose:g} e⁻/Å², threshold {recognizer.metadata.get('threshold', 0.5)}")  # fmt: skip
    print("image  C10[Å]  Cs[µm]  C5[mm]  C12[Å]   P     R   R_ideal | oracle P  R")
    for i, s in enumerate(scores):
        lens = s.microscope["ctf"]
        print(
            f"{i:4d} {lens.get('C10', 0):7.0f} {lens.get('C30', 0) / 1e4:7.1f} "
            f"{lens.get('C50', 0) / 1e7:6.2f} {lens.get('C12', 0):6.0f}  "
            f"{s.precision:.2f}  {s.recall:.2f}  {s.ideal_recall:.2f}  |  "
            f"{s.oracle_precision:.2f}  {s.oracle_recall:.2f}"
        )
    summary = summarise(scores)
    print(
        f"network: median precision {summary['median_precision']:.2f} (target 0.9), median ideal "
        f"recall {summary['median_ideal_recall']:.2f} (target 0.8), {summary['images_at_level']}"
        f" of {summary['images']} images at P and R >= 0.9 (target 7)"
    )
    print(
        f"oracle (knows each lens; best threshold at P >= 0.9): median recall "
        f"{summary['oracle_median_recall']:.2f}, {summary['oracle_images_at_level']} of "
        f"{summary['images']} images at P and R >= 0.9"
    )
    narrow_data = generate("gold" if gold else "polycrystalline", 5, rng=12345)
    microscope = gold_evaluation_microscope(1e4) if gold else evaluation_microscope(1e4)
    threshold = recognizer.metadata.get("threshold", 0.5)
    narrow = evaluate(recognizer, narrow_data, microscope, rng=1, thresholds=[threshold])
    print(
        f"narrow (evaluation microscope, 1e4, t = {threshold}): precision "
        f"{narrow['all'].precision[0]:.3f}, recall {narrow['all'].recall[0]:.3f}"
        + ("" if gold else f", ideal recall {narrow['ideal'].recall[0]:.3f}")
    )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"recognition_generalisation_{args.preset}.json"
    path.write_text(
        json.dumps(
            {
                "summary": summary,
                "narrow_precision": float(narrow["all"].precision[0]),
                "narrow_recall": float(narrow["all"].recall[0]),
                "images": [s.to_dict() for s in scores],
            },
            indent=1,
            default=lambda value: np.asarray(value).tolist(),
        )
    )
    print(f"per-image scores: {path}")
    if args.promote and args.model:
        from atomscope.learning.infer import WEIGHTS
        from atomscope.learning.promote import replace_if_better

        promoted, new, old = replace_if_better(
            args.model, WEIGHTS / f"{args.preset}.pt", args.preset
        )
        print(f"candidate: {new.to_dict()}\nshipped:   {old.to_dict()}")
        print("promoted: the shipped model is replaced" if promoted else "not promoted")


if __name__ == "__main__":
    main()
