"""Declarative, resumable studies over the whole loop (seed thesis chapter 4).

The strain-accuracy study as an experiment:

- `atomscope.experiments.spec` — the TOML spec (particles, microscope, sweep), checked key by key;
- `atomscope.experiments.store` — the results table in zarr, written point by point (resume);
- `atomscope.experiments.run` — particles → views (exit waves, column truth) → points (images,
  measured columns, strain errors), locally or on Dask;
- `atomscope.experiments.figures` — the chapter's figures from the table.

Its physics and measurement pieces are plain functions:

- `atomscope.experiments.measures` — strain of column positions by template matching (Eqs
  4.1–4.2), pairing measured columns with the true ones, errors (Eq 4.3), column positions
  from images, the mean absolute error over noise (Eq 4.6) and its 1/√dose fit (Eq 4.7);
- `atomscope.experiments.column_model` — the independent-column model of the exit wave (Eqs
  4.4–4.5) and a column's radius of influence (Fig 4.5).

Names are imported on first use (lazy_loader), so importing the package stays light.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "column_model": [
            "column_intensity_profile",
            "independent_column_wave",
            "radius_of_influence",
        ],
        "figures": ["write_figures"],
        "measures": [
            "ColumnStrain",
            "DoseFit",
            "MeanAbsoluteError",
            "PointPairs",
            "StrainErrors",
            "column_strain",
            "fit_inverse_sqrt_dose",
            "mean_absolute_error",
            "measure_positions",
            "pair_points",
            "strain_errors",
            "surface_relaxation",
        ],
        "run": ["View", "exit_wave_errors", "make_view", "measured_errors", "run_experiment"],
        "spec": ["ExperimentSpec", "Point"],
        "store": ["ResultStore"],
    },
)
