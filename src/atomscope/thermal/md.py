"""Relaxation (FIRE) and Langevin molecular-dynamics frozen phonons with asap3, ASE or LAMMPS."""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.optimize import FIRE
from tqdm.auto import tqdm

from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_atoms,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from atomscope.thermal.lammps import SHIPPED_COMB3
from atomscope.thermal.snapshots import FrozenPhonons

# Elements of the default EMT parameter sets (Jacobsen, Stoltze & Nørskov, Surf. Sci. 366, 394
# (1996); ASE's EMT adds H, C, N, O for molecules only).
EMT_ELEMENTS = {
    "emt": ("Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"),
    "ase_emt": ("H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"),
}
_PADDING = 10.0  # vacuum around finite structures given without a cell [Å]


def make_calculator(calculator: str | BaseCalculator, atoms: Atoms) -> BaseCalculator:
    """Resolve a calculator name for ``atoms``, or pass an ASE calculator object through.

    ``"emt"`` is asap3's EMT (fast C++; Al, Ni, Cu, Pd, Ag, Pt, Au), ``"ase_emt"`` ASE's
    pure-Python EMT, ``"comb3"`` LAMMPS with COMB3 (`comb3_calculator`: C, Cu, H, N, O, Ti,
    Zn, Zr, variable charges, for oxide supports), ``"comb3-AuPt"`` COMB3 with atomscope's
    fitted Au and Pt entries (`SHIPPED_COMB3`, one of the two elements at a time); any other ASE calculator (e.g. `lammps_calculator`) is used as given,
    after checking that a LAMMPS calculator has a type for every element of ``atoms``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> type(make_calculator("ase_emt", bulk("Cu"))).__name__
    'EMT'
    """
    if isinstance(calculator, BaseCalculator):
        types = calculator.parameters.get("atom_types")  # LAMMPS calculators map symbols to types
        if isinstance(types, dict):
            unknown = sorted(set(atoms.get_chemical_symbols()) - set(types))
            if unknown:
                raise ValueError(
                    f"calculator has LAMMPS types for {', '.join(types)} only; atoms contains "
                    f"{unknown}; list every element in its symbols"
                )
        return calculator
    comb3_names = {"comb3": "ffield.comb3"} | {f"comb3-{name}": name for name in SHIPPED_COMB3}
    if isinstance(calculator, str) and calculator in comb3_names:
        from atomscope.thermal.lammps import comb3_calculator

        symbols = sorted(set(atoms.get_chemical_symbols()))
        return comb3_calculator(symbols, ffield=comb3_names[calculator])
    if not isinstance(calculator, str) or calculator not in EMT_ELEMENTS:
        raise ValueError(
            f"calculator must be 'emt' (asap3), 'ase_emt', one of {sorted(comb3_names)} (LAMMPS) "
            f"or an ASE calculator object, got {calculator!r}"
        )
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(EMT_ELEMENTS[calculator]))
    if unknown:
        raise ValueError(
            f"calculator {calculator!r} handles {', '.join(EMT_ELEMENTS[calculator])}; atoms "
            f"contains {unknown}; pass an ASE calculator (e.g. lammps_calculator) instead"
        )
    if calculator == "ase_emt":
        from ase.calculators.emt import EMT

        return EMT()
    try:
        from asap3 import EMT
    except ImportError:
        raise ValueError(
            "calculator 'emt' needs asap3; install it with: pip install 'atomscope[md]' "
            "(or use calculator='ase_emt', ~50× slower)"
        ) from None
    return EMT()


def _check_atoms(atoms: object) -> Atoms:
    check_atoms("atoms", atoms)
    if len(atoms) == 0:
        raise ValueError("atoms must contain at least one atom, got an empty Atoms")
    return atoms


def _working_copy(atoms: Atoms) -> tuple[Atoms, np.ndarray]:
    """A copy the engines accept: finite structures without a cell get a padded box.

    Returns the copy and the shift that was added to the positions.
    """
    work = atoms.copy()
    shift = np.zeros(3)
    if atoms.cell.rank < 3:
        if atoms.pbc.any():
            raise ValueError(
                f"atoms is periodic along {atoms.pbc.tolist()} but its cell has rank "
                f"{atoms.cell.rank}; give every periodic direction a cell vector"
            )
        span = np.ptp(atoms.positions, axis=0)
        work.set_cell(np.diag(span + 2 * _PADDING))
        shift = _PADDING - atoms.positions.min(axis=0)
        work.positions += shift
    return work, shift


def _count_steps(dynamics, bar) -> None:
    """Advance ``bar`` once per step of an ASE optimizer or integrator (whose observers are
    also called once before the first step)."""

    def tick() -> None:
        if dynamics.nsteps > 0:
            bar.update()

    dynamics.attach(tick, interval=1)


def _result(work: Atoms, original: Atoms, shift: np.ndarray) -> Atoms:
    result = original.copy()
    result.positions = work.positions - shift
    if work.get_momenta().any():
        result.set_momenta(work.get_momenta(), apply_constraint=False)
    return result


def relax(
    atoms: Atoms,
    calculator: str | BaseCalculator = "emt",
    fmax: float = 0.01,
    steps: int = 1000,
    progress: bool = False,
) -> Atoms:
    """Relax atomic positions with ASE's FIRE until every force is below ``fmax``.

    Constraints on ``atoms`` (e.g. ``FixAtoms`` on the bottom of a support) are honoured.

    Parameters
    ----------
    atoms
        Structure to relax; not changed.
    calculator
        ``"emt"`` (asap3, default), ``"ase_emt"``, ``"comb3"`` or ``"comb3-AuPt"`` (LAMMPS), or
        any ASE calculator object, e.g. from `lammps_calculator`.
    fmax
        Force convergence threshold [eV/Å].
    steps
        Maximum number of FIRE steps; a ``RuntimeWarning`` says if they ran out.
    progress
        Show a progress bar.

    Returns
    -------
    ase.Atoms
        Relaxed copy; ``info["relaxation"]`` holds ``converged``, ``steps``, ``energy`` [eV]
        and ``fmax`` [eV/Å] reached.

    Examples
    --------
    >>> from atomscope.structures import wulff_particle
    >>> particle = wulff_particle("Au", [(1, 1, 1)], [1.0], size=50)
    >>> relaxed = relax(particle, "ase_emt", fmax=0.05)
    >>> relaxed.info["relaxation"]["converged"]
    True
    """
    _check_atoms(atoms)
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    work, shift = _working_copy(atoms)
    work.calc = make_calculator(calculator, work)
    optimizer = FIRE(work, logfile=None)
    with tqdm(total=steps, desc="relax", unit="step", disable=not progress) as bar:
        _count_steps(optimizer, bar)
        converged = optimizer.run(fmax=fmax, steps=steps)
        bar.total = bar.n  # stopped early when converged
    reached = float(np.sqrt((work.get_forces() ** 2).sum(axis=1).max()))
    if not converged:
        warnings.warn(
            f"relax: fmax {reached:.3g} eV/Å after {steps} steps is above {fmax} eV/Å",
            RuntimeWarning,
            stacklevel=2,
        )
    result = _result(work, atoms, shift)
    result.info["relaxation"] = {
        "converged": bool(converged),
        "steps": int(optimizer.nsteps),
        "energy": float(work.get_potential_energy()),
        "fmax": reached,
    }
    return result


class MDPhonons(FrozenPhonons):
    """Frozen-phonon snapshots from Langevin molecular dynamics (seed thesis ch. 4).

    Momenta start from a Maxwell–Boltzmann distribution at ``temperature``; the system is
    coupled to a heat bath by Langevin dynamics (ASE's integrator) for ``equilibration``
    steps, after which a snapshot (positions and momenta) is kept every ``interval`` steps.
    The centre of mass is fixed unless ``atoms`` carries its own constraints. The run happens
    once, on first access; the same ``rng`` gives the same snapshots.

    Parameters
    ----------
    atoms
        Starting structure (ideally relaxed with the same calculator); not changed.
    calculator
        ``"emt"`` (asap3), ``"ase_emt"``, ``"comb3"``, ``"comb3-AuPt"`` (LAMMPS) or any ASE calculator object.
    temperature
        Heat-bath temperature [K], ≥ 0.
    timestep
        Integration time step [fs].
    friction
        Langevin friction coefficient [1/fs]; 1/friction is the bath's coupling time.
    equilibration
        Steps discarded before the first snapshot.
    num_configs
        Number of snapshots, ≥ 1.
    interval
        Steps between snapshots.
    rng
        Seed or generator for the initial momenta and the Langevin noise.
    progress
        Show a progress bar while the dynamics runs.

    Examples
    --------
    >>> from ase.build import bulk
    >>> phonons = MDPhonons(bulk("Cu", cubic=True).repeat(2), "ase_emt", temperature=300,
    ...                     equilibration=10, num_configs=2, interval=5, rng=0)
    >>> len(phonons), len(phonons[1])
    (2, 32)
    """

    def __init__(
        self,
        atoms: Atoms,
        calculator: str | BaseCalculator = "emt",
        temperature: float = 300.0,
        timestep: float = 2.0,
        friction: float = 0.01,
        equilibration: int = 1000,
        num_configs: int = 10,
        interval: int = 50,
        rng: int | np.random.Generator | None = None,
        progress: bool = False,
    ):
        self._atoms = _check_atoms(atoms).copy()
        self.temperature = check_nonnegative("temperature", temperature)
        self.timestep = check_positive("timestep", timestep)
        self.friction = check_nonnegative("friction", friction)
        self.equilibration = check_positive_int("equilibration", equilibration, minimum=0)
        self.num_configs = check_positive_int("num_configs", num_configs)
        self.interval = check_positive_int("interval", interval)
        make_calculator(calculator, atoms)  # refuse unsupported elements before any work
        self._calculator = calculator
        self._rng = as_generator(rng)
        self._progress = progress
        self._snapshots: list[Atoms] | None = None

    def __len__(self) -> int:
        return self.num_configs

    def _configuration(self, index: int) -> Atoms:
        if self._snapshots is None:
            self._snapshots = self._run()
        return self._snapshots[index].copy()

    def _run(self) -> list[Atoms]:
        work, shift = _working_copy(self._atoms)
        work.calc = make_calculator(self._calculator, work)
        if not work.constraints:
            work.set_constraint(FixCom())
        # Maxwell–Boltzmann momenta: each component normal with variance m k_B T
        masses = work.get_masses()[:, None]
        kt = units.kB * self.temperature
        work.set_momenta(self._rng.standard_normal((len(work), 3)) * np.sqrt(masses * kt))
        dynamics = Langevin(
            work,
            self.timestep * units.fs,
            temperature_K=self.temperature,
            friction=self.friction / units.fs,
            fixcm=False,
            rng=self._rng,
        )
        snapshots = []
        total = self.equilibration + self.num_configs * self.interval
        with tqdm(total=total, desc="md", unit="step", disable=not self._progress) as bar:
            _count_steps(dynamics, bar)
            dynamics.run(self.equilibration)
            for _ in range(self.num_configs):
                dynamics.run(self.interval)
                snapshots.append(_result(work, self._atoms, shift))
        return snapshots
