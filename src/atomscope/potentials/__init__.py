"""Electrostatic potentials: scattering-factor parametrizations, slicing and projection."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "parametrizations": ["PARAMETRIZATIONS", "load_parametrization"],
        "projected": ["Potential"],
    },
)
