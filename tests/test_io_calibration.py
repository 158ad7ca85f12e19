"""Calibrated image I/O (issue #13, item 1): the pixel size is read with its unit from files that
other programs wrote (ImageJ/Fiji, HyperSpy/rosettasciio, mrcfile, plain TIFF writers), stacks
keep their frames, an uncalibrated image needs ``sampling=``, and our TIFFs read back in HyperSpy
and Fiji with the right unit and scale.

Every file has different x and y pixel sizes (to catch swapped axes) and one bright pixel at
[x=3, y=1] (to catch a transposed or flipped image)."""

import json
import warnings

import numpy as np
import pytest
import tifffile

from atomscope.cli import main
from atomscope.images import Images
from atomscope.io import read_image, write_tiff

pytest.importorskip("rsciio")
from rsciio.emd import file_writer as emd_writer
from rsciio.hspy import file_writer as hspy_writer
from rsciio.tiff import file_reader as tiff_reader
from rsciio.tiff import file_writer as tiff_writer

SX, SY = 0.0933, 0.1071  # Å
NX, NY = 7, 5  # nx != ny


def _picture(frames: int | None = None) -> np.ndarray:
    """As TIFF, HyperSpy and MRC store it: rows are y, [..., y, x]; frame k has value k + 1 at
    [x=3, y=1] and 0.5 elsewhere in its first row."""
    data = np.zeros((frames or 1, NY, NX), np.float32)
    data[:, 0, :] = 0.5
    data[:, 1, 3] = np.arange(1, (frames or 1) + 1)
    return data if frames else data[0]


def _assert_oriented(image: Images, frame: int = 0) -> None:
    array = image.array if image.array.ndim == 2 else image.array[frame]
    assert array.shape == (NX, NY)
    assert array[3, 1] == frame + 1
    assert np.argmax(array) == np.ravel_multi_index((3, 1), (NX, NY))
    np.testing.assert_array_equal(array[:, 0], 0.5)


def _assert_sampling(image: Images, expected=(SX, SY)) -> None:
    assert image.sampling == pytest.approx(expected, rel=1e-6)
    assert image.sampling_source == "file"


def _signal(data: np.ndarray, scales: tuple[float, float], unit: str, frames: bool = False):
    """A rosettasciio signal dictionary, as HyperSpy hands it to a writer."""
    axes = [
        {"name": name, "size": size, "scale": scale, "offset": 0.0, "units": unit}
        for name, size, scale in zip("yx", data.shape[-2:], scales[::-1], strict=True)
    ]
    for axis in axes:
        axis["navigate"] = False
    if frames:
        axes.insert(
            0, {"name": "time", "size": len(data), "scale": 1.0, "offset": 0.0, "units": "s"}
        )
        axes[0]["navigate"] = True
    return {
        "data": data,
        "axes": axes,
        "metadata": {"General": {"title": "test"}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"name": "hyperspy", "version": "2.3.0"},
    }


# --- finding: the TIFF unit is ignored ------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "per_angstrom"),
    [
        ("nm", 0.1),
        ("micron", 1e-4),  # what ImageJ writes for µm
        ("\\u00B5m", 1e-4),  # ImageJ's escaped µm
        ("um", 1e-4),
        ("\\u00C5", 1.0),  # ImageJ's escaped Å
        ("pm", 100.0),
    ],
)
def test_imagej_tiffs_are_read_in_their_unit(tmp_path, unit, per_angstrom):
    path = tmp_path / "imagej.tif"
    tifffile.imwrite(
        path,
        _picture(),
        imagej=True,
        resolution=(1 / (SX * per_angstrom), 1 / (SY * per_angstrom)),
        metadata={"unit": unit},
    )
    image = read_image(path)
    _assert_sampling(image)
    _assert_oriented(image)
    assert "ImageJ unit" in image.metadata["calibration"]


@pytest.mark.parametrize(("unit", "angstrom"), [("CENTIMETER", 1e8), ("INCH", 2.54e8)])
def test_plain_tiffs_are_read_in_their_resolution_unit(tmp_path, unit, angstrom):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(
        path, _picture(), resolution=(angstrom / SX, angstrom / SY), resolutionunit=unit
    )
    image = read_image(path)
    _assert_sampling(image)
    _assert_oriented(image)


def test_a_tiff_written_by_hyperspy_is_read_in_nm(tmp_path):
    # rosettasciio writes ImageJ unit=nm with ResolutionUnit inch, and the DM scale/unit tags
    path = tmp_path / "hyperspy.tif"
    tiff_writer(str(path), _signal(_picture(), (SX / 10, SY / 10), "nm"))
    assert tifffile.TiffFile(path).pages[0].tags["ResolutionUnit"].value == 2
    image = read_image(path)
    _assert_sampling(image)
    _assert_oriented(image)


def test_dm_tiff_tags_are_read_through_rosettasciio(tmp_path):
    # a TIFF that carries only the DigitalMicrograph calibration tags (no ImageJ description)
    path = tmp_path / "dm_tags.tif"
    tags = [
        (65003, "s", 0, "µm".encode("latin-1"), True),
        (65004, "s", 0, "µm".encode("latin-1"), True),
        (65009, "d", 1, SX * 1e-4, True),
        (65010, "d", 1, SY * 1e-4, True),
    ]
    tifffile.imwrite(path, _picture(), extratags=tags)
    image = read_image(path)
    _assert_sampling(image)
    _assert_oriented(image)


def test_atomscope_tiffs_written_before_the_imagej_format_still_read(tmp_path):
    path = tmp_path / "old.tif"
    description = json.dumps({"sampling": [SX, SY], "unit": "Å", "axes": "XY", "metadata": {}})
    tifffile.imwrite(
        path, _picture(), description=description, resolution=(1 / SX, 1 / SY), metadata=None
    )
    _assert_sampling(read_image(path))


def test_a_recalibrated_imagej_file_is_read_with_its_new_calibration(tmp_path):
    # Fiji keeps the Info property (our JSON) when the user sets a new scale: ImageJ's wins
    path = write_tiff(tmp_path / "ours.tif", Images(_picture().T, (SX, SY)))
    with tifffile.TiffFile(path) as tif:
        info = tif.imagej_metadata["Info"]
    tifffile.imwrite(
        path,
        _picture(),
        imagej=True,
        resolution=(1 / (2 * SX / 10), 1 / (2 * SY / 10)),
        metadata={"unit": "nm", "Info": info},
    )
    _assert_sampling(read_image(path), (2 * SX, 2 * SY))


# --- finding: an uncalibrated TIFF silently became 1 Å/px ----------------------------------


def test_an_uncalibrated_tiff_needs_sampling(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _picture())  # XResolution 1/1, ResolutionUnit none
    with pytest.raises(ValueError) as error:
        read_image(path)
    assert str(error.value) == (
        f"image file '{path}' records no pixel size; give --sampling (sampling= in Python) in Å"
    )
    image = read_image(path, sampling=(SX, SY))
    assert image.sampling == (SX, SY) and image.sampling_source == "argument"
    _assert_oriented(image)


def test_a_unit_that_is_no_length_is_named(tmp_path):
    path = tmp_path / "diffraction.tif"
    tifffile.imwrite(
        path, _picture(), imagej=True, resolution=(2.0, 2.0), metadata={"unit": "1/nm"}
    )
    with pytest.raises(ValueError, match=r"records no pixel size \(ImageJ unit '1/nm' is not"):
        read_image(path)


def test_the_strain_command_refuses_an_uncalibrated_image_naming_sampling(tmp_path, capsys):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _picture())
    assert main(["strain", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "give --sampling" in capsys.readouterr().err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_sampling_overrides_the_file_and_says_so(tmp_path):
    path = write_tiff(tmp_path / "a.tif", Images(_picture().T, (SX, SY)))
    with pytest.warns(UserWarning, match=r"sampling=0\.2 Å/px overrides the file's \(0\.0933, "):
        image = read_image(path, sampling=0.2)
    assert image.sampling == (0.2, 0.2) and image.sampling_source == "argument"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file's own value: nothing to say
        assert read_image(path, sampling=(SX, SY)).sampling_source == "argument"
    assert read_image(path).sampling_source == "file"


# --- finding: a multi-frame TIFF silently became frame 0 -------------------------------------


def _imagej_stack(path):
    tifffile.imwrite(
        path,
        _picture(frames=3),
        imagej=True,
        resolution=(1 / (SX / 10), 1 / (SY / 10)),
        metadata={"unit": "nm", "axes": "TYX"},
    )
    return path


def test_a_stack_keeps_all_frames(tmp_path):
    stack = read_image(_imagej_stack(tmp_path / "stack.tif"))
    assert stack.shape == (3, NX, NY)
    _assert_sampling(stack)
    for frame in range(3):
        _assert_oriented(stack, frame)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        (1, [1]),
        (-1, [2]),
        (slice(1, None), [1, 2]),
        (slice(0, 1), [0]),
        (slice(None, None, -2), [2, 0]),
    ],
)
def test_frames_selects(tmp_path, frames, expected):
    paths = [_imagej_stack(tmp_path / "stack.tif"), tmp_path / "pages.tif", tmp_path / "planar.tif"]
    tifffile.imwrite(paths[1], _picture(frames=3), photometric="minisblack")  # a page per frame
    # one page of three colour planes: its samples count as frames
    tifffile.imwrite(paths[2], _picture(frames=3), photometric="rgb", planarconfig="separate")
    for path in paths:
        image = read_image(path, sampling=(SX, SY), frames=frames)
        if isinstance(frames, int):
            assert image.shape == (NX, NY)
            _assert_oriented(image, expected[0])
        else:
            assert image.shape == (len(expected), NX, NY)
            assert image.array[:, 3, 1].tolist() == [k + 1 for k in expected]


def test_frames_out_of_range_or_of_the_wrong_type_are_refused(tmp_path):
    path = _imagej_stack(tmp_path / "stack.tif")
    with pytest.raises(ValueError, match=r"frames=3 is out of range: image file '.*' holds 3"):
        read_image(path, frames=3)
    with pytest.raises(ValueError, match="selects none of the 3 frames"):
        read_image(path, frames=slice(5, None))
    with pytest.raises(TypeError, match="frames must be an int, a slice or None"):
        read_image(path, frames=1.0)


def test_a_single_image_reader_refuses_a_stack_unless_a_frame_is_chosen(tmp_path, capsys):
    path = _imagej_stack(tmp_path / "stack.tif")
    with pytest.raises(ValueError, match=r"holds a stack of 3 frames; choose one with --frame"):
        read_image(path, single_frame=True)
    _assert_oriented(read_image(path, frames=2, single_frame=True), 2)
    assert main(["strain", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "choose one with --frame" in capsys.readouterr().err


# --- finding: our TIFFs were calibrated in inches ---------------------------------------------


def test_rosettasciio_and_imagej_read_our_tiff_in_nm(tmp_path):
    path = write_tiff(tmp_path / "ours.tif", Images(_picture().T, (SX, SY)))
    axes = {axis["name"]: axis for axis in tiff_reader(str(path))[0]["axes"]}
    assert axes["width"]["units"] == axes["height"]["units"] == "nm"
    assert axes["width"]["scale"] == pytest.approx(SX / 10, rel=1e-6)  # x
    assert axes["height"]["scale"] == pytest.approx(SY / 10, rel=1e-6)  # y
    with tifffile.TiffFile(path) as tif:
        assert tif.imagej_metadata["unit"] == "nm"
        assert tif.pages[0].tags["ResolutionUnit"].value != 2  # not inch
        x_per_nm = np.divide(*tif.pages[0].tags["XResolution"].value)
        y_per_nm = np.divide(*tif.pages[0].tags["YResolution"].value)
    assert (1 / x_per_nm, 1 / y_per_nm) == pytest.approx((SX / 10, SY / 10), rel=1e-6)


def test_our_tiff_round_trip_keeps_pixels_sampling_and_orientation(tmp_path):
    array = np.random.default_rng(0).random((NX, NY), dtype=np.float32)
    path = write_tiff(tmp_path / "ours.tif", array, sampling=(SX, SY))
    image = read_image(path)
    np.testing.assert_array_equal(image.array, array)
    assert image.sampling == (SX, SY) and image.sampling_source == "file"
    assert image.metadata["calibration"] == "atomscope metadata"
    np.testing.assert_array_equal(tifffile.imread(path), array.T)  # rows are y


def test_our_tiff_stack_round_trip(tmp_path):
    stack = np.random.default_rng(1).random((3, NX, NY), dtype=np.float32)
    path = write_tiff(tmp_path / "stack.tif", stack, sampling=(SX, SY))
    image = read_image(path)
    np.testing.assert_array_equal(image.array, stack)
    assert image.sampling == (SX, SY)
    assert tifffile.TiffFile(path).imagej_metadata["frames"] == 3
    with pytest.raises(ValueError, match=r"\[x, y\] or \[frame, x, y\]"):
        write_tiff(tmp_path / "4d.tif", np.zeros((2, 2, 4, 4)), sampling=0.1)


# --- other formats, written by the tools that own them -----------------------------------------


def test_hspy_images_and_stacks(tmp_path):
    path = tmp_path / "image.hspy"
    hspy_writer(str(path), _signal(_picture(), (SX / 10, SY / 10), "nm"), show_progressbar=False)
    image = read_image(path)
    _assert_sampling(image)
    _assert_oriented(image)
    path = tmp_path / "stack.hspy"
    signal = _signal(_picture(frames=3), (SX * 1e-4, SY * 1e-4), "µm", frames=True)
    hspy_writer(str(path), signal, show_progressbar=False)
    stack = read_image(path)
    assert stack.shape == (3, NX, NY)
    _assert_sampling(stack)
    _assert_oriented(stack, 2)
    _assert_oriented(read_image(path, frames=1), 1)


def test_hspy_spectra_are_not_images(tmp_path):
    path = tmp_path / "spectra.hspy"
    signal = _signal(np.ones((4, 6, 30), np.float32), (1.0, 1.0), "nm")
    signal["axes"] = [
        {"name": n, "size": s, "scale": 1.0, "offset": 0.0, "units": u, "navigate": v}
        for n, s, u, v in [("y", 4, "nm", True), ("x", 6, "nm", True), ("E", 30, "eV", False)]
    ]
    hspy_writer(str(path), signal, show_progressbar=False)
    with pytest.raises(ValueError, match="holds no image"):
        read_image(path, sampling=0.1)


def test_berkeley_emd(tmp_path):
    path = tmp_path / "image.emd"
    emd_writer(str(path), _signal(_picture(), (SX / 10, SY / 10), "nm"))
    image = read_image(path)
    _assert_sampling(image)
    _assert_oriented(image)


def test_mrc_voxel_size_is_in_angstrom(tmp_path):
    mrcfile = pytest.importorskip("mrcfile")
    path = tmp_path / "image.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(_picture())
        mrc.voxel_size = (SX, SY, 1.0)
    image = read_image(path)
    assert image.sampling == pytest.approx((SX, SY), rel=1e-6)  # float32 in the header
    _assert_oriented(image)
    path = tmp_path / "stack.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(_picture(frames=3))
        mrc.voxel_size = (SX, SY, 1.0)
    stack = read_image(path)
    assert stack.shape == (3, NX, NY)
    _assert_oriented(stack, 1)
    assert read_image(path, frames=slice(2, 0, -1)).array[:, 3, 1].tolist() == [3, 2]
    path = tmp_path / "uncalibrated.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(_picture())
    with pytest.raises(ValueError, match="records no pixel size"):
        read_image(path)


def test_npz_stacks_keep_their_frames(tmp_path):
    path = tmp_path / "stack.npz"
    np.savez(path, array=np.swapaxes(_picture(frames=3), 1, 2), sampling=[SX, SY])
    stack = read_image(path)
    assert stack.shape == (3, NX, NY)
    _assert_sampling(stack)
    _assert_oriented(read_image(path, frames=2), 2)
    assert read_image(path, frames=slice(None, None, -1)).array[:, 3, 1].tolist() == [3, 2, 1]


# --- Images ------------------------------------------------------------------------------------


def test_images_made_in_code_have_their_sampling_from_an_argument():
    image = Images(np.ones((4, 4)), 0.1)
    assert image.sampling_source == "argument"
    from_file = Images(np.ones((4, 4)), 0.1, sampling_source="file")
    assert from_file.with_array(np.zeros((4, 4))).sampling_source == "file"
    assert from_file.with_array(np.zeros((2, 2)), sampling=0.2).sampling_source == "argument"
    with pytest.raises(ValueError, match="sampling_source must be one of 'file', 'argument'"):
        Images(np.ones((4, 4)), 0.1, sampling_source="guess")
