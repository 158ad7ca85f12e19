"""From images back to atoms and strain: peaks, filters, structural templates, strain, GPA,
image series (drift, sites, occupancy, tracks of moving columns) and atom counting by column signals.

Positions are pixel coordinates ``[x, y]`` (array axis 0 is x); strain is dimensionless and
rotations are in radians, counter-clockwise from x towards y.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "counting": ["CountResult", "CountingLibrary", "voronoi_signals"],
        "filters": ["estimate_noise_variance", "wiener_filter"],
        "gpa": ["GPAResult", "bragg_peaks", "gpa_strain"],
        "peaks": ["find_peaks", "refine_peaks"],
        "drift": ["measure_drift"],
        "registration": [
            "correlation_at",
            "correlation_peaks",
            "cross_power_peaks",
            "register_shift",
        ],
        "series": ["SeriesResult", "analyse_series"],
        "strain": ["Strain", "default_reference", "strain_from_match"],
        "synthetic": [
            "StrainField",
            "add_gaussian_noise",
            "eq315_field",
            "lattice_image",
            "square_lattice",
        ],
        "synthetic_series": [
            "HoppingScene",
            "hopping_edge",
            "hopping_particle",
            "hopping_occupancy",
            "simulate_series",
        ],
        "templates": ["Template", "TemplateMatch", "match_templates"],
        "tracks": ["Tracks", "column_detections", "track_columns"],
    },
)
