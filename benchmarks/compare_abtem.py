"""Fidelity and speed against abTEM 1.0.11 on the seed's Au nanoparticle (issue #3).

abTEM runs in its own venv (never our dependency): set ABTEM_PYTHON to its interpreter, default
``.abtem-venv/bin/python`` (``make abtem-venv`` creates it). Prints

* relative L2 errors of the exit wave and of the quasi-coherent image;
* the exit-wave error when our multislice runs on abTEM's own potential slices, which separates
  the multislice from the potential (abTEM places atoms on the grid by bilinear interpolation,
  atomscope evaluates the structure factor exactly; see benchmarks/potential_convergence.py);
* times for exit wave + image with the potential included, cold (first run in a fresh
  process, FFT planning included) and warm (best of the next three), the speed-up abTEM /
  atomscope with abTEM at its defaults (one FFTW thread, issue #15's comparison) and with abTEM
  given two FFTW threads (our default uses the free cores), each
  code's time in units of the FFT floor (one forward + one inverse FFT and two complex
  multiplies per slice, timed here), and the potential's share of our warm total.
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
from contention import fresh_process, run

import atomscope as ats
from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace
from atomscope.jobs.hrtem import demo_structure
from atomscope.potentials.projected import PotentialSlice

SETTINGS = {
    "energy": 300e3,
    "gpts": [600, 570],  # 0.05 Å over the particle's cell; fixed on both sides (issue #15)
    "slice_thickness": 0.5,
    "Cs": 6e6,
    "semiangle_cutoff": 20.0,
    "focal_spread": 30.0,
}
SETTINGS["defocus"] = ats.scherzer_defocus(SETTINGS["Cs"], SETTINGS["energy"])


class GivenSlices:
    """abTEM's potential slices presented to our multislice."""

    def __init__(self, slices, potential):
        self.slices, self.grid, self.num_slices = slices, potential.grid, len(slices)
        self.gpts, self.sampling = potential.gpts, potential.sampling
        self.thickness = potential.thickness
        self.parametrization, self.projection = "abTEM lobato", "infinite"

    def generate_slices(self):
        for index, array in enumerate(self.slices):
            thickness = self.thickness / self.num_slices
            yield PotentialSlice(np.ascontiguousarray(array), thickness, index)


def relative_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def lens():
    return ats.CTF(
        energy=SETTINGS["energy"],
        Cs=SETTINGS["Cs"],
        defocus=SETTINGS["defocus"],
        semiangle_cutoff=SETTINGS["semiangle_cutoff"],
        focal_spread=SETTINGS["focal_spread"],
    )


def run_atomscope(atoms):
    """Exit wave, image and the time [s] for both, potential included."""
    start = time.perf_counter()
    potential = ats.Potential(
        atoms, gpts=SETTINGS["gpts"], slice_thickness=SETTINGS["slice_thickness"]
    )
    exit_wave = ats.PlaneWave(energy=SETTINGS["energy"]).multislice(potential)
    image = lens().image(exit_wave)
    return potential, exit_wave.array, image.array, time.perf_counter() - start


def potential_seconds(potential):
    start = time.perf_counter()
    for _ in potential.generate_slices():
        pass
    return time.perf_counter() - start


def fft_floor_seconds(gpts, num_slices, repeats=3):
    """num_slices × (forward + inverse FFT + two complex multiplies), best of ``repeats``."""
    wave, a, b = empty(gpts), empty(gpts), empty(gpts)
    wave[...], a[...], b[...] = 1, 1, 1 / (gpts[0] * gpts[1])
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(num_slices):
            wave *= a
            fft2_inplace(wave)
            wave *= b
            ifft2_inplace(wave, normalize=False)
        best = min(best, time.perf_counter() - start)
    return best


def run_abtem(atoms, fftw_threads=None):
    abtem_python = os.environ.get("ABTEM_PYTHON", str(Path(".abtem-venv/bin/python").absolute()))
    if not Path(abtem_python).exists():
        sys.exit(
            f"abTEM interpreter {abtem_python} not found: run `make abtem-venv` or set ABTEM_PYTHON"
        )
    with tempfile.TemporaryDirectory() as tmp:
        structure = Path(tmp) / "au.traj"
        ase.io.write(structure, atoms)
        reference = Path(tmp) / "abtem.npz"
        subprocess.run(
            [
                abtem_python,
                str(Path(__file__).with_name("abtem_reference.py")),
                str(structure),
                str(reference),
                json.dumps(SETTINGS),
                *([] if fftw_threads is None else [str(fftw_threads)]),
            ],
            check=True,
        )
        return dict(np.load(reference))


def main():
    atoms = demo_structure()
    potential, wave, image, cold = run_atomscope(atoms)
    warm = min(run_atomscope(atoms)[3] for _ in range(3))
    ours_potential = min(potential_seconds(potential), potential_seconds(potential))
    ref = run_abtem(atoms)
    two_threads = run_abtem(atoms, fftw_threads=2)
    floor = fft_floor_seconds(potential.gpts, potential.num_slices)
    same_potential = ats.PlaneWave(energy=SETTINGS["energy"]).multislice(
        GivenSlices(ref["slices"], potential)
    )
    abtem_cold, abtem_warm = float(ref["cold_seconds"]), float(ref["warm_seconds"])

    print(f"Au particle: {len(atoms)} atoms, grid {potential.gpts}, {potential.num_slices} slices")
    print(
        f"exit wave relative L2 error vs abTEM: {relative_l2(wave, ref['exit_wave']):.2%}"
        " (target ≤ 1 %)"
    )
    print(
        f"image relative L2 error vs abTEM:     {relative_l2(image, ref['image']):.2%}"
        " (target ≤ 1 %)"
    )
    print(
        "with abTEM's own potential slices: exit wave relative L2 error "
        f"{relative_l2(same_potential.array, ref['exit_wave']):.1e}, image "
        f"{relative_l2(lens().image(same_potential).array, ref['image']):.1e}"
    )
    print(f"FFT floor ({potential.num_slices} slices): {floor:.3f} s")
    if fresh_process():
        print(
            f"cold (planning included): atomscope {cold:.2f} s ({cold / floor:.1f}× floor), "
            f"abTEM {abtem_cold:.2f} s ({abtem_cold / floor:.1f}× floor), "
            f"speed-up {abtem_cold / cold:.2f}×"
        )
    print(
        f"warm: atomscope {warm:.3f} s ({warm / floor:.2f}× floor; target ≤ 1.3× quiet), "
        f"abTEM {abtem_warm:.2f} s ({abtem_warm / floor:.1f}× floor), "
        f"speed-up {abtem_warm / warm:.2f}× (target ≥ 5× quiet, ≥ 3× with one busy core)"
    )
    abtem_two = float(two_threads["warm_seconds"])
    print(
        f"warm, abTEM given 2 FFTW threads: {abtem_two:.2f} s ({abtem_two / floor:.1f}× floor), "
        f"speed-up {abtem_two / warm:.2f}×"
    )
    print(f"potential share of atomscope warm total: {ours_potential / warm:.1%} (target ≤ 30 %)")


if __name__ == "__main__":
    run(main)
