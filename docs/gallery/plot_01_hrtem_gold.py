"""
HRTEM of a gold nanoparticle: from atoms to camera counts
==========================================================

The image-formation model of the seed thesis (its Fig 2.2) step by step, on a small fcc gold
particle seen along a ⟨110⟩ zone axis at 300 keV:

1. the **projected potential** of the atoms, sliced along the beam (Lobato parametrization);
2. the **exit wave** after multislice propagation through the slices (seed Eq 2.9,
   ψ ← F⁻¹{P · F[t ψ]} with t = exp(iσV));
3. the **image** through the objective lens at Scherzer defocus, with its aperture and the
   partial-coherence envelopes (the CTF, seed Eq 2.20);
4. the **camera counts**: resampled to the detector pixels, Poisson shot noise with
   N = D δ² I expected electrons per pixel (seed Eq 2.22), then the detector MTF (Eq 2.21).
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from ase.cluster.cubic import FaceCenteredCubic
from matplotlib.colors import PowerNorm

import atomscope as ats
from atomscope.plot import show_image

SMALL = os.environ.get("ATOMSCOPE_DOCS_SMALL") == "1"  # set by `make docs`

# %%
# The particle
# ------------
# An fcc cluster bounded by {100}, {110} and {111} facets, turned by 45° about y so that a
# ⟨110⟩ direction points along the beam (z). Layers per facet family set its size.

layers = [4, 5, 4] if SMALL else [6, 9, 5]  # the README's particle
atoms = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], layers)
atoms.rotate(45, "y")
atoms.center(vacuum=2)
print(f"{len(atoms)} Au atoms in a {atoms.cell[0, 0]:.1f} × {atoms.cell[1, 1]:.1f} Å cell")

# %%
# Potential, exit wave, lens and camera
# -------------------------------------
# A sampling of 0.05 Å resolves the potential's cusps; the camera pixel (0.18 Å) is coarser,
# as on a real CCD. ``scherzer_defocus`` is positive for underfocus (defocus = −C10).

sampling = 0.05
potential = ats.Potential(atoms, sampling=sampling, slice_thickness=1.0)
exit_wave = ats.PlaneWave(energy=300e3).multislice(potential)
ctf = ats.CTF(
    energy=300e3,
    Cs=6e6,  # 0.6 mm
    defocus=ats.scherzer_defocus(6e6, 300e3),
    focal_spread=30,
    semiangle_cutoff=20,
)
image = ctf.image(exit_wave)
camera = ats.Camera(sampling=0.18, dose=1e4, mtf=ats.MTF("rational", c1=0.1, c2=0.5, c3=2.5))
counts = camera.detect(image, rng=0)
print(f"Scherzer defocus {ats.scherzer_defocus(6e6, 300e3):.1f} Å, grid {potential.gpts}")
print(f"mean counts per camera pixel {counts.array.mean():.0f} (D δ² = {1e4 * 0.18**2:.0f})")

# %%
# The four stages
# ---------------
# Columns of heavy gold atoms are dark at Scherzer defocus (phase contrast with sin χ < 0);
# the exit-wave phase is largest where columns are longest.

fig, axes = plt.subplots(2, 3, figsize=(12, 7.6), layout="constrained")
panels = [
    (potential.project(), potential.sampling, "projected potential", "V·Å", "viridis"),
    (np.abs(exit_wave.array), exit_wave.sampling, "exit wave amplitude", "|ψ|", "gray"),
    (np.angle(exit_wave.array), exit_wave.sampling, "exit wave phase", "rad", "twilight"),
    (image.array, image.sampling, "image (CTF, Scherzer)", "intensity", "gray"),
    (counts.array, counts.sampling, "camera, 1e4 e⁻/Å²", "electrons per pixel", "gray"),
]
for ax, (array, pixel, title, unit, cmap) in zip(axes.flat, panels, strict=False):
    mappable = show_image(ax, array, pixel, title, cmap=cmap, scale_bar=False)
    if unit == "V·Å":
        mappable.set_norm(PowerNorm(0.5))  # the potential peaks sharply at the nuclei
    fig.colorbar(mappable, ax=ax, label=unit, shrink=0.8)
    ax.set_axis_on()
    ax.set_xlabel("x [Å]")
    ax.set_ylabel("y [Å]")
ctf.plot(ax=axes[1, 2])
axes[1, 2].set_title("CTF, 300 keV, Cs 0.6 mm")
plt.show()
