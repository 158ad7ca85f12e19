"""COMB3 parameters named, grouped by fitting stage and bounded (seed §5.3).

The seed fits COMB3 in three stages: "We start by fitting the pure metals, then the single-element
charge dependent parameters and lastly we fit the binary parameters for the alloys and oxides."
`STAGE_PARAMETERS` names the parameters of each stage (names of
`atomscope.fitting.comb3_file.PARAMETERS`):

- stage 1, pure metal — the pair and many-body terms of the element's own entry (X X X): the
  repulsion A, λ and attraction B₁, α₁ (Eqs 5.12, 5.13), the bond-order β, n and angular
  ``pcos0``, the bond-angle corrections ``p6p1``, ``p6p3`` and the van der Waals ε, σ;
- stage 2, charge terms of (X X X): the self energy χ, J, K, L (Eq 5.9), the Slater exponent
  ``esm``, the field terms ``cmn1``, ``cmn2`` (Eq 5.10) and the charge dependence of A and B
  (``lami``, ``alfi``, ``DL``, ``DU``);
- stage 3, binary cross terms of X with a partner Y: A, λ, B₁, α₁ shared by the pair entries
  (X Y Y) and (Y X X) (one parameter sets both, as in the shipped file), and β, ``pcos0``,
  ``cmn1``, ``cmn2`` of each of the two.

Each parameter is bounded relative to a reference element's value (`BOUNDS`; the seed started
from Cu): ``"factor"`` bounds are [low·ref, high·ref] (a sign-definite parameter keeps its sign;
every parameter LAMMPS requires to be >= 0 has one), ``"spread"`` bounds are
ref ± high·|ref|. A parameter whose reference value is 0 is not fitted (the bounds would be
empty; the Cu entry has no second or third attraction term, for instance). σ of the van der
Waals term has a further lower bound, (R − D)/0.95 of the entry (LAMMPS's van der Waals spline
needs 0.95 σ >= R − D).

Examples
--------
>>> from atomscope.fitting import comb3_file
>>> entries = comb3_file.initial_entries("Au", from_element="Cu")
>>> stage1 = stage_parameters(entries, "Au", 1)
>>> [p.label for p in stage1][:4]
['Au-Au-Au:bigA', 'Au-Au-Au:lambda', 'Au-Au-Au:bigB1', 'Au-Au-Au:alpha1']
>>> stage1[0].start, stage1[0].lower, stage1[0].upper
(712.3527, 71.23527, 7123.527)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from atomscope.fitting import comb3_file
from atomscope.structures._elements import check_symbol

__all__ = [
    "BOUNDS",
    "STAGES",
    "STAGE_PARAMETERS",
    "Parameter",
    "stage_parameters",
    "with_values",
]

#: What each fitting stage fits (seed §5.3).
STAGES: dict[int, str] = {
    1: "pure metal: pair and many-body terms of the element's own entry",
    2: "single-element charge terms of the element's own entry",
    3: "binary cross terms of the element with its partners",
}

#: Parameter names per stage; stage 3's first four are shared by (X Y Y) and (Y X X).
STAGE_PARAMETERS: dict[int, tuple[str, ...]] = {
    1: (
        "bigA",
        "lambda",
        "bigB1",
        "alpha1",
        "beta",
        "powern",
        "pcos0",
        "p6p1",
        "p6p3",
        "veps",
        "vsig",
    ),
    2: ("chi", "dj", "dk", "dl", "esm", "cmn1", "cmn2", "lami", "alfi", "DL", "DU"),
    3: ("bigA", "lambda", "bigB1", "alpha1", "beta", "pcos0", "cmn1", "cmn2"),
}
_SHARED_PAIR_TERMS = ("bigA", "lambda", "bigB1", "alpha1")

#: ``name: (unit, kind, low, high)``: "factor" → [low·ref, high·ref]; "spread" → ref ± high·|ref|.
BOUNDS: dict[str, tuple[str, str, float, float]] = {
    "bigA": ("eV", "factor", 0.1, 10.0),
    "lambda": ("1/Å", "factor", 0.5, 2.0),
    "bigB1": ("eV", "factor", 0.1, 10.0),
    "alpha1": ("1/Å", "factor", 0.5, 2.0),
    "beta": ("1/Å", "factor", 0.1, 10.0),
    "powern": ("1", "factor", 0.2, 5.0),
    "pcos0": ("1", "factor", 0.1, 10.0),
    "p6p1": ("eV", "spread", 0.0, 10.0),
    "p6p3": ("eV", "spread", 0.0, 10.0),
    "veps": ("eV", "factor", 0.1, 10.0),
    "vsig": ("Å", "factor", 0.8, 1.5),
    "chi": ("eV/e", "factor", 0.5, 2.0),
    "dj": ("eV/e²", "factor", 0.5, 2.0),
    "dk": ("eV/e³", "spread", 0.0, 3.0),
    "dl": ("eV/e⁴", "spread", 0.0, 3.0),
    "esm": ("1/Å", "factor", 0.5, 2.0),
    "cmn1": ("", "spread", 0.0, 3.0),
    "cmn2": ("", "spread", 0.0, 3.0),
    "lami": ("1/Å", "factor", 0.5, 2.0),
    "alfi": ("1/Å", "factor", 0.5, 2.0),
    "DL": ("1", "factor", 0.2, 5.0),
    "DU": ("1", "factor", 0.2, 5.0),
}


@dataclass(frozen=True)
class Parameter:
    """One fitted COMB3 parameter: where it lives, its start value and its bounds.

    Attributes
    ----------
    name
        The parameter's name in `atomscope.fitting.comb3_file.PARAMETERS`.
    triplets
        The entries it sets (two for stage 3's shared pair terms, else one).
    start
        Its value in the start entries [``unit``].
    lower, upper
        Bounds [``unit``], lower < upper, ``lower <= start <= upper``.
    stage
        Fitting stage (`STAGES`).
    unit
        Unit of the values.
    """

    name: str
    triplets: tuple[tuple[str, str, str], ...]
    start: float
    lower: float
    upper: float
    stage: int
    unit: str = ""

    @property
    def label(self) -> str:
        """``"Au-Au-Au:bigA"``, or ``"Au-O:bigA"`` for a term shared by (Au O O) and (O Au Au)."""
        if len(self.triplets) == 2:
            i, j, _ = self.triplets[0]
            return f"{i}-{j}:{self.name}"
        return f"{'-'.join(self.triplets[0])}:{self.name}"


def _bounds(name: str, reference: float) -> tuple[float, float] | None:
    _, kind, low, high = BOUNDS[name]
    if reference == 0:
        return None
    if kind == "factor":
        ends = (low * reference, high * reference)
    else:
        ends = (reference - high * abs(reference), reference + high * abs(reference))
    return min(ends), max(ends)


def _slots(element: str, stage: int, partners: Sequence[str]):
    """(name, triplets) of every parameter of a stage, before bounds."""
    own = ((element,) * 3,)
    if stage in (1, 2):
        return [(name, own) for name in STAGE_PARAMETERS[stage]]
    slots = []
    for partner in partners:
        pair = ((element, partner, partner), (partner, element, element))
        for name in STAGE_PARAMETERS[3]:
            if name in _SHARED_PAIR_TERMS:
                slots.append((name, pair))
            else:
                slots.extend((name, (triplet,)) for triplet in pair)
    return slots


def stage_parameters(
    entries: Mapping[tuple[str, str, str], Mapping[str, float]],
    element: str,
    stage: int,
    *,
    partners: Iterable[str] = (),
    names: Iterable[str] | None = None,
    reference: str = "Cu",
    reference_entries: Mapping[tuple[str, str, str], Mapping[str, float]] | None = None,
) -> list[Parameter]:
    """The parameters a fitting stage varies, with start values from ``entries`` and bounds.

    Parameters
    ----------
    entries
        The start entries (e.g. `atomscope.fitting.comb3_file.initial_entries` or a file read
        with `atomscope.fitting.comb3_file.read`); they must hold the element's own entry and,
        for stage 3, both pair entries with every partner.
    element
        The element being fitted, e.g. ``"Au"``.
    stage
        1, 2 or 3 (`STAGES`).
    partners
        Stage 3 only: the elements of the binary cross terms, e.g. ``["O"]``.
    names
        A subset of the stage's `STAGE_PARAMETERS` to fit (default: all).
    reference
        The element whose values set the bounds (`BOUNDS`): its own entry for stages 1 and 2,
        its pair entries with each partner for stage 3.
    reference_entries
        Where the reference values are read; default the shipped ``ffield.comb3``.

    Returns
    -------
    list of Parameter
        In `STAGE_PARAMETERS` order (per partner for stage 3), skipping parameters whose
        reference value is 0.

    Raises
    ------
    ValueError
        For an unknown stage or name, a missing element, partner or entry, and a start value
        outside its bounds — naming the parameter, its value and the bounds.
    """
    element = check_symbol("element", element)
    if isinstance(stage, bool) or stage not in STAGES:
        raise ValueError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")
    if isinstance(partners, str):
        partners = [partners]
    partners = [check_symbol(f"partners[{i}]", p) for i, p in enumerate(partners)]
    if stage == 3 and not partners:
        raise ValueError("stage 3 (binary cross terms) needs partners, e.g. partners=['O']")
    if stage != 3 and partners:
        raise ValueError(f"partners are for stage 3 only, got {partners} for stage {stage}")
    if element in partners:
        raise ValueError(f"partners must not include the element {element!r} itself")
    reference = check_symbol("reference", reference)
    wanted = STAGE_PARAMETERS[stage]
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        unknown = [name for name in names if name not in wanted]
        if unknown:
            raise ValueError(
                f"names {unknown} are not stage-{stage} parameters; stage {stage} fits "
                f"{', '.join(wanted)}"
            )
        if not names:
            raise ValueError("names must name at least one parameter, got none")
        wanted = tuple(name for name in wanted if name in names)
    present = sorted({symbol for triplet in entries for symbol in triplet})
    for symbol in [element, *partners]:
        if symbol not in present:
            raise ValueError(
                f"the start entries have no parameters for {symbol!r}; they cover {present}"
            )
    references = comb3_file.read() if reference_entries is None else reference_entries
    parameters = []
    for name, triplets in _slots(element, stage, partners):
        if name not in wanted:
            continue
        start_values = []
        for triplet in triplets:
            if triplet not in entries:
                raise ValueError(f"the start entries have no entry {' '.join(triplet)}")
            start_values.append(float(entries[triplet][name]))
        if len(set(start_values)) > 1:
            raise ValueError(
                f"{name} must be equal in the entries {[' '.join(t) for t in triplets]} (one "
                f"shared parameter), got {start_values}"
            )
        source = tuple(reference if symbol == element else symbol for symbol in triplets[0])
        if source not in references:
            raise ValueError(
                f"the reference entries have no entry {' '.join(source)} to bound {name} of "
                f"{' '.join(triplets[0])}"
            )
        bounds = _bounds(name, float(references[source][name]))
        if bounds is None:
            continue
        lower, upper = bounds
        if name == "vsig":
            own = entries[triplets[0]]
            if own["vdwflag"] > 0:
                inner = own["bigr"] + (1 if own["vdwflag"] == 1 else -1) * own["bigd"]
                lower = max(lower, inner / 0.95)
        parameter = Parameter(
            name=name,
            triplets=tuple(triplets),
            start=start_values[0],
            lower=lower,
            upper=upper,
            stage=stage,
            unit=BOUNDS[name][0],
        )
        if not lower <= parameter.start <= upper:
            raise ValueError(
                f"start value of {parameter.label} = {parameter.start:g} {parameter.unit} is "
                f"outside its bounds [{lower:g}, {upper:g}] (set from {' '.join(source)}'s "
                f"{float(references[source][name]):g}, see BOUNDS)"
            )
        parameters.append(parameter)
    if not parameters:
        raise ValueError(
            f"stage {stage} has no parameter to fit for {element} (all reference values are 0)"
        )
    return parameters


def with_values(
    entries: Mapping[tuple[str, str, str], Mapping[str, float]],
    parameters: Sequence[Parameter],
    values: Sequence[float],
) -> dict[tuple[str, str, str], dict[str, float]]:
    """A copy of ``entries`` with the parameters set to ``values`` [their units].

    Raises
    ------
    ValueError
        If the lengths differ or a value is not finite or outside its parameter's bounds,
        naming the parameter.

    Examples
    --------
    >>> from atomscope.fitting import comb3_file
    >>> entries = comb3_file.initial_entries("Au")
    >>> (bigA,) = stage_parameters(entries, "Au", 1, names=["bigA"])
    >>> with_values(entries, [bigA], [800.0])["Au", "Au", "Au"]["bigA"]
    800.0
    """
    values = np.asarray(values, dtype=float).ravel()
    if len(values) != len(parameters):
        raise ValueError(f"values must hold {len(parameters)} numbers, got {len(values)}")
    updated = {triplet: dict(entry) for triplet, entry in entries.items()}
    for parameter, value in zip(parameters, values, strict=True):
        if not math.isfinite(value):
            raise ValueError(f"{parameter.label} must be finite, got {value}")
        if not parameter.lower <= value <= parameter.upper:
            raise ValueError(
                f"{parameter.label} = {value:g} is outside its bounds "
                f"[{parameter.lower:g}, {parameter.upper:g}] {parameter.unit}"
            )
        for triplet in parameter.triplets:
            updated[triplet][parameter.name] = float(value)
    return updated
