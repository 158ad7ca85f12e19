"""Recognition through random lenses on images made by another simulator (issue #21: "a hidden
set drawn the same way by another simulator checks it").

Six polycrystalline graphene sheets (seed 4242, never used in training or in
``recognition_generalisation.py``) are imaged by abTEM 1.0.11 (its own venv: ABTEM_PYTHON,
default ``.abtem-venv/bin/python``; ``make abtem-venv``) through 4 microscopes each, drawn from
the whole seed Table 6.1 at 1e4 e⁻/Å² (aberrations and focal spread in abTEM's CTF); the
deflection blur, the camera's MTF, pixel and shot noise are applied here. Per image: the shipped
graphene model alone and through `search_lens` (the lens fitted from the image), precision and
ideal recall against the truth; then the issue's numbers for both.

Usage: python benchmarks/recognition_vs_abtem.py [--structures 6] [--microscopes 4]
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import ase.io
import numpy as np

from atomscope.core.rng import as_generator
from atomscope.images import Images
from atomscope.learning.data import STRUCTURE_PRESETS, polycrystalline_structure
from atomscope.learning.infer import Recognizer
from atomscope.learning.lens_search import search_lens
from atomscope.learning.lens_validation import _precision_recall, _truth
from atomscope.learning.metrics import within
from atomscope.learning.randomize import GRAPHENE_80KV, _fast_camera, draw
from atomscope.optics.envelopes import deflect

SEED = 4242
EXTENT = STRUCTURE_PRESETS["polycrystalline"]["extent"]
SETTINGS = {"energy": 80e3, "sampling": 0.05, "slice_thickness": 1.0}


def abtem_intensities(structures, items) -> tuple[list[np.ndarray], float]:
    """abTEM's noise-free intensity of each (structure, lens) item and its pixel size [Å]."""
    python = os.environ.get("ABTEM_PYTHON", str(Path(".abtem-venv/bin/python").absolute()))
    script = Path(__file__).with_name("abtem_graphene_lenses.py")
    with tempfile.TemporaryDirectory() as folder:
        path, out = Path(folder) / "sheets.traj", Path(folder) / "images.npz"
        ase.io.write(path, structures)
        settings = json.dumps({**SETTINGS, "images": items})
        subprocess.run([python, str(script), str(path), str(out), settings], check=True)
        with np.load(out) as data:
            images = [data[f"image_{i}"] for i in range(len(items))]
            return images, float(data["sampling"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=6)
    parser.add_argument("--microscopes", type=int, default=4)
    args = parser.parse_args()
    children = as_generator(SEED).spawn(args.structures)
    sheets = [polycrystalline_structure(child, EXTENT) for child in children]
    truth = SimpleNamespace(positions=[positions for _, positions, _ in sheets])
    generator = np.random.default_rng(SEED)
    ranges = replace(GRAPHENE_80KV, dose=(1e4, 1e4))
    microscopes = [
        (index, draw(ranges, generator))
        for index in range(args.structures)
        for _ in range(args.microscopes)
    ]
    items = [
        {
            "structure": index,
            "focal_spread": microscope.ctf.focal_spread,
            "lens": {
                key: float(microscope.ctf.aberrations[key])
                for key in ("C10", "C12", "phi12", "C30", "C50")
            },
        }
        for index, microscope in microscopes
    ]
    intensities, sampling = abtem_intensities([atoms for atoms, _, _ in sheets], items)
    recognizer = Recognizer.pretrained("graphene")
    rows, started = [], time.perf_counter()
    print("image  C10[Å]  Cs[µm]  C5[mm]  C12[Å] | alone P  R_ideal | search P  R_ideal  C10 found")
    pairs = zip(microscopes, intensities, strict=True)
    for number, ((index, microscope), intensity) in enumerate(pairs):
        blurred = deflect(Images(intensity, sampling), microscope.ctf.deflection)
        camera = _fast_camera(microscope.camera, (EXTENT, EXTENT))
        image = camera.detect(blurred, rng=generator)
        pixel = image.sampling[0]
        extent = np.array(image.shape) * pixel
        atoms, ideal = _truth(truth, index, extent, 2.0, True)
        scores = []
        for found in (
            recognizer.predict(image.array, pixel),
            (estimate := search_lens(recognizer, image.array, pixel)).recognition,
        ):
            inside = found.positions[within(found.positions, extent, 2.0)]
            precision, _, ideal_recall = _precision_recall(inside, atoms, ideal, 0.5)
            scores.append((precision, ideal_recall))
        rows.append(scores)
        lens = microscope.ctf.aberrations
        print(
            f"{number:4d} {lens['C10']:7.0f} {lens['C30'] / 1e4:7.1f} {lens['C50'] / 1e7:6.2f} "
            f"{lens['C12']:6.0f}  | {scores[0][0]:.2f}  {scores[0][1]:.2f}    | "
            f"{scores[1][0]:.2f}  {scores[1][1]:.2f}    {estimate.aberrations['C10']:6.0f}",
            flush=True,
        )
    values = np.array(rows)
    for column, name in ((0, "network alone"), (1, "through search_lens")):
        precision, recall = values[:, column, 0], values[:, column, 1]
        level = int(np.sum((precision >= 0.9) & (recall >= 0.9)))
        print(
            f"{name}: median precision {np.median(precision):.2f} (target 0.9), median ideal "
            f"recall {np.median(recall):.2f} (target 0.8), {level} of {len(values)} images at P "
            f"and R >= 0.9 (target 7)"
        )
    print(f"{time.perf_counter() - started:.0f} s for {len(values)} images (both ways)")


if __name__ == "__main__":
    main()
