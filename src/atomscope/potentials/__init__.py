"""Electrostatic potentials: scattering-factor parametrizations (IAM) or GPAW all-electron
densities (DFT), slicing and projection."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "dft": ["DFTPotential", "iam_difference"],
        "parametrizations": ["PARAMETRIZATIONS", "load_parametrization"],
        "projected": ["Potential"],
        "stored": ["StoredPotential"],
        "structure_factors": ["structure_factors", "xray_structure_factors"],
    },
)
