"""Probe positions for STEM: a regular grid, a line, or any list of positions [Å].

Every scan has ``shape`` (the axes of its measurements: (nx, ny) for a grid, (n,) otherwise),
``positions`` ((n, 2) in row-major order of ``shape``) and ``measurement(array)``, which wraps
values [..., *shape] as `Images` (grid) or `LineProfiles` (line, custom).
A scan made without a step is completed by ``resolve(default_sampling)``; `Probe.scan` passes
the probe's Nyquist step λ / (4 α_c).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atomscope.core.memory import check_memory
from atomscope.core.validate import (
    check_finite_array,
    check_pair,
    check_positive,
    check_positive_int,
    check_real,
)
from atomscope.images import Images

#: Bytes per scan position while the positions are made: the (n, 2) float64 array and the two
#: float64 meshgrid axes it is stacked from.
POSITION_BYTES = 32


def _count(length: float, gpts: int | None, sampling: float | None, endpoint: bool) -> float:
    """Number of points along ``length`` [Å] from gpts or a (maximum) sampling [Å], as a float
    (``inf`` when the step is too small to count)."""
    if gpts is not None:
        return float(gpts)
    # Python floats: a vanishing step gives inf, not an overflow warning
    return max(float(np.ceil(float(length) / float(sampling) - 1e-9)) + endpoint, 1.0)


def _steps(
    length: float, gpts: int | None, sampling: float | None, endpoint: bool
) -> tuple[int, float]:
    """Number of points and step [Å] along ``length`` from gpts or a (maximum) sampling."""
    gpts = int(_count(length, gpts, sampling, endpoint))
    intervals = gpts - 1 if endpoint else gpts
    return gpts, (length / intervals if intervals > 0 and length > 0 else 0.0)


def _check_step_arguments(sampling: Any, gpts: Any) -> None:
    if sampling is not None and gpts is not None:
        raise ValueError(
            f"give sampling or gpts, not both; got sampling={sampling!r}, gpts={gpts!r}"
        )


def _check_positions(counts: Sequence[float], step: str) -> None:
    """Refuse a scan whose positions alone do not fit in memory, before they are made.

    A bound on the scan, against the memory limit itself: the scan job's own check
    (`Probe.scan`, `PRISM.scan`) follows and counts what the process already holds.
    """
    shape = "×".join(f"{count:.0f}" if count < 1e15 else f"{count:.3g}" for count in counts)
    check_memory(
        POSITION_BYTES * math.prod(counts),
        f"a {shape} scan ({step})",
        "use a larger scan step or a smaller scan area",
        baseline=False,
    )


def _step_text(gpts: Any, sampling: Any, default_sampling: float, name: str) -> str:
    """What sets the scan step, e.g. ``"sampling 0.1 Å"``, for messages."""
    if gpts is not None:
        return f"gpts {gpts}"
    if sampling is None:
        name, value = f"{name} (default)", default_sampling
    else:
        value = sampling
    values = tuple(np.atleast_1d(value).tolist())
    shown = f"{values[0]:g}" if len(set(values)) == 1 else str(values)
    return f"{name} {shown} Å"


class GridScan:
    """A raster of probe positions from ``start`` towards ``end`` (x fast along axis 0).

    Parameters
    ----------
    start
        Corner (x, y) [Å]; default (0, 0).
    end
        Opposite corner (x, y) [Å]; default the whole cell (set by ``resolve(extent=...)``).
    sampling
        Maximum step [Å] (scalar or (x, y)); the step is shrunk so the points fill
        ``end − start`` evenly. Default: the probe's Nyquist step λ / (4 α_c).
    gpts
        Number of positions (scalar or (x, y)), instead of ``sampling``.
    endpoint
        Include ``end`` (positions ``start + i (end − start) / (n − 1)``); by default the scan is
        periodic, ``start + i (end − start) / n``, like the cell it tiles.

    Examples
    --------
    >>> scan = GridScan(start=(0, 0), end=(4, 2), sampling=1.0)
    >>> scan.shape, scan.positions[:3].tolist()
    ((4, 2), [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    """

    def __init__(
        self,
        start: Any = (0.0, 0.0),
        end: Any = None,
        sampling: Any = None,
        gpts: Any = None,
        endpoint: bool = False,
    ):
        _check_step_arguments(sampling, gpts)
        self.start = np.asarray(check_pair("start", start, check=check_real), dtype=float)
        self.end = None if end is None else np.asarray(check_pair("end", end, check=check_real))
        if self.end is not None and np.any(self.end < self.start):
            raise ValueError(f"end {tuple(self.end)} must not be below start {tuple(self.start)}")
        self.sampling = None if sampling is None else check_pair("sampling", sampling)
        self.gpts = (
            None
            if gpts is None
            else check_pair("gpts", gpts, check=lambda n, v: check_positive_int(n, v))
        )
        self.endpoint = bool(endpoint)

    def resolve(
        self, default_sampling: float, extent: tuple[float, float], name: str = "sampling"
    ) -> GridScan:
        """A copy with ``end`` (default ``extent`` [Å]) and the step (default
        ``default_sampling`` [Å]) filled in.

        Raises ``ValueError`` (`atomscope.core.memory.check_memory`) before any position is
        made if the positions alone do not fit in memory; the message calls the step ``name``
        (e.g. the command-line option).
        """
        end = np.asarray(extent, dtype=float) if self.end is None else self.end
        sampling = self.sampling
        if self.gpts is None and sampling is None:
            sampling = (default_sampling, default_sampling)
        resolved = GridScan(self.start, end, sampling, self.gpts, self.endpoint)
        step = _step_text(self.gpts, self.sampling, default_sampling, name)
        _check_positions([_count(*resolved._axis(i)) for i in range(2)], step)
        return resolved

    def _axis(self, i: int) -> tuple[float, int | None, float | None, bool]:
        """Length [Å], gpts, sampling [Å] and endpoint of axis ``i``."""
        if self.end is None or (self.sampling is None and self.gpts is None):
            raise ValueError("this GridScan has no end or step yet: give them or call resolve()")
        return (
            self.end[i] - self.start[i],
            None if self.gpts is None else self.gpts[i],
            None if self.sampling is None else self.sampling[i],
            self.endpoint,
        )

    def _axes(self) -> tuple[tuple[int, float], tuple[int, float]]:
        return tuple(_steps(*self._axis(i)) for i in range(2))

    @property
    def shape(self) -> tuple[int, int]:
        """Number of positions along x and y."""
        return tuple(n for n, _ in self._axes())

    @property
    def step(self) -> tuple[float, float]:
        """Distance between neighbouring positions along x and y [Å]."""
        return tuple(d for _, d in self._axes())

    @property
    def positions(self) -> np.ndarray:
        """Positions (nx · ny, 2) [Å], x on the slow axis (row-major over ``shape``)."""
        (nx, dx), (ny, dy) = self._axes()
        x = self.start[0] + np.arange(nx) * dx
        y = self.start[1] + np.arange(ny) * dy
        return np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2)

    def measurement(self, array: np.ndarray, metadata: dict[str, Any]) -> Images:
        """``array`` [..., nx, ny] as `Images` with the scan step as pixel size."""
        step = tuple(d if d > 0 else 1.0 for d in self.step)
        return Images(array, step, {**metadata, "scan_start": self.start.tolist()})


@dataclass(frozen=True, eq=False)
class LineProfiles:
    """Values along a line scan or at custom positions, indexed ``[..., position]``.

    ``sampling`` is the step along the line [Å] (None for custom positions).

    Examples
    --------
    >>> profile = LineProfiles(np.arange(3.0), np.array([[0, 0], [0.3, 0.4], [0.6, 0.8]]), 0.5)
    >>> profile.distances().tolist()
    [0.0, 0.5, 1.0]
    """

    array: np.ndarray
    positions: np.ndarray
    sampling: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def distances(self) -> np.ndarray:
        """Distance of each position from the first [Å]."""
        return np.linalg.norm(self.positions - self.positions[0], axis=1)

    def plot(self, ax=None, label: str = "signal"):
        """Plot the profile(s) against the distance along the scan [Å]; returns the Figure."""
        from matplotlib.figure import Figure

        if ax is None:
            fig = Figure(figsize=(6, 3.5))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        values = np.asarray(self.array).reshape(-1, self.array.shape[-1])
        for row in values:
            ax.plot(self.distances(), row)
        ax.set_xlabel("distance along the scan [Å]")
        ax.set_ylabel(label)
        return fig


class LineScan:
    """Positions on the segment ``start`` → ``end`` [Å], including ``end`` by default.

    Give ``gpts`` (number of positions) or ``sampling`` (maximum step [Å]; default the probe's
    Nyquist step).

    Examples
    --------
    >>> LineScan((0, 0), (3, 4), gpts=3).positions.tolist()
    [[0.0, 0.0], [1.5, 2.0], [3.0, 4.0]]
    """

    def __init__(
        self,
        start: Any,
        end: Any,
        sampling: float | None = None,
        gpts: int | None = None,
        endpoint: bool = True,
    ):
        _check_step_arguments(sampling, gpts)
        self.start = np.asarray(check_pair("start", start, check=check_real), dtype=float)
        self.end = np.asarray(check_pair("end", end, check=check_real), dtype=float)
        self.sampling = None if sampling is None else check_positive("sampling", sampling)
        self.gpts = None if gpts is None else check_positive_int("gpts", gpts)
        self.endpoint = bool(endpoint)

    def resolve(
        self, default_sampling: float, extent: tuple[float, float], name: str = "sampling"
    ) -> LineScan:
        """A copy with the step (default ``default_sampling`` [Å]) filled in.

        Raises ``ValueError`` before any position is made if the positions alone do not fit in
        memory; the message calls the step ``name``.
        """
        resolved = self
        if self.gpts is None and self.sampling is None:
            resolved = LineScan(self.start, self.end, default_sampling, None, self.endpoint)
        length = float(np.linalg.norm(self.end - self.start))
        _check_positions(
            [_count(length, resolved.gpts, resolved.sampling, self.endpoint)],
            _step_text(self.gpts, self.sampling, default_sampling, name),
        )
        return resolved

    @property
    def shape(self) -> tuple[int]:
        """(number of positions,)."""
        if self.gpts is None and self.sampling is None:
            raise ValueError("this LineScan has no step yet: give sampling or gpts, or resolve()")
        length = float(np.linalg.norm(self.end - self.start))
        return (_steps(length, self.gpts, self.sampling, self.endpoint)[0],)

    @property
    def positions(self) -> np.ndarray:
        """Positions (n, 2) [Å] from ``start`` towards ``end``."""
        n = self.shape[0]
        intervals = n - 1 if self.endpoint else n
        fractions = np.arange(n) / max(intervals, 1)
        return self.start + fractions[:, None] * (self.end - self.start)

    def measurement(self, array: np.ndarray, metadata: dict[str, Any]) -> LineProfiles:
        """``array`` [..., n] as `LineProfiles`."""
        positions = self.positions
        step = float(np.linalg.norm(positions[1] - positions[0])) if len(positions) > 1 else None
        return LineProfiles(np.asarray(array, dtype=np.float32), positions, step, metadata)


class CustomScan:
    """Any positions (n, 2) [Å], measured in the order given.

    Examples
    --------
    >>> CustomScan([[1.0, 2.0], [3.0, 4.0]]).shape
    (2,)
    """

    def __init__(self, positions: Any):
        positions = check_finite_array("positions", positions)
        if positions.ndim != 2 or positions.shape[1] != 2 or len(positions) == 0:
            raise ValueError(
                f"positions must be an (n, 2) array [Å] with n ≥ 1, got shape {positions.shape}"
            )
        self.positions = positions

    def resolve(self, default_sampling: float, extent: tuple[float, float]) -> CustomScan:
        """Itself (custom positions need nothing filled in)."""
        return self

    @property
    def shape(self) -> tuple[int]:
        """(number of positions,)."""
        return (len(self.positions),)

    def measurement(self, array: np.ndarray, metadata: dict[str, Any]) -> LineProfiles:
        """``array`` [..., n] as `LineProfiles` without a step."""
        return LineProfiles(np.asarray(array, dtype=np.float32), self.positions, None, metadata)


def as_scan(scan: Any) -> GridScan | LineScan | CustomScan:
    """``scan`` itself if it is a scan, a `CustomScan` of an (n, 2) array, `GridScan()` for None.

    Examples
    --------
    >>> as_scan([[1.0, 2.0]]).shape
    (1,)
    """
    if scan is None:
        return GridScan()
    if isinstance(scan, (GridScan, LineScan, CustomScan)):
        return scan
    if isinstance(scan, (list, tuple, np.ndarray)):
        return CustomScan(np.atleast_2d(scan))
    raise TypeError(
        f"scan must be a GridScan, LineScan, CustomScan or an (n, 2) array, got {type(scan).__name__}"
    )
