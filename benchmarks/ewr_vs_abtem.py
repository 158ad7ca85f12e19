"""Exit-wave reconstruction of a focal series made by another simulator (issue #16).

abTEM 1.0.11 (its own venv: ABTEM_PYTHON, default ``.abtem-venv/bin/python``; ``make
abtem-venv``) simulates the seed's Au nanoparticle and its focal series with the issue's lens
(300 keV, Cs 0.6 mm, focal spread 30 Å, 20 mrad hard aperture, 20 defoci −300…650 Å, 600×570
pixels); atomscope reconstructs it and is scored against abTEM's own exit wave limited to the
aperture. Printed: the relative L2 error (global phase removed) noise-free (target ≤ 3 %) and
with 1e4 e/Å² Poisson noise per image (target ≤ 10 %), iterations and time.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ase.io
import numpy as np
from contention import run

from atomscope import CTF, Waves
from atomscope.detection import Camera
from atomscope.jobs.hrtem import demo_structure
from atomscope.reconstruction.focal_series import aperture_limited, focal_series_ewr, wave_error

SETTINGS = {
    "energy": 300e3,
    "gpts": [600, 570],
    "slice_thickness": 0.5,
    "Cs": 6e6,
    "semiangle_cutoff": 20.0,
    "focal_spread": 30.0,
    "defoci": np.linspace(-300, 650, 20).tolist(),
}
DOSE = 1e4  # [e/Å²]


def abtem_series() -> dict:
    python = os.environ.get("ABTEM_PYTHON", str(Path(".abtem-venv/bin/python").absolute()))
    script = Path(__file__).with_name("abtem_focal_series.py")
    with tempfile.TemporaryDirectory() as folder:
        structure, out = Path(folder) / "au.traj", Path(folder) / "series.npz"
        ase.io.write(structure, demo_structure())
        subprocess.run(
            [python, str(script), str(structure), str(out), json.dumps(SETTINGS)], check=True
        )
        with np.load(out) as data:
            return {name: data[name] for name in data.files}


def main() -> None:
    series = abtem_series()
    sampling = tuple(float(s) for s in series["sampling"])
    lens = CTF(
        energy=SETTINGS["energy"],
        Cs=SETTINGS["Cs"],
        semiangle_cutoff=SETTINGS["semiangle_cutoff"],
        focal_spread=SETTINGS["focal_spread"],
    )
    truth = aperture_limited(Waves(series["exit_wave"], sampling, SETTINGS["energy"]), lens)
    camera = Camera(sampling=sampling, dose=DOSE)
    counts = camera.detect(series["images"], rng=0, sampling=sampling).array
    noisy = counts / (DOSE * sampling[0] * sampling[1])
    for label, images, target in (
        ("noise-free", series["images"], 0.03),
        ("1e4 e/Å²", noisy, 0.10),
    ):
        start = time.perf_counter()
        result = focal_series_ewr(images, SETTINGS["defoci"], lens, sampling, max_iter=200)
        seconds = time.perf_counter() - start
        error = wave_error(result.exit_wave, truth)
        print(
            f"abTEM series, {label}: error {error:.2e} (target ≤ {target:g}), "
            f"{result.iterations} iterations, {seconds:.2f} s"
        )


if __name__ == "__main__":
    sys.exit(run(main))
