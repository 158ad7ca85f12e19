"""Measure a camera's MTF and DQE: from flat fields (noise power) or from a slanted edge.

The seed (§2.6) names both ways: "the easiest method of measuring the MTF is through the
spectral density of a noisy image without a signal, i.e. the noise spectral density (NSD)",
and a more accurate one that "requires a specialized measurement" — a knife edge.

* `estimate_mtf`: uniformly illuminated frames → noise power spectrum (NPS, the seed's NSD)
  → MTF² = NPS(q)/NPS(0) for a shot-noise-limited camera whose blur acts on the counted
  electrons (a scintillator; `Camera`'s order), a fitted ``"rational"`` / ``"exp_gauss"``
  model or the measured ``"table"``, and the DQE.
* `mtf_from_edge`: a slanted-edge image → oversampled edge-spread function → line-spread
  function → MTF (ISO 12233). This is the presampling MTF, pixel aperture included.

Every frequency is q = k/k_N, a fraction of the camera's Nyquist frequency k_N = 1/(2δ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.signal.windows import hann

from atomscope.core.fft import fft2
from atomscope.core.validate import (
    check_choice,
    check_finite_array,
    check_positive,
    check_positive_int,
    check_range,
)
from atomscope.detection.mtf import FORMS, MTF, nyquist_fraction

#: The models `estimate_mtf` and `mtf_from_edge` can return: the parametric forms or a table.
MODELS = (*FORMS, "table")
#: Largest change of a flat field's fitted plane across the frame, relative to its mean.
MAX_GRADIENT = 0.05
#: Lowest count accepted in a flat field: an MTF applied to Poisson counts rings slightly
#: below 0 (to −0.13 at 1 count per pixel), anything lower is not counts.
MIN_COUNT = -1.0
#: Smallest frame or edge image, pixels per axis.
MIN_SIZE = 16
#: An edge must step by more than this many pixel-noise standard deviations.
EDGE_MIN_CONTRAST = 3.0
#: Variance of a mean over many frequencies of a Hann-windowed periodogram, relative to
#: unwindowed: Σ_k ρ_k over both axes, ρ_k = (c_k/c_0)² with w² = 3/8 − ¼ cos + 1/16 cos 2.
WINDOW_CORRELATION = (35 / 18) ** 2
#: Share of an edge's rise that must happen near it (within a quarter of the image, and
#: within half the ESF range of the fitted line): less is a gradient.
EDGE_MIN_SHARE = 0.75
#: Largest power c3 of the rational form a fit may return (a sharper fall-off is a step).
MAX_POWER = 20.0
#: Fewest frequencies a radial bin of the noise power spectrum must hold to be kept.
MIN_BIN_COUNT = 8

_SQRT2 = float(np.sqrt(2))


@dataclass(frozen=True, eq=False)
class MTFEstimate:
    """A measured MTF (and, from flat fields, noise power spectrum and DQE) per q bin.

    Attributes
    ----------
    mtf
        The estimate as an `MTF` (fitted model or table), ready for `Camera`.
    q
        Frequencies of the bins, fractions of Nyquist (flat fields: the mean q of each
        radial bin; edge: an even grid from 0).
    measured
        The model-free MTF at ``q``: √(normalised NPS) from flat fields, the edge MTF.
    k
        ``q`` in 1/Å (k = q/(2δ)) when the pixel size δ was given, else None.
    nps
        Flat fields: the noise power spectrum normalised to NPS(0) = 1 (≈ MTF² for a
        shot-noise-limited camera); None from an edge.
    dqe
        Flat fields: DQE(q) = gain·mean·MTF²(q)/NPS(q) per bin, NPS in counts² per pixel
        (IEC 62220-1; = MTF²(q)·DQE(0)/NPS_norm(q)), with ``signal_mtf`` if given; None
        from an edge.
    dqe0
        Flat fields: DQE(0) = gain·mean/NPS(0), NPS(0) the model-free mean noise power at low
        q (see `estimate_mtf`); None from an edge.
    method
        ``"flat_field"`` or ``"edge"``.
    fit
        ``{"model", "parameters", "errors", "reduced_chi2"}`` of a parametric fit to flat
        fields (errors are one standard error from the fit's Jacobian, scaled by the reduced
        χ², which is ≈ 1 for shot noise; they match the scatter over noise realisations),
        ``{"model", "parameters", "rms_residual"}`` for an edge (unweighted; its residuals
        are correlated across q, so no standard errors), or ``{"model": "table"}``.
    info
        What else was measured (mean counts, NPS(0), edge angle [mrad], ...).
    """

    mtf: MTF
    q: np.ndarray
    measured: np.ndarray
    k: np.ndarray | None = None
    nps: np.ndarray | None = None
    dqe: np.ndarray | None = None
    dqe0: float | None = None
    method: str = "flat_field"
    fit: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """Everything as plain JSON types (lists, floats, str, None).

        Examples
        --------
        >>> import json
        >>> frames = np.random.default_rng(0).poisson(50.0, (2, 64, 64))
        >>> estimate = estimate_mtf(frames, model="table")
        >>> sorted(json.loads(json.dumps(estimate.parameters())))[:4]
        ['dqe', 'dqe0', 'fit', 'info']
        """

        def plain(value: Any) -> Any:
            if isinstance(value, np.ndarray):
                return value.tolist()
            if isinstance(value, np.generic):
                return value.item()
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(item) for item in value]
            return value

        return plain(
            {
                "method": self.method,
                "mtf": self.mtf.parameters(),
                "q": self.q,
                "measured": self.measured,
                "k": self.k,
                "nps": self.nps,
                "dqe": self.dqe,
                "dqe0": self.dqe0,
                "fit": self.fit,
                "info": self.info,
            }
        )


# ---------------------------------------------------------------- fitting


def _starts(model: str, q: np.ndarray, mtf: np.ndarray) -> list[tuple[float, float, float]]:
    """Starting points for the least-squares fit, read off the measured curve."""
    floor = float(np.clip(np.min(mtf), 0.0, 0.9))
    below = np.nonzero(mtf <= (1 + floor) / 2)[0]
    q_half = float(q[below[0]]) if below.size else float(q[-1])
    q_half = max(q_half, 1e-3)
    if model == "rational":
        # Eq 2.21 falls halfway to its floor c1 at q = 2 c2
        return [(c1, q_half / 2, c3) for c1 in (0.5 * floor, 0.9 * floor) for c3 in (1.5, 3.0)]
    return [(c1, 1.0 / q_half, 0.8 / q_half) for c1 in (0.2, 0.5, 0.8)]


def _fit(
    residual, starts: list[tuple[float, ...]], lower: list[float], upper: list[float]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares of ``residual(p)`` (already divided by its errors) from several starts.

    Returns the best parameters, their standard errors (Jacobian covariance scaled by the
    reduced χ²) and the reduced χ².
    """
    best = None
    for start in starts:
        x0 = np.clip(start, np.nextafter(lower, np.inf), np.nextafter(upper, -np.inf))
        result = least_squares(residual, x0, bounds=(lower, upper), x_scale="jac")
        if best is None or result.cost < best.cost:
            best = result
    dof = max(best.fun.size - best.x.size, 1)
    reduced_chi2 = float(2 * best.cost / dof)
    covariance = np.linalg.pinv(best.jac.T @ best.jac) * reduced_chi2
    return best.x, np.sqrt(np.clip(np.diag(covariance), 0, None)), reduced_chi2


def _bounds(model: str, q_floor: float) -> tuple[list[float], list[float]]:
    """c1 ∈ [0, 1], c2, c3 > 0 (what `MTF` accepts), and no fall-off hidden below ``q_floor``.

    Noise cannot see the MTF between q = 0 and the lowest measured q, and only a few noisy
    frequencies just above; a model that drops there would fit that noise and trade off
    against NPS(0) (white noise fitted as a step at q ≈ 0.04, or as a cusp at q = 0 with
    c3 → 0, and NPS(0) 30–80 % high). So the rational form keeps its half point 2 c2 ≥
    ``q_floor`` and 1 ≤ c3 ≤ 20 (c3 < 1 is a cusp at q = 0, a PSF whose mean radius
    diverges), and the exp_gauss form its decay lengths 1/c2, 1/c3 ≥ ``q_floor``.
    """
    if model == "rational":
        return [0.0, q_floor / 2, 1.0], [1.0, np.inf, MAX_POWER]
    return [0.0, 1e-6, 1e-6], [1.0, 1 / q_floor, 1 / q_floor]


def _fit_summary(
    model: str, c: np.ndarray, errors: np.ndarray, chi2: float, weighted: bool
) -> dict[str, Any]:
    names = ("c1", "c2", "c3")
    summary = {
        "model": model,
        "parameters": {name: float(value) for name, value in zip(names, c[:3], strict=True)},
    }
    if weighted:
        summary["errors"] = {
            name: float(value) for name, value in zip(names, errors[:3], strict=True)
        }
        summary["reduced_chi2"] = chi2
    else:
        # with unit weights the reduced χ² is the mean squared residual; the residuals of an
        # edge MTF are correlated across q (window, central difference, edge position), so
        # standard errors from them would be several times too small and are not given
        summary["rms_residual"] = chi2**0.5
    return summary


def _table(q: np.ndarray, values: np.ndarray, pixel_sinc: bool = False) -> MTF:
    """An `MTF.from_table` through (0, 1) and the measured points (clipped to its range)."""
    if q[0] > 0:
        q, values = np.concatenate([[0.0], q]), np.concatenate([[1.0], values])
    values = np.clip(values, 0.0, 1.5)
    values[0] = 1.0
    return MTF.from_table(q, values, pixel_sinc=pixel_sinc)


def _check_common(model: str, sampling: float | None) -> tuple[str, float | None]:
    model = check_choice("model", model, MODELS)
    if sampling is not None:
        sampling = check_positive("sampling", sampling)
    return model, sampling


# ---------------------------------------------------------------- flat fields


def _frames(flat_fields: Any) -> np.ndarray:
    """The flat fields as a float64 stack [n, x, y], validated (before any work)."""
    if isinstance(flat_fields, (list, tuple)) and len(flat_fields) == 0:
        raise ValueError("flat_fields must hold at least one frame, got an empty sequence")
    if isinstance(flat_fields, (list, tuple)) and all(np.ndim(f) == 2 for f in flat_fields):
        shapes = [np.shape(frame) for frame in flat_fields]
        for index, shape in enumerate(shapes):
            if shape != shapes[0]:
                raise ValueError(
                    f"flat_fields: all frames must have one shape [x, y]; frame {index} is "
                    f"{shape}, frame 0 is {shapes[0]}"
                )
    if np.ndim(flat_fields) not in (2, 3):
        raise ValueError(
            "flat_fields must be one frame [x, y] or a stack [n, x, y] of counts (at least 2 "
            f"dimensions, at most 3), got shape {np.shape(flat_fields)}"
        )
    frames = check_finite_array("flat_fields", flat_fields)
    if frames.ndim == 2:
        frames = frames[None]
    if min(frames.shape[1:]) < MIN_SIZE:
        raise ValueError(
            f"flat_fields frames must be at least {MIN_SIZE}×{MIN_SIZE} pixels, got "
            f"{frames.shape[1:]}"
        )
    lowest = frames.min(axis=(1, 2))
    if np.any(lowest < MIN_COUNT):
        index = int(np.argmin(lowest))
        raise ValueError(
            f"flat_fields must be counts >= 0 (down to {MIN_COUNT} is accepted as the ringing "
            f"of an MTF applied to the counts); frame {index} reaches {lowest[index]:.4g}"
        )
    means = frames.mean(axis=(1, 2))
    if np.any(means <= 0):
        index = int(np.argmin(means))
        raise ValueError(f"flat_fields must have a mean > 0; frame {index} has {means[index]}")
    return frames


def _plane(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane a + b_x u + b_y v of a frame (u, v ∈ [−½, ½] across it).

    Returns the plane [x, y] and its change across the frame relative to the mean,
    √(b_x² + b_y²)/a (on a regular grid u and v are orthogonal, so each slope is a 1D fit
    to the row or column means).
    """
    nx, ny = frame.shape
    u = (np.arange(nx) - (nx - 1) / 2) / nx
    v = (np.arange(ny) - (ny - 1) / 2) / ny
    mean = frame.mean()
    bx = u @ (frame.mean(axis=1) - mean) / (u @ u)
    by = v @ (frame.mean(axis=0) - mean) / (v @ v)
    return mean + bx * u[:, None] + by * v[None, :], float(np.hypot(bx, by) / mean)


def estimate_mtf(
    flat_fields: Any,
    model: str = "rational",
    *,
    sampling: float | None = None,
    gain: float = 1.0,
    signal_mtf: MTF | MTFEstimate | None = None,
    bin_width: float | None = None,
    q_max: float = _SQRT2,
    nps0_q: float = 0.1,
    window: bool = True,
) -> MTFEstimate:
    """The camera MTF and DQE from uniformly illuminated frames (the noise power spectrum).

    For a shot-noise-limited camera whose blur acts on the counted electrons (a scintillator;
    `Camera` applies its MTF to the Poisson counts), the noise power spectrum is
    NPS(q) = NPS(0)·MTF²(q) (the seed's noise spectral density, §2.6 and Fig 2.4), so
    MTF(q) = √(NPS(q)/NPS(0)).

    Steps, per frame: subtract the least-squares plane (the mean and any slight gradient),
    multiply by a 2D Hann window, |FFT|² divided by Σ window² (so white noise of variance σ²
    gives NPS = σ² [counts² per pixel]); average the frames; average in radial bins of q.
    NPS(0) is the low-frequency noise power (the variance of b×b-binned frames / b² for large
    b). It is measured as the mean of the unwindowed periodogram at 0 < q ≤ ``nps0_q``: the
    Fourier-space form of the binned variance (b ≈ 2/``nps0_q``) without the sinc² side lobes
    of real-space binning, which let the blurred high-frequency noise in and bias it low (by
    3 % at b = 16 for the rational MTF c = 0.1, 0.5, 2.5). This gives DQE(0) and normalises a
    table (biased low by the mean of 1 − MTF² there: 0.3 % for that MTF; a parametric model
    divides its own mean MTF² there out of DQE(0)). A parametric model normalises the NPS by
    the amplitude a of its fit a·MTF²(q) to every bin and the low-q mean (MTF(0) = 1), which
    pins c1 better than the low-q mean alone.

    Parameters
    ----------
    flat_fields
        One frame [x, y], a stack [n, x, y] or a sequence of frames of one shape [counts].
        Each must be flat: its fitted plane may change by at most 5 % across the frame.
    model
        ``"rational"`` (seed Eq 2.21), ``"exp_gauss"`` or ``"table"`` (the measured
        √(NPS/NPS(0)) per bin, linearly interpolated).
    sampling
        Pixel size δ [Å]; only fills ``.k`` [1/Å].
    gain
        Counts per detected electron, known from elsewhere, > 0; only scales DQE(0).
    signal_mtf
        The MTF that transfers signal, measured independently (e.g. `mtf_from_edge`), for the
        DQE; default the MTF estimated here, which makes DQE(q) = DQE(0) wherever it fits.
    bin_width
        Width of the radial q bins; default max(0.01, 2 frequency-grid steps), in (0, 0.5].
    q_max
        Largest q binned and fitted, in (0, √2] (√2 is the corner of the spectrum).
    nps0_q
        Upper q of the low-frequency region whose mean noise power is NPS(0) for a table, in
        (0, 0.5]; widened to 8 grid steps past the lowest q used on small frames. A
        parametric fit is kept from falling off below it (rational: 2 c2 ≥ ``nps0_q``,
        1 ≤ c3 ≤ 20; exp_gauss: c2, c3 ≤ 1/``nps0_q``), where the noise of the few lowest
        frequencies could otherwise pass for a step.
    window
        Hann-window each frame (against the leakage of its non-periodic borders). False is
        exact only for periodic frames (e.g. `Camera`'s, whose MTF acts by FFT) and has
        (35/18)² = 3.8× less variance per bin.

    Returns
    -------
    MTFEstimate
        ``.mtf``, ``.q``, ``.measured`` (√NPS), ``.nps`` (normalised), ``.dqe``, ``.dqe0``,
        ``.fit``; ``.info`` holds ``mean`` [counts], ``nps0`` [counts² per pixel, what
        ``.nps`` is divided by], ``nps0_low_q`` (the model-free mean at q ≤ ``nps0_q``),
        ``dqe0_error`` (one standard error), ``gain``, ``frames``, ``shape``,
        ``max_gradient``, ``nps0_q``, ``bin_width`` and ``signal_mtf``.

    Notes
    -----
    DQE(0): with n̄ electrons per pixel and g counts per electron, the input SNR² is n̄ and
    the output's is (g n̄)²/NPS(0), so DQE(0) = g²n̄/NPS(0) = g·mean/NPS(0) (mean in counts).
    Pure Poisson counts (g = 1, NPS(0) = n̄) give 1; a scintillator whose electrons each give
    a Poisson number of counts of mean g (NPS(0) = n̄(g² + g)) gives g/(1 + g); a constant
    gain alone leaves it at 1. With the NPS normalised to NPS(0) = 1,
    DQE(q) = g² n̄ MTF²(q)/NPS(q) = MTF²(q)·DQE(0)/NPS_norm(q) (IEC 62220-1). The gain cannot
    be told from the flat fields alone (a gain g and a Swank factor look alike), hence
    ``gain``. Fixed-pattern noise (pixel-to-pixel gain differences) adds to the NPS; subtract
    a gain reference first, or pass differences of frame pairs divided by √2.

    Examples
    --------
    >>> from atomscope.detection import Camera
    >>> camera = Camera(sampling=1.0, dose=50.0, mtf=MTF("rational", 0.1, 0.5, 2.5))
    >>> frames = [camera.detect(np.ones((128, 128)), sampling=1.0, rng=s).array for s in range(2)]
    >>> estimate = estimate_mtf(frames, model="rational")
    >>> estimate.mtf.name, bool(abs(estimate.mtf.evaluate(1.0) - 0.55) < 0.1)
    ('rational', True)
    """
    model, sampling = _check_common(model, sampling)
    gain = check_positive("gain", gain)
    if isinstance(signal_mtf, MTFEstimate):
        signal_mtf = signal_mtf.mtf
    if signal_mtf is not None and not isinstance(signal_mtf, MTF):
        raise TypeError(
            f"signal_mtf must be an MTF, an MTFEstimate or None, got {type(signal_mtf).__name__}"
        )
    if bin_width is not None:
        bin_width = check_range("bin_width", bin_width, 0.0, 0.5, low_open=True)
    q_max = check_range("q_max", q_max, 0.0, _SQRT2, low_open=True)
    nps0_q = check_range("nps0_q", nps0_q, 0.0, 0.5, low_open=True)
    if not isinstance(window, (bool, np.bool_)):
        raise TypeError(f"window must be True or False, got {window!r}")
    frames = _frames(flat_fields)
    planes, gradients = zip(*(_plane(frame) for frame in frames), strict=True)
    worst = int(np.argmax(gradients))
    if gradients[worst] > MAX_GRADIENT:
        raise ValueError(
            f"flat_fields must be flat: the fitted plane of frame {worst} changes by "
            f"{100 * gradients[worst]:.1f} % of its mean across the frame (allowed ≤ "
            f"{100 * MAX_GRADIENT:g} %)"
        )

    shape = frames.shape[1:]
    step = 2 / min(shape)  # frequency-grid step in q
    if window:
        taper = hann(shape[0], sym=False)[:, None] * hann(shape[1], sym=False)[None, :]
    power = np.zeros(shape)
    plain = np.zeros(shape)
    for frame, plane in zip(frames, planes, strict=True):
        # periodograms (Welch 1967): |FFT|² / Σ window², so white noise of variance σ² gives σ²
        # at every q. The Hann-windowed one, free of the leakage of the frame's borders, gives
        # the spectrum; the plain one (3.8× less variance at low q, where leakage from other q
        # is negligible) gives the low-q mean.
        plain += np.abs(fft2(frame - plane)) ** 2 / frame.size
        if window:
            power += np.abs(fft2((frame - plane) * taper)) ** 2 / np.sum(taper**2)
    plain /= len(frames)
    power = power / len(frames) if window else plain

    q_all = nyquist_fraction(shape).ravel()
    power = power.ravel()
    # the removed plane (and the window's main lobe, ±2 grid steps) touch the lowest q
    q_low = 4 * step
    width = bin_width if bin_width is not None else max(0.01, 2 * step)
    keep = (q_all >= q_low) & (q_all <= q_max)
    index = np.floor(q_all[keep] / width).astype(int)
    counts = np.bincount(index)
    sums = np.bincount(index, weights=power[keep])
    q_sums = np.bincount(index, weights=q_all[keep])
    full = counts >= MIN_BIN_COUNT
    counts, q_bins, nps_abs = counts[full], q_sums[full] / counts[full], sums[full] / counts[full]
    # independent values per bin: periodogram values scatter by their mean (χ², 2 degrees of
    # freedom), half the frequencies are the other half's conjugates, and the Hann window
    # correlates neighbours (Σ_k ρ_k = 1 + 2(4/9 + 1/36) = 35/18 per axis)
    independent = counts * len(frames) / 2 / (WINDOW_CORRELATION if window else 1.0)

    nps0_q = max(nps0_q, q_low + 8 * step)
    low = (q_all >= q_low) & (q_all <= nps0_q)
    # NPS(0) for a table: the mean noise power at low q, the Fourier-space form of the
    # variance of binned frames (its bias is the mean of 1 − MTF² there: 0.3 % for Eq 2.21
    # with c = 0.1, 0.5, 2.5)
    nps0 = float(plain.ravel()[low].mean())
    nps0_low_q = nps0
    low_independent = low.sum() * len(frames) / 2
    # the low-q frequencies, histogrammed in q for the fit (a weighted mean of MTF²)
    low_index = np.floor(q_all[low] / (step / 4)).astype(int)
    low_counts = np.bincount(low_index)
    filled = low_counts > 0
    low_q = np.bincount(low_index, weights=q_all[low])[filled] / low_counts[filled]
    low_weights = low_counts[filled] / low.sum()

    if model == "table":
        nps = nps_abs / nps0
        measured = np.sqrt(np.clip(nps, 0, None))
        mtf = _table(q_bins, measured)
        fit = {"model": "table"}
    else:
        # Fit a·MTF²(q) to the NPS itself, the measured quantity: its bin means are close to
        # Gaussian with relative error 1/√n, so weighted least squares is the maximum-
        # likelihood fit (√NPS would need its own error model for nothing gained). MTF(0) = 1
        # makes the amplitude a = NPS(0): every bin and the unwindowed low-q mean fix it.
        # The errors come from the model, not the noisy bins (that would bias the fit low),
        # and are refined twice.
        target = nps_abs / nps0
        sigma = np.maximum(target, 1e-9) / np.sqrt(independent)
        low_sigma = 1 / np.sqrt(low_independent)

        def residual(p: np.ndarray) -> np.ndarray:
            radial = MTF(model, *p[:3])._radial
            binned = (p[3] * radial(q_bins) ** 2 - target) / sigma
            # the low-q mean is the mean of a·MTF² over its frequencies (target 1)
            return np.append(binned, (p[3] * (low_weights @ radial(low_q) ** 2) - 1) / low_sigma)

        lower, upper = _bounds(model, nps0_q)
        starts = [(*start, 1.0) for start in _starts(model, q_bins, np.sqrt(target.clip(0)))]
        for _ in range(3):
            p, errors, chi2 = _fit(residual, starts, [*lower, 1e-9], [*upper, np.inf])
            starts = [tuple(p)]
            sigma = p[3] * MTF(model, *p[:3])._radial(q_bins) ** 2 / np.sqrt(independent)
        nps0 *= p[3]
        nps = nps_abs / nps0
        measured = np.sqrt(np.clip(nps, 0, None))
        mtf = MTF(model, *p[:3])
        fit = _fit_summary(model, p, errors, chi2, weighted=True)

    mean = float(frames.mean())
    # DQE(0) = g²n̄/NPS(0) with n̄ = mean/g electrons per pixel (see Notes), NPS(0) from the
    # low-q mean (model-free; a model's own fall-off there, ⟨MTF²⟩, is divided out)
    low_transfer = float(low_weights @ mtf.evaluate(low_q) ** 2) if model != "table" else 1.0
    dqe0 = gain * mean * low_transfer / nps0_low_q
    transfer = (signal_mtf if signal_mtf is not None else mtf).evaluate(q_bins)
    # DQE(q) = g²n̄ MTF²(q)/NPS(q) (IEC 62220-1) = MTF²(q)·DQE(0)/NPS_norm(q)
    dqe = gain * mean * transfer**2 / np.maximum(nps_abs, 1e-300)
    return MTFEstimate(
        mtf=mtf,
        q=q_bins,
        measured=measured,
        k=None if sampling is None else q_bins / (2 * sampling),
        nps=nps,
        dqe=dqe,
        dqe0=float(dqe0),
        method="flat_field",
        fit=fit,
        info={
            "mean": mean,
            "nps0": float(nps0),
            "nps0_low_q": nps0_low_q,
            # relative standard error of a mean of periodogram values (each scatters by its
            # mean), propagated to DQE(0)
            "dqe0_error": float(dqe0 / np.sqrt(low_independent)),
            "gain": gain,
            "frames": len(frames),
            "shape": list(shape),
            "max_gradient": float(gradients[worst]),
            "nps0_q": float(nps0_q),
            "bin_width": float(width),
            "signal_mtf": None if signal_mtf is None else signal_mtf.parameters(),
        },
    )


# ---------------------------------------------------------------- slanted edge


def _no_edge(reason: str) -> ValueError:
    return ValueError(f"image has no edge: {reason}")


def _edge_centres(rising: np.ndarray, centre: np.ndarray, half: float) -> np.ndarray:
    """Per line j (axis 1), the centroid of the derivative along axis 0 (ISO 12233).

    The derivative is weighted by a Hamming window of half-width ``half`` centred at
    ``centre[j]``; lines whose windowed derivative does not sum to > 0 give NaN.
    """
    positions = np.arange(1, rising.shape[0] - 1, dtype=float)[:, None]
    derivative = (rising[2:] - rising[:-2]) / 2
    offset = (positions - centre[None, :]) / half
    window = np.where(np.abs(offset) < 1, 0.54 + 0.46 * np.cos(np.pi * offset), 0.0)
    weights = derivative * window
    total = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = (weights * positions).sum(axis=0) / total
    return np.where(total > 0, centroid, np.nan)


def _fit_line(lines: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Least-squares line through the per-line edge positions, twice rejecting outliers."""
    good = np.isfinite(centres)
    for _ in range(3):
        if good.sum() < 2:
            raise _no_edge("it could be located on fewer than 2 lines")
        coefficients = np.polyfit(lines[good], centres[good], 1)
        residual = centres - np.polyval(coefficients, lines)
        spread = 1.4826 * np.median(np.abs(residual[good])) + 0.05
        good = np.isfinite(centres) & (np.abs(residual) <= 3 * spread)
    return coefficients


def mtf_from_edge(
    image: Any,
    model: str = "table",
    *,
    sampling: float | None = None,
    oversampling: int = 4,
    pixel_sinc: bool = False,
    q_max: float = 1.0,
) -> MTFEstimate:
    """The presampling MTF from an image of a straight, slightly slanted edge (ISO 12233).

    Steps: find the edge's orientation (the axis across which the mean profile steps); on
    each line across it, the centroid of the derivative in a Hamming window (three passes,
    each around the previous fit) gives the edge position; a least-squares line through them
    gives the edge. Every pixel is projected to its perpendicular distance from that line
    and averaged in bins of 1/``oversampling`` pixel: an oversampled edge-spread function
    (ESF), free of aliasing because the slant spreads the pixels over all sub-pixel phases.
    Its central difference is the line-spread function (LSF); Hamming-windowed and Fourier
    transformed (by a direct sum at the requested q) it gives the MTF, normalised to 1 at
    q = 0 and divided by the transfer of the central difference, sinc(2fΔ), and of the
    binning, sinc(fΔ) (f = q/2 cycles per pixel, Δ = 1/oversampling).

    The perpendicular distance makes q the frequency along the edge normal, so no cos θ
    correction is needed. The result includes the pixel aperture (sinc(q_x/2)·sinc(q_y/2))
    and any blur before sampling; ``pixel_sinc=True`` divides it out of a table, or fits the
    model times it, and returns an `MTF` with ``pixel_sinc=True``.

    Parameters
    ----------
    image
        2D array [x, y] containing one straight edge crossing the whole image, at 2–10° to a
        pixel axis (it must move by at least one pixel along the image), roughly centred
        and at least 4 pixels from the border; at least 16×16 pixels.
    model
        ``"table"`` (the measured curve), ``"rational"`` or ``"exp_gauss"`` (fitted by
        least squares to the measured MTF, uniform weights).
    sampling
        Pixel size δ [Å]; only fills ``.k`` [1/Å].
    oversampling
        ESF bins per pixel, an integer in [2, 16] (ISO 12233: 4).
    pixel_sinc
        Whether to model the result as (table or model) × the pixel aperture.
    q_max
        Largest q reported, in (0, min(1.5, oversampling/2)].

    Returns
    -------
    MTFEstimate
        ``.mtf``, ``.q`` (an even grid from 0 with step 1/R, R the ESF half-range in
        pixels), ``.measured``, ``.fit``; ``.nps``, ``.dqe`` and ``.dqe0`` are None;
        ``.info`` holds ``edge_angle`` [mrad, from the pixel axis it runs along],
        ``normal_axis`` (``"x"`` or ``"y"``), ``contrast``, ``noise`` (per pixel),
        ``half_range`` [pixels] and ``empty_bins``.

    Raises
    ------
    ValueError
        "image has no edge" when the step across the image is below 3 pixel-noise standard
        deviations, or is a gradient rather than an edge (less than 75 % of the mean
        profile's rise within a quarter of the image of its centre, or of the LSF within half
        its range of the fitted edge); "image: the edge ..." when it is not slanted enough or
        too close to the border; and for bad arguments.

    Examples
    --------
    >>> x, y = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    >>> edge = (x - 32 - 0.1 * (y - 32) > 0).astype(float)  # ideal edge, 5.7° slant
    >>> estimate = mtf_from_edge(edge)
    >>> bool(estimate.measured[0] == 1.0), round(float(estimate.info["edge_angle"]))
    (True, 100)
    """
    model, sampling = _check_common(model, sampling)
    oversampling = check_positive_int("oversampling", oversampling)
    if not 2 <= oversampling <= 16:
        raise ValueError(f"oversampling must be an integer in [2, 16], got {oversampling}")
    if not isinstance(pixel_sinc, (bool, np.bool_)):
        raise TypeError(f"pixel_sinc must be True or False, got {pixel_sinc!r}")
    q_max = check_range("q_max", q_max, 0.0, min(1.5, oversampling / 2), low_open=True)
    if np.ndim(image) != 2:
        raise ValueError(f"image must be a 2D array [x, y], got shape {np.shape(image)}")
    array = check_finite_array("image", image)
    if min(array.shape) < MIN_SIZE:
        raise ValueError(f"image must be at least {MIN_SIZE}×{MIN_SIZE} pixels, got {array.shape}")

    def step_across(profile: np.ndarray) -> float:
        quarter = max(1, profile.size // 4)
        return float(profile[-quarter:].mean() - profile[:quarter].mean())

    # 1. orientation: the edge runs along the axis whose mean profile does not step
    normal_axis = "x"
    if abs(step_across(array.mean(axis=0))) > abs(step_across(array.mean(axis=1))):
        array, normal_axis = array.T, "y"
    contrast = step_across(array.mean(axis=1))
    along = np.diff(array, axis=1)
    # robust pixel noise from differences along the edge (MAD, /√2 for the difference)
    noise = float(1.4826 * np.median(np.abs(along - np.median(along))) / np.sqrt(2))
    scale = float(np.max(np.abs(array)))
    if not abs(contrast) > max(EDGE_MIN_CONTRAST * noise, 1e-9 * scale):
        raise _no_edge(
            f"the step across it, {abs(contrast):.3g}, is below {EDGE_MIN_CONTRAST:g} × the "
            f"pixel noise {noise:.3g}"
        )
    rising = array * np.sign(contrast)
    n0, n1 = rising.shape
    lines = np.arange(n1, dtype=float)

    # 2. edge position per line (derivative centroid, ISO 12233), a line fitted through them
    profile = rising.mean(axis=1)
    slope_profile = np.clip((profile[2:] - profile[:-2]) / 2, 0, None)
    if slope_profile.sum() <= 0:
        raise _no_edge("the mean profile across it does not rise")
    start = float(np.arange(1, n0 - 1) @ slope_profile / slope_profile.sum())
    near = np.abs(np.arange(1, n0 - 1) - start) <= n0 / 4
    if slope_profile[near].sum() < EDGE_MIN_SHARE * slope_profile.sum():
        raise _no_edge(
            f"less than {100 * EDGE_MIN_SHARE:g} % of the mean profile's rise happens within "
            f"{n0 / 4:g} pixels of its centre (a gradient, not an edge)"
        )
    centres = _edge_centres(rising, np.full(n1, start), n0 / 2)
    coefficients = _fit_line(lines, centres)
    for _ in range(2):
        centres = _edge_centres(rising, np.polyval(coefficients, lines), max(8.0, n0 / 4))
        coefficients = _fit_line(lines, centres)
    slope, intercept = float(coefficients[0]), float(coefficients[1])
    if abs(slope) * n1 < 1:
        raise ValueError(
            f"image: the edge is at {1e3 * np.arctan(abs(slope)):.1f} mrad to the pixel axis "
            f"and moves by {abs(slope) * n1:.2f} pixel along the image; it must be slanted "
            "(ISO 12233: 2–10°) so that it moves by at least 1 pixel"
        )
    cosine = 1 / np.hypot(1, slope)
    edge = intercept + slope * lines
    half_range = float(min(edge.min(), n0 - 1 - edge.max()) * cosine)
    if half_range < 4:
        raise ValueError(
            f"image: the edge comes within {max(half_range, 0):.1f} pixel of the border; it "
            "must stay at least 4 pixels away on every line"
        )

    # 3. oversampled ESF: perpendicular distance of every pixel, bins of 1/oversampling pixel
    delta = 1 / oversampling
    distance = (np.arange(n0, dtype=float)[:, None] - edge[None, :]) * cosine
    n_bins = int(np.floor(2 * half_range / delta))
    index = np.floor((distance + half_range) / delta).astype(int).ravel()
    inside = (index >= 0) & (index < n_bins)
    counts = np.bincount(index[inside], minlength=n_bins)
    sums = np.bincount(index[inside], weights=rising.ravel()[inside], minlength=n_bins)
    centres_bins = -half_range + (np.arange(n_bins) + 0.5) * delta
    filled = counts > 0
    empty = int(n_bins - filled.sum())
    if empty > n_bins / 4:
        raise ValueError(
            f"image: {empty} of {n_bins} ESF bins are empty (the edge's slope "
            f"{slope:.4f} repeats too few sub-pixel phases); tilt it by another angle"
        )
    esf = np.interp(centres_bins, centres_bins[filled], sums[filled] / counts[filled])

    # 4. LSF by central difference, Hamming window, Fourier sum, corrections
    lsf = (esf[2:] - esf[:-2]) / 2
    x = centres_bins[1:-1]
    total = lsf.sum()
    if total <= 0 or np.sum(lsf[np.abs(x) <= half_range / 2]) < EDGE_MIN_SHARE * total:
        raise _no_edge(
            f"less than {100 * EDGE_MIN_SHARE:g} % of the intensity step happens within "
            f"{half_range / 2:.1f} pixels of the fitted edge (a gradient, not an edge)"
        )
    lsf = lsf * (0.54 + 0.46 * np.cos(np.pi * x / half_range))  # Hamming (ISO 12233)
    q = np.arange(0.0, q_max + 0.5 / half_range, 1 / half_range)
    q = q[q <= q_max + 1e-12]
    if q.size < 4:
        raise ValueError(
            f"q_max={q_max:g} holds only {q.size} frequencies at the edge's resolution "
            f"1/{half_range:.1f}; it must hold at least 4 (raise q_max or use a wider image)"
        )
    f = q / 2  # cycles per pixel
    transform = np.abs(np.exp(-2j * np.pi * f[:, None] * x[None, :]) @ lsf)
    # central difference transfers sin(2πfΔ)/(2πfΔ); Δ-wide bins average: sinc(fΔ)
    correction = np.sinc(2 * f * delta) * np.sinc(f * delta)
    measured = transform / transform[0] / correction

    theta = float(np.arctan(abs(slope)))
    # pixel aperture along the edge normal, at θ to the profile axis
    aperture = np.sinc(q * np.cos(theta) / 2) * np.sinc(q * np.sin(theta) / 2)
    if model == "table":
        mtf = _table(q, measured / aperture if pixel_sinc else measured, bool(pixel_sinc))
        fit = {"model": "table"}
    else:
        factor = aperture if pixel_sinc else np.ones_like(q)
        lower, upper = _bounds(model, 2 * q[1])
        c, errors, chi2 = _fit(
            lambda c: MTF(model, *c)._radial(q) * factor - measured,  # unit weights
            _starts(model, q, measured / factor),
            lower,
            upper,
        )
        mtf = MTF(model, *c, pixel_sinc=bool(pixel_sinc))
        fit = _fit_summary(model, c, errors, chi2, weighted=False)
    return MTFEstimate(
        mtf=mtf,
        q=q,
        measured=measured,
        k=None if sampling is None else q / (2 * sampling),
        method="edge",
        fit=fit,
        info={
            "edge_angle": 1e3 * theta,
            "normal_axis": normal_axis,
            "contrast": abs(contrast),
            "noise": noise,
            "half_range": half_range,
            "oversampling": oversampling,
            "empty_bins": empty,
        },
    )
