"""What ``atomscope mtf`` runs: flat fields (and a knife edge) in, the camera's MTF, noise power
spectrum and DQE out."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

MTF_OUTPUTS = ("mtf.csv", "mtf.png", "summary.json")
EDGE_OUTPUTS = ("edge.csv",)


def _write_table(path: Path, estimate, columns: tuple[str, ...]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["q", *(["k_per_A"] if estimate.k is not None else []), *columns, "model"]
        writer.writerow(header)
        model = estimate.mtf.evaluate(estimate.q)
        for i, q in enumerate(estimate.q):
            row = [f"{q:.6g}"]
            if estimate.k is not None:
                row.append(f"{estimate.k[i]:.6g}")
            row += [f"{getattr(estimate, name)[i]:.6g}" for name in columns]
            writer.writerow([*row, f"{model[i]:.6g}"])


def run_mtf(
    flat_fields: np.ndarray,
    out: str | Path,
    model: str = "rational",
    edge: np.ndarray | None = None,
    edge_model: str = "table",
    sampling: float | None = None,
    gain: float = 1.0,
    name: str = "flat fields",
) -> dict:
    """The camera MTF from flat fields (`estimate_mtf`), and from a knife edge
    (`mtf_from_edge`) when given, written into ``out``: mtf.csv (q [fraction of Nyquist], k
    [1/Å] with a pixel size, measured MTF, normalised NPS, DQE, model), edge.csv, mtf.png and
    summary.json (fitted parameters with standard errors, DQE(0)).

    Parameters
    ----------
    flat_fields
        Uniformly illuminated frames [n, x, y] or [x, y] [counts].
    out
        Output directory; only files an earlier ``mtf`` run wrote are replaced.
    model
        ``"rational"``, ``"exp_gauss"`` or ``"table"`` for the flat-field estimate.
    edge
        A knife-edge image [x, y] [counts]: its MTF is reported beside, and is the signal MTF
        of the DQE.
    edge_model
        Model of the edge estimate.
    sampling
        Camera pixel size [Å] (for k in 1/Å); the MTF itself is in fractions of Nyquist.
    gain
        Counts per detected electron (for DQE).
    name
        What the flat fields are, for the summary.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    started = time.perf_counter()
    arguments = {
        key: value
        for key, value in locals().items()
        if key not in ("flat_fields", "edge", "started")
    }
    arguments["edge"] = None if edge is None else "given"
    from atomscope import plot
    from atomscope.detection.mtf_estimate import estimate_mtf, mtf_from_edge
    from atomscope.outputs import check_output_directory, claim_outputs, staged_outputs
    from atomscope.summary import write_summary

    outputs = MTF_OUTPUTS + (EDGE_OUTPUTS if edge is not None else ())
    out = check_output_directory(out)
    claim_outputs(out, "mtf", outputs)
    edge_estimate = (
        None if edge is None else mtf_from_edge(edge, model=edge_model, sampling=sampling)
    )
    estimate = estimate_mtf(
        flat_fields, model=model, sampling=sampling, gain=gain, signal_mtf=edge_estimate
    )
    with staged_outputs(out, "mtf") as stage:
        _write_table(stage / "mtf.csv", estimate, ("measured", "nps", "dqe"))
        if edge_estimate is not None:
            _write_table(stage / "edge.csv", edge_estimate, ("measured",))
        plot.save_figure(plot.mtf_figure(estimate, edge_estimate), stage / "mtf.png")
        results = {
            "flat_fields": name,
            "mtf": estimate.mtf.parameters(),
            "fit": estimate.parameters()["fit"],
            "dqe0": estimate.dqe0,
            "flat_field_info": estimate.parameters()["info"],
            "edge": None if edge_estimate is None else edge_estimate.parameters()["mtf"],
            "edge_info": None if edge_estimate is None else edge_estimate.parameters()["info"],
        }
        summary = write_summary(stage / "summary.json", "mtf", arguments, outputs, started, results)
    return summary
