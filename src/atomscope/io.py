"""Read and write images and results with their units, never leaving a half-written file.

Every writer goes through `atomscope.outputs.atomic_output`: the data is written to a temporary
file beside the destination and renamed into place only when writing succeeded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import warnings
import zipfile
from collections.abc import Iterator
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


def write_tiff(path: str | os.PathLike, image, sampling=None) -> Path:
    """Write a float32 TIFF with the pixel size [Å] as ImageJ resolution and JSON metadata.

    Parameters
    ----------
    path
        Destination file.
    image
        `Images` or a 2D array (then ``sampling`` [Å] is required).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> _ = write_tiff(path, np.ones((4, 4)), sampling=0.1)
    >>> read_image(path).sampling
    (0.1, 0.1)
    """
    images = _as_images(image, sampling)
    description = json.dumps(
        {
            "sampling": list(images.sampling),
            "unit": "Å",
            "axes": "XY",
            "metadata": _jsonable(images.metadata),
        }
    )
    with atomic_output(path) as tmp:
        # TIFF stores rows (y) first; arrays here are [x, y], so write the transpose.
        tifffile.imwrite(
            tmp,
            images.array.T,
            photometric="minisblack",
            description=description,
            resolution=(1 / images.sampling[0], 1 / images.sampling[1]),
            metadata=None,
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
}


def read_image(
    path: str | os.PathLike,
    sampling: float | tuple[float, float] | None = None,
    default_sampling: float | tuple[float, float] | None = None,
    part: str | None = None,
):
    """Read an image as `Images` from TIFF, npz, or (with rosettasciio) dm3/dm4/emd.

    Parameters
    ----------
    path
        ``.tif``/``.tiff`` (first page), ``.npz`` (arrays ``array`` and optionally
        ``sampling``), ``.dm3``/``.dm4``/``.emd``.
    sampling
        Pixel size [Å] overriding the file's own.
    default_sampling
        Pixel size [Å] used when the file records none. A recorded resolution that is zero,
        negative or not finite counts as none.
    part
        For a complex image: ``"real"``, ``"imag"``, ``"abs"`` or ``"phase"`` (radians);
        a complex image without ``part`` is refused rather than cut to its real part.

    Returns
    -------
    Images

    Raises
    ------
    ValueError
        One line naming the file: it does not exist, its reader fails (``"image file 'x.dm3'
        could not be read as a DigitalMicrograph file: ..."``), it holds no plain numeric array,
        it is complex and no ``part`` was chosen, it would not fit in memory (checked from
        the header, before the pixels are read), or no pixel size is known.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "wave.npz"
    >>> np.savez(path, array=np.full((2, 2), 3 + 4j), sampling=[0.1, 0.1])
    >>> read_image(path, part="abs").array
    array([[5., 5.],
           [5., 5.]], dtype=float32)
    """
    from atomscope.images import Images

    path = Path(path)
    if sampling is not None:
        sampling = check_pair("sampling", sampling)
    if default_sampling is not None:
        default_sampling = check_pair("default_sampling", default_sampling)
    if part is not None:
        check_choice("part", part, PARTS)
    if not path.is_file():
        raise ValueError(f"image file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"image file {str(path)!r}: unsupported suffix {suffix!r}; use {', '.join(_FORMATS)}"
        )
    if suffix == ".npz":
        array, recorded = _read_npz(path, part)
    elif _FORMATS[suffix] == "TIFF":
        array, recorded = _read_tiff(path, part)
    else:
        array, recorded = _read_rosettasciio(path, part)
    chosen = sampling if sampling is not None else recorded
    chosen = default_sampling if chosen is None else chosen
    if chosen is None:
        raise ValueError(f"image file {str(path)!r} records no pixel size; pass sampling [Å]")
    try:
        return Images(_part(array, part), chosen, {"source": str(path)})
    except (TypeError, ValueError) as error:
        raise ValueError(f"image file {str(path)!r}: {error}") from None


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


def _read_npz(path: Path, part: str | None):
    with _reading(path), zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "array.npy" not in names:
            raise ValueError(f"it holds no 'array' (holds {sorted(names)})")
        shape, dtype = _npy_header(archive, "array.npy")
        calibrated = (
            "sampling.npy" in names and _npy_header(archive, "sampling.npy")[1].kind in "iuf"
        )
    _admit(path, shape, dtype, part)
    with _reading(path), np.load(path) as data:
        array = data["array"]
        recorded = _calibration(data["sampling"]) if calibrated else None
    return array, recorded


def _read_tiff(path: Path, part: str | None):
    with contextlib.ExitStack() as stack:
        with _reading(path):
            page = stack.enter_context(tifffile.TiffFile(path)).pages[0]
            shape, dtype = page.shape, np.dtype(page.dtype)
        _admit(path, shape, dtype, part)
        with _reading(path):
            array = page.asarray().T
            recorded = _tiff_calibration(page)
    return array, recorded


def _tiff_calibration(page) -> tuple[float, float] | None:
    """atomscope's JSON description, else the XResolution tag (pixels per Å)."""
    try:
        info = json.loads(page.description)
        recorded = _calibration(info["sampling"])
    except (json.JSONDecodeError, KeyError, TypeError):
        recorded = None
    if recorded is not None:
        return recorded
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    numerator, denominator = tag.value
    return _calibration(denominator / numerator) if numerator else None


_LENGTH_TO_ANGSTROM = {"Å": 1.0, "A": 1.0, "nm": 10.0, "pm": 0.01, "µm": 1e4, "um": 1e4}


def _read_rosettasciio(path: Path, part: str | None):
    try:
        if path.suffix.lower() == ".emd":
            from rsciio.emd import file_reader
        else:
            from rsciio.digitalmicrograph import file_reader
    except ImportError as error:
        raise ValueError(
            f"reading {path.suffix} files needs rosettasciio ({error}): pip install 'atomscope[io]'"
        ) from None
    # the pixels are at most the file's size; refuse before parsing a file that cannot fit
    check_memory(path.stat().st_size, f"reading image file {str(path)!r}", "crop or bin it first")
    with _reading(path):
        signal = file_reader(str(path))[0]
        data = np.asarray(signal["data"])
        axes = signal["axes"][-2:]
    _admit(path, data.shape, data.dtype, part)
    scale = []
    for axis in axes:
        unit = axis.get("units", "")
        if unit not in _LENGTH_TO_ANGSTROM:
            return data.T, None
        scale.append(axis["scale"] * _LENGTH_TO_ANGSTROM[unit])
    return data.T, _calibration((scale[1], scale[0]))


def write_npz(path: str | os.PathLike, **arrays) -> Path:
    """Write arrays to a compressed ``.npz`` atomically."""
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
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
