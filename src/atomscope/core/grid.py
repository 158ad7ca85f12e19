"""The lateral sampling grid shared by potentials, waves and images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atomscope.core.validate import check_pair, check_positive, check_positive_int

_RELATIVE_TOLERANCE = 1e-6
_FAST_PRIMES = (2, 3, 5, 7)
#: Axes longer than this are not rounded (no machine holds such a grid; the memory checks
#: refuse it, and searching upward from, say, 1e300 pixels would never end)
_LARGEST_ROUNDED = 2**24
_MAX_PIXELS = 2**31  # per axis: more is no grid at all (int32 indices, exabytes of memory)


def fast_fft_size(n: int) -> int:
    """The smallest n' ≥ n whose prime factors are 2, 3, 5 and 7: sizes FFTW and pocketfft
    transform fastest (a 570-pixel axis, 2·3·5·19, measured 2.5× slower than 576 = 2⁶·3²).

    Examples
    --------
    >>> [fast_fft_size(n) for n in (1, 13, 570, 1021)]
    [1, 14, 576, 1024]
    """
    n = max(1, int(n))
    if n > _LARGEST_ROUNDED:
        return n
    while True:
        rest = n
        for prime in _FAST_PRIMES:
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return n
        n += 1


def _int_pair(name, value):
    return check_pair(name, value, check=lambda n, v: check_positive_int(n, v, minimum=1))


@dataclass(frozen=True)
class Grid:
    """A periodic 2D grid: ``extent`` = ``gpts`` × ``sampling`` along x and y.

    Any two of ``extent`` [Å], ``gpts`` and ``sampling`` [Å] determine the third. Given an extent
    and a sampling, ``gpts`` is rounded up to the next fast FFT size (`fast_fft_size`: prime
    factors 2, 3, 5, 7) and the sampling shrinks to fit the extent exactly, so it is at most the
    one asked for; ``gpts`` given explicitly is kept. Giving all three inconsistently raises
    ``ValueError``.

    Examples
    --------
    >>> grid = Grid(extent=10.0, sampling=0.3)
    >>> grid.gpts, round(grid.sampling[0], 4)
    ((35, 35), 0.2857)
    """

    extent: tuple[float, float]
    gpts: tuple[int, int]
    sampling: tuple[float, float]

    def __init__(self, extent=None, gpts=None, sampling=None):
        given = [v is not None for v in (extent, gpts, sampling)]
        if sum(given) < 2:
            raise ValueError(
                "Grid needs two of extent, gpts and sampling; got "
                f"extent={extent!r}, gpts={gpts!r}, sampling={sampling!r}"
            )
        extent = check_pair("extent", extent) if extent is not None else None
        gpts = _int_pair("gpts", gpts) if gpts is not None else None
        sampling = check_pair("sampling", sampling) if sampling is not None else None
        if extent is not None and gpts is not None:
            derived = tuple(e / n for e, n in zip(extent, gpts, strict=True))
            if sampling is not None and not np.allclose(
                derived, sampling, rtol=_RELATIVE_TOLERANCE
            ):
                raise ValueError(
                    f"extent={extent}, gpts={gpts} and sampling={sampling} contradict each "
                    f"other: extent / gpts = {derived}"
                )
            sampling = derived
        elif extent is not None:
            counts = [e / d for e, d in zip(extent, sampling, strict=True)]
            if max(counts) > _MAX_PIXELS:
                raise ValueError(
                    f"sampling {sampling} Å is too fine for the extent {extent} Å: "
                    f"{max(counts):.3g} pixels per axis (at most {_MAX_PIXELS:.3g})"
                )
            gpts = tuple(fast_fft_size(int(np.ceil(n - _RELATIVE_TOLERANCE))) for n in counts)
            if min(gpts) < 2:
                raise ValueError(
                    f"sampling {sampling} Å must be at most half the extent {extent} Å "
                    "(the grid needs at least 2 pixels per axis)"
                )
            sampling = tuple(e / n for e, n in zip(extent, gpts, strict=True))
        else:
            extent = tuple(n * d for n, d in zip(gpts, sampling, strict=True))
        object.__setattr__(self, "extent", tuple(float(e) for e in extent))
        object.__setattr__(self, "gpts", tuple(int(n) for n in gpts))
        object.__setattr__(self, "sampling", tuple(float(d) for d in sampling))

    @property
    def reciprocal_sampling(self) -> tuple[float, float]:
        """Spacing of the spatial frequencies [1/Å]."""
        return (1 / self.extent[0], 1 / self.extent[1])

    @property
    def nyquist(self) -> tuple[float, float]:
        """Nyquist frequency 1 / (2 δ) along x and y [1/Å]."""
        return (0.5 / self.sampling[0], 0.5 / self.sampling[1])

    def frequencies(self) -> tuple[np.ndarray, np.ndarray]:
        """Spatial frequencies kx, ky in FFT order [1/Å] (no 2π), shapes (nx,) and (ny,)."""
        return (
            np.fft.fftfreq(self.gpts[0], self.sampling[0]),
            np.fft.fftfreq(self.gpts[1], self.sampling[1]),
        )

    def frequency_squared(self) -> np.ndarray:
        """k² = kx² + ky² on the full grid in FFT order [1/Å²], float64 (nx, ny)."""
        kx, ky = self.frequencies()
        return kx[:, None] ** 2 + ky[None, :] ** 2

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates x, y [Å] (pixel i at i δ)."""
        return (
            np.arange(self.gpts[0]) * self.sampling[0],
            np.arange(self.gpts[1]) * self.sampling[1],
        )

    def antialias_aperture(self, cutoff: float = 2 / 3, taper: float = 0.01) -> np.ndarray:
        """Band-limiting aperture in FFT order, float32 (nx, ny).

        1 below ``cutoff`` × Nyquist of the coarser axis, 0 above, with a raised-cosine edge of
        width ``taper`` / δ [1/Å] (abTEM's defaults: cutoff 2/3, taper 0.01).
        """
        cutoff = check_positive("cutoff", cutoff)
        k_cut = cutoff / max(self.sampling) / 2
        width = taper / max(self.sampling)
        k = np.sqrt(self.frequency_squared())
        if width <= 0:
            return (k < k_cut).astype(np.float32)
        aperture = (k <= k_cut - width).astype(np.float32)
        edge = (k > k_cut - width) & (k <= k_cut)  # the raised cosine only on its thin ring
        aperture[edge] = 0.5 * (1 + np.cos(np.pi * (k[edge] - k_cut + width) / width))
        return aperture
