"""`atomscope count`: a focal series in, atoms per column out; bad input refused before work."""

import csv
import json

import numpy as np
import pytest

from atomscope.cli import main
from atomscope.io import write_tiff
from atomscope.learning import FocalSeries, counting_evaluation_microscope, generate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def series_file(tmp_path_factory):
    held_out = generate("gold-counting", 1, rng=2024, structure_options={"tilt": 0.0})
    images = FocalSeries().images(held_out.wave(0), counting_evaluation_microscope(1e6), rng=1)
    path = tmp_path_factory.mktemp("series") / "focal.tif"
    write_tiff(path, np.stack([image.array for image in images]), sampling=images[0].sampling)
    return path


def test_count_writes_columns_with_atoms(series_file, tmp_path, capsys):
    out = tmp_path / "count"
    assert main(["count", str(series_file), "--out", str(out)]) == 0
    with open(out / "focal_columns.csv") as handle:
        rows = list(csv.DictReader(handle))
    summary = json.loads((out / "summary.json").read_text())
    assert len(rows) == summary["num_columns"] > 50
    atoms = np.array([int(row["atoms"]) for row in rows])
    assert atoms.min() >= 1 and atoms.max() <= 14 and atoms.sum() == summary["num_atoms"]
    probabilities = np.array([[float(row[f"p_{n}"]) for n in range(1, 15)] for row in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=2e-3)
    np.testing.assert_array_equal(atoms, probabilities.argmax(axis=1) + 1)
    assert (out / "focal_counts.png").stat().st_size > 10_000
    assert sum(summary["columns_per_count"].values()) == len(rows)


def test_count_refuses_bad_input_before_writing(series_file, tmp_path, capsys):
    from atomscope.io import read_image

    two = tmp_path / "two.tif"
    stack = read_image(series_file)
    write_tiff(two, stack.array[:2], sampling=stack.sampling)
    out = tmp_path / "out"
    assert main(["count", str(two), "--out", str(out)]) == 2
    assert "FOCAL_SERIES has 2 image(s)" in capsys.readouterr().err
    assert main(["count", str(series_file), "--model", "gold", "--out", str(out)]) == 2
    assert "does not count atoms" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
