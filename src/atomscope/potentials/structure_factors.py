"""Electron structure factors F(g) of a potential's cell, to compare with measured low-order
structure factors (CBED, Pendellösung) and between the DFT and independent-atom potentials.

F(g) = Σ_a f_e,a(|g|) e^{−2πi g·R_a} [Å] for the IAM; in general F(g) = Ω V_g / (h²/(2π m₀ e))
(Kirkland 2010, Eq 5.10 per atom), V_g the Fourier coefficient of the cell's potential [V] at
g = (h/a, k/b, l/c), Ω the cell volume. The X-ray (electron-density) structure factor follows
from it by Mott–Bethe, F_x(g) = Σ Z_a e^{−2πi g·R_a} − 2π² a₀ g² F(g) (a₀ the Bohr radius;
Kirkland 2010, Eq 5.15, g in 1/Å without 2π).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.units import Bohr

from atomscope.potentials.dft import DFTPotential, nuclear_remainder
from atomscope.potentials.parametrizations import load_parametrization
from atomscope.potentials.projected import FE_TO_POTENTIAL, Potential

__all__ = ["structure_factors", "xray_structure_factors"]


def _reflections(potential: Potential, hkl: Any) -> tuple[np.ndarray, np.ndarray, float]:
    if not isinstance(potential, Potential):
        raise TypeError(f"potential must be an atomscope Potential, got {type(potential).__name__}")
    indices = np.atleast_2d(np.asarray(hkl))
    if indices.ndim != 2 or indices.shape[1] != 3 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"hkl must be integer triples (h, k, l), got {hkl!r}")
    if np.any(np.all(indices == 0, axis=1)):
        raise ValueError("hkl (0, 0, 0) has no structure factor here (the cell average is a gauge)")
    atoms = potential.configurations[0].atoms
    lengths = np.diag(atoms.cell.array)
    return indices, indices / lengths, float(np.prod(lengths))


def structure_factors(potential: Potential, hkl: Any) -> np.ndarray:
    """Electron structure factors F(g) [Å] of the (first configuration's) cell.

    Parameters
    ----------
    potential
        An IAM `Potential` (from its scattering factors) or a `DFTPotential` (from its 3D
        Fourier coefficients, kept up to |g_i| ≤ 4 1/Å per axis, plus the nuclei).
    hkl
        Integer Miller indices of the orthorhombic cell, one triple or (n, 3).

    Returns
    -------
    numpy.ndarray
        Complex F(g) [Å], shape (n,).

    Examples
    --------
    >>> from ase.build import bulk
    >>> silicon = Potential(bulk("Si", cubic=True), sampling=0.1)
    >>> factors = structure_factors(silicon, [(1, 1, 1), (2, 0, 0), (2, 2, 2)])
    >>> np.round(np.abs(factors), 3).tolist()  # (200) and (222) vanish for spherical atoms
    [18.433, 0.0, 0.0]
    """
    indices, g, volume = _reflections(potential, hkl)
    atoms = potential.configurations[0].atoms
    magnitude = np.linalg.norm(g, axis=1)
    phases = np.exp(-2j * np.pi * g @ atoms.positions.T)  # (n, atoms)
    if not isinstance(potential, DFTPotential):
        table = load_parametrization(potential.parametrization)
        form = np.stack([table.scattering_factor(z, magnitude) for z in atoms.numbers], axis=1)
        return np.sum(form * phases, axis=1)
    part = potential.configurations[0]._parts[0]
    orders = np.array(part.orders)
    if np.any(np.abs(indices) > orders):
        raise ValueError(
            f"hkl beyond the stored low orders ±{tuple(int(n) for n in orders)} of this DFT "
            f"potential (|g| per axis ≤ 4 1/Å and the DFT grid)"
        )
    smooth = part.low_orders[tuple((indices % (2 * orders + 1)).T)]
    remainder = np.stack(
        [nuclear_remainder(magnitude, int(z), part.width) for z in atoms.numbers], axis=1
    )
    potential_g = smooth + np.sum(remainder * phases, axis=1) / volume  # V_g [V]
    return volume * potential_g / FE_TO_POTENTIAL


def xray_structure_factors(potential: Potential, hkl: Any) -> np.ndarray:
    """X-ray structure factors F_x(g) [electrons per cell] from `structure_factors` by
    Mott–Bethe: F_x = Σ Z_a e^{−2πi g·R_a} − 2π² a₀ g² F(g).

    Examples
    --------
    >>> from ase.build import bulk
    >>> silicon = Potential(bulk("Si", cubic=True), sampling=0.1)
    >>> round(float(abs(xray_structure_factors(silicon, [(1, 1, 1)])[0])), 1)  # 4√2 × f_x 10.54
    59.6
    """
    indices, g, _ = _reflections(potential, hkl)
    atoms = potential.configurations[0].atoms
    nuclei = np.exp(-2j * np.pi * g @ atoms.positions.T) @ atoms.numbers
    magnitude2 = np.sum(g**2, axis=1)
    # Mott–Bethe (Kirkland Eq 5.15): f_e(g) = (Z − f_x(g)) / (2π² a₀ g²)
    return nuclei - 2 * np.pi**2 * Bohr * magnitude2 * structure_factors(potential, indices)
