"""
Atomic models: graphene with defects, nanoparticles and supports
================================================================

Every simulation starts from an atomic model. ``atomscope.structures`` builds the ones the
seed thesis uses, each a plain ``ase.Atoms`` (positions in Å):

* ``graphene_sheet`` — an ideal sheet in a rectangular cell, here with a vacancy and a
  divacancy cut by hand;
* ``random_graphene`` — the seed's random carbon networks with 5–8-membered rings and holes,
  the network's training structures (its Fig 6.9);
* ``polycrystalline_graphene`` — grains of random orientation stitched along grain
  boundaries (its Fig 6.16);
* ``wulff_particle`` — the equilibrium (Wulff) shape of a gold particle from its surface
  energies;
* ``random_particle`` — the roughened training particles of seed Eq 6.18;
* ``orient`` and ``place_on_support`` — a particle turned to a zone axis and set on a slab.

The panels are top views (down the beam, z) unless marked, atoms in Jmol colours with the
upper atoms drawn last.
"""

import matplotlib.pyplot as plt
import numpy as np
from ase.build import fcc100
from ase.data import covalent_radii
from ase.data.colors import jmol_colors
from matplotlib.collections import LineCollection
from scipy.spatial import cKDTree

from atomscope.structures import (
    graphene_sheet,
    orient,
    place_on_support,
    polycrystalline_graphene,
    random_graphene,
    random_particle,
    wulff_particle,
)


def draw(ax, atoms, title, axes=(0, 1), bond=0.0):
    """Scatter the atoms projected on ``axes`` (0 = x, 1 = y, 2 = z), far atoms first, with
    lines between atoms closer than ``bond`` [Å] (C–C bonds show the rings)."""
    depth = 3 - sum(axes)  # the remaining axis
    if bond > 0:
        pairs = cKDTree(atoms.positions).query_pairs(bond, output_type="ndarray")
        segments = atoms.positions[pairs][:, :, list(axes)]
        ax.add_collection(LineCollection(segments, colors="0.55", linewidths=1, zorder=0))
    order = np.argsort(atoms.positions[:, depth])
    numbers = atoms.numbers[order]
    positions = atoms.positions[order]
    ax.scatter(
        positions[:, axes[0]],
        positions[:, axes[1]],
        s=40 * covalent_radii[numbers] ** 2,
        c=jmol_colors[numbers],
        edgecolors="0.2",
        linewidths=0.3,
    )
    names = "xyz"
    ax.set_xlabel(f"{names[axes[0]]} [Å]")
    ax.set_ylabel(f"{names[axes[1]]} [Å]")
    ax.set_title(f"{title}\n{atoms.get_chemical_formula()}", fontsize=10)
    ax.set_aspect("equal")


# %%
# Graphene: point defects, random networks, grain boundaries
# ----------------------------------------------------------
# Lattice sites are removed from an ideal sheet to make a vacancy and a divacancy; the random
# and polycrystalline builders take an ``rng`` (same seed, same structure).

fig, axes = plt.subplots(1, 3, figsize=(13, 4.8), layout="constrained")
sheet = graphene_sheet((4 * 2.46 * np.sqrt(3), 9 * 1.42 * 3 / 2))
centre = sheet.positions[:, :2].mean(axis=0)
distance = np.linalg.norm(sheet.positions[:, :2] - centre, axis=1)
nearest = np.argsort(distance)
vacancy = [nearest[0]]
offset = np.linalg.norm(sheet.positions[:, :2] - (centre + 6.0), axis=1)  # 6 Å along x and y
pair = np.argsort(offset)[:2]  # two neighbouring atoms: a divacancy
removed = sheet.positions[[*vacancy, *pair]]
del sheet[[*vacancy, *pair]]
draw(axes[0], sheet, "graphene_sheet, vacancy and divacancy (red)", bond=1.7)
axes[0].plot(*removed[:, :2].T, "o", ms=9, mfc="none", mec="C3", mew=1.5)

network = random_graphene(30.0, rng=1, num_holes=1)
draw(axes[1], network, "random_graphene (seed Fig 6.9)", bond=1.7)

grains = polycrystalline_graphene(30.0, num_grains=3, rng=2)
draw(axes[2], grains, "polycrystalline_graphene, 3 grains", bond=1.7)
plt.show()

# %%
# Nanoparticles and a supported particle
# --------------------------------------
# A Wulff particle with {100} facets costing 1.2 times the {111} energy, turned so that
# [110] points along the beam; a roughened random particle; and a small particle placed 2.3 Å
# above a Pt(100) slab, seen from the side (x–z).

fig, axes = plt.subplots(1, 3, figsize=(13, 4.8), layout="constrained")
wulff = orient(wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.2, 1.0], size=400), (1, 1, 0))
draw(axes[0], wulff, "wulff_particle, oriented to [110]")

rough = random_particle("Au", rng=3, radius=(8, 10), growth=0.3)
draw(axes[1], rough, "random_particle (seed Eq 6.18)")

slab = fcc100("Pt", size=(10, 4, 3), vacuum=5)
particle = wulff_particle("Au", [(1, 1, 1)], [1.0], size=80)
supported = place_on_support(particle, slab, distance=2.3)
draw(axes[2], supported, "place_on_support: Au on Pt(100), side view", axes=(0, 2))
plt.show()

for name, atoms in (("vacancies", sheet), ("random", network), ("grains", grains)):
    print(f"{name:10s} {len(atoms):5d} atoms, cell {atoms.cell.lengths().round(1)} Å")
print(f"Wulff particle {len(wulff)} atoms, random particle {len(rough)} atoms")
