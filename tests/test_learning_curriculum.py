"""Validation-driven curriculum, exact augmentation and range files (issue #21 items 1, 2, 4)."""

import copy
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.learning.curriculum import CurriculumLog
from atomscope.learning.data import TrainingImages, _dihedral, _shifted, generate
from atomscope.learning.randomize import EASY_RANGES, GRAPHENE_80KV, read_ranges
from atomscope.learning.train import TrainConfig, train
from atomscope.waves.waves import Waves

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(batch_size=2, crops_per_image=2, crop=48, width=2, checkpoint_every=3)
VALIDATED = dict(validate_every=2, validation_structures=1, validation_microscopes=1)


@pytest.fixture(scope="module")
def waves():
    return generate("graphene", 2, rng=0, extent=20.0)


def run(path, waves, iterations, **settings):
    config = TrainConfig(iterations=iterations, **TINY, **VALIDATED, **settings)
    return train(config, path, waves, progress=False)


def test_curriculum_widens_when_validation_passes_and_not_otherwise(waves, tmp_path):
    run(tmp_path / "pass", waves, 6, curriculum_levels=2, curriculum_threshold=0.0)
    log = json.loads((tmp_path / "pass" / "curriculum.json").read_text())
    assert [h["level"] for h in log["history"]] == [0, 1, 2]
    assert [h["fraction"] for h in log["history"]] == [0.0, 0.5, 1.0]
    assert log["level"] == 2
    run(tmp_path / "never", waves, 4, curriculum_levels=2, curriculum_threshold=1.0)
    log = json.loads((tmp_path / "never" / "curriculum.json").read_text())
    assert log["level"] == 0 and len(log["history"]) == 2
    assert (tmp_path / "never" / "curriculum.png").stat().st_size > 0
    assert (tmp_path / "never" / "best.pt").is_file()
    # weights that passed the lower levels start where they left off
    run(
        tmp_path / "late",
        waves,
        2,
        curriculum_levels=4,
        curriculum_threshold=1.0,
        curriculum_start=3,
    )
    log = json.loads((tmp_path / "late" / "curriculum.json").read_text())
    assert [h["fraction"] for h in log["history"]] == [0.75]


def test_curriculum_run_resumes_identically(waves, tmp_path):
    settings = dict(curriculum_levels=3, curriculum_threshold=0.0, augment=True)
    straight = run(tmp_path / "a", waves, 6, **settings)
    run(tmp_path / "b", waves, 3, **settings)
    resumed = run(tmp_path / "b", waves, 6, **settings)
    assert resumed.losses == straight.losses
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    logs = [json.loads((tmp_path / d / "curriculum.json").read_text()) for d in "ab"]
    assert logs[0] == logs[1]


def test_items_draw_from_the_curriculum_position(waves):
    images = TrainingImages(waves, GRAPHENE_80KV, 48, 0, start_ranges=_easy())
    images.fraction = 0.0
    assert images.ranges_at(5).C10 == EASY_RANGES["C10"]
    images.fraction = 1.0
    assert images.ranges_at(5) == GRAPHENE_80KV


def _easy():
    from dataclasses import replace

    return replace(GRAPHENE_80KV, **EASY_RANGES)


def test_augmented_crops_keep_the_truth_on_the_atoms(waves):
    # bright-atom lens at high dose: the image correlates with its atom map, crop by crop, after
    # the sub-pixel shift and the rotations/flips (a misaligned truth would not)
    from dataclasses import replace

    lens = replace(_easy(), dose=(1e6, 1e6), C10=(85.0, 85.0))
    plain = TrainingImages(waves, lens, 48, seed=3, crops=4)
    augmented = TrainingImages(waves, lens, 48, seed=3, crops=4, augment=True)
    for images in (plain, augmented):
        for index in range(3):
            image, truth = images.sample(index)
            for crop, atoms in zip(image[:, 0], truth[:, 1], strict=True):
                assert np.corrcoef(crop.ravel(), atoms.ravel())[0, 1] > 0.3
    a, b = plain.sample(0)[1], augmented.sample(0)[1]
    assert not np.allclose(a, b)


@settings(max_examples=20, deadline=None)
@given(symmetry=st.integers(0, 7), seed=st.integers(0, 2**16))
def test_dihedral_symmetries_are_exact_and_invertible(symmetry, seed):
    array = np.random.default_rng(seed).normal(size=(2, 6, 6))
    moved = _dihedral(array, symmetry)
    assert sorted(moved.ravel()) == sorted(array.ravel())  # a permutation of the pixels
    inverse = {1: 3, 3: 1}.get(symmetry, symmetry)  # rotations by ±90° undo each other
    assert np.array_equal(_dihedral(moved, inverse), array)


@settings(max_examples=20, deadline=None)
@given(dx=st.floats(-1.0, 1.0), dy=st.floats(-1.0, 1.0))
def test_subpixel_shift_is_unitary_and_moves_the_atoms(dx, dy):
    x, y = np.mgrid[0:64, 0:64] * 0.1
    wave = Waves(np.exp(1j * np.exp(-((x - 3.2) ** 2 + (y - 3.2) ** 2) / 0.1)), 0.1, 80e3)
    moved, positions = _shifted(wave, np.array([[3.2, 3.2]]), np.array([dx, dy]))
    assert np.linalg.norm(moved.array) == pytest.approx(np.linalg.norm(wave.array), rel=1e-5)
    phase = np.angle(moved.array)
    centre = np.array([(phase * x).sum(), (phase * y).sum()]) / phase.sum()
    assert np.allclose(centre, positions[0], atol=0.01)
    back, start = _shifted(moved, positions, -np.array([dx, dy]))
    assert np.allclose(back.array, wave.array, atol=1e-5) and np.allclose(start, [[3.2, 3.2]])


def test_curriculum_log_round_trips():
    log = CurriculumLog(levels=4, threshold=0.7)
    log.record(10, 0.9, (0.5, 0.6, 0.4, 0.3))
    assert CurriculumLog.from_dict(json.loads(json.dumps(log.to_dict()))) == log


def test_bad_curriculum_settings_are_refused_before_work():
    with pytest.raises(ValueError, match="validate_every"):
        TrainConfig(curriculum_levels=3)
    with pytest.raises(ValueError, match="exclude each other"):
        TrainConfig(curriculum_levels=3, validate_every=10, curriculum_iterations=100)
    with pytest.raises(ValueError, match="curriculum_threshold"):
        TrainConfig(curriculum_levels=3, validate_every=10, curriculum_threshold=1.5)
    with pytest.raises(ValueError, match="validate_every"):
        TrainConfig(preset="gold-counting", num_images=3, validate_every=10)
    with pytest.raises(
        ValueError, match=r"curriculum_start must be within 0…curriculum_levels \(3\)"
    ):
        TrainConfig(curriculum_levels=3, validate_every=10, curriculum_start=4)


def test_range_files_are_checked_and_name_the_problem(tmp_path):
    good = tmp_path / "ranges.json"
    good.write_text(json.dumps({"dose": [3e3, 3e4], "Cs": [-2e5, 2e5]}))
    assert read_ranges(good) == {"dose": (3e3, 3e4), "Cs": (-2e5, 2e5)}
    cases = {
        "C10 = [100, -100]": "low 100 > high -100",
        "focus = [0, 1]": "unknown parameter 'focus'",
        "dose = [0, 1e4]": "dose must be > 0",
        "C10 = 5": "C10 must be",
        "C10 = [": "could not be read",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_ranges(path)


def test_data_workers_give_the_same_training(waves, tmp_path):
    settings = dict(curriculum_levels=2, curriculum_threshold=0.0, augment=True)
    config = TrainConfig(iterations=5, **TINY, **VALIDATED, **settings)
    here = train(config, tmp_path / "here", waves, progress=False)
    ahead = train(config, tmp_path / "ahead", waves, progress=False, data_workers=1)
    assert here.losses == ahead.losses
    for (name, a), (_, b) in zip(
        here.model.state_dict().items(), ahead.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="data_workers"):
        train(config, tmp_path / "bad", waves, progress=False, data_workers=-1)
    assert not (tmp_path / "bad").exists()


def test_a_model_trained_on_standardised_images_is_applied_so(waves, tmp_path):
    from atomscope.learning.infer import Recognizer
    from atomscope.learning.model import FusionNet
    from atomscope.learning.normalize import normalize_input

    config = TrainConfig(iterations=2, **TINY, normalization="standard")
    train(config, tmp_path, waves, progress=False)
    model = Recognizer.load(tmp_path / "model.pt")
    assert model.normalization == "standard"
    ramp = np.linspace(0, 20, 120)[:, None]  # a background over 14 Å: LCN removes it locally
    image = np.random.default_rng(0).normal(size=(120, 120)) + ramp
    assert not np.allclose(
        normalize_input(image, "standard", 10.0, 0.12), normalize_input(image, "lcn", 10.0, 0.12)
    )
    # the input a standardised model sees: the same maps for an affine change of the image
    first = model.predict(image, 0.12, threshold=0.0).maps
    assert np.allclose(first, model.predict(3 * image + 7, 0.12, threshold=0.0).maps, atol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        Recognizer(FusionNet(width=2), ("C",), (0.1, 0.2), 10.0, {"normalization": "global"})
    with pytest.raises(ValueError, match="normalization"):
        TrainConfig(normalization="global")


def _scrambled_running_statistics(model):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.1, 10.0)


def test_per_image_statistics_normalise_each_image_by_its_own_maps():
    from atomscope.learning.model import FusionNet, per_image_statistics

    torch.manual_seed(0)
    model = FusionNet(width=2).eval()
    first, second = torch.randn(1, 1, 32, 32), 5 * torch.randn(1, 1, 32, 32) + 3
    adapted = per_image_statistics(model)
    with torch.no_grad():
        alone = model.train()(first)  # training mode: the batch's own statistics
        assert torch.allclose(adapted(first), alone, atol=1e-6)
        # the running statistics play no part; the model handed in is left as it was
        _scrambled_running_statistics(model)
        assert torch.allclose(per_image_statistics(model)(first), alone, atol=1e-6)
        assert not torch.allclose(model.eval()(first), alone, atol=1e-3)
        # two images in one pass keep their own statistics
        both = adapted(torch.cat([first, second]))
        assert torch.allclose(both[:1], adapted(first), atol=1e-5)
        assert torch.allclose(both[1:], adapted(second), atol=1e-6)


def test_a_model_with_per_image_statistics_is_applied_so(waves, tmp_path):
    from atomscope.learning.infer import Recognizer
    from atomscope.learning.model import FusionNet

    config = TrainConfig(iterations=2, **TINY, batch_statistics="image")
    train(config, tmp_path, waves, progress=False)
    model = Recognizer.load(tmp_path / "model.pt")
    assert model.metadata["batch_statistics"] == "image"
    image = np.random.default_rng(1).normal(size=(64, 64))
    maps = model.predict(image, 0.12, threshold=0.0).maps
    running = Recognizer(model.model, model.class_names, model.sampling_range, 10.0)
    assert not np.allclose(running.predict(image, 0.12, threshold=0.0).maps, maps, atol=1e-3)
    with torch.no_grad():  # the running statistics play no part
        _scrambled_running_statistics(model.model)
    model.model = model.model.eval()  # a new model object: the recognizer rebuilds its network
    assert np.allclose(model.predict(image, 0.12, threshold=0.0).maps, maps, atol=1e-5)
    with pytest.raises(ValueError, match="batch_statistics"):
        Recognizer(FusionNet(width=2), ("C",), (0.1, 0.2), 10.0, {"batch_statistics": "tile"})
    with pytest.raises(ValueError, match="batch_statistics"):
        TrainConfig(batch_statistics="tile")


def test_per_image_training_normalises_each_simulated_image_on_its_own():
    from atomscope.learning.model import FusionNet
    from atomscope.learning.train import forward

    torch.manual_seed(0)
    model = FusionNet(width=2).train()
    x = torch.cat([torch.randn(2, 1, 32, 32), 4 * torch.randn(2, 1, 32, 32) + 2])
    per_image = forward(model, x, crops_per_image=2, batch_statistics="image")
    assert torch.allclose(per_image[:2], model(x[:2]), atol=1e-6)
    assert torch.allclose(per_image[2:], model(x[2:]), atol=1e-6)
    assert not torch.allclose(per_image, model(x), atol=1e-3)  # the batch's pooled statistics
    assert torch.equal(forward(model, x, 2, "running"), model(x))


def _far_corner_effect(model, size=256):
    """How much the output in the first 64² px moves when the far corner of the input changes (in
    double precision: a random network passes little of its lowest level on)."""
    model = copy.deepcopy(model).double()
    torch.manual_seed(2)
    x = torch.randn(1, 1, size, size, dtype=torch.float64)
    changed = x.clone()
    changed[..., -16:, -16:] += 10.0
    with torch.no_grad():
        return float((model(x) - model(changed))[..., :64, :64].abs().max())


def test_global_context_reaches_every_pixel_and_starts_as_the_network_without_it():
    from atomscope.learning.model import FusionNet

    torch.manual_seed(0)
    plain = FusionNet(width=2).eval()
    # the far corner is outside the receptive field of the first 64² px of the plain network
    assert _far_corner_effect(plain) == 0.0
    context = FusionNet(width=2, global_context=True).eval()
    missing = context.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith("context.") for key in missing)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(context(x), plain(x))  # the branch starts at zero
        torch.nn.init.normal_(context.context.broadcast.weight)
    assert _far_corner_effect(context) > 1e-12
    with pytest.raises(ValueError, match="global_context"):
        FusionNet(width=2, global_context="yes")


def test_a_model_with_global_context_is_saved_trained_and_refused_as_it_should(waves, tmp_path):
    from atomscope.learning.infer import Recognizer
    from atomscope.learning.model import FusionNet

    train(TrainConfig(iterations=1, **TINY), tmp_path / "plain", waves, progress=False)
    plain = Recognizer.load(tmp_path / "plain" / "model.pt")
    assert plain.model.global_context is False
    # started from weights without the branch: the same network until the branch is trained
    config = TrainConfig(
        iterations=1,
        **TINY,
        learning_rate=1e-12,
        global_context=True,
        init_weights=str(tmp_path / "plain" / "model.pt"),
    )
    tuned = train(config, tmp_path / "context", waves, progress=False).model
    loaded = Recognizer.load(tmp_path / "context" / "model.pt")
    assert loaded.model.global_context is True
    for key, value in tuned.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value)
    started = plain.model.state_dict()
    for key in started:
        if key.endswith("weight"):
            torch.testing.assert_close(loaded.model.state_dict()[key], started[key])
    # the untrained branch changes nothing: the same network without it gives the same maps
    without = FusionNet(width=2)
    without.load_state_dict(
        {k: v for k, v in loaded.model.state_dict().items() if not k.startswith("context.")}
    )
    image = np.random.default_rng(1).normal(size=(64, 64))
    maps = loaded.predict(image, 0.12, threshold=0.0).maps
    again = Recognizer(without, loaded.class_names, loaded.sampling_range, 10.0)
    assert np.allclose(again.predict(image, 0.12, threshold=0.0).maps, maps, atol=1e-5)
    # a network with the branch cannot start a run without it (its branch would be lost)
    back = TrainConfig(iterations=1, **TINY, init_weights=str(tmp_path / "context" / "model.pt"))
    with pytest.raises(ValueError, match="global-context branch"):
        train(back, tmp_path / "back", waves, progress=False)
    assert not (tmp_path / "back").exists()
    # the file says whether the branch is there; files written before it have none
    content = torch.load(tmp_path / "plain" / "model.pt", weights_only=True)
    del content["config"]["global_context"]
    torch.save(content, tmp_path / "old.pt")
    assert Recognizer.load(tmp_path / "old.pt").model.global_context is False
    content["config"]["global_context"] = "yes"
    torch.save(content, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="global_context must be true or false"):
        Recognizer.load(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="global_context"):
        TrainConfig(global_context=1)
    assert isinstance(FusionNet(width=2, global_context=True).context.features, torch.nn.Conv2d)
