"""Recognition over the whole randomized microscope (issue #21): the network vs a lens-aware oracle.

Held-out structures (graphene: polycrystalline sheets, seed 2121; gold: random particles, seed
2121; never used in training) are imaged through microscopes drawn uniformly from the full seed
Table 6.1 ranges at one dose (1e4 e⁻/Å²), several per structure. Per image it prints the
network's precision and recall at its threshold and the lens-aware Wiener oracle's best ideal
recall at precision ≥ 0.9 (`atomscope.learning.lens_oracle`); then the issue's numbers: median
precision, median ideal recall, images with both ≥ 0.9, beside the oracle's. Last, the narrow
validation of the model card (evaluation microscope, 1e4) so a model that generalises can be
checked not to have lost it.

``--unknown-lens`` recognises every image (random and narrow) through
`atomscope.learning.lens_search.search_lens`: the lens is fitted from the image itself (Thon
rings, then the atoms' consistency) and the image re-imaged to the model's home lens first.

Usage:
    python benchmarks/recognition_generalisation.py [MODEL.pt] [--preset graphene|gold]
        [--structures 6] [--microscopes 4] [--dose 1e4] [--threshold T] [--promote]
        [--unknown-lens]

``--promote`` then writes MODEL.pt over the shipped model of --preset only if it beats it on both
validations (`atomscope.learning.promote`; narrow numbers within 0.01).
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from atomscope.learning.data import generate
from atomscope.learning.infer import Recognizer
from atomscope.learning.lens_validation import random_lens_scores, summarise
from atomscope.learning.randomize import PRESETS
from atomscope.learning.validate import evaluate, evaluation_microscope, gold_evaluation_microscope

OUT = Path("out/benchmarks")


def _narrow_unknown_lens(recognizer, dataset, microscope, gold: bool) -> dict:
    """The narrow validation (as `evaluate`, pooled over the images) through `search_lens`."""
    from types import SimpleNamespace

    from atomscope.learning.lens_search import search_lens
    from atomscope.learning.lens_validation import _truth
    from atomscope.learning.metrics import match, within
    from atomscope.learning.randomize import image_from_exit_wave

    generator = np.random.default_rng(1)
    totals = np.zeros(5)  # predicted, matched, truth, ideal matched, ideal truth
    for index in range(len(dataset)):
        image = image_from_exit_wave(dataset.wave(index), microscope, generator)
        sampling = image.sampling[0]
        extent = np.array(image.shape) * sampling
        truth, ideal = _truth(dataset, index, extent, 2.0, not gold)
        found = search_lens(recognizer, image.array, sampling).recognition
        predicted = found.positions[within(found.positions, extent, 2.0)]
        pairs = match(predicted, truth, 0.5)
        totals += [
            len(predicted),
            len(pairs.truth),
            len(truth),
            ideal[pairs.truth].sum(),
            ideal.sum(),
        ]

    def scores(precision: float, recall: float):
        return SimpleNamespace(precision=[precision], recall=[recall])

    return {
        "all": scores(totals[1] / max(totals[0], 1), totals[1] / max(totals[2], 1)),
        "ideal": scores(np.nan, totals[3] / max(totals[4], 1)),
    }


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
    parser.add_argument(
        "--unknown-lens", action="store_true", help="fit each image's lens, re-image, recognise"
    )
    args = parser.parse_args()

    gold = args.preset == "gold"
    recognizer = Recognizer.load(args.model) if args.model else Recognizer.pretrained(args.preset)
    data = generate("gold" if gold else "polycrystalline", args.structures, rng=args.seed)
    ranges = replace(PRESETS[args.preset], dose=(args.dose, args.dose))
    if args.threshold is not None:
        recognizer.metadata["threshold"] = args.threshold
    started = time.perf_counter()
    scores = random_lens_scores(
        recognizer, data, ranges, args.microscopes, rng=args.seed, unknown_lens=args.unknown_lens
    )
    seconds = time.perf_counter() - started
    how = "lens fitted from each image (search_lens)" if args.unknown_lens else "network alone"
    print(f"{args.preset} model {args.model or '(shipped)'}, {how}: {len(scores)} images, full "
          f"Table 6.1 lenses at {args.dose:g} e⁻/Å², threshold "
          f"{recognizer.metadata.get('threshold', 0.5)}, {seconds:.0f} s with the oracle")  # fmt: skip
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
    if args.unknown_lens:
        narrow = _narrow_unknown_lens(recognizer, narrow_data, microscope, gold)
    else:
        narrow = evaluate(recognizer, narrow_data, microscope, rng=1, thresholds=[threshold])
    print(
        f"narrow (evaluation microscope, 1e4, t = {threshold}): precision "
        f"{narrow['all'].precision[0]:.3f}, recall {narrow['all'].recall[0]:.3f}"
        + ("" if gold else f", ideal recall {narrow['ideal'].recall[0]:.3f}")
    )
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = "_unknown_lens" if args.unknown_lens else ""
    path = OUT / f"recognition_generalisation_{args.preset}{suffix}.json"
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
