"""``atomscope ewr``: a focal series on disk in, the exit wave and its record out (issue #16)."""

import json

import numpy as np
import pytest
import tifffile
from ase.cluster.cubic import FaceCenteredCubic

from atomscope import CTF, PlaneWave, Potential
from atomscope.cli import main
from atomscope.detection import Camera
from atomscope.io import read_image, write_tiff
from atomscope.optics.series import defocus_series
from atomscope.reconstruction.focal_series import aperture_limited, wave_error

DEFOCI = np.linspace(-300, 650, 10)
DOSE = 1e4
LENS = ["--energy", "300e3", "--Cs", "6e6", "--focal-spread", "30", "--semiangle-cutoff", "20"]


@pytest.fixture(scope="module")
def exit_wave():
    particle = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [3, 4, 3])
    particle.rotate(45, "y")
    particle.set_cell([12.8, 12.8, particle.cell.lengths()[2] + 4])
    particle.center()
    return PlaneWave(300e3).multislice(Potential(particle, sampling=0.05, slice_thickness=1))


@pytest.fixture(scope="module")
def counts(exit_wave):
    lens = CTF(energy=300e3, Cs=6e6, focal_spread=30, semiangle_cutoff=20)
    series = defocus_series(exit_wave, lens, DEFOCI)
    return Camera(sampling=series.sampling, dose=DOSE).detect(series, rng=0)


def defocus_options(defoci=DEFOCI):
    return ["--defocus", *[f"{value:.6g}" for value in defoci]]


def test_stack_file_gives_the_exit_wave_and_its_record(exit_wave, counts, tmp_path):
    stack = tmp_path / "series.tif"
    write_tiff(stack, counts)
    out = tmp_path / "out"
    arguments = [str(stack), *defocus_options(), *LENS, "--dose", str(DOSE), "--out", str(out)]
    assert main(["ewr", *arguments]) == 0
    names = sorted(path.name for path in out.iterdir() if not path.name.startswith("."))
    assert names == sorted(
        ["exit_wave.npz", "amplitude.tif", "phase.tif", "ewr.png", "residuals.csv", "summary.json"]
    )
    with np.load(out / "exit_wave.npz") as saved:
        wave, sampling = saved["array"], tuple(saved["sampling"])
        assert saved["defoci"].tolist() == pytest.approx(DEFOCI.tolist(), rel=1e-5)
    truth = aperture_limited(exit_wave, CTF(energy=300e3, semiangle_cutoff=20))
    assert sampling == pytest.approx(exit_wave.sampling)
    assert wave_error(wave, truth) < 0.10  # the bound at 1e4 e/Å²
    summary = json.loads((out / "summary.json").read_text())
    assert summary["converged"] and summary["num_images"] == len(DEFOCI)
    assert summary["normalisation"].startswith("counts / (dose")
    # our amplitude TIFF carries its calibration to our reader and to ImageJ readers
    amplitude = read_image(out / "amplitude.tif")
    assert amplitude.sampling == pytest.approx(exit_wave.sampling)
    np.testing.assert_allclose(amplitude.array, np.abs(wave), rtol=1e-5, atol=1e-6)
    with tifffile.TiffFile(out / "amplitude.tif") as tif:
        assert tif.imagej_metadata["unit"] == "nm"
    rows = (out / "residuals.csv").read_text().splitlines()
    assert rows[0] == "iteration,misfit,change" and len(rows) == summary["iterations"] + 1


def test_several_files_equal_one_stack(counts, tmp_path):
    paths = []
    for i, image in enumerate(counts.array):
        paths.append(tmp_path / f"df{i:02d}.tif")
        write_tiff(paths[-1], image, sampling=counts.sampling)
    stack = tmp_path / "series.tif"
    write_tiff(stack, counts)
    common = [*defocus_options(), *LENS, "--dose", str(DOSE), "--max-iter", "20"]
    assert main(["ewr", *map(str, paths), *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["ewr", str(stack), *common, "--out", str(tmp_path / "b")]) == 0
    with (
        np.load(tmp_path / "a" / "exit_wave.npz") as a,
        np.load(tmp_path / "b" / "exit_wave.npz") as b,
    ):
        np.testing.assert_array_equal(a["array"], b["array"])


def test_lens_defaults_are_named_in_a_warning(counts, tmp_path, capsys):
    stack = tmp_path / "series.tif"
    write_tiff(stack, counts)
    out = tmp_path / "out"
    assert main(["ewr", str(stack), *defocus_options(), "--max-iter", "3", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "lens defaults used: --energy 300000" in err and "--Cs 6e+06" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["normalisation"].startswith("divided by the series mean")


def write_stack(tmp_path, array, sampling):
    """An npz stack: unlike our TIFF writer it takes NaN and negative pixels as they are."""
    path = tmp_path / "series.npz"
    np.savez(path, array=array, sampling=np.asarray(sampling))
    return path


@pytest.mark.parametrize(
    "edit, options, message",
    [
        (None, defocus_options(DEFOCI[:-1]), "gives 9 values for 10 images"),
        (None, defocus_options(np.r_[DEFOCI[:-1], DEFOCI[0]]), "distinct"),
        (None, ["--semiangle-cutoff", "300"], "band limit"),
        (None, ["--aberration", "C10=5"], "--defocus instead"),
        (None, ["--dose", "-1"], "dose"),
        (None, ["--max-iter", "0"], "max_iter"),
        (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 99, np.nan, a), [], "finite"),
        (lambda a: a - 2 * a.max(), [], "≥ 0"),
        (lambda a: a[:1], [], "holds one image"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(counts, tmp_path, capsys, edit, options, message):
    array = counts.array if edit is None else edit(counts.array)
    if array.shape[0] == 1:
        array = array[0]
    stack = write_stack(tmp_path, array, counts.sampling)
    out = tmp_path / "out"
    defoci = [] if any(o == "--defocus" for o in options) else defocus_options()
    code = main(["ewr", str(stack), *defoci, *LENS, *options, "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_files_of_different_shapes_are_refused(counts, tmp_path, capsys):
    first, second = tmp_path / "a.tif", tmp_path / "b.tif"
    write_tiff(first, counts.array[0], sampling=counts.sampling)
    write_tiff(second, counts.array[1][:-2], sampling=counts.sampling)
    out = tmp_path / "out"
    assert (
        main(["ewr", str(first), str(second), *defocus_options(DEFOCI[:2]), *LENS, "-o", str(out)])
        == 2
    )
    assert "share one grid" in capsys.readouterr().err
    assert not out.exists()


def test_a_file_ewr_did_not_write_is_never_replaced(counts, tmp_path, capsys):
    stack = write_stack(tmp_path, counts.array, counts.sampling)
    out = tmp_path / "out"
    out.mkdir()
    (out / "phase.tif").write_text("the user's own file")
    assert main(["ewr", str(stack), *defocus_options(), *LENS, "-o", str(out)]) == 2
    assert "phase.tif" in capsys.readouterr().err
    assert (out / "phase.tif").read_text() == "the user's own file"
