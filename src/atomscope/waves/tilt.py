"""Tilt series: one specimen under many beam tilts, each tilt an independent (Dask) task."""

from __future__ import annotations

from typing import Any

from atomscope.core.fft import import_wisdom, plan_and_export
from atomscope.core.validate import check_finite_array, check_positive
from atomscope.parallel import ordered_map
from atomscope.waves.multislice import check_tilt
from atomscope.waves.plane import PlaneWave
from atomscope.waves.waves import Waves

__all__ = ["tilt_series"]


def _exit_wave(task) -> Waves:
    potential, energy, tilt, wisdom = task
    import_wisdom(wisdom)
    return PlaneWave(energy, tilt).multislice(potential)


def tilt_series(
    potential, energy: float, tilts: Any, client=None, progress: bool = False
) -> list[Waves]:
    """Exit waves of ``potential`` under plane-wave illumination at each specimen tilt.

    Parameters
    ----------
    potential
        A `Potential` (a frozen-phonon one gives each tilt its stack of configurations).
    energy
        Electron energy [eV].
    tilts
        Tilts (θx, θy) [mrad], shape (n, 2), each within ±100 mrad.
    client
        Optional Dask client: each tilt is a task; the waves equal the local ones bit for bit.
    progress
        Show a progress bar over the tilts.

    Returns
    -------
    list of Waves
        One exit wave per tilt, in the order given; ``metadata["tilt"]`` holds the tilt.

    Examples
    --------
    >>> from ase import Atoms
    >>> from atomscope.potentials.projected import Potential
    >>> vacuum = Potential(Atoms(cell=[4, 4, 2]), sampling=0.5, slice_thickness=1)
    >>> waves = tilt_series(vacuum, 300e3, [(0, 0), (10, 0)])
    >>> [wave.metadata["tilt"] for wave in waves]
    [(0.0, 0.0), (10.0, 0.0)]
    """
    tilts = check_finite_array("tilts", tilts, ndim=2)
    if tilts.shape[0] == 0 or tilts.shape[1] != 2:
        raise ValueError(f"tilts must have shape (n ≥ 1, 2) [mrad], got {tilts.shape}")
    pairs = [check_tilt(tilt) for tilt in tilts]
    energy = check_positive("energy", energy)
    wisdom = None if client is None else plan_and_export(potential.gpts)
    tasks = ((potential, energy, tilt, wisdom) for tilt in pairs)
    return list(ordered_map(_exit_wave, tasks, client, progress, "tilt series"))
