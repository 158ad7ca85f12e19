"""Where an experiment's results live: one zarr table, written point by point, resumable.

``DIR/spec.json`` holds the spec and its fingerprint; ``DIR/results.zarr`` holds one group per
finished point (`Point.key`) with one array per column of `COLUMNS`. A group counts only once
its ``complete`` attribute is set, which happens after every array is written, so a run
interrupted mid-point recomputes that point and nothing else. A directory holding another spec
is refused: two specs never mix. Nothing the user put in ``DIR`` is replaced: the store claims
its names (`EXPERIMENT_OUTPUTS`) before writing anything, and resumes only in a directory whose
``spec.json`` it wrote itself (`atomscope.outputs` manifests).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from atomscope.experiments.spec import TILT_AXES, ExperimentSpec
from atomscope.outputs import atomic_output, claim_outputs, owned_outputs, record_outputs

#: Columns of the results table, in CSV order: (name, NumPy dtype).
COLUMNS = (
    ("size_nm", "f8"),
    ("defocus_A", "f8"),
    ("tilt_axis", "U6"),
    ("tilt_mrad", "f8"),
    ("sampling_A", "f8"),
    ("dose", "f8"),
    ("k", "i8"),
    ("point", "i8"),
    ("x_A", "f8"),
    ("y_A", "f8"),
    ("facet", "U6"),
    ("true_planar", "f8"),
    ("true_surface", "f8"),
    ("error_planar", "f8"),
    ("error_surface", "f8"),
)
#: Everything an experiment writes in its directory (``figures`` holds `write_figures`' PNGs).
EXPERIMENT_OUTPUTS = ("spec.json", "results.zarr", "results.csv", "models", "summary.json")
#: The name under which the store records its files (`atomscope.outputs` manifests).
COMMAND = "experiment"
#: Facet labels of the columns (`column_facets`; "" = bulk); stored as their index.
FACETS = ("", "{100}", "{111}", "{110}", "corner", "other")
_CODES = {"tilt_axis": TILT_AXES, "facet": FACETS}


def _zarr():
    try:
        import zarr
    except ImportError as error:
        raise ValueError("experiments need zarr: pip install 'atomscope[io]'") from error
    return zarr


class ResultStore:
    """The results of one experiment in ``directory``.

    Parameters
    ----------
    directory
        The experiment's output directory; created if missing.
    spec
        The experiment. If ``directory`` already holds a spec with another fingerprint, a
        ``ValueError`` names both and nothing is written. ``None`` opens an existing store
        with the spec it holds (for ``status`` and ``figures``).

    Examples
    --------
    >>> import tempfile
    >>> store = ResultStore(tempfile.mkdtemp(), ExperimentSpec())
    >>> store.finished()
    set()
    """

    def __init__(self, directory: str | Path, spec: ExperimentSpec | None = None):
        self.directory = Path(directory)
        spec_path = self.directory / "spec.json"
        if spec is None:
            if not spec_path.is_file():
                raise ValueError(f"{self.directory} holds no experiment (no spec.json)")
            spec = ExperimentSpec.from_dict(json.loads(spec_path.read_text())["spec"])
        elif spec_path.is_file():
            if "spec.json" not in owned_outputs(self.directory, COMMAND):
                raise ValueError(
                    f"out {self.directory}: 'spec.json' exists and was not written by `atomscope "
                    "experiment`; move it away or choose another --out"
                )
            held = json.loads(spec_path.read_text())
            if held.get("fingerprint") != spec.fingerprint:
                raise ValueError(
                    f"out directory {self.directory} holds a different spec "
                    f"({held.get('spec', {}).get('name')!r}, fingerprint "
                    f"{str(held.get('fingerprint'))[:12]}) than {spec.name!r} "
                    f"({spec.fingerprint[:12]}); choose another --out"
                )
        else:
            if self.directory.exists() and not self.directory.is_dir():
                raise ValueError(f"out {self.directory} exists and is not a directory")
            self.directory.mkdir(parents=True, exist_ok=True)
            claim_outputs(self.directory, COMMAND, EXPERIMENT_OUTPUTS)
            with atomic_output(spec_path) as tmp:
                tmp.write_text(
                    json.dumps({"fingerprint": spec.fingerprint, "spec": spec.to_dict()}, indent=1)
                )
            record_outputs(self.directory, COMMAND, ["spec.json"])
        self.spec = spec
        self.path = self.directory / "results.zarr"

    def _group(self, mode: str):
        return _zarr().open_group(str(self.path), mode=mode)

    def finished(self) -> set[str]:
        """Keys of the points whose results are completely written."""
        if not self.path.exists():
            return set()
        points = self._group("r")
        return {key for key, group in points.groups() if group.attrs.get("complete")}

    def write(self, key: str, table: dict[str, np.ndarray]) -> None:
        """Store the rows of one point; the point counts as finished only after the last array."""
        missing = [name for name, _ in COLUMNS if name not in table]
        if missing:
            raise ValueError(f"table lacks columns {missing}")
        group = self._group("a").require_group(key)
        group.attrs["complete"] = False
        for name, dtype in COLUMNS:
            values = np.asarray(table[name])
            if name in _CODES:
                values = np.array([_CODES[name].index(v) for v in values], dtype="i1")
            else:
                values = values.astype(dtype)
            group.create_array(name, data=values, overwrite=True)
        group.attrs["complete"] = True

    def read(self, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """All finished rows as columns (in the spec's point order), or only those of ``keys``."""
        done = self.finished()
        order = [p.key for p in self.spec.points() if p.key in done]
        if keys is not None:
            wanted = set(keys)
            order = [key for key in order if key in wanted]
        return self._columns(order)

    def _columns(self, order: list[str]) -> dict[str, np.ndarray]:
        # the rows of the finished points ``order``, in that order
        parts = {name: [] for name, _ in COLUMNS}
        if order:
            root = self._group("r")
            for key in order:
                for name, _ in COLUMNS:
                    values = root[key][name][:]
                    if name in _CODES:
                        values = np.asarray(_CODES[name])[values]
                    parts[name].append(values)
        return {
            name: np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype)
            for name, dtype in COLUMNS
        }

    def write_csv(self, path: str | Path | None = None) -> Path:
        """Every finished row as CSV (default ``DIR/results.csv``); NaN where undefined."""
        if path is None:
            path = self.directory / "results.csv"
            claim_outputs(self.directory, COMMAND, ["results.csv"])
        path = Path(path)
        done = self.finished()
        with atomic_output(path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([name for name, _ in COLUMNS])
            # point by point: the whole table of a large experiment does not fit in memory
            for point in self.spec.points():
                if point.key not in done:
                    continue
                table = self._columns([point.key])
                columns = [table[name] for name, _ in COLUMNS]
                for row in zip(*columns, strict=True):
                    writer.writerow([_cell(value) for value in row])
        if path.parent == self.directory:
            record_outputs(self.directory, COMMAND, [path.name])
        return path


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    return str(value)
