"""Fitting interatomic potentials to material properties (seed chapter 5).

`properties` computes material properties with any ASE calculator, `targets` reads the
property tables (seed Tables 5.1 and 5.2 ship as ``"au"`` and ``"pt"``) and scores a potential
by the error function of seed Eq 5.14, and `comb3_file` reads, writes and compares LAMMPS
``ffield.comb3`` parameter files.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["comb3_file", "properties", "targets"],
    submod_attrs={
        "targets": ["PropertyTarget", "error_function", "load_targets"],
    },
)
