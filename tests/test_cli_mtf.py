"""``atomscope mtf``: flat fields (and a knife edge) on disk in, the camera MTF out (issue #16)."""

import csv
import json

import numpy as np
import pytest

from atomscope.cli import main
from atomscope.detection import MTF, Camera
from atomscope.io import write_tiff

TRUTH = MTF("rational", c1=0.2, c2=0.3, c3=3.0)


@pytest.fixture(scope="module")
def flat_fields():
    camera = Camera(sampling=0.5, dose=200, mtf=TRUTH)  # 50 counts per pixel
    return camera.detect(np.ones((4, 512, 512)), rng=3, sampling=0.5)


def edge_image(angle=0.09, counts=1e6, size=256, supersample=8):
    """A slanted knife edge rendered 8× finer, blurred by the true MTF and box-averaged onto the
    pixels: what the pixels of a camera with that MTF record (independent of the estimator)."""
    n = size * supersample
    x = (np.arange(n) + 0.5) / supersample - size / 2
    sharp = (x[:, None] * np.cos(angle) - x[None, :] * np.sin(angle) > 0).astype(float)
    q = 2 * np.fft.fftfreq(n) * supersample  # fraction of the coarse pixels' Nyquist
    blur = TRUTH.evaluate(np.hypot(q[:, None], q[None, :]))
    fine = np.fft.ifft2(np.fft.fft2(sharp) * blur).real
    pixels = fine.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    return np.random.default_rng(0).poisson(counts * (0.2 + 0.8 * pixels)).astype(float)


def read_csv(path):
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def test_flat_fields_and_edge_give_the_camera_mtf(flat_fields, tmp_path):
    flats, edge = tmp_path / "flats.tif", tmp_path / "edge.npz"
    write_tiff(flats, flat_fields)
    np.savez(edge, array=edge_image(), sampling=[0.5, 0.5])
    out = tmp_path / "out"
    assert main(["mtf", str(flats), "--edge", str(edge), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mtf"]["name"] == "rational"
    fitted = MTF.from_parameters(summary["mtf"])
    q = np.linspace(0, np.sqrt(2), 200)
    assert np.abs(fitted.evaluate(q) - TRUTH.evaluate(q)).max() < 0.02
    assert summary["mtf"]["c3"] == pytest.approx(3.0, rel=0.05)
    assert summary["dqe0"] == pytest.approx(1.0, abs=0.05)  # Poisson counts: DQE(0) = 1
    table = read_csv(out / "mtf.csv")
    np.testing.assert_allclose(table["k_per_A"], table["q"] / (2 * 0.5), rtol=1e-4)
    edge_table = read_csv(out / "edge.csv")
    truth_with_pixel = TRUTH.evaluate(edge_table["q"]) * np.sinc(edge_table["q"] / 2)
    assert np.abs(edge_table["measured"] - truth_with_pixel).max() < 0.03
    assert (out / "mtf.png").stat().st_size > 10_000


def test_uncalibrated_frames_give_q_only(flat_fields, tmp_path):
    path = tmp_path / "flat.npz"
    np.savez(path, array=flat_fields.array[:2])
    out = tmp_path / "out"
    assert main(["mtf", str(path), "--model", "table", "--out", str(out)]) == 0
    assert "k_per_A" not in read_csv(out / "mtf.csv")
    assert json.loads((out / "summary.json").read_text())["arguments"]["sampling"] is None


@pytest.mark.parametrize(
    "make, options, message",
    [
        (lambda a: a * (1 + 0.2 * np.linspace(0, 1, a.shape[-1])), [], "5 %"),
        (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 5, np.nan, a), [], "finite"),
        (lambda a: a, ["--gain", "0"], "gain"),
        (lambda a: a, ["--edge", "FLAT"], "no edge"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    flat_fields, tmp_path, capsys, make, options, message
):
    path = tmp_path / "flat.npz"
    np.savez(path, array=make(flat_fields.array[:2].astype(float)), sampling=[0.5, 0.5])
    flat_edge = tmp_path / "edge.npz"  # a flat frame given as the edge image
    np.savez(flat_edge, array=flat_fields.array[0], sampling=[0.5, 0.5])
    options = [str(flat_edge) if option == "FLAT" else option for option in options]
    out = tmp_path / "out"
    assert main(["mtf", str(path), *options, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_frames_of_different_shapes_are_refused(flat_fields, tmp_path, capsys):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(first, array=flat_fields.array[0], sampling=[0.5, 0.5])
    np.savez(second, array=flat_fields.array[1][:-4], sampling=[0.5, 0.5])
    assert main(["mtf", str(first), str(second), "--out", str(tmp_path / "out")]) == 2
    assert "share one shape" in capsys.readouterr().err
