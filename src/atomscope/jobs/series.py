"""What ``atomscope series`` runs: an image series in, drift, sites and per-site statistics out."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np

SERIES_OUTPUTS = (
    "sites.csv",
    "tracks.csv",
    "series.npz",
    "series.png",
    "detections.gif",
    "summary.json",
)
#: Peak bytes the analysis and its outputs add per pixel of every frame, measured with
#: ``/usr/bin/time -v atomscope series`` (20–60 frames of 256²–512²: 34–37 B): the float64
#: stack, its aligned copy, the filtered mean and the animation's frames.
SERIES_BYTES_PER_PIXEL = 40
#: most frames drawn into detections.gif (longer series are subsampled evenly)
GIF_FRAMES = 100


def _write_sites(path: Path, result) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "site",
                "x_A",
                "y_A",
                "occurrence",
                "events",
                "mean_occupied_frames",
                "mean_empty_frames",
            ]
        )
        for j, (x, y) in enumerate(result.site_positions):
            dwell = result.dwell_times(j)
            occupied = f"{dwell['occupied'].mean():.3f}" if len(dwell["occupied"]) else ""
            empty = f"{dwell['empty'].mean():.3f}" if len(dwell["empty"]) else ""
            writer.writerow(
                [
                    j,
                    f"{x:.4f}",
                    f"{y:.4f}",
                    f"{result.occurrence[j]:.4f}",
                    f"{result.events[j]:.4f}",
                    occupied,
                    empty,
                ]
            )


def _write_tracks(path: Path, tracks) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "track", "x_A", "y_A"])
        for frame, track, (x, y) in zip(tracks.frame, tracks.track, tracks.positions, strict=True):
            writer.writerow([int(frame), int(track), f"{x:.4f}", f"{y:.4f}"])


def _column_tracks(
    frames, result, spacing, bright_atoms, periodic, track_range, track_memory, progress
):
    """`track_columns` of the columns found in each frame moved back by the series' drift (one
    frame at a time: no second aligned copy of the stack)."""
    from tqdm.auto import tqdm

    from atomscope.analysis.series import align_frames
    from atomscope.analysis.tracks import column_detections, track_columns

    detections = []
    for t in tqdm(range(len(frames.array)), desc="tracks", disable=not progress):
        aligned = align_frames(
            frames.array[t : t + 1], result.drift[t : t + 1], frames.sampling, periodic
        )
        detections += column_detections(aligned, frames.sampling, spacing, bright_atoms)
    return track_columns(detections, track_range, track_memory)


def run_series(
    frames,
    out: str | Path,
    spacing: float = 2.0,
    bright_atoms: bool = True,
    max_step: float | None = None,
    model="peaks",
    periodic: bool = False,
    name: str = "series",
    progress: bool = True,
    track_range: float | None = None,
    track_memory: int = 0,
) -> dict:
    """`analyse_series` of ``frames`` written into ``out``: sites.csv (position [Å], occurrence,
    event fraction, mean dwell times [frames]), tracks.csv (the columns found in every
    drift-corrected frame linked into tracks, `analysis.tracks`: frame, track, position [Å]),
    series.npz (occupancy, drift [Å], sites [Å], signals), series.png (mean image with the
    sites by occurrence and events, and the drift), detections.gif (the aligned frames with the
    occupied sites marked) and summary.json.

    Parameters
    ----------
    frames
        `Images` stack [t, x, y] with its pixel size [Å] (counts).
    out
        Output directory; only files an earlier ``series`` run wrote are replaced.
    spacing, bright_atoms, max_step, model, periodic
        As `analyse_series`.
    name
        The series' name for the summary.
    progress
        Progress bars.
    track_range
        Farthest a column moves between two frames [Å] for `track_columns`; default half of
        ``spacing``.
    track_memory
        Frames a column may go unseen and keep its track.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    started = time.perf_counter()
    arguments = {key: value for key, value in locals().items() if key not in ("frames", "started")}
    from atomscope import io, plot
    from atomscope.analysis.series import align_frames, analyse_series, series_model
    from atomscope.core.memory import check_and_report
    from atomscope.core.validate import check_positive, check_positive_int
    from atomscope.outputs import check_output_directory, claim_outputs, staged_outputs
    from atomscope.summary import write_summary

    if frames.array.ndim != 3 or len(frames.array) < 2:
        raise ValueError(
            f"the series must be a stack of at least 2 frames [t, x, y], got shape {frames.shape}"
        )
    recognizer = series_model(model, frames.sampling)  # refused before any work
    track_range = spacing / 2 if track_range is None else check_positive("track_range", track_range)
    track_memory = check_positive_int("track_memory", track_memory, minimum=0)
    out = check_output_directory(out)
    claim_outputs(out, "series", SERIES_OUTPUTS)
    check_and_report(
        SERIES_BYTES_PER_PIXEL * frames.array.size,
        f"a series of {len(frames.array)} frames of {frames.shape[1]}×{frames.shape[2]}",
        "analyse fewer frames (a subset of the files) or bin the frames",
    )
    result = analyse_series(
        frames.array,
        frames.sampling,
        spacing,
        bright_atoms,
        max_step,
        model="peaks" if recognizer is None else recognizer,
        progress=progress,
        periodic=periodic,
    )
    tracks = _column_tracks(
        frames, result, spacing, bright_atoms, periodic, track_range, track_memory, progress
    )
    with staged_outputs(out, "series") as stage:
        _write_sites(stage / "sites.csv", result)
        _write_tracks(stage / "tracks.csv", tracks)
        io.write_npz(
            stage / "series.npz",
            occupancy=result.occupancy,
            drift=result.drift,
            site_positions=result.site_positions,
            signals=result.signals,
            sampling=np.asarray(result.sampling),
        )
        plot.save_figure(plot.series_figure(result), stage / "series.png")
        # only the frames the animation shows are aligned here (analyse_series aligned all)
        count = len(frames.array)
        chosen = np.unique(np.linspace(0, count - 1, GIF_FRAMES).round().astype(int))
        aligned = align_frames(
            frames.array[chosen], result.drift[chosen], frames.sampling, periodic
        )
        plot.series_animation(stage / "detections.gif", aligned, result, chosen)
        results = {
            "series": name,
            "num_frames": count,
            "frame_shape": list(frames.array.shape[1:]),
            "sampling_A": frames.sampling,
            "sampling_source": frames.sampling_source,
            "model": str(model)
            if isinstance(model, str | os.PathLike)
            else result.settings["model"],
            "num_sites": len(result.site_positions),
            "num_flipping_sites": int(np.sum(result.events > 0)),
            "mean_occurrence_of_flipping_sites": float(result.occurrence[result.events > 0].mean())
            if np.any(result.events > 0)
            else None,
            "num_tracks": tracks.count,
            "num_tracks_in_every_frame": int(
                np.sum(np.bincount(tracks.track, minlength=tracks.count) == count)
            ),
            "drift_total_A": np.linalg.norm(result.drift[-1]).item(),
            "drift_largest_step_A": float(
                np.linalg.norm(np.diff(result.drift, axis=0), axis=1).max()
            ),
        }
        summary = write_summary(
            stage / "summary.json", "series", arguments, SERIES_OUTPUTS, started, results
        )
    return summary
