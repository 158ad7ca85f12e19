"""Atom recognition with a CNN trained only on simulated images (seed chapter 6, issue #7).

Importing this package does not import PyTorch; the network is built only when a model is
trained or loaded.
"""

from atomscope.learning.data import ExitWaveDataset, TrainingImages, generate, truth_maps
from atomscope.learning.infer import Recognition, Recognizer
from atomscope.learning.metrics import (
    gaussian_peaks,
    match,
    precision_recall,
    precision_recall_curve,
)
from atomscope.learning.randomize import GOLD_300KV, GRAPHENE_80KV, MicroscopeRanges, draw
from atomscope.learning.train import TrainConfig, train
from atomscope.learning.validate import evaluate, evaluation_microscope, gold_evaluation_microscope

__all__ = [
    "GOLD_300KV",
    "GRAPHENE_80KV",
    "ExitWaveDataset",
    "MicroscopeRanges",
    "Recognition",
    "Recognizer",
    "TrainConfig",
    "TrainingImages",
    "draw",
    "evaluate",
    "evaluation_microscope",
    "gaussian_peaks",
    "generate",
    "gold_evaluation_microscope",
    "match",
    "precision_recall",
    "precision_recall_curve",
    "train",
    "truth_maps",
]
