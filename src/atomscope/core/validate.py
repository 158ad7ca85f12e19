"""Argument checks shared by every public function.

Each check raises ``ValueError`` or ``TypeError`` whose message names the argument, the offending
value and the allowed range, so that bad input is refused before any work starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def check_real(name: str, value: Any) -> float:
    """Return ``value`` as a finite float or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float > 0 or raise naming ``name``."""
    value = check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``value`` as a float >= 0 or raise naming ``name``."""
    value = check_real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float inside [low, high] (ends open if asked) or raise."""
    value = check_real(name, value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value}")
    return value


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_finite_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float ndarray with only finite entries (and ``ndim`` dims).

    Complex values are refused (a ``TypeError``) rather than cut to their real part; the
    message of a non-finite array counts the bad entries and gives the first, in one line.

    Examples
    --------
    >>> check_finite_array("x", [1, 2])
    array([1., 2.])
    >>> check_finite_array("x", [[1.0, float("nan")], [0.0, 1.0]])
    Traceback (most recent call last):
    ...
    ValueError: x must contain only finite values (no NaN/inf); 1 of 4 entries are not, the first at index (0, 1): nan
    """
    if np.iscomplexobj(value):
        raise TypeError(
            f"{name} must be real, got a complex array; pass its .real, .imag, np.abs() or "
            "np.angle() explicitly"
        )
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from error
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must contain only finite values (no NaN/inf); {int(bad.sum())} of "
            f"{array.size} entries are not, the first at index {first}: {array[first]}"
        )
    return array


def check_atoms(name: str, atoms: Any) -> Any:
    """Return ``atoms`` (an `ase.Atoms`) if its positions and cell are finite, else raise.

    The message names ``name`` (e.g. the file the structure came from), the number of atoms
    with a NaN/inf coordinate and the first of them, in one line.

    Examples
    --------
    >>> from ase import Atoms
    >>> atoms = Atoms("Cu2", positions=[[0, 0, 0], [1, float("nan"), 0]], cell=[3, 3, 3])
    >>> check_atoms("atoms", atoms)
    Traceback (most recent call last):
    ...
    ValueError: atoms: 1 of 2 atoms have a non-finite position (NaN/inf); the first is atom 1 (Cu) at [1.0, nan, 0.0] Å; positions must be finite
    """
    from ase import Atoms

    if not isinstance(atoms, Atoms):
        raise TypeError(f"{name} must be an ase.Atoms, got {type(atoms).__name__}")
    cell = np.asarray(atoms.cell)
    if not np.all(np.isfinite(cell)):
        raise ValueError(f"{name}: the cell must be finite (no NaN/inf), got {cell.tolist()} Å")
    bad = ~np.all(np.isfinite(atoms.positions), axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"{name}: {int(bad.sum())} of {len(atoms)} atoms have a non-finite position "
            f"(NaN/inf); the first is atom {first} ({atoms.get_chemical_symbols()[first]}) at "
            f"{atoms.positions[first].tolist()} Å; positions must be finite"
        )
    return atoms


def check_pair(name: str, value: Any, check=check_positive) -> tuple[float, float]:
    """Return a 2-tuple from a scalar or a pair, each element passed through ``check``."""
    if np.ndim(value) == 0:
        item = check(name, value)
        return item, item
    values = tuple(value)
    if len(values) != 2:
        raise ValueError(f"{name} must be a scalar or a pair (x, y), got {values!r}")
    return check(f"{name}[0]", values[0]), check(f"{name}[1]", values[1])
