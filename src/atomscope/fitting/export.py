"""Finished fits → one ``ffield.comb3`` file and its card (``atomscope fit export``).

The card (the file's name + ``.md``) records, per element, what the entries were fitted to and
how: the fit's name and spec fingerprint, targets, start, parameters, search settings, the
evaluations and failures, the best error of Eq 5.14, the table of target, fitted and reference
properties (`atomscope.fitting.report`), and the date of the export. atomscope's shipped
``ffield.comb3.AuPt`` (`atomscope.thermal.lammps.SHIPPED_COMB3`) was written by::

    atomscope fit export fits/au_stage1 fits/pt_stage1 \\
        --out src/atomscope/fitting/data/ffield.comb3.AuPt

Each fit contributes its element's own entries only (stage 1 fits X X X), so a file of several
fits parametrises each element alone: the cross entries (X Y Y) of stage 3 are not in it, and
`atomscope.thermal.comb3_calculator` refuses a structure mixing its elements.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from atomscope.fitting import comb3_file
from atomscope.fitting.report import _emt, _markdown, _read_fit, _table_rows
from atomscope.fitting.run import read_result

__all__ = ["card_path", "export_fits"]


def card_path(path: str | os.PathLike) -> Path:
    """The card written beside an exported ``ffield.comb3`` file: its name + ``.md``.

    Examples
    --------
    >>> card_path("data/ffield.comb3.AuPt").name
    'ffield.comb3.AuPt.md'
    """
    path = Path(path)
    return path.with_name(path.name + ".md")


def export_fits(
    directories: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the best entries of finished fits as one ``ffield.comb3`` file, with its card.

    Parameters
    ----------
    directories
        Finished fit directories (`atomscope.fitting.run.run_fit`), one per element.
    out
        The ``ffield.comb3`` file to write; the card goes to `card_path` (``out`` + ``.md``).
    overwrite
        Replace existing files at ``out`` and its card (otherwise refused).

    Returns
    -------
    dict
        ``{"elements": [...], "entries": int, "files": [out, card], "best_errors": {...}}``.

    Raises
    ------
    ValueError
        Before anything is written: no directory, a directory that is not a finished fit, two
        fits of the same element, or an existing ``out`` or card without ``overwrite``.

    Examples
    --------
    >>> export_fits([], "ffield.comb3.none")
    Traceback (most recent call last):
    ...
    ValueError: directories must name at least one finished fit directory
    """
    from atomscope.outputs import atomic_output

    directories = [Path(d) for d in directories]
    if not directories:
        raise ValueError("directories must name at least one finished fit directory")
    out = Path(out)
    card = card_path(out)
    for path in (out, card):
        if path.exists() and not overwrite:
            raise ValueError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    fits = []
    for directory in directories:
        result = read_result(directory)  # refuses an unfinished fit
        spec, logs, _ = _read_fit(directory)
        fits.append((directory, spec, logs, result))
    elements = [spec["element"] for _, spec, _, _ in fits]
    if len(set(elements)) != len(elements):
        raise ValueError(f"directories hold several fits of one element: {elements}")

    entries: dict = {}
    for directory, spec, _, _ in fits:
        entries.update(comb3_file.read(directory / f"ffield.comb3.{spec['element']}"))
    date = datetime.datetime.now(datetime.UTC).date().isoformat()
    names = ", ".join(f"{spec['name']!r}" for _, spec, _, _ in fits)
    header = [
        f"COMB3 {' and '.join(elements)} fitted by atomscope fit ({names}), exported {date}",
        "each element alone: no cross entries between them (card: this file's name + .md)",
    ]
    sections = [_card_section(*fit) for fit in fits]
    text = (
        f"# {out.name}: COMB3 {' and '.join(elements)} fitted by atomscope (seed chapter 5)\n\n"
        f"Exported {date} by `atomscope fit export` from {len(fits)} fit(s). Every element "
        f"is parametrised on its own (the stage-1 entries X X X; the charge terms are those of "
        f"its start): the cross entries of a mixture are not in this file, and a structure "
        f"mixing its elements is refused.\n\n" + "\n".join(sections)
    )
    comb3_file.write(entries, out, header)
    with atomic_output(card) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return {
        "elements": elements,
        "entries": len(entries),
        "files": [str(out), str(card)],
        "best_errors": {spec["element"]: result["best_error"] for _, spec, _, result in fits},
    }


def _card_section(directory: Path, spec: dict, logs: list[list[dict]], result: dict) -> str:
    emt = _emt(spec["element"], spec["properties"], directory / "report" / "emt.json")
    header, rows = _table_rows(spec, result["properties"], emt)
    table = _markdown(spec, result, header, rows, finished=True).replace("\n# ", "\n## ", 1)
    table = "#" + table  # the fit's title one level down
    evaluations = sum(s["evaluations"] for s in result["searches"])
    failures = sum(s["failures"] for s in result["searches"])
    seconds = sum(
        r.get("seconds", 0.0) for log in logs for r in log if r.get("kind") == "evaluation"
    )
    settings = json.dumps(spec["search"], sort_keys=True)
    return (
        f"{table}\n"
        f"- fit directory `{directory.name}`, spec fingerprint `{spec['fingerprint'][:12]}`\n"
        f"- targets `{spec['targets']}`, start {json.dumps(spec['start'])}, stage "
        f"{spec['stage']}, {len(spec['start_values'])} parameters\n"
        f"- search settings `{settings}`\n"
        f"- property settings `{json.dumps(spec['properties'], sort_keys=True)}`\n"
        f"- {evaluations} evaluations ({failures} failed), {seconds / 3600:.2f} core-hours of "
        f"objective\n"
    )
