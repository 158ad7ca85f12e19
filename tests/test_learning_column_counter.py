"""The column counter of the gold-counting model (issue #18): patches, the file, training."""

import numpy as np
import pytest
import torch

from atomscope.learning.column_counter import (
    MIN_COLUMNS,
    ColumnCounter,
    PatchGeometry,
    column_patches,
    vacuum_relative,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blob_image(centre, sampling=0.1, shape=(96, 96), width=0.5):
    x = np.arange(shape[0]) * sampling
    y = np.arange(shape[1]) * sampling
    return np.exp(-((x[:, None] - centre[0]) ** 2 + (y[None, :] - centre[1]) ** 2) / (2 * width**2))


def test_patches_are_centred_on_the_column_and_turn_with_it():
    image = _blob_image((4.0, 5.0))
    stack = np.stack([image, 2 * image, 3 * image])
    patches = column_patches(stack, 0.1, [[4.0, 5.0]])
    assert patches.shape == (1, 6, 16, 16)
    fine = patches[0, 0]
    # the blob's maximum is at the patch centre (between the middle points of an even grid)
    assert np.unravel_index(fine.argmax(), fine.shape) in {(7, 7), (7, 8), (8, 7), (8, 8)}
    np.testing.assert_allclose(patches[0, 1], 2 * fine, rtol=1e-5)  # images kept apart
    # a round blob looks the same however the patch is turned or mirrored
    turned = column_patches(stack, 0.1, [[4.0, 5.0]] * 8, rng=np.random.default_rng(0))
    np.testing.assert_allclose(turned[:, 0], np.broadcast_to(fine, turned[:, 0].shape), atol=0.02)
    # the coarse patch spans 16 Å: the blob is one bright point in its middle
    coarse = patches[0, 3]
    assert coarse.max() == coarse[7:9, 7:9].max() and np.sum(coarse > 0.5 * coarse.max()) <= 4


def test_vacuum_relative_needs_a_positive_vacuum_level():
    with pytest.raises(ValueError, match="positive vacuum level"):
        vacuum_relative(np.zeros((1, 4, 4)))


@pytest.mark.parametrize(
    "options, message",
    [({"size": 12}, "size must be a multiple of 8"), ({"fine": 0.0}, "fine")],
)
def test_bad_patch_geometry(options, message):
    with pytest.raises(ValueError, match=message):
        PatchGeometry(**options)


def _columns(count=12, seed=0):
    rng = np.random.default_rng(seed)
    positions = rng.uniform(2.0, 7.0, (count, 2))
    image = 1 + sum(_blob_image(p) for p in positions)
    stack = np.stack([image, image**1.1, image**0.9])
    return stack, positions


def test_counts_follow_the_columns_and_the_file_round_trips(tmp_path):
    torch.manual_seed(0)
    counter = ColumnCounter(np.arange(1, 6), in_images=3, width=4)
    stack, positions = _columns()
    counts, probabilities = counter.predict(stack, 0.1, positions)
    assert counts.shape == (12,) and probabilities.shape == (12, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(counts, probabilities.argmax(axis=1) + 1)
    # the columns are normalised as a set: their order does not matter
    order = np.random.default_rng(1).permutation(12)
    _, shuffled = counter.predict(stack, 0.1, positions[order])
    np.testing.assert_allclose(shuffled, probabilities[order], atol=1e-5)
    # the counts do not depend on the intensity unit (each image over its vacuum level)
    np.testing.assert_allclose(counter.predict(250 * stack, 0.1, positions)[1], probabilities,
                               atol=1e-5)  # fmt: skip
    loaded = ColumnCounter.load(counter.save(tmp_path / "counter.pt"))
    np.testing.assert_allclose(loaded.predict(stack, 0.1, positions)[1], probabilities, atol=1e-6)
    assert loaded.geometry == counter.geometry


def test_bad_counter_input_and_files(tmp_path):
    counter = ColumnCounter(np.arange(1, 6), in_images=3, width=4)
    stack, positions = _columns()
    with pytest.raises(ValueError, match=r"images has 2 images; this counter takes .* 3"):
        counter.predict(stack[:2], 0.1, positions)
    with pytest.raises(ValueError, match=f"at least {MIN_COLUMNS}"):
        counter.predict(stack, 0.1, positions[:2])
    assert counter.predict(stack, 0.1, np.zeros((0, 2)))[0].shape == (0,)
    with pytest.raises(ValueError, match="atoms_per_class"):
        ColumnCounter([0, 1])
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not be read"):
        ColumnCounter.load(broken)
    with pytest.raises(ValueError, match="does not exist"):
        ColumnCounter.load(tmp_path / "missing.pt")
    other = ColumnCounter(np.arange(1, 6), in_images=3, width=8).state()
    other["config"]["width"] = 4
    with pytest.raises(ValueError, match="weights that do not fit"):
        ColumnCounter.from_state(other)
    with pytest.raises(ValueError, match="not an atomscope column counter"):
        ColumnCounter.from_state({"format": "something else"})


def test_a_recognizer_carries_its_counter_through_its_file(tmp_path):
    from atomscope.learning import Recognizer
    from atomscope.learning.model import FusionNet

    names = tuple(f"{n} atoms" for n in range(1, 6))
    metadata = {"atoms_per_class": list(range(1, 6))}
    counter = ColumnCounter(np.arange(1, 6), in_images=3, width=4)
    recognizer = Recognizer(FusionNet(3, 5, width=2), names, (0.09, 0.11), 10.0, metadata, counter)
    loaded = Recognizer.load(recognizer.save(tmp_path / "model.pt"))
    stack, positions = _columns()
    np.testing.assert_allclose(
        loaded.column_counter.predict(stack, 0.1, positions)[1],
        counter.predict(stack, 0.1, positions)[1],
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="column_counter must count the model's classes"):
        Recognizer(FusionNet(3, 5, width=2), names, (0.09, 0.11), 10.0, {}, counter)
    with pytest.raises(ValueError, match="column_counter takes 3 images"):
        Recognizer(FusionNet(2, 5, width=2), names, (0.09, 0.11), 10.0, metadata, counter)


def test_training_writes_a_counter_that_loads(tmp_path):
    from atomscope.learning import generate
    from atomscope.learning.train_counter import train_column_counter

    data = generate("gold-counting", 2, rng=5, extent=24.0, structure_options={"radius": (4, 5)})
    counter = train_column_counter(
        data, tmp_path, iterations=3, width=4, checkpoint_every=2, progress=False
    )
    loaded = ColumnCounter.load(tmp_path / "column_counter.pt")
    assert loaded.metadata["iterations"] == 3 and np.isfinite(loaded.metadata["final_loss"])
    np.testing.assert_array_equal(loaded.atoms_per_class, counter.atoms_per_class)
    with pytest.raises(ValueError, match="schedule"):
        train_column_counter(data, tmp_path, iterations=1, schedule="linear")
