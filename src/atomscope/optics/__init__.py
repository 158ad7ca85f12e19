"""The objective lens: polar aberrations, apertures, partial coherence and the CTF."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "aberrations": ["Aberrations"],
        "apertures": ["aperture"],
        "ctf": ["CTF", "RadialProfile"],
        "envelopes": [
            "deflection_envelope",
            "focal_nodes",
            "spatial_envelope",
            "temporal_envelope",
        ],
        "scherzer": ["scherzer_defocus", "scherzer_point_resolution"],
        "series": ["defocus_series"],
    },
)
