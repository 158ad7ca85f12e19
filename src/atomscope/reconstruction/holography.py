"""Off-axis electron holography: simulate a hologram from a wave, reconstruct the wave from it.

A biprism overlaps the image wave ψ = A·exp(iφ) with a tilted vacuum reference wave; the
interference fringes of spatial frequency g_c (the *carrier*) encode amplitude and phase
(Lichte & Lehmann, Rep. Prog. Phys. 71 (2008) 016102). In the hologram's spectrum ψ appears
as a *side band* around +g_c (its conjugate around −g_c), next to the *centre band* around
k = 0, the spectrum of the conventional image 1 + A², which is the autocorrelation of the
wave's spectrum and so twice as wide as the object's band. Reconstruction cuts one side band
out with a circular aperture, moves it to k = 0 and transforms back.

Conventions: frequencies in 1/Å without 2π, arrays ``[x, y]``; a pixel (i, j) sits at
r = (i δx, j δy). The intensities are normalised so that a vacuum area of the hologram has
mean 1, as every image given to `Camera` (whose ``dose`` is then the number of electrons per Å²
in the recorded hologram).

Phase noise (Lichte & Lehmann 2008; Harscher & Lichte, Ultramicroscopy 64 (1996) 57):
σ_φ = √2 / (μ √N), with N the electrons in the hologram per *resolution cell* of the
reconstruction. With an aperture of M Fourier pixels on an nx × ny hologram of mean c counts per
pixel, the reconstructed wave holds M independent values, so a cell is nx·ny/M pixels
(area extent_x·extent_y / M ≈ 1/(π r_a²) [Å²]) and N = c·nx·ny/M ≈ D/(π r_a²) at dose D [e⁻/Å²].
A camera's MTF damps side band and shot noise alike, so μ there is the contrast before the
camera (the recorded one is μ·MTF(g_c)); a reference recorded at the same dose doubles σ_φ².
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal.windows import tukey

from atomscope.core.fft import fft2, ifft2
from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_finite_array,
    check_pair,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)
from atomscope.detection.camera import Camera
from atomscope.detection.resample import resampled_gpts
from atomscope.images import Images
from atomscope.waves.waves import Waves

__all__ = [
    "HologramReconstruction",
    "hologram",
    "phase_noise",
    "reconstruct_hologram",
    "wave_bandwidth",
]

#: Fraction of the scattered power (ψ − ⟨ψ⟩) inside the radius `wave_bandwidth` returns.
BANDWIDTH_FRACTION = 1 - 1e-4
#: A side band's power must exceed this many times the median power at its radius.
SIDEBAND_CONTRAST = 50.0
#: The centre band ends where the azimuthal median power falls below this many times the
#: spectrum's floor (the median of the radial profile, noise: a valid hologram's centre band
#: ends below half the Nyquist frequency, so it never sets the median) ...
CENTRE_BAND_LEVEL = 10.0
#: ... or below this fraction of the strongest power outside the DC lobe (noise-free holograms,
#: whose floor is rounding error and the window's leakage: the Hann window's leakage of a side
#: band falls below 10⁻⁵ within ~4 Fourier pixels).
CENTRE_BAND_DYNAMIC_RANGE = 1e-5
#: Tukey window (taper fraction) of the carrier refinement: its narrower main lobe than Hann's
#: lessens the pull of the object's low frequencies on the peak, its tapered edges keep the
#: error on a vacuum hologram below 10⁻³ Fourier pixels (10⁻⁵ for carriers beyond 10 Fourier pixels).
REFINE_TAPER = 0.5
#: Smallest radius of the centre band [Fourier pixels]: the Hann window's main lobe (2) + 1.
CENTRE_BAND_MIN_PIXELS = 3
#: Negative values below this fraction of the maximum are refused (the MTF's ringing on
#: Poisson counts gives small negative pixels; more means the input is not an intensity).
NEGATIVE_TOLERANCE = 0.25
#: The band fit stops when a step changes the side band by less than this fraction of its
#: norm (so by ≲ 10⁻⁷ rad; a criterion on the misfit's gradient instead stops too early at
#: small μ, where the centre band dominates it).
FIT_TOLERANCE = 1e-7


@dataclass(frozen=True)
class HologramReconstruction:
    """What `reconstruct_hologram` found.

    Attributes
    ----------
    wave
        Reconstructed wave A·exp(iφ) [x, y] (complex64) on the hologram's pixels, band-limited
        to the side-band aperture. With a reference: object side band / reference side band.
        Without: 2·side band / (μ·⟨I⟩), the amplitude relative to the hologram's mean level.
    amplitude
        |wave| (vacuum = 1).
    phase
        Phase of ``wave`` [rad], unwrapped (`skimage.restoration.unwrap_phase`) unless
        ``unwrap=False``, shifted by a multiple of 2π so its median lies in (−π, π].
    carrier
        Side-band position g_c (x, y) [1/Å], refined to sub-pixel precision.
    aperture
        Radius of the side-band aperture [1/Å].
    fringe_contrast
        Fringe contrast μ: given, or measured on the reference (or the hologram) as
        2·rms(side band)/mean(intensity), both Hann²-weighted (away from the edges), the side
        band's shot-noise variance subtracted. It includes the camera's MTF at g_c.
    sampling
        Pixel size [Å] of every array above.
    cell_area
        Area of one resolution cell, extent_x·extent_y / M for an aperture of M Fourier pixels
        [Å²]: the wave holds one independent value per cell.
    mean_intensity
        Mean value of the hologram (counts per pixel for a recorded hologram).
    """

    wave: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray
    carrier: tuple[float, float]
    aperture: float
    fringe_contrast: float
    sampling: tuple[float, float]
    cell_area: float
    mean_intensity: float

    @property
    def electrons_per_cell(self) -> float:
        """Counts N per resolution cell: mean counts per pixel × pixels per cell (the N of
        `phase_noise`, meaningful when the hologram is in counts)."""
        return self.mean_intensity * self.cell_area / (self.sampling[0] * self.sampling[1])


def phase_noise(fringe_contrast: float, electrons: float) -> float:
    """Standard deviation of the reconstructed phase σ_φ = √2 / (μ √N) [rad].

    Parameters
    ----------
    fringe_contrast
        Fringe contrast μ in (0, 1] of the electrons reaching the camera (before its MTF,
        which damps the side band and the shot noise alike).
    electrons
        Electrons N in the hologram per resolution cell: dose [e⁻/Å²] × the cell area
        extent_x·extent_y / M for an aperture of M Fourier pixels, ≈ dose / (π r_a²).

    Returns
    -------
    float
        The phase noise [rad] (shot noise only, vacuum object, Poisson statistics).

    Examples
    --------
    >>> round(phase_noise(0.5, 800.0), 4)
    0.1
    """
    fringe_contrast = check_range("fringe_contrast", fringe_contrast, 0, 1, low_open=True)
    electrons = check_positive("electrons", electrons)
    # Lichte & Lehmann 2008; Harscher & Lichte 1996: σ_φ² = 2 / (μ² N)
    return float(np.sqrt(2.0 / (fringe_contrast**2 * electrons)))


def _frequencies(
    shape: tuple[int, int], sampling: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequencies kx [nx, 1] and ky [1, ny] in FFT order [1/Å]."""
    kx = np.fft.fftfreq(shape[0], sampling[0])[:, None]
    ky = np.fft.fftfreq(shape[1], sampling[1])[None, :]
    return kx, ky


def wave_bandwidth(waves: Waves, fraction: float = BANDWIDTH_FRACTION) -> float:
    """Radius [1/Å] of the disc holding ``fraction`` of the wave's scattered power.

    The scattered wave is ψ − ⟨ψ⟩ (over each wave of a stack); 0 for a uniform wave. The
    centre band of its hologram reaches twice this radius.

    Examples
    --------
    >>> wave_bandwidth(Waves(np.ones((16, 16)), sampling=0.1, energy=300e3))
    0.0
    """
    fraction = check_range("fraction", fraction, 0, 1, low_open=True)
    array = waves.array.reshape(-1, *waves.gpts).astype(np.complex128)
    scattered = array - array.mean(axis=(-2, -1), keepdims=True)
    power = (np.abs(fft2(scattered)) ** 2).sum(axis=0).ravel()
    total = power.sum()
    if total <= 1e-20 * np.sum(np.abs(array) ** 2) * array.shape[-1] * array.shape[-2]:
        return 0.0
    kx, ky = _frequencies(waves.gpts, waves.sampling)
    radius = np.hypot(kx, ky).ravel()
    order = np.argsort(radius, kind="stable")
    cumulative = np.cumsum(power[order])
    index = int(np.searchsorted(cumulative, fraction * total))
    return float(radius[order][min(index, radius.size - 1)])


def _check_waves(waves: Any) -> Waves:
    if not isinstance(waves, Waves):
        raise TypeError(f"waves must be an atomscope Waves, got {type(waves).__name__}")
    shape = waves.array.shape
    if len(shape) == 2 or (len(shape) == 3 and waves.weights is not None):
        return waves
    raise ValueError(
        f"waves must be one wave [x, y] or a weighted stack [n, x, y] (frozen phonons, "
        f"focal nodes), got shape {shape} with weights={waves.weights is not None}"
    )


def hologram(
    waves: Waves,
    carrier: tuple[float, float],
    fringe_contrast: float = 1.0,
    camera: Camera | None = None,
    rng: int | np.random.Generator | None = None,
    reference: bool = False,
) -> Images:
    """Off-axis electron hologram of an image wave (with a unit-amplitude vacuum reference).

    I(r) = ½ [1 + A(r)² + 2 μ A(r) cos(2π g_c·r + φ(r))] for ψ = A·exp(iφ): the hologram
    equation of Lichte & Lehmann (2008) halved, so that a vacuum area has mean 1 (the
    normalisation `Camera` expects: its dose is then the electrons per Å² in the hologram).
    A weighted stack (frozen phonons) gives the weighted sum of its holograms.

    Parameters
    ----------
    waves
        The image wave (after the lens, vacuum amplitude 1), one wave [x, y] or a weighted
        stack. Its bandwidth q (`wave_bandwidth`: 99.99 % of the scattered power) must satisfy
        |g_c| ≥ 3 q, so the side band (radius q) clears the centre band (radius 2 q).
    carrier
        Carrier frequency g_c = (gx, gy) [1/Å], the fringes' spatial frequency vector (fringe
        spacing 1/|g_c| [Å], fringes perpendicular to g_c). The side band, a disc of radius q
        around g_c, must lie inside the Nyquist frequency 1/(2δ) of the wave's pixels and of
        the camera's along each axis.
    fringe_contrast
        μ in (0, 1]: the vacuum fringe contrast (coherence, instabilities, inelastic
        background all folded into one number).
    camera
        A `Camera` that records the hologram (resampling, Poisson noise, MTF), or None for the
        noise-free intensity on the wave's grid.
    rng
        Seed or generator for the camera's shot noise.
    reference
        If True, return the matching reference hologram: the same carrier, contrast and camera
        with the object removed (ψ = 1), for normalising `reconstruct_hologram`.

    Returns
    -------
    Images
        The hologram (normalised intensity, or counts with a camera), metadata extended with
        ``energy`` [eV] and ``hologram`` (carrier, fringe_contrast, reference).

    Examples
    --------
    >>> waves = Waves(np.ones((32, 32)), sampling=0.1, energy=300e3)
    >>> image = hologram(waves, carrier=(2.5, 0.0), fringe_contrast=0.5)
    >>> round(float(image.array.mean()), 6), round(float(image.array.max()), 6)
    (1.0, 1.5)
    """
    waves = _check_waves(waves)
    carrier = check_pair("carrier", carrier, check=check_real)
    fringe_contrast = check_range("fringe_contrast", fringe_contrast, 0, 1, low_open=True)
    if camera is not None and not isinstance(camera, Camera):
        raise TypeError(f"camera must be an atomscope Camera or None, got {camera!r}")
    generator = as_generator(rng)
    if not isinstance(reference, (bool, np.bool_)):
        raise TypeError(f"reference must be True or False, got {reference!r}")
    magnitude = float(np.hypot(*carrier))
    if magnitude == 0:
        raise ValueError("carrier must be a non-zero frequency vector (gx, gy) [1/Å], got (0, 0)")
    bandwidth = 0.0 if reference else wave_bandwidth(waves)
    _check_sideband_inside(carrier, bandwidth, waves.sampling, "wave")
    if camera is not None:
        _, pixel = resampled_gpts(waves.gpts, waves.sampling, camera.sampling)
        _check_sideband_inside(carrier, bandwidth, pixel, "camera")
    if magnitude < 3 * bandwidth:
        raise ValueError(
            f"carrier: |g_c| = {magnitude:.4g} 1/Å must be ≥ 3 × the wave's bandwidth "
            f"q = {bandwidth:.4g} 1/Å (radius of 99.99 % of the scattered power), or the side "
            f"band overlaps the centre band (radius 2q): raise the carrier or band-limit the "
            "wave (an objective aperture, CTF(semiangle_cutoff=...))"
        )

    nx, ny = waves.gpts
    x = np.arange(nx)[:, None] * waves.sampling[0]
    y = np.arange(ny)[None, :] * waves.sampling[1]
    fringes = np.exp(2j * np.pi * (carrier[0] * x + carrier[1] * y))
    psi = np.ones((nx, ny), np.complex128) if reference else waves.array.astype(np.complex128)
    # Lichte & Lehmann 2008, hologram intensity 1 + A² + 2μA cos(2πg·r + φ), halved (vacuum = 1)
    intensity = 0.5 * (1 + np.abs(psi) ** 2 + 2 * fringe_contrast * np.real(psi * fringes))
    if psi.ndim == 3:
        intensity = np.tensordot(waves.weights, intensity, axes=(0, 0))
    metadata = {
        **({} if reference else waves.metadata),
        "energy": waves.energy,
        "hologram": {
            "carrier": list(carrier),
            "fringe_contrast": fringe_contrast,
            "reference": bool(reference),
        },
    }
    image = Images(intensity, waves.sampling, metadata)
    if camera is None:
        return image
    return camera.detect(image, rng=generator)


def _check_sideband_inside(
    carrier: tuple[float, float], radius: float, sampling: tuple[float, float], what: str
) -> None:
    for axis, (g, pixel) in enumerate(zip(carrier, sampling, strict=True)):
        nyquist = 1 / (2 * pixel)
        if abs(g) + radius >= nyquist:
            raise ValueError(
                f"carrier[{axis}] = {g:.4g} 1/Å: the side band (radius {radius:.4g} 1/Å around "
                f"it) must lie inside the {what}'s Nyquist frequency {nyquist:.4g} 1/Å "
                f"(pixel {pixel:.4g} Å): need |carrier[{axis}]| < {nyquist - radius:.4g} 1/Å"
            )


def _as_hologram(name: str, value: Any, sampling: Any) -> tuple[np.ndarray, tuple[float, float]]:
    if isinstance(value, Images):
        if sampling is not None:
            raise ValueError("sampling must not be given with Images (they carry their own)")
        array, pixel = value.array, value.sampling
    else:
        if sampling is None:
            raise ValueError(f"sampling [Å] is needed with a plain array {name}")
        array, pixel = value, check_pair("sampling", sampling)
    array = check_finite_array(name, array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be one image [x, y], got shape {array.shape}")
    if min(array.shape) < 8:
        raise ValueError(f"{name} must have at least 8 × 8 pixels, got shape {array.shape}")
    mean, top, low = float(array.mean()), float(array.max()), float(array.min())
    if mean <= 0 or low < -NEGATIVE_TOLERANCE * top:
        raise ValueError(
            f"{name} must be an intensity (counts ≥ 0, positive mean): got mean {mean:.4g}, "
            f"minimum {low:.4g}, maximum {top:.4g}; negative values down to "
            f"−{NEGATIVE_TOLERANCE} × the maximum (MTF ringing) are allowed"
        )
    return array.astype(np.float64), pixel


@dataclass(frozen=True)
class _Spectrum:
    """Windowed power spectrum of a hologram with its radial profile."""

    tapered: np.ndarray
    power: np.ndarray
    radius: np.ndarray
    kx: np.ndarray
    ky: np.ndarray
    step: float
    profile: np.ndarray
    centre_band: float


def _spectrum(array: np.ndarray, sampling: tuple[float, float]) -> _Spectrum:
    nx, ny = array.shape
    window = np.outer(np.hanning(nx), np.hanning(ny))
    # window-weighted mean removed, so the DC term does not leak through the window's lobes
    windowed = window * (array - np.sum(window * array) / np.sum(window))
    power = np.abs(fft2(windowed.astype(np.complex128))) ** 2
    taper = np.outer(tukey(nx, REFINE_TAPER), tukey(ny, REFINE_TAPER))
    tapered = taper * (array - np.sum(taper * array) / np.sum(taper))
    kx, ky = _frequencies((nx, ny), sampling)
    radius = np.hypot(kx, ky)
    step = max(1 / (nx * sampling[0]), 1 / (ny * sampling[1]))
    nyquist = min(1 / (2 * sampling[0]), 1 / (2 * sampling[1]))
    bins = np.rint(radius / step).astype(int)
    num_bins = int(nyquist / step) + 1
    inside = bins < num_bins
    order = np.argsort(bins[inside], kind="stable")
    values = power[inside][order]
    edges = np.searchsorted(bins[inside][order], np.arange(num_bins + 1))
    profile = np.array(
        [np.median(values[a:b]) if b > a else 0.0 for a, b in itertools.pairwise(edges)]
    )
    first = CENTRE_BAND_MIN_PIXELS
    floor = np.median(profile[first:]) if num_bins > first else 0.0
    strongest = np.max(power[radius > first * step], initial=0.0)
    level = max(CENTRE_BAND_LEVEL * floor, CENTRE_BAND_DYNAMIC_RANGE * strongest)
    below = np.nonzero(profile[first:] <= level)[0]
    edge = first + (int(below[0]) if below.size else num_bins - first)
    return _Spectrum(tapered, power, radius, kx, ky, step, profile, edge * step)


def _find_sideband(spectrum: _Spectrum, name: str) -> tuple[int, int]:
    """Pixel of the strongest side band outside the centre band, in the half plane gx > 0
    (gx = 0: gy > 0)."""
    kx, ky = spectrum.kx, spectrum.ky
    half = (kx > 0) | ((kx == 0) & (ky > 0))
    radial_bin = np.minimum(
        np.rint(spectrum.radius / spectrum.step).astype(int), len(spectrum.profile) - 1
    )
    background = spectrum.profile[radial_bin]
    candidates = (
        half
        & (spectrum.radius > spectrum.centre_band)
        & (spectrum.power > 0)
        & (spectrum.power >= SIDEBAND_CONTRAST * background)
    )
    if not candidates.any():
        raise ValueError(
            f"{name}: no side band found (no peak outside the centre band, radius "
            f"{spectrum.centre_band:.4g} 1/Å, stands {SIDEBAND_CONTRAST:g}× above the median "
            "power at its radius); pass sideband=(gx, gy) [1/Å]"
        )
    peak = np.unravel_index(
        int(np.argmax(np.where(candidates, spectrum.power, -1.0))), spectrum.power.shape
    )
    return int(peak[0]), int(peak[1])


def _zoomed_dft(windowed: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """|DFT|² of ``windowed`` at the frequencies u (x) × v (y) [cycles/pixel] (matrix DFT)."""
    ex = np.exp(-2j * np.pi * np.outer(u, np.arange(windowed.shape[0])))
    ey = np.exp(-2j * np.pi * np.outer(v, np.arange(windowed.shape[1])))
    return np.abs(ex @ windowed @ ey.T) ** 2


def _refine(tapered: np.ndarray, u0: float, v0: float) -> tuple[float, float]:
    """Sub-pixel maximum of |DFT| near (u0, v0) [cycles/pixel]: three 21 × 21 zoom levels
    (0.1, 0.01, 0.001 Fourier pixels), then a parabola through the maximum and its neighbours."""
    nx, ny = tapered.shape
    u, v = u0, v0
    offsets = np.linspace(-1, 1, 21)
    for span in (1.0, 0.1, 0.01):
        us, vs = u + offsets * span / nx, v + offsets * span / ny
        power = _zoomed_dft(tapered, us, vs)
        i, j = np.unravel_index(int(np.argmax(power)), power.shape)
        u, v = us[i], vs[j]
    step_u, step_v = (offsets[1] - offsets[0]) * 0.01 / nx, (offsets[1] - offsets[0]) * 0.01 / ny
    power = _zoomed_dft(
        tapered, u + np.array([-1, 0, 1]) * step_u, v + np.array([-1, 0, 1]) * step_v
    )
    # vertex of the parabola through three equally spaced samples
    for axis, values in enumerate((power[:, 1], power[1, :])):
        curvature = values[0] - 2 * values[1] + values[2]
        shift = 0.5 * (values[0] - values[2]) / curvature if curvature < 0 else 0.0
        shift = float(np.clip(shift, -1, 1))
        if axis == 0:
            u += shift * step_u
        else:
            v += shift * step_v
    return float(u), float(v)


def _sideband_wave(
    array: np.ndarray,
    carrier: tuple[float, float],
    aperture: float,
    sampling: tuple[float, float],
    iterations: int,
) -> tuple[np.ndarray, float]:
    """The side band S (hologram ≈ C + 2 Re(S·exp(2πi g_c·r))) on the hologram's pixels, and
    the variance per pixel of the shot noise in it.

    The hologram is multiplied by the sub-pixel carrier ramp exp(−2πi g_c·r), which centres
    the side band (no integer roll, no residual ramp), and the disc of radius ``aperture`` at
    k = 0 is cut out. For a carrier off the Fourier grid the fringes do not fit the field, so
    the side band and the centre band leak into each other (Dirichlet tails, worst at the
    edges: up to 0.1-0.3 rad RMS over the field for noise-free holograms). ``iterations``
    conjugate-gradient steps then fit S (band r_a around g_c) and the centre band C (band
    |g_c| − r_a around 0) jointly to the hologram by least squares, which removes that
    cross-talk: exact for a periodic band-limited wave, and the plain filter's result for a
    carrier on the grid (where the two bands are orthogonal).

    The noise is measured in the ring r_a < |k| ≤ 2 r_a of the centred spectrum outside the
    centre band (noise only, for an object of band ≤ r_a), of the fit's misfit if fitted.
    """
    nx, ny = array.shape
    size = nx * ny
    x = np.arange(nx)[:, None] * sampling[0]
    y = np.arange(ny)[None, :] * sampling[1]
    # the side band of 2μA cos(2πg·r + φ) is μA·exp(iφ)·exp(2πi g·r) (Lichte & Lehmann 2008)
    ramp = np.exp(2j * np.pi * (carrier[0] * x + carrier[1] * y))
    spectrum = fft2(array * np.conj(ramp))
    kx, ky = _frequencies((nx, ny), sampling)
    radius = np.hypot(kx, ky)
    magnitude = float(np.hypot(*carrier))
    disc = radius <= aperture
    centre_disc = radius < magnitude - aperture  # the centre band's model, around k = 0
    # noise-only pixels of the centred spectrum: beyond the aperture, outside the centre band
    ring = (radius > aperture) & (radius <= 2 * aperture)
    ring &= np.hypot(kx + carrier[0], ky + carrier[1]) >= magnitude - aperture
    side = spectrum * disc
    if iterations == 0:
        return ifft2(side), _noise_variance(spectrum[ring], np.count_nonzero(disc), size)
    centre = fft2(array.astype(np.complex128)) * centre_disc

    def model(c: np.ndarray, s: np.ndarray) -> np.ndarray:
        return ifft2(c).real + 2 * np.real(ramp * ifft2(s))

    def adjoint(residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            fft2(residual.astype(np.complex128)) * centre_disc / size,
            2 * fft2(np.conj(ramp) * residual) * disc / size,
        )

    # conjugate gradients on the normal equations (CGLS, Hestenes & Stiefel 1952)
    residual = array - model(centre, side)
    gradient = adjoint(residual)
    direction = gradient
    gamma = sum(np.vdot(g, g).real for g in gradient)
    for _ in range(iterations):
        step = model(*direction)
        norm = np.vdot(step, step).real
        if gamma == 0 or norm == 0:
            break
        alpha = gamma / norm
        centre = centre + alpha * direction[0]
        side = side + alpha * direction[1]
        residual = residual - alpha * step
        if alpha * np.linalg.norm(direction[1]) <= FIT_TOLERANCE * np.linalg.norm(side):
            break
        gradient = adjoint(residual)
        updated = sum(np.vdot(g, g).real for g in gradient)
        direction = tuple(
            g + (updated / gamma) * d for g, d in zip(gradient, direction, strict=True)
        )
        gamma = updated
    misfit = fft2(residual * np.conj(ramp))  # noise, without the bands' cross-talk
    return ifft2(side), _noise_variance(misfit[ring], np.count_nonzero(disc), size)


def _noise_variance(values: np.ndarray, cells: int, size: int) -> float:
    """Variance per pixel of the side band's shot noise: the power per Fourier pixel, the
    median of noise-only pixels over ln 2 (an exponential distribution's median), times the
    M aperture pixels over (nx·ny)² (the inverse FFT's normalisation)."""
    if values.size == 0:
        return 0.0
    return float(np.median(np.abs(values) ** 2)) / np.log(2) * cells / size**2


def _disc(shape: tuple[int, int], sampling: tuple[float, float], radius: float) -> np.ndarray:
    kx, ky = _frequencies(shape, sampling)
    return np.hypot(kx, ky) <= radius


def _recorded_carrier(image: Any) -> tuple[float, float] | None:
    """The carrier [1/Å] `hologram` wrote into an `Images`' metadata, or None."""
    carrier = getattr(image, "metadata", {}).get("hologram", {}).get("carrier")
    try:
        return (float(carrier[0]), float(carrier[1]))
    except (TypeError, ValueError, IndexError):
        return None


def _interior_weights(shape: tuple[int, int]) -> np.ndarray:
    """Hann² weights: the field's edges, where a non-integer carrier breaks periodicity, count
    little in the estimates of μ and ⟨I⟩."""
    window = np.outer(np.hanning(shape[0]), np.hanning(shape[1])) ** 2
    return window / window.sum()


def _fringe_contrast(sideband: np.ndarray, noise: float, intensity: np.ndarray) -> float:
    weights = _interior_weights(intensity.shape)
    # side band = (μ/2)·A·exp(iφ)·⟨I⟩ for ⟨A²⟩ = 1 (halved Lichte & Lehmann 2008 equation), so
    # μ = 2·√(⟨|side band|²⟩ − noise variance)/⟨I⟩, off by (1 − ⟨A²⟩)²/8 for absorption 1 − ⟨A²⟩
    signal = max(float(np.sum(weights * np.abs(sideband) ** 2)) - noise, 0.0)
    return float(np.clip(2 * np.sqrt(signal) / np.sum(weights * intensity), 1e-12, 1.0))


def reconstruct_hologram(
    hologram: Images | np.ndarray,
    reference: Images | np.ndarray | None = None,
    sideband: tuple[float, float] | None = None,
    aperture: float | None = None,
    *,
    sampling: float | tuple[float, float] | None = None,
    fringe_contrast: float | None = None,
    refine: bool = True,
    iterations: int = 50,
    unwrap: bool = True,
) -> HologramReconstruction:
    """Reconstruct the image wave from an off-axis hologram (Fourier side-band method).

    1. The side band is the strongest peak of the (Hann-windowed) power spectrum outside the
       centre band, in the half plane gx > 0 (gx = 0: gy > 0) or, for a hologram made by
       `hologram` (its metadata), on the side of its carrier, searched on the reference if
       one is given (vacuum fringes only, so crystal lattice fringes cannot be mistaken for
       it), or ``sideband`` is given. The centre band's radius is where the azimuthal median
       of the power falls to 10 × the spectrum's floor (noise) or 10⁻⁵ of its strongest
       power outside k = 0 (noise-free); a peak must stand 50 × above the median at its
       radius.
    2. Its position is refined to < 10⁻³ Fourier pixels (maximum of the |DFT| of the
       hologram under a Tukey window, evaluated by zoomed matrix DFTs). Without a reference a linear phase ramp of the
       object is indistinguishable from a carrier offset and goes into ``carrier``, and the
       object's own low frequencies pull the peak by up to ~0.02 Fourier pixels (a phase ramp
       of up to ~0.1 rad across the field): use a reference, or remove a plane from the phase.
    3. The hologram is multiplied by exp(−2πi g_c·r) at the sub-pixel g_c, which moves the side
       band to k = 0 (no integer roll, no residual ramp); the disc of radius ``aperture``
       around k = 0 is cut out and transformed back.
    4. For a carrier off the Fourier grid (fringes that do not fit the field) side band and
       centre band leak into each other; a least-squares fit of both bands to the hologram
       (conjugate gradients, ``iterations``) removes that cross-talk.
    5. With a reference, object / reference side band: carrier residue, fringe distortions,
       μ and the camera's MTF at g_c cancel (standard procedure, Lichte & Lehmann 2008).

    Phase noise: σ_φ = √2/(μ√N) per resolution cell, N = ``electrons_per_cell`` (mean counts
    per pixel × nx·ny/M for an aperture of M Fourier pixels ≈ dose/(π r_a²)); a reference at
    the same dose adds the same variance (see the module docstring).

    Parameters
    ----------
    hologram
        Hologram `Images` (or a 2D array with ``sampling``): intensity or counts, finite,
        positive mean (small negative values from MTF ringing are accepted).
    reference
        Vacuum hologram of the same shape and sampling (e.g. ``hologram(..., reference=True)``),
        or None. Recorded at the same dose: amplitudes scale with the dose ratio.
    sideband
        Side-band position (gx, gy) [1/Å], or None to find it. Picks the band (+g_c carries ψ,
        −g_c its conjugate); refined around the given position unless ``refine=False``.
    aperture
        Radius of the side-band aperture r_a [1/Å], at most |g_c|/2. Default |g_c|/3: the
        centre band, the autocorrelation of the object's spectrum, is twice as wide as the
        object's band, so an object of band r_a = |g_c|/3 has a centre band ending at
        2|g_c|/3, exactly where the side band begins.
    sampling
        Pixel size [Å] of plain arrays (not with `Images`).
    fringe_contrast
        μ in (0, 1] for the amplitude without a reference; None to measure it on the hologram
        (2·rms(side band)/⟨I⟩, exact for ⟨A²⟩ = 1). Not allowed with a reference, on which μ
        is measured.
    refine
        Refine the side band's position to sub-pixel precision.
    iterations
        At most this many conjugate-gradient steps of the joint least-squares fit of side band
        and centre band (step 4); 0 gives the plain Fourier filter.
    unwrap
        Unwrap the phase (`skimage.restoration.unwrap_phase`).

    Returns
    -------
    HologramReconstruction
        Wave, amplitude, phase [rad], refined carrier [1/Å], aperture [1/Å], fringe contrast,
        sampling [Å], resolution-cell area [Å²].

    Examples
    --------
    >>> phase = np.zeros((64, 64)); phase[16:48, 16:48] = 0.3
    >>> x, y = np.meshgrid(np.fft.fftfreq(64, 0.1), np.fft.fftfreq(64, 0.1), indexing="ij")
    >>> smooth = np.fft.ifft2(np.fft.fft2(phase) * (np.hypot(x, y) < 0.6)).real
    >>> waves = Waves(np.exp(1j * smooth), sampling=0.1, energy=300e3)
    >>> result = reconstruct_hologram(hologram(waves, carrier=(2.0, 0.5), fringe_contrast=0.4))
    >>> [round(g, 3) for g in result.carrier], round(result.fringe_contrast, 2)
    ([2.0, 0.5], 0.4)
    >>> bool(np.abs(result.phase - smooth - np.mean(result.phase - smooth)).max() < 0.01)
    True
    """
    array, pixel = _as_hologram("hologram", hologram, sampling)
    reference_array = None
    if reference is not None:
        reference_array, reference_pixel = _as_hologram("reference", reference, sampling)
        if reference_array.shape != array.shape:
            raise ValueError(
                f"reference must have the hologram's shape {array.shape}, got "
                f"{reference_array.shape}"
            )
        if not np.allclose(reference_pixel, pixel, rtol=1e-6):
            raise ValueError(
                f"reference must have the hologram's sampling {pixel} Å, got {reference_pixel} Å"
            )
    nyquist = (1 / (2 * pixel[0]), 1 / (2 * pixel[1]))
    if sideband is not None:
        sideband = check_pair("sideband", sideband, check=check_real)
        if sideband == (0.0, 0.0):
            raise ValueError("sideband must be a non-zero frequency (gx, gy) [1/Å], got (0, 0)")
        for axis in (0, 1):
            if abs(sideband[axis]) >= nyquist[axis]:
                raise ValueError(
                    f"sideband[{axis}] = {sideband[axis]:.4g} 1/Å must be inside the Nyquist "
                    f"frequency ±{nyquist[axis]:.4g} 1/Å of the {pixel[axis]:.4g} Å pixels"
                )
    if aperture is not None:
        aperture = check_positive("aperture", aperture)
    iterations = check_positive_int("iterations", iterations, minimum=0)
    if fringe_contrast is not None:
        if reference is not None:
            raise ValueError(
                "fringe_contrast must be None with a reference (μ is measured on it and "
                "cancels in the division)"
            )
        fringe_contrast = check_range("fringe_contrast", fringe_contrast, 0, 1, low_open=True)

    object_spectrum = _spectrum(array, pixel)
    search = object_spectrum if reference_array is None else _spectrum(reference_array, pixel)
    search_name = "hologram" if reference_array is None else "reference"
    nx, ny = array.shape
    if sideband is None:
        i, j = _find_sideband(search, search_name)
        recorded = _recorded_carrier(reference if reference is not None else hologram)
        if (
            recorded is not None
            and search.kx[i, 0] * recorded[0] + search.ky[0, j] * recorded[1] < 0
        ):
            i, j = -i % nx, -j % ny  # the band on the side of the simulated carrier
        start = (search.kx[i, 0], search.ky[0, j])
    else:
        start = sideband
        if refine:  # the strongest pixel within two Fourier pixels of the given position
            near = np.hypot(search.kx - sideband[0], search.ky - sideband[1]) <= 2 * search.step
            i, j = np.unravel_index(
                int(np.argmax(np.where(near, search.power, -1.0))), search.power.shape
            )
            start = (search.kx[i, 0], search.ky[0, j])
    if refine:
        u, v = _refine(search.tapered, start[0] * pixel[0], start[1] * pixel[1])
        carrier = (u / pixel[0], v / pixel[1])
    else:
        carrier = (float(start[0]), float(start[1]))
    magnitude = float(np.hypot(*carrier))
    name = "sideband" if sideband is not None else search_name

    if aperture is None:
        aperture = magnitude / 3
    elif aperture > magnitude / 2:
        raise ValueError(
            f"aperture must be ≤ |g_c|/2 = {magnitude / 2:.4g} 1/Å (side band at "
            f"({carrier[0]:.4g}, {carrier[1]:.4g}) 1/Å), got {aperture:.4g} 1/Å"
        )
    if aperture < object_spectrum.step:
        raise ValueError(
            f"aperture must be ≥ one Fourier pixel, {object_spectrum.step:.4g} 1/Å (1/field of "
            f"view), got {aperture:.4g} 1/Å"
        )
    if magnitude - aperture < object_spectrum.centre_band:
        raise ValueError(
            f"{name}: the side band at |g_c| = {magnitude:.4g} 1/Å with aperture "
            f"{aperture:.4g} 1/Å reaches into the centre band (radius "
            f"{object_spectrum.centre_band:.4g} 1/Å): the carrier must be ≥ 3 × the object's "
            "bandwidth (a larger carrier, finer fringes) or the aperture smaller"
        )
    for axis in (0, 1):
        if abs(carrier[axis]) + aperture > nyquist[axis]:
            raise ValueError(
                f"aperture = {aperture:.4g} 1/Å around the side band at carrier[{axis}] = "
                f"{carrier[axis]:.4g} 1/Å crosses the Nyquist frequency {nyquist[axis]:.4g} 1/Å: "
                f"need aperture ≤ {nyquist[axis] - abs(carrier[axis]):.4g} 1/Å"
            )

    wave, noise = _sideband_wave(array, carrier, aperture, pixel, iterations)
    mean = float(array.mean())
    if reference_array is not None:
        reference_wave, noise = _sideband_wave(
            reference_array, carrier, aperture, pixel, iterations
        )
        measured = _fringe_contrast(reference_wave, noise, reference_array)
        # object / reference side band (Lichte & Lehmann 2008): μ, distortions, MTF cancel
        wave = wave / reference_wave
    else:
        if fringe_contrast is None:
            measured = _fringe_contrast(wave, noise, array)
        else:
            measured = fringe_contrast
        # side band = (μ/2)·⟨I⟩·A·exp(iφ) for the halved hologram equation (vacuum = ⟨I⟩)
        level = float(np.sum(_interior_weights(array.shape) * array))
        wave = wave * (2 / (measured * level))
    wave = wave.astype(np.complex64)
    phase = np.angle(wave).astype(np.float64)
    if unwrap:
        from skimage.restoration import unwrap_phase

        phase = unwrap_phase(phase)
        phase -= 2 * np.pi * np.round(np.median(phase) / (2 * np.pi))
    cells = int(np.count_nonzero(_disc((nx, ny), pixel, aperture)))
    return HologramReconstruction(
        wave=wave,
        amplitude=np.abs(wave),
        phase=phase.astype(np.float32),
        carrier=(float(carrier[0]), float(carrier[1])),
        aperture=float(aperture),
        fringe_contrast=float(measured),
        sampling=pixel,
        cell_area=nx * pixel[0] * ny * pixel[1] / max(cells, 1),
        mean_intensity=mean,
    )
