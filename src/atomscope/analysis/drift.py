"""Drift of an image series: where each frame shows the scene, with frames that end at the
camera's edges.

Frames from a camera are windows onto a larger specimen: when the specimen drifts, new
material enters at one edge and leaves at the other, so a frame cannot be moved as a periodic
image (a circular shift wraps the far edge into the near one and biases every correlation
toward no motion). Here the frames are placed on a canvas in the scene's coordinates by
bilinear splatting (each pixel's counts shared among the four nearest canvas pixels, and its
weight with them), the reference is the canvas sum over the canvas weight — defined wherever
some frame looked — and each frame is compared with it through its interior only: a margin as
wide as the search keeps every compared pixel inside the area its neighbours in time cover.

`measure_drift` then runs as before: a first pass against the running average of the frames
placed so far, then passes choosing, per frame, among the likelihood maxima against the mean of
the other frames, the most likely path whose steps stay within ``max_step``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage
from tqdm.auto import tqdm

from atomscope.analysis.registration import correlation_at, cross_power_peaks
from atomscope.core.threads import threads
from atomscope.core.validate import check_finite_array, check_pair, check_positive

__all__ = ["measure_drift", "shift_frames", "shift_ramp", "splat"]

#: Most passes of `measure_drift` against the mean of the other aligned frames, and the largest
#: change [pixels] at which it stops earlier (the sub-pixel search steps by 0.02 pixel).
REFINEMENT_PASSES = 5
REFINEMENT_TOLERANCE = 0.05
#: Their search radius in units of ``max_step``. Twice it let camera frames of a crystalline
#: island at 1e4 e⁻/Å² (steps ≤ 1.5 Å, max_step 2.4 Å) take the 2.88 Å lattice period: against
#: the mean of the other frames one frame's hopping edge atoms are worth hundreds of nats a
#: period away, the random walk a few (0.003 Å RMS after the first pass, 1.1 Å after the
#: passes); a lattice period within one max_step stays within reach.
REFINEMENT_REACH = 1.0
#: Likelihood maxima per frame a refinement pass chooses from (besides staying).
REFINEMENT_CANDIDATES = 4
#: Gaussian σ [pixels] smoothing that mean (pixel noise only widens the likelihood's peak).
REFERENCE_SMOOTHING = 1.0
#: Widest margin [fraction of the frame's shorter side] a frame is compared through: a search
#: wider than the margin is cut to it, so that at least half of each side is compared.
LARGEST_MARGIN = 0.25
#: Canvas weight [frames] below which a canvas pixel counts as unseen.
UNSEEN = 1e-3


class _Canvas:
    """Sum of frames and of their weights in the scene's coordinates (pixels), frames placed at
    their drift by bilinear splatting; grows when a frame lands beyond it."""

    def __init__(self, frame_shape: tuple[int, int], pad: int):
        self.frame_shape = frame_shape
        self.origin = np.array([pad, pad])  # canvas index of the scene's point 0
        shape = (frame_shape[0] + 2 * pad + 1, frame_shape[1] + 2 * pad + 1)
        self.total = np.zeros(shape)
        self.weight = np.zeros(shape)

    def _landing(self, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer canvas index and fraction [0, 1) (2,) where pixel 0 of a frame drifted by
        ``position`` [pixels] lands (frame t shows the scene moved by +drift[t])."""
        landing = self.origin - position
        corner = np.floor(landing).astype(int)
        return corner, landing - corner

    def _fit(self, corner: np.ndarray) -> np.ndarray:
        """The corner after growing the canvas so a frame (plus one pixel) at it fits."""
        size = np.array(self.frame_shape) + 1
        before = np.maximum(-corner, 0)
        after = np.maximum(corner + size - np.array(self.total.shape), 0)
        if before.any() or after.any():
            grow = [
                (int(b + (b > 0) * s), int(a + (a > 0) * s))
                for b, a, s in zip(before, after, size, strict=True)
            ]
            self.total = np.pad(self.total, grow)
            self.weight = np.pad(self.weight, grow)
            shift = np.array([g[0] for g in grow])
            self.origin = self.origin + shift
            corner = corner + shift
        return corner

    def _window(self, corner: np.ndarray) -> tuple[slice, slice]:
        """The canvas slices of a frame (plus one pixel) at ``corner``."""
        return (
            slice(corner[0], corner[0] + self.frame_shape[0] + 1),
            slice(corner[1], corner[1] + self.frame_shape[1] + 1),
        )

    def add(self, frame: np.ndarray, position: np.ndarray) -> None:
        """Splat ``frame`` drifted by ``position`` [pixels] onto the canvas."""
        corner, fraction = self._landing(position)
        part = self._window(self._fit(corner))
        own_total, own_weight = self.own(frame, fraction)
        self.total[part] += own_total
        self.weight[part] += own_weight

    def around(self, position: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sum and weight over the window (the frame's shape plus one pixel) where a frame
        drifted by ``position`` [pixels] lands, and the fraction (2,) [pixels] its pixel 0
        lands past the window's first pixel."""
        corner, fraction = self._landing(position)
        part = self._window(self._fit(corner))
        return self.total[part], self.weight[part], fraction

    def own(self, frame: np.ndarray, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A frame's share of the sum and of the weight of its window."""
        return splat(frame, fraction), splat_ones(frame.shape, fraction)


class _Torus:
    """The same sums for periodic frames (a simulation of a periodic cell): one period of the
    scene, frames placed by Fourier shifts, every frame seeing all of it."""

    def __init__(self, frame_shape: tuple[int, int]):
        self.frame_shape = frame_shape
        self.spectrum = np.zeros(frame_shape, dtype=np.complex128)
        self.count = 0

    def add(self, frame: np.ndarray, position: np.ndarray) -> None:
        """Add ``frame`` drifted by ``position`` [pixels], moved back to the scene's place."""
        transform = scipy.fft.fft2(frame, workers=threads())
        self.spectrum += transform * shift_ramp(self.frame_shape, -position)
        self.count += 1

    def around(self, position: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sum and weight as the frame drifted by ``position`` [pixels] sees them."""
        moved = self.spectrum * shift_ramp(self.frame_shape, position)
        total = scipy.fft.ifft2(moved, workers=threads()).real
        return total, np.full(self.frame_shape, float(self.count)), np.zeros(2)

    def own(self, frame: np.ndarray, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A frame's share of the sum and of the weight as it sees them."""
        return frame, np.ones(frame.shape)


def shift_ramp(shape: tuple[int, ...], shift_pixels: np.ndarray) -> np.ndarray:
    """The Fourier factor [kx, ky] that moves an image of ``shape`` by ``shift_pixels`` (x, y):
    the outer product of one ramp per axis (a full-size complex exponential cost 12 ms of a
    519² frame's 25 ms of drift measurement).

    Examples
    --------
    >>> image = np.zeros((4, 4)); image[0, 0] = 1
    >>> moved = np.fft.ifft2(np.fft.fft2(image) * shift_ramp((4, 4), [0, 1])).real
    >>> (moved.round(6) + 0.0)[0].tolist()
    [0.0, 1.0, 0.0, 0.0]
    """
    ramp_x = np.exp(-2j * np.pi * np.fft.fftfreq(shape[0]) * shift_pixels[0])
    ramp_y = np.exp(-2j * np.pi * np.fft.fftfreq(shape[1]) * shift_pixels[1])
    return ramp_x[:, None] * ramp_y[None, :]


def _fourier_shift(frame: np.ndarray, shift_pixels: np.ndarray) -> np.ndarray:
    """``frame`` moved by ``shift_pixels`` (x, y) (periodic, band-limited interpolation)."""
    spectrum = scipy.fft.fft2(frame, workers=threads()) * shift_ramp(frame.shape, shift_pixels)
    return scipy.fft.ifft2(spectrum, workers=threads()).real


def shift_frames(frames: np.ndarray, shifts: np.ndarray, sampling: tuple[float, float]):
    """Each frame [t, x, y] moved by ``shifts`` (t, 2) [Å] (Fourier interpolation, periodic).

    Examples
    --------
    >>> frame = np.zeros((1, 16, 16)); frame[0, 4, 4] = 1
    >>> moved = shift_frames(frame, np.array([[0.5, 1.0]]), (0.25, 0.25))
    >>> tuple(int(i) for i in np.unravel_index(np.argmax(moved[0]), (16, 16)))
    (6, 8)
    """
    pixel = np.asarray(sampling)
    return np.stack([_fourier_shift(f, s / pixel) for f, s in zip(frames, shifts, strict=True)])


def splat(frame: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """``frame`` [x, y] moved by ``fraction`` (2,) [pixels, 0–1] onto a grid one pixel larger,
    each pixel shared bilinearly among its four nearest grid pixels (sum preserved).

    Examples
    --------
    >>> splat(np.ones((1, 1)), np.array([0.25, 0.5])).tolist()
    [[0.375, 0.375], [0.125, 0.125]]
    """
    fx, fy = fraction
    out = np.zeros((frame.shape[0] + 1, frame.shape[1] + 1))
    out[:-1, :-1] += (1 - fx) * (1 - fy) * frame
    out[1:, :-1] += fx * (1 - fy) * frame
    out[:-1, 1:] += (1 - fx) * fy * frame
    out[1:, 1:] += fx * fy * frame
    return out


def splat_ones(shape: tuple[int, int], fraction: np.ndarray) -> np.ndarray:
    """`splat` of a frame of ones, as the outer product of one axis's weights by the other's
    (a frame's weight on the canvas at a fifth of the cost).

    Examples
    --------
    >>> bool(np.allclose(splat_ones((3, 2), [0.2, 0.7]), splat(np.ones((3, 2)), [0.2, 0.7])))
    True
    """
    axes = []
    for size, part in zip(shape, fraction, strict=True):
        weights = np.ones(size + 1)
        weights[0] = 1 - part
        weights[-1] = part  # the last pixel's share past the grid
        axes.append(weights)
    return axes[0][:, None] * axes[1][None, :]


def _mean_of(total: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Sum over weight where some frame looked, elsewhere the mean of the looked-at pixels."""
    seen = weight > UNSEEN
    mean = np.divide(total, weight, out=np.zeros_like(total), where=seen)
    mean[~seen] = mean[seen].mean() if seen.any() else 0.0
    return mean


class _Comparison:
    """A frame's interior against the reference window where it lands, on the frame's own
    shape: the interior's mask and transform, and the search radius [pixels], cut to the
    margin. The margin is wider than the search, so the interior moved by any searched shift
    stays inside the window and the circular correlation never wraps (no padding: a 512²
    frame keeps 512² transforms). Periodic frames are compared whole."""

    def __init__(self, frame_shape: tuple[int, int], search: float, periodic: bool):
        self.shape = frame_shape
        self.interior = np.zeros(frame_shape, dtype=bool)
        self.periodic = periodic
        if periodic:
            self.search = search
            self.interior[:] = True
        else:
            margin = min(int(np.ceil(search)) + 1, int(LARGEST_MARGIN * min(frame_shape)))
            self.search = max(min(search, margin - 1.0), 1.0)
            self.interior[margin : frame_shape[0] - margin, margin : frame_shape[1] - margin] = 1
        self.interior_spectrum = self.transform(self.interior)

    def transform(self, image: np.ndarray) -> np.ndarray:
        """F{image} [kx, ky ≥ 0] of the image's first frame-shaped part (the half spectrum of a
        real image, single precision; the reference window's extra row and column, where the
        splatting spills, are left out)."""
        part = np.asarray(image[: self.shape[0], : self.shape[1]], dtype=np.float32)
        return scipy.fft.rfft2(part, workers=threads())

    def template(self, frame: np.ndarray) -> np.ndarray:
        """F{the frame's interior}."""
        return self.transform(np.where(self.interior, frame, 0))


#: Slack [pixels] added to every search: the reference window starts at the whole pixel below
#: where the frame lands, so the match lies up to √2 pixels further.
FRACTION_SLACK = 1.5


def _likelihood_spectrum(comparison: _Comparison, total, weight, frame) -> np.ndarray:
    """Cross-power half spectrum (rfft2) whose inverse is the Poisson log-likelihood Σ frame · log(mean) −
    mean of the frame's interior [counts] at each shift against the mean ``total`` / ``weight``
    of a reference window (smoothed by normalised convolution: wherever some frame looked).

    The −mean term is what makes it a likelihood and not a correlation: a shift that moves a
    brighter region (a slab against vacuum) under the frame is not favoured for its brightness.
    The mean is scaled to the frame's counts over its interior (its dose).
    """
    mode = "wrap" if comparison.periodic else "constant"
    mean = _mean_of(
        ndimage.gaussian_filter(total, REFERENCE_SMOOTHING, mode=mode),
        ndimage.gaussian_filter(weight, REFERENCE_SMOOTHING, mode=mode),
    )
    # to the frame's own dose (a beam current that varies from frame to frame would otherwise
    # pull the frame toward brighter or darker parts of the scene)
    inside = comparison.interior
    seen = mean[: inside.shape[0], : inside.shape[1]][inside].sum()
    mean = mean * (frame[inside].sum() / seen if seen > 0 else 1.0)
    mean = np.maximum(mean, 1e-6 * max(float(mean.max()), 1e-12))
    log_mean = np.log(mean)
    # constants off both (each adds the same to every shift): single precision keeps the
    # likelihood's differences, not its size
    return comparison.transform(log_mean - log_mean.mean()) * np.conj(
        comparison.template(frame)
    ) - comparison.transform(mean - mean.mean()) * np.conj(comparison.interior_spectrum)


def _sums(frame_shape, periodic: bool, pad: int):
    """Empty sums of placed frames: a torus for periodic frames, else a canvas padded by
    ``pad`` [pixels]."""
    return _Torus(frame_shape) if periodic else _Canvas(frame_shape, pad)


def _first_pass(frames, max_step, periodic, progress) -> np.ndarray:
    """Drift [pixels] of each frame registered against the running average of the frames placed
    before it: of the likelihood maxima within ``max_step`` [pixels] of the previous frame's
    drift, the most likely under a random walk (as `_most_likely_path`, one frame at a
    time)."""
    comparison = _Comparison(frames.shape[1:], max_step + FRACTION_SLACK, periodic)
    sums = _sums(frames.shape[1:], periodic, int(np.ceil(comparison.search)) + 1)
    drift = np.zeros((len(frames), 2))
    sums.add(frames[0], drift[0])
    for t in tqdm(range(1, len(frames)), desc="drift", disable=not progress):
        total, weight, fraction = sums.around(drift[t - 1])
        cross_power = _likelihood_spectrum(comparison, total, weight, frames[t])
        shifts, values = cross_power_peaks(
            cross_power, comparison.search, REFINEMENT_CANDIDATES, shape=comparison.shape
        )
        steps = fraction - shifts
        # weighted by the random walk the steps so far make (σ per axis their RMS, at least a
        # pixel; half max_step before there are any): on a crystal a lattice vector away
        # matches nearly as well, and a frame's noise or its hopping atoms can tip it there
        sigma = (
            max(np.sqrt(np.mean(np.diff(drift[:t], axis=0) ** 2)), 1.0) if t > 1 else max_step / 2
        )
        choice = np.argmax(values - np.sum(steps**2, axis=1) / (2 * sigma**2))
        drift[t] = drift[t - 1] + steps[choice]
        sums.add(frames[t], drift[t])
    return drift


def _drift_candidates(frames, drift, reach, periodic):
    """Per frame, where it may be [pixels] and the log-likelihood of each place [nats].

    Each frame's interior is matched against the smoothed mean of the *other* frames placed at
    their drift by Σ frame · log(mean) − mean, the Poisson log-likelihood of its counts given
    that mean: candidates are the frame's present drift and the `REFINEMENT_CANDIDATES`
    highest likelihood maxima within ``reach`` [pixels].
    """
    comparison = _Comparison(frames.shape[1:], reach + FRACTION_SLACK, periodic)
    sums = _sums(frames.shape[1:], periodic, int(np.ceil(np.abs(drift).max())) + 2)
    for frame, position in zip(frames, drift, strict=True):
        sums.add(frame, position)
    places, scores = [], []
    for frame, position in zip(frames, drift, strict=True):
        total, weight, fraction = sums.around(position)
        own_total, own_weight = sums.own(frame, fraction)
        cross_power = _likelihood_spectrum(
            comparison, total - own_total, weight - own_weight, frame
        )
        shifts, values = cross_power_peaks(
            cross_power, comparison.search, count=REFINEMENT_CANDIDATES, shape=comparison.shape
        )
        stay = correlation_at(cross_power, fraction, shape=comparison.shape)
        places.append(position + fraction - np.vstack([fraction, shifts]))
        scores.append(np.concatenate([[stay], values]))
    return places, scores


def _most_likely_path(places, scores, max_step: float, step_sigma: float) -> np.ndarray:
    """The drift path of highest total log-likelihood whose steps stay within ``max_step``,
    each step weighted by a Gaussian random walk of σ ``step_sigma`` per axis (one unit).

    Viterbi over each frame's candidates: choosing frames one by one would let a scene periodic
    along one direction (a slab's edge) send single frames a lattice period away, where their
    noise happens to match better; the step bound keeps such a jump from being taken alone,
    and the random walk keeps the whole path from taking one lattice period in a single step
    where the scene is nearly the same a period away (abTEM's frames of the slab at 3.1e2
    e⁻/Å²: every frame after the 20th one period off, 1.96 Å RMS, before it).
    """
    best = scores[0].astype(float)
    back = []
    for previous, here, score in zip(places[:-1], places[1:], scores[1:], strict=True):
        step = np.linalg.norm(here[:, None] - previous[None], axis=2)
        walk = -(step**2) / (2 * step_sigma**2)  # log of the random walk's step density
        total = np.where(step <= max_step, best[None, :] + walk, -np.inf)
        if not np.isfinite(total).any():  # no candidate within reach: restart the path here
            total = np.broadcast_to(best[None, :] + walk, step.shape)
        back.append(np.argmax(total, axis=1))
        best = score + total.max(axis=1)
    choice = [int(np.argmax(best))]
    for pointers in reversed(back):
        choice.append(int(pointers[choice[-1]]))
    choice.reverse()
    return np.array([place[c] for place, c in zip(places, choice, strict=True)])


def measure_drift(
    frames: Any,
    sampling: float | tuple[float, float],
    max_step: float = 2.0,
    progress: bool = False,
    periodic: bool = False,
) -> np.ndarray:
    """Drift (t, 2) [Å] of a series: frame t shows the scene moved by +drift[t] (drift[0] = 0).

    Each frame is registered against the running average of the frames placed before it,
    around the previous frame's drift; then, in passes until no frame moves by more than 0.05
    pixel (at most five), every frame's likelihood maxima against the smoothed mean of the
    other frames (Poisson log-likelihood) are found within ``max_step`` and the path
    through them of highest total likelihood whose steps stay within ``max_step`` is kept.
    Frames are compared through their interior, a margin as wide as the search (at most a
    quarter of the frame, which then bounds the search) inside their edges, as a camera's
    frames must be; ``periodic`` frames (a simulation of a periodic cell) are compared whole.

    Parameters
    ----------
    frames
        Frames [t, x, y] (counts).
    sampling
        Pixel size [Å].
    max_step
        Largest drift between consecutive frames [Å] (> 0): the correlation is searched within
        it around the previous frame's drift, bounds every step of the refined path, and how
        far a refinement pass looks.
    progress
        Progress bar over the frames.
    periodic
        The frames are periodic (each shows one period of a periodic scene, moved by Fourier
        shifts): every pixel is compared. A camera's frames are not.

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter, shift
    >>> scene = gaussian_filter(np.random.default_rng(0).random((96, 96)), 2)
    >>> moves = np.array([[0, 0], [0.3, 0], [0.5, -0.2]])
    >>> frames = np.stack([shift(scene, m / 0.1, order=3)[16:80, 16:80] for m in moves])
    >>> (np.round(measure_drift(frames, 0.1), 2) + 0.0).tolist()
    [[0.0, 0.0], [0.3, 0.0], [0.5, -0.2]]
    """
    frames = check_finite_array("frames", frames, ndim=3)
    pixel = np.asarray(check_pair("sampling", sampling))
    max_step = check_positive("max_step", max_step)
    if len(frames) == 1:
        return np.zeros((1, 2))
    if pixel[0] != pixel[1]:
        raise ValueError(f"sampling must be square pixels for the drift, got {tuple(pixel)} Å")
    step = max_step / pixel[0]  # [pixels]
    drift = _first_pass(frames, step, periodic, progress)
    # then passes against the mean of the other frames, searched over max_step: a frame the
    # noisy early running averages locked a column period away is found again; the first
    # pass's step bound (plus a pixel of sub-pixel slack) holds for the whole path
    for _ in range(REFINEMENT_PASSES):
        places, scores = _drift_candidates(frames, drift, REFINEMENT_REACH * step, periodic)
        # the random walk's σ per axis: the present path's RMS step, at least a pixel
        step_sigma = max(float(np.sqrt(np.mean(np.diff(drift, axis=0) ** 2))), 1.0)
        refined = _most_likely_path(places, scores, step + 1.0, step_sigma)
        moved = np.abs(refined - drift).max()
        drift = refined
        if moved < REFINEMENT_TOLERANCE:
            break
    return (drift - drift[0]) * pixel
