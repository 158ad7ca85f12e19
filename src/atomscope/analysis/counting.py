"""Counting atoms in columns without learning: integrated column signals, a library calibrated by
simulation, and Gaussian-mixture assignment in the spirit of StatSTEM.

StatSTEM (Van Aert et al., Ultramicroscopy 109 (2009) 1236; De Backer et al., Ultramicroscopy
171 (2016) 104) integrates the intensity of each column over its Voronoi cell and fits a
Gaussian mixture to these "scattering cross-sections", one component per column height. Here the
components come from simulation instead of being found in the data: `CountingLibrary` holds, for
every number of atoms, the mean and covariance of the column signals (one or several per column,
e.g. the three images of a focal series) of simulated particles whose truth is known
(`projected_columns`). `CountingLibrary.predict` assigns measured columns to counts by the
posterior of that mixture, after expectation–maximisation of what the simulation cannot know: the
mixture weights (how many columns of each height this particle has) and one common signal scale
(dose and contrast calibration), with the components' shapes fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from atomscope.core.validate import (
    check_finite_array,
    check_pair,
    check_positive,
    check_positive_int,
)

__all__ = ["CountResult", "CountingLibrary", "column_features", "voronoi_signals"]

#: radii [Å] of `column_features`: the core, the first shell and the whole cell of a ⟨110⟩ Au column
FEATURE_RADII = (0.4, 0.8, 1.3)


def voronoi_signals(
    images, positions, sampling: float | tuple[float, float], max_radius: float
) -> np.ndarray:
    """Integrated signal of every column over its Voronoi cell, cut at ``max_radius``.

    Each pixel belongs to its nearest column if that is closer than ``max_radius`` (StatSTEM's
    Voronoi integration, bounded so that columns at an edge do not collect the vacuum); the
    signal is the sum over the cell times the pixel area.

    Parameters
    ----------
    images
        (nx, ny) image or (k, nx, ny) stack (e.g. a focal series) [x, y], background removed as
        the caller sees fit.
    positions
        (n, 2) column positions [Å]; pixel (i, j) lies at (i, j)·sampling.
    sampling
        Pixel size [Å].
    max_radius
        Largest distance of a pixel from its column [Å], > 0.

    Returns
    -------
    numpy.ndarray
        (n,) or (n, k) integrated signals [image units · Å²].

    Examples
    --------
    >>> image = np.zeros((20, 20)); image[5, 5] = 2.0; image[15, 15] = 3.0
    >>> voronoi_signals(image, [[0.5, 0.5], [1.5, 1.5]], 0.1, max_radius=0.5).round(3).tolist()
    [0.02, 0.03]
    """
    stack = check_finite_array("images", images)
    if stack.ndim not in (2, 3):
        raise ValueError(f"images must be (nx, ny) or (k, nx, ny), got shape {stack.shape}")
    single = stack.ndim == 2
    stack = stack[None] if single else stack
    points = check_finite_array("positions", positions, ndim=2)
    if points.shape[1] != 2:
        raise ValueError(f"positions must have shape (n, 2) [Å], got {points.shape}")
    step = np.array(check_pair("sampling", sampling))
    max_radius = check_positive("max_radius", max_radius)
    nx, ny = stack.shape[1:]
    x, y = np.meshgrid(np.arange(nx) * step[0], np.arange(ny) * step[1], indexing="ij")
    distance, nearest = cKDTree(points).query(
        np.column_stack([x.ravel(), y.ravel()]), distance_upper_bound=max_radius
    )
    inside = np.isfinite(distance)
    signals = np.stack(
        [
            np.bincount(nearest[inside], weights=frame.ravel()[inside], minlength=len(points))
            for frame in stack
        ],
        axis=1,
    ) * float(np.prod(step))
    return signals[:, 0] if single else signals


def column_features(
    images, positions, sampling: float | tuple[float, float], radii=FEATURE_RADII
) -> np.ndarray:
    """`voronoi_signals` of every image within each of several radii, side by side.

    How the signal grows from a column's core to its whole cell depends on the column's height
    beyond its integral alone (channelling concentrates the intensity of taller columns), so the
    library separates counts better with the profile: on the counting benchmark's held-out
    particles, exact counts rose from 64 % (one radius, 1.2 Å) to 74 % at 1e6 e⁻/Å².

    Returns
    -------
    numpy.ndarray
        (n, r) for one image, (n, k·r) for a stack of k images: radius-major.

    Examples
    --------
    >>> image = np.zeros((20, 20)); image[5, 5] = 2.0; image[15, 15] = 3.0
    >>> column_features(image, [[0.5, 0.5], [1.5, 1.5]], 0.1, radii=(0.05, 0.5)).round(3).tolist()
    [[0.02, 0.02], [0.03, 0.03]]
    """
    if len(radii) == 0:
        raise ValueError("radii must hold at least one radius [Å]")
    columns = []
    for radius in radii:
        signals = voronoi_signals(images, positions, sampling, radius)
        columns.append(signals[:, None] if signals.ndim == 1 else signals)
    return np.concatenate(columns, axis=1)


@dataclass(frozen=True)
class CountResult:
    """Counts assigned by `CountingLibrary.predict`.

    Attributes
    ----------
    counts
        (n,) most probable number of atoms of each column.
    probabilities
        (n, m) posterior probability of each of the library's counts.
    scale
        The common signal scale found by EM (measured ≈ scale × simulated).
    weights
        (m,) mixture weights found by EM (fraction of columns of each count).
    """

    counts: np.ndarray
    probabilities: np.ndarray
    scale: float
    weights: np.ndarray


@dataclass(frozen=True)
class CountingLibrary:
    """Column signals per number of atoms, calibrated by simulation.

    Attributes
    ----------
    counts
        (m,) numbers of atoms, ascending.
    means
        (m, d) mean signal of columns of each count.
    covariances
        (m, d, d) covariance of those signals (regularised to be positive definite).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(1, 6, 500)
    >>> simulated = truth[:, None] * [1.0, 0.5] + rng.normal(0, 0.1, (500, 2))
    >>> library = CountingLibrary.from_samples(simulated, truth)
    >>> measured = 1.1 * (np.array([1, 3, 5])[:, None] * [1.0, 0.5])   # 10 % brighter
    >>> library.predict(measured).counts.tolist()
    [1, 3, 5]
    """

    counts: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @classmethod
    def from_samples(
        cls, signals, counts, min_samples: int = 3, regularization: float = 1e-3
    ) -> CountingLibrary:
        """The library of simulated column ``signals`` (N,) or (N, d) with true ``counts`` (N,).

        Counts seen fewer than ``min_samples`` times are left out; each covariance gets
        ``regularization`` × the mean variance of all signals added to its diagonal, so a count
        whose simulated columns are all alike still has a width.
        """
        values = check_finite_array("signals", signals)
        values = values[:, None] if values.ndim == 1 else values
        truth = np.asarray(counts)
        if truth.shape != (len(values),) or not np.issubdtype(truth.dtype, np.integer):
            raise ValueError(
                f"counts must be ({len(values)},) integers aligned with signals, got {truth!r}"
            )
        min_samples = check_positive_int("min_samples", min_samples, minimum=2)
        regularization = check_positive("regularization", regularization)
        floor = regularization * float(np.mean(np.var(values, axis=0))) + 1e-30
        kept, means, covariances = [], [], []
        for count in np.unique(truth):
            members = values[truth == count]
            if len(members) < min_samples:
                continue
            kept.append(int(count))
            means.append(members.mean(axis=0))
            covariance = np.atleast_2d(np.cov(members, rowvar=False))
            covariances.append(covariance + floor * np.eye(values.shape[1]))
        if len(kept) < 2:
            raise ValueError(
                f"signals must hold at least {min_samples} columns of each of two counts or "
                f"more, got counts {np.unique(truth).tolist()}"
            )
        return cls(np.array(kept), np.array(means), np.array(covariances))

    def _log_densities(self, values: np.ndarray, scale: float) -> np.ndarray:
        # log N(x; s·μ_c, s²·Σ_c) for every column and count: (n, m)
        d = values.shape[1]
        out = np.empty((len(values), len(self.counts)))
        for c, (mean, covariance) in enumerate(zip(self.means, self.covariances, strict=True)):
            chol = np.linalg.cholesky(scale**2 * covariance)
            z = np.linalg.solve(chol, (values - scale * mean).T)
            out[:, c] = (
                -0.5 * np.sum(z**2, axis=0)
                - np.log(np.diag(chol)).sum()
                - 0.5 * d * np.log(2 * np.pi)
            )
        return out

    def predict(self, signals, refine: bool = True, max_iter: int = 200) -> CountResult:
        """Counts of measured column ``signals`` (n,) or (n, d) by the mixture's posterior.

        With ``refine`` the mixture weights and a common scale s (measured ≈ s × simulated) are
        found by expectation–maximisation first, starting from equal weights and the scale that
        matches the mean signal; the components' shapes stay those of the simulation.
        """
        values = check_finite_array("signals", signals)
        values = values[:, None] if values.ndim == 1 else values
        if values.shape[1] != self.means.shape[1]:
            raise ValueError(
                f"signals must have {self.means.shape[1]} values per column (as the library), "
                f"got {values.shape[1]}"
            )
        max_iter = check_positive_int("max_iter", max_iter)
        m = len(self.counts)
        weights = np.full(m, 1.0 / m)
        scale = 1.0
        if refine:
            reference = float(np.mean(self.means))
            scale = float(np.mean(values)) / reference if reference != 0 else 1.0
            for _ in range(max_iter):
                responsibilities = self._posterior(values, scale, weights)
                weights = np.clip(responsibilities.mean(axis=0), 1e-12, None)
                weights /= weights.sum()
                updated = self._best_scale(values, responsibilities, scale)
                converged = abs(updated - scale) < 1e-9 * abs(scale)
                scale = updated
                if converged:
                    break
        probabilities = self._posterior(values, scale, weights)
        return CountResult(
            counts=self.counts[np.argmax(probabilities, axis=1)],
            probabilities=probabilities,
            scale=scale,
            weights=weights,
        )

    def _posterior(self, values, scale, weights) -> np.ndarray:
        log = self._log_densities(values, scale) + np.log(weights)
        log -= log.max(axis=1, keepdims=True)
        posterior = np.exp(log)
        return posterior / posterior.sum(axis=1, keepdims=True)

    def _best_scale(self, values, responsibilities, scale: float) -> float:
        # M step for the common scale: maximise Σ r_ic log N(x_i; s μ_c, s² Σ_c) over s; with
        # u = 1/s the stationarity condition is −A u² + B u + N d = 0, solved exactly
        a = b = 0.0
        for c, (mean, covariance) in enumerate(zip(self.means, self.covariances, strict=True)):
            inverse = np.linalg.inv(covariance)
            r = responsibilities[:, c]
            a += float(np.sum(r * np.einsum("id,de,ie->i", values, inverse, values)))
            b += float(np.sum(r * (values @ inverse @ mean)))
        # A = Σ r xᵀΣ⁻¹x = a, B = Σ r μᵀΣ⁻¹x = b  →  s = 1/u = (√(b² + 4 N d a) − b) / (2 N d)
        count = float(responsibilities.sum()) * values.shape[1]
        return float((-b + np.sqrt(b * b + 4 * count * a)) / (2 * count)) if a > 0 else scale
