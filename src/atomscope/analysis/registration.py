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

from atomscope.core.validate import check_finite_array, check_positive, check_positive_int

__all__ = ["register_shift"]


def _upsampled_correlation(cross_power, centre, upsample, half_width):
    """|F⁻¹{cross_power}| on an upsampled grid of ±``half_width`` pixels around ``centre``."""
    offsets = np.arange(-half_width * upsample, half_width * upsample + 1) / upsample
    kx = np.fft.fftfreq(cross_power.shape[0])
    ky = np.fft.fftfreq(cross_power.shape[1])
    ex = np.exp(2j * np.pi * np.outer(centre[0] + offsets, kx))
    ey = np.exp(2j * np.pi * np.outer(ky, centre[1] + offsets))
    return (ex @ cross_power @ ey).real, offsets


def register_shift(
    reference: Any, moving: Any, max_shift: float | None = None, upsample: int = 50
) -> np.ndarray:
    """The shift (x, y) [pixels] that, applied to ``moving``, registers it with ``reference``.

    Parameters
    ----------
    reference, moving
        Real images [x, y] of one shape (their means are removed; periodic boundaries).
    max_shift
        Largest shift searched [pixels] (> 0); default half the image.
    upsample
        Sub-pixel precision 1/``upsample`` [pixels].

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
    reference = check_finite_array("reference", reference, ndim=2)
    moving = check_finite_array("moving", moving, ndim=2)
    if reference.shape != moving.shape:
        raise ValueError(
            f"reference {reference.shape} and moving {moving.shape} must have the same shape"
        )
    upsample = check_positive_int("upsample", upsample)
    limit = min(reference.shape) / 2
    max_shift = limit if max_shift is None else min(check_positive("max_shift", max_shift), limit)
    cross_power = np.fft.fft2(reference - reference.mean()) * np.conj(
        np.fft.fft2(moving - moving.mean())
    )
    correlation = np.fft.ifft2(cross_power).real
    sx = np.fft.fftfreq(reference.shape[0], 1 / reference.shape[0])
    sy = np.fft.fftfreq(reference.shape[1], 1 / reference.shape[1])
    within = np.hypot(sx[:, None], sy[None, :]) <= max_shift
    peak = np.unravel_index(np.argmax(np.where(within, correlation, -np.inf)), within.shape)
    centre = np.array([sx[peak[0]], sy[peak[1]]])
    fine, offsets = _upsampled_correlation(cross_power, centre, upsample, half_width=1)
    i, j = np.unravel_index(np.argmax(fine), fine.shape)
    return centre + np.array([offsets[i], offsets[j]])
