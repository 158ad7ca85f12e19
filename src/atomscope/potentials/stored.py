"""`StoredPotential`: potential slices read back from a file (what ``atomscope dft`` writes), so a
costly potential is computed once and simulated with many times (``atomscope hrtem
--potential FILE``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from atomscope.core.grid import Grid
from atomscope.potentials.projected import Potential, PotentialSlice

#: arrays a stored potential holds (written by `potential_arrays`)
KEYS = ("slices", "slice_limits", "sampling", "numbers", "positions", "cell", "parametrization")


def potential_arrays(potential: Potential) -> dict[str, Any]:
    """The arrays of a one-configuration ``potential`` that `StoredPotential` reads back
    (write them with `atomscope.io.write_npz`).

    Examples
    --------
    >>> from ase.build import bulk
    >>> arrays = potential_arrays(Potential(bulk("Si", cubic=True), sampling=0.2))
    >>> arrays["slices"].shape, str(arrays["parametrization"])
    ((11, 28, 28), 'lobato')
    """
    atoms = potential.atoms
    return {
        "slices": potential.build(),
        "slice_limits": potential.slice_limits,
        "sampling": np.asarray(potential.sampling),
        "numbers": atoms.numbers,
        "positions": atoms.positions,
        "cell": atoms.cell.array,
        "parametrization": np.asarray(potential.parametrization),
    }


class StoredPotential(Potential):
    """Slices [V·Å] read from an ``.npz`` of `potential_arrays`; behaves as a `Potential`.

    Parameters
    ----------
    path
        The file (e.g. ``potential.npz`` of ``atomscope dft``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ase.build import bulk
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "potential.npz"
    >>> np.savez(path, **potential_arrays(Potential(bulk("Si", cubic=True), sampling=0.2)))
    >>> stored = StoredPotential(path)
    >>> stored.num_slices, stored.gpts, stored.parametrization
    (11, (28, 28), 'lobato')
    """

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"potential file {str(path)!r} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [key for key in KEYS if key not in data.files]
                if missing:
                    raise ValueError(f"it lacks {missing}")
                arrays = {key: data[key] for key in KEYS}
        except (OSError, ValueError) as error:
            raise ValueError(
                f"potential file {str(path)!r} is not a stored potential (atomscope dft's "
                f"potential.npz): {error}"
            ) from None
        slices = np.asarray(arrays["slices"], dtype=np.float32)
        limits = np.asarray(arrays["slice_limits"], dtype=float)
        if slices.ndim != 3 or len(limits) != len(slices) + 1 or not np.isfinite(slices).all():
            raise ValueError(
                f"potential file {str(path)!r}: slices must be finite [num_slices, x, y] with "
                f"num_slices + 1 slice limits, got {slices.shape} and {limits.shape}"
            )
        sampling = tuple(float(s) for s in arrays["sampling"])
        self._grid = Grid(gpts=slices.shape[1:], sampling=sampling)
        self._limits = limits
        self._slices = slices
        self._projection = "infinite"
        self._source = str(arrays["parametrization"])
        atoms = Atoms(arrays["numbers"], positions=arrays["positions"], cell=arrays["cell"])
        atoms.pbc = True
        self._configurations = [atoms]
        self._atoms = atoms
        self._settings = {"gpts": self._grid.gpts, "slice_thickness": float(np.diff(limits)[0])}

    @property
    def parametrization(self) -> str:
        """What the stored slices were computed from."""
        return self._source

    def generate_slices(self, first: int = 0, last: int | None = None) -> Iterator[PotentialSlice]:
        """Yield the stored slices ``first`` … ``last - 1`` (copies, float32 [V·Å])."""
        last = self.num_slices if last is None else last
        if not 0 <= first <= last <= self.num_slices:
            raise ValueError(
                f"need 0 <= first <= last <= {self.num_slices}, got first={first}, last={last}"
            )
        for index in range(first, last):
            yield PotentialSlice(self._slices[index].copy(), self._slice_thickness(index), index)
