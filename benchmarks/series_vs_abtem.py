"""Image series made by another simulator (issue #18: "a hidden series made by another
simulator checks the same numbers").

abTEM 1.0.11 (its own venv: ABTEM_PYTHON, default ``.abtem-venv/bin/python``; ``make
abtem-venv``) images the benchmark's hopping scenes (`hopping_edge`: the slab with drift steps
≤ 0.4 Å and the island with steps ≤ 1.5 Å, 300 frames each) with the lens of
``image_series.py``, each frame's atoms moved by its drift; Poisson counts are drawn here at
3.1e2, 1e3 and 1e4 e⁻/Å² per frame and written as an ImageJ TIFF stack, which
``atomscope series`` reads like a user's file. Printed per scene and dose, against the truth:
the largest and mean occurrence error [percentage points] (target ≤ 3), the fraction of sites
with events within 20 %, and the drift RMS error (target ≤ 0.05 Å).
"""

import csv
import json
import os
import subprocess
import tempfile
from pathlib import Path

import ase.io
import numpy as np
from contention import run
from image_series import FRAMES, LENS
from scipy.spatial import cKDTree

from atomscope.analysis.synthetic_series import hopping_edge
from atomscope.cli import main as atomscope
from atomscope.io import write_tiff

SETTINGS = {
    "energy": LENS.energy,
    "Cs": -15e4,
    "defocus": float(-LENS.aberrations["C10"]),
    "semiangle_cutoff": 25.0,
    "focal_spread": 30.0,
    "sampling": 0.05,
    "slice_thickness": 1.0,
    "camera_sampling": 0.1,
}
CASES = (("slab", 0.4), ("island", 1.5))
DOSES = (3.1e2, 1e3, 1e4)  # e⁻/Å² per frame


def abtem_frames(trajectory, drift) -> tuple[np.ndarray, float]:
    """abTEM's noise-free intensity [t, x, y] of every frame and its pixel size [Å]."""
    python = os.environ.get("ABTEM_PYTHON", str(Path(".abtem-venv/bin/python").absolute()))
    script = Path(__file__).with_name("abtem_hopping_series.py")
    with tempfile.TemporaryDirectory() as folder:
        path, out = Path(folder) / "frames.traj", Path(folder) / "frames.npz"
        ase.io.write(path, trajectory)
        settings = json.dumps({**SETTINGS, "drift": np.asarray(drift).tolist()})
        subprocess.run([python, str(script), str(path), str(out), settings], check=True)
        with np.load(out) as data:
            return data["frames"], float(data["sampling"][0])


def score(folder: Path, scene) -> str:
    """The series command's sites and drift against the scene's truth."""
    with open(folder / "sites.csv") as handle:
        rows = list(csv.DictReader(handle))
    sites = np.array([[float(r["x_A"]), float(r["y_A"])] for r in rows])
    distance, index = cKDTree(sites).query(scene.columns)
    occurrence = np.array([float(rows[i]["occurrence"]) for i in index])
    events = np.array([float(rows[i]["events"]) for i in index])
    true_occurrence = scene.occupancy.mean(axis=0)
    true_events = np.mean(scene.occupancy[1:] != scene.occupancy[:-1], axis=0)
    occurrence_error = 100 * np.abs(occurrence - true_occurrence)
    event_error = np.abs(events - true_events) / true_events
    with np.load(folder / "series.npz") as data:
        drift_error = np.sqrt(np.mean((data["drift"] - scene.drift) ** 2))
    return (
        f"occurrence error max {occurrence_error.max():.1f} / mean {occurrence_error.mean():.1f}"
        f" pp, events within 20 % at {np.mean(event_error <= 0.2) * 100:.0f} % of sites, drift "
        f"RMS error {drift_error:.3f} Å, sites missed {int(np.sum(distance > 0.3))}"
    )


def main() -> None:
    rng = np.random.default_rng(0)
    for name, step in CASES:
        scene = hopping_edge(FRAMES, size=8, step=step, island=name == "island", rng=rng)
        intensity, sampling = abtem_frames(scene.trajectory, scene.drift)
        intensity = intensity / intensity.mean(axis=(1, 2), keepdims=True)
        for dose in DOSES:
            counts = rng.poisson(intensity * dose * sampling**2).astype(np.float32)
            with tempfile.TemporaryDirectory() as folder:
                stack, out = Path(folder) / "series.tif", Path(folder) / "out"
                write_tiff(stack, counts, sampling=sampling)
                options = ["--spacing", "2.0", "--max-step", str(max(2.0, 1.6 * step))]
                options.append("--periodic")  # abTEM's frames of a periodic cell
                atomscope(["series", str(stack), *options, "--out", str(out)])
                print(
                    f"abTEM {name}, steps ≤ {step} Å, {dose:.2g} e⁻/Å²/frame: {score(out, scene)}"
                )


if __name__ == "__main__":
    run(main)
