"""`Probe`: the convergent electron beam of STEM and CBED.

In Fourier space the probe is the condenser lens, Ψ(k) = A(k) exp(−iχ(k)) exp(−2πi k·r_p)
(Kirkland 2010, Eq 5.47; χ as in the CTF, seed Eq 2.10), evaluated by the same `CTF` object as
the objective lens so aberrations carry the same signs; the phase ramp puts the probe centre at
r_p. It is normalised so that Σ|ψ|² = 1 over the real-space pixels (DESIGN.md).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace, import_wisdom, plan_and_export
from atomscope.core.grid import Grid
from atomscope.core.memory import check_memory, estimate, memory_budget
from atomscope.core.threads import lane_count
from atomscope.core.validate import check_finite_array, check_positive, check_positive_int
from atomscope.optics.aberrations import Aberrations
from atomscope.optics.ctf import CTF
from atomscope.parallel import ordered_map
from atomscope.waves.detectors import WavesDetector, as_detectors, write_positions
from atomscope.waves.diffraction import max_simulated_angle
from atomscope.waves.multislice import exp_i, run_multislice
from atomscope.waves.scan import as_scan
from atomscope.waves.waves import Waves

#: Default size of one batch of probe waves [bytes] (as abTEM's default Dask chunk).
BATCH_BYTES = 128 * 2**20


def check_positions(positions: Any) -> tuple[np.ndarray, bool]:
    """Positions as a float (n, 2) array [Å] and whether a single (x, y) pair was given.

    Examples
    --------
    >>> positions, single = check_positions((1.0, 2.0))
    >>> positions.tolist(), single
    ([[1.0, 2.0]], True)
    """
    array = check_finite_array("positions", positions)
    if array.shape == (2,):
        return array[None], True
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(
            f"positions must be (x, y) or an (n, 2) array [Å], got shape {array.shape}"
        )
    return array, False


class Probe:
    """A focused probe from a condenser aperture and aberrations.

    Parameters
    ----------
    energy
        Electron energy [eV], > 0.
    semiangle_cutoff
        Condenser aperture semi-angle α_c [mrad], > 0.
    soft
        Soft aperture edge (linear over one reciprocal pixel, against ringing; default) instead
        of a hard one.
    aperture_taper
        Width of the soft edge [mrad]; default one pixel of the diffraction plane (λ/extent).
    **aberrations
        Polar coefficients [Å] / angles [rad] by symbol or alias (see `Aberrations`), e.g.
        ``defocus=50`` (positive = underfocus, as for `CTF`), ``Cs=-1e4``.

    Examples
    --------
    >>> from atomscope.core.grid import Grid
    >>> probe = Probe(energy=200e3, semiangle_cutoff=20)
    >>> waves = probe.build(Grid(gpts=64, sampling=0.1), positions=(3.2, 3.2))
    >>> round(float((np.abs(waves.array) ** 2).sum()), 5)
    1.0
    >>> np.unravel_index(np.argmax(np.abs(waves.array)), waves.gpts)
    (np.int64(32), np.int64(32))
    """

    def __init__(
        self,
        energy: float,
        semiangle_cutoff: float,
        soft: bool = True,
        aperture_taper: float | None = None,
        **aberrations: float,
    ):
        semiangle_cutoff = check_positive("semiangle_cutoff", semiangle_cutoff)
        self.aberrations = Aberrations(**aberrations)
        self.ctf = CTF(
            energy,
            semiangle_cutoff=semiangle_cutoff,
            soft=soft,
            aperture_taper=aperture_taper,
            **self.aberrations.nonzero(),
        )

    @property
    def energy(self) -> float:
        """Electron energy [eV]."""
        return self.ctf.energy

    @property
    def semiangle_cutoff(self) -> float:
        """Condenser aperture semi-angle [mrad]."""
        return self.ctf.semiangle_cutoff

    @property
    def wavelength(self) -> float:
        """Relativistic wavelength [Å]."""
        return self.ctf.wavelength

    def __repr__(self) -> str:
        return f"Probe({', '.join(f'{k}={v!r}' for k, v in self.parameters().items())})"

    def parameters(self) -> dict[str, Any]:
        """Energy, aperture and nonzero aberrations (by symbol), e.g. for a JSON summary."""
        return {
            "energy": self.energy,
            "semiangle_cutoff": self.semiangle_cutoff,
            "soft": self.ctf.soft,
            "aperture_taper": self.ctf.aperture_taper,
            **self.aberrations.nonzero(),
        }

    def nyquist_sampling(self) -> float:
        """Scan step [Å] that samples the probe intensity at its Nyquist rate: λ / (4 α_c).

        |ψ|² holds spatial frequencies up to 2 α_c / λ (the autocorrelation of the aperture),
        so steps of 1 / (2 · 2 α_c / λ) lose nothing (abTEM's default scan step is 0.99× this).

        Examples
        --------
        >>> round(Probe(energy=200e3, semiangle_cutoff=20).nyquist_sampling(), 4)
        0.3135
        """
        return float(self.wavelength / (4 * self.semiangle_cutoff * 1e-3))

    def fourier_array(self, grid: Grid) -> np.ndarray:
        """The centred probe A(k) exp(−iχ(k)) in FFT order, complex64, scaled to Σ_k|Ψ|² = N.

        With that scale the normalised inverse FFT has Σ|ψ|² = 1 (Parseval).
        """
        array = self.ctf.evaluate(grid)
        # the zero-frequency pixel always passes the aperture, so the norm is > 0
        norm = float(np.sum(np.abs(array.astype(np.complex128)) ** 2))
        return array * np.complex64(np.sqrt(grid.gpts[0] * grid.gpts[1] / norm))

    def build_array(self, grid: Grid, positions: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write probes centred at ``positions`` (n, 2) [Å] into ``out`` (n, nx, ny), real space.

        ``out`` must be an FFT-aligned complex64 buffer (`atomscope.core.fft.empty`).
        """
        kx, ky = grid.frequencies()
        # shift theorem: a probe at r_p is Ψ(k) exp(−2πi k·r_p); phases in float64
        ramp_x = exp_i(-2 * np.pi * positions[:, :1] * kx[None])
        ramp_y = exp_i(-2 * np.pi * positions[:, 1:] * ky[None])
        np.multiply(self.fourier_array(grid)[None], ramp_x[:, :, None], out=out)
        out *= ramp_y[:, None, :]
        return ifft2_inplace(out)

    def build(self, grid: Grid, positions: Any = None) -> Waves:
        """Probe wave functions on ``grid`` centred at ``positions`` [Å].

        Parameters
        ----------
        grid
            The lateral grid (e.g. ``potential.grid``).
        positions
            One (x, y) pair (gives a 2D wave) or an (n, 2) array (gives a leading axis of n
            waves) [Å]; default the centre of the grid.

        Returns
        -------
        Waves
            Complex64 [(n,) nx, ny], each with Σ|ψ|² = 1.

        Examples
        --------
        >>> from atomscope.core.grid import Grid
        >>> waves = Probe(200e3, 20).build(Grid(gpts=32, sampling=0.2), [[1, 1], [2, 3]])
        >>> waves.array.shape
        (2, 32, 32)
        """
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an atomscope Grid, got {type(grid).__name__}")
        if positions is None:
            positions = np.array(grid.extent) / 2
        positions, single = check_positions(positions)
        array = self.build_array(grid, positions, empty((len(positions), *grid.gpts)))
        return Waves(
            array[0] if single else array,
            grid.sampling,
            self.energy,
            metadata={"probe": self.parameters(), "positions": positions.tolist()},
        )

    def check_grid(self, grid: Grid) -> float:
        """The maximum simulated angle [mrad] of ``grid``; raise if the aperture exceeds it."""
        limit = max_simulated_angle(grid, self.energy)
        if self.semiangle_cutoff > limit:
            raise ValueError(
                f"semiangle_cutoff={self.semiangle_cutoff} mrad exceeds the maximum simulated "
                f"angle {limit:.2f} mrad of the potential grid (sampling {max(grid.sampling):.4g} Å); "
                "use a finer sampling"
            )
        return limit

    def multislice(
        self, potential, position: Any = None, progress: bool = False, client=None
    ) -> Waves:
        """Exit wave(s) of ``potential`` for the probe at ``position`` [Å] (CBED).

        Parameters
        ----------
        potential
            A `Potential` (a frozen-phonon one gives a weighted leading configuration axis).
        position
            (x, y) [Å] inside the cell, or an (n, 2) array of positions; default the centre.
        progress
            Show a progress bar over the slices.
        client
            Optional Dask client: frozen-phonon configurations run as parallel tasks (the
            result equals the local run bit for bit).

        Examples
        --------
        >>> from ase import Atoms
        >>> from atomscope.potentials.projected import Potential
        >>> vacuum = Potential(Atoms(cell=[6.4, 6.4, 2]), sampling=0.1, slice_thickness=1)
        >>> exit_wave = Probe(200e3, 20).multislice(vacuum, position=(3.2, 3.2))
        >>> round(float((np.abs(exit_wave.array) ** 2).sum()), 4)
        1.0
        """
        self.check_grid(potential.grid)
        if position is not None:
            check_inside(check_positions(position)[0], potential.extent)
        waves = self.build(potential.grid, position)
        waves.metadata.update(
            potential=potential.parametrization,
            slice_thickness=float(potential.thickness / potential.num_slices),
        )
        return waves.multislice(potential, progress=progress, client=client)

    def scan(
        self,
        potential,
        detectors: Any,
        scan: Any = None,
        batch_size: int | None = None,
        progress: bool = False,
        client=None,
    ) -> list:
        """STEM: run the probe at every scan position and record each detector.

        Positions are processed in batches (one multislice run of a (batch, nx, ny) stack);
        each batch goes through every detector and is then dropped, so memory holds the
        batches in flight plus the detector outputs. Locally, batches run in parallel lanes,
        one thread each (`plan_batches`); the result is the same bit for bit. A frozen-phonon
        potential averages the detector signals over its configurations with equal weights (the
        incoherent frozen-phonon average).

        Parameters
        ----------
        potential
            A `Potential` (or a frozen-phonon one).
        detectors
            One detector or a list: `AnnularDetector`, `SegmentedDetector`,
            `PixelatedDetector`, `WavesDetector`.
        scan
            `GridScan`, `LineScan`, `CustomScan` or an (n, 2) array [Å]; default a `GridScan`
            over the whole cell. Missing steps default to `nyquist_sampling` [Å].
        batch_size
            Positions per batch; default as many as fit in 128 MiB of waves (fewer when memory
            is short).
        progress
            Show a progress bar over the positions.
        client
            Optional Dask client (`atomscope.parallel.client`): position batches become
            independent tasks, written back in order; the workers receive this process's FFT
            plans (wisdom), so on one machine the result equals the local run bit for bit.

        Returns
        -------
        list
            One measurement per detector, in order: `Images` [..., scan x, scan y] for annular
            and segmented detectors on a grid scan (`LineProfiles` on a line or custom scan),
            `DiffractionPatterns` [*scan, αx, αy] for pixelated, `Waves` for `WavesDetector`.

        Examples
        --------
        >>> from ase import Atoms
        >>> from atomscope.potentials.projected import Potential
        >>> from atomscope.waves.detectors import AnnularDetector
        >>> from atomscope.waves.scan import GridScan
        >>> vacuum = Potential(Atoms(cell=[4, 4, 2]), sampling=0.1, slice_thickness=1)
        >>> bright_field, = Probe(200e3, 20).scan(vacuum, AnnularDetector(0, 25),
        ...                                       GridScan(gpts=(3, 2)))
        >>> bright_field.array.round(4).tolist()
        [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
        """
        from tqdm.auto import tqdm

        detectors = as_detectors(detectors)
        grid = potential.grid
        limit = self.check_grid(grid)
        for detector in detectors:
            detector.check(limit)
        scan = as_scan(scan).resolve(self.nyquist_sampling(), potential.extent)
        positions = scan.positions
        check_inside(positions, potential.extent)
        configurations = list(potential.configurations)
        if len(configurations) > 1 and any(isinstance(d, WavesDetector) for d in detectors):
            raise ValueError(
                "WavesDetector cannot average the exit waves of frozen-phonon configurations; "
                "use a potential with one configuration"
            )
        batch_size, nbytes, cache_slices, lanes = self.plan_batches(
            potential,
            len(positions),
            detectors,
            batch_size,
            lanes=1 if client is not None else None,
        )
        check_memory(
            nbytes,
            f"a STEM scan of {len(positions)} positions on {grid.gpts} pixels in batches of "
            f"{batch_size}",
            "use a smaller batch_size, fewer positions or write 4D-STEM data to a zarr path",
        )
        wisdom = None
        if client is not None:
            # plan here, then ship the plans: workers compute exactly as this process would
            wisdom = plan_and_export((batch_size, *grid.gpts))
        elif cache_slices:
            configurations = [_StoredSlices(c) for c in configurations]
        outputs = [d.allocate(scan.shape, grid, self.energy) for d in detectors]
        runner = _ScanBatch(self, configurations, detectors, batch_size, wisdom)
        batches = [positions[i : i + batch_size] for i in range(0, len(positions), batch_size)]
        bar = tqdm(total=len(positions), desc="scan", unit="position", disable=not progress)
        start = 0
        for signals in ordered_map(runner, batches, client, lanes=lanes):
            for output, signal in zip(outputs, signals, strict=True):
                write_positions(output, scan.shape, start, signal)
            start += len(signals[0])
            bar.update(len(signals[0]))
        bar.close()
        metadata = {
            "probe": self.parameters(),
            "potential": potential.parametrization,
            "num_configs": len(configurations),
        }
        return [
            d.finish(output, scan, grid, self.energy, metadata)
            for d, output in zip(detectors, outputs, strict=True)
        ]

    def plan_batches(
        self,
        potential,
        num_positions: int,
        detectors: Any,
        batch_size: int | None = None,
        lanes: int | None = None,
    ) -> BatchPlan:
        """How a scan of ``num_positions`` over ``potential`` is batched, and its memory.

        Batches run ``lanes`` at a time, each in its own thread with its share of the FFT
        threads (default: `atomscope.core.threads.lane_count`; fewer when there are fewer
        batches). The batch size is ``batch_size`` or balanced batches, a
        multiple of ``lanes`` of them, of at most 128 MiB of waves in all lanes together, fewer
        positions when the detector outputs plus the batches in flight would exceed half the
        available memory (`atomscope.core.memory`). The slices of every configuration are kept
        between batches when there are several batches and they take at most a quarter of the
        memory. The estimate counts the detector outputs kept in memory, the kept slices and,
        per position in flight, the wave, its intensity, an FFT scratch and the signals.

        Examples
        --------
        >>> from ase import Atoms
        >>> from atomscope.potentials.projected import Potential
        >>> from atomscope.waves.detectors import AnnularDetector
        >>> vacuum = Potential(Atoms(cell=[12.8, 12.8, 2]), gpts=256, slice_thickness=1)
        >>> plan = Probe(200e3, 20).plan_batches(vacuum, 1000, [AnnularDetector(70, 150)], lanes=2)
        >>> plan.batch_size, plan.lanes
        (125, 2)
        """
        detectors = as_detectors(detectors)
        num_positions = check_positive_int("num_positions", num_positions)
        grid = potential.grid
        wave_bytes = estimate("waves", gpts=grid.gpts)
        # per position: its wave, its FFT scratch and its intensity
        per_position = 2 * wave_bytes + estimate("intensity", gpts=grid.gpts)
        outputs = 0
        for detector in detectors:
            in_memory = getattr(detector, "path", None) is None
            signal = detector.allocate((1,), grid, self.energy).nbytes if in_memory else 0
            outputs += signal * num_positions
            per_position += 2 * signal
        lanes = lane_count() if lanes is None else check_positive_int("lanes", lanes)
        lanes = min(lanes, num_positions)
        if batch_size is None:
            room = 0.5 * memory_budget() - outputs
            cap = max(1, min(BATCH_BYTES // wave_bytes, int(room // per_position)) // lanes)
            batches = lanes * -(-num_positions // (cap * lanes))
            batch_size = -(-num_positions // batches)
        batch_size = min(check_positive_int("batch_size", batch_size), num_positions)
        lanes = min(lanes, -(-num_positions // batch_size))
        slices = estimate(
            "potential_slices",
            gpts=grid.gpts,
            num_slices=potential.num_slices,
            num_configs=getattr(potential, "num_configs", 1),
        )
        cache = num_positions > batch_size and slices <= 0.25 * memory_budget()
        nbytes = outputs + lanes * batch_size * per_position + (slices if cache else 0)
        return BatchPlan(batch_size, int(nbytes), cache, lanes)


class _ScanBatch:
    """One batch of scan positions through every configuration: the task of `Probe.scan`.

    Called with the batch's positions (n, 2) [Å], it returns one signal array per detector,
    averaged over the configurations with equal weights. The same object runs locally (keeping
    its buffer between batches) or, pickled, as a Dask task.
    """

    def __init__(
        self,
        probe: Probe,
        configurations: list,
        detectors: list,
        batch_size: int,
        wisdom: tuple[bytes, ...] | None = None,
    ):
        self.probe = probe
        self.configurations = configurations
        self.detectors = detectors
        self.batch_size = batch_size
        self.wisdom = wisdom
        self._state = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_state": None}

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        grid = self.configurations[0].grid
        energy = self.probe.energy
        if self._state is None:
            import_wisdom(self.wisdom)
            reducers = [d.reducer(grid, energy) for d in self.detectors]
            self._state = reducers, empty((self.batch_size, *grid.gpts))
        reducers, buffer = self._state
        keep_waves = any(isinstance(d, WavesDetector) for d in self.detectors)
        # the last batch is padded so every FFT has the planned shape
        padded = np.concatenate([batch, np.repeat(batch[-1:], self.batch_size - len(batch), 0)])
        weight = 1 / len(self.configurations)
        size = grid.gpts[0] * grid.gpts[1]
        sums = [0.0] * len(self.detectors)
        for configuration in self.configurations:
            self.probe.build_array(grid, padded, buffer)
            # the detectors read the diffraction plane: end there unless the waves are kept
            run_multislice(buffer, configuration, energy, fourier_space=not keep_waves)
            waves = None
            scale = size  # |F[ψ]/N|² · N
            if keep_waves:
                waves = buffer.copy()
                fft2_inplace(buffer)
                scale = 1 / size  # |F[ψ]|² / N
            intensity = np.abs(buffer)
            # Parseval: |F[ψ]|²/N sums to Σ|ψ|² = 1 for a probe
            np.square(intensity, out=intensity)
            intensity *= np.float32(scale)
            for index, reduce in enumerate(reducers):
                sums[index] = sums[index] + weight * reduce(waves, intensity)[: len(batch)]
        return sums


class BatchPlan(NamedTuple):
    """``batch_size`` positions per batch, ``nbytes`` estimated peak memory [bytes], whether
    the potential slices are kept between batches (``cache_slices``) and how many batches run
    at once (``lanes``, one thread each)."""

    batch_size: int
    nbytes: int
    cache_slices: bool
    lanes: int


class _StoredSlices:
    """The slices of one potential configuration, generated once and replayed per batch."""

    def __init__(self, potential):
        self.grid = potential.grid
        self.num_slices = potential.num_slices
        self._slices = list(potential.generate_slices())

    def generate_slices(self):
        yield from self._slices


def check_inside(positions: np.ndarray, extent: tuple[float, float]) -> None:
    """Raise ``ValueError`` unless every position (n, 2) [Å] lies in [0, extent].

    Examples
    --------
    >>> check_inside(np.array([[0.0, 1.0], [4.0, 4.0]]), (4.0, 4.0))
    """
    low = positions.min(axis=0)
    high = positions.max(axis=0)
    if np.any(low < -1e-9) or np.any(high > np.asarray(extent) * (1 + 1e-9)):
        raise ValueError(
            f"scan positions span x {low[0]:.3f}…{high[0]:.3f} Å, y {low[1]:.3f}…{high[1]:.3f} Å, "
            f"outside the cell [0, {extent[0]:.3f}] × [0, {extent[1]:.3f}] Å"
        )
