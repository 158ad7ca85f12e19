"""Fitting interatomic potentials to material properties (seed chapter 5).

`properties` computes material properties with any ASE calculator, `targets` reads the
property tables (seed Tables 5.1 and 5.2 ship as ``"au"`` and ``"pt"``) and scores a potential
by the error function of seed Eq 5.14, and `comb3_file` reads, writes and compares LAMMPS
``ffield.comb3`` parameter files. `parameters` names the COMB3 parameters of each fitting stage
with their bounds, `search` is the seed's optimiser (random walk of Nelder–Mead or least-squares minimisations
with the Metropolis acceptance of Eq 5.15, logged and resumable, local or on Dask),
`objective` the function it minimises, `spec` a fit described in TOML, `run` runs one and
`report` tabulates and draws it, and `export` writes finished fits as one ``ffield.comb3``
file with its card (``atomscope fit run|report|export``).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "comb3_file",
        "export",
        "objective",
        "parameters",
        "properties",
        "report",
        "run",
        "search",
        "spec",
        "targets",
    ],
    submod_attrs={
        "targets": ["PropertyTarget", "error_function", "load_targets"],
        "parameters": ["stage_parameters"],
        "search": ["SearchSettings", "SearchSpace", "run_searches"],
        "spec": ["FitSpec"],
        "run": ["run_fit"],
        "report": ["write_report"],
    },
)
