"""Relativistic electron wavelength and interaction parameter.

Constants are CODATA 2018 (via ``scipy.constants``); energies are kinetic energies of the electron
in eV (the acceleration voltage given as an energy, e.g. ``300e3``).
"""

from __future__ import annotations

import numpy as np
from scipy import constants

from atomscope.core.validate import check_positive

_ELECTRON_REST_ENERGY = constants.m_e * constants.c**2 / constants.e  # m0 c² [eV]
_HC = constants.h * constants.c / constants.e * 1e10  # h c [eV·Å]


def energy2wavelength(energy: float) -> float:
    """Relativistic de Broglie wavelength of an electron.

    λ = h c / √(E (2 m0 c² + E)) (Kirkland 2010, Eq 2.5).

    Parameters
    ----------
    energy
        Kinetic energy of the electron [eV].

    Returns
    -------
    float
        Wavelength [Å].

    Examples
    --------
    >>> round(float(energy2wavelength(300e3)), 6)
    0.019687
    """
    energy = check_positive("energy", energy)
    return _HC / np.sqrt(energy * (2 * _ELECTRON_REST_ENERGY + energy))


def energy2mass(energy: float) -> float:
    """Relativistic electron mass m = m0 (1 + E / m0c²) [kg] for kinetic energy ``energy`` [eV]."""
    energy = check_positive("energy", energy)
    return constants.m_e * (1 + energy / _ELECTRON_REST_ENERGY)


def energy2sigma(energy: float) -> float:
    """Relativistic interaction parameter σ = 2π m e λ / h² (seed Eq 2.5).

    Parameters
    ----------
    energy
        Kinetic energy of the electron [eV].

    Returns
    -------
    float
        Interaction parameter [rad / (V·Å)].

    Examples
    --------
    >>> round(float(energy2sigma(300e3)) * 1e4, 4)
    6.5262
    """
    wavelength = energy2wavelength(energy) * 1e-10  # [m]
    sigma = 2 * np.pi * energy2mass(energy) * constants.e * wavelength / constants.h**2
    return sigma * 1e-10  # [rad/(V·m)] -> [rad/(V·Å)]
