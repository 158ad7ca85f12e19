"""Electron waves and their propagation through a potential (multislice), probes and STEM."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "detectors": ["AnnularDetector", "PixelatedDetector", "SegmentedDetector", "WavesDetector"],
        "diffraction": ["DiffractionPatterns"],
        "ensemble": ["EnsembleAverage", "frozen_phonon_average"],
        "plane": ["PlaneWave"],
        "prism": ["PRISM"],
        "probe": ["Probe"],
        "scan": ["CustomScan", "GridScan", "LineProfiles", "LineScan"],
        "tilt": ["tilt_series"],
        "waves": ["Waves"],
    },
)
