"""The only FFT seam of atomscope: 2D transforms over the last two axes.

Two backends, chosen with the environment variable ``ATOMSCOPE_FFT`` = ``scipy`` | ``fftw``:

- ``scipy`` (the default): ``scipy.fft`` (pocketfft) with workers. Its algorithm depends only on
  the transform size, so the same seed gives bit-identical results on every run, with any
  number of threads, in Dask workers, and on a fresh machine.
- ``fftw``: pyFFTW with measured in-place plans, up to 1.6× faster per transform on some sizes
  (``benchmarks/fft_backends.py``) but not reproducible bit for bit: FFTW chooses its algorithm
  by timing candidates, so two fresh plans of one size (a new cache, another thread count)
  often differ in the last bits (about 1e-6 relative in an image), and shot noise drawn from
  such an image differs in most pixels. Its measured plans ("wisdom") are kept in
  ``$ATOMSCOPE_CACHE_DIR`` (default ``~/.cache/atomscope``), so a size is planned once per
  machine, not once per process.

The in-place functions transform a C-contiguous complex64/complex128 array in its own memory and
return it; the inverse is normalised by 1/N unless ``normalize=False``.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.util
import os
import platform
import tempfile
import warnings
from pathlib import Path

import lazy_loader
import numpy as np
import scipy.fft

from atomscope.core.threads import threads

# imported on first use: pyFFTW imports dask.array, which `atomscope --help` does not need
pyfftw = lazy_loader.load("pyfftw") if importlib.util.find_spec("pyfftw") else None

_BACKENDS = ("fftw", "scipy")


def fft_threads() -> int:
    """Threads each FFT of this process uses: `atomscope.core.threads.threads` (the cores that
    are not busy, or ``ATOMSCOPE_THREADS``)."""
    return threads()


def backend() -> str:
    """The FFT backend in use: ``ATOMSCOPE_FFT`` if set, else the reproducible ``scipy``."""
    name = os.environ.get("ATOMSCOPE_FFT", "scipy")
    if name not in _BACKENDS:
        raise ValueError(f"ATOMSCOPE_FFT must be one of {_BACKENDS}, got {name!r}")
    if name == "fftw" and pyfftw is None:
        raise ValueError("ATOMSCOPE_FFT='fftw' but pyFFTW is not installed")
    return name


def empty(shape: tuple[int, ...], dtype=np.complex64) -> np.ndarray:
    """An uninitialised array for the FFTs: aligned for FFTW's SIMD plans with the ``fftw``
    backend, plain ``np.empty`` with ``scipy`` (pocketfft needs no alignment, and importing
    pyFFTW, which imports dask.array, would add ~0.4 s to the first simulation)."""
    if backend() == "fftw":
        return pyfftw.empty_aligned(shape, dtype=dtype)
    return np.empty(shape, dtype=dtype)


def _wisdom_path() -> Path:
    cache = Path(os.environ.get("ATOMSCOPE_CACHE_DIR", Path.home() / ".cache" / "atomscope"))
    return cache / f"fftw-wisdom-{platform.node()}-{threads()}threads.bin"


def _read_wisdom(path: Path) -> tuple[bytes, ...] | None:
    try:
        parts = path.read_bytes().split(b"\0\0")
    except OSError:
        return None
    return tuple(parts) if len(parts) == 3 else None


@functools.cache
def _load_wisdom() -> None:
    """Import the machine's saved FFTW wisdom once per process (a missing file is fine)."""
    wisdom = _read_wisdom(_wisdom_path())
    if wisdom is not None:
        pyfftw.import_wisdom(wisdom)


@functools.cache
def _warn_unwritable(path: Path, reason: str) -> None:
    warnings.warn(
        f"FFTW wisdom cannot be saved to {path} ({reason}); plans are measured again in every "
        "process (set ATOMSCOPE_CACHE_DIR to a writable directory)",
        stacklevel=4,
    )


def _save_wisdom() -> None:
    """Merge this process's wisdom into the saved file under an exclusive lock, then replace it
    atomically: two processes planning different sizes at once both keep their plans (the
    last writer no longer wins). An unwritable cache costs only planning time and one warning."""
    path = _wisdom_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            saved = _read_wisdom(path)  # what other processes saved since this one loaded
            if saved is not None:
                pyfftw.import_wisdom(saved)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                handle.write(b"\0\0".join(pyfftw.export_wisdom()))
            os.replace(handle.name, path)
    except OSError as error:
        _warn_unwritable(path, error.strerror or type(error).__name__)


def _measured_plan(input_array: np.ndarray, output_array: np.ndarray, **options):
    _load_wisdom()
    plan = pyfftw.FFTW(input_array, output_array, threads=threads(), **options)
    _save_wisdom()
    return plan


@functools.lru_cache(maxsize=32)
def _plan(shape: tuple[int, ...], dtype: str, direction: str, aligned: bool):
    scratch = pyfftw.empty_aligned(shape, dtype=dtype) if aligned else np.empty(shape, dtype)
    return _measured_plan(
        scratch,
        scratch,
        axes=(-2, -1),
        direction=direction,
        flags=("FFTW_MEASURE",) if aligned else ("FFTW_MEASURE", "FFTW_UNALIGNED"),
    )


def _fftw_inplace(array: np.ndarray, direction: str) -> np.ndarray:
    aligned = pyfftw.is_byte_aligned(array)
    plan = _plan(array.shape, array.dtype.str, direction, aligned)
    plan.update_arrays(array, array)
    plan.execute()
    return array


def _check(array: np.ndarray) -> None:
    if array.dtype not in (np.complex64, np.complex128) or not array.flags.c_contiguous:
        raise TypeError(
            f"array must be C-contiguous complex64 or complex128 for in-place FFTs, got "
            f"{array.dtype} (contiguous={array.flags.c_contiguous})"
        )
    if array.ndim < 2:
        raise ValueError(f"array must have at least 2 dimensions, got shape {array.shape}")


def _into(array: np.ndarray, result: np.ndarray) -> None:
    """Put ``result`` in ``array`` unless pocketfft already transformed ``array`` in place
    (with ``overwrite_x`` it does for C-contiguous complex input: copying it onto itself cost
    a quarter of each 600×570 transform)."""
    if result.ctypes.data != array.ctypes.data:  # same first byte and shape: same memory
        array[...] = result


def fft2_inplace(array: np.ndarray) -> np.ndarray:
    """Forward 2D FFT over the last two axes, overwriting ``array`` (unnormalised)."""
    _check(array)
    if backend() == "fftw":
        return _fftw_inplace(array, "FFTW_FORWARD")
    _into(array, scipy.fft.fft2(array, workers=threads(), overwrite_x=True))
    return array


def ifft2_inplace(array: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Inverse 2D FFT over the last two axes, overwriting ``array`` (1/N if ``normalize``)."""
    _check(array)
    if backend() == "fftw":
        _fftw_inplace(array, "FFTW_BACKWARD")
        if normalize:
            array *= array.dtype.type(1 / (array.shape[-1] * array.shape[-2]))
        return array
    _into(
        array,
        scipy.fft.ifft2(
            array, workers=threads(), overwrite_x=True, norm="backward" if normalize else "forward"
        ),
    )
    return array


def fft2(array: np.ndarray) -> np.ndarray:
    """Forward 2D FFT of a copy of ``array`` (complex64 unless complex128 is given)."""
    out = empty(
        np.shape(array), np.complex128 if np.asarray(array).dtype == np.complex128 else np.complex64
    )
    out[...] = array
    return fft2_inplace(out)


def ifft2(array: np.ndarray) -> np.ndarray:
    """Normalised inverse 2D FFT of a copy of ``array``."""
    out = empty(
        np.shape(array), np.complex128 if np.asarray(array).dtype == np.complex128 else np.complex64
    )
    out[...] = array
    return ifft2_inplace(out)


def band_of(aperture: np.ndarray) -> tuple[int, int]:
    """The x rows a band-limiting ``aperture`` (nx, ny) in FFT order leaves non-zero, as
    ``(a, b)``: rows ``[0, a)`` and ``[b, nx)`` (the positive and negative frequencies).

    Examples
    --------
    >>> aperture = np.zeros((8, 4)); aperture[[0, 1, 7]] = 1
    >>> band_of(aperture)
    (2, 7)
    """
    rows = np.flatnonzero(np.any(aperture != 0, axis=-1))
    nx = aperture.shape[-2]
    if len(rows) == 0:
        return 0, nx
    a = int(np.sum(rows == np.arange(len(rows))))  # the leading run 0, 1, …, a − 1
    b = int(rows[a]) if a < len(rows) else nx
    if not np.array_equal(rows[a:], np.arange(b, nx)):
        raise ValueError("aperture must be non-zero on rows [0, a) and [b, nx) only (FFT order)")
    return a, b


def fft2_band_inplace(array: np.ndarray, band: tuple[int, int]) -> np.ndarray:
    """Forward 2D FFT of ``array`` [..., nx, ny] in place, kept on the x rows ``band`` = (a, b)
    (rows ``[0, a)`` and ``[b, nx)``; `band_of`) and zero on the others.

    A pruned transform for a spectrum about to be band-limited: x-transforms of every column,
    then y-transforms of the band's rows only, so a 2/3-Nyquist band costs 5/6 of a full
    transform. The kept rows equal those of `fft2_inplace`.

    Examples
    --------
    >>> array = np.random.default_rng(0).random((8, 6)).astype(np.complex64)
    >>> full = np.fft.fft2(array)
    >>> banded = fft2_band_inplace(array, (3, 6))
    >>> bool(np.allclose(banded[:3], full[:3], atol=1e-5)), bool((banded[3:6] == 0).all())
    (True, True)
    """
    _check(array)
    a, b = band
    if backend() == "fftw":
        _fftw_inplace(array, "FFTW_FORWARD")
    else:
        _into(array, scipy.fft.fft(array, axis=-2, workers=threads(), overwrite_x=True))
        for rows in (array[..., :a, :], array[..., b:, :]):
            _into(rows, scipy.fft.fft(rows, axis=-1, workers=threads(), overwrite_x=True))
    array[..., a:b, :] = 0
    return array


def ifft2_band_inplace(
    array: np.ndarray, band: tuple[int, int], normalize: bool = True
) -> np.ndarray:
    """Inverse 2D FFT in place of a spectrum [..., nx, ny] that is zero outside the x rows
    ``band`` = (a, b) (`band_of`); rows outside the band are not read (taken as zero).

    The pruned counterpart of `fft2_band_inplace`: y-transforms of the band's rows, then
    x-transforms of every column; 1/N if ``normalize``.

    Examples
    --------
    >>> spectrum = np.zeros((8, 6), dtype=np.complex64)
    >>> spectrum[[0, 1, 7]] = np.arange(18).reshape(3, 6)
    >>> expected = np.fft.ifft2(spectrum)
    >>> bool(np.allclose(ifft2_band_inplace(spectrum, (2, 7)), expected, atol=1e-5))
    True
    """
    _check(array)
    a, b = band
    array[..., a:b, :] = 0
    if backend() == "fftw":
        return ifft2_inplace(array, normalize=normalize)
    norm = "backward" if normalize else "forward"
    for rows in (array[..., :a, :], array[..., b:, :]):
        _into(rows, scipy.fft.ifft(rows, axis=-1, workers=threads(), overwrite_x=True, norm=norm))
    _into(array, scipy.fft.ifft(array, axis=-2, workers=threads(), overwrite_x=True, norm=norm))
    return array


def ifft2_from_rows(rows_spectrum: np.ndarray, rows: np.ndarray, nx: int) -> np.ndarray:
    """Normalised inverse 2D FFT of a spectrum [..., nx, ny] that is zero except on the x
    indices ``rows``, given as those rows alone [..., len(rows), ny] (overwritten).

    A pruned transform: y-transforms of the given rows only, then x-transforms of every
    column, so a band-limited spectrum on few rows costs about half a full transform. Always
    pocketfft (``scipy.fft``), whichever backend is chosen.

    Examples
    --------
    >>> spectrum = np.zeros((8, 6), dtype=np.complex64)
    >>> spectrum[[0, 1, 7]] = np.arange(18).reshape(3, 6)
    >>> rows = np.array([0, 1, 7])
    >>> bool(np.allclose(ifft2_from_rows(spectrum[rows], rows, 8), np.fft.ifft2(spectrum)))
    True
    """
    partial = scipy.fft.ifft(rows_spectrum, axis=-1, workers=threads(), overwrite_x=True)
    out = empty((*rows_spectrum.shape[:-2], nx, rows_spectrum.shape[-1]), partial.dtype)
    out[...] = 0
    out[..., rows, :] = partial
    _into(out, scipy.fft.ifft(out, axis=-2, workers=threads(), overwrite_x=True))
    return out


def fft2_to_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The x indices ``rows`` of the forward 2D FFT of ``array`` [..., nx, ny] (overwritten):
    x-transforms of every column, then y-transforms of the wanted rows only (the pruned
    counterpart of `ifft2_from_rows`).

    Examples
    --------
    >>> array = np.random.default_rng(0).random((8, 6)).astype(np.complex64)
    >>> rows = np.array([0, 2])
    >>> bool(np.allclose(fft2_to_rows(array.copy(), rows), np.fft.fft2(array)[rows], atol=1e-4))
    True
    """
    _into(array, scipy.fft.fft(array, axis=-2, workers=threads(), overwrite_x=True))
    return scipy.fft.fft(array[..., rows, :], axis=-1, workers=threads(), overwrite_x=True)


@functools.lru_cache(maxsize=8)
def _real_plan(shape: tuple[int, int]):
    half = pyfftw.empty_aligned((shape[0], shape[1] // 2 + 1), dtype=np.complex64)
    real = pyfftw.empty_aligned(shape, dtype=np.float32)
    plan = _measured_plan(
        half,
        real,
        axes=(0, 1),
        direction="FFTW_BACKWARD",
        flags=("FFTW_MEASURE", "FFTW_DESTROY_INPUT"),
    )
    return plan, half


def irfft2(half_spectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Normalised inverse 2D FFT of a Hermitian half spectrum to a new float32 array ``shape``.

    ``half_spectrum`` holds the ``shape[1] // 2 + 1`` non-negative frequencies of the last axis
    (the layout of ``numpy.fft.rfftfreq``); it is not modified.

    Examples
    --------
    >>> half = np.zeros((4, 3), dtype=np.complex64); half[0, 0] = 16
    >>> irfft2(half, (4, 4)).tolist()[0]
    [1.0, 1.0, 1.0, 1.0]
    """
    shape = (int(shape[0]), int(shape[1]))
    if half_spectrum.shape != (shape[0], shape[1] // 2 + 1):
        raise ValueError(
            f"half_spectrum must have shape {(shape[0], shape[1] // 2 + 1)} for shape {shape}, "
            f"got {half_spectrum.shape}"
        )
    if backend() == "scipy":
        return scipy.fft.irfft2(half_spectrum, s=shape, workers=threads()).astype(
            np.float32, copy=False
        )
    plan, half = _real_plan(shape)
    half[...] = half_spectrum
    plan.execute()
    out = empty(shape, np.float32)
    np.multiply(plan.output_array, np.float32(1 / (shape[0] * shape[1])), out=out)
    return out


def prepare_plans(shape: tuple[int, int]) -> None:
    """Plan every transform a multislice on ``shape`` uses (so `export_wisdom` holds them)."""
    if backend() != "fftw":
        return
    shape = (int(shape[0]), int(shape[1]))
    for direction in ("FFTW_FORWARD", "FFTW_BACKWARD"):
        _plan(shape, np.dtype(np.complex64).str, direction, True)
    _real_plan(shape)


def export_wisdom() -> tuple[bytes, ...] | None:
    """This process's FFTW wisdom: the plans it measured or loaded (``None`` without FFTW).

    Shipped to worker processes with `import_wisdom`, it makes them choose the same algorithms,
    so distributed results equal this process's bit for bit.
    """
    if backend() != "fftw":
        return None
    _load_wisdom()
    return pyfftw.export_wisdom()


def import_wisdom(wisdom: tuple[bytes, ...] | None) -> None:
    """Adopt wisdom from `export_wisdom` (over the saved file) before any plan is made."""
    if wisdom is None or backend() != "fftw":
        return
    _load_wisdom()
    pyfftw.import_wisdom(wisdom)


def plan_and_export(shape: tuple[int, ...]) -> tuple[bytes, ...] | None:
    """Plan the FFTs of a ([batch,] nx, ny) ``shape`` and of its slices here, then return this
    process's FFTW wisdom for worker processes (`import_wisdom`).

    Examples
    --------
    >>> wisdom = plan_and_export((2, 16, 16))
    """
    prepare_plans(shape[-2:])
    scratch = empty(shape)
    scratch[...] = 0
    ifft2_inplace(fft2_inplace(scratch))
    return export_wisdom()
