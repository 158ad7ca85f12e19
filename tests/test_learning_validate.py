"""Validation on held-out simulations (atomscope.learning.validate)."""

import numpy as np
import pytest
import torch

from atomscope.learning.data import generate
from atomscope.learning.infer import Recognizer
from atomscope.learning.model import FusionNet
from atomscope.learning.validate import evaluate, evaluation_microscope

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_evaluation_microscope_is_the_seeds():
    m = evaluation_microscope(dose=1e3)
    assert m.ctf.energy == 80e3
    assert m.ctf.aberrations["C30"] == -12e4 and m.ctf.aberrations["C10"] == 84.0
    assert m.ctf.focal_spread == 35.0 and m.ctf.deflection == 0.25
    assert m.camera.mtf.parameters() == {"name": "exp_gauss", "c1": 0.05, "c2": 0.48, "c3": 2.45}
    assert m.camera.dose == 1e3 and m.camera.sampling == (0.12, 0.12)


def test_counts_are_consistent_and_the_baseline_works_at_high_dose():
    data = generate("polycrystalline", 1, rng=99, extent=16.0, sampling=0.08)
    torch.manual_seed(0)
    recognizer = Recognizer(FusionNet(width=2), ("C",), (0.108, 0.132), 10.0)
    results = evaluate(
        recognizer,
        data,
        evaluation_microscope(dose=1e6),
        rng=0,
        thresholds=[0.0, 0.5, 1.0],
        margin=2.0,
    )
    everything, ideal, defect = results["all"], results["ideal"], results["defect"]
    assert everything.truth == ideal.truth + defect.truth > 30
    np.testing.assert_array_equal(
        everything.true_positives, ideal.true_positives + defect.true_positives
    )
    assert np.all(np.diff(everything.recall) <= 0)  # a higher t keeps fewer atoms
    baseline = results["baseline"]
    # bright atoms at Cs = −12 µm, C10 = +84 Å: filter + maxima finds most of them
    assert baseline.recall[0] > 0.8 and baseline.precision[0] > 0.8
    with pytest.raises(TypeError, match="recognizer"):
        evaluate(FusionNet(width=2), data)
