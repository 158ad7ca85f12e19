"""
STEM of SrTiO3: HAADF and annular bright field
==============================================

In scanning TEM a focused probe (condenser aperture 20 mrad, 300 keV) is stepped across the
specimen; at each position the probe is propagated by multislice and the exit wave's
diffraction pattern is integrated over annular detectors.

* **HAADF** (70–200 mrad) collects electrons scattered to high angles, mostly by the nuclei:
  its signal grows roughly as Z^1.7, so along [001] of the perovskite SrTiO3 the Sr columns
  (Z = 38) are brightest, the Ti–O columns (Z = 22) weaker and the pure O columns invisible.
* **ABF** (annular bright field, 10–20 mrad, inside the probe's cone) shows every column as
  dark, oxygen included: light atoms become visible.

The scan covers one unit cell (the potential is periodic), drawn here as 3 × 3 cells.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from ase.spacegroup import crystal

import atomscope as ats
from atomscope.waves import AnnularDetector, GridScan, Probe

SMALL = os.environ.get("ATOMSCOPE_DOCS_SMALL") == "1"  # set by `make docs`

# perovskite SrTiO3, a = 3.905 Å (Pm-3m): Sr (0,0,0), Ti (½,½,½), O (½,½,0)
a = 3.905
unit_cell = crystal(
    ["Sr", "Ti", "O"], [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)], spacegroup=221, cellpar=a
)
cells = (2, 2, 4) if SMALL else (2, 2, 10)
atoms = unit_cell.repeat(cells)
print(f"{len(atoms)} atoms, {cells[2] * a:.1f} Å thick along [001]")

# %%
# Potential, probe and scan
# -------------------------
# HAADF needs angles up to 200 mrad: with the 2/3 anti-aliasing band limit the pixel must be
# below λ/(3 · 0.2 rad) ≈ 0.033 Å at 300 keV. The scan step is the probe's Nyquist step
# λ/(4 α) by default; here a fixed grid over one cell.

potential = ats.Potential(atoms, gpts=128 * cells[0], slice_thickness=a / 2)  # 0.031 Å
probe = Probe(energy=300e3, semiangle_cutoff=20)
detectors = [AnnularDetector(70, 200), AnnularDetector(10, 20)]
scan = GridScan(start=(0, 0), end=(a, a), gpts=16 if SMALL else 24)
haadf, abf = probe.scan(potential, detectors, scan)
print(f"grid {potential.gpts}, probe Nyquist step {probe.nyquist_sampling():.3f} Å")
print(f"scan {haadf.array.shape} positions at {haadf.sampling[0]:.3f} Å")

# %%
# The images
# ----------
# Detector signals are fractions of the probe's electrons (the probe is normalised to 1).

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
step = haadf.sampling[0]
extent = (-step / 2, 3 * a - step / 2, -step / 2, 3 * a - step / 2)  # pixel centres at positions
for ax, image, title in ((axes[0], haadf, "HAADF 70–200 mrad"), (axes[1], abf, "ABF 10–20 mrad")):
    tiled = np.tile(image.array, (3, 3))
    mappable = ax.imshow(
        tiled.T, origin="lower", extent=extent, cmap="gray", interpolation="bicubic"
    )
    fig.colorbar(mappable, ax=ax, label="fraction of probe intensity", shrink=0.85)
    ax.set_xlabel("scan x [Å]")
    ax.set_ylabel("scan y [Å]")
    ax.set_title(title)
    # the columns of the middle cell: Sr at the corners, Ti–O at the centre, O on the edges
    for symbol, (x, y), colour in (
        ("Sr", (1, 1), "C1"),
        ("Ti–O", (1.5, 1.5), "C2"),
        ("O", (1.5, 1), "C0"),
    ):
        ax.plot(x * a, y * a, "o", ms=14, mfc="none", mec=colour, mew=1.5)
        ax.annotate(
            symbol, (x * a, y * a - 0.45), color=colour, ha="center", va="top", weight="bold"
        )
plt.show()

n = haadf.array.shape[0]
sr, ti, o = (haadf.array[i, j] for i, j in ((0, 0), (n // 2, n // 2), (n // 2, 0)))
print(f"HAADF signal: Sr {sr:.4f}, Ti–O {ti:.4f}, O {o:.4f}")
