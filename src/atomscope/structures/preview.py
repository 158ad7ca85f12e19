"""PNG preview of a structure: top view (down the beam, z), atoms coloured by element."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.data.colors import jmol_colors
from matplotlib.collections import EllipseCollection

from atomscope.outputs import atomic_output


def save_preview(atoms: Atoms, path: str | os.PathLike) -> Path:
    """Write a top-view PNG (x right, y up) with Jmol element colours and a formula title.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ase.build import bulk
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "preview.png"
    >>> save_preview(bulk("Au", cubic=True), path).stat().st_size > 0
    True
    """
    order = np.argsort(atoms.positions[:, 2])  # upper atoms drawn last, on top
    numbers = atoms.numbers[order]
    diameters = covalent_radii[numbers]
    figure, axes = plt.subplots(figsize=(5, 5))
    try:
        axes.add_collection(
            EllipseCollection(
                diameters,
                diameters,
                np.zeros(len(order)),
                units="xy",
                offsets=atoms.positions[order, :2],
                offset_transform=axes.transData,
                facecolors=jmol_colors[numbers],
                edgecolors="black",
                linewidths=0.3,
            )
        )
        if atoms.cell.rank >= 2:
            a, b = atoms.cell[0, :2], atoms.cell[1, :2]
            outline = np.array([np.zeros(2), a, a + b, b, np.zeros(2)])
            axes.plot(outline[:, 0], outline[:, 1], color="gray", linewidth=0.8)
        axes.autoscale_view()
        axes.set_aspect("equal")
        axes.set_title(f"{atoms.get_chemical_formula()} ({len(atoms)} atoms), top view")
        axes.set_xlabel("x [Å]")
        axes.set_ylabel("y [Å]")
        with atomic_output(path) as tmp:
            figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)
    return Path(path)
