"""Atom recognition with a CNN trained only on simulated images (seed chapter 6, issue #7).

Importing this package does not import PyTorch; the network is built only when a model is
trained or loaded.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "data": ["ExitWaveDataset", "TrainingImages", "generate", "truth_maps"],
        "infer": ["Recognition", "Recognizer"],
        "metrics": ["gaussian_peaks", "match", "precision_recall", "precision_recall_curve"],
        "randomize": ["GOLD_300KV", "GRAPHENE_80KV", "MicroscopeRanges", "draw"],
        "train": ["TrainConfig", "train"],
        "validate": ["evaluate", "evaluation_microscope", "gold_evaluation_microscope"],
    },
)
