"""Scherzer defocus and the point resolution it gives."""

from __future__ import annotations

import numpy as np

from atomscope.core.energy import energy2wavelength
from atomscope.core.validate import check_real

SCHERZER_FACTOR = 1.2  # seed's definition, D = 1.2 √(Cs λ)


def _check_cs(Cs: float) -> float:
    Cs = check_real("Cs", Cs)
    if Cs == 0:
        raise ValueError("Cs must be nonzero for a Scherzer defocus, got 0.0")
    return Cs


def scherzer_defocus(Cs: float, energy: float) -> float:
    """Scherzer defocus D = 1.2 √(Cs λ) [Å], positive = underfocus (C10 = −D).

    The seed's definition (its Fig 2.3: 300 kV, Cs = 0.6 mm gives D = 412.4 Å, i.e.
    C10 = −41.24 nm). abTEM uses √(1.5 Cs λ) instead (420.9 Å for the same lens), the
    "extended" Scherzer focus; pass that value as ``defocus`` to reproduce abTEM. For
    negative Cs the mirror focus −1.2 √(|Cs| λ) (overfocus) is returned, which gives the same
    passband with reversed contrast (negative-Cs imaging).

    Parameters
    ----------
    Cs
        Spherical aberration C30 [Å] (0.6 mm is ``6e6``), nonzero.
    energy
        Electron energy [eV].

    Returns
    -------
    float
        Defocus [Å] (positive = underfocus).

    Examples
    --------
    >>> round(scherzer_defocus(6e6, 300e3), 1)
    412.4
    """
    Cs = _check_cs(Cs)
    wavelength = energy2wavelength(energy)
    # Scherzer (J. Appl. Phys. 20, 20 (1949)); seed Fig 2.3 convention D = 1.2 √(Cs λ)
    return float(np.sign(Cs) * SCHERZER_FACTOR * np.sqrt(abs(Cs) * wavelength))


def scherzer_point_resolution(Cs: float, energy: float) -> float:
    """Point resolution 1/k_p [Å] at `scherzer_defocus`: the first zero of sin χ.

    With χ = πλk²(½ Cs λ² k² − D) the first zero is k_p² = 2D/(Cs λ²); for D = 1.2 √(Cs λ)
    this gives 1/k_p = Cs^(1/4) λ^(3/4) / √2.4 ≈ 0.645 Cs^(1/4) λ^(3/4).

    Examples
    --------
    >>> round(scherzer_point_resolution(6e6, 300e3), 3)
    1.679
    """
    Cs = abs(_check_cs(Cs))
    wavelength = energy2wavelength(energy)
    # χ(k_p) = 0 for χ = πλk²(½Csλ²k² − D), D = 1.2√(Csλ) (seed Eq 2.11, Fig 2.3)
    return float(Cs**0.25 * wavelength**0.75 / np.sqrt(2 * SCHERZER_FACTOR))
