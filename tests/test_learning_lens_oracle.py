"""The lens-aware oracle and the per-image random-lens validation (issue #21)."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.detection.camera import Camera
from atomscope.learning.data import generate
from atomscope.learning.infer import Recognizer
from atomscope.learning.lens_oracle import linear_transfer, oracle_peaks, wiener_deconvolve
from atomscope.learning.lens_validation import ImageScore, random_lens_scores, summarise
from atomscope.learning.metrics import gaussian_peaks, match, within
from atomscope.learning.randomize import (
    GOLD_300KV,
    GRAPHENE_80KV,
    Microscope,
    draw,
    image_from_exit_wave,
)
from atomscope.waves.waves import Waves


def noise_free(microscope: Microscope, sampling: float) -> Microscope:
    """The microscope's lens and MTF on a noise-free camera at ``sampling``, no jitter."""
    camera = Camera(sampling=sampling, dose=None, mtf=microscope.camera.mtf)
    return Microscope(microscope.ctf, camera)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_transfer_is_the_imaging_pipeline_for_a_weak_phase_object(seed):
    # an independent number: the full image formation (lens with partial coherence, deflection,
    # camera MTF) of exp(iεφ) must be 1 + ε F⁻¹[φ̂ H] to first order in ε
    rng = np.random.default_rng(seed)
    shape, sampling, epsilon = (64, 64), 0.12, 1e-4
    phase = rng.normal(size=shape)
    microscope = noise_free(draw(GRAPHENE_80KV, rng), sampling)
    wave = Waves(np.exp(1j * epsilon * phase).astype(np.complex64), sampling, 80e3)
    image = image_from_exit_wave(wave, microscope).array.astype(np.float64)
    transfer = linear_transfer(microscope, shape, sampling)
    # the pipeline divides by the image mean, which equals 1 + O(ε²)
    predicted = np.fft.ifft2(np.fft.fft2(phase) * transfer).real * epsilon
    measured = image / image.mean() - 1
    assert np.abs(predicted).max() > 1e-5
    error = np.linalg.norm(measured - predicted) / np.linalg.norm(predicted)
    assert error < 0.01


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 40))
def test_linear_transfer_is_hermitian_so_real_phases_give_real_images(seed, n):
    transfer = linear_transfer(draw(GRAPHENE_80KV, seed), (n, n + 3), 0.12)
    reversed_transfer = np.roll(transfer[::-1, ::-1], 1, axis=(0, 1))
    assert np.allclose(transfer, np.conj(reversed_transfer), atol=1e-6)
    assert abs(transfer[0, 0]) < 1e-9  # no transfer of a constant phase


def test_wiener_deconvolution_refuses_a_transfer_of_another_shape():
    with pytest.raises(ValueError, match="transfer"):
        wiener_deconvolve(np.ones((8, 8)), np.ones((8, 9)))
    with pytest.raises(ValueError, match="regularization"):
        wiener_deconvolve(np.ones((8, 8)), np.ones((8, 8)), regularization=-1)


def best_recall_at_precision(positions, scores, truth, extent, precision=0.9):
    """Highest recall over thresholds on ``scores`` with precision ≥ ``precision``."""
    best = 0.0
    for t in np.quantile(scores, np.linspace(0, 0.9, 30)):
        found = positions[(scores >= t) & within(positions, extent, 2.0)]
        matched = len(match(found, truth, 0.5).truth)
        if matched / max(len(found), 1) >= precision:
            best = max(best, matched / len(truth))
    return best


def test_oracle_finds_the_atoms_where_filtering_the_image_cannot():
    # C10 −95 Å, Cs −8 µm at 1e5: neither bright nor dark peaks of the filtered image are the
    # atoms, the deconvolution by the known lens finds most of them
    data = generate("polycrystalline", 1, rng=5, extent=24.0)
    lens = draw(replace(GRAPHENE_80KV, dose=(1e5, 1e5), C5=(0, 0), astigmatism=(0, 5)), 2)
    image = image_from_exit_wave(data.wave(0), lens, rng=0)
    sampling = image.sampling[0]
    extent = np.array(image.shape) * sampling
    truth = data.positions[0][within(data.positions[0], extent, 2.0)]
    oracle = best_recall_at_precision(
        *oracle_peaks(image.array, lens, sampling, regularization=0.05), truth, extent
    )
    bright = best_recall_at_precision(
        *gaussian_peaks(image.array, sampling, 0.3, 0.4), truth, extent
    )
    dark = best_recall_at_precision(
        *gaussian_peaks(-image.array, sampling, 0.3, 0.4), truth, extent
    )
    assert oracle > 0.75
    assert max(bright, dark) < 0.3
    # a transfer computed once for several regularizations gives the same atoms
    transfer = linear_transfer(lens, image.shape, sampling)
    for ours, with_transfer in zip(
        oracle_peaks(image.array, lens, sampling, 0.05),
        oracle_peaks(image.array, lens, sampling, 0.05, transfer=transfer),
        strict=True,
    ):
        np.testing.assert_array_equal(ours, with_transfer)
    with pytest.raises(ValueError, match="transfer"):
        oracle_peaks(image.array, lens, sampling, transfer=transfer[:-1])


def test_random_lens_scores_score_each_image_and_reproduce():
    data = generate("polycrystalline", 1, rng=8, extent=30.0)
    recognizer = Recognizer.pretrained("graphene")
    ranges = replace(GRAPHENE_80KV, dose=(1e4, 1e4))
    first = random_lens_scores(recognizer, data, ranges, microscopes=2, rng=4)
    again = random_lens_scores(recognizer, data, ranges, microscopes=2, rng=4)
    assert [s.to_dict() for s in first] == [s.to_dict() for s in again]
    assert len(first) == 2 and first[0].microscope != first[1].microscope
    # the seed's evaluation microscope, where the shipped model is validated, scores high
    evaluation_lens = {"C10": (84, 84), "Cs": (-12e4, -12e4), "C5": (0, 0), "astigmatism": (0, 0)}
    narrow_ranges = replace(ranges, **evaluation_lens)
    narrow = random_lens_scores(recognizer, data, narrow_ranges, microscopes=1, rng=0)[0]
    assert narrow.precision > 0.9 and narrow.ideal_recall > 0.9


def test_random_lens_scores_refuse_bad_input():
    data = generate("polycrystalline", 1, rng=8, extent=12.0)
    recognizer = Recognizer.pretrained("graphene")
    with pytest.raises(ValueError, match="energy"):
        random_lens_scores(recognizer, data, GOLD_300KV)
    with pytest.raises(ValueError, match="microscopes"):
        random_lens_scores(recognizer, data, GRAPHENE_80KV, microscopes=0)
    with pytest.raises(TypeError, match="ranges"):
        random_lens_scores(recognizer, data, {"C10": (0, 1)})
    with pytest.raises(ValueError, match="scores"):
        summarise([])


def test_summary_counts_images_where_both_precision_and_recall_reach_the_level():
    scores = [
        ImageScore(0, {}, 0.95, 0.9, 0.92, 0.95, 0.91),
        ImageScore(0, {}, 0.95, 0.9, 0.85, 0.95, 0.5),
        ImageScore(1, {}, 0.5, 0.9, 0.95, 0.0, 0.0),
    ]
    summary = summarise(scores)
    assert summary["images_at_level"] == 1 and summary["oracle_images_at_level"] == 1
    assert summary["median_precision"] == 0.95 and summary["median_ideal_recall"] == 0.92


def test_a_threshold_sweep_equals_recognising_at_each_threshold():
    from atomscope.learning.lens_validation import random_lens_sweep

    data = generate("polycrystalline", 1, rng=8, extent=30.0)
    recognizer = Recognizer.pretrained("graphene")
    ranges = replace(GRAPHENE_80KV, dose=(1e4, 1e4))
    sweep = random_lens_sweep(recognizer, data, ranges, [0.3, 0.5], microscopes=2, rng=6)
    for t in (0.3, 0.5):
        alone = random_lens_scores(recognizer, data, ranges, 2, rng=6, threshold=t)
        assert [s.to_dict() for s in alone] == [s.to_dict() for s in sweep[t]]
    with pytest.raises(ValueError, match="thresholds"):
        random_lens_sweep(recognizer, data, ranges, [1.5])
