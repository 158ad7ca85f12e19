"""Finite projection: atoms' potentials integrated between slice boundaries, in real space.

For every atom near a slice, ∫_{z0}^{z1} V(√(r² + z²)) dz is tabulated on a logarithmic radial
grid up to the radius where the infinite projection falls below the tolerance, shifted to go to
zero there, and interpolated onto the pixels inside that radius with periodic wrap-around.
"""

from __future__ import annotations

import numba
import numpy as np
from ase import Atoms

from atomscope.core.grid import Grid

_RADIAL_POINTS = 96


@numba.njit(cache=True, nogil=True)
def _add_radial_tables(array, positions, tables, log_r0, log_step, cutoff, sampling):
    nx, ny = array.shape
    n_table = tables.shape[1]
    reach_x = int(np.ceil(cutoff / sampling[0]))
    reach_y = int(np.ceil(cutoff / sampling[1]))
    for atom in range(positions.shape[0]):
        x0 = positions[atom, 0]
        y0 = positions[atom, 1]
        ix0 = int(np.floor(x0 / sampling[0]))
        iy0 = int(np.floor(y0 / sampling[1]))
        for ix in range(ix0 - reach_x, ix0 + reach_x + 2):
            dx = ix * sampling[0] - x0
            for iy in range(iy0 - reach_y, iy0 + reach_y + 2):
                dy = iy * sampling[1] - y0
                r = np.sqrt(dx * dx + dy * dy)
                if r >= cutoff:
                    continue
                t = (np.log(max(r, 1e-300)) - log_r0) / log_step
                if t <= 0.0:
                    value = tables[atom, 0]
                else:
                    i = int(t)
                    if i >= n_table - 1:
                        continue
                    w = t - i
                    value = (1.0 - w) * tables[atom, i] + w * tables[atom, i + 1]
                array[ix % nx, iy % ny] += value


class FiniteProjector:
    """Real-space finite projection of ``atoms`` on ``grid`` (see the module docstring)."""

    def __init__(self, atoms: Atoms, grid: Grid, parametrization, tolerance: float):
        self._grid = grid
        self._parametrization = parametrization
        self._numbers = atoms.numbers
        self._positions = atoms.positions
        self._cutoffs = {
            int(z): parametrization.cutoff(int(z), tolerance) for z in np.unique(atoms.numbers)
        }
        smallest = min(grid.sampling) / 4
        self._radii = {
            z: np.geomspace(smallest, cutoff, _RADIAL_POINTS) for z, cutoff in self._cutoffs.items()
        }

    def project(self, z0: float, z1: float) -> np.ndarray:
        """Projected potential [V·Å] between z0 and z1 [Å] (either may be ±inf), float32."""
        array = np.zeros(self._grid.gpts, dtype=np.float64)
        sampling = np.asarray(self._grid.sampling, dtype=np.float64)
        for z, cutoff in self._cutoffs.items():
            heights = self._positions[:, 2]
            near = (self._numbers == z) & (heights > z0 - cutoff) & (heights < z1 + cutoff)
            if not near.any():
                continue
            positions = self._positions[near]
            radii = self._radii[z]
            lower = (z0 - positions[:, 2])[:, None]
            upper = (z1 - positions[:, 2])[:, None]
            tables = self._parametrization.finite_projected_potential(
                z, radii[None, :], lower, upper
            )
            tables = tables - tables[:, -1:]
            log_step = np.log(radii[1] / radii[0])
            _add_radial_tables(
                array,
                positions[:, :2],
                np.ascontiguousarray(tables, dtype=np.float64),
                np.log(radii[0]),
                log_step,
                cutoff,
                sampling,
            )
        return array.astype(np.float32)
