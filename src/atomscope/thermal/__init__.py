"""Thermal motion: Einstein and molecular-dynamics frozen phonons, relaxation."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "debye": ["debye_sigma", "sigma_from_debye_waller"],
        "einstein": ["EinsteinPhonons"],
        "lammps": ["SHIPPED_COMB3", "comb3_calculator", "lammps_calculator"],
        "md": ["MDPhonons", "make_calculator", "relax"],
        "snapshots": ["FrozenPhonons"],
    },
)
