"""Checks and lattice facts for chemical elements, shared by the builders and the thermal models."""

from __future__ import annotations

from ase.data import atomic_numbers, reference_states

CUBIC_STRUCTURES = ("fcc", "bcc", "sc")


def check_symbol(name: str, value: object) -> str:
    """Return ``value`` if it is a chemical symbol known to ASE, else raise naming ``name``."""
    if not isinstance(value, str) or value not in atomic_numbers or value == "X":
        raise ValueError(f"{name} must be a chemical symbol such as 'Au', got {value!r}")
    return value


def cubic_reference(symbol: str, lattice_constant: float | None) -> tuple[str, float]:
    """The ground-state cubic structure of ``symbol`` and its lattice constant [Å].

    Raises ``ValueError`` for elements whose reference state is not fcc, bcc or simple cubic.
    """
    state = reference_states[atomic_numbers[symbol]] or {}
    structure = state.get("symmetry")
    if structure not in CUBIC_STRUCTURES:
        raise ValueError(
            f"symbol {symbol!r} has reference structure {structure!r}; only "
            f"{', '.join(CUBIC_STRUCTURES)} crystals are supported"
        )
    return structure, state["a"] if lattice_constant is None else lattice_constant
