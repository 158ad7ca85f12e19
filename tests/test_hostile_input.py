"""Hostile and corrupt input (issue #12, findings 4 and 5): one ``ValueError``/``TypeError`` line
naming the argument or file, raised before any expensive work; no silent wrong results, no
tracebacks, no crashes."""

import errno
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from ase import Atoms
from ase.build import bulk
from ase.io import write
from hypothesis import given, settings
from hypothesis import strategies as st

import atomscope as ats
from atomscope.cli import main
from atomscope.core.validate import check_finite_array
from atomscope.images import Images
from atomscope.io import read_image, write_tiff
from atomscope.learning.infer import Recognizer
from atomscope.learning.model import FusionNet
from atomscope.learning.normalize import check_image_stack
from atomscope.learning.train import TrainConfig, train
from atomscope.thermal import EinsteinPhonons, lammps_calculator, relax

SRC = Path(__file__).parents[1] / "src" / "atomscope"


def _error_line(stderr: str, command: str) -> str:
    """The error line, which must be the only line on stderr besides progress bars."""
    assert "Traceback" not in stderr
    lines = [
        line
        for line in stderr.splitlines()
        if line and "|" not in line and ": warning: " not in line
    ]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"atomscope {command}: error: ")
    return lines[0]


def _one_line_error(capsys, command: str) -> str:
    return _error_line(capsys.readouterr().err, command)


def _atomscope(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "atomscope.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


# --- 1. NaN/inf positions and cells -----------------------------------------------------------


def _non_finite(kind: str) -> Atoms:
    atoms = bulk("Au", cubic=True)
    if kind == "nan position":
        atoms.positions[1, 2] = np.nan
    else:
        atoms.cell[0, 0] = np.inf
    return atoms


@pytest.mark.parametrize("kind", ["nan position", "inf cell"])
@pytest.mark.parametrize(
    "command",
    [
        ["hrtem", "--sampling", "0.2"],
        ["stem", "--detector", "annular:70:200"],
        ["relax"],
        ["phonons", "--configs", "2"],
    ],
)
def test_every_command_that_reads_a_structure_refuses_non_finite_atoms(
    tmp_path, capsys, monkeypatch, kind, command
):
    monkeypatch.chdir(tmp_path)
    write("bad.xyz", _non_finite(kind), format="extxyz")
    name, *options = command
    assert main([name, "bad.xyz", *options, "--out", "out"]) == 2
    line = _one_line_error(capsys, name)
    assert "'bad.xyz'" in line and "finite" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xyz"]


@pytest.mark.parametrize("kind", ["nan position", "inf cell"])
def test_python_entry_points_refuse_non_finite_atoms(kind):
    atoms = _non_finite(kind)
    with pytest.raises(ValueError, match="finite") as error:
        ats.Potential(atoms, sampling=0.2)
    assert "atoms" in _one_line(error)
    with pytest.raises(ValueError, match="finite"):
        ats.Potential([bulk("Au", cubic=True), atoms], sampling=0.2)
    with pytest.raises(ValueError, match="finite"):
        EinsteinPhonons(atoms, 0.1, num_configs=2)
    with pytest.raises(ValueError, match="finite"):
        relax(atoms, "ase_emt")


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.data(),
    st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_check_atoms_names_the_first_non_finite_atom(count, data, bad):
    from atomscope.core.validate import check_atoms

    atoms = Atoms(f"Cu{count}", positions=np.zeros((count, 3)), cell=[3.0, 3.0, 3.0])
    index = data.draw(st.integers(0, count - 1))
    axis = data.draw(st.integers(0, 2))
    assert check_atoms("atoms", atoms) is atoms
    atoms.positions[index, axis] = bad
    with pytest.raises(ValueError, match=f"atom {index} ") as error:
        check_atoms("atoms", atoms)
    assert _one_line(error).startswith("atoms: ")


# --- 2. atoms outside the cell along z ------------------------------------------------------


@pytest.mark.parametrize("projection", ["infinite", "finite"])
@pytest.mark.parametrize("height", [100.0, -50.0, 5.5])
def test_atoms_outside_the_cell_along_z_count_whole_in_both_projections(projection, height):
    silicon = bulk("Si", cubic=True)
    moved = silicon.copy()
    moved.positions[0, 2] = height
    reference = ats.Potential(silicon, sampling=0.2, projection=projection).project()
    shifted = ats.Potential(moved, sampling=0.2, projection=projection).project()
    np.testing.assert_allclose(shifted.sum(), reference.sum(), rtol=1e-4)
    np.testing.assert_allclose(shifted, reference, rtol=1e-3, atol=1e-3 * reference.max())


def test_finite_and_infinite_projections_agree_for_atoms_on_the_cell_faces():
    silicon = bulk("Si", cubic=True)  # atoms at z = 0
    infinite, finite = (
        ats.Potential(silicon, sampling=0.1, projection=p, cutoff_tolerance=1e-4).project()
        for p in ("infinite", "finite")
    )
    assert finite.sum() == pytest.approx(infinite.sum(), rel=0.01)


# --- 3. complex images ----------------------------------------------------------------------


@pytest.fixture
def complex_image():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(8, 6)) + 1j * rng.normal(size=(8, 6))).astype(np.complex64)


@pytest.mark.parametrize("suffix", [".npz", ".tif"])
def test_a_complex_image_is_refused_unless_a_part_is_chosen(tmp_path, complex_image, suffix):
    path = tmp_path / f"wave{suffix}"
    if suffix == ".npz":
        np.savez(path, array=complex_image, sampling=[0.1, 0.1])
    else:
        tifffile.imwrite(path, complex_image.T)
    with pytest.raises(ValueError, match="complex") as error:
        read_image(path, sampling=0.1)
    assert f"'{path}'" in _one_line(error) and "part=" in str(error.value)
    parts = {
        "real": complex_image.real,
        "imag": complex_image.imag,
        "abs": np.abs(complex_image),
        "phase": np.angle(complex_image),
    }
    for part, expected in parts.items():
        np.testing.assert_allclose(read_image(path, 0.1, part=part).array, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="part must be one of"):
        read_image(path, 0.1, part="angle")


def test_a_real_image_reads_as_before_with_or_without_part(tmp_path):
    path = write_tiff(tmp_path / "a.tif", np.arange(12.0).reshape(4, 3), sampling=0.2)
    np.testing.assert_array_equal(read_image(path).array, np.arange(12.0).reshape(4, 3))
    np.testing.assert_array_equal(read_image(path, part="real").array, read_image(path).array)


def test_analysis_and_learning_entry_points_refuse_complex_arrays(complex_image):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: a refusal instead
        with pytest.raises(TypeError, match="complex"):
            Images(complex_image, 0.1)
        with pytest.raises(TypeError, match=r"image .*complex"):
            check_image_stack("image", complex_image)
        with pytest.raises(TypeError, match="complex"):
            ats.Camera(sampling=0.1, dose=None).detect(complex_image, sampling=0.1)


# --- 4. corrupt image files -----------------------------------------------------------------


def _corrupt_files(directory: Path) -> dict[str, str]:
    """{file name: what the message must say (the format, for a failure of its reader)}."""
    good = directory / "good.npz"
    np.savez(good, array=np.ones((4, 4)), sampling=[0.1, 0.1])
    data = good.read_bytes()
    (directory / "truncated.npz").write_bytes(data[: len(data) // 2])
    (directory / "empty.npz").write_bytes(b"")
    np.savez(directory / "objects.npz", array=np.array([{"a": 1}], dtype=object))
    np.savez(directory / "strings.npz", array=np.array([["a", "b"], ["c", "d"]]))
    np.savez(directory / "no_array.npz", image=np.ones((4, 4)))
    (directory / "empty.dm3").write_bytes(b"")
    (directory / "garbage.dm3").write_bytes(b"\x00\x00\x00\x03" + bytes(range(256)) * 2)
    (directory / "garbage.dm4").write_bytes(np.random.default_rng(1).bytes(300))
    (directory / "garbage.tif").write_bytes(b"II*\x00" + np.random.default_rng(2).bytes(200))
    (directory / "empty.tif").write_bytes(b"")
    return {
        "truncated.npz": "NumPy .npz",
        "empty.npz": "NumPy .npz",
        "objects.npz": "no plain numeric array",
        "strings.npz": "no plain numeric array",
        "no_array.npz": "NumPy .npz",
        "empty.dm3": "DigitalMicrograph",
        "garbage.dm3": "DigitalMicrograph",
        "garbage.dm4": "DigitalMicrograph",
        "garbage.tif": "TIFF",
        "empty.tif": "TIFF",
    }


def test_every_failure_of_a_reader_is_one_value_error_naming_file_and_format(tmp_path):
    for name, expected in _corrupt_files(tmp_path).items():
        path = tmp_path / name
        with pytest.raises(ValueError) as error:
            read_image(path, sampling=0.1)
        message = _one_line(error)
        assert message.startswith(f"image file '{path}'"), message
        assert expected in message, message
        assert "allow_pickle" not in message, message


def test_object_arrays_say_there_is_no_plain_numeric_array(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, array=np.array([{"a": 1}], dtype=object), sampling=[0.1, 0.1])
    with pytest.raises(ValueError, match="no plain numeric array"):
        read_image(path)


def test_the_cli_reports_a_corrupt_image_in_one_line(tmp_path, capsys):
    _corrupt_files(tmp_path)
    code = main(["recognize", str(tmp_path / "truncated.npz"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "could not be read as a NumPy .npz file" in _one_line_error(capsys, "recognize")


def test_what_a_reader_logs_goes_into_the_one_line(tmp_path):
    # tifffile logs "invalid offset" for this file; pytest would capture the log, so run the CLI
    _corrupt_files(tmp_path)
    result = _atomscope("strain", "garbage.tif", "--out", "o", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid offset to first page" in _error_line(result.stderr, "strain")


def test_what_a_reader_logs_about_a_file_it_reads_is_a_warning_naming_it(tmp_path, monkeypatch):
    import logging

    path = write_tiff(tmp_path / "a.tif", np.ones((4, 4)), sampling=0.1)
    asarray = tifffile.TiffPage.asarray

    def logging_asarray(self, *args, **kwargs):
        logging.getLogger("tifffile").warning("a strip was skipped")
        return asarray(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffPage, "asarray", logging_asarray)
    with pytest.warns(UserWarning, match=r"a\.tif': a strip was skipped"):
        assert read_image(path).shape == (4, 4)


def _tiff_with_resolution(path: Path, resolution: tuple[int, int]) -> Path:
    tifffile.imwrite(path, np.ones((4, 4), np.float32), resolution=(1, 1))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        for tag in ("XResolution", "YResolution"):
            tif.pages[0].tags[tag].overwrite(resolution)
    return path


@pytest.mark.parametrize("resolution", [(0, 1), (1, 0), (0, 0)])
def test_a_zero_or_infinite_tiff_resolution_means_no_calibration(tmp_path, resolution):
    path = _tiff_with_resolution(tmp_path / "a.tif", resolution)
    with pytest.raises(ValueError, match="records no pixel size"):
        read_image(path)
    assert read_image(path, sampling=0.3).sampling == (0.3, 0.3)


@pytest.mark.parametrize("sampling", [[0.0, 0.1], [np.nan, 0.1], [-1.0, -1.0], ["a", "b"], [1.0]])
def test_an_unusable_recorded_sampling_means_no_calibration(tmp_path, sampling):
    npz = tmp_path / "a.npz"
    np.savez(npz, array=np.ones((4, 4)), sampling=np.array(sampling))
    tif = tmp_path / "a.tif"
    tifffile.imwrite(
        tif, np.ones((4, 4), np.float32), description=json.dumps({"sampling": sampling})
    )
    with tifffile.TiffFile(tif, mode="r+b") as opened:  # no usable XResolution either
        opened.pages[0].tags["XResolution"].overwrite((0, 1))
    for path in (npz, tif):
        with pytest.raises(ValueError, match="records no pixel size"):
            read_image(path)
        assert read_image(path, sampling=0.3).sampling == (0.3, 0.3)


def test_bad_sampling_arguments_are_refused_before_reading(tmp_path):
    path = tmp_path / "missing.tif"
    with pytest.raises(ValueError, match="sampling must be > 0"):
        read_image(path, sampling=-1.0)
    with pytest.raises(ValueError, match=r"sampling\[1\] must be > 0"):
        read_image(path, sampling=(0.1, 0.0))


def test_non_finite_pixels_name_the_file(tmp_path):
    path = tmp_path / "nan.npz"
    np.savez(path, array=np.full((30, 30), np.nan), sampling=[0.1, 0.1])
    with pytest.raises(ValueError, match="finite") as error:
        read_image(path)
    assert _one_line(error).startswith(f"image file '{path}'")


def _npz_header_only(path: Path, shape: tuple[int, ...], descr: str = "<f8") -> Path:
    """An npz whose array.npy declares ``shape`` but holds only a few bytes of data."""
    with zipfile.ZipFile(path, "w") as archive, archive.open("array.npy", "w") as member:
        header = {"descr": descr, "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(member, header)
        member.write(b"\x00" * 64)
    return path


def test_a_huge_npz_is_refused_from_its_header_before_decompressing(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "100M")
    path = _npz_header_only(tmp_path / "huge.npz", (20000, 20000))
    with pytest.raises(ValueError, match=r"GiB") as error:
        read_image(path, sampling=0.1)
    assert f"'{path}'" in _one_line(error) and "(20000, 20000)" in str(error.value)


def test_a_huge_tiff_is_refused_from_its_page_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "100M")
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, shape=(20000, 20000), dtype="float32")  # sparse: no data written
    monkeypatch.setattr(
        tifffile.TiffPage, "asarray", lambda *a, **k: pytest.fail("pixels were read")
    )
    with pytest.raises(ValueError, match=r"GiB") as error:
        read_image(path, sampling=0.1)
    assert f"'{path}'" in _one_line(error)


def test_a_dm_file_larger_than_memory_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "64K")
    path = tmp_path / "big.dm3"
    path.write_bytes(bytes(200_000))
    with pytest.raises(ValueError, match=r"GiB") as error:
        read_image(path, sampling=0.1)
    assert f"'{path}'" in _one_line(error)


# --- 5. model files -------------------------------------------------------------------------


@pytest.fixture
def saved_model(tmp_path):
    torch.manual_seed(0)
    return Recognizer(FusionNet(width=2), ("C",), (0.11, 0.13), 10.0).save(tmp_path / "m.pt")


def _tamper(path: Path, change) -> Path:
    content = torch.load(path, weights_only=True)
    change(content)
    torch.save(content, path)
    return path


TAMPERINGS = {
    "no config": lambda c: c.pop("config"),
    "config not a dict": lambda c: c.update(config=[1, 2]),
    "no width": lambda c: c["config"].pop("width"),
    "width not an int": lambda c: c["config"].update(width="wide"),
    "zero classes": lambda c: c["config"].update(num_classes=0),
    "class names of another count": lambda c: c["config"].update(class_names=["C", "N"]),
    "negative sampling range": lambda c: c["config"].update(sampling_range=[-1.0, 0.1]),
    "sampling range not a pair": lambda c: c["config"].update(sampling_range=0.1),
    "metadata not a dict": lambda c: c["config"].update(metadata="x"),
    "threshold out of range": lambda c: c["config"]["metadata"].update(threshold=7.0),
    "no state dict": lambda c: c.pop("state_dict"),
    "state dict of numbers": lambda c: c["state_dict"].update({"score.weight": 1.0}),
    "missing weights": lambda c: c["state_dict"].pop("score.weight"),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_an_incomplete_or_tampered_model_file_is_one_value_error(saved_model, tampering):
    path = _tamper(saved_model, TAMPERINGS[tampering])
    with pytest.raises(ValueError) as error:
        Recognizer.load(path)
    assert _one_line(error).startswith(f"model file '{path}'")


def test_a_model_file_asking_for_an_absurd_width_is_refused_before_allocating(
    saved_model, monkeypatch
):
    path = _tamper(saved_model, lambda c: c["config"].update(width=4096))

    class Unbuildable(FusionNet):
        def __init__(self, *args, **kwargs):
            pytest.fail("the network was allocated")

    monkeypatch.setattr("atomscope.learning.model.FusionNet", Unbuildable)
    with pytest.raises(ValueError, match="GiB") as error:
        Recognizer.load(path)
    assert f"'{path}'" in _one_line(error)


def test_init_weights_are_checked_before_any_data_is_simulated_or_written(tmp_path, monkeypatch):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00 not a model")
    monkeypatch.setattr(
        "atomscope.learning.data.generate", lambda *a, **k: pytest.fail("data was simulated")
    )
    out = tmp_path / "run"
    config = TrainConfig(iterations=1, num_structures=1, init_weights=str(corrupt))
    with pytest.raises(ValueError, match="could not be read") as error:
        train(config, out, progress=False)
    assert f"'{corrupt}'" in _one_line(error)
    assert not out.exists()


def test_init_weights_of_another_shape_are_refused_before_any_work(
    saved_model, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        "atomscope.learning.data.generate", lambda *a, **k: pytest.fail("data was simulated")
    )
    out = tmp_path / "run"
    config = TrainConfig(iterations=1, num_structures=1, width=3, init_weights=str(saved_model))
    with pytest.raises(ValueError, match=r"init_weights .* another shape") as error:
        train(config, out, progress=False)
    assert "width 2" in _one_line(error) and "width 3" in str(error.value)
    assert not out.exists()


def test_train_with_corrupt_init_weights_exits_2_and_writes_nothing(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"")
    out = tmp_path / "run"
    code = main(
        [
            *("train", "--iterations", "1", "--structures", "1", "--out", str(out)),
            *("--init-weights", str(corrupt)),
        ]
    )
    assert code == 2
    assert f"'{corrupt}'" in _one_line_error(capsys, "train")
    assert not out.exists()


# --- 6. LAMMPS pair files -------------------------------------------------------------------


@pytest.mark.parametrize("content", [None, b""])
def test_a_missing_or_empty_pair_file_is_refused_before_lammps(tmp_path, content):
    path = tmp_path / "Au.eam"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="potential file") as error:
        lammps_calculator("eam", f"* * {path}", ["Au"])
    assert f"'{path}'" in _one_line(error)


def test_pair_files_are_found_in_the_lammps_potentials_directory():
    calculator = lammps_calculator("eam/alloy", "* * Cu_mishin1.eam.alloy Cu", ["Cu"])
    copper = bulk("Cu", a=3.615)
    copper.calc = calculator
    assert copper.get_potential_energy() < 0


@pytest.mark.parametrize("pair_file", ["missing.eam", "garbage.eam"])
def test_relax_with_a_bad_pair_file_exits_2_without_a_crash(tmp_path, pair_file):
    write(tmp_path / "au.xyz", bulk("Au", cubic=True), format="extxyz")
    (tmp_path / "garbage.eam").write_text("garbage\nmore garbage\n1 2 3\n")
    result = _atomscope(
        *("relax", "au.xyz", "--pair-style", "eam", "--pair-coeff", f"* * {pair_file}"),
        *("-o", "out"),
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert pair_file in _error_line(result.stderr, "relax")
    assert not (tmp_path / "out" / "relaxed.xyz").exists()


# --- 7. -o that is a file, an output name that is taken by a directory ----------------------


@pytest.mark.parametrize(
    ("command", "match"),
    [
        (["build", "wulff", "--size", "13", "-o", "afile"], "--out"),
        (["build", "wulff", "--size", "13", "-o", "out"], "wulff.png"),  # a directory there
        (["phonons", "au.xyz", "--configs", "2", "-o", "out", "--name", "taken.traj"], "taken"),
    ],
)
def test_an_output_taken_by_something_else_is_refused_before_the_work(
    tmp_path, capsys, monkeypatch, command, match
):
    monkeypatch.chdir(tmp_path)
    write("au.xyz", bulk("Au", cubic=True), format="extxyz")
    Path("afile").write_text("the user's")
    for name in ("out/wulff.png", "out/taken.traj"):
        Path(name).mkdir(parents=True)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert main(command) == 2
    assert match in _one_line_error(capsys, command[0])
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


# --- 8. OSError and MemoryError in the CLI --------------------------------------------------


def test_a_full_disk_while_writing_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "particle.xyz")

    monkeypatch.setattr("ase.io.write", full_disk)
    assert main(["build", "wulff", "--size", "13", "-o", "out"]) == 2
    line = _one_line_error(capsys, "build")
    assert line == "atomscope build: error: No space left on device (particle.xyz)"
    assert not list(Path("out").iterdir())


def test_permission_denied_and_out_of_memory_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("ase.io.write", denied)
    assert main(["build", "wulff", "--size", "13", "-o", "out"]) == 2
    assert _one_line_error(capsys, "build") == "atomscope build: error: Permission denied"

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr("ase.io.write", exhausted)
    assert main(["build", "wulff", "--size", "13", "-o", "out"]) == 2
    assert "out of memory" in _one_line_error(capsys, "build")


# --- 9. messages ----------------------------------------------------------------------------


def test_non_finite_array_messages_are_one_line_and_count_the_bad_entries():
    array = np.ones((50, 50))
    array[3, 4] = np.nan
    array[7, 1] = np.inf
    with pytest.raises(ValueError, match=r"2 of 2500 .* index \(3, 4\)") as error:
        check_finite_array("image", array)
    assert _one_line(error).startswith("image must contain only finite values")


def test_a_non_orthorhombic_cell_is_reported_in_one_line():
    atoms = bulk("Cu")  # fcc primitive cell
    with pytest.raises(ValueError, match="orthorhombic") as error:
        ats.Potential(atoms, sampling=0.2)
    _one_line(error)


def test_no_source_file_enables_pickle_or_eval():
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for forbidden in ("allow_pickle=True", "weights_only=False", "pickle.load", " eval("):
            assert forbidden not in text, f"{path}: {forbidden}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["hrtem", "{xyz}", "--sampling", "1e300"], "at most half the extent"),
        (
            ["stem", "{xyz}", "--sampling", "1e300", "--detector", "annular:40:80"],
            "half the extent",
        ),
        (["cbed", "{xyz}", "--sampling", "1e300"], "at most half the extent"),
        (["hrtem", "{xyz}", "--sampling", "1e-300"], "too fine for the extent"),  # hung 120 s
        (["cbed", "{xyz}", "--sampling", "1e-300"], "too fine for the extent"),
        (["hrtem", "{xyz}", "--sampling", "0.2", "--angular-spread", "1e300"], "angular_spread"),
        (["hrtem", "{xyz}", "--sampling", "0.2", "--deflection", "1e300"], "deflection"),
        (["hrtem", "{xyz}", "--sampling", "0.2", "--focal-spread", "1e300"], "focal_spread"),
        (["recognize", "{tif}", "--sampling", "1e-9"], "at least 16 needed"),
        (["recognize", "{tif}", "--sampling", "1e300"], "recognition in a 64×64 image"),
        (
            ["build", "graphene", "--form", "polycrystal", "--grains", "100000", "-o", "g"],
            "at most 74 grains",
        ),
    ],
)
def test_what_the_fuzzing_benchmark_found_is_one_line(tmp_path, argv, expected):
    """Found by benchmarks/fuzz_cli.py: ZeroDivisionError, OverflowError, a 2-minute build."""
    write(tmp_path / "si.xyz", bulk("Si", cubic=True))
    write_tiff(tmp_path / "image.tif", np.random.default_rng(0).random((64, 64)), sampling=0.1)
    files = {"xyz": str(tmp_path / "si.xyz"), "tif": str(tmp_path / "image.tif")}
    run = _atomscope(*[part.format(**files) for part in argv], cwd=tmp_path)
    assert run.returncode == 2
    assert expected in _error_line(run.stderr, argv[0])


def test_an_rmax_beyond_float_range_means_no_limit(tmp_path):
    """Found by benchmarks/fuzz_cli.py: --rmax 1e300 squared overflowed (OverflowError)."""
    write_tiff(tmp_path / "image.tif", np.random.default_rng(0).random((64, 64)), sampling=0.1)
    run = _atomscope("strain", "image.tif", "--template", "square", "--rmax", "1e300", cwd=tmp_path)
    assert run.returncode in (0, 2) and "Traceback" not in run.stderr


def test_warnings_print_as_one_clean_line(tmp_path):
    write_tiff(tmp_path / "image.tif", np.random.default_rng(0).random((64, 64)), sampling=0.1)
    run = _atomscope("recognize", "image.tif", "--sampling", "1e-9", cwd=tmp_path)
    lines = [line for line in run.stderr.splitlines() if line and "|" not in line]
    assert any(": warning: " in line for line in lines)
    assert all(line.startswith("atomscope recognize: ") for line in lines), run.stderr
