"""Tracks of atomic columns that move: columns found in every drift-corrected frame, linked
from frame to frame by trackpy (Crocker & Grier 1996: the nearest-neighbour assignment of least
total squared displacement within a search range).

`analyse_series` counts atoms on fixed sites; where columns move (a surface column that glides,
a particle that rotates), their paths are what is measured. The frames are first moved back by
the series' drift (`align_frames`), so a track is the column's motion on the specimen, not the
stage's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from atomscope.analysis.peaks import find_peaks, refine_peaks
from atomscope.core.validate import (
    check_finite_array,
    check_pair,
    check_positive,
    check_positive_int,
    check_range,
)

__all__ = ["Tracks", "column_detections", "track_columns"]


@dataclass(frozen=True)
class Tracks:
    """Linked column detections, one row per column per frame, ordered by track then frame.

    Attributes
    ----------
    frame
        (n,) frame index of each detection.
    track
        (n,) track number (0, 1, …) of each detection.
    positions
        (n, 2) [Å, x, y] on the first frame's field of view.
    """

    frame: np.ndarray
    track: np.ndarray
    positions: np.ndarray

    @property
    def count(self) -> int:
        """Number of tracks."""
        return int(self.track.max()) + 1 if len(self.track) else 0

    def path(self, track: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames (k,) and positions (k, 2) [Å] of one track."""
        chosen = self.track == track
        return self.frame[chosen], self.positions[chosen]


def column_detections(
    aligned: np.ndarray,
    sampling: float | tuple[float, float],
    spacing: float = 2.0,
    bright_atoms: bool = True,
    threshold: float = 0.25,
) -> list[np.ndarray]:
    """Column positions (k_t, 2) [Å] in each frame of ``aligned`` [t, x, y] (drift-corrected
    frames, NaN where a frame did not see; or a model's atom probability, bright).

    Each frame is smoothed by a Gaussian of σ ``spacing``/8 (as `analyse_series` smooths the
    mean image; wider, it shifts a column near the frame's edge), its maxima at least ``spacing``/2 apart and higher than
    ``threshold`` of the smoothed frame's range above its minimum are refined to sub-pixel
    (seed Eq 3.4). Pixels the frame did not see take no part (normalised convolution), and
    no maximum is taken there.

    Examples
    --------
    >>> x = np.arange(40) * 0.1
    >>> frame = np.exp(-((x[:, None] - 1.5) ** 2 + (x[None, :] - 2.5) ** 2) / 0.1)
    >>> column_detections(frame[None], 0.1)[0].round(2).tolist()
    [[1.5, 2.5]]
    """
    aligned = np.asarray(aligned, dtype=float)
    if aligned.ndim != 3:
        raise ValueError(f"aligned must be frames [t, x, y], got {aligned.ndim} dimension(s)")
    pixel = np.asarray(check_pair("sampling", sampling))
    spacing = check_positive("spacing", spacing)
    threshold = check_range("threshold", threshold, 0.0, 1.0)
    sigma = spacing / 8 / pixel
    min_distance = max(1, int(spacing / 2 / pixel.max()))
    window = max(3, 2 * int(spacing / 4 / pixel.max()) + 1)
    detections = []
    for frame in aligned:
        seen = np.isfinite(frame)
        if not seen.any():
            detections.append(np.empty((0, 2)))
            continue
        # normalised convolution: unseen pixels neither count nor pull a column toward them
        weight = ndimage.gaussian_filter(seen.astype(float), sigma, mode="constant")
        total = ndimage.gaussian_filter(np.where(seen, frame, 0.0), sigma, mode="constant")
        smooth = np.where(seen, total / np.maximum(weight, 1e-12), np.nan)
        smooth[~seen] = np.min(smooth[seen])
        image = smooth if bright_atoms else -smooth
        peaks = find_peaks(image, min_distance, threshold, exclude_border=False)
        peaks = peaks[seen[peaks[:, 0].astype(int), peaks[:, 1].astype(int)]]
        found = refine_peaks(image, peaks, window=window) if len(peaks) else peaks
        detections.append(found * pixel)
    return detections


def track_columns(
    detections: list[np.ndarray],
    search_range: float,
    memory: int = 0,
) -> Tracks:
    """Link per-frame column positions into tracks (trackpy's ``link``).

    Parameters
    ----------
    detections
        One (k_t, 2) array [Å, x, y] per frame, e.g. `column_detections`.
    search_range
        Farthest a column moves between two frames [Å] (> 0); keep it below half the spacing
        of the columns, or neighbours are swapped.
    memory
        Frames a column may go unseen and keep its track (≥ 0).

    Returns
    -------
    Tracks

    Examples
    --------
    >>> frames = [np.array([[1.0, 1.0], [5.0, 5.0]]), np.array([[5.1, 5.0], [1.0, 1.2]])]
    >>> tracks = track_columns(frames, search_range=0.5)
    >>> tracks.count, tracks.path(0)[1].tolist()
    (2, [[1.0, 1.0], [1.0, 1.2]])
    """
    import pandas
    import trackpy

    search_range = check_positive("search_range", search_range)
    memory = check_positive_int("memory", memory, minimum=0)
    rows = []
    for t, found in enumerate(detections):
        found = check_finite_array(f"detections[{t}]", found).reshape(-1, 2)
        rows.append(np.column_stack([np.full(len(found), t), found]))
    table = np.concatenate(rows) if rows else np.empty((0, 3))
    if len(table) == 0:
        empty = np.empty(0, dtype=int)
        return Tracks(empty, empty, np.empty((0, 2)))
    trackpy.quiet()  # its per-frame log lines
    with warnings.catch_warnings():  # trackpy 0.7's own use of a keyword pandas 3.1 deprecates
        warnings.filterwarnings("ignore", message="The inplace keyword", module="trackpy")
        linked = trackpy.link(
            pandas.DataFrame(
                {"frame": table[:, 0].astype(int), "x": table[:, 1], "y": table[:, 2]}
            ),
            search_range,
            memory=memory,
        )
    # tracks numbered 0, 1, … by their first detection: its frame, then its x and y
    _, track = np.unique(linked["particle"].to_numpy(), return_inverse=True)
    frame, positions = linked["frame"].to_numpy(), linked[["x", "y"]].to_numpy()
    order = np.lexsort((positions[:, 1], positions[:, 0], frame, track))
    starts = order[np.r_[True, np.diff(track[order]) != 0]]  # each track's first detection
    ranked = starts[np.lexsort((positions[starts, 1], positions[starts, 0], frame[starts]))]
    renumber = np.empty(len(starts), dtype=int)
    renumber[track[ranked]] = np.arange(len(starts))
    track = renumber[track]
    order = np.lexsort((frame, track))
    return Tracks(frame[order].astype(int), track[order].astype(int), positions[order])
