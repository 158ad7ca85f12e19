"""Noise filters applied before peak finding (seed §3.1.2, step 1)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from atomscope.analysis.peaks import _check_image
from atomscope.core.validate import check_nonnegative, check_range

__all__ = ["estimate_noise_variance", "wiener_filter"]


def _radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    kx = np.fft.fftfreq(shape[0])[:, None]
    ky = np.fft.fftfreq(shape[1])[None, :]
    return np.sqrt(kx**2 + ky**2)


def estimate_noise_variance(image, high_frequency: float = 0.4) -> float:
    """White-noise variance per pixel from the spectrum beyond ``high_frequency`` [1/pixel].

    An atomic-resolution image has almost no signal near the Nyquist frequency (0.5 /pixel), so
    the mean power there, divided by the number of pixels, is the variance of white noise
    (Parseval: E|F(k)|² = N σ² for the unnormalised DFT).

    Examples
    --------
    >>> noise = np.random.default_rng(0).normal(0, 0.3, (256, 256))
    >>> round(estimate_noise_variance(noise), 3)
    0.09
    """
    array = _check_image(image)
    high_frequency = check_range("high_frequency", high_frequency, 0.0, 0.5, high_open=True)
    power = np.abs(np.fft.fft2(array)) ** 2
    corner = _radial_frequency(array.shape) >= high_frequency
    return float(power[corner].mean() / array.size)


def wiener_filter(image, noise: float | None = None, smoothing: float = 1.0) -> np.ndarray:
    """Fourier-space Wiener filter of an image with white noise (seed §3.1.2, ref. [38]).

    Each Fourier coefficient is scaled by max(0, P − N) / P, the ratio of estimated signal power
    to total power, with N = (number of pixels) × ``noise`` the expected noise power and P the
    power spectrum |F|² smoothed by a Gaussian of ``smoothing`` Fourier pixels. Smoothing is what
    makes the estimate of P usable: a single |F|² of pure noise exceeds N a third of the time, so
    the unsmoothed filter passes much of the noise (residual ≈ 0.46 of it on a lattice with
    white noise, against ≈ 0.22 with the default).

    Parameters
    ----------
    image
        2D array or `Images`, indexed ``[x, y]``.
    noise
        Noise variance per pixel [intensity²]; estimated from the spectrum beyond 0.4 /pixel
        (`estimate_noise_variance`) when omitted.
    smoothing
        Width σ of the Gaussian that smooths the power spectrum [Fourier pixels]; 0 gives the
        plain per-coefficient filter.

    Returns
    -------
    numpy.ndarray
        The filtered image (float64), same shape.

    Examples
    --------
    >>> x = np.arange(128)
    >>> clean = np.add.outer(np.cos(2 * np.pi * x / 16), np.cos(2 * np.pi * x / 16))
    >>> noisy = clean + np.random.default_rng(1).normal(0, 0.5, clean.shape)
    >>> bool(np.std(wiener_filter(noisy) - clean) < 0.25 * np.std(noisy - clean))
    True
    """
    array = _check_image(image)
    if noise is None:
        noise = estimate_noise_variance(array)
    noise = check_nonnegative("noise", noise)
    smoothing = check_nonnegative("smoothing", smoothing)
    spectrum = np.fft.fft2(array)
    power = ndimage.gaussian_filter(np.abs(spectrum) ** 2, smoothing, mode="wrap")
    noise_power = noise * array.size
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(power > 0, np.clip(power - noise_power, 0, None) / power, 0.0)
    return np.fft.ifft2(spectrum * gain).real
