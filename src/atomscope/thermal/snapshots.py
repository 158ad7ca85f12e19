"""`FrozenPhonons`: a sequence of atomic snapshots that saves to and loads from ASE trajectories."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.io.trajectory import Trajectory
from tqdm.auto import tqdm

from atomscope.outputs import atomic_output


class FrozenPhonons(Sequence):
    """Snapshots of a vibrating structure, averaged incoherently by the simulator.

    A sequence of `ase.Atoms` with ``len()``, indexing and iteration; every access returns a
    fresh copy. `EinsteinPhonons` and `MDPhonons` generate their snapshots; this class holds
    given ones, e.g. loaded from a trajectory.

    Parameters
    ----------
    configurations
        One or more `ase.Atoms` with the same number of atoms.

    Examples
    --------
    >>> from ase.build import bulk
    >>> snapshots = FrozenPhonons([bulk("Au"), bulk("Au")])
    >>> len(snapshots), len(snapshots[0])
    (2, 1)
    """

    def __init__(self, configurations: Iterable[Atoms]):
        configurations = [atoms.copy() for atoms in configurations]
        if not configurations:
            raise ValueError("configurations must hold at least one ase.Atoms, got none")
        sizes = {len(atoms) for atoms in configurations}
        if len(sizes) != 1:
            raise ValueError(f"configurations must all have the same atom count, got {sizes}")
        self._configurations = configurations

    def __len__(self) -> int:
        return len(self._configurations)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not isinstance(index, (int, np.integer)) or not -len(self) <= index < len(self):
            raise IndexError(f"index must be an int in [-{len(self)}, {len(self)}), got {index!r}")
        return self._configuration(int(index) % len(self))

    def _configuration(self, index: int) -> Atoms:
        return self._configurations[index].copy()

    def save(self, path: str | os.PathLike, progress: bool = False) -> Path:
        """Write all snapshots to an ASE trajectory (``.traj``) without leaving partial files,
        one at a time (with a progress bar if ``progress``)."""
        with atomic_output(path) as tmp, Trajectory(tmp, "w") as trajectory:
            for snapshot in tqdm(self, desc="snapshots", total=len(self), disable=not progress):
                trajectory.write(snapshot)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FrozenPhonons:
        """Read every frame of a trajectory (or any multi-frame file ASE reads)."""
        if not Path(path).is_file():
            raise ValueError(f"path {str(path)!r} does not exist")
        return FrozenPhonons(ase.io.read(path, index=":"))
