"""Geometric phase analysis: strain from the phases of two Bragg-filtered lattice fringes.

Seed §3.1.1 (Eqs 3.1–3.3), after Hÿtch, Snoeck & Kilaas, Ultramicroscopy 74, 131 (1998).
Frequencies are in cycles per pixel (``[gx, gy]``, array axis 0 is x); positions in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.restoration import unwrap_phase

from atomscope.analysis.peaks import _check_image
from atomscope.core.validate import check_finite_array, check_positive

__all__ = ["GPAResult", "bragg_peaks", "check_g_vectors", "gpa_strain"]


@dataclass(frozen=True)
class GPAResult:
    """Strain maps from GPA, each indexed ``[x, y]`` like the image.

    Attributes
    ----------
    exx, eyy, exy
        Symmetric strain ε = (∇u + ∇uᵀ)/2 (dimensionless).
    rotation
        Lattice rotation ω = (∂uy/∂x − ∂ux/∂y)/2 [rad], counter-clockwise from x to y.
    displacement
        u = (ux, uy) [pixels], shape (2, nx, ny), from the unwrapped phases.
    phases
        Geometric phases P_g (Eq 3.2) [rad], shape (2, nx, ny), wrapped to (−π, π].
    amplitudes
        |H_g| (Eq 3.2), shape (2, nx, ny): low where a fringe is absent (vacuum, other grains).
    g_vectors
        The two reference frequencies (2, 2) [1/pixel] after refinement.
    """

    exx: np.ndarray
    eyy: np.ndarray
    exy: np.ndarray
    rotation: np.ndarray
    displacement: np.ndarray
    phases: np.ndarray
    amplitudes: np.ndarray
    g_vectors: np.ndarray


def _frequencies(shape):
    return np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :]


def bragg_peaks(image, count: int = 2, min_frequency: float = 0.02) -> np.ndarray:
    """The ``count`` strongest non-collinear FFT maxima, as frequencies [1/pixel].

    Peaks are taken in order of power, skipping any collinear with (or the Friedel mate of) one
    already chosen, and refined to sub-pixel frequency by a parabola through the log power.

    Examples
    --------
    >>> x = np.arange(128)
    >>> image = np.add.outer(np.cos(2 * np.pi * x / 8), np.cos(2 * np.pi * x / 16))
    >>> np.abs(bragg_peaks(image)).round(4).tolist()
    [[0.125, 0.0], [0.0, 0.0625]]
    """
    array = _check_image(image)
    power = np.abs(np.fft.fft2(array - array.mean())) ** 2
    kx, ky = _frequencies(array.shape)
    power[np.sqrt(kx**2 + ky**2) < min_frequency] = 0
    chosen: list[np.ndarray] = []
    for flat in np.argsort(power, axis=None)[::-1]:
        i, j = np.unravel_index(flat, power.shape)
        g = _refine_frequency(power, i, j)
        if all(abs(g[0] * c[1] - g[1] * c[0]) > 1e-3 * np.hypot(*g) * np.hypot(*c) for c in chosen):
            chosen.append(g)
        if len(chosen) == count:
            return np.array(chosen)
    raise ValueError(f"image has fewer than {count} non-collinear lattice fringes in its FFT")


def _refine_frequency(power: np.ndarray, i: int, j: int) -> np.ndarray:
    # parabola through the log power of the peak and its two neighbours, per axis
    n = np.array(power.shape)
    index = np.array([i, j])
    log_power = np.log(power + 1e-300)
    offsets = np.zeros(2)
    for axis in (0, 1):
        step = np.eye(2, dtype=int)[axis]
        minus = log_power[tuple((index - step) % n)]
        plus = log_power[tuple((index + step) % n)]
        curvature = minus - 2 * log_power[i, j] + plus
        if curvature < 0:
            offsets[axis] = np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5)
    frequency = np.array([np.fft.fftfreq(n[0])[i], np.fft.fftfreq(n[1])[j]])
    return frequency + offsets / n


def _phase_gradient(wave: np.ndarray) -> np.ndarray:
    """∇ arg ψ [rad/pixel], shape (2, nx, ny), without unwrapping: arg(ψ(r+1) ψ*(r−1)) / 2."""
    gradient = np.empty((2, *wave.shape))
    for axis in (0, 1):
        along = np.moveaxis(wave, axis, 0)
        out = np.moveaxis(gradient[axis], axis, 0)
        out[1:-1] = np.angle(along[2:] * np.conj(along[:-2])) / 2
        out[0] = np.angle(along[1] * np.conj(along[0]))
        out[-1] = np.angle(along[-1] * np.conj(along[-2]))
    return gradient


def _median_phase_gradient(wave: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Median of ∇ arg ψ over ``region`` [rad/pixel]; the median ignores the wrap-around
    artefacts a non-periodic image leaves along its edges."""
    return np.median(_phase_gradient(wave)[:, region], axis=1)


def check_g_vectors(g_vectors) -> np.ndarray:
    """Return two non-collinear frequencies inside the FFT as a (2, 2) array, or raise.

    Examples
    --------
    >>> check_g_vectors([[0.1, 0], [0, 0.1]]).shape
    (2, 2)
    """
    g_vectors = check_finite_array("g_vectors", g_vectors, ndim=2)
    if g_vectors.shape != (2, 2):
        raise ValueError(f"g_vectors must have shape (2, 2), got {g_vectors.shape}")
    if np.any(np.abs(g_vectors) > 0.5):
        raise ValueError(
            f"g_vectors must lie inside the FFT, |g| components ≤ 0.5 /pixel; got {g_vectors.tolist()}"
        )
    if abs(np.linalg.det(g_vectors)) < 1e-6 * np.prod(np.linalg.norm(g_vectors, axis=1)) + 1e-12:
        raise ValueError(
            f"g_vectors must be two non-collinear frequencies, got {g_vectors.tolist()}"
        )
    return g_vectors


def gpa_strain(
    image,
    g_vectors: np.ndarray | None = None,
    sigma: float | None = None,
    reference: np.ndarray | None = None,
) -> GPAResult:
    """Strain, rotation and displacement maps by geometric phase analysis (Eqs 3.1–3.3).

    For each reference frequency g the image spectrum is multiplied by a Gaussian mask of width
    ``sigma`` centred on g (Bragg filtering) and transformed back, giving H_g(r) (Eq 3.1). Its
    phase relative to the reference lattice, P_g = arg(H_g e^{−2πi g·r}) (Eq 3.2), equals
    −2π g·u (Eq 3.3), so with G the matrix of rows g: u = −G⁻¹ P / 2π and ∇u = −G⁻¹ ∇P / 2π.
    Phase gradients are taken from H_g directly, so strain needs no unwrapping; the displacement
    map uses scikit-image's phase unwrapping.

    Parameters
    ----------
    image
        2D array or `Images`, indexed ``[x, y]``.
    g_vectors
        Two non-collinear frequencies (2, 2) [1/pixel]; by default the two strongest FFT maxima
        (`bragg_peaks`).
    sigma
        Standard deviation of the Gaussian Bragg mask [1/pixel]; smaller = more spatial
        averaging. Default: a quarter of the shorter g.
    reference
        Boolean mask (nx, ny) of a region taken as unstrained: g is refined so the median phase
        gradient there vanishes. Default: the whole image.

    Returns
    -------
    GPAResult

    Examples
    --------
    >>> x = np.arange(128.0)
    >>> fringes = np.add.outer(np.cos(2 * np.pi * x / 8), np.cos(2 * np.pi * x / 8))
    >>> left = np.zeros(fringes.shape, dtype=bool); left[:64] = True
    >>> fringes[64:] = np.add.outer(np.cos(2 * np.pi * (64 + x[:64] / 1.01) / 8),
    ...                             np.cos(2 * np.pi * x / 8))  # right half: +1 % along x
    >>> result = gpa_strain(fringes, g_vectors=[[1 / 8, 0], [0, 1 / 8]], reference=left)
    >>> round(float(np.median(result.exx[80:112])), 3), abs(round(float(np.median(result.exx[16:48])), 3))
    (0.01, 0.0)
    """
    array = _check_image(image)
    shape = array.shape
    if g_vectors is None:
        g_vectors = bragg_peaks(array)
    g_vectors = check_g_vectors(g_vectors)
    shortest = float(np.linalg.norm(g_vectors, axis=1).min())
    sigma = shortest / 4 if sigma is None else check_positive("sigma", sigma)
    if reference is None:
        reference = np.ones(shape, dtype=bool)
    reference = np.asarray(reference, dtype=bool)
    if reference.shape != shape or not reference.any():
        raise ValueError(f"reference must be a non-empty boolean mask of shape {shape}")

    spectrum = np.fft.fft2(array)
    kx, ky = _frequencies(shape)
    refined, phases, amplitudes, gradients = [], [], [], []
    for g in g_vectors:
        distance2 = _wrapped(kx - g[0]) ** 2 + _wrapped(ky - g[1]) ** 2
        h = np.fft.ifft2(spectrum * np.exp(-distance2 / (2 * sigma**2)))  # Bragg filter → H_g
        # refine g so the phase has no mean gradient in the reference region
        g = g + _median_phase_gradient(_demodulate(h, g), reference) / (2 * np.pi)
        relative = _demodulate(h, g)  # H_g e^{−2πi g·r} = A_g e^{iP_g} (Eq 3.2)
        refined.append(g)
        phases.append(np.angle(relative))
        amplitudes.append(np.abs(h))
        gradients.append(_phase_gradient(relative))
    g_matrix = np.array(refined)
    inverse = np.linalg.inv(g_matrix)
    phases = np.array(phases)
    # Eq 3.3 inverted: u = −G⁻¹ P / 2π, ∂u_i/∂x_j = −(G⁻¹)_ik ∂_j P_k / 2π
    unwrapped = np.array([unwrap_phase(p) for p in phases])
    displacement = -np.einsum("ik,kxy->ixy", inverse, unwrapped) / (2 * np.pi)
    distortion = -np.einsum("ik,kjxy->ijxy", inverse, np.array(gradients)) / (2 * np.pi)
    return GPAResult(
        exx=distortion[0, 0],
        eyy=distortion[1, 1],
        exy=(distortion[0, 1] + distortion[1, 0]) / 2,
        rotation=(distortion[1, 0] - distortion[0, 1]) / 2,
        displacement=displacement,
        phases=phases,
        amplitudes=np.array(amplitudes),
        g_vectors=g_matrix,
    )


def _demodulate(wave: np.ndarray, g: np.ndarray) -> np.ndarray:
    x = np.arange(wave.shape[0])[:, None]
    y = np.arange(wave.shape[1])[None, :]
    return wave * np.exp(-2j * np.pi * (g[0] * x + g[1] * y))


def _wrapped(frequency: np.ndarray) -> np.ndarray:
    return (frequency + 0.5) % 1.0 - 0.5
