"""Image → peaks → templates → strain, scored against the seed's Eq 3.15 field; the CLI."""

import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from atomscope.analysis import (
    Template,
    eq315_field,
    find_peaks,
    lattice_image,
    match_templates,
    refine_peaks,
    square_lattice,
    strain_from_match,
)
from atomscope.cli import main
from atomscope.io import write_tiff

SHAPE = (384, 384)
SPACING = 12.0


def _eq315_image():
    field = eq315_field(SHAPE, amplitude=0.05)
    reference = square_lattice(SHAPE, SPACING, margin=-2 * SPACING)
    positions = reference + field.displacement(reference)
    return lattice_image(positions, SHAPE, width=2.0), positions, field.strain(reference)


@pytest.fixture(scope="module")
def eq315():
    image, positions, truth = _eq315_image()
    points = refine_peaks(image, find_peaks(image, min_distance=4))
    match = match_templates(points, [Template.square(shells=1)], rmax=0.1)
    return points, match, strain_from_match(match), positions, truth


def test_template_strain_recovers_eq315_within_0_2_percent(eq315):
    points, _, strain, positions, truth = eq315
    distance, index = cKDTree(positions).query(points)
    assert distance.max() < 0.05  # every refined peak sits on its atom
    bulk = np.all((points > 2 * SPACING) & (points < np.array(SHAPE) - 2 * SPACING), axis=1)
    assert strain.mask[bulk].all()
    for component in ("exx", "eyy", "exy", "rotation"):
        error = getattr(strain, component)[bulk] - truth[component][index[bulk]]
        assert np.sqrt(np.mean(error**2)) < 2e-3, component
    # the field is a few percent: the measurement is not trivially zero
    assert np.abs(truth["exx"]).max() > 0.015


def test_matched_points_keep_their_order_and_unmatched_are_nan(eq315):
    points, match, strain, _, _ = eq315
    np.testing.assert_array_equal(strain.points, points)
    assert np.array_equal(match.points, points)
    unmatched = ~strain.mask
    assert np.all(np.isnan(strain.exx[unmatched]))
    assert len(strain.exx) == len(points)


def test_strain_map_interpolates_onto_the_image_grid(eq315):
    _, _, strain, _, _ = eq315
    grid = strain.to_grid(SHAPE, "exx")
    assert grid.shape == SHAPE
    centre = grid[SHAPE[0] // 2, SHAPE[1] // 2]
    assert abs(centre) < 2e-3  # the field vanishes at the centre (x̃ = ỹ = 0)


def test_reference_region_fixes_the_scale(eq315):
    points, match, _, _, _ = eq315
    corner = np.all(points < 100, axis=1) & match.mask
    strain = strain_from_match(match, reference=corner)
    assert np.nanmean(strain.planar[corner]) == pytest.approx(0.0, abs=1e-12)
    fixed = strain_from_match(match, scale=strain.scale)
    np.testing.assert_allclose(fixed.exx, strain.exx, equal_nan=True)


def test_strain_command_writes_every_output(tmp_path):
    image, _, _ = _eq315_image()
    write_tiff(tmp_path / "lattice.tif", image, sampling=0.1)
    out = tmp_path / "strain"
    code = main(
        [
            "strain",
            str(tmp_path / "lattice.tif"),
            "--template",
            "square",
            "--gpa",
            "0.0833,0",
            "0,0.0833",
            "--min-distance",
            "4",
            "--reference",
            "0",
            "384",
            "0",
            "384",
            "--out",
            str(out),
        ]
    )
    assert code in (0, None)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_matched"] > 0.8 * summary["num_points"]
    assert abs(summary["mean_exx"]) < 5e-3
    table = np.loadtxt(out / "points.csv", delimiter=",", skiprows=1)
    assert table.shape == (summary["num_points"], 12)  # x, y, x_A, y_A, ...; strain
    for name in ("strain.npz", "strain.png"):
        assert (out / name).stat().st_size > 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--template", "triangle"], "--template"),
        (["--gpa", "0.1,0"], "--gpa"),
        (["--gpa", "0.7,0", "0,0.1"], "inside the FFT"),
        (["--reference", "0", "500", "0", "10"], "--reference"),
        (["--min-matched", "1"], "--min-matched"),
    ],
)
def test_strain_command_bad_input(tmp_path, capsys, arguments, message):
    image, _, _ = _eq315_image()
    write_tiff(tmp_path / "lattice.tif", image, sampling=0.1)
    out = tmp_path / "strain"
    code = main(["strain", str(tmp_path / "lattice.tif"), *arguments, "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # refused before any output


def test_strain_command_unreadable_file(tmp_path, capsys):
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    assert main(["strain", str(tmp_path / "broken.tif"), "--out", str(tmp_path / "o")]) == 2
    assert "could not be read" in capsys.readouterr().err
