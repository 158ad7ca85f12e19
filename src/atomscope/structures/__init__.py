"""Atomic models: nanoparticles, graphene, orientation and assembly on supports."""

from atomscope.structures.graphene import graphene_sheet, polycrystalline_graphene, random_graphene
from atomscope.structures.nanoparticles import random_particle, wulff_particle
from atomscope.structures.orient import center, orient, place_on_support

__all__ = [
    "center",
    "graphene_sheet",
    "orient",
    "place_on_support",
    "polycrystalline_graphene",
    "random_graphene",
    "random_particle",
    "wulff_particle",
]
