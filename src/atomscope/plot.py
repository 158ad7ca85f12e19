"""Matplotlib figures for atomscope results; every figure has physical axes or a scale bar."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from atomscope.io import atomic_output

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
