"""Frozen-phonon averages streamed over configurations, never stacking their exit waves.

The frozen-phonon image is the incoherent average over atomic configurations (seed §2.3.2):
each configuration is propagated on its own, its image formed with the lens (quasi-coherent CTF,
per configuration), and only running sums are kept. Configurations are independent tasks: they
run in parallel lanes (threads) in this process, or as tasks on a Dask client
(`atomscope.parallel.client`), with results identical to one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atomscope.core.fft import export_wisdom, import_wisdom, prepare_plans
from atomscope.images import Images
from atomscope.parallel import local_lanes, ordered_map
from atomscope.waves.waves import Waves

_RESULTS = 8 + 4 + 4 + 8  # [B/px] one configuration's exit wave, intensity, image, projection


@dataclass(frozen=True)
class EnsembleAverage:
    """Averages over frozen-phonon configurations.

    Attributes
    ----------
    exit_wave
        Mean exit wave ⟨ψ⟩ (the coherent, "elastic" part).
    intensity
        Mean exit-wave intensity ⟨|ψ|²⟩.
    image
        Mean image ⟨|ψ ⊗ CTF|²⟩ with the lens applied per configuration, or ``None`` without a
        CTF.
    projected_potential
        Mean projected potential [V·Å], summed from the slices during the multislice.
    num_configs
        Number of configurations averaged.
    """

    exit_wave: Waves
    intensity: Images
    image: Images | None
    projected_potential: Images
    num_configs: int

    @property
    def diffuse_intensity(self) -> Images:
        """⟨|ψ|²⟩ − |⟨ψ⟩|², the intensity scattered incoherently by thermal motion."""
        coherent = np.abs(self.exit_wave.array) ** 2
        return Images(self.intensity.array - coherent, self.intensity.sampling)


def _one_configuration(task) -> tuple[np.ndarray, ...]:
    plane_wave, configuration, ctf, slice_progress, wisdom = task
    import_wisdom(wisdom)
    projection = np.zeros(configuration.gpts)
    exit_wave = plane_wave.multislice(configuration, slice_progress, projection)
    image = None if ctf is None else ctf.image(exit_wave).array
    return exit_wave.array, exit_wave.intensity().array, image, projection


def configuration_lanes(potential) -> int:
    """Frozen-phonon configurations of ``potential`` run at once in this process
    (`atomscope.parallel.local_lanes`): each lane holds one multislice and its results (the
    exit wave, its intensity, image and projection); bit-identical to one at a time."""
    from atomscope.waves.multislice import multislice_memory

    pixels = potential.gpts[0] * potential.gpts[1]
    return local_lanes(potential.num_configs, multislice_memory(potential) + _RESULTS * pixels)


def frozen_phonon_average(
    plane_wave, potential, ctf=None, client=None, progress: bool = False
) -> EnsembleAverage:
    """Stream ``plane_wave`` through every configuration of ``potential`` and average.

    Parameters
    ----------
    plane_wave
        The illumination (`PlaneWave`).
    potential
        A `Potential` of one or many configurations (`FrozenPhonons`, `EinsteinPhonons`, a list
        of `Atoms`).
    ctf
        Optional lens; its image is formed per configuration and averaged.
    client
        Optional Dask client: configurations become parallel tasks; the sums are taken in
        configuration order and the workers receive this process's FFT plans (wisdom), so on
        one machine the result equals the local run bit for bit.
    progress
        Show a progress bar over configurations (over slices for a single configuration).

    Returns
    -------
    EnsembleAverage

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomscope import PlaneWave, Potential
    >>> from atomscope.thermal import EinsteinPhonons
    >>> snapshots = EinsteinPhonons(bulk("Au", cubic=True), sigmas=0.1, num_configs=2, rng=0)
    >>> potential = Potential(snapshots, sampling=0.2, slice_thickness=2.04)
    >>> average = frozen_phonon_average(PlaneWave(300e3), potential)
    >>> average.num_configs, average.intensity.shape
    (2, (21, 21))
    """
    configurations = potential.configurations if potential.num_configs > 1 else [potential]
    wisdom = None
    if client is not None:
        # plan here, then ship the plans: workers then compute exactly as this process would
        prepare_plans(potential.gpts)
        if ctf is not None:
            ctf.image(plane_wave.build(potential.grid))
        wisdom = export_wisdom()
    # one configuration: the bar counts slices; many: it counts configurations
    slice_progress = progress and len(configurations) == 1 and client is None
    tasks = (
        (plane_wave, configuration, ctf, slice_progress, wisdom) for configuration in configurations
    )
    wave_sum = intensity_sum = image_sum = projection_sum = None
    for wave, intensity, image, projection in ordered_map(
        _one_configuration,
        tasks,
        client,
        progress and not slice_progress,
        "frozen phonons",
        lanes=1 if client is not None else configuration_lanes(potential),
    ):
        if wave_sum is None:
            wave_sum, intensity_sum = wave.astype(np.complex128), intensity.astype(np.float64)
            image_sum = None if image is None else image.astype(np.float64)
            projection_sum = projection
            continue
        wave_sum += wave
        intensity_sum += intensity
        projection_sum += projection
        if image is not None:
            image_sum += image
    count = len(configurations)
    sampling = potential.sampling
    mean_wave = Waves(
        (wave_sum / count).astype(np.complex64),
        sampling,
        plane_wave.energy,
        metadata={"num_configs": count, "average": "coherent"},
    )
    return EnsembleAverage(
        exit_wave=mean_wave,
        intensity=Images(intensity_sum / count, sampling),
        image=None if image_sum is None else Images(image_sum / count, sampling),
        projected_potential=Images(projection_sum / count, sampling),
        num_configs=count,
    )
