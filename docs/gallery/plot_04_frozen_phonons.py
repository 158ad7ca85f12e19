"""
Frozen phonons: averaging over thermal configurations
=====================================================

A fast electron crosses the specimen in ~1e-16 s, far quicker than an atom vibrates (~1e-13
s), so each electron sees a frozen snapshot of the thermally displaced atoms; the image is the
incoherent average of the snapshots' images (seed §2.5, the frozen-phonon approximation). In
the Einstein model every atom is displaced independently by a Gaussian of standard deviation σ
per axis, here from the Debye model of gold at 300 K (σ ≈ 0.09 Å).

Averaging the exit waves ⟨ψ⟩ keeps the coherent ("elastic") part; the difference
``⟨|ψ|²⟩ − |⟨ψ⟩|²`` is the thermal diffuse intensity, scattered mostly at the atomic columns.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from ase.cluster.cubic import FaceCenteredCubic

import atomscope as ats
from atomscope.plot import show_image
from atomscope.thermal import EinsteinPhonons, debye_sigma
from atomscope.waves import frozen_phonon_average

SMALL = os.environ.get("ATOMSCOPE_DOCS_SMALL") == "1"  # set by `make docs`
num_configs = 16 if SMALL else 40

atoms = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [3, 4, 3])
atoms.center(vacuum=2)
sigma = debye_sigma("Au", temperature=300)  # rms displacement per axis [Å]
snapshots = EinsteinPhonons(atoms, sigmas=sigma, num_configs=num_configs, rng=0)
print(f"σ(Au, 300 K) = {sigma:.3f} Å, {num_configs} configurations of {len(atoms)} atoms")

ctf = ats.CTF(
    energy=300e3,
    Cs=6e6,
    defocus=ats.scherzer_defocus(6e6, 300e3),
    focal_spread=30,
    semiangle_cutoff=20,
)
plane_wave = ats.PlaneWave(energy=300e3)

# %%
# Static and thermal images
# -------------------------
# ``frozen_phonon_average`` streams the configurations one at a time and keeps running sums
# only: ⟨ψ⟩, ``⟨|ψ|²⟩`` and the mean image with the lens applied per configuration.

static = ctf.image(plane_wave.multislice(ats.Potential(atoms, sampling=0.05, slice_thickness=1)))
thermal = ats.Potential(snapshots, sampling=0.05, slice_thickness=1.0)
average = frozen_phonon_average(plane_wave, thermal, ctf=ctf)

fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
panels = [
    (static.array, "static lattice", "intensity"),
    (average.image.array, f"thermal average of {average.num_configs}", "intensity"),
    (average.diffuse_intensity.array, "diffuse ⟨|ψ|²⟩ − |⟨ψ⟩|² (exit wave)", "intensity"),
]
for ax, (array, title, unit) in zip(axes, panels, strict=True):
    mappable = show_image(ax, array, static.sampling, title, scale_bar=False)
    fig.colorbar(mappable, ax=ax, label=unit, shrink=0.8)
    ax.set_axis_on()
    ax.set_xlabel("x [Å]")
    ax.set_ylabel("y [Å]")
plt.show()
for name, image in (("static", static.array), ("thermal", average.image.array)):
    print(f"{name:8s} image contrast std/mean = {image.std() / image.mean():.4f}")

# %%
# How many configurations?
# ------------------------
# Two independent averages, each over N different configurations, differ by an amount
# falling as 1/√N, the Monte Carlo rate: each configuration is an independent draw. The same
# images, summed, also reproduce the streamed mean of ``frozen_phonon_average``.

images = np.stack([ctf.image(plane_wave.multislice(p)).array for p in thermal.configurations])
half = num_configs // 2
count = np.arange(1, half + 1)
first = np.cumsum(images[:half], axis=0) / count[:, None, None]
second = np.cumsum(images[half:], axis=0) / count[:, None, None]
difference = np.sqrt(np.mean((first - second) ** 2, axis=(1, 2))) / images.mean()
streamed = np.abs(images.mean(axis=0) - average.image.array).max()
print(f"largest pixel difference, stacked vs streamed mean: {streamed:.1e}")

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.loglog(count, difference, "o-", label="two independent averages")
ax.loglog(count, difference[0] / np.sqrt(count), "k--", label="∝ 1/√N")
ax.set_xlabel("configurations per average N")
ax.set_ylabel("RMS difference / mean intensity")
ax.set_title("frozen-phonon convergence")
ax.legend()
plt.show()
