"""Atomic models: nanoparticles, graphene, orientation and assembly on supports."""

from atomscope.structures.nanoparticles import random_particle, wulff_particle
from atomscope.structures.orient import center, orient, place_on_support

__all__ = [
    "center",
    "orient",
    "place_on_support",
    "random_particle",
    "wulff_particle",
]
