"""Replacing a shipped model only by one that beats it (issue #21 item 4)."""

import shutil

import pytest
import torch

import atomscope.learning.promote as promotion
from atomscope.learning.infer import WEIGHTS, Recognizer
from atomscope.learning.model import FusionNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(structures=1, microscopes=1, narrow_structures=1)


@pytest.fixture
def shipped(tmp_path):
    path = tmp_path / "graphene.pt"
    shutil.copy(WEIGHTS / "graphene.pt", path)
    return path


def test_an_untrained_candidate_does_not_replace_the_shipped_model(tmp_path, shipped):
    before = shipped.read_bytes()
    torch.manual_seed(0)
    candidate = Recognizer(FusionNet(width=8), ("C",), (0.108, 0.132), 10.0)
    candidate.save(tmp_path / "candidate.pt")
    promoted, new, old = promotion.replace_if_better(
        tmp_path / "candidate.pt", shipped, "graphene", **SMALL
    )
    assert not promoted
    assert old.narrow_precision > 0.9 and min(new.narrow_precision, new.narrow_recall) < 0.5
    assert shipped.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate.pt", "graphene.pt"]


def test_a_better_candidate_replaces_it_in_float16(tmp_path, shipped, monkeypatch):
    candidate = Recognizer(FusionNet(width=8), ("C",), (0.108, 0.132), 10.0, {"threshold": 0.3})
    candidate.save(tmp_path / "candidate.pt")
    lens = {"median_precision": 0.9, "median_ideal_recall": 0.9, "images_at_level": 9}
    good = promotion.ModelScores(0.99, 0.99, lens)
    poor = promotion.ModelScores(0.99, 0.99, {**lens, "images_at_level": 1})
    verdicts = iter([good, poor])
    monkeypatch.setattr(promotion, "score_model", lambda *args, **kwargs: next(verdicts))
    promoted, _, _ = promotion.replace_if_better(tmp_path / "candidate.pt", shipped, "graphene")
    assert promoted
    replaced = Recognizer.load(shipped)
    assert replaced.metadata["threshold"] == 0.3
    assert replaced.metadata["validation_random_lens"]["random_lens"]["images_at_level"] == 9
    assert next(iter(replaced.model.state_dict().values())).dtype.is_floating_point


def test_narrow_losses_beyond_a_hundredth_block_promotion():
    lens = {"median_precision": 0.5, "median_ideal_recall": 0.3, "images_at_level": 1}
    old = promotion.ModelScores(0.98, 0.99, lens)
    better_lens = {"median_precision": 0.9, "median_ideal_recall": 0.8, "images_at_level": 8}
    assert promotion.beats(promotion.ModelScores(0.975, 0.99, better_lens), old)
    assert not promotion.beats(promotion.ModelScores(0.96, 0.99, better_lens), old)
    fewer = {**better_lens, "images_at_level": 0}
    assert not promotion.beats(promotion.ModelScores(0.98, 0.99, fewer), old)
    # as many images: recall alone (every spot marked) is not better
    marks_everything = {"median_precision": 0.07, "median_ideal_recall": 1.0, "images_at_level": 1}
    assert not promotion.beats(promotion.ModelScores(0.98, 0.99, marks_everything), old)


def test_a_candidate_of_other_classes_is_refused(tmp_path, shipped):
    other = Recognizer(FusionNet(width=2, num_classes=2), ("Au", "Pt"), (0.09, 0.11), 10.0)
    other.save(tmp_path / "other.pt")
    before = shipped.read_bytes()
    with pytest.raises(ValueError, match="not a replacement"):
        promotion.replace_if_better(tmp_path / "other.pt", shipped, "graphene", **SMALL)
    assert shipped.read_bytes() == before
