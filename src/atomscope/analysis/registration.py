"""Sub-pixel image registration by cross-correlation, with a bound on the shift.

The correlation peak is found on the pixel grid within ``max_shift`` and refined by evaluating
the cross-power spectrum's inverse DFT on an upsampled grid around it with two small matrix
products (Guizar-Sicairos, Thurman & Fienup, Opt. Lett. 33 (2008) 156). Unlike skimage's
``phase_cross_correlation``, the search can be bounded: a focal series or a noisy frame often
correlates as well with a lattice period away as with the true shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage

from atomscope.core.threads import blas_threads, threads
from atomscope.core.validate import check_finite_array, check_positive, check_positive_int

__all__ = ["correlation_at", "correlation_peaks", "cross_power_peaks", "register_shift"]


def _upsampled_correlation(cross_power, centre, upsample, half_width, shape=None):
    """F⁻¹{cross_power} (real part, without the 1/N) on an upsampled grid of ±``half_width``
    pixels around ``centre``; with ``shape``, ``cross_power`` is the half spectrum (``rfft2``)
    of real images of that shape, each ky > 0 standing for itself and its conjugate −ky."""
    steps = round(half_width * upsample)
    offsets = np.arange(-steps, steps + 1) / upsample
    kx = np.fft.fftfreq(cross_power.shape[0])
    if shape is None:
        ky, twice = np.fft.fftfreq(cross_power.shape[1]), 1.0
    else:
        ky = np.fft.rfftfreq(shape[1])
        twice = np.full(len(ky), 2.0)
        twice[0] = 1.0
        if shape[1] % 2 == 0:
            twice[-1] = 1.0  # the Nyquist column is its own conjugate
    ex = np.exp(2j * np.pi * np.outer(centre[0] + offsets, kx)).astype(cross_power.dtype)
    ey = np.exp(2j * np.pi * np.outer(ky, centre[1] + offsets)) * np.reshape(twice, (-1, 1))
    ey = ey.astype(cross_power.dtype)
    with blas_threads():
        return (ex @ cross_power @ ey).real, offsets


def correlation_peaks(
    reference: Any, moving: Any, max_shift: float | None = None, count: int = 1, upsample: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` highest local maxima of the cross-correlation within ``max_shift`` (of the
    ``count`` + 1 highest on the pixel grid, refined).

    Parameters
    ----------
    reference, moving
        Real images [x, y] of one shape (their means are removed; periodic boundaries).
    max_shift
        Largest shift searched [pixels] (> 0); default half the image.
    count
        Most maxima returned (≥ 1), highest first.
    upsample
        Sub-pixel precision 1/``upsample`` [pixels].

    Returns
    -------
    shifts : numpy.ndarray
        (k, 2) shifts (dx, dy) [pixels], k ≤ ``count``: ``moving`` shifted by one matches
        ``reference`` there.
    values : numpy.ndarray
        (k,) Σ (moving shifted − its mean) · (reference − its mean) at each shift [image units²]
        (with ``reference`` a log-likelihood map, differences are log-likelihood ratios).

    Examples
    --------
    >>> x, y = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    >>> blob = lambda cx, cy: np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8.0)
    >>> shifts, values = correlation_peaks(blob(8, 8) + 0.5 * blob(20, 8), blob(8, 8), count=2)
    >>> shifts.round(2).tolist(), bool(values[0] > values[1])
    ([[0.0, 0.0], [12.0, 0.0]], True)
    """
    reference = check_finite_array("reference", reference, ndim=2)
    moving = check_finite_array("moving", moving, ndim=2)
    if reference.shape != moving.shape:
        raise ValueError(
            f"reference {reference.shape} and moving {moving.shape} must have the same shape"
        )
    _search_settings(reference.shape, max_shift, count, upsample)  # bad input before the work
    cross_power = np.fft.fft2(reference - reference.mean()) * np.conj(
        np.fft.fft2(moving - moving.mean())
    )
    return cross_power_peaks(cross_power, max_shift, count, upsample)


def _image_shape(cross_power: np.ndarray, shape) -> tuple[int, int]:
    """The images' shape: ``cross_power``'s for a full spectrum, else ``shape``, checked against
    the half spectrum's (nx, ny // 2 + 1)."""
    if shape is None:
        return cross_power.shape
    shape = tuple(check_positive_int("shape", n) for n in shape)
    if len(shape) != 2 or cross_power.shape != (shape[0], shape[1] // 2 + 1):
        raise ValueError(
            f"shape {shape} does not fit a half spectrum of shape {cross_power.shape} "
            "(it needs (nx, ny // 2 + 1))"
        )
    return shape


def _search_settings(shape, max_shift, count, upsample) -> tuple[float, int, int]:
    """Validated (max_shift [pixels], capped at half the image; count; upsample)."""
    upsample = check_positive_int("upsample", upsample)
    count = check_positive_int("count", count)
    limit = min(shape) / 2
    max_shift = limit if max_shift is None else min(check_positive("max_shift", max_shift), limit)
    return max_shift, count, upsample


def cross_power_peaks(
    cross_power: np.ndarray,
    max_shift: float | None = None,
    count: int = 1,
    upsample: int = 50,
    shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`correlation_peaks` from the cross-power spectrum F{reference}·conj(F{moving}) [kx, ky]
    (for callers that hold the spectra already; a zero DC term removes the means).

    With ``shape`` (nx, ny), ``cross_power`` is the half spectrum of real images of that shape
    (``scipy.fft.rfft2``, (nx, ny // 2 + 1)): the same peaks for half the work (to rounding
    for odd nx; for even nx the row at the x Nyquist frequency, ambiguous between sub-pixel
    interpolants, is summed differently, the same on the pixels).

    Examples
    --------
    >>> reference = np.zeros((16, 16)); reference[6, 5] = 1.0
    >>> moving = np.zeros((16, 16)); moving[4, 4] = 1.0
    >>> spectrum = np.fft.fft2(reference) * np.conj(np.fft.fft2(moving))
    >>> cross_power_peaks(spectrum)[0].round(2).tolist()
    [[2.0, 1.0]]
    """
    cross_power = np.asarray(cross_power)
    if cross_power.ndim != 2:
        raise ValueError(f"cross_power must be a 2D spectrum, got shape {cross_power.shape}")
    image_shape = _image_shape(cross_power, shape)
    max_shift, count, upsample = _search_settings(image_shape, max_shift, count, upsample)
    if shape is None:
        correlation = scipy.fft.ifft2(cross_power, workers=threads()).real
    else:
        correlation = scipy.fft.irfft2(cross_power, s=image_shape, workers=threads())
    sx = np.fft.fftfreq(image_shape[0], 1 / image_shape[0])
    sy = np.fft.fftfreq(image_shape[1], 1 / image_shape[1])
    within = np.hypot(sx[:, None], sy[None, :]) <= max_shift
    searched = np.where(within, correlation, -np.inf)
    maxima = within & (ndimage.maximum_filter(searched, size=3, mode="wrap") == searched)
    # one maximum more than asked is refined and the highest are kept: a peak that falls
    # between pixels is lower on the grid than one on a pixel that is lower in truth
    order = np.argsort(correlation[maxima])[::-1][: count + 1]
    shifts, values = [], []
    for i, j in np.argwhere(maxima)[order]:
        centre = np.array([sx[i], sy[j]])
        # ±1 pixel at 1/COARSE_UPSAMPLE, then ±1/COARSE_UPSAMPLE at 1/upsample: the peak is
        # smooth (band-limited), and two small grids cost a fifth of one fine grid
        for factor, half_width in _refinement_grids(upsample):
            fine, offsets = _upsampled_correlation(cross_power, centre, factor, half_width, shape)
            a, b = np.unravel_index(np.argmax(fine), fine.shape)
            centre = centre + np.array([offsets[a], offsets[b]])
        shifts.append(centre)
        values.append(fine[a, b] / correlation.size)  # the matrix DFT lacks ifft2's 1/N
    highest = np.argsort(values)[::-1][:count]
    return np.array(shifts)[highest], np.array(values)[highest]


def correlation_at(
    cross_power: np.ndarray, shift: Any, shape: tuple[int, int] | None = None
) -> float:
    """The cross-correlation F⁻¹{cross_power} at one sub-pixel ``shift`` (dx, dy) [pixels], on
    the scale of `cross_power_peaks`'s values (a direct DFT: no interpolation); ``shape`` as
    for `cross_power_peaks` (a half spectrum of real images of that shape).

    Examples
    --------
    >>> image = np.random.default_rng(0).random((16, 16))
    >>> cross_power = np.fft.fft2(np.roll(image, 3, axis=0)) * np.conj(np.fft.fft2(image))
    >>> round(correlation_at(cross_power, (3, 0)) - float(np.sum(image**2)), 9)
    0.0
    """
    cross_power = np.asarray(cross_power)
    image_shape = _image_shape(cross_power, shape)
    centre = np.asarray(check_finite_array("shift", shift), dtype=float)
    value, _ = _upsampled_correlation(cross_power, centre, 1, 0, shape)
    return float(value[0, 0]) / (image_shape[0] * image_shape[1])


#: Sub-pixel step of the first, coarse refinement grid of `cross_power_peaks` (1/pixels).
COARSE_UPSAMPLE = 10


def _refinement_grids(upsample: int) -> list[tuple[int, float]]:
    """(upsampling, half width [pixels]) of the successive sub-pixel grids."""
    if upsample <= COARSE_UPSAMPLE:
        return [(upsample, 1.0)]
    return [(COARSE_UPSAMPLE, 1.0), (upsample, 1.0 / COARSE_UPSAMPLE)]


def register_shift(
    reference: Any, moving: Any, max_shift: float | None = None, upsample: int = 50
) -> np.ndarray:
    """The shift (x, y) [pixels] that, applied to ``moving``, registers it with ``reference``:
    the highest maximum of `correlation_peaks` (same parameters, without ``count``).

    Returns
    -------
    numpy.ndarray
        (dx, dy) [pixels]: ``moving`` shifted by it matches ``reference``.

    Examples
    --------
    >>> x, y = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    >>> blob = lambda cx, cy: np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8.0)
    >>> register_shift(blob(16, 16), blob(14.5, 17.3)).round(2)
    array([ 1.5, -1.3])
    """
    shifts, _ = correlation_peaks(reference, moving, max_shift, count=1, upsample=upsample)
    return shifts[0]
