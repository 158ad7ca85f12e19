"""Running a fit: a `FitSpec` → searches (local or Dask) → the best parameters and their properties.

The fit directory holds

- ``spec.json`` — the resolved spec and its fingerprint (a directory resumes only the same fit);
- ``start.comb3`` — the start entries of the element;
- ``searches/search_KKK.jsonl`` — the log of every evaluation of every search
  (`atomscope.fitting.search`);
- ``result.json`` — per search its best and last accepted error, the best parameters of all
  searches and, for them, every computable property of the targets table (weighted or not) and
  the (111) and (100) surface relaxations (`report_names`), with the wall time of each;
- ``ffield.comb3.<element>`` — the best entries, for ``thermal.comb3_calculator(..., ffield=)``.

Every file but the logs is written atomically; an interrupted fit is resumed by running it again
with the same directory (the logs are replayed, nothing is computed twice).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from atomscope.fitting import comb3_file
from atomscope.fitting.properties import PROPERTY_NAMES
from atomscope.fitting.search import run_searches, summarize
from atomscope.fitting.spec import FitSpec

__all__ = ["check_fit_directory", "read_result", "report_names", "run_fit"]

SEARCHES = "searches"
SPEC = "spec.json"
RESULT = "result.json"


def report_names(spec: FitSpec) -> list[str]:
    """The properties computed for the best parameters: every computable row of the targets
    table (weighted or not) and the surface relaxations d12 of (111) and (100)."""
    names = [t.name for t in spec.targets if t.name in PROPERTY_NAMES]
    extra = ["surface_relaxation_111", "surface_relaxation_100"]
    return names + [name for name in extra if name not in names]


def check_fit_directory(spec: FitSpec, out: str | os.PathLike) -> Path:
    """``out`` as a Path if it is new, empty or a directory of the same fit; else ``ValueError``.

    Nothing is written.

    Parameters
    ----------
    spec
        The fit.
    out
        The fit directory ``--out``.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        If ``out`` is a file, holds another fit (another spec fingerprint) or is a non-empty
        directory without ``spec.json``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a directory")
    stored = out / SPEC
    if stored.exists():
        try:
            fingerprint = json.loads(stored.read_text())["fingerprint"]
        except (ValueError, KeyError):
            raise ValueError(f"{stored} is not the spec.json of a fit") from None
        if fingerprint != spec.fingerprint:
            raise ValueError(
                f"--out {str(out)!r} holds another fit (spec fingerprint {fingerprint[:12]}, "
                f"this spec {spec.fingerprint[:12]}); choose a new directory"
            )
    elif out.is_dir() and any(out.iterdir()):
        raise ValueError(f"--out {str(out)!r} is not empty and holds no fit (no {SPEC})")
    return out


def run_fit(
    spec: FitSpec,
    out: str | os.PathLike,
    client: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the searches of ``spec`` in ``out``, then evaluate the best parameters.

    Parameters
    ----------
    spec
        The fit (`FitSpec.read`).
    out
        The fit directory (module docstring); new, empty, or holding this spec.
    client
        A Dask client (`atomscope.parallel.client`): each search is one task.
    progress
        Show a progress bar over the searches.

    Returns
    -------
    dict
        The content of ``result.json``.
    """
    from atomscope.io import write_json

    out = check_fit_directory(spec, out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / SPEC, {"fingerprint": spec.fingerprint, **spec.to_dict()})
    own = {k: v for k, v in spec.entries.items() if set(k) == {spec.element}}
    comb3_file.write(own, out / "start.comb3", [f"start of the {spec.element} fit {spec.name!r}"])
    objective = spec.objective()
    results = run_searches(
        objective, spec.space(), spec.settings, out / SEARCHES, client=client, progress=progress
    )
    best = summarize(results)
    values = np.array([best["best_parameters"][p.label] for p in spec.parameters])
    timings: dict[str, float] = {}
    started = time.perf_counter()
    properties = objective.properties(values, report_names(spec), timings=timings)
    seconds = time.perf_counter() - started
    entries = objective.calculator.with_values(values)
    best_entries = {k: v for k, v in entries.items() if set(k) == {spec.element}}
    comb3_file.write(
        best_entries,
        out / f"ffield.comb3.{spec.element}",
        [f"{spec.element} fitted by atomscope fit {spec.name!r}: error {best['best_error']:.6g}"],
    )
    result = {
        **best,
        "searches": [
            {
                "search": r.search,
                "best_error": r.best_error,
                "current_error": r.current_error,
                "accepted": r.accepted,
                "steps": r.steps,
                "evaluations": r.evaluations,
                "failures": r.failures,
            }
            for r in results
        ],
        "properties": {
            name: value if isinstance(value, float) else f"{type(value).__name__}: {value}"
            for name, value in properties.items()
        },
        "property_seconds": timings,
        "evaluation_seconds": seconds,
    }
    write_json(out / RESULT, result)
    return result


def read_result(directory: str | os.PathLike) -> dict[str, Any]:
    """``result.json`` of a finished fit directory (`run_fit`'s return value).

    Raises
    ------
    ValueError
        If the fit has not finished (no ``result.json``).
    """
    path = Path(directory) / RESULT
    if not path.is_file():
        raise ValueError(f"{directory}: no {RESULT} (run `atomscope fit run` to the end first)")
    return json.loads(path.read_text())
