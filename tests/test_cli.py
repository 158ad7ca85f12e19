"""The command line: outputs written, bad input refused with one line and no files."""

import json

import numpy as np
import pytest
import tifffile
from ase.build import bulk
from ase.io import write

from atomscope.cli import main
from atomscope.io import read_image


@pytest.fixture
def structure(tmp_path):
    path = tmp_path / "si.xyz"
    write(path, bulk("Si", cubic=True), format="extxyz")
    return path


def test_hrtem_writes_all_outputs(structure, tmp_path):
    out = tmp_path / "run"
    code = main(
        [
            "hrtem",
            str(structure),
            "--out",
            str(out),
            "--sampling",
            "0.1",
            "--camera-sampling",
            "0.2",
            "--dose",
            "1e3",
        ]
    )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "potential.tif",
        "potential.png",
        "exit_wave.npz",
        "exit_wave.png",
        "ctf.png",
        "image.tif",
        "image.png",
        "detected.tif",
        "detected.png",
        "summary.json",
    } <= names
    assert not [n for n in names if n.endswith(".part")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["settings"]["dose"] == 1e3 and summary["peak_rss_mib"] > 0
    detected = read_image(out / "detected.tif")
    assert detected.sampling == pytest.approx((0.2, 0.2), rel=0.05)
    # N = D δ² I: mean counts ≈ dose × pixel area × mean intensity
    assert np.mean(detected.array) == pytest.approx(
        1e3 * np.prod(detected.sampling) * summary["image_mean"], rel=0.05
    )


def test_hrtem_averages_the_frames_of_a_trajectory(tmp_path):
    from atomscope.thermal import EinsteinPhonons

    snapshots = EinsteinPhonons(bulk("Si", cubic=True), sigmas=0.1, num_configs=3, rng=0)
    path = snapshots.save(tmp_path / "snapshots.traj")
    out = tmp_path / "run"
    assert main(["hrtem", str(path), "--out", str(out), "--sampling", "0.1", "--no-camera"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_configs"] == 3 and summary["num_atoms"] == 8
    distributed = tmp_path / "distributed"
    arguments = ["--out", str(distributed), "--sampling", "0.1", "--no-camera", "--workers", "2"]
    assert main(["hrtem", str(path), *arguments]) == 0
    local_image = tifffile.imread(out / "image.tif")
    np.testing.assert_array_equal(tifffile.imread(distributed / "image.tif"), local_image)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--energy", "0"], "energy"),
        (["--sampling", "nan"], "sampling"),
        (["--slice-thickness", "-1"], "slice_thickness"),
        (["--dose", "-5"], "dose"),
        (["--mtf", "rational:2:0.5:2.5"], "c1"),
        (["--parametrization", "doyle"], "parametrization"),
        (["--aberration", "C99=3"], "C99"),
        (["--scheduler", "tcp://127.0.0.1:1"], "unreachable"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "not both"),
        (["--workers", "0"], "workers"),
    ],
)
def test_bad_input_prints_one_line_and_writes_nothing(structure, tmp_path, capsys, args, match):
    out = tmp_path / "run"
    code = main(["hrtem", str(structure), "--out", str(out), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_unparsable_structure_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.xyz"
    bad.write_text("this is not a structure\n")
    out = tmp_path / "run"
    assert main(["hrtem", str(bad), "--out", str(out)]) == 2
    assert "STRUCTURE" in capsys.readouterr().err
    assert not out.exists()


def test_negative_numbers_in_scientific_notation_are_values(structure, tmp_path):
    out = tmp_path / "run"
    arguments = ["--out", str(out), "--sampling", "0.1", "--no-camera"]
    assert main(["hrtem", str(structure), *arguments, "--Cs", "-1.2e5", "--defocus", "-8.4e1"]) == 0
    settings = json.loads((out / "summary.json").read_text())["arguments"]["settings"]
    assert settings["Cs"] == -1.2e5 and settings["defocus"] == -84.0


def test_no_objective_aperture_is_accepted(structure, tmp_path):
    out = tmp_path / "run"
    arguments = ["--out", str(out), "--sampling", "0.1", "--no-camera"]
    assert main(["hrtem", str(structure), *arguments, "--semiangle-cutoff", "inf"]) == 0
    assert (out / "ctf.png").stat().st_size > 0


def test_a_failure_while_writing_keeps_the_previous_outputs(structure, tmp_path, monkeypatch):
    import atomscope.plot

    out = tmp_path / "run"
    arguments = ["hrtem", str(structure), "--out", str(out), "--sampling", "0.1", "--no-camera"]
    assert main(arguments) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def broken(*args, **kwargs):
        raise ValueError("disk full")

    monkeypatch.setattr(atomscope.plot, "exit_wave_png", broken)
    assert main([*arguments, "--sampling", "0.08"]) == 2  # potential.tif would differ
    after = {path.name: path.read_bytes() for path in out.iterdir()}
    assert after == before


def test_an_out_that_is_a_file_is_refused_before_the_simulation(structure, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    assert main(["hrtem", str(structure), "--out", str(taken), "--sampling", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a file" in err and "multislice" not in err
    assert taken.read_text() == "not a directory"


def test_building_the_parser_imports_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, atomscope.cli; atomscope.cli.build_parser(); "
        "print(sorted(m for m in ('dask', 'torch', 'matplotlib', 'numba', 'ase') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_rerun_without_camera_removes_the_old_detected_image(structure, tmp_path):
    out = tmp_path / "run"
    arguments = ["hrtem", str(structure), "--out", str(out), "--sampling", "0.1"]
    assert main(arguments) == 0
    assert (out / "detected.tif").exists()
    (out / "notes.txt").write_text("the user's own file")
    assert main([*arguments, "--no-camera"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "detected.tif" not in summary["outputs"] and "image.tif" in summary["outputs"]
    assert not (out / "detected.tif").exists() and not (out / "detected.png").exists()
    assert (out / "notes.txt").read_text() == "the user's own file"
