"""The camera: resampling to the detector pixels, shot noise and the MTF."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "camera": ["Camera"],
        "mtf": ["MTF"],
        "resample": ["resample"],
    },
)
