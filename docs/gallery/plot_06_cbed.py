"""
Convergent-beam electron diffraction (CBED) of silicon
======================================================

A probe focused on the specimen with a convergence semi-angle α illuminates it with a cone of
plane waves, so each Bragg reflection becomes a disk of radius α in the diffraction plane.
Along the [001] zone axis of silicon the strongest reflections are {220} at
λ/d = λ/1.92 Å ≈ 13 mrad from the centre at 200 keV; with α = 5 mrad the disks do not overlap.

The intensity *inside* the disks is not uniform: multiple (dynamical) scattering exchanges
electrons between the beams as they travel through the crystal, so the disk contrast changes
with thickness — the reason CBED is used to measure it. The pattern is ``|F[ψ]|²`` of the exit
wave, normalised so that it sums to the probe's intensity, 1.
"""

import os

import matplotlib.pyplot as plt
from ase.build import bulk

from atomscope import Potential
from atomscope.waves import Probe

SMALL = os.environ.get("ATOMSCOPE_DOCS_SMALL") == "1"  # set by `make docs`

a = 5.431  # Si lattice parameter [Å]; the cubic cell puts [001] along z
lateral, gpts = (6, 512) if SMALL else (8, 1024)
probe = Probe(energy=200e3, semiangle_cutoff=5)
print(f"{lateral} × {lateral} cells ({lateral * a:.1f} Å), {gpts}² pixels")

# %%
# A thickness series
# ------------------
# The angular pixel is λ/extent: a wide cell gives finely sampled disks. Each thickness is a
# fresh multislice run with the probe focused on the entrance surface, on the atomic column at
# the centre of the field.

thicknesses = (4, 10, 20) if SMALL else (10, 20, 40)  # unit cells along z
fig, axes = plt.subplots(1, len(thicknesses), figsize=(14, 4.2), layout="constrained")
for ax, cells in zip(axes, thicknesses, strict=True):
    silicon = bulk("Si", cubic=True).repeat((lateral, lateral, cells))
    potential = Potential(silicon, gpts=gpts, slice_thickness=a / 4)
    middle = (lateral // 2 * a, lateral // 2 * a)
    cbed = probe.multislice(potential, position=middle).diffraction_pattern(max_angle=30)
    cbed.plot(ax=ax, log=True, title=f"t = {cells * a / 10:.1f} nm")
    print(f"t = {cells * a / 10:4.1f} nm: pattern sums to {cbed.array.sum():.3f}")
plt.show()
print(f"angular pixel {cbed.angular_sampling[0]:.2f} mrad")
