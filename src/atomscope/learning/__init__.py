"""Atom recognition with a CNN trained only on simulated images (seed chapter 6, issue #7).

Importing this package does not import PyTorch; the network is built only when a model is
trained or loaded.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "data": [
            "ExitWaveDataset",
            "TrainingImages",
            "counting_structure",
            "generate",
            "truth_maps",
        ],
        "column_counter": ["ColumnCounter", "PatchGeometry", "column_patches", "vacuum_relative"],
        "confidence": ["mirror_agreement"],
        "curriculum": [
            "CurriculumLog",
            "best_threshold",
            "median_f1",
            "plot_curriculum",
            "validation_dataset",
        ],
        "infer": ["Recognition", "Recognizer"],
        "lens_oracle": ["linear_transfer", "oracle_peaks", "reimage", "wiener_deconvolve"],
        "lens_search": ["LensEstimate", "home_microscope", "search_lens", "thon_candidates"],
        "lens_validation": ["ImageScore", "random_lens_scores", "random_lens_sweep", "summarise"],
        "promote": ["ModelScores", "beats", "replace_if_better", "score_model"],
        "metrics": [
            "count_error_fractions",
            "count_errors",
            "gaussian_peaks",
            "match",
            "precision_recall",
            "precision_recall_curve",
        ],
        "randomize": [
            "FocalSeries",
            "GOLD_300KV",
            "GOLD_COUNTING_300KV",
            "GRAPHENE_80KV",
            "MicroscopeRanges",
            "draw",
            "read_ranges",
        ],
        "train": ["TrainConfig", "train"],
        "train_counter": ["train_column_counter"],
        "validate": [
            "counting_evaluation_microscope",
            "evaluate",
            "evaluate_counting",
            "evaluation_microscope",
            "gold_evaluation_microscope",
        ],
    },
)
