"""Read and write images and results with their units, never leaving a half-written file.

Every writer goes through `atomscope.outputs.atomic_output`: the data is written to a temporary
file beside the destination and renamed into place only when writing succeeded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import tifffile

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


def read_image(
    path: str | os.PathLike,
    sampling: float | None = None,
    default_sampling: float | None = None,
):
    """Read an image as `Images` from TIFF, npz, or (with rosettasciio) dm3/dm4/emd.

    The sampling is ``sampling`` [Å] when given, else the file's own (converted to Å), else
    ``default_sampling``; if none is known a ``ValueError`` says so.
    """
    from atomscope.images import Images

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            array, recorded = _read_tiff(path)
        elif suffix == ".npz":
            with np.load(path) as data:
                array = data["array"]
                recorded = tuple(data["sampling"]) if "sampling" in data else None
        elif suffix in (".dm3", ".dm4", ".emd"):
            array, recorded = _read_rosettasciio(path)
        else:
            raise ValueError(
                f"image file {str(path)!r}: unsupported suffix {suffix!r}; use .tif, .tiff, "
                ".npz, .dm3, .dm4 or .emd"
            )
    except (OSError, KeyError, tifffile.TiffFileError) as error:
        raise ValueError(f"image file {str(path)!r} could not be read: {error}") from error
    chosen = sampling if sampling is not None else recorded
    chosen = default_sampling if chosen is None else chosen
    if chosen is None:
        raise ValueError(f"image file {str(path)!r} records no pixel size; pass sampling [Å]")
    return Images(array, chosen, {"source": str(path)})


def _read_tiff(path: Path):
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        array = page.asarray().T
        try:
            info = json.loads(page.description)
            return array, tuple(info["sampling"])
        except (json.JSONDecodeError, KeyError, TypeError):
            tag = page.tags.get("XResolution")
            if tag is None:
                return array, None
            numerator, denominator = tag.value
            return array, (denominator / numerator,) * 2


_LENGTH_TO_ANGSTROM = {"Å": 1.0, "A": 1.0, "nm": 10.0, "pm": 0.01, "µm": 1e4, "um": 1e4}


def _read_rosettasciio(path: Path):
    try:
        if path.suffix.lower() == ".emd":
            from rsciio.emd import file_reader
        else:
            from rsciio.digitalmicrograph import file_reader
    except ImportError as error:
        raise ValueError(
            "reading dm3/dm4/emd needs rosettasciio: pip install 'atomscope[io]'"
        ) from error
    signal = file_reader(str(path))[0]
    axes = signal["axes"][-2:]
    scale = []
    for axis in axes:
        unit = axis.get("units", "")
        if unit not in _LENGTH_TO_ANGSTROM:
            return np.asarray(signal["data"]).T, None
        scale.append(axis["scale"] * _LENGTH_TO_ANGSTROM[unit])
    return np.asarray(signal["data"]).T, (scale[1], scale[0])


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
