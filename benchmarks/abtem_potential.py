"""Run by benchmarks/potential_convergence.py with abTEM's own interpreter (a separate venv).

Usage: ABTEM_PYTHON abtem_potential.py STRUCTURE.traj OUT.npz SAMPLING [SAMPLING ...]
Writes abTEM 1.0.11's one-slice infinite-projection Lobato potential at each sampling.
"""

import sys

import abtem
import ase.io
import numpy as np

structure, out, samplings = sys.argv[1], sys.argv[2], [float(s) for s in sys.argv[3:]]
abtem.config.set({"device": "cpu", "diagnostics.progress_bar": False})
atoms = ase.io.read(structure)
arrays = {}
for sampling in samplings:
    potential = abtem.Potential(
        atoms,
        sampling=sampling,
        slice_thickness=atoms.cell[2, 2],
        parametrization="lobato",
        projection="infinite",
    )
    arrays[f"{sampling:g}"] = potential.build().compute().array[0]
np.savez(out, **arrays)
