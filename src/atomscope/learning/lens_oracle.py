"""A lens-aware reference for recognition: Wiener deconvolution by the known microscope.

A method that knows the exact lens of an image can undo it linearly: for a weak phase object
ψ = 1 + iσv the recorded image is I(k) = δ(k) + σ v̂(k) H(k) with the linear transfer `H` of
`linear_transfer`; `wiener_deconvolve` divides it out and `oracle_peaks` takes the maxima of
the result as atoms. Issue #21's generalisation benchmark prints it beside the network: on lenses
where it fails (large C12 or C5 at low dose) no method can be expected to succeed.
"""

from __future__ import annotations

import numpy as np

from atomscope.core.validate import check_finite_array, check_nonnegative, check_positive
from atomscope.learning.metrics import gaussian_peaks
from atomscope.learning.randomize import Microscope

__all__ = ["linear_transfer", "oracle_peaks", "reimage", "wiener_deconvolve"]


def linear_transfer(
    microscope: Microscope, shape: tuple[int, int], sampling: float | tuple[float, float]
) -> np.ndarray:
    """Transfer H(k) of a weak phase object's projected phase to the recorded image.

    With the quasi-coherent wave transfer T(k) (aperture, envelopes, exp(−iχ), seed Eq 2.20)
    the linear image term of ψ = 1 + iσv is σ v̂(k) H(k), H(k) = i[T(k) − T*(−k)] — the weak
    phase object transfer 2A sin χ for even aberrations (Kirkland, Advanced Computing in
    Electron Microscopy, 2nd ed., Eq 6.22) — times the deflection envelope (Eq 2.19) and the
    camera MTF (Eq 2.21).

    Parameters
    ----------
    microscope
        The microscope that took the image (`randomize.draw`).
    shape
        Image shape (nx, ny) [px].
    sampling
        Image pixel size [Å].

    Returns
    -------
    numpy.ndarray
        Complex (nx, ny) transfer in FFT order (real for even aberrations).

    Examples
    --------
    >>> from atomscope.learning.randomize import draw
    >>> H = linear_transfer(draw(rng=0), (32, 32), 0.12)
    >>> H.shape, bool(np.allclose(H.imag, 0, atol=1e-6)), bool(abs(H[0, 0]) < 1e-6)
    ((32, 32), True, True)
    """
    from atomscope.core.grid import Grid
    from atomscope.optics.envelopes import deflection_envelope

    if not isinstance(microscope, Microscope):
        raise TypeError(f"microscope must be a Microscope, got {type(microscope).__name__}")
    grid = Grid(gpts=tuple(int(n) for n in shape), sampling=sampling)
    wave = microscope.ctf.evaluate(grid).astype(np.complex128)
    # T(−k) in FFT order: reverse each axis, then roll the zero frequency back to index 0
    reversed_wave = np.roll(wave[::-1, ::-1], 1, axis=(0, 1))
    transfer = 1j * (wave - np.conj(reversed_wave))
    transfer *= deflection_envelope(grid.frequency_squared(), microscope.ctf.deflection)
    mtf = microscope.camera.mtf
    if mtf is not None:
        qx, qy = 2 * np.fft.fftfreq(grid.gpts[0]), 2 * np.fft.fftfreq(grid.gpts[1])
        transfer *= mtf.evaluate_xy(qx[:, None], qy[None, :])
    return transfer


def wiener_deconvolve(image, transfer: np.ndarray, regularization: float = 0.05) -> np.ndarray:
    """The phase v (up to scale) behind ``image``: V = Î H* / (|H|² + α max|H|²).

    Parameters
    ----------
    image
        2D image [x, y] (its mean is removed).
    transfer
        H from `linear_transfer`, same shape.
    regularization
        α ≥ 0, the noise-to-signal ratio relative to the peak transfer.

    Returns
    -------
    numpy.ndarray
        Real (nx, ny) deconvolved image; atoms (positive v) are maxima.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> phase = rng.normal(size=(16, 16))
    >>> H = np.fft.fft2(np.exp(-np.hypot(*np.mgrid[-8:8, -8:8]) ** 2)); H /= abs(H).max()
    >>> image = 1 + np.fft.ifft2(np.fft.fft2(phase) * H).real
    >>> restored = wiener_deconvolve(image, H, regularization=1e-9)
    >>> bool(np.allclose(restored, phase - phase.mean(), atol=1e-3))
    True
    """
    array = check_finite_array("image", image, ndim=2)
    return np.fft.ifft2(_wiener_spectrum(array, transfer, regularization)).real


def _check_shape(name: str, transfer, shape: tuple[int, ...]) -> np.ndarray:
    transfer = np.asarray(transfer)
    if transfer.shape != shape:
        raise ValueError(f"{name} must have the image's shape {shape}, got {transfer.shape}")
    return transfer


def _wiener_spectrum(array: np.ndarray, transfer, regularization: float) -> np.ndarray:
    """Î H* / (|H|² + α max|H|²) of the mean-free ``array``: the phase's spectrum (up to scale)."""
    transfer = _check_shape("transfer", transfer, array.shape)
    alpha = check_nonnegative("regularization", regularization)
    power = np.abs(transfer) ** 2
    # Wiener filter with a white signal and white noise: H* / (|H|² + N/S)
    spectrum = np.fft.fft2(array - array.mean()) * np.conj(transfer)
    return spectrum / (power + alpha * power.max() + 1e-30)


def reimage(image, transfer: np.ndarray, target: np.ndarray, regularization: float = 0.05):
    """``image`` as it would look through another lens: Î H_target H* / (|H|² + α max|H|²).

    The weak-phase image term σ v̂ H (`linear_transfer`) is Wiener-divided by its own transfer
    ``transfer`` and multiplied by the ``target`` transfer; the mean is kept. With
    ``transfer == target`` and α → 0 the image is returned unchanged.

    Parameters
    ----------
    image
        2D image [x, y].
    transfer, target
        H of the lens the image was taken through and of the lens it is re-imaged to (same
        shape as ``image``, FFT order).
    regularization
        α ≥ 0 of `wiener_deconvolve`.

    Returns
    -------
    numpy.ndarray
        Real (nx, ny) image with the mean of ``image``.

    Examples
    --------
    >>> from atomscope.learning.randomize import draw
    >>> H = linear_transfer(draw(rng=0), (32, 32), 0.12)
    >>> image = 1 + np.fft.ifft2(np.fft.fft2(np.random.default_rng(0).normal(size=(32, 32))) * H).real
    >>> bool(np.allclose(reimage(image, H, H, regularization=1e-12), image, atol=1e-6))
    True
    """
    array = check_finite_array("image", image, ndim=2)
    target = _check_shape("target", target, array.shape)
    # Wiener division by the recorded lens (as `wiener_deconvolve`), then the target lens
    spectrum = _wiener_spectrum(array, transfer, regularization) * target
    return array.mean() + np.fft.ifft2(spectrum).real


def oracle_peaks(
    image,
    microscope: Microscope,
    sampling: float,
    regularization: float = 0.05,
    sigma: float = 0.3,
    min_distance: float = 0.4,
    transfer: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Atoms found by a method that knows the lens: Wiener deconvolution, then maxima.

    Parameters
    ----------
    image
        2D image [x, y] taken through ``microscope``.
    microscope
        Its microscope (lens, deflection, camera MTF).
    sampling
        Pixel size [Å].
    regularization
        α of `wiener_deconvolve`.
    sigma, min_distance
        Gaussian smoothing σ and the smallest separation of two atoms [Å] (`gaussian_peaks`).
    transfer
        ``linear_transfer(microscope, image.shape, sampling)`` when already computed (to try
        several regularizations on one image); computed here when None.

    Returns
    -------
    positions (n, 2) [Å], scores (n,) the standardised deconvolved value at each maximum

    Examples
    --------
    >>> from atomscope.learning.randomize import draw
    >>> image = np.random.default_rng(1).normal(1, 0.1, (48, 48))
    >>> positions, scores = oracle_peaks(image, draw(rng=0), 0.12)
    >>> positions.shape[1], len(scores) == len(positions)
    (2, True)
    """
    sampling = check_positive("sampling", sampling)
    array = check_finite_array("image", image, ndim=2)
    if transfer is None:
        transfer = linear_transfer(microscope, array.shape, sampling)
    restored = wiener_deconvolve(array, transfer, regularization)
    return gaussian_peaks(restored, sampling, sigma, min_distance)
