"""Atom recognition (issue #7): precision/recall vs dose against the baseline, inference speed.

Writes the precision–recall curves per dose to out/benchmarks/recognition_PRESET.png.

Usage (MODEL.pt defaults to the shipped model of --preset):
    python benchmarks/recognition.py [MODEL.pt] [--structures 5] [--doses 1e2 1e3 1e4 1e5 1e6]
    python benchmarks/recognition.py MODEL.pt --preset gold
    python benchmarks/recognition.py MODEL.pt --speed-only
    python benchmarks/recognition.py [MODEL.pt] --defoci -200 -100 0 84 100 200

Held-out polycrystalline graphene (seed 12345, never used in training) is imaged through the
seed's evaluation microscope (80 kV, Cs −12 µm, C10 +84 Å, focal spread 35 Å, deflection
0.25 Å, exp_gauss MTF 0.05/0.48/2.45, 0.12 Å/px). Per dose it prints, for the network and for
the Gaussian-filter + local-maxima baseline, the best recall at precision ≥ 0.95 and the
precision/recall at t = 0.5, plus the ideal-lattice recall. Speed: one 1024² image, batched
tiles vs a plain one-tile-at-a-time loop, as a ratio measured in this run. ``--preset gold``:
held-out random Au particles (seed 12345) through `gold_evaluation_microscope` at 0.1 Å/px
(the ideal-lattice split is graphene's and is not printed). ``--defoci C10...`` [Å]: the same at
1e4 e⁻/Å² with the evaluation microscope refocused to each C10, curves per defocus (seed Fig
6.19b) in out/benchmarks/recognition_defocus_PRESET.png.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from contention import run

from atomscope.learning.data import generate
from atomscope.learning.infer import Recognizer
from atomscope.learning.randomize import image_from_exit_wave, refocus
from atomscope.learning.validate import (
    evaluate,
    evaluation_microscope,
    gold_evaluation_microscope,
)
from atomscope.plot import save_figure

OUT = Path("out/benchmarks")


def best_recall(evaluation, precision=None, min_precision=0.95):
    """Best recall of ``evaluation`` over the thresholds where ``precision`` (default its own)
    reaches ``min_precision``, and that threshold's index (-1 if none)."""
    precision = evaluation.precision if precision is None else precision
    ok = np.flatnonzero(precision >= min_precision)
    if not len(ok):
        return 0.0, -1
    index = ok[np.argmax(evaluation.recall[ok])]
    return float(evaluation.recall[index]), int(index)


def timed(run, repeats=5):
    """Median and best of ``repeats`` wall times [s] (the machine is shared)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), min(seconds), result


def speed(recognizer, data, microscope):
    """Seconds for a 1024² image (the first held-out image tiled) at the default settings, and
    for a plain loop over 256² tiles one at a time (median and best of 5)."""
    single = image_from_exit_wave(data.wave(0), microscope(1e4), rng=0)
    repeats = [int(np.ceil(1024 / n)) for n in single.shape]
    image = np.tile(single.array, repeats)[:1024, :1024]
    sampling = single.sampling[0]
    recognizer.predict(image[:256, :256], sampling)  # warm-up
    default, best, found = timed(lambda: recognizer.predict(image, sampling))
    loop, loop_best, _ = timed(lambda: recognizer.predict(image, sampling, tile=256))
    print(
        f"1024² inference ({len(found.positions)} atoms, width {recognizer.model.width}, "
        f"{torch.get_num_threads()} threads): median {default:.2f} s, best {best:.2f} s "
        f"(target < 1.5 s); a per-tile loop (256² tiles, one at a time) median {loop:.2f} s, "
        f"best {loop_best:.2f} s, ratio of medians {loop / default:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", nargs="?", help="a Recognizer file (model.pt); default: the shipped PRESET model"
    )
    parser.add_argument("--structures", type=int, default=5)
    parser.add_argument("--doses", type=float, nargs="+", default=[1e2, 1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--preset", choices=["graphene", "gold"], default="graphene")
    parser.add_argument("--defoci", type=float, nargs="+", help="C10 [Å] at 1e4 e⁻/Å² (Fig 6.19b)")
    args = parser.parse_args()
    if args.model is None:
        recognizer = Recognizer.pretrained(args.preset)
        args.model = f"shipped {args.preset}"
    else:
        recognizer = Recognizer.load(args.model)
    print(f"model {args.model}: {recognizer.metadata.get('iterations')} iterations")
    gold = args.preset == "gold"
    structures = 1 if args.speed_only else args.structures
    data = generate("gold" if gold else "polycrystalline", structures, rng=12345)
    microscope = gold_evaluation_microscope if gold else evaluation_microscope
    speed(recognizer, data, microscope)
    if args.speed_only:
        return
    model_threshold = float(recognizer.metadata.get("threshold", 0.5))
    thresholds = np.unique(np.append(np.linspace(0, 0.95, 20), model_threshold))
    at_model = int(np.flatnonzero(thresholds == model_threshold)[0])
    ideal_column = "" if gold else "ideal-lattice recall at precision ≥ 0.95 (P, t), "
    print(
        f"    condition | net: {ideal_column}recall at P ≥ 0.95, P/R at the model's "
        f"t = {model_threshold:g} | baseline: recall at P ≥ 0.95, best-F1 P/R"
    )
    conditions = (
        {f"C10 {c10:+.0f} Å": refocus(microscope(1e4), c10) for c10 in args.defoci}
        if args.defoci
        else {f"{dose:.0e} e⁻/Å²": microscope(dose) for dose in args.doses}
    )
    curves = {}
    for label, condition in conditions.items():
        results = evaluate(recognizer, data, condition, rng=0, thresholds=thresholds)
        net, ideal, base = results["all"], results["ideal"], results["baseline"]
        curves[label] = (net, base)
        f1 = 2 * base.precision * base.recall / np.maximum(base.precision + base.recall, 1e-9)
        b = int(np.argmax(f1))
        ideal_recall, t = best_recall(ideal, net.precision)
        ideal_text = (
            ""
            if gold
            else f"{ideal_recall:.3f} (P {net.precision[t]:.3f}, t {thresholds[t]:.2f}), "
        )
        print(
            f"{label:>13} | {ideal_text}{best_recall(net)[0]:.3f}, "
            f"{net.precision[at_model]:.3f}/{net.recall[at_model]:.3f} | "
            f"{best_recall(base)[0]:.3f}, {base.precision[b]:.3f}/{base.recall[b]:.3f}"
        )
    name = f"recognition_defocus_{args.preset}" if args.defoci else f"recognition_{args.preset}"
    print(f"precision–recall curves: {plot_curves(curves, args.preset, name)}")


def plot_curves(curves, preset, name):
    """Precision–recall curves over t per condition (dose or defocus), network and baseline (as
    seed Figs 6.17 and 6.19b), written to out/benchmarks/NAME.png."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for label, (net, base) in curves.items():
        for ax, evaluation in zip(axes, (net, base), strict=True):
            ax.plot(evaluation.recall, evaluation.precision, ".-", label=label)
    for ax, title in zip(
        axes, (f"network ({preset})", "Gaussian filter + local maxima"), strict=True
    ):
        ax.set(title=title, xlabel="recall", xlim=(0, 1.02), ylim=(0, 1.02))
    axes[0].set_ylabel("precision")
    axes[0].legend(loc="lower left")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    save_figure(fig, path)
    return path


if __name__ == "__main__":
    run(main)
