"""The report of a fit directory (`atomscope.fitting.run`): a table like seed Tables 5.1/5.2 and
figures of the searches.

`write_report` writes into ``DIR/report/``:

- ``table.md`` and ``table.csv`` — per property of the targets table (and the surface
  relaxations d12): the target and its δp, the fitted potential's value, (fitted − target)/δp,
  ASE's EMT for the element (computed once with the fit's property settings, cached in
  ``emt.json``; EMT covers Al, Cu, Ag, Au, Ni, Pd, Pt) and the reference columns of the table
  (the seed's EAM, ReaxFF and COMB3);
- ``error_vs_step.png`` — per search, the error of each step's local minimum (accepted ●,
  rejected ×) and of the current accepted set (line) against the random-walk step;
- ``accepted_minima.png`` — every accepted minimum in parameter space: each parameter divided by
  its start value, coloured by the error.

A fit that has not finished (no ``result.json``) is reported from its logs: the fitted column
then holds the weighted properties of the best evaluation so far.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from atomscope.fitting.properties import PROPERTY_NAMES
from atomscope.fitting.search import log_path, read_log

__all__ = ["EMT_ELEMENTS", "accepted_minima_figure", "error_vs_step_figure", "write_report"]

#: Elements ASE's EMT has parameters for.
EMT_ELEMENTS = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt")
_EXTRA_ROWS = (
    ("surface_relaxation_111", "d12 (111)", "1"),
    ("surface_relaxation_100", "d12 (100)", "1"),
)


def _logs(directory: Path, searches: int) -> list[list[dict]]:
    return [read_log(log_path(directory / "searches", k)) for k in range(searches)]


def _best_from_logs(logs: list[list[dict]]) -> dict[str, Any] | None:
    evaluations = [r for log in logs for r in log if r.get("kind") == "evaluation"]
    if not evaluations:
        return None
    best = min(evaluations, key=lambda r: r["error"])
    return {
        "best_error": best["error"],
        "best_parameters": best["parameters"],
        "properties": best["properties"],
    }


def _emt(element: str, settings: dict[str, Any], cache: Path) -> dict[str, float] | None:
    if element not in EMT_ELEMENTS:
        return None
    if cache.is_file():
        return json.loads(cache.read_text())
    from ase.calculators.emt import EMT

    from atomscope.fitting.properties import evaluate
    from atomscope.io import write_json

    keys = ("min_image", "surface_layers", "relaxation_layers", "fmax", "vacancy_size")
    kwargs = {key: settings[key] for key in keys if key in settings}
    kwargs["min_image"] = max(kwargs.get("min_image", 6.0), 6.0)
    values = evaluate(EMT(), element, PROPERTY_NAMES, **kwargs)
    emt = {k: v for k, v in values.items() if isinstance(v, float)}
    write_json(cache, emt)
    return emt


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _table_rows(spec: dict, fitted: dict, emt: dict | None) -> tuple[list[str], list[list[Any]]]:
    columns = sorted({key for row in spec["target_rows"] for key in row["reference"]})
    header = ["property", "unit", "target", "δp", "weight", "fitted", "(fitted−target)/δp"]
    header += (["EMT"] if emt is not None else []) + [f"{c} (table)" for c in columns]
    rows = []
    seen = set()
    for row in spec["target_rows"]:
        seen.add(row["name"])
        value = _number(fitted.get(row["name"]))
        deviation = None if value is None else (value - row["value"]) / row["delta"]
        line = [row["label"] or row["name"], row["unit"], row["value"], row["delta"],
                row["weight"], value if value is not None else fitted.get(row["name"], "—"),
                deviation]  # fmt: skip
        if emt is not None:
            line.append(emt.get(row["name"]))
        line += [row["reference"].get(column) for column in columns]
        rows.append(line)
    for name, label, unit in _EXTRA_ROWS:
        if name in seen or name not in fitted:
            continue
        line = [label, unit, None, None, 0.0, _number(fitted[name]), None]
        if emt is not None:
            line.append(emt.get(name))
        line += [None] * len(columns)
        rows.append(line)
    return header, rows


def _format(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _read_fit(directory: Path) -> tuple[dict, list[list[dict]], dict]:
    """The spec, the search logs and the result (or the best evaluation so far) of a fit."""
    spec_path = directory / "spec.json"
    if not spec_path.is_file():
        raise ValueError(f"{directory} is not a fit directory (no spec.json)")
    spec = json.loads(spec_path.read_text())
    logs = _logs(directory, spec["search"]["searches"])
    result_path = directory / "result.json"
    result = json.loads(result_path.read_text()) if result_path.is_file() else _best_from_logs(logs)
    if result is None:
        raise ValueError(f"{directory}: no evaluation logged yet; nothing to report")
    return spec, logs, result


def _markdown(spec: dict, result: dict, header: list[str], rows: list[list], finished: bool) -> str:
    lines = [
        f"# {spec['name']}: {spec['element']} stage {spec['stage']}"
        + ("" if finished else " (unfinished: best evaluation so far)"),
        "",
        f"Best error (Eq 5.14): {result['best_error']:.6g}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(_format(v) for v in row) + " |" for row in rows]
    lines += ["", "Fitted parameters (start → best):", ""]
    for name, value in result["best_parameters"].items():
        lines.append(f"- {name}: {spec['start_values'][name]:.6g} → {value:.6g}")
    return "\n".join(lines) + "\n"


def error_vs_step_figure(logs: list[list[dict]]) -> Figure:
    """Error of each step's local minimum (● accepted, × rejected) and of the current accepted
    set (line) vs the random-walk step, one colour per search.

    Parameters
    ----------
    logs
        Per search, the records of its log (`atomscope.fitting.search.read_log`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for number, log in enumerate(logs):
        steps = [r for r in log if r.get("kind") == "step"]
        if not steps:
            continue
        colour = f"C{number % 10}"
        step = np.array([r["step"] for r in steps])
        error = np.array([r["error"] for r in steps])
        accepted = np.array([r["accepted"] for r in steps])
        current = []
        for record in steps:
            if record["accepted"]:
                current.append(record["error"])
            else:
                current.append(current[-1] if current else record["error"])
        ax.plot(step, current, "-", color=colour, label=f"search {number}")
        ax.plot(step[accepted], error[accepted], "o", color=colour, ms=4)
        ax.plot(step[~accepted], error[~accepted], "x", color=colour, ms=4)
    ax.set_yscale("log")
    ax.set_xlabel("random-walk step")
    ax.set_ylabel("error E (Eq 5.14)")
    ax.set_title("local minima: ● accepted, × rejected (Eq 5.15); line: current set")
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accepted_minima_figure(logs: list[list[dict]], names: list[str], start: dict) -> Figure:
    """Every accepted minimum: each parameter divided by its start value, coloured by log10 of
    its error (Eq 5.14).

    Parameters
    ----------
    logs
        Per search, the records of its log (`atomscope.fitting.search.read_log`).
    names
        The parameter names, in the order drawn.
    start
        ``{name: start value}``; a start of 0 is drawn unscaled.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(max(6.0, 0.6 * len(names) + 2), 4))
    ax = fig.subplots()
    records = [r for log in logs for r in log if r.get("kind") == "step" and r["accepted"]]
    if records:
        errors = np.log10(np.maximum([r["error"] for r in records], 1e-12))
        order = np.argsort(-errors)  # best drawn last, on top
        for index in order:
            record = records[index]
            ratio = [
                record["parameters"][n] / start[n] if start[n] else record["parameters"][n]
                for n in names
            ]
            ax.plot(range(len(names)), ratio, "-", lw=0.6, alpha=0.5, color="0.6")
        x = np.tile(np.arange(len(names)), len(records))
        y = [
            r["parameters"][n] / start[n] if start[n] else r["parameters"][n]
            for r in records
            for n in names
        ]
        colours = np.repeat(errors, len(names))
        points = ax.scatter(x, y, c=colours, s=14, cmap="viridis_r", zorder=3)
        fig.colorbar(points, ax=ax, label="log10 error")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.split(":")[-1] for n in names], rotation=45, ha="right")
    ax.set_ylabel("value / start value")
    ax.set_title(f"accepted minima ({len(records)})")
    fig.tight_layout()
    return fig


def write_report(directory: str | os.PathLike) -> dict[str, Any]:
    """Write the table and figures of a fit directory into ``DIR/report/``.

    Parameters
    ----------
    directory
        A fit directory (`atomscope.fitting.run.run_fit`), finished or not.

    Returns
    -------
    dict
        ``{"table": markdown text, "files": [names written], "finished": bool,
        "best_error": float}``.

    Raises
    ------
    ValueError
        If ``directory`` is not a fit directory or no evaluation has been logged yet.
    """
    from atomscope.outputs import atomic_output
    from atomscope.plot import save_figure

    directory = Path(directory)
    spec, logs, result = _read_fit(directory)
    finished = (directory / "result.json").is_file()
    out = directory / "report"
    out.mkdir(exist_ok=True)
    emt = _emt(spec["element"], spec["properties"], out / "emt.json")
    header, rows = _table_rows(spec, result["properties"], emt)
    text = _markdown(spec, result, header, rows, finished)
    with atomic_output(out / "table.md") as tmp:
        tmp.write_text(text, encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    with atomic_output(out / "table.csv") as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    save_figure(error_vs_step_figure(logs), out / "error_vs_step.png")
    names = list(spec["start_values"])
    save_figure(
        accepted_minima_figure(logs, names, spec["start_values"]), out / "accepted_minima.png"
    )
    files = ["table.md", "table.csv", "error_vs_step.png", "accepted_minima.png"]
    if emt is not None:
        files.append("emt.json")
    return {"table": text, "files": files, "finished": finished, "best_error": result["best_error"]}
