"""Read and write images and results with their units, never leaving a half-written file.

Every writer goes through `atomscope.outputs.atomic_output`: the data is written to a temporary
file beside the destination and renamed into place only when writing succeeded.

`read_image` reads the pixel size with its unit and converts it to Å (ImageJ/Fiji and HyperSpy
TIFF calibrations, TIFF resolution units, dm3/dm4, EMD, HyperSpy, SER through rosettasciio, MRC
through mrcfile); a file that records none needs ``sampling=``, never a silent default.
`write_tiff` writes ImageJ TIFFs in nm that Fiji and HyperSpy read back with the same scale.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from atomscope.core.memory import check_memory
from atomscope.core.validate import check_choice, check_pair
from atomscope.outputs import atomic_output


def _as_images(image, sampling=None):
    from atomscope.images import Images

    if isinstance(image, Images):
        return image
    if sampling is None:
        raise ValueError("sampling [Å] is required when writing a plain array")
    return Images(np.asarray(image), sampling)


#: The unit `write_tiff` records (ImageJ, Fiji, HyperSpy and DigitalMicrograph all know it).
_TIFF_UNIT = "nm"


def write_tiff(path: str | os.PathLike, image, sampling=None) -> Path:
    """Write an ImageJ TIFF (float32) whose pixel size Fiji, HyperSpy and `read_image` read back.

    The calibration is written as ImageJ does it (``unit=nm`` in the ImageJ description,
    XResolution/YResolution in pixels per nm, ResolutionUnit none), plus the tags HyperSpy
    writes for the unit and scale of each axis (65003/65004, 65009/65010), so rosettasciio reads
    the scale in nm as well. The exact sampling [Å] and the image's metadata are kept as JSON in
    the ImageJ ``Info`` property (Fiji: Image ▸ Show Info). A stack is written as ImageJ frames.

    Parameters
    ----------
    path
        Destination file.
    image
        `Images` or an array indexed ``[x, y]`` or ``[frame, x, y]`` (then ``sampling`` [Å] is
        required).
    sampling
        Pixel size [Å] of a plain array (a scalar means square pixels).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        ``sampling`` is missing for a plain array, or the image has more than one frame axis.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> _ = write_tiff(path, np.ones((4, 4)), sampling=0.1)
    >>> read_image(path).sampling
    (0.1, 0.1)
    >>> tifffile.TiffFile(path).imagej_metadata["unit"]
    'nm'
    """
    images = _as_images(image, sampling)
    if images.array.ndim not in (2, 3):
        raise ValueError(
            f"image must be indexed [x, y] or [frame, x, y] to be written as a TIFF, "
            f"got shape {images.shape}"
        )
    nm = _ANGSTROM_PER_UNIT[_TIFF_UNIT]
    sx, sy = images.sampling
    info = json.dumps(
        {
            "sampling": [sx, sy],
            "unit": "Å",
            "axes": "XY" if images.array.ndim == 2 else "frame,XY",
            "metadata": _jsonable(images.metadata),
        }
    )
    # the scale and unit tags HyperSpy writes (rosettasciio reads the unit from them)
    extratags = [
        (65003, "s", 0, _TIFF_UNIT, True),
        (65004, "s", 0, _TIFF_UNIT, True),
        (65009, "d", 1, sx / nm, True),
        (65010, "d", 1, sy / nm, True),
    ]
    with atomic_output(path) as tmp:
        # TIFF stores rows (y) first; arrays here are [..., x, y], so swap the last two axes.
        tifffile.imwrite(
            tmp,
            np.swapaxes(images.array, -1, -2),
            imagej=True,
            resolution=(nm / sx, nm / sy),
            metadata={
                "axes": "YX" if images.array.ndim == 2 else "TYX",
                "unit": _TIFF_UNIT,
                "Info": info,
            },
            extratags=extratags,
        )
    return Path(path)


#: What `read_image` can take of a complex image.
PARTS = ("real", "imag", "abs", "phase")
_FORMATS = {
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".npz": "NumPy .npz",
    ".dm3": "DigitalMicrograph",
    ".dm4": "DigitalMicrograph",
    ".emd": "EMD",
    ".hspy": "HyperSpy",
    ".hdf5": "HyperSpy",
    ".mrc": "MRC",
    ".mrcs": "MRC",
    ".ser": "TIA SER",
}
#: The rosettasciio module that reads each format.
_ROSETTASCIIO = {
    "DigitalMicrograph": "digitalmicrograph",
    "EMD": "emd",
    "HyperSpy": "hspy",
    "TIA SER": "tia",
}

#: Å per length unit, as files write the unit (case-insensitive for words).
_ANGSTROM_PER_UNIT = {
    "pm": 0.01,
    "Å": 1.0,
    "A\u030a": 1.0,  # A + combining ring
    "A": 1.0,
    "angstrom": 1.0,
    "ångström": 1.0,
    "nm": 10.0,
    "nanometer": 10.0,
    "µm": 1e4,  # micro sign
    "μm": 1e4,  # Greek mu
    "um": 1e4,
    "micron": 1e4,
    "microns": 1e4,
    "micrometer": 1e4,
    "mm": 1e7,
    "cm": 1e8,
    "m": 1e10,
    "meter": 1e10,
    "meters": 1e10,
    "inch": 2.54e8,
}
#: TIFF ResolutionUnit values that are lengths (1 is none, the TIFF default when absent is 2).
_RESOLUTION_UNITS = {2: "inch", 3: "cm"}
#: The private TIFF tags of DigitalMicrograph/HyperSpy calibrations (units and scales).
_DM_TIFF_TAGS = (65003, 65004, 65009, 65010)


class MissingCalibration(ValueError):
    """`read_image`: the file records no pixel size and none was given (a ``ValueError``)."""


def read_image(
    path: str | os.PathLike,
    sampling: float | tuple[float, float] | None = None,
    frames: int | slice | None = None,
    part: str | None = None,
    single_frame: bool = False,
):
    """Read an image or a stack as `Images`, with its pixel size converted to Å.

    The pixel size is read with its unit from the file: atomscope's own metadata; TIFF tags
    (ImageJ/Fiji/HyperSpy ``unit=`` with X/YResolution in pixels per unit, else ResolutionUnit
    inch or cm; FEI/Thermo Fisher, Zeiss, TVIPS, Olympus and DigitalMicrograph TIFF metadata
    through rosettasciio when it is installed); the axes rosettasciio reads from dm3/dm4, EMD
    (Velox and Berkeley), HyperSpy (``.hspy``/``.hdf5``) and TIA ``.ser`` files; the MRC voxel
    size (mrcfile); an npz's ``sampling`` [Å]. ResolutionUnit none (what tifffile writes when
    given no resolution) is no calibration.

    Parameters
    ----------
    path
        ``.tif``/``.tiff``, ``.npz`` (``array`` indexed ``[..., x, y]`` and optionally
        ``sampling`` [Å]), ``.dm3``/``.dm4``/``.emd``/``.hspy``/``.hdf5``/``.ser`` (needs
        rosettasciio) or ``.mrc``/``.mrcs`` (needs mrcfile): ``pip install 'atomscope[io]'``.
    sampling
        Pixel size [Å] (a scalar means square pixels). Required when the file records none;
        for a calibrated file it overrides the file's, with a warning if they differ.
    frames
        Which frames of a stack to read: ``None`` (all), an index (one image ``[x, y]``) or a
        slice (a stack ``[frame, x, y]``). Every axis of the file other than the image's two
        (time, depth, channel, colour sample, navigation) counts as frames, in file order.
    part
        For a complex image: ``"real"``, ``"imag"``, ``"abs"`` or ``"phase"`` (radians);
        a complex image without ``part`` is refused rather than cut to its real part.
    single_frame
        Refuse a stack unless ``frames`` picks one frame (for commands that analyse one image:
        the message names their ``--frame`` option).

    Returns
    -------
    Images
        Indexed ``[x, y]`` for a single image or an integer ``frames``, ``[frame, x, y]`` for
        a stack. ``sampling_source`` is ``"file"`` or ``"argument"``; ``metadata`` holds
        ``source`` (the path) and ``calibration`` (where the pixel size was found).

    Raises
    ------
    ValueError
        One line naming the file: it does not exist, its reader fails (``"image file 'x.dm3'
        could not be read as a DigitalMicrograph file: ..."``), it holds no plain numeric
        image, it is complex and no ``part`` was chosen, it would not fit in memory (checked
        from the header, before the pixels are read), ``frames`` is out of range, it is a stack
        and ``single_frame`` is set without ``frames``, or it records no pixel size and no
        ``sampling`` was given (``"image file 'x.tif' records no pixel size; give --sampling
        (sampling= in Python) in Å"``).
    TypeError
        ``frames`` is not an int, a slice or None.

    Warns
    -----
    UserWarning
        ``sampling`` differs from the file's pixel size (``"... overrides the file's
        0.0933 Å/px"``); the file holds several images or image series (the first is read);
        the reader logged a problem with the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "wave.npz"
    >>> np.savez(path, array=np.full((2, 2), 3 + 4j), sampling=[0.1, 0.1])
    >>> read_image(path, part="abs").array
    array([[5., 5.],
           [5., 5.]], dtype=float32)
    >>> stack = pathlib.Path(tempfile.mkdtemp()) / "stack.tif"
    >>> _ = write_tiff(stack, np.zeros((3, 4, 5)), sampling=0.5)
    >>> image = read_image(stack, frames=1)
    >>> image.shape, image.sampling, image.sampling_source
    ((4, 5), (0.5, 0.5), 'file')
    """
    from atomscope.images import Images

    path = Path(path)
    if sampling is not None:
        sampling = check_pair("sampling", sampling)
    selection = _Frames.checked(frames, single_frame)
    if part is not None:
        check_choice("part", part, PARTS)
    if not path.is_file():
        raise ValueError(f"image file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"image file {str(path)!r}: unsupported suffix {suffix!r}; use {', '.join(_FORMATS)}"
        )
    with _OPENERS.get(_FORMATS[suffix], _open_rosettasciio)(path) as opened:
        recorded = opened.recorded
        if sampling is None and recorded.sampling is None:
            reason = f" ({recorded.how})" if recorded.how else ""
            raise MissingCalibration(
                f"image file {str(path)!r} records no pixel size{reason}; "
                "give --sampling (sampling= in Python) in Å"
            )
        indices = selection.indices(path, opened.count)
        array = opened.read(indices, part)
    if sampling is None:
        chosen, source, calibration = recorded.sampling, "file", recorded.how
    else:
        if recorded.sampling is not None and not np.allclose(
            sampling, recorded.sampling, rtol=1e-6, atol=0
        ):
            warnings.warn(
                f"image file {str(path)!r}: sampling={_shown(sampling)} Å/px overrides the "
                f"file's {_shown(recorded.sampling)} Å/px ({recorded.how})",
                UserWarning,
                stacklevel=2,
            )
        chosen, source, calibration = sampling, "argument", "sampling= argument"
    if isinstance(selection.frames, int) or (frames is None and len(indices) == 1):
        array = array[0]
    try:
        return Images(
            _part(array, part), chosen, {"source": str(path), "calibration": calibration}, source
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"image file {str(path)!r}: {error}") from None


def _shown(sampling: tuple[float, float]) -> str:
    x, y = sampling
    return f"{x:.6g}" if x == y else f"({x:.6g}, {y:.6g})"


@dataclass(frozen=True)
class _Frames:
    """Which frames `read_image` was asked for."""

    frames: int | slice | None
    single: bool

    @classmethod
    def checked(cls, frames, single: bool) -> _Frames:
        if frames is not None and not isinstance(frames, slice):
            if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
                raise TypeError(f"frames must be an int, a slice or None, got {frames!r}")
            frames = int(frames)
        if single and isinstance(frames, slice):
            raise ValueError(f"frames must be one index for a single image, got {frames}")
        return cls(frames, single)

    def indices(self, path: Path, count: int) -> range:
        """The frame indices chosen among ``count``; a ``ValueError`` naming the file if none."""
        if count == 0:
            raise ValueError(f"image file {str(path)!r} holds no frames")
        if self.frames is None:
            if self.single and count > 1:
                raise ValueError(
                    f"image file {str(path)!r} holds a stack of {count} frames; choose one "
                    "with --frame (frames= in Python)"
                )
            return range(count)
        if isinstance(self.frames, slice):
            chosen = range(count)[self.frames]
            if not chosen:
                raise ValueError(
                    f"frames={self.frames} selects none of the {count} frames of image file "
                    f"{str(path)!r}"
                )
            return chosen
        if not -count <= self.frames < count:
            raise ValueError(
                f"frames={self.frames} is out of range: image file {str(path)!r} holds "
                f"{count} frame{'s' if count > 1 else ''}"
            )
        index = self.frames % count
        return range(index, index + 1)


@dataclass(frozen=True)
class _Recorded:
    """A file's pixel size [Å] along x and y (None if it has no usable one) and where it was
    found (or why what was found is unusable; empty if the file records nothing)."""

    sampling: tuple[float, float] | None
    how: str


_NOTHING = _Recorded(None, "")


@dataclass(frozen=True)
class _Opened:
    """An open image file: its calibration and frame count (from the header) and a reader of
    the chosen frames, ``read(indices, part) -> [frame, x, y]``, that checks memory first."""

    recorded: _Recorded
    count: int
    read: Callable[[range, str | None], np.ndarray]


class _LogRecords(logging.Handler):
    """Keeps the messages the readers log (tifffile and rosettasciio log what they skip)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn any failure of the underlying reader into one ``ValueError`` naming the file, with
    what the reader logged; what it logs about a file it reads becomes a warning naming it."""
    records = _LogRecords()
    loggers = [logging.getLogger(name) for name in ("tifffile", "rsciio")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        yield
    except MemoryError:
        raise
    except Exception as error:  # the readers raise many types for damaged files
        lines = str(error).strip().splitlines()
        kind = "" if type(error) is ValueError else f"{type(error).__name__}: "
        reason = f"{kind}{lines[0]}" if lines else type(error).__name__
        logged = f" ({'; '.join(records.messages)})" if records.messages else ""
        raise ValueError(
            f"image file {str(path)!r} could not be read as a {_FORMATS[path.suffix.lower()]} "
            f"file: {reason}{logged}"
        ) from None
    finally:
        for logger in loggers:
            logger.removeHandler(records)
    for message in records.messages:
        warnings.warn(f"image file {str(path)!r}: {message}", UserWarning, stacklevel=4)


def _admit(path: Path, shape: tuple[int, ...], dtype: np.dtype, part: str | None) -> None:
    """Refuse, before the pixels are read, arrays that are not plain numbers, complex arrays
    without a chosen part, and arrays that cannot fit in memory."""
    if dtype.hasobject or dtype.kind not in "biufc":
        raise ValueError(f"image file {str(path)!r} holds no plain numeric array (dtype {dtype})")
    if dtype.kind == "c" and part is None:
        raise ValueError(
            f"image file {str(path)!r} holds a complex image ({dtype}); choose a part: "
            f"read_image(..., part={' | '.join(map(repr, PARTS))})"
        )
    size = math.prod(shape)
    # the array as stored, the float64 copy its finiteness check makes, the float32 image
    check_memory(
        size * (dtype.itemsize + 12),
        f"reading image file {str(path)!r} ({tuple(shape)} {dtype})",
        "crop or bin it first",
    )


def _part(array: np.ndarray, part: str | None) -> np.ndarray:
    if not np.iscomplexobj(array):
        return array
    return {"real": np.real, "imag": np.imag, "abs": np.abs, "phase": np.angle}[part](array)


def _calibration(values) -> tuple[float, float] | None:
    """A recorded pixel size as a pair of positive finite floats, or None if unusable."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf" or values.shape not in ((), (2,)):
        return None
    pair = np.broadcast_to(values.astype(float), (2,))
    if not np.all(np.isfinite(pair) & (pair > 0)):
        return None
    return float(pair[0]), float(pair[1])


def _angstrom_per(unit) -> float | None:
    """Å per ``unit`` as a file writes it (ImageJ escapes µ and Å as ``\\u00B5``, ``\\u00C5``);
    None if it is not a length."""
    if not isinstance(unit, str):
        return None
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match[1], 16)), unit).strip()
    return _ANGSTROM_PER_UNIT.get(text, _ANGSTROM_PER_UNIT.get(text.lower()))


def _in_angstrom(scales, units, source: str) -> _Recorded:
    """A pixel size given as ``scales`` (x, y) in ``units`` (x, y), found in ``source``."""
    shown = units[0] if units[0] == units[1] else tuple(units)
    how = f"{source} {shown!r}"
    factors = [_angstrom_per(unit) for unit in units]
    if None in factors:
        return _Recorded(None, f"{how} is not a length")
    try:
        sizes = [float(scale) * factor for scale, factor in zip(scales, factors, strict=True)]
    except (TypeError, ValueError):
        sizes = None
    sampling = None if sizes is None else _calibration(sizes)
    if sampling is None:
        return _Recorded(None, f"{how}: no positive finite pixel size")
    return _Recorded(sampling, how)


def _own_metadata(text) -> _Recorded | None:
    """atomscope's JSON (``{"sampling": [sx, sy], "unit": "Å", ...}``); None if ``text`` is not."""
    try:
        info = json.loads(text)
        recorded = info["sampling"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    factor = _angstrom_per(info.get("unit", "Å"))
    sampling = _calibration(recorded) if factor else None
    if sampling is None:
        return _Recorded(None, f"atomscope metadata: unusable sampling {recorded!r}")
    return _Recorded((sampling[0] * factor, sampling[1] * factor), "atomscope metadata")


# --- npz ------------------------------------------------------------------------------------


def _npy_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    with archive.open(name) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"{name} has .npy format version {version}, not 1.0 or 2.0")
    return shape, dtype


@contextlib.contextmanager
def _open_npz(path: Path) -> Iterator[_Opened]:
    with _reading(path), zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "array.npy" not in names:
            raise ValueError(f"it holds no 'array' (holds {sorted(names)})")
        shape, dtype = _npy_header(archive, "array.npy")
        calibrated = (
            "sampling.npy" in names and _npy_header(archive, "sampling.npy")[1].kind in "iuf"
        )
    recorded = _NOTHING
    if calibrated:
        with _reading(path), np.load(path) as data:
            sampling = _calibration(data["sampling"])
        how = "npz 'sampling' [Å]"
        recorded = _Recorded(sampling, how if sampling else f"{how}: not a positive pixel size")

    def read(indices: range, part: str | None) -> np.ndarray:
        _admit(path, shape, dtype, part)
        if len(shape) < 2:
            raise ValueError(
                f"image file {str(path)!r}: 'array' has shape {shape}; an image is indexed [x, y]"
            )
        with _reading(path), np.load(path) as data:
            return data["array"].reshape(-1, *shape[-2:])[list(indices)]

    yield _Opened(recorded, math.prod(shape[:-2]), read)


# --- TIFF -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _open_tiff(path: Path) -> Iterator[_Opened]:
    with contextlib.ExitStack() as stack:
        with _reading(path):
            tif = stack.enter_context(tifffile.TiffFile(path))
            series = tif.series[0]
            recorded = _tiff_calibration(path, tif)
        axes, shape = series.axes, series.shape
        if "Y" not in axes or "X" not in axes:
            raise ValueError(f"image file {str(path)!r} holds no 2D image (TIFF axes {axes!r})")
        if len(tif.series) > 1:
            warnings.warn(
                f"image file {str(path)!r} holds {len(tif.series)} image series; reading the "
                f"first ({'×'.join(map(str, shape))}, axes {axes})",
                UserWarning,
                stacklevel=4,
            )
        ny, nx = shape[axes.index("Y")], shape[axes.index("X")]
        count = math.prod(shape) // (nx * ny) if nx * ny else 0
        # one page per frame: read only the chosen pages
        by_page = axes.endswith("YX") and len(series.pages) == count

        def read(indices: range, part: str | None) -> np.ndarray:
            _admit(path, (len(indices) if by_page else count, nx, ny), series.dtype, part)
            with _reading(path):
                if by_page:
                    data = tif.asarray(key=list(indices), series=0)
                else:
                    data = np.moveaxis(
                        series.asarray(), [axes.index("Y"), axes.index("X")], [-2, -1]
                    )
                    data = data.reshape(count, ny, nx)[list(indices)]
            return np.swapaxes(data.reshape(len(indices), ny, nx), 1, 2)

        yield _Opened(recorded, count, read)


def _tiff_calibration(path: Path, tif: tifffile.TiffFile) -> _Recorded:
    """The first of: atomscope's JSON description (files written before the ImageJ format);
    the ImageJ ``unit`` with X/YResolution (atomscope's JSON in the ImageJ ``Info`` gives the
    exact value when it agrees, i.e. no other program recalibrated the file); vendor metadata
    through rosettasciio; ResolutionUnit inch or cm with X/YResolution."""
    page = tif.pages[0]
    own = _own_metadata(page.description)
    if own is not None:
        return own
    imagej = tif.imagej_metadata or {}
    if imagej.get("unit", "pixel") not in ("pixel", "pixels", ""):  # ImageJ's "uncalibrated"
        unit = imagej["unit"]
        found = _resolution(page, (unit, imagej.get("yunit", unit)), "ImageJ unit")
        info = _own_metadata(imagej.get("Info"))
        if (
            info is not None
            and info.sampling is not None
            and found.sampling is not None
            and np.allclose(info.sampling, found.sampling, rtol=1e-6, atol=0)
        ):
            return info
        return found
    vendor = _tiff_vendor_calibration(path, tif)
    if vendor is not None:
        return vendor
    tag = page.tags.get("ResolutionUnit")
    unit = _RESOLUTION_UNITS.get(2 if tag is None else int(tag.value))
    if unit is None or "XResolution" not in page.tags:
        return _NOTHING
    return _resolution(page, (unit, unit), "TIFF ResolutionUnit")


def _resolution(page: tifffile.TiffPage, units: tuple[str, str], source: str) -> _Recorded:
    """The pixel size from XResolution and YResolution [pixels per unit]."""
    xtag = page.tags.get("XResolution")
    if xtag is None:
        return _Recorded(None, f"{source} {units[0]!r} without XResolution")
    scales = []
    for tag in (xtag, page.tags.get("YResolution", xtag)):
        numerator, denominator = tag.value
        scales.append(denominator / numerator if numerator else math.inf)
    return _in_angstrom(scales, units, source)


def _tiff_vendor_calibration(path: Path, tif: tifffile.TiffFile) -> _Recorded | None:
    """The pixel size FEI/Thermo Fisher, Zeiss, TVIPS, Olympus SIS, JEOL or DigitalMicrograph
    TIFF metadata records, as rosettasciio reads it; None if there is none or rosettasciio is
    not installed."""
    page = tif.pages[0]
    vendor = tif.flags & {"fei", "sem", "tvips", "sis"} or any(
        code in page.tags for code in _DM_TIFF_TAGS
    )
    if not vendor and page.tags.valueof("Make") != "JEOL Ltd.":
        return None
    try:
        from rsciio.tiff import file_reader
    except ImportError:
        return None
    signal = file_reader(str(path), lazy=True)[0]  # called inside _open_tiff's _reading
    _close(signal["data"])
    return _axes_calibration(signal["axes"])


# --- rosettasciio: dm3/dm4, EMD, HyperSpy, SER ----------------------------------------------


def _axes_calibration(axes: list[dict]) -> _Recorded | None:
    """The pixel size of rosettasciio's last two axes (y, x); None if they carry no unit."""
    if len(axes) < 2:
        return None
    yaxis, xaxis = axes[-2], axes[-1]
    units = [str(axis.get("units") or "").replace("<undefined>", "") for axis in (xaxis, yaxis)]
    if not any(units):
        return None
    return _in_angstrom((xaxis.get("scale"), yaxis.get("scale")), units, "axis unit")


def _is_image(signal: dict) -> bool:
    """Two signal axes, the last two (an image or a stack of images)."""
    axes, shape = signal["axes"], signal["data"].shape
    if len(axes) != len(shape) or len(shape) < 2:
        return False
    navigate = [bool(axis.get("navigate", False)) for axis in axes]
    return not any(navigate[-2:]) and (sum(navigate) in (0, len(shape) - 2))


def _close(data) -> None:
    """Close the file a lazily read rosettasciio array keeps open."""
    from rsciio.utils.file import get_file_handle

    handle = get_file_handle(data, warn=False)
    if handle is not None:
        handle.close()


@contextlib.contextmanager
def _open_rosettasciio(path: Path) -> Iterator[_Opened]:
    kind = _FORMATS[path.suffix.lower()]
    try:
        reader = importlib.import_module(f"rsciio.{_ROSETTASCIIO[kind]}").file_reader
    except ImportError as error:
        raise ValueError(
            f"reading {path.suffix} files needs rosettasciio ({error}): pip install 'atomscope[io]'"
        ) from None
    # a file larger than memory is refused before it is parsed; the pixels, compressed or not,
    # are checked from the header before they are read
    check_memory(path.stat().st_size, f"reading image file {str(path)!r}", "crop or bin it first")
    options = {"select_type": "image"} if kind == "EMD" else {}
    with _reading(path):
        signals = reader(str(path), lazy=True, **options)
    try:
        images = [signal for signal in signals if _is_image(signal)]
        if not images:
            raise ValueError(
                f"image file {str(path)!r} holds no image (no signal with two image axes)"
            )
        if len(images) > 1:
            titles = [str(s["metadata"].get("General", {}).get("title", "")) for s in images]
            warnings.warn(
                f"image file {str(path)!r} holds {len(images)} images ({', '.join(titles)}); "
                "reading the first",
                UserWarning,
                stacklevel=4,
            )
        data = images[0]["data"]
        ny, nx = data.shape[-2:]
        count = math.prod(data.shape[:-2])

        def read(indices: range, part: str | None) -> np.ndarray:
            _admit(path, (len(indices), nx, ny), np.dtype(data.dtype), part)
            with _reading(path):
                chosen = np.asarray(data.reshape(count, ny, nx)[list(indices)])
            return np.swapaxes(chosen, 1, 2)

        yield _Opened(_axes_calibration(images[0]["axes"]) or _NOTHING, count, read)
    finally:
        for signal in signals:
            _close(signal["data"])


# --- MRC ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _open_mrc(path: Path) -> Iterator[_Opened]:
    try:
        import mrcfile
    except ImportError as error:
        raise ValueError(
            f"reading {path.suffix} files needs mrcfile ({error}): pip install 'atomscope[io]'"
        ) from None
    with _reading(path), mrcfile.open(path, header_only=True) as mrc:
        header = mrc.header
        nx, ny, count = int(header.nx), int(header.ny), int(header.nz)
        dtype = mrcfile.utils.data_dtype_from_header(header)
        voxel = (float(mrc.voxel_size.x), float(mrc.voxel_size.y))
    # a voxel size of 0 is mrcfile's (and the format's) "not set"
    recorded = _in_angstrom(voxel, ("Å", "Å"), "MRC voxel size") if any(voxel) else _NOTHING

    def read(indices: range, part: str | None) -> np.ndarray:
        _admit(path, (len(indices), nx, ny), dtype, part)
        with _reading(path), mrcfile.mmap(path, mode="r") as mrc:
            data = mrc.data.reshape(count, ny, nx)[list(indices)]
            return np.swapaxes(np.array(data), 1, 2)

    yield _Opened(recorded, count, read)


_OPENERS = {"TIFF": _open_tiff, "NumPy .npz": _open_npz, "MRC": _open_mrc}


def write_npz(path: str | os.PathLike, compress: bool = True, **arrays) -> Path:
    """Write arrays to an ``.npz`` atomically, zip-compressed unless ``compress`` is False
    (floating-point maps of noisy data barely compress and cost ~35 ms/MB to try)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        (np.savez_compressed if compress else np.savez)(handle, **arrays)
    return Path(path)


def write_json(path: str | os.PathLike, summary: dict) -> Path:
    """Write a JSON summary (NumPy values converted) atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(summary), indent=2, ensure_ascii=False) + "\n")
    return Path(path)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value
