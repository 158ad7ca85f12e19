"""Matplotlib figures for atomscope results; every figure has physical axes or a scale bar."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from atomscope.images import pixel_extent
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
        extent=pixel_extent(array.shape, sampling),  # pixel (i, j) centred at (i, j) × sampling
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


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120, tight: bool = True) -> None:
    """Save ``fig`` as PNG atomically and close it; ``tight`` crops to the drawn content (which
    renders the figure twice)."""
    with atomic_output(path) as tmp:
        fig.savefig(
            tmp,
            dpi=dpi,
            bbox_inches="tight" if tight else None,
            format="png",
            pil_kwargs={"compress_level": 3},  # half the time of the default 6, 10 % larger
        )
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


def reconstruction_png(
    path: str | os.PathLike, waves, residuals: np.ndarray, title: str = "exit wave"
) -> None:
    """A reconstructed wave: amplitude, phase (relative to the mean wave) and the misfit per
    iteration."""
    array = waves.array
    mean = array.mean()
    if abs(mean) > 0:
        array = array * (np.conj(mean) / abs(mean))
    fig, (left, middle, right) = plt.subplots(
        1, 3, figsize=(16, 4.8), gridspec_kw={"wspace": 0.5, "width_ratios": [1, 1, 0.9]}
    )
    fig.suptitle(title)
    show_image(left, np.abs(array), waves.sampling, "amplitude", colorbar_label="|ψ|")
    show_image(
        middle,
        np.angle(array),
        waves.sampling,
        "phase (relative to the mean wave)",
        cmap="twilight",
        colorbar_label="phase [rad]",
    )
    right.semilogy(np.arange(1, len(residuals) + 1), residuals, "k-")
    right.set_xlabel("iteration")
    right.set_ylabel("misfit ‖|ψₙ| − √Iₙ‖ / ‖√Iₙ‖")
    right.set_title("convergence")
    right.grid(alpha=0.3)
    save_figure(fig, path)


def mtf_figure(estimate, edge=None) -> Figure:
    """A measured camera MTF (`MTFEstimate`): the MTF (measured, model, knife edge), the
    noise power spectrum normalised to NPS(0) = 1 with MTF², and the DQE."""
    fig = Figure(figsize=(15, 4.5))
    left, middle, right = fig.subplots(1, 3)
    q = np.linspace(0, float(estimate.q.max()), 400)
    left.plot(estimate.q, estimate.measured, "k.", ms=3, label="flat fields √(NPS/NPS(0))")
    left.plot(q, estimate.mtf.evaluate(q), "C3-", label=f"model: {estimate.mtf.name}")
    if edge is not None:
        left.plot(edge.q, edge.measured, "C0-", label="knife edge")
    left.set_ylim(0, 1.1)
    left.set_title("MTF")
    left.legend(fontsize=8)
    if estimate.nps is not None:
        middle.semilogy(estimate.q, estimate.nps, "k.", ms=3, label="NPS / NPS(0)")
        middle.semilogy(q, estimate.mtf.evaluate(q) ** 2, "C3-", label="model MTF²")
        middle.legend(fontsize=8)
    middle.set_title("noise power spectrum")
    if estimate.dqe is not None:
        right.plot(estimate.q, estimate.dqe, "k.", ms=3)
        right.axhline(1, color="0.6", lw=0.8)
        right.set_title(f"DQE (DQE(0) = {estimate.dqe0:.3f})")
    for ax in (left, middle, right):
        ax.set_xlabel("q = k / k_Nyquist")
        ax.axvline(1.0, color="0.8", lw=0.8)
    fig.tight_layout()
    return fig


def iam_difference_figure(comparison) -> Figure:
    """DFT vs independent-atom potential (`IAMDifference`): both projected potentials, their
    difference, and the radially averaged ratio of Fourier coefficients."""
    fig = Figure(figsize=(16, 4.2))
    axes = fig.subplots(1, 4)
    limit = float(np.abs(comparison.difference).max())
    for ax, array, title, cmap, limits in (
        (axes[0], comparison.dft, "DFT projected potential", "viridis", None),
        (axes[1], comparison.iam, f"IAM ({comparison.parametrization})", "viridis", None),
        (axes[2], comparison.difference, "DFT − IAM", "RdBu_r", (-limit, limit)),
    ):
        show_image(ax, array, comparison.sampling, title, cmap, colorbar_label="V·Å")
        if limits is not None:
            ax.images[0].set_clim(*limits)
    axes[3].plot(comparison.k, 100 * comparison.relative, "k.-")
    axes[3].axhline(0, color="0.6", lw=0.8)
    axes[3].set_xlabel("k [1/Å]")
    axes[3].set_ylabel("|P_DFT(k)| / |P_IAM(k)| − 1 [%]")
    axes[3].set_title("Fourier coefficients")
    fig.tight_layout()
    return fig


def series_figure(result) -> Figure:
    """An image series (`SeriesResult`): the drift-corrected mean image with each site coloured
    by its occurrence and sized by its event fraction (seed Fig 6.26), and the drift."""
    fig = Figure(figsize=(12, 5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    show_image(left, result.mean_image, result.sampling, "mean image and sites")
    points = left.scatter(
        result.site_positions[:, 0],
        result.site_positions[:, 1],
        c=100 * result.occurrence,
        s=10 + 400 * result.events,
        cmap="plasma",
        vmin=0,
        vmax=100,
        edgecolors="white",
        linewidths=0.5,
    )
    fig.colorbar(points, ax=left, label="occurrence [%] (size: events)")
    right.plot(result.drift[:, 0], label="x")
    right.plot(result.drift[:, 1], label="y")
    right.set_xlabel("frame")
    right.set_ylabel("drift [Å]")
    right.set_title("drift (the scene's displacement)")
    right.legend()
    fig.tight_layout()
    return fig


def counts_figure(image, recognition) -> Figure:
    """Atoms per column (`Recognition.counts`, seed Figs 6.27–6.29): ``image`` (`Images`, e.g.
    the middle image of the focal series) with every column coloured by its count, and the
    histogram of counts."""
    fig = Figure(figsize=(12, 5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    show_image(left, image.array, image.sampling, "atoms per column")
    counts = np.asarray(recognition.counts)
    if len(counts):
        points = left.scatter(
            recognition.positions[:, 0],
            recognition.positions[:, 1],
            c=counts,
            s=30,
            cmap="viridis",
            vmin=counts.min(),
            vmax=counts.max(),
            edgecolors="white",
            linewidths=0.5,
        )
        fig.colorbar(points, ax=left, label="atoms in the column")
        right.hist(counts, bins=np.arange(counts.min(), counts.max() + 2) - 0.5, color="0.3")
    right.set_xlabel("atoms in the column")
    right.set_ylabel("columns")
    right.set_title(f"{len(counts)} columns, {int(counts.sum())} atoms")
    fig.tight_layout()
    return fig


def series_animation(path: str | os.PathLike, frames: np.ndarray, result, chosen) -> None:
    """An animated GIF (8 frames/s) of drift-corrected ``frames`` — the series' frames with
    indices ``chosen``, NaN where a frame did not see — with the sites occupied in each frame
    marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    fig = Figure(figsize=(5, 5), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    show_image(ax, frames[0], result.sampling, "")
    image = ax.images[0]
    image.set_clim(*np.nanpercentile(frames, [1, 99]))
    marks = ax.scatter([], [], s=30, facecolors="none", edgecolors="C1", linewidths=1)
    pictures = []
    for frame, t in zip(frames, chosen, strict=True):
        image.set_data(frame.T)
        marks.set_offsets(result.site_positions[result.occupancy[t]].reshape(-1, 2))
        ax.set_title(f"frame {t}: {int(result.occupancy[t].sum())} sites occupied")
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        pictures.append(Image.fromarray(rgba[..., :3]).quantize(colors=128))
    with atomic_output(path) as tmp:
        pictures[0].save(
            tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=125, loop=0
        )


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


def strain_png(
    path: str | os.PathLike, image, strain, rmsd=None, gpa=None, focus: np.ndarray | None = None
) -> None:
    """Template-matching strain (εxx, εyy, εxy, rotation, RMSD) and, if given, GPA maps.

    ``image`` is an `Images`, ``strain`` a `atomscope.analysis.Strain`, ``rmsd`` per-point
    RMSD and ``gpa`` a `GPAResult` drawn as a second row of the same components. ``focus``
    (boolean per point, default all) selects the points whose values set the colour ranges, so
    the force-matched points along an edge saturate instead of washing out the interior. The
    three strain components of both rows share one colour range and one colour bar; rotation
    and RMSD have their own. The panels sit on a fixed grid, so the figure is laid out and
    rendered once (a tight bounding box renders it twice).
    """
    components = [("exx", "εxx"), ("eyy", "εyy"), ("exy", "εxy"), ("rotation", "rotation [rad]")]
    rows = 2 if gpa is not None else 1
    columns = len(components) + (rmsd is not None)
    grid = _PanelGrid(rows, columns)
    focus = np.ones(len(strain.points), bool) if focus is None else np.asarray(focus, bool)
    strain_values = [getattr(strain, name) for name, _ in components]
    limit = _percentile_limit(*(values[focus] for values in strain_values[:3]))
    for column, ((name, label), values) in enumerate(zip(components, strain_values, strict=True)):
        dots = show_points(
            grid.axes[0][column],
            image.array,
            image.sampling,
            strain.points,
            values,
            f"templates: {label}",
            limit=_percentile_limit(values[focus]) if name == "rotation" else limit,
        )
        if column >= 2:  # under εxy: the bar of all three strain panels; under the rotation
            grid.bar(dots, 0, 0 if column == 2 else 3, column, "strain" if column == 2 else label)
    if rmsd is not None:
        dots = show_points(
            grid.axes[0][-1],
            image.array,
            image.sampling,
            strain.points,
            rmsd,
            "templates: RMSD",
            cmap="viridis",
            limit=_percentile_limit(np.asarray(rmsd)[focus]),
            symmetric=False,
        )
        grid.bar(dots, 0, columns - 1, columns - 1, "RMSD")
    if gpa is not None:
        for column, (name, label) in enumerate(components):
            values = getattr(gpa, name)
            scale = limit if name != "rotation" else float(np.percentile(np.abs(values), 99))
            mappable = show_image(
                grid.axes[1][column], values, image.sampling, f"GPA: {label}", cmap="RdBu_r"
            )
            mappable.set_clim(-scale, scale)
            if column >= 2:
                first = 0 if column == 2 else 3
                grid.bar(mappable, 1, first, column, "strain" if column == 2 else label)
        for column in range(len(components), columns):
            grid.axes[1][column].set_axis_off()
    save_figure(grid.figure, path, tight=False)


_PANEL = 3.2  # [inch] side of one image panel
_GAP = 0.2  # [inch] between panels
_BAR = 0.12  # [inch] height of a colour bar
_TITLE = 0.35  # [inch] above a panel for its title
_LABELS = 0.75  # [inch] below the bar for its ticks and label


def _percentile_limit(*values: np.ndarray) -> float:
    """The 99th percentile of |values| over the finite ones (1 when there are none)."""
    finite = np.concatenate([np.ravel(v)[np.isfinite(np.ravel(v))] for v in values])
    return float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0


class _PanelGrid:
    """A figure of ``rows`` × ``columns`` square image panels with room for a horizontal colour
    bar under each; bars spanning several panels are added by `bar`."""

    def __init__(self, rows: int, columns: int):
        self.width = columns * (_PANEL + _GAP) + _GAP
        self.height = rows * (_TITLE + _PANEL + _BAR + _LABELS)
        self.figure = plt.figure(figsize=(self.width, self.height))
        self.axes = [
            [self.figure.add_axes(self._box(row, column)) for column in range(columns)]
            for row in range(rows)
        ]

    def _top(self, row: int) -> float:
        return self.height - row * (_TITLE + _PANEL + _BAR + _LABELS) - _TITLE

    def _box(self, row: int, column: int) -> tuple[float, float, float, float]:
        left = _GAP + column * (_PANEL + _GAP)
        bottom = self._top(row) - _PANEL
        return left / self.width, bottom / self.height, _PANEL / self.width, _PANEL / self.height

    def bar(self, mappable, row: int, first: int, last: int, label: str) -> None:
        """A colour bar under panels ``first`` … ``last`` of ``row`` with three ticks: the two
        limits and the middle; values beyond them saturate (the bar's pointed ends)."""
        left = _GAP + first * (_PANEL + _GAP) + 0.1 * _PANEL
        right = _GAP + last * (_PANEL + _GAP) + 0.9 * _PANEL
        bottom = self._top(row) - _PANEL - 0.1 - _BAR
        box = (left / self.width, bottom / self.height, (right - left) / self.width)
        cax = self.figure.add_axes((*box, _BAR / self.height))
        low, high = mappable.get_clim()
        self.figure.colorbar(
            mappable,
            cax=cax,
            orientation="horizontal",
            label=label,
            ticks=[low, (low + high) / 2, high],
            format="{x:.2g}",
            extend="both",
        )
