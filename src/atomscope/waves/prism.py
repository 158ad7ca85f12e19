"""PRISM: STEM from a scattering matrix of tilted plane waves (Ophus 2017).

Multislice is linear in the wave, so the exit wave of a probe Ψ(k) = A(k) exp(−iχ(k))
exp(−2πi k·r_p) is the sum of the exit waves S_j of the plane waves exp(2πi k_j·r) it contains,
weighted by its Fourier coefficients (Ophus 2017, Adv. Struct. Chem. Imaging 3:13, Eq 4:
ψ(r; r_p) = Σ_j α_j(r_p) S_j(r), with α_j(r_p) = A(k_j) exp(−iχ(k_j)) exp(−2πi k_j·r_p)).
The S-matrix {S_j} is computed once, with the ordinary multislice, for the beams inside the
aperture; every probe position is then a weighted sum instead of a multislice run.

With interpolation factor f only every f-th Fourier pixel along x and y is a beam (Ophus 2017,
Eq 5), so there are about f² fewer beams; the sum is then periodic with period extent / f, and
one period centred on the probe (the crop window, Ophus 2017 Fig 2) is its exit wave. f = 1 is
exact multislice; larger f trades accuracy (probe tails wrapping into the window) for speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.fft import empty, fft2_inplace, import_wisdom, plan_and_export
from atomscope.core.grid import Grid
from atomscope.core.memory import check_memory, estimate
from atomscope.core.validate import check_positive_int
from atomscope.parallel import ordered_map
from atomscope.waves.detectors import WavesDetector, as_detectors, write_positions
from atomscope.waves.multislice import exp_i, run_multislice
from atomscope.waves.probe import BATCH_BYTES, Probe, _StoredSlices, check_inside
from atomscope.waves.scan import as_scan

#: Positions whose window sums share one matrix product (bounds its rows × y × positions).
GROUP_SIZE = 64


def window_origins(positions: np.ndarray, grid: Grid, window: Grid) -> np.ndarray:
    """First pixel (x, y) of the crop window centred on each probe position (n, 2) [Å]; the
    window wraps periodically around the cell (Ophus 2017, Fig 2).

    Examples
    --------
    >>> grid = Grid(gpts=(8, 8), sampling=0.5)
    >>> window_origins(np.array([[2.0, 0.0]]), grid, Grid(gpts=(4, 4), sampling=0.5)).tolist()
    [[2, -2]]
    """
    return np.rint(positions / np.array(grid.sampling)).astype(int) - np.array(window.gpts) // 2


class PRISM:
    """A probe simulated through the PRISM S-matrix with interpolation factor ``interpolation``.

    Parameters
    ----------
    probe
        The `Probe` (energy, aperture, aberrations).
    interpolation
        Interpolation factor f ≥ 1 (an int; both grid dimensions must be divisible by it).
        f = 1 reproduces `Probe.scan` exactly.

    Examples
    --------
    >>> from ase import Atoms
    >>> from atomscope.potentials.projected import Potential
    >>> from atomscope.waves.detectors import AnnularDetector
    >>> from atomscope.waves.scan import GridScan
    >>> vacuum = Potential(Atoms(cell=[4, 4, 2]), gpts=40, slice_thickness=1)
    >>> prism = PRISM(Probe(200e3, 20), interpolation=2)
    >>> bright_field, = prism.scan(vacuum, AnnularDetector(0, 25), GridScan(gpts=(2, 2)))
    >>> bright_field.array.round(4).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(self, probe: Probe, interpolation: int = 1):
        if not isinstance(probe, Probe):
            raise TypeError(f"probe must be an atomscope Probe, got {type(probe).__name__}")
        self.probe = probe
        self.interpolation = check_positive_int("interpolation", interpolation)

    def __repr__(self) -> str:
        return f"PRISM({self.probe!r}, interpolation={self.interpolation})"

    def window(self, grid: Grid) -> Grid:
        """The crop window: gpts / f pixels of the same sampling (one period of the sum)."""
        f = self.interpolation
        if grid.gpts[0] % f or grid.gpts[1] % f:
            raise ValueError(
                f"interpolation={f} must divide the grid gpts {grid.gpts}; choose gpts that are "
                f"multiples of {f}"
            )
        return Grid(gpts=(grid.gpts[0] // f, grid.gpts[1] // f), sampling=grid.sampling)

    def beams(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """The S-matrix beams of ``grid``: their FFT indices (n, 2) on the full grid and the
        probe coefficients α_j (n,) complex64 at r_p = 0, scaled so the window probe has
        Σ|ψ|² = 1.

        The beams are every f-th Fourier pixel (frequencies m·f / extent) where the aperture is
        open; in FFT order they are ``fourier_array[::f, ::f]``, the frequencies of the window.

        Examples
        --------
        >>> indices, alpha = PRISM(Probe(200e3, 20), 2).beams(Grid(gpts=64, sampling=0.1))
        >>> len(indices), round(float(np.sum(np.abs(alpha) ** 2)) * 32 * 32, 5)
        (21, 1.0)
        """
        window = self.window(grid)
        f = self.interpolation
        sub = self.probe.fourier_array(grid)[::f, ::f].astype(np.complex128)
        indices = np.argwhere(sub != 0)
        alpha = sub[indices[:, 0], indices[:, 1]]
        size = window.gpts[0] * window.gpts[1]
        # Parseval on the window: Σ_window|Σ_j α_j e^{2πik_j·r}|² = N_w Σ_j|α_j|² = 1
        alpha *= 1 / np.sqrt(size * np.sum(np.abs(alpha) ** 2))
        return indices * f, alpha.astype(np.complex64)

    def estimate(self, potential, num_positions: int, detectors: Any) -> int:
        """Estimated peak memory [bytes] of a scan: the S-matrix, one beam batch, the kept
        slices, the detector outputs and a batch of window waves.

        Examples
        --------
        >>> from ase import Atoms
        >>> from atomscope.potentials.projected import Potential
        >>> from atomscope.waves.detectors import AnnularDetector
        >>> vacuum = Potential(Atoms(cell=[12.8, 12.8, 2]), gpts=128, slice_thickness=1)
        >>> PRISM(Probe(200e3, 20), 4).estimate(vacuum, 100, AnnularDetector(70, 150)) > 0
        True
        """
        return self._plan(potential, num_positions, as_detectors(detectors))[-1]

    def _plan(self, potential, num_positions: int, detectors: list) -> tuple[int, int, int]:
        """(beam batch size, position batch size, estimated peak bytes)."""
        grid = potential.grid
        window = self.window(grid)
        num_beams = len(self.beams(grid)[0])
        wave_bytes = estimate("waves", gpts=grid.gpts)
        window_bytes = estimate("waves", gpts=window.gpts)
        beam_batch = max(1, min(num_beams, BATCH_BYTES // wave_bytes))
        position_batch = max(1, min(num_positions, BATCH_BYTES // (3 * window_bytes)))
        outputs = 0
        for detector in detectors:
            in_memory = getattr(detector, "path", None) is None or potential.num_configs > 1
            signal = detector.allocate((1,), window, self.probe.energy).nbytes
            outputs += signal * num_positions * (1 + (potential.num_configs > 1)) * in_memory
        slices = estimate("potential_slices", gpts=grid.gpts, num_slices=potential.num_slices)
        nbytes = (
            estimate("smatrix", gpts=grid.gpts, num_beams=num_beams)
            + 2 * beam_batch * wave_bytes  # beam batch and its multislice scratch
            + (slices if num_beams > beam_batch else 0)
            + outputs
            + position_batch * 3 * window_bytes  # window waves, intensity, signals
            + GROUP_SIZE * window_bytes * self.interpolation  # one group's row sums
        )
        return beam_batch, position_batch, int(nbytes)

    def build(self, potential, progress: bool = False, client=None) -> np.ndarray:
        """The S-matrix of a single-configuration ``potential``: complex64 (nx, ny, beams),
        the exit waves of the unit plane waves exp(2πi k_j·r) of `beams` (Ophus 2017, Eq 3).

        Beams are the last axis, so a crop window is a strided view whose rows are
        matrix-vector products with the coefficients, without copying. With a Dask ``client``
        the beam batches are parallel tasks (bit-identical, as for `Probe.scan`).

        Examples
        --------
        >>> from ase import Atoms
        >>> from atomscope.potentials.projected import Potential
        >>> vacuum = Potential(Atoms(cell=[4, 4, 2]), gpts=40, slice_thickness=1)
        >>> smatrix = PRISM(Probe(200e3, 20), 2).build(vacuum)
        >>> smatrix.shape, bool(np.allclose(np.abs(smatrix), 1, atol=1e-5))
        ((40, 40, 9), True)
        """
        from tqdm.auto import tqdm

        grid = potential.grid
        self.probe.check_grid(grid)
        indices, _ = self.beams(grid)
        beam_batch = self._plan(potential, 1, [])[0]
        batches = [indices[i : i + beam_batch] for i in range(0, len(indices), beam_batch)]
        wisdom = None if client is None else plan_and_export((beam_batch, *grid.gpts))
        if client is None and len(batches) > 1:
            potential = _StoredSlices(potential)
        runner = _PlaneWaveBatch(potential, self.probe.energy, beam_batch, wisdom)
        smatrix = np.empty((*grid.gpts, len(indices)), dtype=np.complex64)
        bar = tqdm(total=len(indices), desc="S-matrix", unit="beam", disable=not progress)
        start = 0
        for waves in ordered_map(runner, batches, client):
            smatrix[:, :, start : start + len(waves)] = waves.transpose(1, 2, 0)
            start += len(waves)
            bar.update(len(waves))
        bar.close()
        return smatrix

    def scan(
        self,
        potential,
        detectors: Any,
        scan: Any = None,
        progress: bool = False,
        client=None,
    ) -> list:
        """STEM through the S-matrix: the same arguments and results as `Probe.scan`.

        Per configuration the S-matrix is built once, then every position's exit wave in the
        crop window is Σ_j α_j(r_p) S_j (Ophus 2017, Eq 4), Fourier transformed and passed to
        the detectors. Frozen-phonon configurations are averaged with equal weights. Detector
        outputs are on the window's coarser angular grid (λ f / extent per pixel).

        Parameters
        ----------
        potential
            A `Potential` (or a frozen-phonon one); gpts divisible by ``interpolation``.
        detectors
            One detector or a list (see `Probe.scan`); `WavesDetector` keeps the window waves.
        scan
            `GridScan`, `LineScan`, `CustomScan` or an (n, 2) array [Å]; default a grid over the
            cell at the probe's Nyquist sampling.
        progress
            Show progress bars (S-matrix beams and scan positions).
        client
            Optional Dask client: the S-matrix beam batches run as parallel tasks.

        Returns
        -------
        list
            One measurement per detector, in order, as `Probe.scan`.

        Examples
        --------
        >>> from ase import Atoms
        >>> from atomscope.potentials.projected import Potential
        >>> from atomscope.waves.detectors import AnnularDetector
        >>> vacuum = Potential(Atoms(cell=[4, 4, 2]), gpts=40, slice_thickness=1)
        >>> image, = PRISM(Probe(200e3, 20), 1).scan(vacuum, AnnularDetector(0, 25))
        >>> image.shape, round(float(image.array.mean()), 4)
        ((13, 13), 1.0)
        """
        from tqdm.auto import tqdm

        detectors = as_detectors(detectors)
        grid = potential.grid
        window = self.window(grid)
        limit = self.probe.check_grid(grid)
        for detector in detectors:
            detector.check(limit)
        scan = as_scan(scan).resolve(self.probe.nyquist_sampling(), potential.extent)
        positions = scan.positions
        check_inside(positions, potential.extent)
        configurations = list(potential.configurations)
        if len(configurations) > 1 and any(isinstance(d, WavesDetector) for d in detectors):
            raise ValueError(
                "WavesDetector cannot average the exit waves of frozen-phonon configurations; "
                "use a potential with one configuration"
            )
        _, position_batch, nbytes = self._plan(potential, len(positions), detectors)
        check_memory(
            nbytes,
            f"a PRISM scan (interpolation {self.interpolation}) of {len(positions)} positions "
            f"on {grid.gpts} pixels",
            "use a larger interpolation factor or a coarser potential sampling",
        )
        energy = self.probe.energy
        outputs = [d.allocate(scan.shape, window, energy) for d in detectors]
        sums = None
        if len(configurations) > 1:
            sums = [np.zeros(output.shape, output.dtype) for output in outputs]
        reducers = [d.reducer(window, energy) for d in detectors]
        indices, alpha = self.beams(grid)
        kx, ky = grid.frequencies()
        beam_kx, beam_ky = kx[indices[:, 0]], ky[indices[:, 1]]
        buffer = empty((position_batch, *window.gpts))
        size = window.gpts[0] * window.gpts[1]
        keep_waves = any(isinstance(d, WavesDetector) for d in detectors)
        bar = tqdm(
            total=len(positions) * len(configurations),
            desc="PRISM scan",
            unit="position",
            disable=not progress,
        )
        for configuration in configurations:
            smatrix = self.build(configuration, progress, client)
            for start in range(0, len(positions), position_batch):
                batch = positions[start : start + position_batch]
                # α_j(r_p) = α_j exp(−2πi k_j·r_p) (Ophus 2017, Eq 4); phases in float64
                coefficients = alpha * exp_i(
                    -2 * np.pi * (batch[:, :1] * beam_kx + batch[:, 1:] * beam_ky)
                )
                waves = buffer[: len(batch)]
                self._sum_windows(smatrix, coefficients, batch, grid, window, waves)
                kept = waves.copy() if keep_waves else None
                fft2_inplace(buffer)
                intensity = np.abs(waves)
                # Parseval on the window: |F[ψ]|²/N_w sums to Σ|ψ|² = 1
                np.square(intensity, out=intensity)
                intensity *= np.float32(1 / size)
                for index, reduce in enumerate(reducers):
                    signal = reduce(kept, intensity)
                    if sums is None:
                        write_positions(outputs[index], scan.shape, start, signal)
                    else:
                        target = np.zeros_like(sums[index])
                        write_positions(target, scan.shape, start, signal)
                        sums[index] += target / len(configurations)
                bar.update(len(batch))
            del smatrix
        bar.close()
        if sums is not None:
            for output, total in zip(outputs, sums, strict=True):
                output[...] = total
        metadata = {
            "probe": self.probe.parameters(),
            "potential": potential.parametrization,
            "num_configs": len(configurations),
            "prism_interpolation": self.interpolation,
        }
        return [
            d.finish(output, scan, window, energy, metadata)
            for d, output in zip(detectors, outputs, strict=True)
        ]

    def _sum_windows(
        self,
        smatrix: np.ndarray,
        coefficients: np.ndarray,
        positions: np.ndarray,
        grid: Grid,
        window: Grid,
        out: np.ndarray,
    ) -> None:
        """Write Σ_j α_j(r_p) S_j cropped to the window around each position into ``out``."""
        if window.gpts == grid.gpts:
            flat = smatrix.reshape(-1, smatrix.shape[-1])
            out.reshape(len(out), -1)[...] = coefficients @ flat.T
            return
        # window origins: gpts / f pixels centred on each probe, wrapped periodically
        origins = window_origins(positions, grid, window)
        num_beams = smatrix.shape[-1]
        # positions sharing an x origin share the rows S[x0 : x0 + w]: one matrix product
        # (rows × all y) @ (beams × positions) for them, then each crops its y window
        for x_origin in np.unique(origins[:, 0]):
            group = np.flatnonzero(origins[:, 0] == x_origin)
            for chunk in np.array_split(group, -(-len(group) // GROUP_SIZE)):
                for source_x, target_x in _periodic_blocks(x_origin, window.gpts[0], grid.gpts[0]):
                    rows = smatrix[source_x]
                    sums = (rows.reshape(-1, num_beams) @ coefficients[chunk].T).reshape(
                        *rows.shape[:2], len(chunk)
                    )
                    for column, index in enumerate(chunk):
                        for source_y, target_y in _periodic_blocks(
                            origins[index, 1], window.gpts[1], grid.gpts[1]
                        ):
                            out[index, target_x, target_y] = sums[:, source_y, column]


class _PlaneWaveBatch:
    """Exit waves of a batch of unit plane waves exp(2πi k_j·r), given their FFT indices
    (n, 2): one S-matrix task, run locally or as a Dask task (Ophus 2017, Eq 3)."""

    def __init__(self, potential, energy: float, batch_size: int, wisdom=None):
        self.potential = potential
        self.energy = energy
        self.batch_size = batch_size
        self.wisdom = wisdom

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        import_wisdom(self.wisdom)
        grid = self.potential.grid
        kx, ky = grid.frequencies()
        x, y = grid.coordinates()
        buffer = empty((self.batch_size, *grid.gpts))
        # the last batch is padded so every FFT has the planned shape
        padded = np.concatenate(
            [indices, np.repeat(indices[-1:], self.batch_size - len(indices), 0)]
        )
        # exp(2πi k_j·r) = exp(2πi kx x) exp(2πi ky y); phases in float64
        np.multiply(
            exp_i(2 * np.pi * kx[padded[:, 0], None] * x[None])[:, :, None],
            exp_i(2 * np.pi * ky[padded[:, 1], None] * y[None])[:, None, :],
            out=buffer,
        )
        run_multislice(buffer, self.potential, self.energy)
        return buffer[: len(indices)]


def _periodic_blocks(start: int, length: int, period: int) -> list[tuple[slice, slice]]:
    """(source, target) slices covering indices start … start + length − 1 modulo ``period``
    in at most two contiguous runs.

    Examples
    --------
    >>> _periodic_blocks(-2, 5, 10)
    [(slice(8, 10, None), slice(0, 2, None)), (slice(0, 3, None), slice(2, 5, None))]
    """
    first = start % period
    head = min(length, period - first)
    blocks = [(slice(first, first + head), slice(0, head))]
    if head < length:
        blocks.append((slice(0, length - head), slice(head, length)))
    return blocks
