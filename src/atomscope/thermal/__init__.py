"""Thermal motion: Einstein and molecular-dynamics frozen phonons, relaxation."""

from atomscope.thermal.debye import debye_sigma, sigma_from_debye_waller
from atomscope.thermal.einstein import EinsteinPhonons
from atomscope.thermal.snapshots import FrozenPhonons

__all__ = ["EinsteinPhonons", "FrozenPhonons", "debye_sigma", "sigma_from_debye_waller"]
