"""The shipped pretrained models on held-out simulations (issue #7)."""

import numpy as np
import pytest

from atomscope.learning import Recognizer, evaluate, evaluation_microscope, generate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def graphene():
    return Recognizer.pretrained("graphene")


def test_graphene_model_card_and_settings(graphene):
    assert graphene.class_names == ("C",)
    assert graphene.sampling_range[0] < 0.12 < graphene.sampling_range[1]
    assert 0 < graphene.metadata["threshold"] < 1
    assert graphene.metadata["iterations"] == sum(
        stage["iterations"] for stage in graphene.metadata["training"]
    )


def test_graphene_finds_atoms_on_held_out_polycrystalline_graphene(graphene):
    # one structure never used in training or in the model card's validation (seed 2024)
    held_out = generate("polycrystalline", 1, rng=2024)
    thresholds = [*np.linspace(0, 0.95, 20), graphene.metadata["threshold"]]
    results = evaluate(graphene, held_out, evaluation_microscope(1e4), rng=3, thresholds=thresholds)
    net, ideal, baseline = results["all"], results["ideal"], results["baseline"]
    assert ideal.truth > 100
    # at the model's validated threshold (the last one)
    assert net.precision[-1] >= 0.95 and ideal.recall[-1] >= 0.95

    def f1(evaluation):
        return (
            2
            * evaluation.precision
            * evaluation.recall
            / (evaluation.precision + evaluation.recall)
        )

    # the Gaussian-filter + local-maxima baseline on the same image, at its best threshold
    assert f1(net)[-1] > np.nanmax(f1(baseline)[:-1]) + 0.1


def test_missing_pretrained_model_names_the_shipped_ones():
    with pytest.raises(ValueError, match=r"shipped models: .*graphene"):
        Recognizer.pretrained("silicon")


def test_recognize_command_with_the_shipped_graphene_model(tmp_path, capsys):
    from atomscope.cli import main
    from atomscope.io import write_tiff
    from atomscope.learning.randomize import image_from_exit_wave

    held_out = generate("polycrystalline", 1, rng=2025)
    image = image_from_exit_wave(held_out.wave(0), evaluation_microscope(1e4), rng=0)
    path = tmp_path / "graphene.tif"
    write_tiff(path, image.array, sampling=image.sampling[0])
    assert main(["recognize", str(path), "--model", "graphene", "--out", str(tmp_path)]) == 0
    with np.load(tmp_path / "graphene_atoms.npz") as found:
        count = len(found["positions"])
    # about one atom per 2.62 Å² of sheet; the cell is 43.2 Å wide with holes
    assert 0.5 * 43.2**2 / 2.62 < count < 1.05 * 43.2**2 / 2.62
    assert (tmp_path / "graphene_atoms.png").stat().st_size > 0


def test_parallel_watershed_strips_match_one_pass(graphene):
    from atomscope.learning.infer import segment
    from atomscope.learning.normalize import local_contrast_normalization
    from atomscope.learning.randomize import image_from_exit_wave

    wave = generate("polycrystalline", 1, rng=2026).wave(0)
    image = image_from_exit_wave(wave, evaluation_microscope(1e4), rng=0)
    tiled = np.tile(image.array, (2, 1))  # 720 rows: two strips of 360
    maps = graphene.probability_maps(local_contrast_normalization(tiled[None], 10.0, 0.12))
    one = segment(maps, 0.12, threads=1)
    two = segment(maps, 0.12, threads=2)
    assert len(one[0]) == len(two[0]) > 1000
    moved = np.linalg.norm(one[0] - two[0], axis=1) > 1e-6
    # only segments on ties of equal background values may differ, never real atoms
    assert moved.sum() <= 0.001 * len(moved)
    assert np.all(one[2][moved] < graphene.metadata["threshold"])
    np.testing.assert_array_equal(one[2], two[2])
    with pytest.raises(ValueError, match="threads"):
        segment(maps, 0.12, threads=0)


def test_gold_finds_columns_of_held_out_particles():
    from atomscope.learning import gold_evaluation_microscope

    gold = Recognizer.pretrained("gold")
    assert gold.class_names == ("Au column",)
    # two particles never used in training, threshold selection or the model card (seed 2024)
    held_out = generate("gold", 2, rng=2024)
    threshold = gold.metadata["threshold"]
    results = evaluate(
        gold, held_out, gold_evaluation_microscope(1e4), rng=3, thresholds=[threshold]
    )
    assert results["all"].truth > 50
    assert results["all"].recall[0] >= 0.9 and results["all"].precision[0] >= 0.9


def test_confidence_separates_a_recognised_image_from_a_lens_outside_the_model_s_range(graphene):
    # issue #21 item 5: the atoms stay put in the mirror images only where the model works
    import warnings

    from atomscope.detection.camera import Camera
    from atomscope.learning.metrics import precision_recall, within
    from atomscope.learning.randomize import Microscope, draw, image_from_exit_wave

    held_out = generate("polycrystalline", 1, rng=12345)
    truth = held_out.positions[0]
    lenses = np.random.default_rng(0)
    for _ in range(2):
        draw(rng=lenses)
    far = draw(rng=lenses)  # a Table 6.1 lens the model does not handle (recall 0.04)
    far = Microscope(far.ctf, Camera(far.camera.sampling, 1e4, far.camera.mtf))
    outcomes = []
    for microscope in (evaluation_microscope(1e4), far):
        image = image_from_exit_wave(held_out.wave(0), microscope, rng=1)
        extent = np.array(image.shape) * image.sampling[0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = graphene.predict(image.array, image.sampling[0], confidence=True)
        plain = graphene.predict(image.array, image.sampling[0])
        np.testing.assert_array_equal(found.positions, plain.positions)  # same atoms
        assert plain.confidence is None
        inside = within(found.positions, extent, 2.0)
        recall = precision_recall(found.positions[inside], truth[within(truth, extent, 2.0)]).recall
        outcomes.append((recall, found.confidence, [str(w.message) for w in caught]))
    (good_recall, good, good_warnings), (bad_recall, bad, bad_warnings) = outcomes
    assert good_recall > 0.9 and bad_recall < 0.2
    assert good >= 0.9 and not [w for w in good_warnings if "confidence" in w]
    assert bad < 0.6 and any("recognition confidence" in w for w in bad_warnings)
