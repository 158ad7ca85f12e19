"""Matplotlib figures for atomscope results; every figure has physical axes or a scale bar."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from atomscope.outputs import atomic_output

_NICE_LENGTHS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def _scale_bar_length(extent_x: float) -> float:
    target = extent_x / 5
    return max([v for v in _NICE_LENGTHS if v <= target] or [_NICE_LENGTHS[0]])


def show_image(
    ax,
    array: np.ndarray,
    sampling,
    title: str = "",
    cmap: str = "gray",
    scale_bar: bool = True,
    colorbar_label: str | None = None,
):
    """Draw an ``[x, y]`` array with x to the right and y up, plus a scale bar in Å or nm.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> _ = show_image(ax, np.random.default_rng(0).random((32, 32)), (0.1, 0.1), "noise")
    >>> plt.close(fig)
    """
    sampling = np.broadcast_to(np.asarray(sampling, dtype=float), (2,))
    extent_x, extent_y = array.shape[0] * sampling[0], array.shape[1] * sampling[1]
    mappable = ax.imshow(
        array.T,
        origin="lower",
        cmap=cmap,
        extent=(0, extent_x, 0, extent_y),
        interpolation="nearest",
    )
    ax.set_title(title)
    ax.set_axis_off()
    if scale_bar:
        length = _scale_bar_length(extent_x)
        label = f"{length / 10:g} nm" if length >= 10 else f"{length:g} Å"
        x0, y0 = 0.05 * extent_x, 0.05 * extent_y
        ax.plot([x0, x0 + length], [y0, y0], color="white", linewidth=4, solid_capstyle="butt")
        ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=1.5, solid_capstyle="butt")
        ax.text(
            x0 + length / 2,
            y0 + 0.03 * extent_y,
            label,
            color="white",
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
        )
    if colorbar_label is not None:
        ax.figure.colorbar(mappable, ax=ax, label=colorbar_label, shrink=0.8)
    return mappable


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save ``fig`` as PNG atomically and close it."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def image_png(
    path: str | os.PathLike,
    images,
    title: str = "",
    cmap: str = "gray",
    colorbar_label: str | None = None,
) -> None:
    """Write one `Images` (2D) as a PNG with a scale bar."""
    fig, ax = plt.subplots(figsize=(5, 5))
    show_image(ax, images.array, images.sampling, title, cmap, colorbar_label=colorbar_label)
    save_figure(fig, path)


def exit_wave_png(path: str | os.PathLike, waves, title: str = "exit wave") -> None:
    """Amplitude and phase of a 2D `Waves` side by side."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 5))
    show_image(
        left, np.abs(waves.array), waves.sampling, f"{title}: amplitude", colorbar_label="|ψ|"
    )
    show_image(
        right,
        np.angle(waves.array),
        waves.sampling,
        f"{title}: phase",
        cmap="twilight",
        colorbar_label="phase [rad]",
    )
    save_figure(fig, path)


def show_points(
    ax,
    array: np.ndarray,
    sampling,
    points: np.ndarray,
    values: np.ndarray,
    title: str = "",
    cmap: str = "RdBu_r",
    colorbar_label: str | None = None,
    limit: float | None = None,
    scale_bar: bool = True,
    symmetric: bool = True,
):
    """Per-point values as coloured dots over a grey ``[x, y]`` image; NaN points drawn hollow.

    ``points`` are pixel coordinates ``[x, y]``; the colour range is ±``limit`` (default: the
    99th percentile of |values|), or 0…``limit`` when ``symmetric`` is False.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> _ = show_points(ax, np.zeros((8, 8)), 1.0, np.array([[2.0, 3.0]]), np.array([0.01]))
    >>> plt.close(fig)
    """
    sampling = np.broadcast_to(np.asarray(sampling, dtype=float), (2,))
    show_image(ax, array, sampling, title, scale_bar=scale_bar)
    points = np.asarray(points, dtype=float) * sampling
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if limit is None:
        limit = float(np.percentile(np.abs(values[finite]), 99)) if finite.any() else 1.0
    limit = limit or 1.0
    size = max(2.0, 800.0 / max(len(points), 1) ** 0.5)
    dots = ax.scatter(
        points[finite, 0],
        points[finite, 1],
        c=values[finite],
        s=size,
        cmap=cmap,
        vmin=-limit if symmetric else 0.0,
        vmax=limit,
        edgecolors="none",
    )
    ax.scatter(
        points[~finite, 0],
        points[~finite, 1],
        s=size,
        facecolors="none",
        edgecolors="yellow",
        linewidths=0.8,
    )
    if colorbar_label is not None:
        ax.figure.colorbar(dots, ax=ax, label=colorbar_label, shrink=0.8)
    return dots


def strain_png(path: str | os.PathLike, image, strain, rmsd=None, gpa=None) -> None:
    """Template-matching strain (εxx, εyy, εxy, rotation, RMSD) and, if given, GPA maps.

    ``image`` is an `Images`, ``strain`` a `atomscope.analysis.Strain`, ``rmsd`` per-point
    RMSD and ``gpa`` a `GPAResult` drawn as a second row of the same components.
    """
    components = [("exx", "εxx"), ("eyy", "εyy"), ("exy", "εxy"), ("rotation", "rotation [rad]")]
    rows = 2 if gpa is not None else 1
    columns = len(components) + (rmsd is not None)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    strain_values = [getattr(strain, name) for name, _ in components]
    finite = np.concatenate([v[np.isfinite(v)] for v in strain_values[:3]])
    limit = float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0
    for ax, (name, label), values in zip(axes[0], components, strain_values, strict=False):
        show_points(
            ax,
            image.array,
            image.sampling,
            strain.points,
            values,
            f"templates: {label}",
            colorbar_label=label,
            limit=None if name == "rotation" else limit,
        )
    if rmsd is not None:
        show_points(
            axes[0, -1],
            image.array,
            image.sampling,
            strain.points,
            rmsd,
            "templates: RMSD",
            cmap="viridis",
            colorbar_label="RMSD",
            symmetric=False,
        )
    if gpa is not None:
        for ax, (name, label) in zip(axes[1], components, strict=False):
            values = getattr(gpa, name)
            scale = limit if name != "rotation" else float(np.percentile(np.abs(values), 99))
            mappable = show_image(ax, values, image.sampling, f"GPA: {label}", cmap="RdBu_r")
            mappable.set_clim(-scale, scale)
            fig.colorbar(mappable, ax=ax, label=label, shrink=0.8)
        for ax in axes[1, len(components) :]:
            ax.set_axis_off()
    save_figure(fig, path)
