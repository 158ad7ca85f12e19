"""Exit-wave reconstruction from an inline focal series (Allen, McBride, O'Leary & Oxley,
Ultramicroscopy 100 (2004) 91), started from a linear (weak-object) estimate.

The image model is the quasi-coherent one of `CTF.evaluate` / `Waves.apply_ctf`: image n is
I_n = |F⁻¹{Ψ H_n}|² with H_n = aperture · exp(−iχ_n) · Es_n · Et the wave transfer at defocus
Δf_n (and a phase ramp for that image's drift). So a series simulated by atomscope (or abTEM
with the same envelopes) is reproduced exactly, and the result Ψ is the wave *before* the lens:
band-limited to the objective aperture with the envelopes divided out.

The work is done on the *band grid*: the same field of view sampled just finely enough to hold
every frequency of the images, whose intensity is band-limited to twice the aperture frequency
k_a. Sampled at a Nyquist frequency ≥ 2 k_a, |ψ_n|² equals I_n at the grid points if and only
if it equals it everywhere (both are band-limited to 2 k_a), so the constraints — and the noise-
free fixed point — are those of the full grid; the frequencies dropped with the crop hold only
noise. For a 20 mrad aperture at 300 keV and 0.05 Å pixels that is 25× fewer pixels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from scipy.optimize import minimize_scalar
from tqdm.auto import tqdm

from atomscope.analysis.registration import register_shift
from atomscope.core.fft import fft2_to_rows, ifft2_from_rows
from atomscope.core.grid import Grid, fast_fft_size
from atomscope.core.validate import (
    check_choice,
    check_finite_array,
    check_pair,
    check_positive,
    check_positive_int,
    check_range,
)
from atomscope.detection.resample import fourier_resample, resize_spectrum
from atomscope.images import Images
from atomscope.optics.ctf import CTF
from atomscope.waves.waves import Waves

__all__ = [
    "FocalSeriesResult",
    "aperture_limited",
    "focal_series_ewr",
    "linear_ewr",
    "wave_error",
]

WORKING_GRIDS = ("band", "full")
#: Largest defocus correction of `focal_series_ewr(refine_defocus=True)` by default [Å]
DEFOCUS_SEARCH = 20.0
#: Largest drift between neighbouring images `focal_series_ewr(align=True)` searches [Å]
MAX_DRIFT = 5.0
#: Iterations after which the defocus / drift of each image are re-estimated
REFINE_AT = (0, 5, 15, 40)


@dataclass(frozen=True)
class FocalSeriesResult:
    """What `focal_series_ewr` found.

    Attributes
    ----------
    exit_wave
        The reconstructed wave before the lens (`Waves` on the images' grid), band-limited to
        the objective aperture, envelopes divided out.
    defoci
        Defocus of each image [Å] (refined if asked; mean offset from the nominal values 0).
    shifts
        Drift of each image (x, y) [Å], shape (n, 2) (measured if asked; mean 0).
    residuals
        Relative amplitude misfit ‖|ψ_n| − √I_n‖ / ‖√I_n‖ over the series, one per iteration.
    changes
        Relative change ‖Ψ_i − Ψ_{i−1}‖ / ‖Ψ_i‖ of the estimate, one per iteration.
    converged
        Whether the iteration stopped before ``max_iter``: the change fell below
        ``tolerance``, or (L-BFGS) no step lowers the misfit at single precision.
    message
        Why the iteration stopped.
    """

    exit_wave: Waves
    defoci: np.ndarray
    shifts: np.ndarray
    residuals: np.ndarray
    changes: np.ndarray
    converged: bool
    message: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        """Number of iterations run."""
        return len(self.residuals)


def wave_error(wave: Waves | np.ndarray, reference: Waves | np.ndarray) -> float:
    """Relative L2 distance min_φ ‖e^{iφ} ψ − ψ_ref‖ / ‖ψ_ref‖ (the global phase removed).

    Examples
    --------
    >>> reference = np.exp(1j * np.linspace(0, 1, 16)).reshape(4, 4)
    >>> round(wave_error(reference * np.exp(0.7j), reference), 12)
    0.0
    """
    a = np.asarray(getattr(wave, "array", wave), dtype=np.complex128)
    b = np.asarray(getattr(reference, "array", reference), dtype=np.complex128)
    if a.shape != b.shape:
        raise ValueError(f"wave {a.shape} and reference {b.shape} must have the same shape")
    overlap = np.vdot(a, b)  # e^{iφ} = overlap/|overlap| minimises the distance
    phase = overlap / abs(overlap) if abs(overlap) > 0 else 1.0
    return float(np.linalg.norm(a * phase - b) / np.linalg.norm(b))


def aperture_limited(waves: Waves, ctf: CTF) -> Waves:
    """``waves`` with every frequency outside the objective aperture of ``ctf`` removed: the
    most a focal-series reconstruction can recover (the reference `focal_series_ewr` is scored
    against).

    Examples
    --------
    >>> wave = Waves(np.ones((32, 32)), sampling=0.1, energy=300e3)
    >>> round(float(np.abs(aperture_limited(wave, CTF(300e3, semiangle_cutoff=20)).array).mean()), 6)
    1.0
    """
    _check_aperture(ctf, waves.grid)
    support = _support(ctf, waves.grid)
    spectrum = np.fft.fft2(waves.array.astype(np.complex128))
    return Waves(np.fft.ifft2(spectrum * support), waves.sampling, waves.energy)


def _support(ctf: CTF, grid: Grid) -> np.ndarray:
    kx, ky = np.meshgrid(*grid.frequencies(), indexing="ij")
    return ctf.wavelength * np.hypot(kx, ky) <= ctf.semiangle_cutoff * 1e-3


def _check_aperture(ctf: CTF, grid: Grid) -> float:
    """The aperture frequency k_a [1/Å]; the images must hold 2 k_a (their band limit)."""
    if not isinstance(ctf, CTF):
        raise TypeError(f"ctf must be an atomscope CTF, got {type(ctf).__name__}")
    nyquist = 1 / (2 * max(grid.sampling))
    largest = nyquist / 2 * ctf.wavelength * 1e3
    if not np.isfinite(ctf.semiangle_cutoff) or ctf.semiangle_cutoff > largest:
        raise ValueError(
            f"ctf.semiangle_cutoff={ctf.semiangle_cutoff} mrad is beyond the grid's band limit: "
            f"images sampled at {max(grid.sampling):g} Å hold intensity frequencies up to "
            f"{nyquist:.3g} 1/Å, so the aperture must be finite and at most {largest:.4g} mrad"
        )
    if ctf.focal_integration != "quasi_coherent":
        raise ValueError(
            f"ctf.focal_integration must be 'quasi_coherent' for exit-wave reconstruction "
            f"(the image model is |F⁻¹{{Ψ H}}|²), got {ctf.focal_integration!r}"
        )
    if ctf.deflection != 0:
        raise ValueError(
            f"ctf.deflection must be 0 for exit-wave reconstruction (an incoherent image blur "
            f"is not a wave transfer), got {ctf.deflection} Å"
        )
    return ctf.semiangle_cutoff * 1e-3 / ctf.wavelength


def _check_series(images: Any, defoci: Any, sampling: Any) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Images [n, x, y] (finite, ≥ 0), defoci (n, distinct) [Å] and sampling [Å]."""
    if isinstance(images, Images):
        if sampling is None:
            sampling = images.sampling
        if defoci is None:
            defoci = images.metadata.get("defoci")
        images = images.array
    array = check_finite_array("images", images)
    if array.ndim != 3 or array.shape[0] < 2:
        raise ValueError(
            f"images must be a stack [n, x, y] of at least 2 images of one shape, got shape "
            f"{array.shape}"
        )
    if array.min() < 0:
        raise ValueError(
            f"images must be intensities or counts ≥ 0, got a minimum of {array.min():g} "
            f"(image {int(np.argmin(array.min(axis=(1, 2))))})"
        )
    if np.any(array.mean(axis=(1, 2)) <= 0):
        raise ValueError("images must each have a positive mean intensity, one is all zero")
    if defoci is None:
        raise ValueError("defoci [Å] must be given (one per image)")
    defoci = check_finite_array("defoci", defoci, ndim=1)
    if len(defoci) != len(array):
        raise ValueError(
            f"defoci must give one defocus per image: {len(array)} images, {len(defoci)} defoci"
        )
    if len(np.unique(defoci)) != len(defoci):
        values, counts = np.unique(defoci, return_counts=True)
        raise ValueError(f"defoci must be distinct, {values[counts > 1].tolist()} repeat")
    if sampling is None:
        raise ValueError("sampling [Å] must be given with a plain array of images")
    return array, defoci, check_pair("sampling", sampling)


class _Series:
    """The series on its working grid: √I_n, the transfers H_n and the solver's weights."""

    def __init__(self, images, defoci, shifts, ctf: CTF, grid: Grid, working_grid: str):
        self.full_grid = grid
        self.ctf = ctf
        k_aperture = ctf.semiangle_cutoff * 1e-3 / ctf.wavelength
        if working_grid == "band":
            # Nyquist ≥ 2 k_a on every axis: n ≥ 4 k_a L (+1 for the odd/even Nyquist bin)
            gpts = tuple(
                min(n, fast_fft_size(int(np.ceil(4 * k_aperture * length)) + 1))
                for n, length in zip(grid.gpts, grid.extent, strict=True)
            )
        else:
            gpts = grid.gpts
        self.grid = Grid(gpts=gpts, extent=grid.extent)
        if gpts != grid.gpts:
            images = np.stack([fourier_resample(image, gpts) for image in images])
        self.intensity = np.clip(images, 0, None).astype(np.float32)
        self.amplitude = np.sqrt(self.intensity)
        self.defoci = np.asarray(defoci, dtype=float)
        self.shifts = np.asarray(shifts, dtype=float)
        self.update_transfers()

    def transfer(self, defocus: float, shift: np.ndarray) -> np.ndarray:
        """H at one defocus [Å] and drift (x, y) [Å] on the working grid (complex64)."""
        lens = CTF(**{**self.ctf.parameters(), "C10": -float(defocus)})
        kx, ky = self.grid.frequencies()
        # a shift s of the image is the ramp exp(−2πi k·s) on its wave's spectrum
        ramp = np.exp(-2j * np.pi * kx[:, None] * shift[0]) * np.exp(
            -2j * np.pi * ky[None, :] * shift[1]
        )
        return (lens.evaluate(self.grid) * ramp).astype(np.complex64)

    def update_transfers(self) -> None:
        transfers = np.stack(
            [self.transfer(d, s) for d, s in zip(self.defoci, self.shifts, strict=True)]
        )
        # the lens transmits only inside the aperture: Ψ H_n and the back-projection are
        # computed on those frequencies alone (~1 % of a fine grid)
        self.support = np.abs(transfers[0]) > 0
        self.indices = np.flatnonzero(self.support)
        # the same frequencies within the aperture's rows alone (pruned FFTs, core.fft)
        kx_index, ky_index = np.nonzero(self.support)
        self.rows = np.unique(kx_index)
        row_position = np.searchsorted(self.rows, kx_index)
        self.row_indices = row_position * self.grid.gpts[1] + ky_index
        self.transfers = transfers.reshape(len(transfers), -1)[:, self.indices]
        self.conjugate = np.conj(self.transfers)
        power = np.sum(np.abs(self.transfers.astype(np.complex128)) ** 2, axis=0)
        # least-squares combination of the back-propagated waves, Σ H_n* Ψ_n / Σ |H_n|²
        inverse = np.zeros(self.grid.gpts, dtype=np.float32)
        inverse.flat[self.indices] = 1 / np.maximum(power, 1e-3 * power.max())
        self.inverse_power = inverse

    def image_waves(self, spectrum: np.ndarray) -> np.ndarray:
        """ψ_n = F⁻¹{Ψ H_n}, complex64 [n, x, y]."""
        count = len(self.transfers)
        rows = np.zeros((count, len(self.rows), self.grid.gpts[1]), dtype=np.complex64)
        rows.reshape(count, -1)[:, self.row_indices] = self.transfers * spectrum.flat[self.indices]
        return ifft2_from_rows(rows, self.rows, self.grid.gpts[0])

    def gradient(self, spectrum: np.ndarray) -> tuple[np.ndarray, float]:
        """N·∂f/∂Ψ* of the amplitude misfit f = Σ_n ‖|ψ_n| − √I_n‖², and f.

        ∂f/∂ψ_n* = ψ_n − √I_n ψ_n/|ψ_n| is ψ_n minus its projection onto the measured
        modulus, so Ψ − (N·∂f/∂Ψ*) / Σ|H_n|² is exactly one iteration of Allen et al. (2004):
        their algorithm is preconditioned steepest descent (as Fienup, Appl. Opt. 21 (1982)
        2758, showed for error reduction).
        """
        waves = self.image_waves(spectrum)
        misfit = _modulus_residual(waves.reshape(-1), self.amplitude.reshape(-1))
        rows = fft2_to_rows(waves, self.rows)
        gradient = np.zeros(self.grid.gpts, dtype=np.complex64)
        back = rows.reshape(len(rows), -1)[:, self.row_indices]
        gradient.flat[self.indices] = np.einsum("ij,ij->j", self.conjugate, back)
        return gradient, misfit

    def misfit_at(self, spectrum: np.ndarray, index: int, defocus: float, shift) -> float:
        wave = np.fft.ifft2(spectrum * self.transfer(defocus, np.asarray(shift)))
        return float(np.sum((np.abs(wave) - self.amplitude[index]) ** 2))

    def to_full_grid(self, spectrum: np.ndarray) -> np.ndarray:
        """Ψ on the images' grid: the spectrum zero-padded, rescaled for the pixel count."""
        full = self.full_grid.gpts
        if full != self.grid.gpts:
            spectrum = resize_spectrum(resize_spectrum(spectrum, 0, full[0]), 1, full[1])
            spectrum = spectrum * (full[0] * full[1] / (self.grid.gpts[0] * self.grid.gpts[1]))
        return np.fft.ifft2(spectrum)


@numba.njit(cache=True)
def _modulus_residual(waves: np.ndarray, amplitude: np.ndarray) -> float:
    """Σ (|ψ| − √I)², and ψ ← ψ (|ψ| − √I)/|ψ| in place (= ∂f/∂ψ*), in one pass."""
    misfit = 0.0
    for i in range(waves.size):
        modulus = abs(waves[i])
        difference = modulus - amplitude[i]
        misfit += float(difference) ** 2
        waves[i] = waves[i] * (difference / max(modulus, np.float32(1e-30)))
    return misfit


def _linear_spectrum(series: _Series, wiener: float) -> np.ndarray:
    """Weak-object estimate Ψ (working grid, FFT order) from the linear imaging terms.

    With ψ = c(1 + φ) and |φ| ≪ 1, F{I_n}/c² = δ + Φ(k) H_n(k) + Φ*(−k) H_n*(−k) (the
    linear terms of the paraboloid method, Op de Beeck, Van Dyck & Coene, Ultramicroscopy 64
    (1996) 167). Φ(k) and Φ*(−k) are solved together at each k by Wiener-regularised least
    squares over the series (Saxton, J. Microsc. 174 (1994) 61).
    """
    count = len(series.intensity)
    scale = float(series.intensity.mean())  # c² ≈ the mean intensity
    measured = np.fft.fft2(series.intensity / scale)
    transfers = np.zeros((count, *series.grid.gpts), dtype=np.complex128)
    transfers.reshape(count, -1)[:, series.indices] = series.transfers
    # H_n(−k) in FFT order: reverse both axes and roll the zero frequency back to index 0
    mirrored = np.conj(np.roll(transfers[:, ::-1, ::-1], 1, axis=(1, 2)))
    epsilon = wiener * count
    a11 = np.sum(np.abs(transfers) ** 2, axis=0) + epsilon
    a22 = np.sum(np.abs(mirrored) ** 2, axis=0) + epsilon
    a12 = np.sum(np.conj(transfers) * mirrored, axis=0)
    r1 = np.sum(np.conj(transfers) * measured, axis=0)
    r2 = np.sum(np.conj(mirrored) * measured, axis=0)
    determinant = a11 * a22 - np.abs(a12) ** 2
    solvable = series.support & (np.abs(determinant) > 1e-12 * a11 * a22)
    spectrum = np.divide(
        a22 * r1 - a12 * r2, determinant, out=np.zeros_like(r1), where=solvable
    )  # Φ(k); at k = 0 the system is singular (Φ(0) and Φ*(0) are one unknown)
    spectrum[0, 0] = np.prod(series.grid.gpts)  # the unscattered beam, F{1}
    return (np.sqrt(scale) * spectrum).astype(np.complex64)


def _refine(
    series: _Series, spectrum, refine_defocus: bool, align: bool, search: float, max_drift: float
) -> None:
    """Re-estimate each image's defocus (bounded search, ±``search`` Å around the nominal
    value) and drift (phase correlation of the image with its prediction), mean offsets 0."""
    defoci, shifts = series.defoci.copy(), series.shifts.copy()
    for n in range(len(defoci)):
        if align:
            predicted = np.abs(series.image_waves(spectrum)[n]) ** 2
            pixel = np.asarray(series.grid.sampling)
            offset = register_shift(series.intensity[n], predicted, max_drift / pixel.max())
            shifts[n] = shifts[n] + offset * pixel
        if refine_defocus:
            nominal = series.nominal[n]
            best = minimize_scalar(
                lambda df, n=n: series.misfit_at(spectrum, n, df, shifts[n]),
                bounds=(nominal - search, nominal + search),
                method="bounded",
                options={"xatol": 0.05},
            )
            defoci[n] = best.x
    if refine_defocus:
        defoci -= np.mean(defoci - series.nominal)
    if align:
        shifts -= shifts.mean(axis=0)
    series.defoci, series.shifts = defoci, shifts
    series.update_transfers()


def linear_ewr(
    images: Images | np.ndarray,
    defoci: Any = None,
    ctf: CTF | None = None,
    sampling: float | tuple[float, float] | None = None,
    wiener: float = 0.1,
) -> Waves:
    """Linear (weak-object) exit-wave estimate from a focal series, on its own.

    Exact for a weak object (ψ = 1 + φ, |φ| ≪ 1); for strong scatterers it is the first guess
    `focal_series_ewr` iterates from.

    Parameters
    ----------
    images
        Intensities [n, x, y] (vacuum = 1, or counts: the result scales with √counts), or an
        `Images` stack (its sampling and ``metadata["defoci"]`` are used).
    defoci
        Defocus of each image [Å] (positive = underfocus).
    ctf
        The lens (energy, aberrations other than defocus, aperture, envelopes).
    sampling
        Pixel size [Å] of a plain array.
    wiener
        Wiener constant relative to the mean transfer power |H|² of one image (≥ 0): larger
        suppresses noise at frequencies the series transfers badly.

    Examples
    --------
    >>> from atomscope import CTF, Waves
    >>> from atomscope.optics.series import defocus_series
    >>> x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> wave = Waves(np.exp(0.05j * np.cos(3 * x)[:, None] * np.ones(64)), 0.1, 300e3)
    >>> lens = CTF(energy=300e3, Cs=1e6, semiangle_cutoff=30)
    >>> series = defocus_series(wave, lens, [-100.0, 0.0, 100.0, 200.0])
    >>> estimate = linear_ewr(series, ctf=lens, wiener=0.0)
    >>> bool(wave_error(estimate, aperture_limited(wave, lens)) < 0.01)
    True
    """
    array, defoci, sampling = _check_series(images, defoci, sampling)
    grid = Grid(gpts=array.shape[1:], sampling=sampling)
    _check_aperture(ctf, grid)
    wiener = check_range("wiener", wiener, 0, np.inf)
    series = _Series(array, defoci, np.zeros((len(defoci), 2)), ctf, grid, "band")
    return Waves(series.to_full_grid(_linear_spectrum(series, wiener)), sampling, ctf.energy)


def focal_series_ewr(
    images: Images | np.ndarray,
    defoci: Any = None,
    ctf: CTF | None = None,
    sampling: float | tuple[float, float] | None = None,
    max_iter: int = 200,
    tolerance: float = 1e-5,
    refine_defocus: bool = False,
    align: bool = False,
    defocus_search: float = DEFOCUS_SEARCH,
    max_drift: float = MAX_DRIFT,
    wiener: float = 0.1,
    working_grid: str = "band",
    method: str = "lbfgs",
    progress: bool = False,
) -> FocalSeriesResult:
    """Reconstruct the exit wave from an inline focal series (Allen et al., Ultramicroscopy
    100 (2004) 91): propagate the estimate to every defocus, impose the measured amplitude
    √I_n, propagate back, combine; repeat from the linear estimate until the relative change
    of the wave falls below ``tolerance``.

    Allen's iteration is the preconditioned steepest-descent step of the amplitude misfit
    Σ_n ‖|ψ_n| − √I_n‖², so by default (``method="lbfgs"``) that same step drives L-BFGS,
    which reaches the fixed point in far fewer iterations.

    Parameters
    ----------
    images
        Intensities [n, x, y], n ≥ 2, in units of the incident beam (vacuum = 1); counts give
        a wave scaled by √(counts per unit intensity). Or an `Images` stack (its sampling and
        ``metadata["defoci"]`` are used).
    defoci
        Nominal defocus of each image [Å] (positive = underfocus), distinct.
    ctf
        The lens: energy, aberrations other than the defocus, a finite aperture, the envelopes
        (quasi-coherent; no deflection).
    sampling
        Pixel size [Å] of a plain array.
    max_iter
        Most iterations (≥ 1).
    tolerance
        Stop when ‖Ψ_i − Ψ_{i−1}‖ / ‖Ψ_i‖ falls below this (> 0).
    refine_defocus
        Re-estimate each image's defocus within ±``defocus_search`` Å (their mean offset is
        held at 0: a common defocus error only moves the plane of the reconstruction).
    align
        Measure each image's drift by sub-pixel phase correlation with its prediction and
        put it into the image model (mean drift 0); images are never interpolated.
    defocus_search
        Half-width of the defocus search [Å], > 0.
    max_drift
        Largest drift between neighbouring images, and of each later correction [Å], > 0:
        bounds the correlation search, which a lattice period away can match as well.
    wiener
        Wiener constant of the linear first guess (see `linear_ewr`).
    working_grid
        ``"band"`` (default; the band-limited grid, see the module notes) or ``"full"``.
    method
        ``"lbfgs"`` (default): L-BFGS on the amplitude misfit whose steepest-descent step is
        Allen's iteration, ~10× fewer iterations to the same accuracy on strong scatterers;
        ``"allen"``: the plain iteration of Allen et al. (2004).
    progress
        Show a progress bar over the iterations.

    Returns
    -------
    FocalSeriesResult

    Examples
    --------
    >>> from atomscope import CTF, Waves
    >>> from atomscope.optics.series import defocus_series
    >>> x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> wave = Waves(np.exp(0.8j * np.cos(3 * x)[:, None] * np.cos(2 * x)), 0.1, 300e3)
    >>> lens = CTF(energy=300e3, Cs=1e6, semiangle_cutoff=30, focal_spread=30)
    >>> series = defocus_series(wave, lens, np.arange(-200.0, 400.0, 60.0))
    >>> result = focal_series_ewr(series, ctf=lens, max_iter=100)
    >>> bool(wave_error(result.exit_wave, aperture_limited(wave, lens)) < 0.03)
    True
    """
    array, defoci, sampling = _check_series(images, defoci, sampling)
    grid = Grid(gpts=array.shape[1:], sampling=sampling)
    _check_aperture(ctf, grid)
    max_iter = check_positive_int("max_iter", max_iter)
    tolerance = check_positive("tolerance", tolerance)
    defocus_search = check_positive("defocus_search", defocus_search)
    max_drift = check_positive("max_drift", max_drift)
    wiener = check_range("wiener", wiener, 0, np.inf)
    working_grid = check_choice("working_grid", working_grid, WORKING_GRIDS)
    method = check_choice("method", method, tuple(_ITERATIONS))
    for name, value in (("refine_defocus", refine_defocus), ("align", align)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")

    series = _Series(array, defoci, np.zeros((len(defoci), 2)), ctf, grid, working_grid)
    series.nominal = defoci.copy()
    if align:  # a first drift estimate before anything is reconstructed: neighbours correlate
        series.shifts = _neighbour_drift(series.intensity, series.grid.sampling, max_drift)
        series.update_transfers()
    spectrum = _linear_spectrum(series, wiener)
    refining = refine_defocus or align
    starts = [i for i in REFINE_AT if i < max_iter] if refining else [0]
    iterate = _ITERATIONS[method]
    with tqdm(total=max_iter, desc="exit-wave reconstruction", disable=not progress) as bar:
        log = _Log(series, tolerance, bar)
        for start, stop in zip(starts, [*starts[1:], max_iter], strict=True):
            if refining:
                _refine(series, spectrum, refine_defocus, align, defocus_search, max_drift)
            spectrum = iterate(series, spectrum, stop - start, log)
            if stop < max_iter:  # the next refinement changes the image model
                log.converged, log.message = False, "max_iter reached"
    exit_wave = Waves(
        series.to_full_grid(spectrum),
        sampling,
        ctf.energy,
        metadata={"ctf": ctf.parameters(), "reconstruction": "focal_series_ewr"},
    )
    return FocalSeriesResult(
        exit_wave=exit_wave,
        defoci=series.defoci.copy(),
        shifts=series.shifts.copy(),
        residuals=np.asarray(log.residuals),
        changes=np.asarray(log.changes),
        converged=log.converged,
        message=log.message,
        settings={
            "method": method,
            "max_iter": max_iter,
            "tolerance": tolerance,
            "refine_defocus": bool(refine_defocus),
            "align": bool(align),
            "defocus_search": defocus_search,
            "max_drift": max_drift,
            "wiener": wiener,
            "working_grid": working_grid,
            "working_gpts": list(series.grid.gpts),
        },
    )


class _Log:
    """Per-iteration misfit and change, the progress bar, and the stopping test."""

    def __init__(self, series: _Series, tolerance: float, bar):
        self.norm = float(np.linalg.norm(series.amplitude))
        self.tolerance = tolerance
        self.bar = bar
        self.residuals: list[float] = []
        self.changes: list[float] = []
        self.converged = False
        self.message = "max_iter reached"

    def record(self, old: np.ndarray, new: np.ndarray, misfit: float) -> bool:
        """Log one iteration from ``old`` to ``new`` (``misfit`` is f at ``old``)."""
        change = float(np.linalg.norm(new - old) / max(np.linalg.norm(new), 1e-30))
        self.residuals.append(np.sqrt(misfit) / self.norm)
        self.changes.append(change)
        self.bar.update()
        self.bar.set_postfix(misfit=f"{self.residuals[-1]:.2e}", change=f"{change:.1e}")
        self.converged = change < self.tolerance
        if self.converged:
            self.message = f"relative change {change:.2e} below tolerance {self.tolerance:g}"
        return self.converged


def _allen(series: _Series, spectrum: np.ndarray, steps: int, log: _Log) -> np.ndarray:
    """Allen et al. (2004): Ψ ← Σ_n H_n* F{√I_n ψ_n/|ψ_n|} / Σ_n |H_n|², ``steps`` times."""
    for _ in range(steps):
        gradient, misfit = series.gradient(spectrum)
        new = spectrum - gradient * series.inverse_power
        stop = log.record(spectrum, new, misfit)
        spectrum = new
        if stop:
            break
    return spectrum


def _lbfgs(series: _Series, spectrum: np.ndarray, steps: int, log: _Log) -> np.ndarray:
    """L-BFGS (Nocedal, Math. Comp. 35 (1980) 773) on the misfit in u = √(Σ|H_n|²) Ψ, the
    variables in which Allen's step is plain steepest descent."""
    from scipy.optimize import minimize

    support = series.support
    scale = np.sqrt(1 / series.inverse_power[support]).astype(np.float64)
    pixels = float(np.prod(series.grid.gpts))
    size = int(support.sum())

    def unpack(x: np.ndarray) -> np.ndarray:
        out = np.zeros(series.grid.gpts, dtype=np.complex64)
        out[support] = (x[:size] + 1j * x[size:]) / scale
        return out

    def misfit_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        gradient, misfit = series.gradient(unpack(x))
        # ∂f/∂Re u + i ∂f/∂Im u = 2 ∂f/∂u* = 2 (N·∂f/∂Ψ*) / (N √Σ|H|²)
        du = 2 * gradient[support] / (pixels * scale)
        return misfit, np.concatenate([du.real, du.imag])

    state = {"spectrum": spectrum}

    def callback(intermediate_result) -> None:
        new = unpack(intermediate_result.x)
        stop = log.record(state["spectrum"], new, intermediate_result.fun)
        state["spectrum"] = new
        if stop:
            raise StopIteration

    start = spectrum[support] * scale
    done = len(log.changes)
    result = minimize(
        misfit_and_gradient,
        np.concatenate([start.real, start.imag]),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": steps, "maxcor": 20, "ftol": 0.0, "gtol": 0.0},
    )
    if not log.converged and len(log.changes) - done < steps:
        # the line search found no lower misfit: a stationary point at float32 precision
        log.converged = True
        log.message = f"misfit no longer decreases at single precision ({result.message})"
    return state["spectrum"]


_ITERATIONS = {"lbfgs": _lbfgs, "allen": _allen}


def _neighbour_drift(
    intensity: np.ndarray, sampling: tuple[float, float], max_drift: float
) -> np.ndarray:
    """Drift of each image [Å] from cross-correlation with its neighbour in the series
    (accumulated, mean 0): neighbouring defoci look alike, distant ones need not."""
    pixel = np.asarray(sampling)
    steps = [np.zeros(2)]
    for previous, current in itertools.pairwise(intensity):
        steps.append(-register_shift(previous, current, max_drift / pixel.max()) * pixel)
    shifts = np.cumsum(steps, axis=0)
    return shifts - shifts.mean(axis=0)
