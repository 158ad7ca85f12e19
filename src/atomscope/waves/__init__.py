"""Electron waves and their propagation through a potential (multislice), probes and STEM."""

from atomscope.waves.detectors import (
    AnnularDetector,
    PixelatedDetector,
    SegmentedDetector,
    WavesDetector,
)
from atomscope.waves.diffraction import DiffractionPatterns
from atomscope.waves.ensemble import EnsembleAverage, frozen_phonon_average
from atomscope.waves.plane import PlaneWave
from atomscope.waves.prism import PRISM
from atomscope.waves.probe import Probe
from atomscope.waves.scan import CustomScan, GridScan, LineProfiles, LineScan
from atomscope.waves.tilt import tilt_series
from atomscope.waves.waves import Waves

__all__ = [
    "PRISM",
    "AnnularDetector",
    "CustomScan",
    "DiffractionPatterns",
    "EnsembleAverage",
    "GridScan",
    "LineProfiles",
    "LineScan",
    "PixelatedDetector",
    "PlaneWave",
    "Probe",
    "SegmentedDetector",
    "Waves",
    "WavesDetector",
    "frozen_phonon_average",
    "tilt_series",
]
