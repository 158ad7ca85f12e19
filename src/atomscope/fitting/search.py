"""The seed's optimiser: a random walk of Nelder–Mead minimisations with Metropolis acceptance.

Seed §5.2.1: at step n, every parameter of the current set Θₙ is perturbed by a Gaussian jump;
the perturbed set is adjusted by a local Nelder–Mead minimisation (the error function has no
derivative) to Θ'ₙ₊₁, which is accepted with the probability of Eq 5.15,

    P(Θ'ₙ₊₁ | Θₙ) = min{1, exp(−(E(Θ'ₙ₊₁) − E(Θₙ)) / (E(Θₙ) T))},

T a fictitious temperature (the seed: 5 % jumps, T = 0.014). Several searches run in parallel:
search 0 starts from the initial parameters, the others from Gaussian perturbations of them.
Step 0 of every search is the minimisation of its start (always accepted); steps 1…``steps``
are jumps.

Details fixed here (the seed leaves them open):

- a jump adds ``jump`` × s × N(0, 1) to each parameter, s its scale: |start|, or the width of
  its bounds for a start of 0 (so "5 %" is 5 % of the start value); jumps and Nelder–Mead
  points are clipped to the bounds (scipy's bounded Nelder–Mead);
- Nelder–Mead works on the parameters divided by their scales, with scipy's default initial
  simplex (5 % of each coordinate) and at most ``nelder_mead_iterations`` iterations;
- ``local="least-squares"`` replaces Nelder–Mead by scipy's bounded trust-region least squares
  (``least_squares(method="trf")``, forward-difference Jacobian with relative step
  ``difference_step`` in the scaled parameters) on the objective's residuals: Eq 5.14 is the sum
  of squares rₙ² with rₙ = √wₙ (pₙ − p̃ₙ)/δpₙ, so each local minimisation uses the property
  deviations themselves rather than their sum. It is not the seed's method; on the Au stage-1 fit
  it reaches in ~100 evaluations the error Nelder–Mead's random walk had after ~2000. At most
  ``least_squares_evaluations`` objective calls per local minimisation (Jacobian columns
  included);
- randomness: search k draws from ``numpy.random.default_rng([seed, k])``, its jumps first and
  then the uniform number of the Metropolis test, in the same order whatever is accepted — so a
  search depends only on (seed, k) and the objective, not on where it runs.

Every call of the objective is logged, one JSON line per record appended to
``search_KKK.jsonl`` by one ``write`` (a crash leaves at most a partial last line, dropped on
reading): a ``"search"`` header (names, start, bounds, settings), ``"evaluation"`` records
(search, step, index, parameters, properties, error, failure, seconds and, for
least squares, the residuals), a ``"step"`` record
per local minimum (its evaluation index, error, the error it was compared with, the Eq 5.15
probability and whether it was ``accepted``) and an ``"end"`` record. A search resumes by
replaying its log: the algorithm runs again from the start, each evaluation already logged
returns its logged result (after checking the parameters agree bit for bit) and the first one
missing is computed — nothing is computed twice.

A failed evaluation (an exception from the objective, a non-finite error) is logged with its
parameters and the exception and scores `atomscope.fitting.targets.FAILURE_SCORE`; it never
stops the search.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from atomscope.core.validate import (
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from atomscope.fitting.targets import FAILURE_SCORE

__all__ = [
    "DEFAULT_TEMPERATURE",
    "LOCAL_METHODS",
    "Evaluation",
    "SearchResult",
    "SearchSettings",
    "SearchSpace",
    "acceptance_probability",
    "log_path",
    "read_log",
    "run_search",
    "run_searches",
    "summarize",
]

#: The seed's fictitious temperature T of Eq 5.15 (§5.3).
DEFAULT_TEMPERATURE = 0.014
LOG_VERSION = 1
#: The local minimisers of a random-walk step: the seed's, and least squares on the residuals.
LOCAL_METHODS = ("nelder-mead", "least-squares")


class Evaluation(NamedTuple):
    """What an objective returns for one parameter set.

    Attributes
    ----------
    error
        E >= 0 (Eq 5.14), dimensionless.
    properties
        ``{name: value}``; a failed property as the text ``"Type: message"``.
    failure
        Why the whole evaluation failed, or ``None``.
    residuals
        rₙ with Σ rₙ² = ``error`` (dimensionless); needed by ``local="least-squares"``, empty
        otherwise.
    """

    error: float
    properties: Mapping[str, float | str] = {}
    failure: str | None = None
    residuals: tuple[float, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    """The parameters a search varies: names, start values and bounds (same units).

    Attributes
    ----------
    names
        Distinct parameter names (the keys of the logged ``parameters``).
    start
        Start values [each parameter's unit], inside the bounds.
    lower, upper
        Finite bounds, lower < upper [same units].

    Examples
    --------
    >>> space = SearchSpace(("epsilon", "sigma"), (0.4, 2.6), (0.1, 2.0), (1.0, 3.0))
    >>> space.scale.tolist()
    [0.4, 2.6]
    """

    names: tuple[str, ...]
    start: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self):
        names = tuple(str(name) for name in self.names)
        object.__setattr__(self, "names", names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"names must be distinct and at least one, got {names}")
        for key in ("start", "lower", "upper"):
            values = tuple(float(v) for v in np.asarray(getattr(self, key), float).ravel())
            if len(values) != len(names):
                raise ValueError(f"{key} must hold {len(names)} numbers, got {len(values)}")
            object.__setattr__(self, key, values)
        for name, start, low, high in zip(names, self.start, self.lower, self.upper, strict=True):
            if not all(math.isfinite(v) for v in (start, low, high)) or not low < high:
                raise ValueError(
                    f"bounds of {name} must be finite with lower < upper, got [{low}, {high}]"
                )
            if not low <= start <= high:
                raise ValueError(
                    f"start value of {name} = {start:g} is outside its bounds [{low:g}, {high:g}]"
                )

    @classmethod
    def from_parameters(cls, parameters: Sequence[Any]) -> SearchSpace:
        """From `atomscope.fitting.parameters.Parameter` objects (their labels name them)."""
        return cls(
            tuple(p.label for p in parameters),
            tuple(p.start for p in parameters),
            tuple(p.lower for p in parameters),
            tuple(p.upper for p in parameters),
        )

    @property
    def scale(self) -> np.ndarray:
        """Each parameter's scale: |start|, or the width of its bounds for a start of 0."""
        start = np.abs(np.array(self.start))
        width = np.array(self.upper) - np.array(self.lower)
        return np.where(start > 0, start, width)


@dataclass(frozen=True)
class SearchSettings:
    """How the searches run (seed §5.2.1, §5.3).

    Attributes
    ----------
    searches
        Number of searches (0 starts from the initial parameters, the others perturbed).
    steps
        Random-walk steps per search after the minimisation of its start (the seed: 400 in
        total for each metal).
    jump
        Relative size of the Gaussian jumps, > 0 (the seed: 0.05).
    temperature
        T of Eq 5.15, > 0 (the seed: 0.014).
    nelder_mead_iterations
        Largest number of Nelder–Mead iterations per local minimisation.
    local
        The local minimiser, one of `LOCAL_METHODS`: ``"nelder-mead"`` (the seed's) or
        ``"least-squares"`` (the objective must return `Evaluation.residuals`).
    least_squares_evaluations
        Largest number of objective calls per least-squares minimisation.
    difference_step
        Relative forward-difference step of the least-squares Jacobian, in the scaled
        parameters (> 0; larger than the noise of the properties' relaxations).
    start_spread
        Relative size of the Gaussian perturbation of the starts of searches 1, 2, …; default
        ``jump``.
    seed
        Seed of every random draw (with the search number).
    """

    searches: int = 4
    steps: int = 10
    jump: float = 0.05
    temperature: float = DEFAULT_TEMPERATURE
    nelder_mead_iterations: int = 40
    start_spread: float | None = None
    seed: int = 0
    local: str = "nelder-mead"
    least_squares_evaluations: int = 150
    difference_step: float = 1e-3

    def __post_init__(self):
        check_positive_int("searches", self.searches)
        check_positive_int("steps", self.steps, minimum=0)
        check_positive("jump", self.jump)
        check_positive("temperature", self.temperature)
        check_positive_int("nelder_mead_iterations", self.nelder_mead_iterations)
        if self.start_spread is not None:
            check_nonnegative("start_spread", self.start_spread)
        check_positive_int("seed", self.seed, minimum=0)
        check_choice("local", self.local, LOCAL_METHODS)
        check_positive_int("least_squares_evaluations", self.least_squares_evaluations, minimum=2)
        check_positive("difference_step", self.difference_step)

    @property
    def spread(self) -> float:
        """The relative perturbation of the starts of searches 1, 2, …"""
        return self.jump if self.start_spread is None else float(self.start_spread)


@dataclass(frozen=True)
class SearchResult:
    """The outcome of one search.

    Attributes
    ----------
    search
        Its number.
    best_error, best_parameters
        The lowest error of all its local minima and their parameters ``{name: value}``.
    current_error, current_parameters
        The last accepted minimum.
    steps
        Local minimisations done (1 + random-walk steps).
    accepted
        How many of the random-walk steps were accepted.
    evaluations
        Objective evaluations in its log; ``computed`` of them in this run (the rest replayed).
    failures
        Evaluations that failed.
    """

    search: int
    best_error: float
    best_parameters: dict[str, float]
    current_error: float
    current_parameters: dict[str, float]
    steps: int
    accepted: int
    evaluations: int
    computed: int
    failures: int


def acceptance_probability(new: float, current: float, temperature: float) -> float:
    """Eq 5.15: min{1, exp(−(E_new − E_current)/(E_current T))}.

    A lower (or equal) error is always accepted; with E_current = 0 a higher one never is.

    Parameters
    ----------
    new
        E(Θ'ₙ₊₁), the error of the new local minimum, >= 0 (dimensionless, Eq 5.14).
    current
        E(Θₙ), the error of the current (last accepted) set, >= 0.
    temperature
        The fictitious temperature T, > 0 (the seed: 0.014).

    Returns
    -------
    float
        The acceptance probability in [0, 1].

    Examples
    --------
    >>> acceptance_probability(9.0, 10.0, 0.014)
    1.0
    >>> round(acceptance_probability(10.07, 10.0, 0.014), 4)  # exp(-0.5)
    0.6065
    """
    temperature = check_positive("temperature", temperature)
    if not (math.isfinite(new) and math.isfinite(current)) or new < 0 or current < 0:
        raise ValueError(f"errors must be finite and >= 0, got new={new}, current={current}")
    if new <= current:
        return 1.0
    if current == 0:
        return 0.0
    return math.exp(-(new - current) / (current * temperature))


def log_path(directory: str | os.PathLike, search: int) -> Path:
    """The log of search ``search`` in ``directory``: ``search_KKK.jsonl``.

    Examples
    --------
    >>> log_path("fit/searches", 3).name
    'search_003.jsonl'
    """
    return Path(directory) / f"search_{search:03d}.jsonl"


def read_log(path: str | os.PathLike) -> list[dict]:
    """The records of a search log, in order; a partial last line (an interrupted write) is
    left out.

    Parameters
    ----------
    path
        A ``search_KKK.jsonl`` file (`log_path`); a missing file has no records.

    Returns
    -------
    list of dict
        The records (module docstring), oldest first.

    Raises
    ------
    ValueError
        For a line that is not JSON before the last one.
    """
    path = Path(path)
    if not path.exists():
        return []
    records, _ = _parse(path.read_bytes(), path)
    return records


def _parse(data: bytes, path: Path) -> tuple[list[dict], int]:
    """Records and the length of the complete part of a log's bytes."""
    records, end = [], 0
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # the last piece has no newline
        try:
            records.append(json.loads(line))
        except ValueError:
            raise ValueError(f"{path}: line {number} is not a JSON record") from None
        end += len(line) + 1
    return records, end


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _Log:
    """Appends records to a search log and replays the records already there."""

    def __init__(self, path: Path, header: dict):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes() if path.exists() else b""
        records, end = _parse(data, path)
        if end < len(data):  # an interrupted write: drop the partial line
            with open(path, "r+b") as handle:
                handle.truncate(end)
        self.handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if records:
            if records[0].get("kind") != "search" or records[0] != header:
                os.close(self.handle)
                raise ValueError(
                    f"{path} is the log of another search (different parameters, bounds or "
                    f"settings); use a new directory"
                )
        else:
            self.append(header)
        self.evaluations = [r for r in records if r.get("kind") == "evaluation"]
        self.steps = {r["step"]: r for r in records if r.get("kind") == "step"}
        self.ended = any(r.get("kind") == "end" for r in records)

    def append(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        written = os.write(self.handle, line)
        while written < len(line):  # only on a full disk or a signal
            written += os.write(self.handle, line[written:])

    def close(self) -> None:
        os.close(self.handle)


def _as_evaluation(result: Any) -> Evaluation:
    if isinstance(result, Evaluation):
        error, properties, failure, residuals = result
    elif isinstance(result, (int, float, np.floating, np.integer)) and not isinstance(result, bool):
        error, properties, failure, residuals = float(result), {}, None, ()
    else:
        raise TypeError(
            f"the objective must return an Evaluation or a number, got {type(result).__name__}"
        )
    error = float(error)
    residuals = tuple(float(r) for r in np.asarray(residuals, float).ravel())
    if not math.isfinite(error) or error < 0:
        failure = failure or f"the error is {error}, not a finite number >= 0"
        error, residuals = FAILURE_SCORE, ()
    elif not all(math.isfinite(r) for r in residuals):
        failure = failure or "a residual is not a finite number"
        error, residuals = FAILURE_SCORE, ()
    clean: dict[str, float | str] = {}
    for name, value in dict(properties).items():
        if isinstance(value, BaseException):
            clean[str(name)] = _text(value)
        elif isinstance(value, str) or value is None:
            clean[str(name)] = str(value)
        else:
            clean[str(name)] = float(value)
    return Evaluation(error, clean, failure, residuals)


class _BudgetSpent(Exception):
    """Raised inside a least-squares minimisation when its evaluations are spent."""


def _least_squares_minimise(error_at, start, bounds, settings: SearchSettings, least_squares):
    """Bounded trust-region least squares on the residuals ``error_at(u)[1]`` from ``start``,
    stopped after ``settings.least_squares_evaluations`` calls (the caller keeps the best).

    A failed evaluation (no residuals) gets the residuals of the first one, scaled so that
    their squares sum to its error: the minimiser sees a very large step it will not take.
    """
    calls = {"count": 0, "size": 0}

    def residuals(u: np.ndarray) -> np.ndarray:
        if calls["count"] >= settings.least_squares_evaluations:
            raise _BudgetSpent
        calls["count"] += 1
        error, values = error_at(u)
        if values:
            calls["size"] = len(values)
            return np.array(values)
        if not calls["size"]:  # the start failed: nothing to linearise
            raise _BudgetSpent
        return np.full(calls["size"], math.sqrt(error / calls["size"]))

    start = np.clip(start, *bounds)
    try:
        least_squares(
            residuals,
            start,
            bounds=bounds,
            method="trf",
            diff_step=settings.difference_step,
            max_nfev=settings.least_squares_evaluations,
        )
    except _BudgetSpent:
        pass


def run_search(
    objective: Callable[[np.ndarray], Evaluation | float],
    space: SearchSpace,
    settings: SearchSettings,
    search: int,
    directory: str | os.PathLike,
) -> SearchResult:
    """Run (or resume) search ``search`` and log every evaluation in ``directory``.

    Parameters
    ----------
    objective
        ``objective(values) -> Evaluation`` (or the error alone), ``values`` a float array in
        `SearchSpace` order and units, inside the bounds. It should be deterministic: a resumed
        search replays its log and checks that it asks for the same parameters.
    space
        Names, start values and bounds.
    settings
        `SearchSettings`.
    search
        The search's number (0: from ``space.start``).
    directory
        Where its log ``search_KKK.jsonl`` (`log_path`) is written or resumed.

    Returns
    -------
    SearchResult

    Raises
    ------
    ValueError
        If the log belongs to another space or settings, or a replayed evaluation asks for
        parameters other than those logged.
    """
    from scipy.optimize import least_squares, minimize

    search = check_positive_int("search", search, minimum=0)
    if search >= settings.searches:
        raise ValueError(f"search must be < searches = {settings.searches}, got {search}")
    header = {
        "kind": "search",
        "version": LOG_VERSION,
        "search": search,
        "names": list(space.names),
        "start": list(space.start),
        "lower": list(space.lower),
        "upper": list(space.upper),
        "settings": asdict(settings),
    }
    log = _Log(log_path(directory, search), header)
    names = space.names
    lower, upper = np.array(space.lower), np.array(space.upper)
    scale = space.scale
    rng = np.random.default_rng([settings.seed, search])
    counters = {"index": 0, "computed": 0, "failures": 0}
    least_squares_local = settings.local == "least-squares"

    def evaluate(values: np.ndarray, step: int) -> tuple[float, tuple[float, ...]]:
        values = np.clip(np.asarray(values, float), lower, upper)
        index = counters["index"]
        counters["index"] += 1
        if index < len(log.evaluations):
            record = log.evaluations[index]
            logged = [record["parameters"][name] for name in names]
            if record["step"] != step or logged != values.tolist():
                raise ValueError(
                    f"{log.path}: evaluation {index} was logged with other parameters than "
                    f"the replay asks for; the objective is not deterministic or changed"
                )
            counters["failures"] += record["failure"] is not None
            return float(record["error"]), tuple(record.get("residuals", ()))
        started = time.perf_counter()
        try:
            result = _as_evaluation(objective(values.copy()))
        except Exception as error:  # a failed evaluation is a result, never fatal
            result = Evaluation(FAILURE_SCORE, {}, _text(error))
        if least_squares_local and result.failure is None and not result.residuals:
            raise ValueError(
                "local='least-squares' needs an objective that returns Evaluation.residuals "
                "(e.g. atomscope.fitting.objective.PropertyObjective); use local='nelder-mead'"
            )
        counters["computed"] += 1
        counters["failures"] += result.failure is not None
        record = {
            "kind": "evaluation",
            "search": search,
            "step": step,
            "index": index,
            "parameters": dict(zip(names, values.tolist(), strict=True)),
            "error": result.error,
            "properties": result.properties,
            "failure": result.failure,
            "seconds": time.perf_counter() - started,
        }
        if least_squares_local:
            record["residuals"] = list(result.residuals)
        log.append(record)
        return result.error, result.residuals

    def local_minimum(values: np.ndarray, step: int) -> tuple[np.ndarray, float, int]:
        first = counters["index"]
        seen: list[tuple[float, int, np.ndarray]] = []

        def error_at(u: np.ndarray) -> tuple[float, tuple[float, ...]]:
            x = np.clip(u * scale, lower, upper)
            error, residuals = evaluate(x, step)
            seen.append((error, counters["index"] - 1, x))
            return error, residuals

        bounds = (lower / scale, upper / scale)
        if least_squares_local:
            _least_squares_minimise(error_at, values / scale, bounds, settings, least_squares)
        else:
            minimize(
                lambda u: error_at(u)[0],
                values / scale,
                method="Nelder-Mead",
                bounds=list(zip(*bounds, strict=True)),
                options={"maxiter": settings.nelder_mead_iterations},
            )
        error, index, x = min(seen, key=lambda item: (item[0], item[1]))
        assert index >= first
        return x, error, index

    def step_record(step, x, error, index, current, probability, accepted, best):
        record = {
            "kind": "step",
            "search": search,
            "step": step,
            "index": index,
            "parameters": dict(zip(names, x.tolist(), strict=True)),
            "error": error,
            "current_error": current,
            "probability": probability,
            "accepted": accepted,
            "best_error": best,
        }
        if step in log.steps:
            if log.steps[step] != record:
                raise ValueError(f"{log.path}: step {step} was logged with another outcome")
        else:
            log.append(record)

    try:
        start = np.array(space.start)
        if search > 0:
            start = np.clip(start + settings.spread * scale * rng.standard_normal(len(start)),
                            lower, upper)  # fmt: skip
        x, error, index = local_minimum(start, 0)
        current, current_error = x, error
        best, best_error = x, error
        step_record(0, x, error, index, None, 1.0, True, best_error)
        accepted_count = 0
        for step in range(1, settings.steps + 1):
            trial = np.clip(
                current + settings.jump * scale * rng.standard_normal(len(current)), lower, upper
            )
            x, error, index = local_minimum(trial, step)
            probability = acceptance_probability(error, current_error, settings.temperature)
            accepted = bool(rng.uniform() < probability)
            if error < best_error:
                best, best_error = x, error
            step_record(step, x, error, index, current_error, probability, accepted, best_error)
            if accepted:
                current, current_error = x, error
                accepted_count += 1
        result = SearchResult(
            search=search,
            best_error=best_error,
            best_parameters=dict(zip(names, best.tolist(), strict=True)),
            current_error=current_error,
            current_parameters=dict(zip(names, current.tolist(), strict=True)),
            steps=settings.steps + 1,
            accepted=accepted_count,
            evaluations=counters["index"],
            computed=counters["computed"],
            failures=counters["failures"],
        )
        if not log.ended:
            log.append({"kind": "end", **asdict(result)})
        return result
    finally:
        log.close()


def run_searches(
    objective: Callable[[np.ndarray], Evaluation | float],
    space: SearchSpace,
    settings: SearchSettings,
    directory: str | os.PathLike,
    client=None,
    progress: bool = False,
) -> list[SearchResult]:
    """Run (or resume) all ``settings.searches`` searches, as Dask tasks if ``client`` is given.

    Each search is one task (`run_search`), writing its own log in ``directory`` (which must
    be visible to the workers). The results are those of the local run, whichever runs them.

    Parameters
    ----------
    objective
        Picklable for Dask (a module-level class or function).
    space, settings
        See `run_search`.
    directory
        Where the logs go.
    client
        A ``distributed.Client`` (`atomscope.parallel.client`), or ``None`` to run here.
    progress
        Show a progress bar over the searches.

    Returns
    -------
    list of SearchResult
        In search order.

    Examples
    --------
    >>> import tempfile
    >>> space = SearchSpace(("x", "y"), (1.0, 2.0), (-5.0, -5.0), (5.0, 5.0))
    >>> settings = SearchSettings(searches=2, steps=2, nelder_mead_iterations=30)
    >>> results = run_searches(lambda v: float((v[0] - 0.5) ** 2 + (v[1] - 1.5) ** 2),
    ...                        space, settings, tempfile.mkdtemp())
    >>> [round(r.best_error, 3) for r in results]
    [0.0, 0.0]
    """
    from atomscope.parallel import ordered_map

    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    if not isinstance(settings, SearchSettings):
        raise TypeError(f"settings must be SearchSettings, got {type(settings).__name__}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    task = functools.partial(run_search, objective, space, settings, directory=str(directory))
    return list(
        ordered_map(task, range(settings.searches), client, progress=progress, desc="searches")
    )


def summarize(results: Sequence[SearchResult]) -> dict[str, Any]:
    """The best of several searches and the totals, as a JSON-ready dict.

    Examples
    --------
    >>> result = SearchResult(0, 1.5, {"x": 1.0}, 2.0, {"x": 1.1}, 3, 1, 40, 40, 0)
    >>> summarize([result])["best_error"]
    1.5
    """
    best = min(results, key=lambda r: (r.best_error, r.search))
    return {
        "best_search": best.search,
        "best_error": best.best_error,
        "best_parameters": best.best_parameters,
        "evaluations": sum(r.evaluations for r in results),
        "computed": sum(r.computed for r in results),
        "failures": sum(r.failures for r in results),
        "accepted": [r.accepted for r in results],
    }
