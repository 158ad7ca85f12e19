"""atomscope: quantitative atomic-resolution electron microscopy, simulation and analysis.

The image path reads as the package layout: ``structures`` / ``thermal`` (atoms) →
``potentials`` → ``waves`` (multislice) → ``optics`` (lens) → ``detection`` (camera).
Names are imported on first use (lazy_loader), so ``import atomscope`` and ``atomscope --help``
stay quick; set ``EAGER_IMPORT=1`` to import everything at once.
"""

import lazy_loader

from atomscope.core.threads import passive_openmp

__version__ = "0.1.0"

passive_openmp()  # before PyTorch or numba load OpenMP: idle workers sleep, not spin

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "core.energy": ["energy2sigma", "energy2wavelength"],
        "core.grid": ["Grid"],
        "detection": ["MTF", "Camera"],
        "images": ["Images"],
        "optics": ["CTF", "Aberrations", "scherzer_defocus", "scherzer_point_resolution"],
        "potentials.projected": ["Potential"],
        "waves.plane": ["PlaneWave"],
        "waves.waves": ["Waves"],
    },
)
