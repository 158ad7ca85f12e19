"""The objective lens: polar aberrations, apertures, partial coherence and the CTF."""

from atomscope.optics.aberrations import Aberrations
from atomscope.optics.apertures import aperture
from atomscope.optics.ctf import CTF, RadialProfile
from atomscope.optics.envelopes import (
    deflection_envelope,
    focal_nodes,
    spatial_envelope,
    temporal_envelope,
)
from atomscope.optics.scherzer import scherzer_defocus, scherzer_point_resolution
from atomscope.optics.series import defocus_series

__all__ = [
    "CTF",
    "Aberrations",
    "RadialProfile",
    "aperture",
    "deflection_envelope",
    "defocus_series",
    "focal_nodes",
    "scherzer_defocus",
    "scherzer_point_resolution",
    "spatial_envelope",
    "temporal_envelope",
]
