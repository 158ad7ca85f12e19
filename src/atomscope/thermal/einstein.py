"""Einstein model of thermal vibrations: independent Gaussian displacements per atom."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ase import Atoms

from atomscope.core.rng import as_generator
from atomscope.core.validate import check_atoms, check_nonnegative, check_positive_int
from atomscope.thermal.debye import debye_sigma
from atomscope.thermal.snapshots import FrozenPhonons


class EinsteinPhonons(FrozenPhonons):
    """Frozen-phonon snapshots with each atom displaced independently (Einstein model).

    Every Cartesian component of every atom is displaced by a normal deviate of standard
    deviation σ of its element, so ⟨u_x²⟩ = σ² (Debye–Waller factor B = 8π²σ²). Snapshot
    ``i`` is drawn from its own child generator, so it is the same whatever order the
    snapshots are read in, and the same for the same ``rng``.

    Parameters
    ----------
    atoms
        Equilibrium structure; not changed.
    sigmas
        RMS displacement along each axis [Å]: one value for all atoms or ``{symbol: σ}``
        covering every element present.
    temperature
        Instead of ``sigmas``: temperature [K] giving σ per element from the Debye model
        (`debye_sigma`), with ``debye_temperatures`` {symbol: Θ [K]} overriding the table.
    num_configs
        Number of snapshots, ≥ 1.
    rng
        Seed or generator.

    Examples
    --------
    >>> from ase.build import bulk
    >>> phonons = EinsteinPhonons(bulk("Au", cubic=True), temperature=300, num_configs=4, rng=0)
    >>> len(phonons), len(phonons[3])
    (4, 4)
    """

    def __init__(
        self,
        atoms: Atoms,
        sigmas: float | Mapping[str, float] | None = None,
        *,
        temperature: float | None = None,
        debye_temperatures: Mapping[str, float] | None = None,
        num_configs: int = 10,
        rng: int | np.random.Generator | None = None,
    ):
        check_atoms("atoms", atoms)
        if (sigmas is None) == (temperature is None):
            raise ValueError(
                f"give exactly one of sigmas [Å] or temperature [K], got sigmas={sigmas!r}, "
                f"temperature={temperature!r}"
            )
        num_configs = check_positive_int("num_configs", num_configs)
        symbols = sorted(set(atoms.get_chemical_symbols()))
        if temperature is not None:
            temperature = check_nonnegative("temperature", temperature)
            theta = dict(debye_temperatures or {})
            per_symbol = {s: debye_sigma(s, temperature, theta.get(s)) for s in symbols}
        elif isinstance(sigmas, Mapping):
            missing = [s for s in symbols if s not in sigmas]
            if missing:
                raise ValueError(
                    f"sigmas has no entry for element(s) {missing}; got {dict(sigmas)}"
                )
            per_symbol = {s: check_nonnegative(f"sigmas[{s!r}]", sigmas[s]) for s in symbols}
        else:
            value = check_nonnegative("sigmas", sigmas)
            per_symbol = dict.fromkeys(symbols, value)
        self.sigmas = per_symbol
        self._atoms = atoms.copy()
        self._sigma_per_atom = np.array([per_symbol[s] for s in atoms.get_chemical_symbols()])
        self._seeds = [g.bit_generator.seed_seq for g in as_generator(rng).spawn(num_configs)]

    def __len__(self) -> int:
        return len(self._seeds)

    def _configuration(self, index: int) -> Atoms:
        generator = np.random.default_rng(self._seeds[index])
        displaced = self._atoms.copy()
        displacements = generator.standard_normal((len(displaced), 3))
        displaced.positions += displacements * self._sigma_per_atom[:, None]
        return displaced
