"""Electron waves and their propagation through a potential (multislice)."""

from atomscope.waves.plane import PlaneWave
from atomscope.waves.waves import Waves

__all__ = ["PlaneWave", "Waves"]
