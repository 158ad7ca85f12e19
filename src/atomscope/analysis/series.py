"""Image series: drift, the sites atoms occupy, and how often each site is occupied and flips
(seed §6.4.3, Figs 6.25–6.27).

The pipeline, `analyse_series`:

1. drift — `drift.measure_drift`: each frame registered against the running average of the
   frames placed before it, then passes choosing among each frame's likelihood maxima against
   the mean of the other frames the most likely path of bounded steps; a camera's frames are
   compared through their interior, so they need not be periodic. The frames (or a model's
   atom probability in them) are then moved back onto the first frame's field of view
   (`align_frames`), NaN where a frame did not see;
2. sites — peaks of the drift-corrected mean image: a site occupied in a fraction of the frames
   still shows in the mean of hundreds, where a single low-dose frame shows nothing;
   With a recognition model (``model``), each frame is replaced by the network's
   probability that a pixel lies in an atom (`Recognizer.atom_probability`) before the sites and
   their signals are taken, so the sites are where the model finds atoms over the frames;
3. occupancy — each site's signal (Gaussian-weighted intensity around it) over the frames is
   explained by a two-state hidden Markov model with Gaussian emissions (Baum–Welch, then
   Viterbi; Rabiner, Proc. IEEE 77 (1989) 257), kept only when it beats one state by the
   Bayesian information criterion. The temporal context is what makes frames of a few hundred
   e⁻/Å² usable: a frame is not classified alone but against the site's whole history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from atomscope.analysis.drift import measure_drift, shift_frames
from atomscope.analysis.peaks import find_peaks, refine_peaks
from atomscope.core.validate import check_finite_array, check_pair, check_positive

#: Fewest pixels between two sites: closer, neighbouring sites cannot be told apart.
MIN_SPACING_PIXELS = 2
#: Least fraction of the frames that must see a site (a camera's frames drift past sites near
#: their edges) for its statistics to be reported.
MIN_SEEN = 0.5
#: Most rounds of the matched filter: contrast from the states, states from the contrast (a
#: particle's surface at 3.1e2 e⁻/Å²: as good after 3 as after 10, each round a fit of every
#: site not settled); a site whose states change in less than this fraction of its frames has
#: settled (a site may swap a frame or two back and forth from round to round).
MATCHED_FILTER_ROUNDS = 3
MATCHED_FILTER_SETTLED = 0.01

__all__ = [
    "SeriesResult",
    "align_frames",
    "analyse_series",
    "measure_drift",
    "occupancy_from_signals",
    "orient_states",
    "series_model",
    "shift_frames",
    "site_signals",
]


def align_frames(
    frames: np.ndarray, drift: np.ndarray, sampling: float | tuple[float, float], periodic: bool
) -> np.ndarray:
    """Frames [t, x, y] moved back by their drift (t, 2) [Å] onto the first frame's field of
    view: periodic frames by Fourier shifts, a camera's by linear interpolation with NaN where
    the frame did not see (single precision).

    Examples
    --------
    >>> frames = np.arange(32.0).reshape(2, 4, 4)
    >>> aligned = align_frames(frames, np.array([[0, 0], [0, 0.5]]), 0.5, periodic=False)
    >>> aligned[1, 0].tolist()
    [17.0, 18.0, 19.0, nan]
    """
    pixel = np.asarray(check_pair("sampling", sampling))
    if periodic:
        return shift_frames(frames, -drift, tuple(pixel)).astype(np.float32)
    aligned = np.empty(frames.shape, dtype=np.float32)
    for t, (frame, moved) in enumerate(zip(frames, drift, strict=True)):
        # aligned(x) = frame(x + drift): what the scene's point x looked like in frame t
        aligned[t] = ndimage.shift(
            np.asarray(frame, dtype=float), -moved / pixel, order=1, cval=np.nan, prefilter=False
        )
    return aligned


def site_signals(
    frames: np.ndarray,
    sites: np.ndarray,
    sampling: tuple[float, float],
    width: float,
    profile: str = "gaussian",
    periodic: bool = True,
) -> np.ndarray:
    """Weighted intensity (t, m) of drift-corrected ``frames`` [t, x, y] around each site
    (m, 2) [Å] over the pixels within 3 w, ``width`` w [Å]; NaN where a frame did not see all
    of those pixels (a NaN pixel, or with ``periodic`` False one beyond the frame's edge;
    periodic frames wrap).

    ``profile="gaussian"``: weights exp(−r²/(2w²)), the site's integrated intensity.
    ``profile="peak"``: weights (2 − r²/w²) exp(−r²/(2w²)), minus the Laplacian of that
    Gaussian: zero on a flat or linearly varying background, positive on a bright peak at the
    site and negative on a dark one, whatever the level around it.

    Examples
    --------
    >>> x = np.arange(40) * 0.1
    >>> peak = np.exp(-((x[:, None] - 2) ** 2 + (x[None, :] - 2) ** 2) / 0.1)
    >>> frames = np.stack([5 + peak, 5 - peak, np.full((40, 40), 5.0)])
    >>> signals = site_signals(frames, np.array([[2.0, 2.0]]), (0.1, 0.1), 0.5, "peak")[:, 0]
    >>> bool(signals[0] > 0 > signals[1]), round(abs(float(signals[2])), 9)
    (True, 0.0)
    """
    if profile not in ("gaussian", "peak"):
        raise ValueError(f"profile must be 'gaussian' or 'peak', got {profile!r}")
    pixel = np.asarray(sampling)
    radius = np.ceil(3 * width / pixel).astype(int)
    offsets = np.stack(
        np.meshgrid(*[np.arange(-r, r + 1) for r in radius], indexing="ij"), axis=-1
    ).reshape(-1, 2)
    signals = np.empty((len(frames), len(sites)))
    for j, site in enumerate(sites / pixel):
        centre = np.round(site).astype(int)
        points = centre + offsets
        distance2 = np.sum(((points - site) * pixel) ** 2, axis=1)
        inside = distance2 <= (3 * width) ** 2
        weights = np.exp(-distance2[inside] / (2 * width**2))
        if profile == "peak":
            weights *= 2 - distance2[inside] / width**2
            weights -= weights.mean()  # exactly zero on a flat background
        points = points[inside]
        if periodic:
            points = points % np.array(frames.shape[1:])
        elif np.any(points < 0) or np.any(points >= np.array(frames.shape[1:])):
            signals[:, j] = np.nan
            continue
        signals[:, j] = frames[:, points[:, 0], points[:, 1]] @ weights
    return signals


def orient_states(
    occupancy: np.ndarray, peak_signals: np.ndarray, bright_atoms: bool = True
) -> np.ndarray:
    """``occupancy`` (t, m) with the two states of a flipping site swapped where the frames it
    calls occupied show less of an atom's peak at the site than those it calls empty.

    Which of a site's two signal levels is the atom cannot be read from its integrated
    intensity alone: at a particle's surface the lens's fringes can make the region around an
    atom darker although the atom itself is a bright peak. ``peak_signals`` (`site_signals`
    with ``profile="peak"``) are blind to the level around the site.

    Examples
    --------
    >>> occupancy = np.array([[True], [False], [True]])
    >>> orient_states(occupancy, np.array([[0.1], [2.0], [0.0]]))[:, 0].tolist()
    [False, True, False]
    """
    sign = 1.0 if bright_atoms else -1.0
    oriented = occupancy.copy()
    both = oriented.any(axis=0) & (~oriented).any(axis=0)
    for j in np.flatnonzero(both):
        on = np.nanmean(peak_signals[oriented[:, j], j])
        off = np.nanmean(peak_signals[~oriented[:, j], j])
        if sign * (on - off) < 0:
            oriented[:, j] = ~oriented[:, j]
    return oriented


def _gaussian_log(values: np.ndarray, means: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """log N(values; means, variance) for (T, m) values, (m, 2) means, (m,) variance → (T, m, 2);
    0 for both states where a value is missing (NaN: the frame did not see the site), so the
    chain passes that frame on its transitions alone."""
    missing = np.isnan(values)[:, :, None]
    filled = np.where(missing[:, :, 0], 0.0, values)
    log = -0.5 * (
        (filled[:, :, None] - means[None]) ** 2 / variance[None, :, None]
        + np.log(2 * np.pi * variance)[None, :, None]
    )
    return np.where(missing, 0.0, log)


def _forward_backward(log_emission, log_transition, log_start):
    """Posteriors (T, m, 2), summed pair posteriors (m, 2, 2) and log-likelihoods (m,) of m
    independent two-state chains (Rabiner 1989, §III, with its scaling, Eqs 91–93: each
    frame's forward variables are normalised to sum 1 and the log-likelihood is the sum of the
    logs of the normalisers; emissions are divided by their larger state first, which adds
    back its log)."""
    offset = np.maximum(log_emission[:, :, 0], log_emission[:, :, 1])  # (T, m)
    emission = np.exp(log_emission - offset[:, :, None])  # the larger state of each is 1
    posterior, pairs, log_scale = _scaled_forward_backward(
        np.ascontiguousarray(emission.transpose(1, 0, 2)),  # each chain's frames in a row
        np.exp(log_transition),
        np.exp(log_start),
    )
    return posterior.transpose(1, 0, 2), pairs, log_scale + offset.sum(axis=0)


@numba.njit(cache=True)
def _scaled_forward_backward(emission, transition, start):
    """The scaled recursions of `_forward_backward` on probabilities ``emission`` (m, T, 2):
    posteriors (m, T, 2), summed pair posteriors and Σ_t log(normaliser) per chain."""
    count, steps, states = emission.shape
    alpha = np.empty_like(emission)
    beta = np.empty_like(emission)
    pairs = np.zeros((count, states, states))
    log_scale = np.zeros(count)
    scale = np.empty((count, steps))
    for m in range(count):
        for t in range(steps):
            total = 0.0
            for j in range(states):
                if t == 0:
                    value = start[m, j]
                else:
                    value = 0.0
                    for i in range(states):
                        value += alpha[m, t - 1, i] * transition[m, i, j]
                alpha[m, t, j] = value * emission[m, t, j]
                total += alpha[m, t, j]
            scale[m, t] = total
            log_scale[m] += np.log(total)
            for j in range(states):
                alpha[m, t, j] /= total
        for j in range(states):
            beta[m, steps - 1, j] = 1.0
        for t in range(steps - 2, -1, -1):
            for i in range(states):
                value = 0.0
                for j in range(states):
                    value += transition[m, i, j] * emission[m, t + 1, j] * beta[m, t + 1, j]
                beta[m, t, i] = value / scale[m, t + 1]
            for i in range(states):
                for j in range(states):
                    pairs[m, i, j] += (
                        alpha[m, t, i]
                        * transition[m, i, j]
                        * emission[m, t + 1, j]
                        * beta[m, t + 1, j]
                        / scale[m, t + 1]
                    )
    return alpha * beta, pairs, log_scale


def _viterbi(log_emission, log_transition, log_start) -> np.ndarray:
    """Most likely state paths (T, m) of m independent two-state chains."""
    steps, count = log_emission.shape[:2]
    score = log_start + log_emission[0]
    back = np.zeros((steps, count, 2), dtype=np.int8)
    for t in range(1, steps):
        candidates = score[:, :, None] + log_transition  # (m, from, to)
        back[t] = np.argmax(candidates, axis=1)
        score = np.max(candidates, axis=1) + log_emission[t]
    path = np.empty((steps, count), dtype=np.int8)
    path[-1] = np.argmax(score, axis=1)
    sites = np.arange(count)
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, sites, path[t]]
    return path


def _two_class_split(signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per site, the split of its observed signals (T, m) into a lower and a higher class of
    largest between-class variance (Otsu, IEEE Trans. SMC 9 (1979) 62): the class means
    (m, 2) and the pooled within-class variance (m,), where Baum–Welch starts. Quantiles would
    split the noise of a site that is occupied in a few frames only and miss those frames.

    Examples
    --------
    >>> means, _ = _two_class_split(np.array([[0.0], [0.2], [0.1], [5.0], [0.05]]))
    >>> means.round(2).tolist()
    [[0.09, 5.0]]
    """
    steps, count = signals.shape
    ordered = np.sort(signals, axis=0)  # NaN (unseen) last
    seen = np.isfinite(signals).sum(axis=0)
    cumulative = np.cumsum(np.where(np.isfinite(ordered), ordered, 0.0), axis=0)
    squares = np.cumsum(np.where(np.isfinite(ordered), ordered**2, 0.0), axis=0)
    low = np.arange(1, max(steps, 2))[:, None]  # size of the lower class
    high = seen[None] - low
    valid = high >= 1
    below = cumulative[low[:, 0] - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_low = below / low
        mean_high = (cumulative[-1][None] - below) / high
        between = np.where(valid, low * high * (mean_high - mean_low) ** 2, -np.inf)
    split = np.argmax(between, axis=0)  # (m,)
    sites = np.arange(count)
    lower = np.where(valid[split, sites], mean_low[split, sites], cumulative[-1] / seen)
    upper = np.where(valid[split, sites], mean_high[split, sites], lower)
    # within-class variance: (Σx² − n₀μ₀² − n₁μ₁²) / n
    n_low = np.where(valid[split, sites], low[split, 0], seen)
    within = (squares[-1] - n_low * lower**2 - (seen - n_low) * upper**2) / np.maximum(seen, 1)
    return np.stack([lower, upper], axis=1), np.maximum(within, 1e-12)


def _two_state_hmm(signals: np.ndarray, iterations: int = 100):
    """Baum–Welch for m independent two-state chains with Gaussian emissions (one variance per
    site), then Viterbi. Returns the paths (T, m) bool (True = the higher mean), the means
    (m, 2) ordered low–high, the log-likelihoods (m,), the posterior probability of the higher
    state (T, m) and the expected fraction of frame pairs that flip (m,) (Σ_t ξ_t over the
    two off-diagonal transitions, / (T − 1)): the model's own estimates of occurrence and
    events, not biased as the single most likely path is at low dose. Missing signals (NaN)
    are frames that did not see the site: they weigh in no mean or variance."""
    steps, count = signals.shape
    if count == 0:  # no site: nothing to fit (nanquantile would lose the state axis)
        return (
            np.zeros((steps, 0), dtype=bool),
            np.zeros((0, 2)),
            np.zeros(0),
            np.zeros((steps, 0)),
            np.zeros(0),
        )
    observed = np.isfinite(signals)
    filled = np.where(observed, signals, 0.0)
    means, variance = _two_class_split(signals)
    transition = np.tile([[0.9, 0.1], [0.1, 0.9]], (signals.shape[1], 1, 1))
    start = np.full((signals.shape[1], 2), 0.5)
    previous = np.full(signals.shape[1], -np.inf)
    for _ in range(iterations):
        log_emission = _gaussian_log(signals, means, variance)
        posterior, pairs, likelihood = _forward_backward(
            log_emission, np.log(transition), np.log(start)
        )
        seen = posterior * observed[:, :, None]
        weights = seen.sum(axis=0) + 1e-12  # (m, 2)
        means = np.einsum("tms,tm->ms", seen, filled) / weights
        residual = (filled[:, :, None] - means[None]) ** 2
        variance = np.maximum(np.einsum("tms,tms->m", seen, residual) / observed.sum(0), 1e-12)
        transition = (pairs + 1e-6) / (pairs + 1e-6).sum(axis=2, keepdims=True)
        start = (posterior[0] + 1e-6) / (posterior[0] + 1e-6).sum(axis=1, keepdims=True)
        converged = np.all(likelihood - previous < 1e-7 * np.abs(likelihood))
        previous = likelihood
        if converged:
            break
    path = _viterbi(_gaussian_log(signals, means, variance), np.log(transition), np.log(start))
    swapped = means[:, 0] > means[:, 1]
    path = np.where(swapped[None], 1 - path, path).astype(bool)
    means = np.where(swapped[:, None], means[:, ::-1], means)
    high = np.where(swapped[None], posterior[:, :, 0], posterior[:, :, 1])
    flips = (pairs[:, 0, 1] + pairs[:, 1, 0]) / max(len(signals) - 1, 1)
    return path, means, previous, high, flips


def occupancy_from_signals(
    signals: np.ndarray, empty_level: float, bright_atoms: bool = True
) -> np.ndarray:
    """Occupancy (t, m) bool of each site from its signal over the frames.

    Each site gets a two-state HMM when it beats one Gaussian by the Bayesian information
    criterion (4 more parameters: a mean and three transition/start probabilities); its state
    further from ``empty_level`` (the signal of an empty site) in the direction of an atom's
    contrast (``bright_atoms``) is "occupied". A one-state site is occupied when its mean is
    nearer to the typical occupied level of the two-state sites than to ``empty_level`` (with no
    two-state site: beyond 4 noise σ of it in the atom's direction).
    """
    return _occupancy_and_gain(signals, empty_level, bright_atoms)[0]


def _two_states_win(signals: np.ndarray, two_state: np.ndarray):
    """The log-likelihood gain (m,) of the two-state model (its log-likelihoods ``two_state``)
    over one Gaussian for ``signals`` (t, m), and where it wins by the Bayesian information
    criterion: 4 more free parameters (a mean, two transitions, one start), no win on a signal
    without spread."""
    spread = np.nanvar(signals, axis=0)
    seen = np.maximum(np.isfinite(signals).sum(axis=0), 1)  # frames that saw each site
    one_state = -0.5 * seen * (np.log(2 * np.pi * np.maximum(spread, 1e-12)) + 1)
    gain = two_state - one_state
    return gain, (2 * gain > 4 * np.log(seen)) & (spread > 0)


def _occupancy_and_gain(signals: np.ndarray, empty_level, bright_atoms: bool):
    """`occupancy_from_signals` and each site's log-likelihood gain (m,) of two states over one
    Gaussian (scale-free: comparable between different signals of the same site)."""
    sign = 1.0 if bright_atoms else -1.0
    steps, count = signals.shape
    occupancy = np.zeros((steps, count), dtype=bool)
    oriented = sign * np.asarray(signals, dtype=float)
    paths, means, two_state, _, _ = _two_state_hmm(oriented)
    gain, flips = _two_states_win(oriented, two_state)
    flips &= paths.any(0) & (~paths).any(0)
    occupancy[:, flips] = paths[:, flips]
    occupied_levels = means[flips, 1].tolist()
    single = np.flatnonzero(~flips)
    empty = sign * np.broadcast_to(np.asarray(empty_level, dtype=float), (count,))
    for j in single:
        level = sign * np.nanmean(signals[:, j])
        if occupied_levels:
            typical = float(np.median(occupied_levels))
            occupancy[:, j] = abs(level - typical) < abs(level - empty[j])
        else:
            sigma = float(np.nanstd(signals[:, j]))
            occupancy[:, j] = level - empty[j] > 4 * sigma
    return occupancy, gain


def _held_out_projections(patches: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """Each frame's patch (t, pixels) projected on mean(occupied) − mean(empty) of the *other*
    frames (t,); NaN for a frame with a NaN pixel. A frame's own patch in the contrast would add
    its noise, |noise|²/n, to the side it was put on and confirm whatever states were given.

    Examples
    --------
    >>> patches = np.array([[1.0], [3.0], [0.0], [2.0]])
    >>> _held_out_projections(patches, np.array([True, True, False, False])).tolist()
    [2.0, 0.0, 0.0, 4.0]
    """
    patches = np.asarray(patches, dtype=float)  # the sums below differ by a frame's own term
    whole = np.all(np.isfinite(patches), axis=1)
    on, off = whole & occupied, whole & ~occupied
    projections = np.full(len(patches), np.nan)
    if on.sum() < 2 or off.sum() < 2:  # no contrast left once a frame is held out
        return np.where(whole, 0.0, np.nan)
    seen = patches[whole]
    own = np.einsum("tp,tp->t", seen, seen)
    with_on = seen @ patches[on].sum(axis=0)
    with_off = seen @ patches[off].sum(axis=0)
    n_on, n_off, put_on = on.sum(), off.sum(), occupied[whole]
    projections[whole] = np.where(
        put_on,
        (with_on - own) / (n_on - 1) - with_off / n_off,
        with_on / n_on - (with_off - own) / (n_off - 1),
    )
    return projections


def _matched_filter_pass(
    aligned, sites, sampling, spacing, signals, occupancy, periodic, gain=None
):
    """Second look at the sites that flip: each frame is projected on the site's own contrast,
    mean(occupied frames) − mean(empty frames) within one ``spacing`` of it, the frame itself
    held out (the matched filter of the two states: it also collects the lens's delocalised
    fringes); the two-state model is fitted again to that signal and the contrast remade from
    its states until they hold (``MATCHED_FILTER_SETTLED``, at most ``MATCHED_FILTER_ROUNDS``);
    kept where it beats one state in every round, and where its two states stand out more than
    in the site's signal so far: its log-likelihood gain over one state is above ``gain`` (m,)
    (that of ``signals``; none: no such bound). Held out, the contrast carries its own noise:
    where the first signal already separates the states, it is the better one. Pixels beyond
    the edge of frames that are not ``periodic`` are left out; a frame that did not see all of
    the rest (NaN) has no signal."""
    pixel = np.asarray(sampling)
    flipping = np.flatnonzero(occupancy.any(axis=0) & (~occupancy).any(axis=0))
    probability = occupancy.astype(float)
    flips = np.mean(occupancy[1:] != occupancy[:-1], axis=0)
    if len(flipping) == 0:
        return signals, occupancy, probability, flips
    radius = np.ceil(spacing / pixel).astype(int)
    offsets = np.stack(
        np.meshgrid(*[np.arange(-r, r + 1) for r in radius], indexing="ij"), axis=-1
    ).reshape(-1, 2)
    inside = np.sum((offsets * pixel) ** 2, axis=1) <= spacing**2
    offsets = offsets[inside]
    shape = np.array(aligned.shape[1:])

    def patch(column: int) -> np.ndarray:
        """The frames' pixels (t, pixels) within one spacing of a flipping site (gathered when
        needed: all of them at once would be a copy of the stack per site)."""
        points = np.round(sites[flipping[column]] / pixel).astype(int) + offsets
        if periodic:
            points = points % shape
        else:
            points = points[np.all((points >= 0) & (points < shape), axis=1)]
        return aligned[:, points[:, 0], points[:, 1]]

    states = occupancy[:, flipping]
    keep = np.ones(len(flipping), dtype=bool)
    matched, high = np.empty(states.shape), np.empty(states.shape)
    expected, matched_gain = np.empty(len(flipping)), np.empty(len(flipping))
    pending = np.arange(len(flipping))  # sites not settled yet
    for _ in range(MATCHED_FILTER_ROUNDS):
        signal = np.column_stack([_held_out_projections(patch(c), states[:, c]) for c in pending])
        paths, _, two_state, high[:, pending], expected[pending] = _two_state_hmm(signal)
        matched[:, pending] = signal
        # a site must win in every round: remade from states of noise, the contrast would
        # grow along the noise it was split by
        matched_gain[pending], wins = _two_states_win(signal, two_state)
        keep[pending] &= wins
        changed = np.mean(paths != states[:, pending], axis=0) >= MATCHED_FILTER_SETTLED
        changed &= keep[pending]
        states[:, pending] = paths
        pending = pending[changed]
        if len(pending) == 0:
            break
    if gain is not None:
        keep &= matched_gain > gain[flipping]
    signals, occupancy = signals.copy(), occupancy.copy()
    for column, j in enumerate(flipping):
        if keep[column]:
            occupancy[:, j] = states[:, column]
            signals[:, j] = matched[:, column]
            probability[:, j] = high[:, column]
            flips[j] = expected[column]
    return signals, occupancy, probability, flips


@dataclass(frozen=True)
class SeriesResult:
    """What `analyse_series` found.

    Attributes
    ----------
    site_positions
        Sites (m, 2) [Å] in the frame of the first image.
    occupancy
        (t, m) bool: site occupied in frame t (the most likely path).
    probability
        (t, m) posterior probability that the site is occupied in frame t (0 or 1 for sites
        that never flip).
    flips
        (m,) expected fraction of consecutive frame pairs in which the site flips.
    drift
        (t, 2) [Å]: frame t shows the scene moved by +drift[t].
    mean_image
        The drift-corrected mean image [x, y].
    signals
        (t, m) site signals the occupancy was read from (NaN where a frame did not see the
        site).
    sampling
        Pixel size [Å].
    observed
        (t, m) bool: frame t saw the site (a camera's frames lose what drifts past their
        edge); in the other frames occupancy and probability are the model's inference from
        the frames around them.
    """

    site_positions: np.ndarray
    occupancy: np.ndarray
    probability: np.ndarray
    flips: np.ndarray
    drift: np.ndarray
    mean_image: np.ndarray
    signals: np.ndarray
    sampling: tuple[float, float]
    observed: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def occurrence(self) -> np.ndarray:
        """(m,) expected fraction of frames each site is occupied (seed Fig 6.26,
        occurrence %)."""
        return self.probability.mean(axis=0)

    @property
    def events(self) -> np.ndarray:
        """(m,) expected fraction of consecutive frame pairs in which the site flips
        (event %)."""
        return self.flips

    def dwell_times(self, site: int) -> dict[str, np.ndarray]:
        """Lengths [frames] of the occupied and empty runs of one site (complete runs only:
        the first and last runs, cut by the series' ends, are left out)."""
        states = self.occupancy[:, site].astype(int)
        edges = np.flatnonzero(np.diff(states)) + 1
        runs = np.split(states, edges)[1:-1]
        return {
            "occupied": np.array([len(r) for r in runs if r[0] == 1]),
            "empty": np.array([len(r) for r in runs if r[0] == 0]),
        }


def series_model(model, sampling: float | tuple[float, float]):
    """None for ``"peaks"``, else the single-image `Recognizer` that ``model`` names (a
    `ValueError` naming ``model`` for an unknown name, a focal-series model, or non-square
    ``sampling`` [Å]).

    Examples
    --------
    >>> series_model("peaks", 0.1) is None, series_model("gold", 0.1).in_channels
    (True, 1)
    """
    if isinstance(model, str) and model == "peaks":
        return None
    sampling = check_pair("sampling", sampling)
    from atomscope.learning.infer import Recognizer

    try:
        recognizer = Recognizer.resolve(model)
    except ValueError as error:
        raise ValueError(f"model: {error} (or 'peaks' for the intensity itself)") from None
    if recognizer.in_channels != 1:
        raise ValueError(
            f"model {model!r} takes {recognizer.in_channels} images (a focal series) per "
            "prediction; a series needs a single-image model such as 'gold' or 'graphene'"
        )
    if sampling[0] != sampling[1]:
        raise ValueError(f"model {model!r} needs square pixels, got sampling {sampling} Å")
    return recognizer


def _model_name(model, recognizer) -> str:
    """How a summary names the series' model: the argument, or a Recognizer's own name."""
    if recognizer is None:
        return "peaks"
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    return str(recognizer.metadata.get("name", "a Recognizer"))


def _atom_probability_frames(recognizer, frames, sampling, progress: bool) -> np.ndarray:
    """The model's atom probability (t, x, y) in every frame (`Recognizer.atom_probability`)."""
    probability = np.empty(frames.shape, dtype=np.float32)
    for t in tqdm(range(len(frames)), desc="atoms", disable=not progress):
        probability[t] = recognizer.atom_probability(frames[t], sampling[0])
    return probability


def analyse_series(
    frames: Any,
    sampling: float | tuple[float, float],
    spacing: float = 2.0,
    bright_atoms: bool = True,
    max_step: float | None = None,
    threshold: float = 0.05,
    model: Any = "peaks",
    progress: bool = False,
    periodic: bool = False,
) -> SeriesResult:
    """Drift, sites and per-site occupancy of an image series (see the module notes).

    Parameters
    ----------
    frames
        Frames [t, x, y] (raw counts), t ≥ 2.
    sampling
        Pixel size [Å].
    spacing
        Nearest distance between two sites [Å] (> 0): the peak separation of the site search
        is half of it, the width of the site signal a quarter.
    bright_atoms
        Atoms are brighter than their surroundings (HAADF, positive-contrast HRTEM); False
        for dark atoms.
    max_step
        Largest drift between consecutive frames [Å]; default 0.45 × ``spacing``: on a crystal
        a search reaching half the column period can lock onto the next column.
    threshold
        Site peak height in the mean image, fraction of its range above its minimum.
    model
        ``"peaks"`` (the intensity itself: STEM, or HRTEM with atoms of one contrast), or a
        single-image recognition model — a shipped name (``"gold"``, ``"graphene"``), a
        ``model.pt`` file or a `Recognizer` — whose atom probability in every aligned frame
        replaces the intensity (atoms are then bright whatever ``bright_atoms`` says).
    progress
        Progress bars.
    periodic
        The frames are periodic (a simulation of a periodic cell, moved by Fourier shifts).
        A camera's frames are not: each is placed where it shows the scene and a site counts
        only in the frames that saw it (`SeriesResult.observed`); sites seen in fewer than
        half of the frames are left out.

    Returns
    -------
    SeriesResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.arange(48) * 0.25
    >>> blob = lambda cx, cy: np.exp(-((x[:, None] - cx) ** 2 + (x[None, :] - cy) ** 2) / 0.5)
    >>> on = np.array([t % 4 < 2 for t in range(40)])  # the second site flips every 2 frames
    >>> frames = rng.poisson(500 * (1 + blob(4, 4) + np.multiply.outer(on, blob(8, 8))))
    >>> result = analyse_series(frames, 0.25, spacing=2.0)
    >>> result.site_positions.round(1).tolist(), result.occurrence.round(3).tolist()
    ([[4.0, 4.0], [8.0, 8.0]], [1.0, 0.5])
    """
    frames = check_finite_array("frames", frames, ndim=3)
    if len(frames) < 2:
        raise ValueError(f"frames must hold at least 2 frames [t, x, y], got {len(frames)}")
    sampling = check_pair("sampling", sampling)
    spacing = check_positive("spacing", spacing)
    pixel = np.asarray(sampling)
    pixels = spacing / pixel.max(), spacing / pixel.min()
    largest = min(frames.shape[1:]) / 2
    if pixels[0] < MIN_SPACING_PIXELS or pixels[1] > largest:
        raise ValueError(
            f"spacing {spacing:g} Å is {pixels[1]:.3g} pixels of sampling {sampling} Å; it must "
            f"span {MIN_SPACING_PIXELS}–{largest:g} pixels (two sites across a frame of "
            f"{frames.shape[1]}×{frames.shape[2]}): check --sampling and --spacing"
        )
    max_step = 0.45 * spacing if max_step is None else check_positive("max_step", max_step)
    recognizer = series_model(model, sampling)
    drift = measure_drift(frames, sampling, max_step, progress, periodic=periodic)
    aligned = align_frames(frames, drift, sampling, periodic)
    mean = np.nanmean(aligned, axis=0)  # frame 0 sees all of its own field of view
    if recognizer is not None:
        # the model reads the frames as the camera took them; its maps are aligned after
        probability = _atom_probability_frames(recognizer, frames, sampling, progress)
        aligned = align_frames(probability, drift, sampling, periodic)
        bright_atoms = True
        mean_signal = np.nanmean(aligned, axis=0)
    else:
        mean_signal = mean
    edges = "wrap" if periodic else "nearest"
    blur = spacing / 8 / pixel
    smooth = ndimage.gaussian_filter(mean_signal, blur, mode=edges)
    # sites: peaks of the mean image, and of the temporal spread, where a site that is rarely
    # occupied (faint in the mean) flips
    spread = ndimage.gaussian_filter(np.nanstd(aligned, axis=0), blur, mode=edges)
    min_distance = max(1, int(spacing / 2 / pixel.max()))
    window = max(3, 2 * int(spacing / 4 / pixel.max()) + 1)
    sites = np.empty((0, 2))
    for image in (smooth if bright_atoms else -smooth, spread):
        peaks = find_peaks(image, min_distance, threshold, exclude_border=False)
        if len(peaks):
            found = refine_peaks(image, peaks, window=window) * pixel
            if len(sites):
                distance = np.min(np.linalg.norm(found[:, None] - sites[None], axis=2), axis=1)
                found = found[distance > spacing / 2]
            sites = np.concatenate([sites, found])
    width = spacing / 4
    signals = site_signals(aligned, sites, sampling, width, periodic=periodic)
    seen = np.isfinite(signals).mean(axis=0) >= MIN_SEEN
    sites, signals = sites[seen], signals[:, seen]
    # the signal of an empty site: the same weights over the quietest part of the mean image
    background = np.quantile(smooth, 0.05 if bright_atoms else 0.95)
    flat = np.full((1, 1, 1), background)  # every weight falls on it (periodic)
    empty_level = float(site_signals(flat, np.zeros((1, 2)), sampling, width)[0, 0])
    occupancy, gain = _occupancy_and_gain(signals, empty_level, bright_atoms)
    # the peak signal where its two states stand out more: at a particle's surface the lens's
    # fringes can move the level around a site with its atom and cancel the integrated contrast
    peaks = site_signals(aligned, sites, sampling, width, profile="peak", periodic=periodic)
    by_peak, peak_gain = _occupancy_and_gain(peaks, 0.0, bright_atoms)
    clearer = (peak_gain > gain) & by_peak.any(axis=0) & (~by_peak).any(axis=0)
    occupancy[:, clearer], signals[:, clearer] = by_peak[:, clearer], peaks[:, clearer]
    gain[clearer] = peak_gain[clearer]
    occupancy = orient_states(occupancy, peaks, bright_atoms)
    signals, occupancy, probability, flips = _matched_filter_pass(
        aligned, sites, sampling, spacing, signals, occupancy, periodic, gain
    )
    return SeriesResult(
        site_positions=sites,
        occupancy=occupancy,
        probability=probability,
        flips=flips,
        drift=drift,
        mean_image=mean,
        signals=signals,
        sampling=sampling,
        observed=np.isfinite(signals),
        settings={
            "spacing": spacing,
            "bright_atoms": bright_atoms,
            "max_step": max_step,
            "model": _model_name(model, recognizer),
            "periodic": periodic,
        },
    )
