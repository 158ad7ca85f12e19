"""summary.json, the same contract for every job.

Every job writes, besides its results, the core keys ``command``, ``version``, ``arguments``
(the job's own parameters), ``outputs`` (the names it wrote), ``seconds`` (wall time of the job)
and ``peak_rss_mib`` (the process's peak resident memory). A job started from the command line
also records ``invocation``: the argument list and working directory that `atomscope rerun`
repeats.
"""

from __future__ import annotations

import contextvars
import os
import resource
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

CORE_KEYS = ("command", "version", "arguments", "outputs", "seconds", "peak_rss_mib")

#: Set by the command line for the job it runs: {"argv": [...], "cwd": "..."}.
invocation: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "atomscope_invocation", default=None
)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far [MiB] (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_summary(
    path: str | os.PathLike,
    command: str,
    arguments: Mapping[str, object],
    outputs: Sequence[str],
    started: float,
    results: Mapping[str, object],
) -> dict:
    """Write ``summary.json`` (atomically) with the core keys first, then ``results``.

    ``started`` is the job's `time.perf_counter` at its start. Returns the summary written.

    Examples
    --------
    >>> import tempfile, time, json, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "summary.json"
    >>> summary = write_summary(path, "demo", {"dose": 1e4}, ["image.tif"], time.perf_counter(),
    ...                         {"mean": 1.0})
    >>> list(json.loads(path.read_text()))[:6] == list(CORE_KEYS)
    True
    """
    from atomscope import __version__
    from atomscope.io import write_json

    summary = {
        "command": command,
        "version": __version__,
        "arguments": dict(arguments),
        "outputs": list(outputs),
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(),
    }
    if invocation.get() is not None:
        summary["invocation"] = invocation.get()
    clashes = set(summary) & set(results)
    if clashes:
        raise ValueError(f"results may not redefine the core keys {sorted(clashes)}")
    summary.update(results)
    write_json(Path(path), summary)
    return summary
