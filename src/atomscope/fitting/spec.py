"""A COMB3 fit described in TOML (``atomscope fit run SPEC.toml``).

.. code-block:: toml

    name = "au-stage1"
    element = "Au"
    targets = "au"            # a shipped table ("au": seed Table 5.1, "pt": 5.2) or a TOML path
    # weights = { surface_relaxation_111 = 1.0 }   # override rows' weights (Eq 5.14's w)
    stage = 1                 # 1 pure metal (the only stage `run_fit` runs so far)
    # parameters = ["bigA", "lambda"]   # a subset of the stage's parameters (default: all)

    [start]
    from_element = "Cu"       # clone the shipped entries of Cu (seed §5.3) ...
    # ffield = "start.comb3"  # ... or read the element's entries from a file

    [search]                  # atomscope.fitting.search.SearchSettings
    searches = 4
    steps = 10
    jump = 0.05
    temperature = 0.014
    nelder_mead_iterations = 40
    seed = 0

    [properties]              # atomscope.fitting.objective.PropertySettings
    charges = "zero"          # or "equilibrate"
    min_image = 3.85          # [Å]; default 1.1 × the cutoff R + D ("zero") or 6 ("equilibrate")
    surface_layers = [5, 7, 9]
    relaxation_layers = 11
    fmax = 0.002              # [eV/Å]; default: each property's own
    vacancy_size = 3

Paths are relative to the spec file. Everything is checked when the spec is read — an unknown
key, a target δp <= 0 or unknown property name, a start parameter outside its bounds, an
ffield file that does not parse, an element missing from it — and raises ``ValueError`` naming
it, before any work starts. The surface-energy default (5, 7, 9) layers differs from the
(7, 9, 11, 13) of `atomscope.fitting.properties.surface_energy` by ≤ 8e-4 J/m² on the Cu-start
(100) slab (1 % of a ratio's δp) at half the cost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from atomscope.core.validate import check_positive_int
from atomscope.fitting import comb3_file
from atomscope.fitting.objective import (
    CHARGE_MODES,
    QEQ_MIN_IMAGE,
    Comb3Calculators,
    PropertyObjective,
    PropertySettings,
)
from atomscope.fitting.parameters import STAGE_PARAMETERS, Parameter, stage_parameters
from atomscope.fitting.properties import _check_layers
from atomscope.fitting.search import SearchSettings, SearchSpace
from atomscope.fitting.targets import PropertyTarget, load_targets, shipped_tables
from atomscope.structures._elements import check_symbol

__all__ = ["FIT_STAGES", "FitSpec"]

#: The stages `atomscope.fitting.run.run_fit` runs: stage 1 needs only pure-element properties;
#: stages 2 and 3 need the compound properties of seed Tables 5.3–5.7, not computed yet.
FIT_STAGES = (1,)
#: The default min_image with zero charges, in units of the short-range cutoff R + D.
CUTOFF_MARGIN = 1.1
DEFAULT_SURFACE_LAYERS = (5, 7, 9)

_TOP_KEYS = ("name", "element", "targets", "weights", "stage", "parameters", "partners", "start",
             "search", "properties")  # fmt: skip
_START_KEYS = ("from_element", "ffield")
_PROPERTY_KEYS = ("charges", "min_image", "surface_layers", "relaxation_layers", "fmax",
                  "vacancy_size")  # fmt: skip


def _weighted(targets: list[PropertyTarget], weights: Any) -> tuple[PropertyTarget, ...]:
    """``targets`` with the weights of the spec's ``[weights]`` table (name → weight >= 0)."""
    if not isinstance(weights, dict):
        raise ValueError(f"weights must be a table {{property: weight}}, got {weights!r}")
    rows = {target.name: target for target in targets}
    for name, weight in weights.items():
        if name not in rows:
            raise ValueError(
                f"weights.{name}: the targets table has no row {name!r}; it has {', '.join(rows)}"
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ValueError(f"weights.{name} must be a number >= 0, got {weight!r}")
        if not math.isfinite(weight):
            raise ValueError(f"weights.{name} must be finite, got {weight!r}")
    return tuple(
        dataclasses.replace(target, weight=float(weights[target.name]))
        if target.name in weights
        else target
        for target in targets
    )


def _refuse_unknown(prefix: str, table: Any, known) -> dict:
    if not isinstance(table, dict):
        raise ValueError(f"[{prefix.rstrip('.')}] must be a table, got {table!r}")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(
            f"unknown spec key {prefix}{unknown[0]}; allowed: {', '.join(prefix + k for k in known)}"
        )
    return table


def _checked(function, *args, **kwargs):
    """Call a constructor/check and report a TypeError as ValueError (a bad spec value)."""
    try:
        return function(*args, **kwargs)
    except TypeError as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class FitSpec:
    """A checked fit: the element, its start entries, targets, parameters and settings.

    Build it with `FitSpec.read` or `FitSpec.from_dict`; the attributes are resolved (entries
    read, targets loaded, bounds checked).

    Attributes
    ----------
    name, element, stage
        As in the TOML.
    targets_source, targets
        The property table's name or path, and its rows.
    start_source, entries
        ``{"from_element": ...}`` or ``{"ffield": path}``, and the start entries of the
        elements in play.
    parameters
        The fitted parameters with their bounds (`atomscope.fitting.parameters`).
    settings
        The search settings.
    charges, properties
        The charge mode and property settings (`atomscope.fitting.objective`).
    document
        The spec as resolved plain data (JSON-ready).

    Examples
    --------
    >>> spec = FitSpec.from_dict({"element": "Au", "targets": "au",
    ...                           "search": {"searches": 2, "steps": 3}})
    >>> spec.stage, len(spec.parameters), spec.settings.searches
    (1, 11, 2)
    >>> spec.properties.min_image, spec.properties.surface_layers
    (3.85, (5, 7, 9))
    """

    name: str
    element: str
    stage: int
    targets_source: str
    targets: tuple[PropertyTarget, ...]
    start_source: dict[str, str]
    entries: dict = field(repr=False)
    parameters: tuple[Parameter, ...]
    settings: SearchSettings
    charges: str
    properties: PropertySettings
    document: dict = field(repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: str | os.PathLike = ".") -> FitSpec:
        """A checked spec from nested dicts (the TOML tables); paths relative to ``base``."""
        data = _refuse_unknown("", data, _TOP_KEYS)
        base = Path(base)
        name = str(data.get("name", "fit"))
        if "element" not in data:
            raise ValueError("spec key element is missing (the element to fit, e.g. 'Au')")
        element = _checked(check_symbol, "element", data["element"])
        stage = data.get("stage", 1)
        if isinstance(stage, bool) or stage not in STAGE_PARAMETERS:
            raise ValueError(f"stage must be one of {sorted(STAGE_PARAMETERS)}, got {stage!r}")
        if stage not in FIT_STAGES:
            raise ValueError(
                f"stage {stage} cannot be fitted yet: atomscope fits stage 1 (pure metal); the "
                f"compound properties of stages 2 and 3 (seed Tables 5.3–5.7) are not computed"
            )
        targets_source = data.get("targets", element.lower())
        if not isinstance(targets_source, str):
            raise ValueError(f"targets must be a table name or path, got {targets_source!r}")
        if targets_source.lower() not in shipped_tables():
            targets_source = str(base / targets_source)
        targets = _weighted(load_targets(targets_source), data.get("weights", {}))

        start = _refuse_unknown("start.", data.get("start", {"from_element": "Cu"}), _START_KEYS)
        if len(start) != 1:
            raise ValueError(
                f"[start] must give exactly one of from_element or ffield, got {sorted(start)}"
            )
        if "from_element" in start:
            source = _checked(check_symbol, "start.from_element", start["from_element"])
            entries = comb3_file.initial_entries(element, from_element=source)
            start_source = {"from_element": source}
        else:
            path = start["ffield"]
            if not isinstance(path, str):
                raise ValueError(f"start.ffield must be a file path, got {path!r}")
            path = base / path
            if not path.is_file():
                raise ValueError(f"start.ffield {str(path)!r}: no such COMB3 file")
            entries = comb3_file.read(path, elements=[element])
            start_source = {"ffield": str(path)}

        partners = data.get("partners", [])
        names = data.get("parameters")
        if names is not None and not isinstance(names, list):
            raise ValueError(f"parameters must be a list of names, got {names!r}")
        parameters = tuple(
            stage_parameters(entries, element, stage, partners=partners, names=names)
        )

        search = _refuse_unknown(
            "search.", data.get("search", {}), [f.name for f in fields(SearchSettings)]
        )
        try:
            settings = SearchSettings(**search)
        except (TypeError, ValueError) as error:
            raise ValueError(f"search.{error}") from None

        table = _refuse_unknown("properties.", data.get("properties", {}), _PROPERTY_KEYS)
        table = dict(table)
        charges = table.pop("charges", "zero")
        if charges not in CHARGE_MODES:
            raise ValueError(f"properties.charges must be one of {CHARGE_MODES}, got {charges!r}")
        calculators = Comb3Calculators(entries, parameters, element, charges=charges)
        cutoff = calculators.cutoff
        default_image = CUTOFF_MARGIN * cutoff if charges == "zero" else QEQ_MIN_IMAGE
        table.setdefault("min_image", round(default_image, 6))
        table.setdefault("surface_layers", list(DEFAULT_SURFACE_LAYERS))
        if not isinstance(table["surface_layers"], list):
            raise ValueError(
                f"properties.surface_layers must be a list of slab thicknesses, got "
                f"{table['surface_layers']!r}"
            )
        try:
            properties = PropertySettings(**table)
            # the checks of evaluate(), before any work
            _check_layers(properties.surface_layers)
            check_positive_int("relaxation_layers", properties.relaxation_layers, minimum=3)
            check_positive_int("vacancy_size", properties.vacancy_size, minimum=2)
        except (TypeError, ValueError) as error:
            raise ValueError(f"properties.{error}") from None
        if charges == "zero" and properties.min_image <= cutoff:
            raise ValueError(
                f"properties.min_image must be > the short-range cutoff R + D = {cutoff:g} Å "
                f"(COMB3 misses bonds between an atom and its own images), got "
                f"{properties.min_image}"
            )
        if charges == "equilibrate" and properties.min_image < QEQ_MIN_IMAGE:
            raise ValueError(
                f"properties.min_image must be >= {QEQ_MIN_IMAGE} Å with charges = "
                f"'equilibrate' (fix qeq/comb is wrong in smaller cells), got "
                f"{properties.min_image}"
            )
        PropertyObjective(calculators, element, targets, properties)  # weighted names computable
        document = {
            "name": name,
            "element": element,
            "stage": stage,
            "parameters": [p.label for p in parameters],
            "targets": targets_source,
            "start": start_source,
            "search": _jsonable(vars(settings)),
            "properties": {"charges": charges, **_jsonable(properties.kwargs())},
        }
        return cls(
            name=name,
            element=element,
            stage=stage,
            targets_source=targets_source,
            targets=targets,
            start_source=start_source,
            entries=calculators.entries,
            parameters=parameters,
            settings=settings,
            charges=charges,
            properties=properties,
            document=document,
        )

    @classmethod
    def read(cls, path: str | os.PathLike) -> FitSpec:
        """Read and check a TOML spec file (paths in it relative to its directory).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "fit.toml"
        >>> _ = path.write_text('element = "Au"\\n[search]\\nsteps = 5\\n')
        >>> FitSpec.read(path).settings.steps
        5
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"spec {path} does not exist")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"spec {path} is not valid TOML: {error}") from None
        return cls.from_dict(data, base=path.parent)

    def space(self) -> SearchSpace:
        """The search space of the fitted parameters."""
        return SearchSpace.from_parameters(self.parameters)

    def objective(self) -> PropertyObjective:
        """Eq 5.14 of the weighted targets as a function of the fitted parameters."""
        calculators = Comb3Calculators(
            self.entries, self.parameters, self.element, charges=self.charges
        )
        return PropertyObjective(calculators, self.element, self.targets, self.properties)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec with the targets and start values (JSON-ready)."""
        return {
            **self.document,
            "target_rows": [
                {
                    "name": t.name,
                    "label": t.label,
                    "unit": t.unit,
                    "value": t.value,
                    "delta": t.delta,
                    "weight": t.weight,
                    "source": t.source,
                    "reference": dict(t.reference),
                }
                for t in self.targets
            ],
            "start_values": {p.label: p.start for p in self.parameters},
            "bounds": {p.label: [p.lower, p.upper] for p in self.parameters},
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of `to_dict`: a run resumes only the same fit."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=list))
