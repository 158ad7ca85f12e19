"""Geometric phase analysis: strain from the phases of two Bragg-filtered lattice fringes.

Seed §3.1.1 (Eqs 3.1–3.3), after Hÿtch, Snoeck & Kilaas, Ultramicroscopy 74, 131 (1998).
Frequencies are in cycles per pixel (``[gx, gy]``, array axis 0 is x); positions in pixels.

The image is zero-padded before Bragg filtering (by five real-space widths of the filter), so
the filter never reaches around the image edge: a lattice whose period does not divide the image
size otherwise meets its own other edge, out of phase, and the strain near (and, for wide
filters, well inside) the edges is wrong by percents.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import fft as scipy_fft
from scipy.ndimage import maximum_filter

from atomscope.analysis.peaks import _check_image
from atomscope.core.validate import (
    check_finite_array,
    check_positive,
    check_positive_int,
    check_range,
)

__all__ = ["GPAResult", "bragg_peaks", "check_g_vectors", "gpa_strain"]

_PAD_WIDTHS = 5.0  # zero padding [real-space standard deviations of the Bragg filter]
_PEAK_CONTRAST = 50.0  # a Bragg peak's power exceeds this many times the median power
_PEAK_DYNAMIC_RANGE = 1e-6  # ... and this fraction of the strongest peak's power


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
        u = (ux, uy) [pixels], shape (2, nx, ny), from the unwrapped phases (computed on first
        access: strain needs no unwrapping).
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
    phases: np.ndarray
    amplitudes: np.ndarray
    g_vectors: np.ndarray

    @cached_property
    def displacement(self) -> np.ndarray:
        from skimage.restoration import unwrap_phase

        # Eq 3.3 inverted: u = −G⁻¹ P / 2π
        unwrapped = np.array([unwrap_phase(p) for p in self.phases])
        return -np.einsum("ik,kxy->ixy", np.linalg.inv(self.g_vectors), unwrapped) / (2 * np.pi)


class _BraggFilter:
    """Spectrum of the mean-free image, zero-padded so Gaussian masks down to ``sigma`` [1/pixel]
    do not wrap around the image edges; ``filter`` returns H_g on the image's pixels (Eq 3.1)."""

    def __init__(self, array: np.ndarray, sigma: float):
        self.shape = array.shape
        pad = int(np.ceil(_PAD_WIDTHS / (2 * np.pi * sigma)))  # real-space σ = 1 / (2π σ_k)
        padded = tuple(scipy_fft.next_fast_len(n + pad) for n in self.shape)
        self.spectrum = scipy_fft.fft2(array - array.mean(), s=padded)
        self.kx = np.fft.fftfreq(padded[0])[:, None]
        self.ky = np.fft.fftfreq(padded[1])[None, :]

    def filter(self, g: np.ndarray, sigma: float) -> np.ndarray:
        # the Gaussian mask is separable: two 1D exponentials instead of one per pixel
        mask_x = np.exp(-(_wrapped(self.kx - g[0]) ** 2) / (2 * sigma**2))
        mask_y = np.exp(-(_wrapped(self.ky - g[1]) ** 2) / (2 * sigma**2))
        wave = scipy_fft.ifft2(self.spectrum * mask_x * mask_y)
        return wave[: self.shape[0], : self.shape[1]]


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window 0.5 − 0.5 cos(2πk/n), k = 0 … n−1 (scipy's ``hann(n, sym=False)``,
    without importing scipy.signal, which costs 1.5 s)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _angle(g: np.ndarray, other: np.ndarray) -> float:
    # angle between the lines through g and through other (so also to −other) [degrees]
    cosine = abs(g @ other) / (np.linalg.norm(g) * np.linalg.norm(other))
    return float(np.degrees(np.arccos(min(cosine, 1.0))))


def bragg_peaks(
    image, count: int = 2, min_frequency: float = 0.02, min_angle: float = 5.0
) -> np.ndarray:
    """The ``count`` strongest independent Bragg peaks, refined to sub-pixel frequency [1/pixel].

    The mean-free image is multiplied by a Hann window (against the leakage streaks of a
    non-periodic image) and its power spectrum searched for local maxima, strongest first. Each
    is refined to the maximum of the windowed image's continuous Fourier transform (parabolas
    through the log power on a shrinking stencil), so a peak between FFT bins is located to
    ~1e-5 bin. A peak within ``min_angle`` of an already chosen g or of −g (its Friedel mate,
    a harmonic, or the same peak seen from a neighbouring FFT bin) is skipped.

    Parameters
    ----------
    image
        2D array or `Images`, indexed ``[x, y]``.
    count
        Number of peaks to return.
    min_frequency
        Peaks below this frequency [1/pixel] are ignored (the image's slow background).
    min_angle
        Smallest angle between any two returned g, and between g and any −g [degrees].

    Returns
    -------
    numpy.ndarray, shape (count, 2)
        Frequencies ``[gx, gy]`` [1/pixel], strongest first.

    Raises
    ------
    ValueError
        If the spectrum holds fewer than ``count`` independent peaks (power above 50× the
        median and 1e-6 of the strongest peak): e.g. one set of fringes only.

    Examples
    --------
    >>> x = np.arange(128)
    >>> image = np.add.outer(np.cos(2 * np.pi * x / 8), 0.5 * np.cos(2 * np.pi * x / 15.3))
    >>> np.abs(bragg_peaks(image)).round(6).tolist()   # 1/15.3 = 0.065359
    [[0.125, 0.0], [0.0, 0.065359]]
    """
    array = _check_image(image)
    count = check_positive_int("count", count)
    min_frequency = check_range("min_frequency", min_frequency, 0.0, 0.5)
    min_angle = check_range("min_angle", min_angle, 0.0, 90.0)
    window = _hann(array.shape[0])[:, None] * _hann(array.shape[1])[None, :]
    windowed = (array - array.mean()) * window
    power = np.abs(scipy_fft.fft2(windowed)) ** 2
    kx, ky = _frequencies(array.shape)
    power[np.hypot(kx, ky) < min_frequency] = 0
    maxima = (power == maximum_filter(power, size=5, mode="wrap")) & (power > 0)
    if maxima.any():
        floor = max(_PEAK_CONTRAST * np.median(power), _PEAK_DYNAMIC_RANGE * power[maxima].max())
        maxima &= power >= floor
    candidates = np.flatnonzero(maxima)
    chosen: list[np.ndarray] = []
    for flat in candidates[np.argsort(power.flat[candidates])[::-1]]:
        i, j = np.unravel_index(flat, power.shape)
        g = np.array([kx[i, 0], ky[0, j]])
        if any(_angle(g, c) < min_angle for c in chosen):  # before the costlier refinement
            continue
        g = _refine_frequency(windowed, g)
        if all(_angle(g, c) >= min_angle for c in chosen):
            chosen.append(g)
        if len(chosen) == count:
            return np.array(chosen)
    raise ValueError(
        f"image has fewer than {count} independent Bragg peaks in its FFT (found {len(chosen)}; "
        f"independent: at least {min_angle}° from each other and from each other's −g, power "
        f"above {_PEAK_CONTRAST:g}× the median); give g_vectors explicitly or use an image "
        f"showing {count} non-collinear lattice fringes"
    )


def _frequencies(shape):
    return np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :]


def _refine_frequency(windowed: np.ndarray, g: np.ndarray, iterations: int = 12) -> np.ndarray:
    # Maximum of |Σ f(r) e^{−2πi g·r}|² near g (Eq 3.1's Fourier component, evaluated off the
    # FFT grid): a parabola through the log power per axis on a 3 × 3 stencil, the stencil
    # shrinking fourfold per step from one FFT bin.
    x = np.arange(windowed.shape[0])
    y = np.arange(windowed.shape[1])
    step = 1.0 / np.array(windowed.shape, dtype=float)
    stencil = np.array([-1.0, 0.0, 1.0])
    for _ in range(iterations):
        ex = np.exp(-2j * np.pi * np.outer(g[0] + step[0] * stencil, x))
        ey = np.exp(-2j * np.pi * np.outer(g[1] + step[1] * stencil, y))
        # the real image times contiguous real and imaginary parts: BLAS, no complex copy of
        # the image (a strided .real view makes numpy skip BLAS, 100× slower)
        cos, sin = np.ascontiguousarray(ey.real.T), np.ascontiguousarray(ey.imag.T)
        columns = windowed @ cos + 1j * (windowed @ sin)
        log_power = np.log(np.abs(ex @ columns) ** 2 + 1e-300)
        for axis, line in enumerate((log_power[:, 1], log_power[1, :])):
            curvature = line[0] - 2 * line[1] + line[2]
            if curvature < 0:
                g[axis] += step[axis] * np.clip(0.5 * (line[0] - line[2]) / curvature, -1, 1)
        step /= 4
    return g


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

    For each reference frequency g the (zero-padded) image spectrum is multiplied by a Gaussian
    mask of width ``sigma`` centred on g (Bragg filtering) and transformed back, giving H_g(r)
    (Eq 3.1). g is then refined so the phase of H_g has no median gradient over ``reference``
    and the filter is applied again, centred on the refined g. Its phase relative to the
    reference lattice, P_g = arg(H_g e^{−2πi g·r}) (Eq 3.2), equals −2π g·u (Eq 3.3), so with G
    the matrix of rows g: u = −G⁻¹ P / 2π and ∇u = −G⁻¹ ∇P / 2π. Phase gradients are taken
    from H_g directly, so strain needs no unwrapping; the displacement map uses
    scikit-image's phase unwrapping.

    Parameters
    ----------
    image
        2D array or `Images`, indexed ``[x, y]``.
    g_vectors
        Two non-collinear frequencies (2, 2) [1/pixel]; by default the two strongest
        independent Bragg peaks, refined to sub-pixel precision (`bragg_peaks`; a
        ``ValueError`` if the image shows fewer than two).
    sigma
        Standard deviation of the Gaussian Bragg mask [1/pixel]; smaller = more spatial
        averaging (the real-space width is 1/(2π sigma) [pixels]). Default: a quarter of the
        shorter g.
    reference
        Boolean mask (nx, ny) of a region taken as unstrained: g is refined so the median phase
        gradient there vanishes. Default: the whole image.

    Returns
    -------
    GPAResult
        Within about three filter widths, 3/(2π sigma) [pixels], of the image edge the filter
        sees the edge and the strain is unreliable; beyond that perfect lattices of any period
        and orientation give |ε| < 1e-3 (tests/test_analysis_gpa.py).

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

    bragg = _BraggFilter(array, sigma)
    refined, phases, amplitudes, gradients = [], [], [], []
    for g in g_vectors:
        for _ in range(2):  # the second pass centres the mask on the refined g
            h = bragg.filter(g, sigma)  # Bragg filter → H_g (Eq 3.1)
            # refine g so the phase has no median gradient in the reference region
            g = g + _median_gradient(_demodulate(h, g), reference) / (2 * np.pi)
        relative = _demodulate(h, g)  # H_g e^{−2πi g·r} = A_g e^{iP_g} (Eq 3.2)
        refined.append(g)
        phases.append(np.angle(relative))
        amplitudes.append(np.abs(h))
        gradients.append(_phase_gradient(relative))
    g_matrix = np.array(refined)
    inverse = np.linalg.inv(g_matrix)
    # Eq 3.3 inverted and differentiated: ∂u_i/∂x_j = −(G⁻¹)_ik ∂_j P_k / 2π
    distortion = -np.einsum("ik,kjxy->ijxy", inverse, np.array(gradients)) / (2 * np.pi)
    return GPAResult(
        exx=distortion[0, 0],
        eyy=distortion[1, 1],
        exy=(distortion[0, 1] + distortion[1, 0]) / 2,
        rotation=(distortion[1, 0] - distortion[0, 1]) / 2,
        phases=np.array(phases),
        amplitudes=np.array(amplitudes),
        g_vectors=g_matrix,
    )


def _median_gradient(wave: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Median of ∇ arg ψ over ``region`` [rad/pixel]; the median ignores outliers such as
    the phase slips of a dislocation or the edge of a grain."""
    return np.median(_phase_gradient(wave)[:, region], axis=1)


def _demodulate(wave: np.ndarray, g: np.ndarray) -> np.ndarray:
    # e^{−2πi g·r} = e^{−2πi gx x} e^{−2πi gy y}: two 1D phase factors
    phase_x = np.exp(-2j * np.pi * g[0] * np.arange(wave.shape[0]))[:, None]
    phase_y = np.exp(-2j * np.pi * g[1] * np.arange(wave.shape[1]))[None, :]
    return wave * phase_x * phase_y


def _wrapped(frequency: np.ndarray) -> np.ndarray:
    return (frequency + 0.5) % 1.0 - 0.5
