"""The recognition job: an image in, the atoms a network finds written into a directory.

Each image adds ``STEM_atoms.csv`` (positions in Å and pixels, class, score), ``STEM_atoms.npz``
(also the probability maps) and ``STEM_atoms.png`` (overlay) named after the image, so the
results of several images sit side by side; ``summary.json`` is the last run's.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

#: Shipped models trained only on bright atoms in mostly empty images (negative-Cs HRTEM of a
#: particle, model card "Scope"): an image of theirs has an intensity histogram skewed high.
#: (A graphene sheet fills its image, so its histogram says nothing about the contrast.)
BRIGHT_ATOM_MODELS = ("gold",)


def _write_csv(path: Path, result, class_names, sampling) -> None:
    """Positions [Å] and in pixels of the input image (of pixel size ``sampling`` [Å])."""
    from atomscope.outputs import atomic_output

    pixels = result.positions / np.asarray(sampling)
    classes = np.argmax(result.probabilities, axis=1) if len(result) else np.zeros(0, int)
    with atomic_output(path) as tmp, open(tmp, "w") as handle:
        handle.write("x_A,y_A,x,y,class,score\n")
        for (xa, ya), (x, y), kind, score in zip(
            result.positions, pixels, classes, result.scores, strict=True
        ):
            handle.write(f"{xa:.4f},{ya:.4f},{x:.3f},{y:.3f},{class_names[kind]},{score:.4f}\n")


def run_recognize(
    image,
    out: str | Path,
    model="graphene",
    threshold: float | None = None,
    name: str = "image",
    confidence: bool = False,
    unknown_lens: bool = False,
) -> dict:
    """Find the atoms in ``image`` with a trained network and write them into ``out``.

    Parameters
    ----------
    image
        `Images` (2D) with its pixel size [Å].
    out
        Output directory; each image adds its own files (see the module).
    model
        Shipped model name (``"graphene"``, ``"gold"``), a ``model.pt`` file or a `Recognizer`.
    threshold
        t of Eq 6.16 (default: the model's validated threshold).
    name
        The image's file name: the outputs are named after its stem.
    confidence
        Also measure how well the atoms agree with those of the image's mirror images
        (`Recognizer.predict`'s ``confidence``, 4× the work); in the summary, with a warning
        when it is low.
    unknown_lens
        Fit the image's lens first (`atomscope.learning.lens_search.search_lens`: Thon rings,
        then the atoms' consistency) and recognise the image re-imaged to the model's own lens;
        the lens found goes into the summary.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    from atomscope.analysis.peaks import atoms_look_dark
    from atomscope.core.memory import check_and_report
    from atomscope.io import write_npz
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import save_figure
    from atomscope.summary import write_summary

    started = time.perf_counter()
    out = Path(out)
    stem = Path(name).stem
    outputs = [f"{stem}_atoms.csv", f"{stem}_atoms.npz", f"{stem}_atoms.png", "summary.json"]
    claim_outputs(out, "recognize", outputs)
    from atomscope.learning.infer import Recognizer

    recognizer = Recognizer.resolve(model)
    model_name = recognizer.metadata.get("name", str(model))
    nx, ny = image.shape[-2:]
    check_and_report(
        recognizer.memory_estimate(image.shape, image.sampling[0]),
        f"recognition in a {nx}×{ny} image at {image.sampling[0]:g} Å/px",
        "check --sampling (the image is resampled to the model's pixel size) or crop the image",
    )
    if unknown_lens:
        from atomscope.learning.lens_search import home_microscope

        home_microscope(recognizer, image.sampling[0])  # a model without a home lens: refused now
    elif model_name in BRIGHT_ATOM_MODELS and atoms_look_dark(image.array):
        warnings.warn(
            f"the {model_name!r} model is outside its scope here: it was trained on bright-atom "
            "images (negative-Cs HRTEM, see its model card), and this image has dark atoms on a "
            "bright background (positive Cs / Scherzer contrast?); its positions are not "
            "validated for such images",
            stacklevel=2,
        )
    lens = {}
    if unknown_lens:
        from atomscope.learning.lens_search import search_lens

        estimate = search_lens(
            recognizer,
            image.array,
            image.sampling[0],
            threshold=threshold,
            progress=True,
            confidence=confidence,
        )
        result = estimate.recognition
        lens = {"lens": estimate.aberrations, "lens_unexplained_power": estimate.unexplained}
    else:
        result = recognizer.predict(
            image.array,
            image.sampling[0],
            threshold=threshold,
            progress=True,
            confidence=confidence,
        )
    # each image adds its own files; earlier images' results stay
    with staged_outputs(out, "recognize", keep_others=True) as stage:
        _write_csv(stage / outputs[0], result, recognizer.class_names, image.sampling)
        write_npz(
            stage / outputs[1],
            positions=result.positions,
            probabilities=result.probabilities,
            scores=result.scores,
            maps=result.maps,
        )
        save_figure(result.plot(), stage / outputs[2])
        summary = write_summary(
            stage / "summary.json",
            "recognize",
            {
                "image": name,
                "model": str(model),
                "threshold": threshold,
                "confidence": confidence,
                "unknown_lens": unknown_lens,
            },
            outputs,
            started,
            {
                "model": model_name,
                "sampling_A": image.sampling,
                "sampling_source": image.sampling_source,
                "threshold": result.metadata["threshold"],
                "num_atoms": len(result),
                **({"confidence": result.confidence} if confidence else {}),
                **lens,
            },
        )
    agreement = f", confidence {result.confidence:.2f}" if confidence else ""
    print(f"{len(result)} atoms{agreement} -> {out / outputs[0]} (overlay {out / outputs[2]})")
    return summary
