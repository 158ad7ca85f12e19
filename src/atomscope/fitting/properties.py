"""Material properties of an interatomic potential, each a function of an ASE calculator.

Every function takes an ASE calculator (EMT, Lennard-Jones, LAMMPS through
`atomscope.thermal.comb3_calculator`, …) and an element symbol, builds the structures it needs
with ``ase.build``, and returns the property in the units of seed Tables 5.1/5.2: Å, eV (per
atom where it says so), GPa, J/m². The seed's equations (chapter 5) are cited where used.

The fcc lattice constant is found first (by `lattice_constant`) unless it is given as ``a``;
pass it to the other functions to compute it only once, as `evaluate` does. Relaxations use
ASE's BFGS; one that does not converge within ``steps`` raises ``RuntimeError`` (`evaluate`
records such failures instead of raising, for the error function of seed Eq 5.14).

Periodic cells are repeated until no atom meets its own periodic image closer than
``min_image`` (default 6 Å; energies per atom do not change). Small cells are exact for most
calculators, but LAMMPS's COMB3 is wrong when an atom's image lies inside its short-range
cutoff: the one-atom fcc cell of Cu at a = 3.61 Å gives +4.17 eV/atom instead of −3.58.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk, surface
from ase.data import atomic_numbers, covalent_radii, reference_states
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from ase.units import GPa, J, m

from atomscope.core.threads import blas_threads
from atomscope.core.validate import (
    check_atoms,
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from atomscope.structures._elements import check_symbol

__all__ = [
    "PHASES",
    "PROPERTY_NAMES",
    "adsorption_energy",
    "cohesive_energy",
    "dimer",
    "elastic_constants",
    "evaluate",
    "formation_energy",
    "lattice_constant",
    "phase_energy",
    "surface_energy",
    "surface_relaxation",
    "vacancy_energy",
]

PHASES = ("hcp", "bcc", "diamond", "sc")
LATTICE_METHODS = ("relax", "eos")
ADSORPTION_REFERENCES = ("atom", "molecule")
J_PER_M2 = J / m**2  # 1 J/m² in eV/Å²
DEFAULT_MIN_IMAGE = 6.0  # [Å], see the module docstring

#: The property names `evaluate` computes (the computable subset of
#: `atomscope.fitting.targets.KNOWN_PROPERTIES`).
PROPERTY_NAMES = (
    "lattice_constant",
    "cohesive_energy",
    "bulk_modulus",
    "C11",
    "C12",
    "C44",
    "phase_energy_hcp",
    "phase_energy_bcc",
    "phase_energy_diamond",
    "phase_energy_sc",
    "surface_energy_111",
    "surface_energy_100",
    "surface_energy_110",
    "surface_energy_ratio_100_111",
    "surface_energy_ratio_110_111",
    "surface_relaxation_111",
    "surface_relaxation_100",
    "vacancy_energy",
    "dimer_energy",
    "dimer_bond_length",
)


# --- argument checks --------------------------------------------------------------------------


def _check_calculator(calc: Any) -> Any:
    if not callable(getattr(calc, "get_potential_energy", None)):
        raise TypeError(
            f"calc must be an ASE calculator (e.g. ase.calculators.emt.EMT()), got "
            f"{type(calc).__name__}"
        )
    return calc


def _check_miller(name: str, miller: Any) -> tuple[int, int, int]:
    allowed = "three integers, not all zero, e.g. (1, 1, 1), (1, 0, 0) or (1, 1, 0)"
    try:
        values = tuple(miller)
    except TypeError:
        raise ValueError(f"{name} must be {allowed}; got {miller!r}") from None
    if len(values) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"{name} must be {allowed}; got {miller!r}")
    if not any(values):
        raise ValueError(f"{name} must be {allowed}; got {values}")
    return tuple(int(v) for v in values)


def _check_layers(layers: Any) -> tuple[int, ...]:
    if isinstance(layers, (int, np.integer)) or not isinstance(layers, Iterable):
        raise ValueError(
            f"layers must be a sequence of at least two different slab thicknesses "
            f"(numbers of atomic layers >= 3), got {layers!r}"
        )
    values = tuple(check_positive_int(f"layers[{i}]", n, minimum=3) for i, n in enumerate(layers))
    if len(set(values)) < 2:
        raise ValueError(
            f"layers must hold at least two different slab thicknesses (the linear fit of "
            f"Eq 5.24), got {values}"
        )
    return values


def _lattice(calc: Any, symbol: str, a: Any) -> float:
    if a is None:
        return lattice_constant(calc, symbol)
    return check_positive("a", a)


def _relax(atoms: Atoms, what: str, fmax: float, steps: int, cell: str | None = None) -> Atoms:
    """Relax the positions in place, and the cell if asked: ``"hydrostatic"`` (volume only),
    ``"diagonal"`` (the three normal strains) or ``"full"``.

    A position-only relaxation of an unconstrained structure is handed to the calculator's own
    ``relax_positions(atoms, fmax, steps) -> bool`` if it has one (the LAMMPS calculators of
    `atomscope.fitting.objective` run LAMMPS's minimiser, 2–5× faster than BFGS calling LAMMPS
    once per step); it must leave the largest atomic force <= ``fmax`` or return ``False``.
    """
    fast = getattr(atoms.calc, "relax_positions", None)
    if cell is None and callable(fast) and not atoms.constraints:
        if not fast(atoms, fmax, steps):
            raise RuntimeError(f"relaxing {what} did not reach fmax={fmax} eV/Å in {steps} steps")
        return atoms
    target = atoms
    if cell == "hydrostatic":
        target = FrechetCellFilter(atoms, hydrostatic_strain=True)
    elif cell == "diagonal":
        target = FrechetCellFilter(atoms, mask=[1, 1, 1, 0, 0, 0])
    elif cell == "full":
        target = FrechetCellFilter(atoms)
    optimizer = BFGS(target, logfile=None)
    # One BLAS thread: BFGS's matrices (3N ≲ 1000) gain nothing from more, and next to a busy
    # process multithreaded OpenBLAS made a slab relaxation 3× slower on this 2-core machine.
    with blas_threads(1):
        converged = optimizer.run(fmax=fmax, steps=steps)
    if not converged:
        raise RuntimeError(f"relaxing {what} did not reach fmax={fmax} eV/Å in {steps} steps")
    return atoms


def _repeats(atoms: Atoms, min_image: float) -> tuple[int, int, int]:
    """Repeats along each periodic axis so that every lattice vector is >= ``min_image``.

    A lattice vector with a non-zero component m along axis i is at least as long as the
    spacing of the lattice planes spanned by the other two axes times |m| (times the repeat).
    """
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    repeats = []
    for axis in range(3):
        if not atoms.pbc[axis] or min_image <= 0:
            repeats.append(1)
            continue
        spacing = volume / np.linalg.norm(np.cross(cell[(axis + 1) % 3], cell[(axis + 2) % 3]))
        repeats.append(max(1, math.ceil(min_image / spacing - 1e-9)))
    return tuple(repeats)


def _supercell(atoms: Atoms, min_image: float) -> Atoms:
    return atoms.repeat(_repeats(atoms, min_image))


def _energy(calc: Any, atoms: Atoms) -> float:
    atoms.calc = calc
    return float(atoms.get_potential_energy())


def _fcc_energy(calc: Any, symbol: str, a: float, min_image: float) -> float:
    """Energy per atom of fcc ``symbol`` at lattice constant ``a`` [eV]."""
    crystal = _supercell(bulk(symbol, "fcc", a=a), min_image)
    return _energy(calc, crystal) / len(crystal)


def _free_atom_energy(calc: Any, symbol: str, vacuum: float = 10.0) -> float:
    atom = Atoms(symbol, positions=[(vacuum, vacuum, vacuum)], cell=[2 * vacuum] * 3, pbc=False)
    return _energy(calc, atom)


def _initial_lattice_constant(symbol: str) -> float:
    """An fcc lattice constant to start from [Å]: ASE's reference state, else an estimate.

    fcc elements start from their experimental lattice constant; bcc and hcp elements from
    the fcc cell of the same atomic volume; the others from nearest neighbours at twice the
    covalent radius.
    """
    state = reference_states[atomic_numbers[symbol]] or {}
    structure = state.get("symmetry")
    if structure == "fcc":
        return float(state["a"])
    if structure == "bcc":
        return float((2 * state["a"] ** 3) ** (1 / 3))  # 4 V = 4 a³/2
    if structure == "hcp":
        volume = math.sqrt(3) / 4 * state["a"] ** 3 * state["c/a"]  # per atom
        return float((4 * volume) ** (1 / 3))
    return float(2 * math.sqrt(2) * covalent_radii[atomic_numbers[symbol]])


# --- bulk ---------------------------------------------------------------------------------------


def lattice_constant(
    calc: Any,
    symbol: str,
    *,
    method: str = "relax",
    a0: float | None = None,
    fmax: float = 1e-4,
    steps: int = 200,
    eos: str = "birchmurnaghan",
    eos_range: float = 0.02,
    eos_points: int = 7,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> float:
    """The fcc lattice constant a [Å] at 0 K.

    ``method="relax"`` (default) relaxes the volume of the fcc cell with ASE's
    `FrechetCellFilter` (hydrostatic strain) and BFGS until the cell force per atom, (V/N)·σ,
    is below ``fmax`` [eV]; it needs the calculator's stress. ``method="eos"`` fits an equation of
    state (ASE's `EquationOfState`, ``eos``) to the energies of ``eos_points`` cells spanning
    ±``eos_range`` in lattice constant around the start, then once more around the first
    result (the seed's §5.2.3 scan of ±2 % with a cubic polynomial is ``eos="p3"``); it needs
    energies only.

    Parameters
    ----------
    calc
        ASE calculator.
    symbol
        Chemical symbol.
    method
        ``"relax"`` or ``"eos"``.
    a0
        Start [Å]; by default ASE's reference lattice constant of an fcc element, else that of
        the fcc cell with the element's atomic volume (bcc, hcp) or with nearest neighbours at
        twice the covalent radius.
    fmax
        Convergence of ``"relax"`` [eV] ((V/N)·σ, σ the largest stress component).
    steps
        Largest number of BFGS steps.
    eos, eos_range, eos_points
        Equation of state, relative half-range of the lattice constants and number of points
        of ``"eos"``.
    min_image
        Shortest distance from an atom to its own periodic image [Å] (module docstring).

    Returns
    -------
    float
        a [Å].

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> round(lattice_constant(EMT(), "Au"), 4)
    4.0562
    >>> round(lattice_constant(EMT(), "Au", method="eos"), 4)
    4.0562
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    check_choice("method", method, LATTICE_METHODS)
    a0 = _initial_lattice_constant(symbol) if a0 is None else check_positive("a0", a0)
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    eos_range = check_positive("eos_range", eos_range)
    eos_points = check_positive_int("eos_points", eos_points, minimum=5)
    if not isinstance(eos, str):
        raise ValueError(f"eos must be the name of an ASE equation of state, got {eos!r}")
    min_image = check_nonnegative("min_image", min_image)
    if method == "relax":
        atoms = _supercell(bulk(symbol, "fcc", a=a0), min_image)
        atoms.calc = calc
        _relax(atoms, f"fcc {symbol}", fmax, steps, cell="hydrostatic")
        return float((4 * atoms.get_volume() / len(atoms)) ** (1 / 3))  # V = a³/4 per atom
    from ase.eos import EquationOfState

    a = a0
    for _ in range(2):  # a coarse fit, then one centred on its result
        lattices = a * np.linspace(1 - eos_range, 1 + eos_range, eos_points)
        energies = [_fcc_energy(calc, symbol, value, min_image) for value in lattices]
        volume, _, _ = EquationOfState(lattices**3 / 4, energies, eos=eos).fit()
        a = float((4 * volume) ** (1 / 3))
    return a


def cohesive_energy(
    calc: Any,
    symbol: str,
    *,
    a: float | None = None,
    vacuum: float = 10.0,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> float:
    """The cohesive energy E_coh = E_free − E_bulk of fcc ``symbol`` [eV/atom] (Eq 5.16).

    E_bulk is the energy per atom of the fcc crystal at ``a`` (relaxed if not given) and
    E_free that of one atom alone in a non-periodic box, both from ``calc``. E_coh is positive
    for a bound crystal; the seed's tables list E0 = −E_coh.

    Parameters
    ----------
    calc
        ASE calculator.
    symbol
        Chemical symbol.
    a
        fcc lattice constant [Å]; default `lattice_constant`.
    vacuum
        Distance from the free atom to the box faces [Å].
    min_image
        Shortest distance from an atom to its own periodic image [Å] (module docstring).

    Returns
    -------
    float
        E_coh [eV/atom].

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> round(cohesive_energy(EMT(), "Au"), 3)
    3.8
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    vacuum = check_positive("vacuum", vacuum)
    min_image = check_nonnegative("min_image", min_image)
    a = _lattice(calc, symbol, a)
    bulk_energy = _fcc_energy(calc, symbol, a, min_image)
    return _free_atom_energy(calc, symbol, vacuum) - bulk_energy  # Eq 5.16


def elastic_constants(
    calc: Any,
    symbol: str,
    *,
    a: float | None = None,
    strain: float = 0.005,
    points: int = 5,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> dict[str, float]:
    """The cubic elastic constants C11, C12, C44 and the bulk modulus B of fcc ``symbol`` [GPa].

    Hooke's law σ = C ε (Eq 5.20): the fcc crystal at ``a`` is strained by ``points``
    strains evenly spaced in [−``strain``, ``strain``] and C is the slope of a linear fit of
    the calculator's stress to the strain: σ_xx and the mean of σ_yy, σ_zz under ε_xx give C11
    and C12; σ_yz under the engineering shear γ_yz = 2 ε_yz gives C44. Symmetric strains cancel
    the quadratic term of the stress. B = (C11 + 2 C12)/3 (Eq 5.22). No internal relaxation is
    needed: fcc has one atom per primitive cell and every atom is a centre of inversion, so a
    homogeneous strain leaves no force on any atom (also under shear, for C44).

    Parameters
    ----------
    calc
        ASE calculator with stress.
    symbol
        Chemical symbol.
    a
        fcc lattice constant [Å]; default `lattice_constant` (zero stress).
    strain
        Largest strain, > 0 and < 0.1.
    points
        Number of strains, >= 2.
    min_image
        Shortest distance from an atom to its own periodic image [Å] (module docstring).

    Returns
    -------
    dict
        ``{"C11", "C12", "C44", "B"}`` [GPa].

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> {k: round(v, 1) for k, v in elastic_constants(EMT(), "Au").items()}
    {'C11': 196.5, 'C12': 162.5, 'C44': 47.0, 'B': 173.9}
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    strain = check_positive("strain", strain)
    if strain >= 0.1:
        raise ValueError(f"strain must be in (0, 0.1) (small strains), got {strain}")
    points = check_positive_int("points", points, minimum=2)
    min_image = check_nonnegative("min_image", min_image)
    a = _lattice(calc, symbol, a)
    strains = np.linspace(-strain, strain, points)
    reference = _supercell(bulk(symbol, "fcc", a=a), min_image)

    def stresses(component: tuple[int, int]) -> np.ndarray:
        result = []
        for value in strains:
            deformation = np.eye(3)
            i, j = component
            deformation[i, j] += value if i == j else value / 2
            if i != j:
                deformation[j, i] += value / 2  # symmetric: engineering shear γ = value
            atoms = reference.copy()
            atoms.set_cell(reference.cell.array @ deformation, scale_atoms=True)
            atoms.calc = calc
            result.append(atoms.get_stress(voigt=True))  # xx yy zz yz xz xy [eV/Å³]
        return np.array(result)

    def slope(values: np.ndarray) -> float:
        return float(np.polyfit(strains, values, 1)[0] / GPa)  # σ = C ε (Eq 5.20)

    normal = stresses((0, 0))
    shear = stresses((1, 2))
    c11 = slope(normal[:, 0])
    c12 = slope((normal[:, 1] + normal[:, 2]) / 2)
    c44 = slope(shear[:, 3])
    return {"C11": c11, "C12": c12, "C44": c44, "B": (c11 + 2 * c12) / 3}  # B: Eq 5.22


def phase_energy(
    calc: Any,
    symbol: str,
    phase: str,
    *,
    a: float | None = None,
    fmax: float = 1e-4,
    steps: int = 200,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> float:
    """The energy of a crystal phase above fcc [eV/atom], each at its own relaxed volume.

    The phase starts with the nearest-neighbour distance of fcc at ``a`` (hcp with the ideal
    c/a) and its cell is relaxed with ASE's `FrechetCellFilter` and BFGS: the volume of the
    cubic phases (bcc, diamond, sc), a and c independently for hcp (so c/a relaxes).
    Symmetry keeps every atom where it is. ΔE = E_phase − E_fcc per atom (seed Tables 5.1,
    5.2: "phase transitions").

    Parameters
    ----------
    calc
        ASE calculator with stress.
    symbol
        Chemical symbol.
    phase
        ``"hcp"``, ``"bcc"``, ``"diamond"`` or ``"sc"``.
    a
        fcc lattice constant [Å]; default `lattice_constant`.
    fmax
        Convergence of the cell relaxation [eV] ((V/N)·σ).
    steps
        Largest number of BFGS steps.
    min_image
        Shortest distance from an atom to its own periodic image [Å] (module docstring).

    Returns
    -------
    float
        ΔE [eV/atom].

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> round(phase_energy(EMT(), "Au", "bcc"), 4)
    0.0343
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    check_choice("phase", phase, PHASES)
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    min_image = check_nonnegative("min_image", min_image)
    a = _lattice(calc, symbol, a)
    fcc_energy = _fcc_energy(calc, symbol, a, min_image)
    neighbour = a / math.sqrt(2)
    if phase == "hcp":
        atoms = bulk(symbol, "hcp", a=neighbour, c=neighbour * math.sqrt(8 / 3))
        cell = "diagonal"
    else:
        lattice = {"bcc": 2 / math.sqrt(3), "diamond": 4 / math.sqrt(3), "sc": 1.0}[phase]
        atoms = bulk(symbol, phase, a=lattice * neighbour)
        cell = "hydrostatic"
    atoms = _supercell(atoms, min_image)
    atoms.calc = calc
    _relax(atoms, f"{phase} {symbol}", fmax, steps, cell=cell)
    return float(atoms.get_potential_energy() / len(atoms) - fcc_energy)


# --- defects ------------------------------------------------------------------------------------


def _slab(
    symbol: str,
    a: float,
    miller: tuple[int, int, int],
    layers: int,
    vacuum: float,
    min_image: float,
) -> Atoms:
    """A symmetric fcc slab, surface normal along z (non-periodic), the smallest surface cell
    (one atom per layer) repeated in-plane to ``min_image``."""
    primitive = bulk(symbol, "fcc", a=a)
    # the plane's Miller indices in the basis of the primitive vectors (ASE's surface()
    # reads indices in the basis of the cell it is given)
    indices = np.rint(primitive.cell.array @ np.array(miller) / (a / 2)).astype(int)
    indices //= math.gcd(*(int(i) for i in indices))
    slab = surface(primitive, tuple(int(i) for i in indices), layers, vacuum=vacuum)
    slab.pbc = (True, True, False)
    return _supercell(slab, min_image)


def _layer_heights(slab: Atoms, spacing: float) -> np.ndarray:
    """Mean z of each atomic layer [Å], bottom to top (layers split at gaps > spacing/2)."""
    z = np.sort(slab.positions[:, 2])
    groups = np.split(z, np.flatnonzero(np.diff(z) > spacing / 2) + 1)
    return np.array([group.mean() for group in groups])


def surface_energy(
    calc: Any,
    symbol: str,
    miller: Sequence[int],
    *,
    a: float | None = None,
    layers: Sequence[int] = (7, 9, 11, 13),
    relax: bool = True,
    fmax: float = 0.002,
    steps: int = 500,
    vacuum: float = 10.0,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> float:
    """The surface energy γ of fcc ``symbol`` for the plane ``miller`` [J/m²] (Eq 5.24).

    Symmetric slabs of ``layers`` atomic layers (the smallest surface cell, built with ASE's
    `surface`, repeated in-plane to ``min_image``; non-periodic along the normal, ``vacuum`` on
    each side) are relaxed (all atoms, fixed cell) if ``relax``; their energies are fitted by
    E_N = 2 γ A + N E_layer (Eq 5.24), so that γ does not depend on a separately computed bulk
    energy (the seed: Eq 5.23 diverges for a tiny bulk-energy mismatch).

    Parameters
    ----------
    calc
        ASE calculator.
    symbol
        Chemical symbol.
    miller
        Miller indices (h, k, l) of the plane in the cubic cell, e.g. (1, 1, 1).
    a
        fcc lattice constant [Å]; default `lattice_constant`.
    layers
        Slab thicknesses (numbers of atomic layers, >= 3; at least two different).
    relax
        Relax the slabs (both surfaces) before taking their energies.
    fmax
        Force convergence of the relaxation [eV/Å].
    steps
        Largest number of BFGS steps per slab.
    vacuum
        Vacuum on each side of the slab [Å].
    min_image
        Shortest distance from an atom to its own periodic image [Å] (module docstring).

    Returns
    -------
    float
        γ [J/m²].

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> round(surface_energy(EMT(), "Au", (1, 1, 1)), 3)
    0.514
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    miller = _check_miller("miller", miller)
    layers = _check_layers(layers)
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    vacuum = check_positive("vacuum", vacuum)
    min_image = check_nonnegative("min_image", min_image)
    a = _lattice(calc, symbol, a)
    energies, area = [], None
    for count in layers:
        slab = _slab(symbol, a, miller, count, vacuum, min_image)
        slab.calc = calc
        if relax:
            _relax(slab, f"the {count}-layer {symbol}{miller} slab", fmax, steps)
        energies.append(slab.get_potential_energy())
        area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    _, intercept = np.polyfit(layers, energies, 1)  # E_N = 2γA + N E_bulk (Eq 5.24)
    return float(intercept / (2 * area) / J_PER_M2)


def surface_relaxation(
    calc: Any,
    symbol: str,
    miller: Sequence[int],
    *,
    a: float | None = None,
    layers: int = 11,
    fmax: float = 0.001,
    steps: int = 500,
    vacuum: float = 10.0,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> float:
    """The relative change of the top interlayer spacing, (d12 − d0)/d0, after relaxation.

    A symmetric slab of ``layers`` atomic layers (as in `surface_energy`) is relaxed (all
    atoms, fixed cell); d12 is the distance between the mean heights of the outermost two
    layers, averaged over both surfaces, and d0 the bulk spacing of the planes. Negative
    means the surface layer moved in (seed §4.2.1: +1.2 % for (111), −1.1 % for (100) with
    its COMB3 Au potential).

    Parameters
    ----------
    calc
        ASE calculator.
    symbol
        Chemical symbol.
    miller
        Miller indices (h, k, l) of the plane in the cubic cell.
    a
        fcc lattice constant [Å]; default `lattice_constant`.
    layers
        Slab thickness, >= 3 atomic layers.
    fmax
        Force convergence [eV/Å].
    steps
        Largest number of BFGS steps.
    vacuum
        Vacuum on each side of the slab [Å].
    min_image
        Shortest distance from an atom to its own periodic image [Å] (module docstring).

    Returns
    -------
    float
        (d12 − d0)/d0, dimensionless (−0.01 is a 1 % contraction).

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> round(surface_relaxation(EMT(), "Au", (1, 0, 0)), 4)
    -0.0474
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    miller = _check_miller("miller", miller)
    layers = check_positive_int("layers", layers, minimum=3)
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    vacuum = check_positive("vacuum", vacuum)
    min_image = check_nonnegative("min_image", min_image)
    a = _lattice(calc, symbol, a)
    slab = _slab(symbol, a, miller, layers, vacuum, min_image)
    spacing = float(np.ptp(slab.positions[:, 2]) / (layers - 1))  # bulk d0
    slab.calc = calc
    _relax(slab, f"the {layers}-layer {symbol}{miller} slab", fmax, steps)
    heights = _layer_heights(slab, spacing)
    if len(heights) != layers:
        raise RuntimeError(
            f"the relaxed {symbol}{miller} slab has {len(heights)} distinct layers, not {layers}"
        )
    d12 = (heights[-1] - heights[-2] + heights[1] - heights[0]) / 2
    return float((d12 - spacing) / spacing)


def vacancy_energy(
    calc: Any,
    symbol: str,
    *,
    a: float | None = None,
    size: int = 3,
    relax: bool = True,
    fmax: float = 0.002,
    steps: int = 500,
) -> float:
    """The vacancy formation energy of fcc ``symbol`` [eV].

    E_v = E(N−1) − (N−1)/N · E(N) for a periodic cubic supercell of ``size``³ conventional
    cells (N = 4 size³ atoms) at the lattice constant ``a``, the N−1 atoms relaxed (fixed
    cell) if ``relax`` (seed Tables 5.1, 5.2: Ef (V)).

    Parameters
    ----------
    calc
        ASE calculator.
    symbol
        Chemical symbol.
    a
        fcc lattice constant [Å]; default `lattice_constant`.
    size
        Supercell repeats of the 4-atom cubic cell, >= 2 (3: 108 atoms).
    relax
        Relax the atoms around the vacancy.
    fmax
        Force convergence [eV/Å].
    steps
        Largest number of BFGS steps.

    Returns
    -------
    float
        E_v [eV].

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> round(vacancy_energy(EMT(), "Au", size=2), 2)
    0.75
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    size = check_positive_int("size", size, minimum=2)
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    a = _lattice(calc, symbol, a)
    perfect = bulk(symbol, "fcc", a=a, cubic=True).repeat(size)
    count = len(perfect)
    perfect_energy = _energy(calc, perfect)
    defect = perfect.copy()
    del defect[0]
    defect.calc = calc
    if relax:
        _relax(defect, f"the {symbol} vacancy supercell", fmax, steps)
    return float(defect.get_potential_energy() - (count - 1) / count * perfect_energy)


# --- molecules, compounds, adsorption -------------------------------------------------------------


def dimer(
    calc: Any,
    symbol: str,
    *,
    d0: float | None = None,
    fmax: float = 1e-4,
    steps: int = 500,
    vacuum: float = 10.0,
) -> tuple[float, float]:
    """The energy and bond length of the dimer X₂ (seed Tables 5.1, 5.2: "clusters").

    The two atoms start ``d0`` apart (default: twice the covalent radius) in a non-periodic
    box and are relaxed with BFGS. The energy is per atom relative to free atoms,
    (E(X₂) − 2 E(X))/2 — negative for a bound dimer, as the tables' Ef (Au₂) = −1.17 eV.

    Parameters
    ----------
    calc
        ASE calculator.
    symbol
        Chemical symbol.
    d0
        Start bond length [Å].
    fmax
        Force convergence [eV/Å].
    steps
        Largest number of BFGS steps.
    vacuum
        Distance from the atoms to the box faces [Å].

    Returns
    -------
    tuple of float
        (energy [eV/atom], bond length [Å]).

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> energy, length = dimer(EMT(), "Au")
    >>> round(energy, 3), round(length, 3)
    (-2.568, 2.304)
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    if d0 is None:
        d0 = 2 * float(covalent_radii[atomic_numbers[symbol]])
    d0 = check_positive("d0", d0)
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    vacuum = check_positive("vacuum", vacuum)
    molecule = Atoms(
        [symbol, symbol],
        positions=[(vacuum, vacuum, vacuum), (vacuum, vacuum, vacuum + d0)],
        cell=[2 * vacuum, 2 * vacuum, 2 * vacuum + d0],
        pbc=False,
    )
    molecule.calc = calc
    _relax(molecule, f"the {symbol}2 dimer", fmax, steps)
    energy = molecule.get_potential_energy()
    length = float(molecule.get_distance(0, 1))
    return float((energy - 2 * _free_atom_energy(calc, symbol, vacuum)) / 2), length


def _relaxed_energy(
    calc: Any,
    atoms: Atoms,
    what: str,
    relax: bool,
    fmax: float,
    steps: int,
    repeats: tuple[int, int, int] = (1, 1, 1),
) -> float:
    """Energy of a copy of ``atoms`` repeated ``repeats`` times, per copy of ``atoms``;
    relaxed (the cell too if fully periodic) if asked."""
    atoms = atoms.repeat(repeats)
    atoms.calc = calc
    if relax:
        _relax(atoms, what, fmax, steps, cell="full" if atoms.pbc.all() else None)
    return float(atoms.get_potential_energy()) / int(np.prod(repeats))


def formation_energy(
    calc: Any,
    compound: Atoms,
    references: Mapping[str, float | Atoms],
    *,
    relax: bool = True,
    fmax: float = 0.005,
    steps: int = 500,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> float:
    """The formation energy of a compound per atom [eV/atom] (Eq 5.17).

    E_f = (E_C − Σ_X n_X E_X)/Σ_X n_X, with E_C the energy of ``compound``, n_X its number of
    atoms of element X and E_X the energy per atom of X's reference structure. Negative means
    the compound is stable against its references (seed Eq 5.18 for Au₂O₃ with bulk Au and
    the O₂ molecule).

    Parameters
    ----------
    calc
        ASE calculator.
    compound
        The compound's structure (not changed).
    references
        For every element of ``compound``: its reference energy [eV/atom], or a structure
        (e.g. ``bulk("Au")``, an O₂ molecule in a box) whose energy per atom is used.
    relax
        Relax the compound and the reference structures first: positions, and the cell of
        fully periodic structures (molecules in a box keep their box).
    fmax
        Force convergence [eV/Å] (and [eV] for (V/N)·σ of the cell).
    steps
        Largest number of BFGS steps.
    min_image
        Periodic structures are repeated (as one, energies per atom do not change) until no
        atom meets its own periodic image closer than this [Å] (module docstring); 0 computes
        them as given.

    Returns
    -------
    float
        E_f [eV/atom].

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> from ase.spacegroup import crystal
    >>> cu3au = crystal(["Au", "Cu"], [(0, 0, 0), (0, 0.5, 0.5)], spacegroup=221,
    ...                 cellpar=[3.75, 3.75, 3.75, 90, 90, 90])
    >>> refs = {"Cu": bulk("Cu", a=3.59), "Au": bulk("Au", a=4.06)}
    >>> round(formation_energy(EMT(), cu3au, refs), 3)
    -0.01
    """
    _check_calculator(calc)
    check_atoms("compound", compound)
    if len(compound) == 0:
        raise ValueError("compound must contain atoms, got an empty Atoms")
    if not isinstance(references, Mapping):
        raise ValueError(
            f"references must map each element to an energy [eV/atom] or a structure, got "
            f"{type(references).__name__}"
        )
    symbols = compound.get_chemical_symbols()
    elements = sorted(set(symbols))
    missing = [element for element in elements if element not in references]
    if missing:
        raise ValueError(
            f"references has no entry for {missing}; it needs one for each of {elements}"
        )
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    min_image = check_nonnegative("min_image", min_image)
    for element in elements:
        reference = references[element]
        if isinstance(reference, Atoms):
            check_atoms(f"references[{element!r}]", reference)
            if set(reference.get_chemical_symbols()) != {element}:
                raise ValueError(
                    f"references[{element!r}] must contain only {element} atoms, got "
                    f"{reference.get_chemical_formula()}"
                )
        elif isinstance(reference, bool) or not isinstance(reference, (int, float)):
            raise ValueError(
                f"references[{element!r}] must be an energy [eV/atom] or an ase.Atoms, got "
                f"{type(reference).__name__}"
            )
    per_atom = {}
    for element in elements:
        reference = references[element]
        if isinstance(reference, Atoms):
            repeats = _repeats(reference, min_image)
            what = f"the {element} reference"
            energy = _relaxed_energy(calc, reference, what, relax, fmax, steps, repeats)
            per_atom[element] = energy / len(reference)
        else:
            per_atom[element] = float(reference)
    repeats = _repeats(compound, min_image)
    total = _relaxed_energy(calc, compound, "the compound", relax, fmax, steps, repeats)
    counts = {element: symbols.count(element) for element in elements}
    return (total - sum(counts[x] * per_atom[x] for x in elements)) / len(symbols)  # Eq 5.17


def adsorption_energy(
    calc: Any,
    slab: Atoms,
    adsorbed: Atoms,
    *,
    adsorbate: str = "O",
    reference: str | float = "atom",
    relax: bool = True,
    fmax: float = 0.005,
    steps: int = 500,
    min_image: float = DEFAULT_MIN_IMAGE,
) -> float:
    """The adsorption energy per adsorbed atom [eV] (Eq 5.19).

    E_ad = (E_{O/slab} − E_slab − N_O E_O)/N_O, with N_O the number of ``adsorbate`` atoms that
    ``adsorbed`` has more than ``slab``. Negative means the adsorbate binds, the sign of the
    seed's Tables 5.3 and 5.4; Eq 5.19 as printed has an extra overall minus sign (a binding
    energy), which its tables do not follow. Constraints set on the structures (e.g.
    ``FixAtoms`` on the bottom layers) are kept in the relaxation.

    Parameters
    ----------
    calc
        ASE calculator.
    slab
        The clean surface (not changed).
    adsorbed
        The same surface with the adsorbate atoms (not changed).
    adsorbate
        Chemical symbol of the adsorbate.
    reference
        E_O: ``"atom"`` the free atom (Table 5.3), ``"molecule"`` half the relaxed molecule
        O₂ (Table 5.4, with `dimer`), or an energy [eV/atom].
    relax
        Relax the positions of both structures (fixed cells).
    fmax
        Force convergence [eV/Å].
    steps
        Largest number of BFGS steps.
    min_image
        Both structures are repeated alike along their periodic axes (the coverage and E_ad do
        not change) until no atom meets its own periodic image closer than this [Å] (module
        docstring); 0 computes them as given.

    Returns
    -------
    float
        E_ad [eV per adsorbate atom].

    Examples
    --------
    >>> from ase.build import add_adsorbate, fcc111
    >>> from ase.calculators.emt import EMT
    >>> clean = fcc111("Cu", size=(2, 2, 3), vacuum=8.0)
    >>> covered = clean.copy()
    >>> add_adsorbate(covered, "O", 1.2, "fcc")
    >>> round(adsorption_energy(EMT(), clean, covered, relax=False), 3)
    -3.87
    """
    _check_calculator(calc)
    check_atoms("slab", slab)
    check_atoms("adsorbed", adsorbed)
    adsorbate = check_symbol("adsorbate", adsorbate)
    if isinstance(reference, str):
        check_choice("reference", reference, ADSORPTION_REFERENCES)
    elif isinstance(reference, bool) or not isinstance(reference, (int, float)):
        raise ValueError(
            f"reference must be one of {ADSORPTION_REFERENCES} or an energy [eV/atom], got "
            f"{reference!r}"
        )
    fmax = check_positive("fmax", fmax)
    steps = check_positive_int("steps", steps)
    min_image = check_nonnegative("min_image", min_image)
    if not (np.allclose(slab.cell.array, adsorbed.cell.array) and (slab.pbc == adsorbed.pbc).all()):
        raise ValueError("adsorbed must have the same cell and pbc as slab (the clean surface)")
    count = adsorbed.get_chemical_symbols().count(adsorbate)
    count -= slab.get_chemical_symbols().count(adsorbate)
    if count <= 0:
        raise ValueError(
            f"adsorbed must contain more {adsorbate} atoms than slab (the adsorbate), got "
            f"{count} more"
        )
    if len(adsorbed) - len(slab) != count:
        raise ValueError(
            f"adsorbed must be slab plus {adsorbate} atoms only; it has {len(adsorbed)} atoms, "
            f"slab {len(slab)}"
        )
    if reference == "atom":
        free = _free_atom_energy(calc, adsorbate)
    elif reference == "molecule":
        free = _free_atom_energy(calc, adsorbate) + dimer(calc, adsorbate)[0]
    else:
        free = float(reference)
    repeats = _repeats(slab, min_image)
    covered = _relaxed_energy(calc, adsorbed, "the covered slab", relax, fmax, steps, repeats)
    clean = _relaxed_energy(calc, slab, "the clean slab", relax, fmax, steps, repeats)
    return (covered - clean - count * free) / count  # Eq 5.19 (sign of Tables 5.3, 5.4)


# --- all at once ---------------------------------------------------------------------------------


def evaluate(
    calc: Any,
    symbol: str,
    names: Iterable[str] = PROPERTY_NAMES,
    *,
    min_image: float = DEFAULT_MIN_IMAGE,
    surface_layers: Sequence[int] = (7, 9, 11, 13),
    relaxation_layers: int = 11,
    fmax: float | None = None,
    vacancy_size: int = 3,
    timings: dict[str, float] | None = None,
) -> dict[str, float | Exception]:
    """Compute several properties with shared settings; failures are returned, not raised.

    The lattice constant is computed once and used by all other properties; the elastic
    constants, surface energies and the dimer once each for all names that need them. A
    property whose computation raises (a LAMMPS error, a relaxation that does not converge, a
    lattice constant that failed) gets the exception as its value, which
    `atomscope.fitting.targets.error_function` scores as a failure. The settings are checked
    before any calculation.

    Parameters
    ----------
    calc
        ASE calculator.
    symbol
        Chemical symbol.
    names
        Names from `PROPERTY_NAMES` (the names of the property tables).
    min_image
        Shortest distance from an atom to its own periodic image [Å] (module docstring), for
        every periodic cell except the vacancy supercell.
    surface_layers
        Slab thicknesses of the surface energies (Eq 5.24; `surface_energy`'s ``layers``).
    relaxation_layers
        Slab thickness of the surface relaxations (`surface_relaxation`'s ``layers``).
    fmax
        Force convergence of every position relaxation (slabs, vacancy, dimer) [eV/Å]; by
        default each function's own (0.002, 0.001, 0.002 and 1e-4). Cell relaxations (lattice
        constant, phases) keep theirs.
    vacancy_size
        Repeats of the cubic cell of the vacancy supercell (`vacancy_energy`'s ``size``).
    timings
        If given, filled with the wall time [s] of each name's computation; a shared
        computation (the lattice constant, the slab series) counts where it is first needed.

    Returns
    -------
    dict
        ``{name: value or exception}`` in the units of
        `atomscope.fitting.targets.KNOWN_PROPERTIES`.

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> values = evaluate(EMT(), "Au", ["lattice_constant", "C44"])
    >>> {k: round(v, 3) for k, v in values.items()}
    {'lattice_constant': 4.056, 'C44': 46.982}
    """
    _check_calculator(calc)
    symbol = check_symbol("symbol", symbol)
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        check_choice("names", name, PROPERTY_NAMES)
    min_image = check_nonnegative("min_image", min_image)
    surface_layers = _check_layers(surface_layers)
    relaxation_layers = check_positive_int("relaxation_layers", relaxation_layers, minimum=3)
    if fmax is not None:
        fmax = check_positive("fmax", fmax)
    vacancy_size = check_positive_int("vacancy_size", vacancy_size, minimum=2)
    if timings is not None and not isinstance(timings, dict):
        raise TypeError(f"timings must be a dict to fill or None, got {type(timings).__name__}")
    relax = {} if fmax is None else {"fmax": fmax}
    cache: dict[str, Any] = {}

    def once(key: str, compute):
        if key not in cache:
            try:
                cache[key] = compute()
            except Exception as error:  # any failure of the potential is a result here
                cache[key] = error
        if isinstance(cache[key], Exception):
            raise cache[key]
        return cache[key]

    def lattice() -> float:
        return once("a", lambda: lattice_constant(calc, symbol, min_image=min_image))

    def elastic(key: str) -> float:
        return once(
            "elastic",
            lambda: elastic_constants(calc, symbol, a=lattice(), min_image=min_image),
        )[key]

    def gamma(miller: tuple[int, int, int]) -> float:
        return once(
            f"gamma{miller}",
            lambda: surface_energy(
                calc,
                symbol,
                miller,
                a=lattice(),
                layers=surface_layers,
                min_image=min_image,
                **relax,
            ),
        )

    def spacing(miller: tuple[int, int, int]) -> float:
        return surface_relaxation(
            calc,
            symbol,
            miller,
            a=lattice(),
            layers=relaxation_layers,
            min_image=min_image,
            **relax,
        )

    def pair(index: int) -> float:
        return once("dimer", lambda: dimer(calc, symbol, **relax))[index]

    recipes = {
        "lattice_constant": lattice,
        "cohesive_energy": lambda: cohesive_energy(calc, symbol, a=lattice(), min_image=min_image),
        "bulk_modulus": lambda: elastic("B"),
        "C11": lambda: elastic("C11"),
        "C12": lambda: elastic("C12"),
        "C44": lambda: elastic("C44"),
        "surface_energy_111": lambda: gamma((1, 1, 1)),
        "surface_energy_100": lambda: gamma((1, 0, 0)),
        "surface_energy_110": lambda: gamma((1, 1, 0)),
        "surface_energy_ratio_100_111": lambda: gamma((1, 0, 0)) / gamma((1, 1, 1)),
        "surface_energy_ratio_110_111": lambda: gamma((1, 1, 0)) / gamma((1, 1, 1)),
        "surface_relaxation_111": lambda: spacing((1, 1, 1)),
        "surface_relaxation_100": lambda: spacing((1, 0, 0)),
        "vacancy_energy": lambda: vacancy_energy(
            calc, symbol, a=lattice(), size=vacancy_size, **relax
        ),
        "dimer_energy": lambda: pair(0),
        "dimer_bond_length": lambda: pair(1),
    }
    for phase in PHASES:
        recipes[f"phase_energy_{phase}"] = lambda phase=phase: phase_energy(
            calc, symbol, phase, a=lattice(), min_image=min_image
        )
    results: dict[str, float | Exception] = {}
    for name in names:
        started = time.perf_counter()
        try:
            results[name] = float(recipes[name]())
        except Exception as error:  # recorded for the error function, never fatal
            results[name] = error
        if timings is not None:
            timings[name] = time.perf_counter() - started
    return results
