"""Property tables and the error function of a potential fit (seed Eq 5.14).

A property table is a TOML file with one ``[[property]]`` table per row:

.. code-block:: toml

    [[property]]
    name = "lattice_constant"   # one of KNOWN_PROPERTIES
    value = 4.06                # the target p̃ (units of KNOWN_PROPERTIES[name])
    delta = 0.02                # the target accuracy δp, > 0, same units
    weight = 1.0                # >= 0; the seed's error function has 1 (starred) or 0
    stage1 = true               # starred in the seed's table (first fitting stage)
    source = "Exp. [118]"

Rows without ``value`` (the seed's tables list EAM/COMB3 values for some properties that have
no experimental or DFT target) are kept in the file for reference and skipped by
`load_targets`. The seed's Tables 5.1 (Au) and 5.2 (Pt) ship as ``"au"`` and ``"pt"``
(``atomscope/fitting/data/*.toml``).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = [
    "FAILURE_SCORE",
    "KNOWN_PROPERTIES",
    "PropertyTarget",
    "error_function",
    "load_targets",
    "residuals",
    "shipped_tables",
]

#: The score of one failed property evaluation (an exception, ``None`` or a non-finite
#: value) in `error_function`; every term is also capped at it, so the total stays finite.
FAILURE_SCORE = 1.0e6

#: Every property name a table may use, with its unit.
KNOWN_PROPERTIES: dict[str, str] = {
    "lattice_constant": "Å",  # fcc, 0 K
    "lattice_constant_300K": "Å",
    "cohesive_energy": "eV/atom",  # Eq 5.16, positive; the seed's tables list E0 = −E_coh
    "bulk_modulus": "GPa",  # Eq 5.22
    "C11": "GPa",
    "C12": "GPa",
    "C44": "GPa",
    "melting_point": "K",
    "phase_energy_hcp": "eV/atom",  # E(hcp) − E(fcc)
    "phase_energy_bcc": "eV/atom",
    "phase_energy_diamond": "eV/atom",
    "phase_energy_sc": "eV/atom",
    "surface_energy_111": "J/m²",
    "surface_energy_100": "J/m²",
    "surface_energy_110": "J/m²",
    "surface_energy_ratio_100_111": "1",
    "surface_energy_ratio_110_111": "1",
    "surface_relaxation_111": "1",  # relative change of d12
    "surface_relaxation_100": "1",
    "stacking_fault_intrinsic": "mJ/m²",
    "stacking_fault_unstable": "mJ/m²",
    "vacancy_energy": "eV",
    "interstitial_octahedral": "eV",
    "interstitial_dumbbell_111": "eV",
    "interstitial_dumbbell_110": "eV",
    "interstitial_dumbbell_100": "eV",
    "dimer_energy": "eV/atom",  # (E(X2) − 2 E(X)) / 2
    "dimer_bond_length": "Å",
}

_SHIPPED = {"au": "au.toml", "pt": "pt.toml"}


@dataclass(frozen=True)
class PropertyTarget:
    """One row of a property table: a target value, its accuracy and weight.

    Attributes
    ----------
    name
        A key of `KNOWN_PROPERTIES`.
    value
        The target p̃ [unit of the property].
    delta
        The target accuracy δp [same unit], > 0 (Eq 5.14 divides by it).
    weight
        Multiplies the property's term of the error function, >= 0.
    stage1
        Starred in the seed's table: part of the first (pure-metal) fitting stage.
    source
        Where the target comes from, as the seed cites it.
    unit
        The unit of ``value`` and ``delta``.
    label
        The row's label in the seed's table.
    alternatives
        Other target values the seed lists for the row, as ``(value, source)`` pairs.
    reference
        Values of other potentials the seed lists (``{"EAM": ..., "COMB3": ...}``).
    note
        Remarks (e.g. how ``value`` was chosen among several, or how ``delta`` was set).
    """

    name: str
    value: float
    delta: float
    weight: float = 1.0
    stage1: bool = False
    source: str = ""
    unit: str = ""
    label: str = ""
    alternatives: tuple[tuple[float, str], ...] = ()
    reference: Mapping[str, float] = field(default_factory=dict, hash=False)
    note: str = ""

    def __post_init__(self):
        where = f"property {self.name!r}"
        if self.name not in KNOWN_PROPERTIES:
            raise ValueError(
                f"unknown property name {self.name!r}; known are {', '.join(KNOWN_PROPERTIES)}"
            )
        for attribute in ("value", "delta", "weight"):
            number = getattr(self, attribute)
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ValueError(f"{where}: {attribute} must be a number, got {number!r}")
            if not math.isfinite(number):
                raise ValueError(f"{where}: {attribute} must be finite, got {number}")
        if self.delta <= 0:
            raise ValueError(
                f"{where}: delta (the target accuracy δp) must be > 0, got {self.delta}"
            )
        if self.weight < 0:
            raise ValueError(f"{where}: weight must be >= 0, got {self.weight}")
        if not self.unit:
            object.__setattr__(self, "unit", KNOWN_PROPERTIES[self.name])


def shipped_tables() -> tuple[str, ...]:
    """Names of the property tables shipped with atomscope (for `load_targets`).

    Examples
    --------
    >>> shipped_tables()
    ('au', 'pt')
    """
    return tuple(_SHIPPED)


def _table_text(path_or_name: str | os.PathLike) -> tuple[str, str]:
    if not isinstance(path_or_name, (str, os.PathLike)):
        raise TypeError(
            f"path_or_name must be a file path or one of {shipped_tables()}, got "
            f"{type(path_or_name).__name__}"
        )
    key = str(path_or_name).lower()
    if isinstance(path_or_name, str) and key in _SHIPPED:
        resource = resources.files("atomscope.fitting") / "data" / _SHIPPED[key]
        return resource.read_text(encoding="utf-8"), f"shipped table {key!r}"
    path = Path(path_or_name)
    if not path.is_file():
        raise ValueError(
            f"path_or_name {str(path_or_name)!r} is neither a file nor one of the shipped "
            f"tables {shipped_tables()}"
        )
    return path.read_text(encoding="utf-8"), str(path)


def load_targets(path_or_name: str | os.PathLike) -> list[PropertyTarget]:
    """Read a property table (TOML) into `PropertyTarget` rows.

    Parameters
    ----------
    path_or_name
        A TOML file, or the name of a shipped table: ``"au"`` (seed Table 5.1) or ``"pt"``
        (seed Table 5.2).

    Returns
    -------
    list of PropertyTarget
        The rows that have a target ``value``, in file order.

    Raises
    ------
    ValueError
        For a file that is not valid TOML, an unknown property name, a repeated name, a
        missing ``delta`` or δp <= 0, a negative weight — naming the property.

    Examples
    --------
    >>> targets = load_targets("au")
    >>> [(t.name, t.value, t.delta) for t in targets if t.stage1][:2]
    [('lattice_constant', 4.06, 0.02), ('cohesive_energy', 3.81, 0.05)]
    """
    text, where = _table_text(path_or_name)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{where} is not valid TOML: {error}") from None
    rows = document.get("property", [])
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{where} has no [[property]] rows")
    targets, seen = [], set()
    for index, row in enumerate(rows):
        name = row.get("name")
        if name not in KNOWN_PROPERTIES:
            raise ValueError(
                f"{where}: property {index + 1} has unknown name {name!r}; known are "
                f"{', '.join(KNOWN_PROPERTIES)}"
            )
        if name in seen:
            raise ValueError(f"{where}: property {name!r} appears twice")
        seen.add(name)
        allowed = {
            "name",
            "value",
            "delta",
            "weight",
            "stage1",
            "source",
            "unit",
            "label",
            "alternatives",
            "reference",
            "note",
        }
        unknown = sorted(set(row) - allowed)
        if unknown:
            raise ValueError(
                f"{where}: property {name!r} has unknown keys {unknown}; allowed are "
                f"{sorted(allowed)}"
            )
        if "value" not in row:
            continue  # a reference-only row: no target to fit
        if "delta" not in row:
            raise ValueError(f"{where}: property {name!r} has a value but no delta (δp)")
        alternatives = tuple(
            (float(item["value"]), str(item.get("source", "")))
            for item in row.get("alternatives", [])
        )
        try:
            targets.append(
                PropertyTarget(
                    name=name,
                    value=row["value"],
                    delta=row["delta"],
                    weight=row.get("weight", 1.0),
                    stage1=bool(row.get("stage1", False)),
                    source=str(row.get("source", "")),
                    unit=str(row.get("unit", "")),
                    label=str(row.get("label", "")),
                    alternatives=alternatives,
                    reference=dict(row.get("reference", {})),
                    note=str(row.get("note", "")),
                )
            )
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return targets


def _as_float(value: object) -> float | None:
    """``value`` as a finite float, or ``None`` for a failed evaluation."""
    if value is None or isinstance(value, (BaseException, bool)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def error_function(
    values: Mapping[str, object],
    targets: Iterable[PropertyTarget],
    failure_score: float = FAILURE_SCORE,
) -> float:
    """The error of a potential's properties against the targets (seed Eq 5.14).

    E = Σₙ wₙ ((pₙ − p̃ₙ)/δpₙ)²; the seed's error function is the case wₙ = 1 for its starred
    properties and 0 for the others (the weights of the shipped tables). Rows with weight 0
    are skipped and need no value.

    A failed evaluation never raises here: a value that is an exception, ``None``, not a
    number, NaN or infinite scores ``failure_score`` × weight (the seed: "catching all errors
    and assigning a very high value"), and every term is capped at that, so the total is
    always finite and a search can go on.

    Parameters
    ----------
    values
        ``{property name: computed value}`` (or the exception its evaluation raised); extra
        names are ignored.
    targets
        The rows to score (e.g. ``load_targets("au")``).
    failure_score
        The score of one failed or absurd property, > 0.

    Returns
    -------
    float
        E >= 0, dimensionless.

    Raises
    ------
    ValueError
        If a weighted target has no entry in ``values`` (a caller's mistake, not a failed
        evaluation), naming it.

    Examples
    --------
    >>> targets = [PropertyTarget("lattice_constant", 4.0, 0.25),
    ...            PropertyTarget("C44", 45.0, 5.0)]
    >>> error_function({"lattice_constant": 4.5, "C44": 40.0}, targets)
    5.0
    >>> error_function({"lattice_constant": RuntimeError("LAMMPS failed"), "C44": 45.0}, targets)
    1000000.0
    """
    total = 0.0
    for target, term, _ in _scored_terms(values, targets, failure_score):
        total += target.weight * term  # Eq 5.14
    return total


def residuals(
    values: Mapping[str, object],
    targets: Iterable[PropertyTarget],
    failure_score: float = FAILURE_SCORE,
) -> np.ndarray:
    """The terms of Eq 5.14 as residuals rₙ = √wₙ (pₙ − p̃ₙ)/δpₙ, so that Σ rₙ² is
    `error_function` (to rounding), for least-squares minimisers.

    Same rules as `error_function`: a failed property gives √(wₙ ``failure_score``), every |rₙ|
    is capped at that; one residual per row with weight > 0, in table order.

    Parameters
    ----------
    values, targets, failure_score
        As in `error_function`.

    Returns
    -------
    numpy.ndarray
        Dimensionless residuals.

    Examples
    --------
    >>> targets = [PropertyTarget("lattice_constant", 4.0, 0.25),
    ...            PropertyTarget("C44", 45.0, 5.0)]
    >>> residuals({"lattice_constant": 4.5, "C44": 40.0}, targets).tolist()
    [2.0, -1.0]
    """
    return np.array(
        [
            sign * math.sqrt(target.weight * term)
            for target, term, sign in _scored_terms(values, targets, failure_score)
        ]
    )


def _scored_terms(values, targets, failure_score):
    """(target, capped ((pₙ − p̃ₙ)/δpₙ)², sign of pₙ − p̃ₙ) of each weighted row, checked."""
    if isinstance(failure_score, bool) or not isinstance(failure_score, (int, float)):
        raise ValueError(f"failure_score must be a number > 0, got {failure_score!r}")
    if not math.isfinite(failure_score) or failure_score <= 0:
        raise ValueError(f"failure_score must be finite and > 0, got {failure_score}")
    if not isinstance(values, Mapping):
        raise ValueError(f"values must be a mapping {{name: value}}, got {type(values).__name__}")
    targets = list(targets.values() if isinstance(targets, Mapping) else targets)
    for target in targets:
        if not isinstance(target, PropertyTarget):
            raise ValueError(f"targets must be PropertyTarget rows, got {type(target).__name__}")
    weighted = [target for target in targets if target.weight > 0]
    missing = [target.name for target in weighted if target.name not in values]
    if missing:
        raise ValueError(f"values has no entry for the weighted properties {missing}")
    terms = []
    for target in weighted:
        value = _as_float(values[target.name])
        if value is None:
            terms.append((target, failure_score, 1.0))
            continue
        scaled = abs(value - target.value) / target.delta  # may overflow to inf: capped
        terms.append(
            (target, min(scaled * scaled, failure_score), math.copysign(1.0, value - target.value))
        )
    return terms
