"""Frozen phonons in HRTEM: a static Au particle next to the average over 8 Einstein snapshots.

Run: python examples/frozen_phonons.py [OUTPUT_DIR]
"""

import sys
from pathlib import Path

from ase.cluster.cubic import FaceCenteredCubic

import atomscope as ats
from atomscope import plot
from atomscope.thermal import EinsteinPhonons, debye_sigma

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/frozen_phonons")
atoms = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [3, 4, 3])
atoms.center(vacuum=2)
sigma = debye_sigma("Au", temperature=300)  # rms displacement per axis [Å]
snapshots = EinsteinPhonons(atoms, sigmas=sigma, num_configs=8, rng=0)

ctf = ats.CTF(
    energy=300e3,
    Cs=6e6,
    defocus=ats.scherzer_defocus(6e6, 300e3),
    focal_spread=30,
    semiangle_cutoff=20,
)
images = {}
for name, specimen in (("static", atoms), ("thermal", snapshots)):
    potential = ats.Potential(specimen, sampling=0.1, slice_thickness=1.0)
    images[name] = ctf.image(ats.PlaneWave(energy=300e3).multislice(potential))
    plot.image_png(out / f"{name}.png", images[name], f"{name} Au particle")

contrast = {name: float(image.array.std() / image.array.mean()) for name, image in images.items()}
print(
    f"σ(Au, 300 K) = {sigma:.3f} Å; image contrast static {contrast['static']:.3f}, "
    f"thermal {contrast['thermal']:.3f} -> {out}/"
)
