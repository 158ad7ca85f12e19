"""The camera: resampling to the detector pixels, shot noise and the MTF."""

from atomscope.detection.camera import Camera
from atomscope.detection.mtf import MTF
from atomscope.detection.resample import resample

__all__ = ["MTF", "Camera", "resample"]
