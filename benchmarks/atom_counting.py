"""Atom counting from a focal series (issue #18, seed Figs 6.29–6.30): errors vs dose and tilt.

Held-out relaxed ⟨110⟩ Au particles (``generate("gold-counting", N, rng=12345)``, a seed never
used in training; radius 6–14 Å, Wulff and random, EMT-relaxed) are imaged as the model's
focal series (seed Eq 6.19: C10 = −170, −40, +90 Å ± 20 Å, i.e. defocus = +170, +40, −90 Å)
through `counting_evaluation_microscope` (300 kV, Cs −15 µm, focal spread 29 Å, deflection
0.25 Å, exp_gauss MTF 0.05/0.48/2.45, 0.1 Å/px); the dose is the total over the three images.
Columns are matched one to one within 0.5 Å; a true column with no predicted column within
0.5 Å counts as off by its full count (predicted empty). Printed per dose (particles exactly on
⟨110⟩) and per tilt (the same particles tilted 0–3° in a random direction): the fractions of
true columns off by 0, 1, 2 and > 2 atoms, the missed columns and the predicted columns matched
to no true column (false positives, which the fractions do not see), next to the fractions of
answering the most common true count for every column. Issue #18 targets:
off by ≥ 1 at most 10 % at 1e4 and 5 % at 1e6 e⁻/Å², off by ≥ 2 below 1 %.

Writes out/benchmarks/atom_counting.png: the true counts of the first particle and the error
of every column at each dose (as seed Fig 6.29).

Usage (MODEL.pt defaults to the shipped gold-counting model):
    python benchmarks/atom_counting.py [MODEL.pt] [--structures 8] [--doses 1e3 1e4 1e5 1e6]
        [--tilts 0 1 2 3] [--tilt-doses 1e4 1e6] [--calibration 64] [--busy N]
"""

import argparse
import time
from pathlib import Path

import numpy as np
from contention import run

from atomscope.analysis.counting import FEATURE_RADII, CountingLibrary, column_features
from atomscope.learning import (
    FocalSeries,
    Recognizer,
    counting_evaluation_microscope,
    evaluate_counting,
    generate,
)
from atomscope.plot import save_figure

OUT = Path("out/benchmarks")
HELD_OUT = 12345  # never used to train (seed 0) or to check the model in the tests (2024)
CALIBRATION = 777  # the baseline's simulated calibration particles
#: its number: each count's 9-dimensional covariance needs many columns (8 particles, ~470
#: columns: 69 % exact at 1e6 e⁻/Å²; 32: 85 %)
CALIBRATION_STRUCTURES = 64
TARGETS = {1e4: 0.10, 1e6: 0.05}  # issue #18: off by one or worse, at most


def row(label, result):
    """One table row: fractions off by 0, 1, 2, > 2 atoms, ≥ 1, ≥ 2, missed, false positives."""
    f = result.fractions
    return (
        f"{label} | {f[0]:.3f} | {f[1]:.3f} | {f[2]:.3f} | {f[3]:.3f} | {1 - f[0]:.3f} | "
        f"{f[2] + f[3]:.3f} | {result.missed} | {result.false_positives}"
    )


HEADER = "off by 0 | 1 | 2 | >2 | ≥1 | ≥2 | missed | false positives"


def by_height(result):
    """Exact fraction for short (1–3 atoms) and taller true columns."""
    short = result.truth_counts <= 3
    exact = result.errors == 0
    return (
        f"exact: {exact[short].mean():.3f} of {short.sum()} columns of 1–3 atoms, "
        f"{exact[~short].mean():.3f} of {(~short).sum()} taller"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a Recognizer file; default: gold-counting")
    parser.add_argument("--structures", type=int, default=8)
    parser.add_argument("--doses", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--tilts", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--tilt-doses", type=float, nargs="+", default=[1e4, 1e6])
    parser.add_argument(
        "--calibration", type=int, default=CALIBRATION_STRUCTURES, help="baseline's particles"
    )
    args = parser.parse_args()
    if args.model is None:
        recognizer, name = Recognizer.pretrained("gold-counting"), "shipped gold-counting"
    else:
        recognizer, name = Recognizer.load(args.model), args.model
    counter = recognizer.column_counter
    print(
        f"model {name}: FusionNet {recognizer.metadata.get('iterations')} iterations, column "
        f"counter {'none' if counter is None else counter.metadata.get('training')}"
    )
    started = time.perf_counter()
    sets = {
        tilt: generate(
            "gold-counting", args.structures, rng=HELD_OUT, structure_options={"tilt": tilt}
        )
        for tilt in sorted({0.0, *args.tilts})
    }
    on_axis = sets[0.0]
    columns = sum(len(p) for p in on_axis.positions)
    print(
        f"{args.structures} held-out particles (seed {HELD_OUT}), {columns} columns, "
        f"simulated in {time.perf_counter() - started:.0f} s; matching radius 0.5 Å; a missed "
        "column is off by its full count"
    )
    truth = np.concatenate([recognizer.atoms_per_class[c] for c in on_axis.classes])
    mode = int(np.bincount(truth).argmax())
    off = np.abs(truth - mode)
    print(
        f"reference: answering the most common true count ({mode} atoms) for every column is "
        f"off by 0 / 1 / 2 / >2 for {np.mean(off == 0):.3f} / {np.mean(off == 1):.3f} / "
        f"{np.mean(off == 2):.3f} / {np.mean(off > 2):.3f}"
    )
    print(f"\non ⟨110⟩ (tilt 0) — total dose [e⁻/Å²] | {HEADER}")
    results = {}
    for dose in args.doses:
        results[dose] = evaluate_counting(
            recognizer, on_axis, counting_evaluation_microscope(dose), rng=0
        )
        print(row(f"{dose:8.0e}", results[dose]))
    for dose in args.doses:
        print(f"{dose:8.0e}: {by_height(results[dose])}")
    for dose, limit in TARGETS.items():
        if dose in results:
            worse = 1 - results[dose].fractions[0]
            two = results[dose].fractions[2:].sum()
            print(
                f"target at {dose:.0e}: off by ≥ 1 {worse:.3f} (≤ {limit}), off by ≥ 2 "
                f"{two:.3f} (< 0.01): {'met' if worse <= limit and two < 0.01 else 'NOT met'}"
            )
    calibration = generate("gold-counting", args.calibration, rng=CALIBRATION,
                           structure_options={"tilt": 0.0})  # fmt: skip
    print(
        "\nbaseline (analysis.counting: Voronoi cross-sections within 0.4/0.8/1.3 Å of the "
        "three images at the TRUE column positions, a Gaussian mixture calibrated on "
        f"{args.calibration} other simulated particles, seed {CALIBRATION}, scale fixed) — total "
        f"dose | {HEADER}"
    )
    for dose in args.doses:
        print(row(f"{dose:8.0e}", baseline(recognizer, calibration, on_axis, dose)))
    for dose in args.tilt_doses:
        print(f"\ntotal dose {dose:.0e} e⁻/Å² — tilt [°] | {HEADER}")
        for tilt in args.tilts:
            result = evaluate_counting(
                recognizer, sets[tilt], counting_evaluation_microscope(dose), rng=0
            )
            print(row(f"{tilt:4.1f}", result))
    print(f"\nerror maps: {plot_maps(recognizer, on_axis, args.doses)}")


def column_signals(data, index, microscope, rng):
    """Voronoi cross-sections [contrast · Å²] of every true column within 0.4, 0.8 and 1.3 Å in
    the focal series of structure ``index`` (each image minus its median, the vacuum level)."""
    images = FocalSeries().images(data.wave(index), microscope, rng)
    stack = np.stack([image.array for image in images])
    stack = stack - np.median(stack, axis=(1, 2), keepdims=True)
    return column_features(stack, data.positions[index], images[0].sampling, FEATURE_RADII)


def baseline(recognizer, calibration, data, dose):
    """The non-learning baseline scored like the network (given the true column positions)."""
    from atomscope.learning.validate import CountingEvaluation

    microscope = counting_evaluation_microscope(dose)
    atoms = recognizer.atoms_per_class
    rng = np.random.default_rng(0)
    features = [column_signals(calibration, i, microscope, rng) for i in range(len(calibration))]
    library = CountingLibrary.from_samples(
        np.concatenate(features), np.concatenate([atoms[c] for c in calibration.classes])
    )
    errors, truths = [], []
    for index in range(len(data)):
        truth = atoms[data.classes[index]]
        # simulated and measured images are normalised alike here: the scale stays 1
        signals = column_signals(data, index, microscope, rng)
        predicted = library.predict(signals, refine=False).counts
        errors.append(predicted - truth)
        truths.append(truth)
    truths = np.concatenate(truths)
    return CountingEvaluation(np.concatenate(errors), truths, 0, np.zeros(len(truths), int))


def plot_maps(recognizer, data, doses):
    """True atoms per column of particle 0 and its counting errors per dose (seed Fig 6.29)."""
    from matplotlib.figure import Figure

    first = data.__class__(
        data.waves[:1],
        data.positions[:1],
        data.classes[:1],
        data.sampling,
        data.energy,
        data.class_names,
    )
    truth = data.positions[0]
    counts = recognizer.atoms_per_class[data.classes[0]]
    fig = Figure(figsize=(3 * (len(doses) + 1), 3.2), layout="constrained")
    axes = fig.subplots(1, len(doses) + 1, sharex=True, sharey=True)
    shown = axes[0].scatter(*truth.T, c=counts, cmap="viridis", s=30)
    fig.colorbar(shown, ax=axes[0], shrink=0.8)
    axes[0].set_title("true atoms per column")
    for ax, dose in zip(axes[1:], doses, strict=True):
        errors = evaluate_counting(
            recognizer, first, counting_evaluation_microscope(dose), rng=0, margin=0.0
        ).errors
        shown = ax.scatter(*truth.T, c=errors, cmap="RdBu_r", vmin=-3, vmax=3, s=30)
        ax.set_title(f"error, {dose:.0e} e⁻/Å²")
    fig.colorbar(shown, ax=axes[-1], shrink=0.8)
    for ax in axes:
        ax.set_aspect("equal")
        ax.set_xlabel("x [Å]")
    axes[0].set_ylabel("y [Å]")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "atom_counting.png"
    save_figure(fig, path)
    return path


if __name__ == "__main__":
    run(main)
