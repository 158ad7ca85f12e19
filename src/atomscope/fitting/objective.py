"""The function a fit minimises: parameters → calculator → material properties → Eq 5.14.

`PropertyObjective` turns a parameter vector into an ASE calculator (any factory), computes the
weighted properties of a property table with `atomscope.fitting.properties.evaluate` and scores
them with `atomscope.fitting.targets.error_function` (seed Eq 5.14). `Comb3Calculators` is the
factory of a COMB3 fit: it writes the start entries with the fitted parameters set
(`atomscope.fitting.parameters.with_values`) to a private ``ffield.comb3`` and returns LAMMPS
running it.

Stage 1 (pure metal) is fast with ``charges="zero"``, the default of `Comb3Calculators`: the
atomic charges stay 0 (no ``fix qeq/comb``). For a pure element, charge equilibration only
moves charge between surface and subsurface atoms (≤ 0.008 e on the Cu-start (111) slab), which
changes the slab energies by ≈ 1e-4 eV/atom and the surface energies by ≈ 0.001–0.003 J/m²;
bulk charges are 0 by symmetry. With all the shortcuts below, the ten starred properties of
seed Table 5.1 differ from the exact evaluation (charge equilibration, 6 Å cells, four slabs,
BFGS) by at most 0.035 of their δp at the Cu start and 0.014 at an Au-like set
(benchmarks/comb3_fitting.py), 13–17× faster. Without the charge fix:

- every structure is evaluated once per call (with it LAMMPS runs twice: the fix equilibrates
  the charges after a force evaluation);
- periodic cells may be as small as the short-range cutoff R + D allows (energies equal those of
  large cells to 1e-12 eV/atom), while ``fix qeq/comb`` needs ≳ 6 Å (it gives wrong charges
  and forces on a 2 × 2 (111) slab);
- position relaxations run in LAMMPS's own conjugate-gradient minimiser (`relax_positions`,
  used by `atomscope.fitting.properties`) instead of ASE's BFGS calling LAMMPS once per step;
- neighbour lists use a 0.3 Å skin instead of LAMMPS's 2 Å (fewer ghost atoms within the 11 Å
  Coulomb/van der Waals cutoff; no effect on the result).

``charges="equilibrate"`` runs `atomscope.thermal.comb3_calculator` itself (slower, exact).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomscope.core.validate import check_choice, check_nonnegative, check_positive
from atomscope.fitting import comb3_file
from atomscope.fitting.parameters import Parameter, with_values
from atomscope.fitting.properties import DEFAULT_MIN_IMAGE, PROPERTY_NAMES, evaluate
from atomscope.fitting.search import Evaluation
from atomscope.fitting.targets import PropertyTarget, error_function, residuals

__all__ = [
    "CHARGE_MODES",
    "Comb3Calculators",
    "PropertyObjective",
    "PropertySettings",
    "comb3_cutoff",
]

#: How `Comb3Calculators` treats the atomic charges.
CHARGE_MODES = ("zero", "equilibrate")
#: Smallest periodic image distance with charge equilibration [Å] (module docstring).
QEQ_MIN_IMAGE = 6.0
NEIGHBOUR_SKIN = 0.3  # [Å]


@dataclass(frozen=True)
class PropertySettings:
    """How `atomscope.fitting.properties.evaluate` computes the properties of a fit.

    Attributes
    ----------
    min_image
        Shortest distance from an atom to its own periodic image [Å].
    surface_layers
        Slab thicknesses of the surface energies (Eq 5.24).
    relaxation_layers
        Slab thickness of the surface relaxations d12.
    fmax
        Force convergence of the position relaxations [eV/Å]; ``None``: each property's own.
    vacancy_size
        Cubic repeats of the vacancy supercell.
    """

    min_image: float = DEFAULT_MIN_IMAGE
    surface_layers: tuple[int, ...] = (7, 9, 11, 13)
    relaxation_layers: int = 11
    fmax: float | None = None
    vacancy_size: int = 3

    def __post_init__(self):
        object.__setattr__(self, "surface_layers", tuple(self.surface_layers))
        check_nonnegative("min_image", self.min_image)
        if self.fmax is not None:
            check_positive("fmax", self.fmax)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `atomscope.fitting.properties.evaluate`."""
        return asdict(self)


def comb3_cutoff(entries: Mapping[tuple[str, str, str], Mapping[str, float]]) -> float:
    """The largest short-range cutoff R + D of some COMB3 entries [Å].

    COMB3 misses a bond between an atom and its own periodic image (both have the same tag), so
    periodic cells must be larger than this.

    Examples
    --------
    >>> comb3_cutoff({k: v for k, v in comb3_file.read().items() if set(k) == {"Cu"}})
    3.5
    """
    return max(float(entry["bigr"]) + float(entry["bigd"]) for entry in entries.values())


def _relax_positions(self, atoms, fmax: float, steps: int) -> bool:
    """Relax the positions with LAMMPS's conjugate gradients until the largest atomic force is
    <= ``fmax`` [eV/Å]; finish with ASE's BFGS if LAMMPS stops short (its line search)."""
    from ase.geometry import find_mic
    from ase.optimize import BFGS

    atoms.get_forces()  # LAMMPS now holds this structure
    try:
        self.lmp.command("min_style cg")
        self.lmp.command("min_modify norm max")
        self.lmp.command(f"minimize 0.0 {fmax!r} {int(steps)} {10 * int(steps)}")
        positions = np.array(self.lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)
    except Exception as error:
        # as ChargedLAMMPSlib does: abandon an instance whose command failed half-way
        self.lmp.opened = 0
        self.lmp, self.started, self.initialized = None, False, False
        reason = str(error).strip().splitlines()
        raise ValueError(f"LAMMPS minimize failed: {reason[0] if reason else error}") from None
    moved, _ = find_mic(
        self.prism.vector_to_ase(positions) - atoms.positions, atoms.cell, atoms.pbc
    )
    atoms.positions = atoms.positions + moved
    forces = atoms.get_forces()
    if np.sqrt((forces**2).sum(axis=1)).max() <= fmax:
        return True
    return bool(BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps))


@functools.cache
def _minimizing(base: type) -> type:
    return type(f"Minimizing{base.__name__}", (base,), {"relax_positions": _relax_positions})


class Comb3Calculators:
    """Makes a LAMMPS COMB3 calculator for each set of fitted parameter values.

    Each call writes the start entries with ``values`` set to a private ``ffield.comb3`` (only
    the entries of the elements in play) and returns a new calculator running it (one LAMMPS
    instance per evaluation, used for all its structures; making one costs ≈ 20 ms).

    Parameters
    ----------
    entries
        The start entries (`atomscope.fitting.comb3_file`).
    parameters
        The fitted parameters (`atomscope.fitting.parameters.stage_parameters`).
    element
        The element whose structures are computed.
    charges
        ``"zero"`` (default; fast, see the module docstring) or ``"equilibrate"``.
    precision
        Convergence of the charge equilibration [e] (``"equilibrate"`` only).

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomscope.fitting.parameters import stage_parameters
    >>> start = comb3_file.initial_entries("Au")
    >>> parameters = stage_parameters(start, "Au", 1)
    >>> make = Comb3Calculators(start, parameters, "Au")
    >>> gold = bulk("Au", a=3.61, cubic=True)
    >>> gold.calc = make([p.start for p in parameters])
    >>> round(gold.get_potential_energy() / len(gold), 3)  # the Cu clone at Cu's a
    -3.582
    """

    def __init__(
        self,
        entries: Mapping[tuple[str, str, str], Mapping[str, float]],
        parameters: Sequence[Parameter],
        element: str,
        *,
        charges: str = "zero",
        precision: float = 1e-4,
    ):
        check_choice("charges", charges, CHARGE_MODES)
        self.precision = check_positive("precision", precision)
        self.element = element
        self.charges = charges
        self.parameters = list(parameters)
        symbols = {element} | {s for p in self.parameters for t in p.triplets for s in t}
        self.symbols = [element, *sorted(symbols - {element})]
        self.entries = {
            triplet: dict(values)
            for triplet, values in entries.items()
            if set(triplet) <= set(self.symbols)
        }
        comb3_file._check_complete(self.entries, self.symbols, "the start entries")
        self._directory: tempfile.TemporaryDirectory | None = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_directory"] = None  # each process writes its own files
        return state

    @property
    def cutoff(self) -> float:
        """The largest short-range cutoff R + D of the entries [Å] (fixed: not a fitted one)."""
        return comb3_cutoff(self.entries)

    def with_values(self, values: Sequence[float]) -> dict:
        """The entries with the fitted parameters set to ``values`` (checked against their
        bounds)."""
        return with_values(self.entries, self.parameters, values)

    def write(self, values: Sequence[float], path: str | os.PathLike) -> Path:
        """Write the entries with ``values`` as an ``ffield.comb3`` file at ``path``; returns the
        path."""
        return comb3_file.write(self.with_values(values), path)

    def __call__(self, values: Sequence[float]):
        from atomscope.thermal.lammps import comb3_calculator, lammps_calculator

        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix="atomscope-comb3-")
        path = self.write(values, Path(self._directory.name) / "ffield.comb3")
        if self.charges == "equilibrate":
            return comb3_calculator(self.symbols, self.precision, ffield=path)
        calc = lammps_calculator(
            "comb3 polar_off",
            f"* * {path} {' '.join(self.symbols)}",
            self.symbols,
            [f"neighbor {NEIGHBOUR_SKIN} bin"],
            atom_style="charge",
        )
        calc.__class__ = _minimizing(type(calc))
        return calc


class PropertyObjective:
    """Parameters → calculator → the weighted properties of a table → error (Eq 5.14).

    Parameters
    ----------
    calculator
        ``calculator(values) -> ASE calculator`` (e.g. `Comb3Calculators`); picklable to run
        on Dask.
    element
        The element whose properties are computed.
    targets
        The property table (`atomscope.fitting.targets.load_targets`); the rows with weight > 0
        are computed and scored.
    settings
        `PropertySettings`.

    Raises
    ------
    ValueError
        If a weighted target is not a property `atomscope.fitting.properties.evaluate`
        computes, naming it.
    """

    def __init__(
        self,
        calculator: Callable[[np.ndarray], Any],
        element: str,
        targets: Iterable[PropertyTarget],
        settings: PropertySettings | None = None,
    ):
        self.calculator = calculator
        self.element = element
        self.targets = list(targets)
        self.settings = PropertySettings() if settings is None else settings
        weighted = [target.name for target in self.targets if target.weight > 0]
        missing = [name for name in weighted if name not in PROPERTY_NAMES]
        if missing:
            raise ValueError(
                f"the weighted targets {missing} cannot be computed; computable are "
                f"{', '.join(PROPERTY_NAMES)} (give them weight 0)"
            )
        if not weighted:
            raise ValueError("targets have no row with weight > 0: nothing to fit")
        self.names = weighted

    def properties(
        self,
        values: Sequence[float],
        names: Iterable[str] | None = None,
        timings: dict[str, float] | None = None,
    ) -> dict[str, float | Exception]:
        """The properties ``names`` for parameter ``values``.

        Parameters
        ----------
        values
            The fitted parameters [their units], in the calculator factory's order.
        names
            Names of `atomscope.fitting.properties.PROPERTY_NAMES`; default the weighted ones.
        timings
            Filled with the seconds of each property (see `evaluate`).

        Returns
        -------
        dict
            ``{name: value or the exception}`` in the units of the property tables.
        """
        calc = self.calculator(np.asarray(values, float))
        names = self.names if names is None else list(names)
        return evaluate(calc, self.element, names, timings=timings, **self.settings.kwargs())

    def __call__(self, values: np.ndarray) -> Evaluation:
        """Eq 5.14 for ``values`` (and its residuals); failed properties score
        `atomscope.fitting.targets.FAILURE_SCORE` each."""
        values = self.properties(values)
        error = error_function(values, self.targets)
        shown = {
            name: value if isinstance(value, float) else f"{type(value).__name__}: {value}"
            for name, value in values.items()
        }
        return Evaluation(error, shown, None, tuple(residuals(values, self.targets)))
