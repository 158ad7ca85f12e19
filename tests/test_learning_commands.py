"""``atomscope train`` / ``atomscope recognize`` (atomscope.cli.learning)."""

import numpy as np
import pytest

from atomscope.cli import build_parser
from atomscope.io import write_tiff
from atomscope.learning.infer import Recognizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(*argv):
    args = build_parser(only=argv[0]).parse_args(argv)
    args.func(args)


def test_train_then_recognize(tmp_path, capsys):
    out = tmp_path / "run"
    _run(
        "train",
        "--preset",
        "graphene",
        "--iterations",
        "2",
        "--out",
        str(out),
        "--structures",
        "1",
        "--width",
        "2",
        "--crop",
        "32",
        "--batch-size",
        "2",
        "--crops-per-image",
        "2",
        "--checkpoint-every",
        "1",
    )
    assert "2 iterations" in capsys.readouterr().out
    for name in ("checkpoint.pt", "model.pt", "loss.png", "config.json", "exit_waves"):
        assert (out / name).exists(), name
    assert Recognizer.load(out / "model.pt").metadata["iterations"] == 2
    tuned = tmp_path / "tuned"
    _run(
        *("train", "--iterations", "1", "--out", str(tuned), "--structures", "1", "--width", "2"),
        *("--crop", "32", "--batch-size", "2", "--crops-per-image", "2"),
        *("--init-weights", str(out / "model.pt")),
    )
    training = Recognizer.load(tuned / "model.pt").metadata["training"]
    assert training["init_weights"] == str(out / "model.pt")

    image = tmp_path / "image.tif"
    write_tiff(image, np.random.default_rng(0).normal(size=(64, 48)), sampling=0.12)
    _run(
        "recognize",
        str(image),
        "--model",
        str(out / "model.pt"),
        "--threshold",
        "0",
        "--out",
        str(tmp_path / "found"),
    )
    assert "atoms ->" in capsys.readouterr().out
    with np.load(tmp_path / "found" / "image_atoms.npz") as found:
        assert found["positions"].shape[1] == 2
        assert found["maps"].shape == (2, 64, 48)
    assert (tmp_path / "found" / "image_atoms.png").stat().st_size > 0


def test_bad_model_names(tmp_path):
    image = tmp_path / "image.tif"
    write_tiff(image, np.random.default_rng(0).normal(size=(32, 32)), sampling=0.12)
    with pytest.raises(ValueError, match="no pretrained model 'silicon'"):
        _run("recognize", str(image), "--model", "silicon")
    with pytest.raises(ValueError, match="does not exist"):
        _run("recognize", str(image), "--model", str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="crop"):
        _run("train", "--iterations", "1", "--out", str(tmp_path / "x"), "--crop", "30")


def test_train_with_a_ranges_file_and_a_validated_curriculum(tmp_path):
    ranges = tmp_path / "ranges.toml"
    ranges.write_text("dose = [3e3, 3e4]\n")
    out = tmp_path / "run"
    _run(
        *("train", "--iterations", "2", "--out", str(out), "--structures", "1", "--width", "2"),
        *("--crop", "32", "--batch-size", "2", "--crops-per-image", "2", "--augment"),
        *("--ranges", str(ranges), "--curriculum-levels", "2", "--validate-every", "1"),
        *("--curriculum-threshold", "0", "--nice", "0", "--batch-statistics", "image"),
        "--global-context",
    )
    # the validation's best weights are applied as they were trained
    best = Recognizer.load(out / "best.pt")
    assert best.batch_statistics == "image" and best.model.global_context
    training = Recognizer.load(out / "model.pt").metadata["training"]
    assert {k: tuple(v) for k, v in training["ranges"].items()} == {"dose": (3e3, 3e4)}
    assert training["augment"] and training["curriculum_levels"] == 2
    for name in ("curriculum.json", "curriculum.png", "best.pt", "validation"):
        assert (out / name).exists(), name


def test_train_refuses_bad_ranges_files_and_priorities_before_writing(tmp_path):
    bad = tmp_path / "bad.toml"
    for text, message in (("dose = [1e4, 1e3]", "low 10000 > high 1000"), ("foo = [0, 1]", "foo")):
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            _run("train", "--out", str(tmp_path / "x"), "--ranges", str(bad), "--nice", "0")
    with pytest.raises(ValueError, match="--nice"):
        _run("train", "--out", str(tmp_path / "x"), "--nice", "25")
    with pytest.raises(ValueError, match="batch_statistics"):
        _run("train", "--out", str(tmp_path / "x"), "--batch-statistics", "tile", "--nice", "0")
    with pytest.raises(ValueError, match="validate_every"):
        _run("train", "--out", str(tmp_path / "x"), "--curriculum-levels", "2", "--nice", "0")
    assert not (tmp_path / "x").exists()
