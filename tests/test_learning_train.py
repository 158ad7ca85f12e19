"""Training loop (atomscope.learning.train): Eq 6.6, determinism, resumable checkpoints."""

from pathlib import Path

import numpy as np
import pytest
import torch

from atomscope.learning.data import TrainingImages, generate
from atomscope.learning.infer import Recognizer
from atomscope.learning.model import FusionNet
from atomscope.learning.randomize import GRAPHENE_80KV
from atomscope.learning.train import TrainConfig, loss_function, train
from atomscope.outputs import record_outputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(batch_size=2, crops_per_image=2, crop=32, width=2, checkpoint_every=2)


@pytest.fixture(scope="module")
def waves():
    return generate("graphene", 1, rng=0, extent=8.0, sampling=0.1)


def test_loss_is_squared_error_plus_half_lambda_w_squared():
    torch.manual_seed(0)
    net = FusionNet(width=2)
    output, truth = torch.rand(2, 2, 8, 8), torch.rand(2, 2, 8, 8)
    total, data = loss_function(output, truth, net.parameters(), weight_decay=0.01)
    expected_data = ((output - truth) ** 2).sum(dim=1).mean()
    squares = sum(float((p.detach() ** 2).sum()) for p in net.parameters())
    assert data.item() == pytest.approx(float(expected_data))
    assert total.item() == pytest.approx(float(expected_data) + 0.5 * 0.01 * squares, rel=1e-6)


def test_loss_decreases_on_a_fixed_batch(waves):
    images = TrainingImages(waves, GRAPHENE_80KV, crop=32, seed=0, crops=4)
    x, y = (torch.from_numpy(a) for a in images.sample(0))
    torch.manual_seed(0)
    net = FusionNet(width=3)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        loss, data = loss_function(net(x), y, net.parameters(), 1e-5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(data.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_training_is_deterministic_and_resumes_identically(waves, tmp_path):
    straight = train(TrainConfig(iterations=4, **TINY), tmp_path / "a", waves, progress=False)
    train(TrainConfig(iterations=2, **TINY), tmp_path / "b", waves, progress=False)
    resumed = train(TrainConfig(iterations=4, **TINY), tmp_path / "b", waves, progress=False)
    assert len(resumed.losses) == 4
    assert resumed.losses == straight.losses
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert (tmp_path / "a" / "loss.png").stat().st_size > 0
    loaded = Recognizer.load(tmp_path / "a" / "model.pt")
    assert loaded.metadata["iterations"] == 4
    assert loaded.sampling_range == GRAPHENE_80KV.sampling


def test_checkpoint_of_another_config_or_damaged_is_refused(waves, tmp_path):
    train(TrainConfig(iterations=2, **TINY), tmp_path, waves, progress=False)
    with pytest.raises(ValueError, match="width"):
        train(TrainConfig(iterations=2, **{**TINY, "width": 3}), tmp_path, waves, progress=False)
    with pytest.raises(ValueError, match="iterations"):
        train(TrainConfig(iterations=1, **TINY), tmp_path, waves, progress=False)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="was not written by `atomscope train`"):
        train(TrainConfig(iterations=2, **TINY), tmp_path, waves, progress=False)
    record_outputs(tmp_path, "train", ["checkpoint.pt"])  # damaged after train recorded it
    with pytest.raises(ValueError, match="could not be read"):
        train(TrainConfig(iterations=2, **TINY), tmp_path, waves, progress=False)


def test_bad_config():
    with pytest.raises(ValueError, match="crop"):
        TrainConfig(crop=30)
    with pytest.raises(ValueError, match="multiple of crops_per_image"):
        TrainConfig(batch_size=6, crops_per_image=4)
    with pytest.raises(ValueError, match="preset"):
        TrainConfig(preset="silicon")
    with pytest.raises(ValueError, match="ranges"):
        TrainConfig(ranges={"not_a_field": (0, 1)})


def test_focal_series_model_takes_that_many_channels(waves, tmp_path):
    config = TrainConfig(iterations=1, num_images=2, **TINY)
    result = train(config, tmp_path, waves, progress=False)
    assert result.model.in_channels == 2
    recognizer = Recognizer.load(tmp_path / "model.pt")
    stack = np.random.default_rng(0).normal(size=(2, 40, 40))
    assert recognizer.predict(stack, 0.12, threshold=0).maps.shape == (2, 40, 40)
    with pytest.raises(ValueError, match="takes 2"):
        recognizer.predict(stack[0], 0.12)


def test_init_weights_starts_from_a_saved_model(waves, tmp_path):
    first = train(TrainConfig(iterations=2, **TINY), tmp_path / "a", waves, progress=False)
    config = TrainConfig(
        iterations=1, learning_rate=1e-12, init_weights=str(tmp_path / "a" / "model.pt"), **TINY
    )
    tuned = train(config, tmp_path / "b", waves, progress=False)
    fresh = train(
        TrainConfig(iterations=1, learning_rate=1e-12, **TINY),
        tmp_path / "c",
        waves,
        progress=False,
    )
    start, after, scratch = (r.model.state_dict() for r in (first, tuned, fresh))
    weights = [name for name in start if name.endswith("weight")]
    for name in weights:
        torch.testing.assert_close(after[name], start[name], atol=1e-9, rtol=0)
    assert any(not torch.allclose(scratch[name], start[name]) for name in weights)


def test_init_weights_must_fit_the_network(waves, tmp_path):
    train(TrainConfig(iterations=1, **TINY), tmp_path / "a", waves, progress=False)
    with pytest.raises(ValueError, match=r"init_weights .* is not a file"):
        TrainConfig(init_weights=str(tmp_path / "missing.pt"))
    wider = TrainConfig(
        iterations=1, **{**TINY, "width": 3}, init_weights=str(tmp_path / "a" / "model.pt")
    )
    with pytest.raises(ValueError, match=r"init_weights .* another shape"):
        train(wider, tmp_path / "b", waves, progress=False)


@pytest.mark.parametrize("kind", ["squared", "cross_entropy"])
def test_atom_weight_scales_the_atom_classes_only(kind):
    torch.manual_seed(1)
    output = torch.softmax(torch.rand(2, 3, 8, 8), dim=1)
    truth = torch.softmax(torch.rand(2, 3, 8, 8), dim=1)
    terms = (
        (output - truth) ** 2 if kind == "squared" else -(truth * torch.log(output.clamp_min(1e-7)))
    )
    background, atoms = terms[:, 0].mean(), terms[:, 1:].sum(dim=1).mean()
    _, data = loss_function(output, truth, [], 0.0, kind, atom_weight=5.0)
    assert data.item() == pytest.approx(float(background + 5 * atoms), rel=1e-6)
    with pytest.raises(ValueError, match="atom_weight"):
        TrainConfig(atom_weight=0)


def test_a_checkpoint_that_cannot_be_read_back_never_replaces_the_last_good_one(
    waves, tmp_path, monkeypatch
):
    train(TrainConfig(iterations=2, **TINY), tmp_path, waves, progress=False)
    good = (tmp_path / "checkpoint.pt").read_bytes()

    def damaged_save(obj, path):  # a write cut short: the file exists but is not a checkpoint
        Path(path).write_bytes(b"PK\x03\x04 cut short")

    monkeypatch.setattr(torch, "save", damaged_save)
    with pytest.raises(OSError, match="not replaced"):
        train(TrainConfig(iterations=4, **TINY), tmp_path, waves, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert not list(tmp_path.glob(".*.tmp"))
