"""Electrostatic potentials: scattering-factor parametrizations, slicing and projection."""

from atomscope.potentials.parametrizations import PARAMETRIZATIONS, load_parametrization
from atomscope.potentials.projected import Potential

__all__ = ["PARAMETRIZATIONS", "Potential", "load_parametrization"]
