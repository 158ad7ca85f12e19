"""Thermal vibration amplitudes from the Debye model."""

from __future__ import annotations

import numpy as np
from ase.data import atomic_masses, atomic_numbers
from scipy import constants
from scipy.integrate import quad

from atomscope.core.validate import check_nonnegative, check_positive
from atomscope.structures._elements import check_symbol

# Debye temperatures [K] of the elements (Kittel, Introduction to Solid State Physics, 8th ed.,
# ch. 5, Table 1; C is diamond).
DEBYE_TEMPERATURES = {
    "Ag": 225.0,
    "Al": 428.0,
    "Au": 165.0,
    "C": 2230.0,
    "Co": 445.0,
    "Cr": 630.0,
    "Cu": 343.0,
    "Fe": 470.0,
    "Ge": 374.0,
    "Mo": 450.0,
    "Ni": 450.0,
    "Pb": 105.0,
    "Pd": 274.0,
    "Pt": 240.0,
    "Si": 645.0,
    "Ti": 420.0,
    "W": 400.0,
    "Zr": 291.0,
}

# ħ² / (1 u · k_B) in Å² K
_HBAR2_OVER_U_KB = constants.hbar**2 / (constants.atomic_mass * constants.k) * 1e20


def _debye_phi(x: float) -> float:
    """φ(x) = (1/x) ∫₀ˣ t / (eᵗ − 1) dt, with φ(0) = 1 (the integrand beyond t = 50 is < 1e-20)."""
    if x == 0:
        return 1.0
    return quad(lambda t: t / np.expm1(t) if t > 0 else 1.0, 0.0, min(x, 50.0))[0] / x


def debye_sigma(symbol: str, temperature: float, debye_temperature: float | None = None) -> float:
    """Root-mean-square displacement along one axis [Å] of an atom in a Debye solid.

    ⟨u_x²⟩ = 3ħ²T / (m k_B Θ²) · [φ(Θ/T) + Θ/(4T)], the Debye-model Debye–Waller factor
    B = 8π²⟨u_x²⟩ (Willis & Pryor, Thermal Vibrations in Crystallography, 1975). At T = 0 this
    is the zero-point value 3ħ²/(4 m k_B Θ).

    Parameters
    ----------
    symbol
        Chemical symbol; its mass is ASE's standard atomic weight.
    temperature
        Temperature T [K], ≥ 0.
    debye_temperature
        Θ [K]; default from `DEBYE_TEMPERATURES` (Kittel).

    Examples
    --------
    >>> round(debye_sigma("Au", 300), 3)
    0.091
    """
    check_symbol("symbol", symbol)
    temperature = check_nonnegative("temperature", temperature)
    if debye_temperature is None:
        if symbol not in DEBYE_TEMPERATURES:
            raise ValueError(
                f"symbol {symbol!r} has no tabulated Debye temperature (known: "
                f"{', '.join(sorted(DEBYE_TEMPERATURES))}); pass debye_temperature or sigmas [Å]"
            )
        debye_temperature = DEBYE_TEMPERATURES[symbol]
    theta = check_positive("debye_temperature", debye_temperature)
    mass = atomic_masses[atomic_numbers[symbol]]
    prefactor = 3 * _HBAR2_OVER_U_KB / (mass * theta)  # Å²
    if temperature == 0:
        return float(np.sqrt(prefactor / 4))
    x = theta / temperature
    # Debye model: ⟨u_x²⟩ = 3ħ²T/(m k_B Θ²) [φ(x) + x/4]
    return float(np.sqrt(prefactor / x * (_debye_phi(x) + x / 4)))


def sigma_from_debye_waller(b_factor: float) -> float:
    """Root-mean-square displacement along one axis [Å] from a Debye–Waller factor B [Å²].

    B = 8π²⟨u_x²⟩ (the isotropic temperature factor of crystallography).

    Examples
    --------
    >>> round(sigma_from_debye_waller(8 * 3.14159265**2 * 0.01), 4)
    0.1
    """
    b_factor = check_nonnegative("b_factor", b_factor)
    return float(np.sqrt(b_factor / (8 * np.pi**2)))
