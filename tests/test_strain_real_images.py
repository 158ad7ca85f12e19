"""Strain on a realistic image, through the command line (issue #13): a synthetic [110] SrTiO3
ADF-like image, calibrated in nm in an ImageJ TIFF as a microscope's software writes it, with
Poisson noise; only the structure, the zone axis and `--gpa auto` are given."""

import json

import numpy as np
import pytest
import tifffile
from ase.io import write
from ase.spacegroup import crystal

from atomscope.analysis.synthetic import projected_atoms, zone_axis_image
from atomscope.cli import main

SAMPLING = 0.093  # [Å/px]
SHAPE = (384, 352)
SR_COUNTS = 1e3  # Poisson counts at a Sr column's peak


def strontium_titanate():
    # perovskite, a = 3.905 Å: Sr (0,0,0), Ti (½,½,½), O (½,½,0) (Pm-3m, no. 221)
    return crystal(
        ["Sr", "Ti", "O"],
        [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
        spacegroup=221,
        cellpar=3.905,
    )


def write_imagej_nm(path, image: np.ndarray, sampling: float) -> None:
    """As Fiji or a microscope's export would: ImageJ TIFF, pixel size in nm, rows = y."""
    per_nm = 10 / sampling
    tifffile.imwrite(
        path,
        image.T.astype(np.float32),
        imagej=True,
        resolution=(per_nm, per_nm),
        metadata={"unit": "nm"},
    )


@pytest.fixture(scope="module")
def sto110(tmp_path_factory):
    """The structure file, the noisy image, its negative and the true column positions [Å]."""
    root = tmp_path_factory.mktemp("sto110")
    atoms = strontium_titanate()
    write(root / "SrTiO3.cif", atoms)
    ideal = zone_axis_image(atoms, (1, 1, 0), SHAPE, SAMPLING, width=0.35)
    rng = np.random.default_rng(0)
    counts = rng.poisson(SR_COUNTS * ideal + 20).astype(float)  # 20 counts of background
    write_imagej_nm(root / "adf.tif", counts, SAMPLING)
    write_imagej_nm(root / "abf.tif", counts.max() - counts, SAMPLING)
    extent = (SHAPE[0] * SAMPLING, SHAPE[1] * SAMPLING)
    positions, _ = projected_atoms(atoms, (1, 1, 0), extent)
    columns = np.unique(np.round(positions, 2), axis=0)
    return root, columns


def _strain(root, image, *options):
    out = root / f"out-{image}-{len(options)}"
    code = main(["strain", str(root / image), "--out", str(out), *options])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    points = np.loadtxt(out / "points.csv", delimiter=",", skiprows=1, usecols=(0, 1))
    header = (out / "points.csv").read_text().splitlines()[0].split(",")
    return summary, points, header


def _check_found_and_strain(root, columns, summary, points, header):
    assert summary["sampling_source"] == "file"
    assert summary["sampling_A"] == pytest.approx([SAMPLING, SAMPLING], rel=1e-4)
    # every column more than 2 Å inside the image is found within 0.25 Å
    extent = np.array(SHAPE) * SAMPLING
    interior = np.all((columns > 2.0) & (columns < extent - 2.0), axis=1)
    found = points * SAMPLING
    distance = np.min(np.linalg.norm(columns[interior, None] - found[None], axis=-1), axis=1)
    assert np.all(distance < 0.25), f"{np.sum(distance >= 0.25)} interior columns missed"
    assert {"x_A", "y_A"} <= set(header)
    assert summary["lattice_scale"] == pytest.approx(1.0, abs=0.003)
    for method in ("templates", "gpa"):
        rms = summary["strain_rms_interior"][method]
        assert max(rms["exx"], rms["eyy"], rms["exy"]) <= 0.01, (method, rms)
    assert summary["rmsd_median"] < 0.1


def test_srtio3_110_strain_from_the_structure_file(sto110):
    root, columns = sto110
    options = ["--template-structure", str(root / "SrTiO3.cif"), "--zone-axis", "1", "1", "0"]
    summary, points, header = _strain(root, "adf.tif", *options, "--gpa", "auto")
    _check_found_and_strain(root, columns, summary, points, header)


def test_dark_atom_contrast_with_invert(sto110):
    root, columns = sto110
    options = ["--template-structure", str(root / "SrTiO3.cif"), "--zone-axis", "1", "1", "0"]
    summary, points, header = _strain(root, "abf.tif", *options, "--gpa", "auto", "--invert")
    _check_found_and_strain(root, columns, summary, points, header)


def test_a_template_that_does_not_fit_is_reported(sto110, capsys):
    root, _ = sto110
    summary, _, _ = _strain(root, "adf.tif", "--template", "square")
    assert "does not fit" in capsys.readouterr().err
    assert summary["rmsd_median"] > 0.1


def test_dark_contrast_without_invert_is_reported(sto110, capsys):
    root, _ = sto110
    options = ["--template-structure", str(root / "SrTiO3.cif"), "--zone-axis", "1", "1", "0"]
    main(["strain", str(root / "abf.tif"), "--out", str(root / "dark"), *options])
    assert "--invert" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--zone-axis", "0", "0", "0"], "--zone-axis"),
        (["--zone-axis", "1", "1", "0", "--species", "Xe"], "--species"),
    ],
)
def test_bad_structure_options_are_refused_before_any_output(sto110, options, named, capsys):
    root, _ = sto110
    out = root / "refused"
    structure = ["--template-structure", str(root / "SrTiO3.cif")]
    assert main(["strain", str(root / "adf.tif"), "--out", str(out), *structure, *options]) == 2
    assert named in capsys.readouterr().err
    assert not out.exists()


def test_a_zone_axis_of_two_numbers_is_a_usage_error(sto110, capsys):
    root, _ = sto110
    structure = ["--template-structure", str(root / "SrTiO3.cif"), "--zone-axis", "1", "1"]
    with pytest.raises(SystemExit) as exit_info:
        main(["strain", str(root / "adf.tif"), "--out", str(root / "usage"), *structure])
    assert exit_info.value.code == 2 and "--zone-axis" in capsys.readouterr().err


def test_an_unparsable_structure_file_is_refused(sto110, capsys):
    root, _ = sto110
    bad = root / "broken.cif"
    bad.write_text("data_broken\n_cell_length_a oops\n")
    options = ["--template-structure", str(bad), "--zone-axis", "1", "1", "0"]
    assert main(["strain", str(root / "adf.tif"), "--out", str(root / "bad"), *options]) == 2
    assert "--template-structure" in capsys.readouterr().err


def test_an_image_too_small_for_the_template_is_refused(sto110, capsys):
    root, _ = sto110
    small = np.random.default_rng(1).random((12, 12))
    write_imagej_nm(root / "small.tif", small, SAMPLING)
    options = ["--template-structure", str(root / "SrTiO3.cif"), "--zone-axis", "1", "1", "0"]
    assert main(["strain", str(root / "small.tif"), "--out", str(root / "s"), *options]) == 2
    assert "too small" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["strain", "recognize"])
def test_a_stack_needs_a_frame(tmp_path, command, capsys):
    stack = np.random.default_rng(0).random((3, 40, 48)).astype(np.float32)
    tifffile.imwrite(
        tmp_path / "stack.tif",
        stack,
        imagej=True,
        resolution=(50, 50),
        metadata={"unit": "nm", "axes": "ZYX"},
    )
    extra = ["--template", "square"] if command == "strain" else []
    out = tmp_path / "out"
    assert main([command, str(tmp_path / "stack.tif"), "--out", str(out), *extra]) == 2
    assert "--frame" in capsys.readouterr().err and not out.exists()
    assert main(
        [command, str(tmp_path / "stack.tif"), "--out", str(out), *extra, "--frame", "1"]
    ) in (0, 2)
    assert "stack" not in capsys.readouterr().err
