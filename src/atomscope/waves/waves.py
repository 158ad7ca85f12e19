"""`Waves`: complex electron wave functions on a grid, indexed ``[..., x, y]``."""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.energy import energy2wavelength
from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace, import_wisdom, plan_and_export
from atomscope.core.grid import Grid
from atomscope.core.memory import check_memory
from atomscope.core.validate import check_pair, check_positive, check_real
from atomscope.images import Images
from atomscope.optics.envelopes import deflect
from atomscope.parallel import ordered_map


class Waves:
    """A wave function (or a stack with leading ensemble axes) with sampling and energy.

    Parameters
    ----------
    array
        Complex values [..., nx, ny]; stored as FFT-aligned complex64.
    sampling
        Pixel size [Å] (scalar or (x, y)).
    energy
        Electron energy [eV].
    weights
        Optional weights of the leading axis (e.g. focal-series nodes); ``intensity()`` then
        returns the weighted incoherent sum over that axis.
    metadata
        Record of how the wave was made, carried into images.

    Examples
    --------
    >>> waves = Waves.from_array(np.ones((8, 8)), sampling=0.1, energy=300e3)
    >>> float(waves.intensity().array.mean())
    1.0
    """

    def __init__(
        self,
        array: np.ndarray,
        sampling: float | tuple[float, float],
        energy: float,
        weights: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        array = np.asarray(array)
        if array.ndim < 2:
            raise ValueError(f"array must have at least 2 dimensions [x, y], got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError("array must contain only finite values (no NaN/inf)")
        self._array = empty(array.shape)
        self._array[...] = array
        self._sampling = check_pair("sampling", sampling)
        self._energy = check_positive("energy", energy)
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if array.ndim < 3 or weights.shape != array.shape[:1]:
                raise ValueError(
                    f"weights must have the length of the leading axis {array.shape[:1]}, "
                    f"got shape {weights.shape}"
                )
        self._weights = weights
        self.metadata = dict(metadata or {})

    @classmethod
    def from_array(
        cls, array: np.ndarray, sampling: float | tuple[float, float], energy: float
    ) -> Waves:
        """Start from any complex wave, e.g. for inline holography (the seed's ``set_wave``)."""
        return cls(array, sampling, energy)

    @property
    def array(self) -> np.ndarray:
        """Complex64 array [..., nx, ny] (FFT-aligned)."""
        return self._array

    @property
    def sampling(self) -> tuple[float, float]:
        """Pixel size [Å]."""
        return self._sampling

    @property
    def energy(self) -> float:
        """Electron energy [eV]."""
        return self._energy

    @property
    def weights(self) -> np.ndarray | None:
        """Weights of the leading axis for incoherent sums, or None."""
        return self._weights

    @property
    def wavelength(self) -> float:
        """Relativistic wavelength [Å]."""
        return energy2wavelength(self._energy)

    @property
    def grid(self) -> Grid:
        """Lateral grid."""
        return Grid(gpts=self._array.shape[-2:], sampling=self._sampling)

    @property
    def gpts(self) -> tuple[int, int]:
        """Grid points along x and y."""
        return self.grid.gpts

    @property
    def extent(self) -> tuple[float, float]:
        """Field of view [Å]."""
        return self.grid.extent

    def _new(self, array: np.ndarray, weights=None, **metadata) -> Waves:
        """A `Waves` on this grid that takes ``array`` over: a fresh FFT-aligned complex64 array
        made by this class from validated waves (no copy, no second check of its values)."""
        waves = object.__new__(Waves)
        waves._array = array
        waves._sampling = self._sampling
        waves._energy = self._energy
        waves._weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        waves.metadata = {**self.metadata, **metadata}
        return waves

    def intensity(self) -> Images:
        """|ψ|² as `Images` (weighted incoherent sum over the leading axis if ``weights``).

        After `apply_ctf` with a lens that has ``deflection``, the intensity is blurred by the
        deflection envelope Ed (seed Eq 2.19), which acts on the image, not on the wave.
        """
        intensity = np.square(self._array.real) + np.square(self._array.imag)
        if self._weights is not None:
            intensity = np.tensordot(self._weights, intensity, axes=(0, 0))
        images = Images(intensity, self._sampling, dict(self.metadata))
        return deflect(images, self.metadata.get("ctf", {}).get("deflection", 0.0))

    def diffraction_pattern(self, max_angle: float | None = None):
        """|F[ψ]|²/N centred and cropped to ``max_angle`` [mrad] (default: the maximum simulated
        angle, 2/3 Nyquist), a `DiffractionPatterns` summing to Σ|ψ|² over the whole grid."""
        from atomscope.waves.diffraction import diffraction_patterns

        return diffraction_patterns(self, max_angle)

    def _fourier_multiply(self, factor: np.ndarray) -> np.ndarray:
        array = empty(np.broadcast_shapes(self._array.shape, factor.shape))
        array[...] = self._array
        fft2_inplace(array)
        array *= factor
        return ifft2_inplace(array)

    def propagate(self, distance: float) -> Waves:
        """Free-space Fresnel propagation by ``distance`` [Å] (seed Eq 2.8), a new `Waves`."""
        from atomscope.waves.multislice import fresnel_propagator

        distance = check_real("distance", distance)
        return self._new(
            self._fourier_multiply(fresnel_propagator(self.grid, self._energy, distance))
        )

    def apply_ctf(self, ctf) -> Waves:
        """Image wave ψ = F⁻¹{ψ₀(k) · CTF(k)} (seed Eq 2.20) for a `CTF`, a new `Waves`.

        With ``ctf.focal_integration == "gauss_hermite"`` the result gets a leading axis over
        the defocus nodes with their weights, so ``intensity()`` is the exact incoherent
        focal-spread average.
        """
        if ctf.energy != self._energy:
            raise ValueError(
                f"ctf.energy ({ctf.energy} eV) must equal the wave energy ({self._energy} eV)"
            )
        if getattr(ctf, "focal_integration", "quasi_coherent") == "gauss_hermite":
            arrays, weights = ctf.evaluate_focal_series(self.grid)
            array = self._fourier_multiply(
                arrays[(slice(None),) + (None,) * (self._array.ndim - 2)]
            )
            if self._weights is not None:
                # nodes × configurations on one leading axis with the product weights
                array = array.reshape(-1, *array.shape[2:])
                weights = np.outer(weights, self._weights).ravel()
            return self._new(array, weights, ctf=ctf.parameters())
        return self._new(
            self._fourier_multiply(ctf.evaluate(self.grid)), self._weights, ctf=ctf.parameters()
        )

    def multislice(
        self,
        potential,
        progress: bool = False,
        projection: np.ndarray | None = None,
        client=None,
        tilt: tuple[float, float] = (0.0, 0.0),
    ) -> Waves:
        """Propagate this wave through ``potential`` (seed Eq 2.9); returns a new `Waves`.

        A frozen-phonon ``potential`` (``num_configs`` > 1) gives one exit wave per
        configuration on a new leading axis with equal weights, so ``intensity()`` (and every
        image made from it) is their incoherent average. ``projection`` (nx, ny), if given,
        accumulates the sum of the slices [V·Å] (single configuration only). With a Dask
        ``client`` the configurations run as parallel tasks, bit-identical to the local run.
        ``tilt`` (θx, θy) [mrad] tilts the specimen against the beam (within ±100 mrad).
        """
        from atomscope.waves.multislice import check_tilt, run_multislice

        tilt = check_tilt(tilt)

        if potential.gpts != self.gpts or not np.allclose(potential.sampling, self._sampling):
            raise ValueError(
                f"potential grid (gpts={potential.gpts}, sampling={potential.sampling}) must match "
                f"the wave grid (gpts={self.gpts}, sampling={self._sampling})"
            )
        num_configs = getattr(potential, "num_configs", 1)
        if num_configs == 1:
            array = empty(self._array.shape)
            array[...] = self._array
            run_multislice(array, potential, self._energy, progress, projection, tilt)
            return self._new(array, tilt=tilt)
        if self._weights is not None:
            raise ValueError("multislice through frozen phonons needs waves without weights")
        if projection is not None:
            raise ValueError(
                "projection is accumulated per configuration; use "
                "waves.ensemble.frozen_phonon_average for frozen phonons"
            )
        check_memory(
            (num_configs + 4) * self._array.nbytes,
            f"multislice of {num_configs} frozen-phonon configurations on {self.gpts} pixels",
            "use fewer configurations or a coarser sampling",
        )
        array = empty((num_configs, *self._array.shape))
        wisdom = None if client is None else plan_and_export(self._array.shape)
        tasks = (
            (self._array, configuration, self._energy, tilt, wisdom)
            for configuration in potential.configurations
        )
        if client is None:
            from atomscope.waves.ensemble import configuration_lanes

            lanes = configuration_lanes(potential)
        else:
            lanes = 1
        for index, exit_wave in enumerate(
            ordered_map(
                _configuration_exit_wave, tasks, client, progress, "frozen phonons", lanes=lanes
            )
        ):
            array[index] = exit_wave
        return self._new(
            array, np.full(num_configs, 1 / num_configs), num_configs=num_configs, tilt=tilt
        )


def _configuration_exit_wave(task) -> np.ndarray:
    from atomscope.waves.multislice import run_multislice

    initial, configuration, energy, tilt, wisdom = task
    import_wisdom(wisdom)
    wave = empty(initial.shape)
    wave[...] = initial
    return run_multislice(wave, configuration, energy, tilt=tilt)
