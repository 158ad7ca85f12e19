"""Back from images to the wave: focal-series exit-wave reconstruction and off-axis holography."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "focal_series": ["focal_series_ewr", "linear_ewr", "FocalSeriesResult"],
        "holography": ["hologram", "reconstruct_hologram", "HologramReconstruction"],
    },
)
