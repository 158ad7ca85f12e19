"""Inference (atomscope.learning.infer / normalize): LCN, tiling, segmentation, bad input."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from atomscope.learning.data import truth_maps
from atomscope.learning.infer import Recognizer, segment
from atomscope.learning.model import FusionNet
from atomscope.learning.normalize import gaussian_reflect, local_contrast_normalization

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def recognizer():
    torch.manual_seed(0)
    return Recognizer(FusionNet(width=4), ("C",), (0.108, 0.132), lcn_sigma=3.0)


def test_gaussian_reflect_equals_scipy_reflect_mode():
    image = np.random.default_rng(0).normal(size=(2, 50, 37))
    for width in (2.0, 4.0):
        reference = gaussian_filter(image, (0, width, width), mode="reflect", truncate=8)
        np.testing.assert_allclose(gaussian_reflect(image, width), reference, atol=1e-6)


def test_lcn_is_locally_zero_mean_unit_variance_and_affine_invariant():
    rng = np.random.default_rng(1)
    x = np.arange(256)[:, None] / 256
    gain, offset = 1 + 4 * x, 10 + 30 * x.T  # slowly varying illumination
    image = offset + gain * rng.normal(size=(256, 256))
    out = local_contrast_normalization(image, sigma=2.0, sampling=0.1)[0]
    width = 20  # σ_N in pixels
    interior = (slice(3 * width, -3 * width),) * 2
    local_mean = gaussian_filter(out, width)[interior]
    local_var = gaussian_filter(out.astype(float) ** 2, width)[interior]
    assert np.abs(local_mean).max() < 0.1
    assert np.abs(local_var - 1).max() < 0.1
    again = local_contrast_normalization(3 * image + 5, sigma=2.0, sampling=0.1)[0]
    np.testing.assert_allclose(again, out, atol=1e-4)


def test_segmentation_recovers_positions_and_classes():
    truth = np.array([[1.2, 1.0], [3.0, 1.5], [1.6, 3.1], [3.3, 3.4]])
    classes = np.array([0, 1, 1, 0])
    maps = truth_maps(truth, classes, 2, (0.0, 0.0), (48, 48), 0.1, width=0.3)
    positions, probabilities, scores = segment(maps, 0.1)
    order = np.argsort(positions[:, 0] * 10 + positions[:, 1])
    expected = np.argsort(truth[:, 0] * 10 + truth[:, 1])
    np.testing.assert_allclose(positions[order], truth[expected], atol=0.02)
    assert probabilities[order].argmax(axis=1).tolist() == classes[expected].tolist()
    np.testing.assert_allclose(scores, 1.0, atol=1e-3)
    empty = segment(np.stack([np.ones((8, 8)), np.zeros((8, 8))]), 0.1)
    assert empty[0].shape == (0, 2)


def test_segment_statistics_equal_scipy_ndimage_on_the_same_watershed():
    from scipy import ndimage
    from skimage.morphology import local_minima
    from skimage.segmentation import watershed

    rng = np.random.default_rng(4)
    raw = ndimage.gaussian_filter(rng.random((3, 64, 56)), 2)
    maps = raw / raw.sum(axis=0)
    positions, probabilities, scores = segment(maps, 0.1, threads=1)
    inside = maps[0] < 0.995
    markers, count = ndimage.label(local_minima(maps[0]) & inside)
    labels = watershed(maps[0], markers, mask=inside)
    index = np.arange(1, count + 1)
    sums = np.stack([ndimage.sum_labels(m, labels, index) for m in maps[1:]], axis=1)
    centres = ndimage.center_of_mass(maps[1:].sum(axis=0), labels, index)
    assert count > 3
    np.testing.assert_allclose(probabilities, sums / sums.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(positions, np.array(centres) * 0.1, rtol=1e-12)
    np.testing.assert_array_equal(scores, ndimage.maximum(1 - maps[0], labels, index))


def test_tiled_inference_converges_to_the_whole_image(recognizer):
    x = np.random.default_rng(0).normal(size=(1, 96, 80)).astype(np.float32)
    whole = recognizer.probability_maps(x, tile=256, overlap=40)
    errors = [
        np.abs(recognizer.probability_maps(x, tile=64, overlap=o) - whole).max() for o in (4, 24)
    ]  # 2×2 tiles with thin margins, 6×5 tiles with wide ones
    assert errors[1] < 1e-3 and errors[1] < errors[0] / 3
    batched = recognizer.probability_maps(x, tile=64, overlap=24, batch=7)
    single = recognizer.probability_maps(x, tile=64, overlap=24, batch=1)
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_predict_threshold_and_result(recognizer):
    image = np.random.default_rng(2).normal(size=(64, 56))
    everything = recognizer.predict(image, 0.12, threshold=0.0)
    some = recognizer.predict(image, 0.12, threshold=float(np.median(everything.scores)))
    assert everything.maps.shape == (2, 64, 56)
    assert 0 < len(some) < len(everything)
    assert np.all(some.scores >= np.median(everything.scores))
    assert everything.probabilities.shape == (len(everything), 1)
    assert len(everything.plot().axes) == 1


def test_default_threshold_is_the_model_s_validated_one(recognizer):
    image = np.random.default_rng(2).normal(size=(64, 56))
    everything = recognizer.predict(image, 0.12, threshold=0.0)
    median = float(np.median(everything.scores))
    tuned = Recognizer(recognizer.model, ("C",), (0.108, 0.132), 3.0, {"threshold": median})
    assert tuned.predict(image, 0.12).metadata["threshold"] == median
    assert len(tuned.predict(image, 0.12)) == len(recognizer.predict(image, 0.12, threshold=median))
    assert recognizer.predict(image, 0.12).metadata["threshold"] == 0.5


def test_save_and_load_round_trip(recognizer, tmp_path):
    image = np.random.default_rng(3).normal(size=(48, 48))
    path = recognizer.save(tmp_path / "m.pt")
    loaded = Recognizer.load(path)
    a = recognizer.predict(image, 0.12, threshold=0.0)
    b = loaded.predict(image, 0.12, threshold=0.0)
    np.testing.assert_array_equal(a.maps, b.maps)
    half = Recognizer.load(recognizer.save(tmp_path / "h.pt", half=True))
    np.testing.assert_allclose(half.predict(image, 0.12).maps, a.maps, atol=0.02)
    assert loaded.sampling_range == (0.108, 0.132) and loaded.class_names == ("C",)


def test_sampling_outside_the_training_range(recognizer):
    image = np.random.default_rng(4).normal(size=(64, 64))
    near = recognizer.predict(image, 0.14)  # slightly outside: resampled, no warning
    assert near.sampling == pytest.approx(0.12, rel=0.03)
    with pytest.warns(UserWarning, match=r"0.108–0.132"):
        far = recognizer.predict(image, 0.3)
    assert far.maps.shape[1] > 64 * 2


def test_bad_input(recognizer, tmp_path):
    good = np.random.default_rng(5).normal(size=(32, 32))
    with pytest.raises(ValueError, match="NaN"):
        recognizer.predict(np.where(good > 1, np.nan, good), 0.12)
    with pytest.raises(ValueError, match="constant"):
        recognizer.predict(np.full((32, 32), 3.0), 0.12)
    with pytest.raises(ValueError, match="channel"):
        recognizer.predict(np.stack([good, good]), 0.12)
    with pytest.raises(ValueError, match="sampling"):
        recognizer.predict(good, -0.1)
    with pytest.raises(ValueError, match="threshold"):
        recognizer.predict(good, 0.12, threshold=1.5)
    with pytest.raises(ValueError, match="does not exist"):
        Recognizer.load(tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="could not be read"):
        Recognizer.load(tmp_path / "corrupt.pt")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an atomscope recognizer"):
        Recognizer.load(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no pretrained model 'silicon'"):
        Recognizer.pretrained("silicon")
