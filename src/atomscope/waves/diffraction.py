"""Diffraction patterns |Ψ(k)|² on scattering-angle axes (CBED, 4D-STEM frames).

Angles use the small-angle relation α = λ k [rad] (as the aberrations do), reported in mrad.
Intensities are normalised by Parseval's theorem: a pattern of the whole grid sums to Σ|ψ|²
of the real-space wave, so a probe's pattern (Σ|ψ|² = 1) is the fraction of the electrons
scattered into each pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.energy import energy2wavelength
from atomscope.core.fft import fft2
from atomscope.core.grid import Grid
from atomscope.core.validate import check_pair, check_positive

#: Band limit of the multislice transmission function and propagator, fraction of Nyquist.
ANTIALIAS_CUTOFF = 2 / 3


def max_simulated_angle(grid: Grid, energy: float, cutoff: float = ANTIALIAS_CUTOFF) -> float:
    """Largest scattering angle [mrad] a multislice run on ``grid`` carries.

    The transmission function is band-limited to ``cutoff`` × Nyquist of the coarser axis,
    k_max = cutoff / (2 δ_max) (`Grid.antialias_aperture`), so α_max = λ k_max.

    Examples
    --------
    >>> round(max_simulated_angle(Grid(gpts=256, sampling=0.05), 200e3), 2)
    167.2
    """
    wavelength = energy2wavelength(energy)
    return float(wavelength * cutoff / (2 * max(grid.sampling)) * 1e3)


def angular_sampling(grid: Grid, energy: float) -> tuple[float, float]:
    """Pixel size of the diffraction plane [mrad]: λ / extent along x and y (α = λk).

    Examples
    --------
    >>> [round(a, 4) for a in angular_sampling(Grid(gpts=100, sampling=0.1), 200e3)]
    [2.5079, 2.5079]
    """
    wavelength = energy2wavelength(energy)
    return tuple(float(wavelength / extent * 1e3) for extent in grid.extent)


def fft_angles(grid: Grid, energy: float) -> tuple[np.ndarray, np.ndarray]:
    """Scattering angles αx, αy [mrad] of the FFT-ordered frequencies, shapes (nx,), (ny,).

    Examples
    --------
    >>> ax, ay = fft_angles(Grid(gpts=4, sampling=0.25), 200e3)
    >>> (ax / ax[1]).tolist()
    [0.0, 1.0, -2.0, -1.0]
    """
    wavelength = energy2wavelength(energy)
    kx, ky = grid.frequencies()
    return kx * wavelength * 1e3, ky * wavelength * 1e3


def half_widths(grid: Grid, energy: float, max_angle: float) -> tuple[int, int]:
    """Pixels n per side so that the centred crop (2n+1 pixels) reaches ``max_angle`` [mrad].

    Examples
    --------
    >>> half_widths(Grid(gpts=100, sampling=0.1), 200e3, max_angle=10.0)
    (3, 3)
    """
    return tuple(int(np.floor(max_angle / step + 1e-9)) for step in angular_sampling(grid, energy))


def crop_centred(array: np.ndarray, half: tuple[int, int]) -> np.ndarray:
    """The frequencies −n…n of an FFT-ordered ``array`` [..., nx, ny], zero frequency centred.

    Examples
    --------
    >>> crop_centred(np.arange(8.0).reshape(1, 8), (0, 2)).tolist()
    [[6.0, 7.0, 0.0, 1.0, 2.0]]
    """
    rows = np.arange(-half[0], half[0] + 1) % array.shape[-2]
    columns = np.arange(-half[1], half[1] + 1) % array.shape[-1]
    return array[..., rows[:, None], columns[None, :]]


def check_max_angle(max_angle: Any, limit: float, name: str = "max_angle") -> float:
    """``max_angle`` [mrad] as a float in (0, ``limit``], or raise naming both.

    Parameters
    ----------
    max_angle
        The requested angle [mrad].
    limit
        The largest allowed angle [mrad], e.g. `max_simulated_angle`.
    name
        What to call ``max_angle`` in the message (e.g. the command-line option).

    Examples
    --------
    >>> check_max_angle(40, limit=120.0)
    40.0
    """
    max_angle = check_positive(name, max_angle)
    if max_angle > limit * (1 + 1e-9):
        raise ValueError(
            f"{name}={max_angle} mrad exceeds the maximum simulated angle {limit:.2f} mrad "
            f"(2/3 of the Nyquist frequency; allowed range 0 < {name} ≤ {limit:.2f} mrad); "
            f"use a finer sampling or a smaller {name}"
        )
    return max_angle


class DiffractionPatterns:
    """Diffraction intensities [..., αx, αy] with the zero angle at the centre pixel.

    Parameters
    ----------
    array
        Intensities [..., mx, my] (odd mx, my; the direct beam at index (mx // 2, my // 2)).
        May be a NumPy array or a zarr array (a 4D-STEM dataset on disk).
    angular_sampling
        Pixel size [mrad] along αx and αy.
    energy
        Electron energy [eV].
    metadata
        Record of how the patterns were made (probe, scan sampling, ...).

    Examples
    --------
    >>> patterns = DiffractionPatterns(np.ones((5, 5)), angular_sampling=2.0, energy=200e3)
    >>> patterns.max_angles, patterns.angles()[0].tolist()
    ((4.0, 4.0), [-4.0, -2.0, 0.0, 2.0, 4.0])
    """

    def __init__(
        self,
        array: Any,
        angular_sampling: float | tuple[float, float],
        energy: float,
        metadata: dict[str, Any] | None = None,
    ):
        if len(array.shape) < 2 or array.shape[-2] % 2 == 0 or array.shape[-1] % 2 == 0:
            raise ValueError(
                f"array must be [..., mx, my] with odd mx and my (zero angle centred), "
                f"got shape {array.shape}"
            )
        self.array = array
        self.angular_sampling = check_pair("angular_sampling", angular_sampling)
        self.energy = check_positive("energy", energy)
        self.metadata = dict(metadata or {})

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape."""
        return tuple(self.array.shape)

    @property
    def max_angles(self) -> tuple[float, float]:
        """Angle [mrad] of the outermost pixel along αx and αy."""
        return tuple(
            n // 2 * step for n, step in zip(self.shape[-2:], self.angular_sampling, strict=True)
        )

    def angles(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel angles αx, αy [mrad], shapes (mx,) and (my,), zero at the centre."""
        return tuple(
            (np.arange(n) - n // 2) * step
            for n, step in zip(self.shape[-2:], self.angular_sampling, strict=True)
        )

    def mean(self) -> np.ndarray:
        """The pattern averaged over every leading axis (e.g. position-averaged CBED), float64."""
        array = np.asarray(self.array[...], dtype=np.float64)
        return array.reshape(-1, *array.shape[-2:]).mean(axis=0)

    def plot(self, ax=None, log: bool = True, title: str = "diffraction pattern"):
        """Draw the pattern (leading axes averaged) with αx to the right, αy up [mrad].

        Parameters
        ----------
        ax
            A matplotlib Axes to draw into; a new figure is made if None.
        log
            Logarithmic colour scale (the dynamic range of CBED is large).
        title
            Axes title.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> fig = DiffractionPatterns(np.ones((5, 5)), 2.0, 200e3).plot()
        >>> fig.axes[0].get_xlabel()
        'αx [mrad]'
        """
        from matplotlib.colors import LogNorm
        from matplotlib.figure import Figure

        if ax is None:
            fig = Figure(figsize=(5, 4.5))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        values = self.mean()
        positive = values[values > 0]
        norm = None
        if log and positive.size:
            norm = LogNorm(vmin=max(positive.min(), positive.max() * 1e-6), vmax=positive.max())
        (ax_max, ay_max) = self.max_angles
        half = np.array(self.angular_sampling) / 2
        mappable = ax.imshow(
            values.T,
            origin="lower",
            extent=(-ax_max - half[0], ax_max + half[0], -ay_max - half[1], ay_max + half[1]),
            norm=norm,
            cmap="inferno",
            interpolation="nearest",
        )
        ax.set_xlabel("αx [mrad]")
        ax.set_ylabel("αy [mrad]")
        ax.set_title(title)
        fig.colorbar(mappable, ax=ax, label="intensity (fraction per pixel)", shrink=0.8)
        return fig


def diffraction_patterns(waves, max_angle: float | None = None) -> DiffractionPatterns:
    """|F[ψ]|² / N of ``waves`` (a `Waves`), centred and cropped to ``max_angle`` [mrad].

    The default ``max_angle`` is the maximum simulated angle (`max_simulated_angle`). With
    ``waves.weights`` the patterns are the weighted (incoherent) sum over the leading axis.

    Examples
    --------
    >>> from atomscope.waves.waves import Waves
    >>> pattern = diffraction_patterns(Waves(np.ones((8, 8)), 0.1, 200e3))
    >>> pattern.shape, float(pattern.array.sum())
    ((5, 5), 64.0)
    """
    limit = max_simulated_angle(waves.grid, waves.energy)
    max_angle = limit if max_angle is None else check_max_angle(max_angle, limit)
    size = waves.gpts[0] * waves.gpts[1]
    spectrum = fft2(waves.array)
    # Parseval: Σ_k |F[ψ]|² = N Σ_r |ψ|², so |F[ψ]|²/N sums to the real-space norm
    intensity = (
        np.square(np.abs(crop_centred(spectrum, half_widths(waves.grid, waves.energy, max_angle))))
        / size
    )
    if waves.weights is not None:
        intensity = np.tensordot(waves.weights, intensity, axes=(0, 0))
    return DiffractionPatterns(
        intensity.astype(np.float32),
        angular_sampling(waves.grid, waves.energy),
        waves.energy,
        {**waves.metadata, "max_angle": max_angle},
    )
