"""The command line as a product (issue #14): one rule for aberrations, presets, orthogonal
cells, recognize's outputs, strain from recognize's points, the summary contract and rerun."""

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, graphene
from ase.io import write

from atomscope.cli import COMMANDS, build_parser, main
from atomscope.summary import CORE_KEYS

SRC = Path(__file__).resolve().parents[1] / "src" / "atomscope"
PHYSICS = ("core", "potentials", "waves", "optics", "detection", "analysis", "learning")
PHYSICS += ("structures", "thermal", "reconstruction")

FAST = ["--sampling", "0.1", "--slice-thickness", "2", "--no-camera"]


@pytest.fixture
def silicon(tmp_path):
    path = tmp_path / "si.xyz"
    write(path, bulk("Si", cubic=True), format="extxyz")
    return path


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("package", PHYSICS)
def test_physics_packages_do_not_import_the_command_line(package):
    forbidden = re.compile(r"^atomscope\.(cli|jobs|plot)(\.|$)|^atomscope\.io\.write")
    for path in (SRC / package).rglob("*.py"):
        bad = sorted(name for name in _imports(path) if forbidden.match(name))
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def _settings(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())["arguments"]["settings"]


def test_aberration_entries_and_named_options_merge(silicon, tmp_path):
    out = tmp_path / "a"
    # `--aberration Cs=…` crashed with "CTF() got multiple values for keyword argument 'Cs'"
    assert main(["hrtem", str(silicon), *FAST, "--aberration", "Cs=-1e5", "-o", str(out)]) == 0
    settings = _settings(out)
    assert settings["Cs"] == -1e5 and settings["defocus"] is None  # Scherzer for that Cs
    # `--aberration C10=84` was refused because the Scherzer default was always passed
    options = ["--aberration", "C10=84", "--aberration", "C12=20", "--aberration", "phi12=0.5"]
    assert main(["hrtem", str(silicon), *FAST, *options, "-o", str(out)]) == 0
    settings = _settings(out)
    assert settings["defocus"] == -84.0  # C10 = −defocus
    assert settings["aberrations"] == {"C12": 20.0, "phi12": 0.5}


@pytest.mark.parametrize(
    "options",
    [
        ["--Cs", "1e5", "--aberration", "C30=2e5"],
        ["--defocus", "50", "--aberration", "C10=-40"],
        ["--aberration", "defocus=50", "--aberration", "C10=-40"],
    ],
)
@pytest.mark.parametrize("command", ["hrtem", "stem"])
def test_conflicting_aberrations_are_one_clear_error(command, options, silicon, tmp_path, capsys):
    detector = ["--detector", "annular:50:150"] if command == "stem" else []
    code = main([command, str(silicon), *options, *detector, "-o", str(tmp_path / "x")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and re.search(r"both set C(10|30); give it once", error[0])
    assert not (tmp_path / "x").exists()


def test_every_help_states_the_defocus_sign_and_units():
    for command in ("hrtem", "demo", "stem", "cbed"):
        text = build_parser(only=command)._subparsers._group_actions[0].choices[command]
        help_text = text.format_help()
        assert "defocus = −C10 [Å], positive = underfocus" in help_text
        assert "[eV]" in help_text and "(default:" in help_text


def test_preset_reproduces_a_model_cards_microscope(silicon, tmp_path):
    out = tmp_path / "p"
    assert (
        main(["hrtem", str(silicon), "--preset", "graphene-80kv", "--dose", "1e5", "-o", str(out)])
        == 0
    )
    settings = _settings(out)
    assert settings["energy"] == 80e3 and settings["Cs"] == -12e4 and settings["defocus"] == -84.0
    assert settings["mtf"] == ["exp_gauss", 0.05, 0.48, 2.45] and settings["dose"] == 1e5


def test_unknown_preset_is_one_line(silicon, tmp_path, capsys):
    assert main(["hrtem", str(silicon), "--preset", "gold-200kv", "-o", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--preset must be one of graphene-80kv, gold-300kv" in error[0]


def test_a_hexagonal_cell_is_made_orthogonal_with_a_note(tmp_path, capsys):
    path = tmp_path / "graphene.xyz"
    write(path, graphene(size=(3, 3, 1), vacuum=2.0))
    out = tmp_path / "g"
    assert main(["hrtem", str(path), *FAST, "-o", str(out)]) == 0
    assert (
        "orthogonal supercell [[1, 0, 0], [1, 2, 0], [0, 0, 1]] (36 atoms"
        in capsys.readouterr().err
    )
    assert json.loads((out / "summary.json").read_text())["num_atoms"] == 36


def test_a_cell_with_an_oblique_beam_is_refused(tmp_path, capsys):
    atoms = bulk("Cu")  # fcc primitive cell: no cell vector along z
    path = tmp_path / "cu.xyz"
    write(path, atoms)
    assert main(["hrtem", str(path), "-o", str(tmp_path / "x")]) == 2
    assert "perpendicular" in capsys.readouterr().err


def test_a_cell_without_a_small_orthogonal_supercell_is_one_line(tmp_path, capsys):
    from ase import Atoms

    angle = np.radians(70.0)  # an oblique lattice: no two perpendicular short lattice vectors
    cell = [[3.0, 0, 0], [3.7 * np.cos(angle), 3.7 * np.sin(angle), 0], [0, 0, 4.0]]
    path = tmp_path / "oblique.xyz"
    write(path, Atoms("C", positions=[(0, 0, 2)], cell=cell, pbc=True))
    assert main(["hrtem", str(path), "-o", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no orthogonal supercell of at most 64 cells" in error[0]
    assert not (tmp_path / "x").exists()


def _graphene_image(tmp_path):
    from atomscope.io import write_tiff
    from atomscope.learning.data import generate
    from atomscope.learning.randomize import image_from_exit_wave
    from atomscope.learning.validate import evaluation_microscope

    data = generate("graphene", 1, rng=3, extent=20.0)
    image = image_from_exit_wave(data.wave(0), evaluation_microscope(1e5), rng=0)
    path = tmp_path / "graphene.tif"
    write_tiff(path, image.array, sampling=image.sampling[0])
    return path


@pytest.mark.usefixtures("one_torch_thread")
def test_recognize_writes_csv_summary_and_shows_progress(tmp_path, capsys):
    path = _graphene_image(tmp_path)
    out = tmp_path / "found"
    assert main(["recognize", str(path), "-o", str(out)]) == 0
    assert re.search(r"recognize: 100%\|", capsys.readouterr().err)
    table = np.genfromtxt(out / "graphene_atoms.csv", delimiter=",", names=True, dtype=None)
    assert table.dtype.names == ("x_A", "y_A", "x", "y", "class", "score")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_atoms"] == len(table) > 50
    sampling = summary["sampling_A"][0]
    assert np.allclose(table["x_A"], table["x"] * sampling, atol=1e-2)
    # strain takes recognize's positions (--points) instead of its own peak search
    strain = tmp_path / "strain"
    points = ["--points", str(out / "graphene_atoms.csv"), "--template", "honeycomb"]
    assert main(["strain", str(path), *points, "-o", str(strain)]) == 0
    result = json.loads((strain / "summary.json").read_text())
    assert result["points_given"] and result["num_points"] == len(table)
    assert result["arguments"]["points"] == f"{len(table)} positions given"  # not the array


@pytest.mark.usefixtures("one_torch_thread")
def test_recognize_reports_its_confidence_when_asked(tmp_path, capsys):
    path = _graphene_image(tmp_path)
    out = tmp_path / "found"
    assert main(["recognize", str(path), "--confidence", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["confidence"] is True
    assert 0.9 <= summary["confidence"] <= 1.0  # the evaluation microscope: in scope
    assert f"confidence {summary['confidence']:.2f}" in capsys.readouterr().out


@pytest.mark.usefixtures("one_torch_thread")
def test_the_gold_model_on_a_positive_cs_image_warns(tmp_path, capsys):
    from atomscope.io import write_tiff
    from atomscope.learning.data import generate
    from atomscope.learning.randomize import image_from_exit_wave
    from atomscope.learning.validate import _with_evaluation_camera, gold_evaluation_microscope
    from atomscope.optics import CTF, scherzer_defocus

    data = generate("gold", 1, rng=3, extent=30.0)
    in_scope = gold_evaluation_microscope(1e4)
    scherzer = CTF(energy=300e3, Cs=12e4, defocus=scherzer_defocus(12e4, 300e3), focal_spread=30)
    positive = _with_evaluation_camera(scherzer, 1e4, 0.1)
    for name, microscope, warned in (("neg.tif", in_scope, False), ("pos.tif", positive, True)):
        image = image_from_exit_wave(data.wave(0), microscope, rng=0)
        write_tiff(tmp_path / name, image.array, sampling=image.sampling[0])
        command = ["recognize", str(tmp_path / name), "--model", "gold", "-o", str(tmp_path / "f")]
        assert main(command) == 0
        assert ("outside its scope" in capsys.readouterr().err) == warned


def test_unreadable_points_file_is_one_line(tmp_path, capsys):
    from atomscope.io import write_tiff

    image = tmp_path / "i.tif"
    write_tiff(image, np.random.default_rng(0).random((64, 64)), sampling=0.1)
    bad = tmp_path / "points.csv"
    bad.write_text("a,b\n1,2\n")
    for points, match in ((bad, "x,y"), (tmp_path / "none.csv", "does not exist")):
        code = main(["strain", str(image), "--points", str(points), "-o", str(tmp_path / "s")])
        assert code == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and "--points" in error[0] and match in error[0]
    assert not (tmp_path / "s").exists()


def test_every_command_writes_the_summary_contract_and_rerun_repeats_it(silicon, tmp_path):
    out = tmp_path / "h"
    assert main(["hrtem", str(silicon), *FAST, "--rng", "3", "-o", str(out)]) == 0
    first = json.loads((out / "summary.json").read_text())
    assert list(first)[: len(CORE_KEYS)] == list(CORE_KEYS)
    assert first["command"] == "hrtem" and first["invocation"]["argv"][0] == "hrtem"
    image = (out / "image.tif").read_bytes()
    (out / "image.tif").unlink()
    assert main(["rerun", str(out / "summary.json")]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert (out / "image.tif").read_bytes() == image
    assert again["arguments"] == first["arguments"]
    built = tmp_path / "b"
    assert main(["build", "particle", "--radius", "5", "6", "-o", str(built)]) == 0
    summary = json.loads((built / "summary.json").read_text())
    assert list(summary)[: len(CORE_KEYS)] == list(CORE_KEYS)
    assert summary["arguments"]["radius"] == [5.0, 6.0]


def test_rerun_refuses_a_summary_without_a_command_line(tmp_path, capsys):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"command": "hrtem"}))
    assert main(["rerun", str(path)]) == 2
    assert "records no command line" in capsys.readouterr().err


def test_help_builds_only_the_chosen_command():
    full = build_parser()
    assert set(full._subparsers._group_actions[0].choices) == set(COMMANDS)
    for command in COMMANDS:
        choices = build_parser(only=command)._subparsers._group_actions[0].choices
        configured = [name for name, sub in choices.items() if len(sub._actions) > 1]
        assert configured == [command]
