"""Exit-wave datasets, truth maps (Eqs 6.7–6.9) and on-the-fly training images."""

from dataclasses import replace

import numpy as np
import pytest

from atomscope.learning.data import (
    ExitWaveDataset,
    TrainingImages,
    generate,
    gold_structure,
    truth_maps,
)
from atomscope.learning.randomize import GRAPHENE_80KV

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def graphene():
    return generate("graphene", 2, rng=0, extent=12.0, sampling=0.1)


def test_truth_maps_are_gaussians_summing_to_one():
    positions = [[1.0, 1.0], [3.0, 2.0], [1.5, 3.0]]
    maps = truth_maps(positions, [0, 1, 1], 2, (0.0, 0.0), (50, 50), 0.1, width=0.4)
    assert maps.shape == (3, 50, 50)
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, atol=1e-6)  # Eq 6.9
    assert maps.min() >= 0 and maps.max() <= 1
    # Eq 6.8: peak 1 at the atom, exp(−1/2) one σ away, in the right class map only
    assert maps[1, 10, 10] == pytest.approx(1.0, abs=1e-5)
    assert maps[1, 14, 10] == pytest.approx(np.exp(-0.5), abs=1e-5)
    assert maps[2, 10, 10] == pytest.approx(0.0, abs=1e-5)
    assert maps[2, 30, 20] == pytest.approx(1.0, abs=1e-5)


def test_overlapping_gaussians_are_capped_at_one():
    maps = truth_maps([[1.0, 1.0], [1.2, 1.0]], [0, 0], 1, (0.0, 0.0), (30, 30), 0.1, width=0.4)
    assert maps[1].max() == pytest.approx(1.0)
    assert maps[0].min() == pytest.approx(0.0, abs=1e-6)


def test_generate_is_reproducible_and_round_trips(graphene, tmp_path):
    again = generate("graphene", 2, rng=0, extent=12.0, sampling=0.1)
    assert np.array_equal(again.waves, graphene.waves)
    assert graphene.waves.shape == (2, 120, 120) and graphene.waves.dtype == np.complex64
    assert graphene.energy == 80e3 and graphene.class_names == ("C",)
    assert all(len(p) > 30 for p in graphene.positions)
    graphene.save(tmp_path / "set")
    opened = ExitWaveDataset.open(tmp_path / "set")
    assert np.array_equal(np.asarray(opened.waves), graphene.waves)
    for a, b in zip(opened.positions, graphene.positions, strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="exists"):
        graphene.save(tmp_path / "set")
    with pytest.raises(ValueError, match="not an exit-wave dataset"):
        ExitWaveDataset.open(tmp_path)


def test_gold_columns_are_the_mean_of_their_atoms():
    atoms, positions, classes = gold_structure(1, extent=30.0, radius=(4.0, 5.0))
    xy = atoms.positions[:, :2]
    distance = np.linalg.norm(xy[:, None] - positions[None], axis=2).min(axis=1)
    assert len(positions) < len(atoms)
    assert distance.max() < 1.0  # every atom lies on a column (tilt ≤ 5°)
    assert np.all((positions > 0) & (positions < 30.0))
    assert set(classes.tolist()) == {0}


def test_training_images_are_registered_with_the_truth(graphene):
    """High dose, bright-atom conditions (Cs −12 µm, C10 +84 Å): image follows the truth map."""
    ranges = replace(
        GRAPHENE_80KV,
        C10=(84.0, 84.0),
        Cs=(-12e4, -12e4),
        C5=(0.0, 0.0),
        astigmatism=(0.0, 0.0),
        dose=(1e6, 1e6),
        brightness=(0.0, 0.0),
        contrast=(1.0, 1.0),
        gamma=(1.0, 1.0),
    )
    images = TrainingImages(graphene, ranges, crop=64, seed=0, crops=2)
    image, truth = images.sample(3)
    assert image.shape == (2, 1, 64, 64) and truth.shape == (2, 2, 64, 64)
    for crop in range(2):
        correlation = np.corrcoef(image[crop, 0].ravel(), truth[crop, 1].ravel())[0, 1]
        assert correlation > 0.5
        shifted = np.roll(truth[crop, 1], 4, axis=0)
        assert np.corrcoef(image[crop, 0].ravel(), shifted.ravel())[0, 1] < correlation - 0.3


def test_training_images_depend_only_on_seed_and_index(graphene):
    images = TrainingImages(graphene, GRAPHENE_80KV, crop=32, seed=4)
    a, ta = images.sample(10)
    b, tb = images.sample(10)
    c, _ = images.sample(11)
    assert np.array_equal(a, b) and np.array_equal(ta, tb)
    assert not np.array_equal(a, c)
    x, y = images[10]
    assert np.array_equal(x.numpy(), a) and np.array_equal(y.numpy(), ta)
    np.testing.assert_allclose(tb.sum(axis=1), 1.0, atol=1e-6)


def test_training_images_bad_input(graphene):
    with pytest.raises(ValueError, match="multiple of 8"):
        TrainingImages(graphene, GRAPHENE_80KV, crop=30, seed=0)
    with pytest.raises(ValueError, match="fit the smallest camera image"):
        TrainingImages(graphene, GRAPHENE_80KV, crop=128, seed=0)
    with pytest.raises(ValueError, match="energy"):
        TrainingImages(graphene, replace(GRAPHENE_80KV, energy=300e3), crop=32, seed=0)
    with pytest.raises(ValueError, match="preset"):
        generate("silicon", 1, rng=0)


def test_gold_dataset_forms_300kv_training_images():
    from atomscope.learning.randomize import GOLD_300KV

    gold = generate("gold", 1, rng=2, extent=24.0, sampling=0.1)
    assert gold.energy == 300e3 and gold.class_names == ("Au column",)
    amplitude = np.abs(gold.waves[0])
    assert amplitude.max() > 1.2 and amplitude.min() < 0.8  # a strong scatterer in vacuum
    image, truth = TrainingImages(gold, GOLD_300KV, crop=64, seed=0).sample(0)
    assert image.shape == (1, 1, 64, 64) and truth.shape == (1, 2, 64, 64)
    np.testing.assert_allclose(truth.sum(axis=1), 1.0, atol=1e-6)


def test_focal_series_follows_eq_6_19(graphene):
    """Channel k is imaged at C10 = C10_0 + 130 k ± 20 Å: compare with direct refocused images."""
    from atomscope.learning.normalize import local_contrast_normalization
    from atomscope.learning.randomize import draw, image_from_exit_wave, refocus

    series = TrainingImages(graphene, GRAPHENE_80KV, crop=32, seed=1, crops=1, num_images=3)
    image, truth = series.sample(0)
    assert image.shape == (1, 3, 32, 32) and truth.shape == (1, 2, 32, 32)
    rng = np.random.default_rng([1, 0])
    wave = graphene.wave(int(rng.integers(len(graphene))))
    microscope = draw(GRAPHENE_80KV, rng)
    first = image_from_exit_wave(wave, microscope, rng)
    stack = [first.array]
    for k in (1, 2):
        C10 = microscope.ctf.aberrations["C10"] + 130.0 * k + rng.uniform(-20, 20)
        assert abs(C10 - microscope.ctf.aberrations["C10"] - 130.0 * k) <= 20
        stack.append(image_from_exit_wave(wave, refocus(microscope, C10), rng).array)
    normalised = local_contrast_normalization(np.stack(stack), 10.0, first.sampling[0])
    offset = rng.integers(0, np.array(first.shape) - 32 + 1, (1, 2))[0]
    np.testing.assert_array_equal(
        image[0], normalised[:, offset[0] : offset[0] + 32, offset[1] : offset[1] + 32]
    )
    assert not np.allclose(image[0, 0], image[0, 1])


def test_curriculum_widens_the_ranges(graphene):
    from atomscope.learning.randomize import EASY_RANGES

    easy = replace(GRAPHENE_80KV, **EASY_RANGES)
    images = TrainingImages(
        graphene, GRAPHENE_80KV, crop=32, seed=0, start_ranges=easy, curriculum=100
    )
    assert images.ranges_at(0) == easy
    assert images.ranges_at(50).C10 == (-65.0, 150.0)
    assert images.ranges_at(100) == images.ranges_at(10**6) == GRAPHENE_80KV
    plain = TrainingImages(graphene, GRAPHENE_80KV, crop=32, seed=0)
    assert plain.ranges_at(0) == GRAPHENE_80KV


def test_generate_on_dask_equals_the_local_run():
    from atomscope.parallel import client

    local = generate("graphene", 2, rng=5, extent=8.0, sampling=0.2)
    with client(workers=1) as dask:
        remote = generate("graphene", 2, rng=5, extent=8.0, sampling=0.2, client=dask)
    np.testing.assert_allclose(remote.waves, local.waves, atol=1e-5)
    for a, b in zip(remote.positions, local.positions, strict=True):
        np.testing.assert_array_equal(a, b)


def test_easy_fraction_mixes_the_two_ranges(graphene):
    from atomscope.learning.randomize import EASY_RANGES

    easy = replace(GRAPHENE_80KV, **EASY_RANGES)
    images = TrainingImages(
        graphene, GRAPHENE_80KV, crop=32, seed=0, start_ranges=easy, easy_fraction=0.3
    )
    chosen = [images.ranges_at(i) == easy for i in range(2000)]
    assert abs(np.mean(chosen) - 0.3) < 0.04
    # items drawn from the full ranges are those of the run without the mixture
    plain = TrainingImages(graphene, GRAPHENE_80KV, crop=32, seed=0)
    full = chosen.index(False)
    np.testing.assert_array_equal(images.sample(full)[0], plain.sample(full)[0])
    with pytest.raises(ValueError, match="start_ranges"):
        TrainingImages(graphene, GRAPHENE_80KV, crop=32, seed=0, easy_fraction=0.5)
