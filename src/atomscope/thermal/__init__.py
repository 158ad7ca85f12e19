"""Thermal motion: Einstein and molecular-dynamics frozen phonons, relaxation."""

from atomscope.thermal.debye import debye_sigma, sigma_from_debye_waller
from atomscope.thermal.einstein import EinsteinPhonons
from atomscope.thermal.lammps import comb3_calculator, lammps_calculator
from atomscope.thermal.md import MDPhonons, make_calculator, relax
from atomscope.thermal.snapshots import FrozenPhonons

__all__ = [
    "EinsteinPhonons",
    "FrozenPhonons",
    "MDPhonons",
    "comb3_calculator",
    "debye_sigma",
    "lammps_calculator",
    "make_calculator",
    "relax",
    "sigma_from_debye_waller",
]
