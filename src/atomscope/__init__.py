"""atomscope: quantitative atomic-resolution electron microscopy, simulation and analysis.

The image path reads as the package layout: ``structures`` / ``thermal`` (atoms) →
``potentials`` → ``waves`` (multislice) → ``optics`` (lens) → ``detection`` (camera).
"""

from atomscope.core.energy import energy2sigma, energy2wavelength
from atomscope.core.grid import Grid
from atomscope.detection import MTF, Camera
from atomscope.images import Images
from atomscope.optics import CTF, Aberrations, scherzer_defocus, scherzer_point_resolution
from atomscope.potentials.projected import Potential
from atomscope.waves.plane import PlaneWave
from atomscope.waves.waves import Waves

__version__ = "0.1.0"

__all__ = [
    "CTF",
    "MTF",
    "Aberrations",
    "Camera",
    "Grid",
    "Images",
    "PlaneWave",
    "Potential",
    "Waves",
    "energy2sigma",
    "energy2wavelength",
    "scherzer_defocus",
    "scherzer_point_resolution",
]
