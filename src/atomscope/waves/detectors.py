"""STEM detectors: what `Probe.scan` keeps of each exit wave.

A detector turns a batch of exit waves into one signal per probe position:

- `AnnularDetector` / `SegmentedDetector`: the diffracted intensity |Ψ(k)|²/N (which sums to 1
  for a probe) integrated over an annulus, or over its radial × azimuthal segments, in
  scattering angle α = λk [mrad]; pixel (αx, αy) belongs to the annulus if inner ≤ α < outer.
- `PixelatedDetector`: the whole pattern up to ``max_angle`` (4D-STEM), kept in memory or
  written batch by batch to a zarr store whose attribute ``complete`` turns true only after the
  last batch, so an interrupted run never looks finished.
- `WavesDetector`: the exit waves themselves.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse

from atomscope.core.grid import Grid
from atomscope.core.validate import check_nonnegative, check_positive_int, check_real
from atomscope.waves.diffraction import (
    DiffractionPatterns,
    angular_sampling,
    check_max_angle,
    crop_centred,
    fft_angles,
    half_widths,
    max_simulated_angle,
)
from atomscope.waves.waves import Waves


class SegmentedDetector:
    """An annulus cut into ``nbins_radial`` rings × ``nbins_azimuthal`` sectors.

    Parameters
    ----------
    inner, outer
        Collection semi-angles [mrad], 0 ≤ inner < outer ≤ the maximum simulated angle.
    nbins_radial
        Number of rings of equal width.
    nbins_azimuthal
        Number of sectors of equal angle.
    rotation
        Azimuth where the first sector starts [rad], counter-clockwise from +αx.

    Notes
    -----
    The measurement of a grid scan is `Images` [ring, sector, scan x, scan y].

    Examples
    --------
    >>> detector = SegmentedDetector(10, 40, nbins_radial=2, nbins_azimuthal=4)
    >>> detector.signal_shape
    (2, 4)
    """

    def __init__(
        self,
        inner: float,
        outer: float,
        nbins_radial: int = 1,
        nbins_azimuthal: int = 1,
        rotation: float = 0.0,
    ):
        self.inner = check_nonnegative("inner", inner)
        self.outer = check_nonnegative("outer", outer)
        if self.inner >= self.outer:
            raise ValueError(
                f"inner ({self.inner} mrad) must be smaller than outer ({self.outer} mrad)"
            )
        self.nbins_radial = check_positive_int("nbins_radial", nbins_radial)
        self.nbins_azimuthal = check_positive_int("nbins_azimuthal", nbins_azimuthal)
        self.rotation = check_real("rotation", rotation)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(inner={self.inner}, outer={self.outer}, "
            f"nbins_radial={self.nbins_radial}, nbins_azimuthal={self.nbins_azimuthal}, "
            f"rotation={self.rotation})"
        )

    @property
    def signal_shape(self) -> tuple[int, ...]:
        """Shape of the signal of one probe position: (rings, sectors)."""
        return (self.nbins_radial, self.nbins_azimuthal)

    def check(self, max_angle: float) -> None:
        """Raise ``ValueError`` if ``outer`` exceeds ``max_angle`` [mrad]."""
        if self.outer > max_angle * (1 + 1e-9):
            raise ValueError(
                f"{type(self).__name__} outer angle {self.outer} mrad exceeds the maximum "
                f"simulated angle {max_angle:.2f} mrad (2/3 of the Nyquist frequency); use a "
                "finer potential sampling or a smaller outer angle"
            )

    def bins(self, ax: np.ndarray, ay: np.ndarray) -> np.ndarray:
        """Bin index (ring · sectors + sector) of every pixel at angles ``ax``, ``ay`` [mrad]
        (1D axes), −1 outside the annulus; int (len(ax), len(ay))."""
        alpha = np.hypot(ax[:, None], ay[None, :])
        phi = np.mod(np.arctan2(ay[None, :], ax[:, None]) - self.rotation, 2 * np.pi)
        width = (self.outer - self.inner) / self.nbins_radial
        ring = np.floor((alpha - self.inner) / width).astype(int)
        sector = np.floor(phi / (2 * np.pi / self.nbins_azimuthal)).astype(int)
        sector = np.minimum(sector, self.nbins_azimuthal - 1)
        inside = (alpha >= self.inner) & (alpha < self.outer)
        return np.where(inside, ring * self.nbins_azimuthal + sector, -1)

    def _matrix(self, ax: np.ndarray, ay: np.ndarray) -> scipy.sparse.csr_matrix:
        """Sparse (pixels, bins) 0/1 matrix: intensity (B, pixels) @ matrix = signals."""
        bins = self.bins(ax, ay).ravel()
        pixels = np.flatnonzero(bins >= 0)
        size = self.nbins_radial * self.nbins_azimuthal
        return scipy.sparse.csr_matrix(
            (np.ones(len(pixels), np.float32), (pixels, bins[pixels])), shape=(len(bins), size)
        )

    def reducer(self, grid: Grid, energy: float):
        """A function (waves, FFT-ordered intensity (B, nx, ny)) → signals (B, *signal_shape)."""
        matrix = self._matrix(*fft_angles(grid, energy)).T.tocsr()
        shape = self.signal_shape

        def reduce(waves: np.ndarray, intensity: np.ndarray) -> np.ndarray:
            flat = intensity.reshape(len(intensity), -1)
            return np.asarray((matrix @ flat.T).T, dtype=np.float32).reshape(-1, *shape)

        return reduce

    def integrate(self, patterns: DiffractionPatterns) -> np.ndarray:
        """The detector signal of (centred) ``patterns``, shape [..., *signal_shape] (virtual
        detector).

        Examples
        --------
        >>> from atomscope.waves.diffraction import DiffractionPatterns
        >>> patterns = DiffractionPatterns(np.ones((21, 21)), 1.0, 200e3)
        >>> float(AnnularDetector(0, 1.2).integrate(patterns))  # the centre and 4 neighbours
        5.0
        """
        self.check(min(patterns.max_angles) + min(patterns.angular_sampling) / 2)
        array = np.asarray(patterns.array[...], dtype=np.float32)
        leading = array.shape[:-2]
        flat = array.reshape(-1, array.shape[-2] * array.shape[-1])
        signals = np.asarray(flat @ self._matrix(*patterns.angles()), dtype=np.float64)
        return signals.reshape((*leading, *self.signal_shape))

    def allocate(self, shape: tuple[int, ...], grid: Grid, energy: float) -> np.ndarray:
        """The output array for a scan of ``shape``: float32 (*shape, *signal_shape)."""
        return np.zeros((*shape, *self.signal_shape), dtype=np.float32)

    def finish(self, output: np.ndarray, scan, grid: Grid, energy: float, metadata: dict):
        """Wrap the filled output: signal axes first, then the scan axes ([..., x, y])."""
        scan_axes = len(scan.shape)
        array = np.moveaxis(output, tuple(range(scan_axes)), tuple(range(-scan_axes, 0)))
        return scan.measurement(array, {**metadata, "detector": repr(self)})


class AnnularDetector(SegmentedDetector):
    """Integrates the diffracted intensity over inner ≤ α < outer [mrad] (BF, ABF, ADF,
    HAADF); a grid scan gives `Images` [scan x, scan y].

    Examples
    --------
    >>> AnnularDetector(70, 200)
    AnnularDetector(inner=70.0, outer=200.0)
    """

    def __init__(self, inner: float, outer: float):
        super().__init__(inner, outer, 1, 1, 0.0)

    def __repr__(self) -> str:
        return f"AnnularDetector(inner={self.inner}, outer={self.outer})"

    @property
    def signal_shape(self) -> tuple[int, ...]:
        """() — one number per probe position."""
        return ()


class PixelatedDetector:
    """Keeps every diffraction pattern up to ``max_angle`` (4D-STEM).

    Parameters
    ----------
    max_angle
        Largest angle kept [mrad]; default the maximum simulated angle.
    path
        A zarr store (directory) to write to, one batch at a time; None keeps the patterns in
        memory. The store's attribute ``complete`` is false until the last batch is written.

    Notes
    -----
    The measurement is `DiffractionPatterns` [*scan shape, αx, αy] (its ``array`` is the zarr
    array when ``path`` is given).

    Examples
    --------
    >>> PixelatedDetector(max_angle=40)
    PixelatedDetector(max_angle=40.0, path=None)
    """

    def __init__(self, max_angle: float | None = None, path: str | os.PathLike | None = None):
        self.max_angle = None if max_angle is None else check_max_angle(max_angle, np.inf)
        self.path = None if path is None else os.fspath(path)

    def __repr__(self) -> str:
        return f"PixelatedDetector(max_angle={self.max_angle}, path={self.path!r})"

    def check(self, max_angle: float) -> None:
        """Raise ``ValueError`` if ``max_angle`` exceeds the simulated maximum [mrad]."""
        if self.max_angle is not None:
            check_max_angle(self.max_angle, max_angle)

    def _half(self, grid: Grid, energy: float) -> tuple[int, int]:
        limit = max_simulated_angle(grid, energy)
        return half_widths(grid, energy, limit if self.max_angle is None else self.max_angle)

    def reducer(self, grid: Grid, energy: float):
        """A function (waves, FFT-ordered intensity) → centred, cropped patterns."""
        half = self._half(grid, energy)

        def reduce(waves: np.ndarray, intensity: np.ndarray) -> np.ndarray:
            return crop_centred(intensity, half)

        return reduce

    def allocate(self, shape: tuple[int, ...], grid: Grid, energy: float):
        """An in-memory float32 array or a new zarr array marked incomplete."""
        half = self._half(grid, energy)
        full = (*shape, 2 * half[0] + 1, 2 * half[1] + 1)
        if self.path is None:
            return np.zeros(full, dtype=np.float32)
        import zarr

        frame = full[-2] * full[-1] * 4
        rows = max(1, min(shape[-1], 16 * 2**20 // frame))
        chunks = (*(1,) * (len(shape) - 1), rows, *full[-2:])
        array = zarr.open_array(self.path, mode="w", shape=full, chunks=chunks, dtype="float32")
        array.attrs.update(
            complete=False,
            angular_sampling=list(angular_sampling(grid, energy)),
            energy=energy,
        )
        return array

    def finish(self, output, scan, grid: Grid, energy: float, metadata: dict):
        """`DiffractionPatterns` over the scan; a zarr store is marked complete."""
        metadata = {**metadata, "detector": repr(self), "scan_shape": list(scan.shape)}
        if self.path is not None:
            output.attrs.update(complete=True, scan_shape=list(scan.shape))
        return DiffractionPatterns(output, angular_sampling(grid, energy), energy, metadata)


class WavesDetector:
    """Keeps the exit waves, a `Waves` [*scan shape, nx, ny] (memory: 8 bytes per pixel per
    position; not for frozen-phonon potentials, whose waves do not average).

    Examples
    --------
    >>> WavesDetector()
    WavesDetector()
    """

    def __repr__(self) -> str:
        return "WavesDetector()"

    def check(self, max_angle: float) -> None:
        """Nothing to check: the waves carry every angle."""

    def reducer(self, grid: Grid, energy: float):
        """A function (waves, intensity) → a copy of the waves."""

        def reduce(waves: np.ndarray, intensity: np.ndarray) -> np.ndarray:
            return waves.copy()

        return reduce

    def allocate(self, shape: tuple[int, ...], grid: Grid, energy: float) -> np.ndarray:
        """A complex64 array (*shape, nx, ny)."""
        return np.zeros((*shape, *grid.gpts), dtype=np.complex64)

    def finish(self, output: np.ndarray, scan, grid: Grid, energy: float, metadata: dict):
        """`Waves` with the scan axes leading."""
        return Waves(output, grid.sampling, energy, metadata={**metadata, "detector": repr(self)})


Detector = SegmentedDetector | PixelatedDetector | WavesDetector
DETECTORS = (SegmentedDetector, PixelatedDetector, WavesDetector)


def as_detectors(detectors: Any) -> list[Detector]:
    """A list of detectors from one detector or a sequence of them, checking their types.

    Examples
    --------
    >>> as_detectors(AnnularDetector(70, 200))
    [AnnularDetector(inner=70.0, outer=200.0)]
    """
    if isinstance(detectors, DETECTORS):
        return [detectors]
    detectors = list(detectors) if isinstance(detectors, (list, tuple)) else [detectors]
    if not detectors:
        raise ValueError("detectors must name at least one detector")
    for detector in detectors:
        if not isinstance(detector, DETECTORS):
            raise TypeError(
                "detectors must be AnnularDetector, SegmentedDetector, PixelatedDetector or "
                f"WavesDetector instances, got {type(detector).__name__}"
            )
    return detectors


def write_positions(output: Any, scan_shape: tuple[int, ...], start: int, values: np.ndarray):
    """Write ``values`` for the flat (row-major) positions ``start …`` into ``output``
    [*scan_shape, ...], one contiguous run per scan row (works for NumPy and zarr arrays).

    Examples
    --------
    >>> output = np.zeros((2, 3))
    >>> write_positions(output, (2, 3), 2, np.array([1.0, 2.0, 3.0]))
    >>> output.tolist()
    [[0.0, 0.0, 1.0], [2.0, 3.0, 0.0]]
    """
    if len(scan_shape) == 1:
        output[start : start + len(values)] = values
        return
    ny = scan_shape[1]
    stop = start + len(values)
    for row in range(start // ny, (stop - 1) // ny + 1):
        first, last = max(start, row * ny), min(stop, (row + 1) * ny)
        output[row, first - row * ny : last - row * ny] = values[first - start : last - start]
