"""The camera: resampling to the detector pixels, shot noise and the MTF, and measuring the
MTF and DQE of a real camera (flat fields, slanted edge)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "camera": ["Camera"],
        "mtf": ["MTF"],
        "mtf_estimate": ["MTFEstimate", "estimate_mtf", "mtf_from_edge"],
        "resample": ["resample"],
    },
)
