"""The optimiser (atomscope.fitting.search, seed §5.2.1) and the parameter stages and bounds
(atomscope.fitting.parameters): a Lennard-Jones fit recovers the parameters its targets were
computed with, Eq 5.15 decides every step, a search resumes from its log, and the searches give
identical results locally and on a 2-worker Dask LocalCluster."""

import math
import sys

import cloudpickle
import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from atomscope.fitting import comb3_file
from atomscope.fitting.objective import PropertyObjective, PropertySettings
from atomscope.fitting.parameters import STAGE_PARAMETERS, stage_parameters, with_values
from atomscope.fitting.properties import evaluate
from atomscope.fitting.search import (
    Evaluation,
    SearchSettings,
    SearchSpace,
    acceptance_probability,
    log_path,
    read_log,
    run_search,
    run_searches,
)
from atomscope.fitting.targets import FAILURE_SCORE, PropertyTarget

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the objectives below, on Dask

TRUE = (0.0104, 3.40)  # ε [eV], σ [Å] (argon-like) the targets are computed with
START = (0.0125, 3.15)  # ≈ +20 % and −7 %
LJ_SPACE = SearchSpace(("epsilon", "sigma"), START, (0.002, 2.5), (0.05, 4.5))
LJ_SETTINGS = SearchSettings(searches=1, steps=1, nelder_mead_iterations=60, seed=3)


class LennardJonesCalculators:
    """values (ε, σ) → ASE's Lennard-Jones with a smooth cutoff at 3σ."""

    def __call__(self, values):
        epsilon, sigma = values
        return LennardJones(epsilon=epsilon, sigma=sigma, rc=3.0 * sigma, smooth=True)


def _lj_objective() -> PropertyObjective:
    settings = PropertySettings(min_image=0.0)
    truth = evaluate(
        LennardJonesCalculators()(TRUE), "Ar", ["lattice_constant", "cohesive_energy"], min_image=0
    )
    targets = [
        PropertyTarget("lattice_constant", truth["lattice_constant"], 0.01),
        PropertyTarget("cohesive_energy", truth["cohesive_energy"], 0.001),
    ]
    return PropertyObjective(LennardJonesCalculators(), "Ar", targets, settings)


class Rugged:
    """A 1-D function with many local minima of different depths: 1 + sin²(3x) + 0.05 x²."""

    def __call__(self, values):
        (x,) = values
        return 1.0 + math.sin(3.0 * x) ** 2 + 0.05 * x * x


class Interrupting:
    """Raises KeyboardInterrupt (Ctrl-C) at call ``after`` + 1, else ``objective``."""

    def __init__(self, objective, after):
        self.objective, self.after, self.calls = objective, after, 0

    def __call__(self, values):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return self.objective(values)


class Counting:
    def __init__(self, objective):
        self.objective, self.calls = objective, 0

    def __call__(self, values):
        self.calls += 1
        return self.objective(values)


def _without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.fixture(scope="module")
def lj_fit(tmp_path_factory):
    directory = tmp_path_factory.mktemp("lj")
    (result,) = run_searches(_lj_objective(), LJ_SPACE, LJ_SETTINGS, directory)
    return result, directory


# --- Eq 5.15 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "current", "expected"),
    [
        (9.0, 10.0, 1.0),  # better: always
        (10.0, 10.0, 1.0),  # equal: always
        (10.07, 10.0, math.exp(-0.5)),  # 0.7 % worse at T = 0.014
        (11.0, 10.0, math.exp(-1 / 0.14)),  # 10 % worse: 7.9e-4
        (1.0, 0.0, 0.0),  # from a perfect fit nothing worse is accepted
        (0.0, 0.0, 1.0),
    ],
)
def test_acceptance_probability_is_eq_5_15(new, current, expected):
    assert acceptance_probability(new, current, 0.014) == pytest.approx(expected, rel=1e-12)


def test_every_step_is_accepted_exactly_as_eq_5_15_says(tmp_path):
    settings = SearchSettings(searches=1, steps=40, jump=0.6, nelder_mead_iterations=30, seed=7)
    space = SearchSpace(("x",), (2.0,), (-6.0,), (6.0,))
    result = run_search(Rugged(), space, settings, 0, tmp_path)
    steps = [r for r in read_log(log_path(tmp_path, 0)) if r["kind"] == "step"]
    assert len(steps) == 41 and steps[0]["accepted"]
    rng = np.random.default_rng([7, 0])  # search 0: no start perturbation; per step jump, then u
    current = steps[0]["error"]
    partial = 0
    for record in steps[1:]:
        rng.standard_normal(1)
        u = rng.uniform()
        assert record["current_error"] == current
        p = math.exp(-(record["error"] - current) / (current * 0.014))
        assert record["probability"] == pytest.approx(min(1.0, p), rel=1e-12)
        assert record["accepted"] == (u < record["probability"])
        partial += 0 < record["probability"] < 1
        if record["accepted"]:
            current = record["error"]
    assert partial >= 3  # worse minima met, so the rule was really exercised
    assert {r["accepted"] for r in steps[1:]} == {True, False}
    assert result.current_error == current
    assert result.best_error == min(r["error"] for r in steps)


# --- the Lennard-Jones fit ----------------------------------------------------------------------


def test_lennard_jones_fit_recovers_the_known_parameters(lj_fit):
    result, directory = lj_fit
    epsilon, sigma = result.best_parameters["epsilon"], result.best_parameters["sigma"]
    # from +20 % / −7 %: ε within 0.1 %, σ within 0.01 %; the targets are matched to ≪ δp
    assert epsilon == pytest.approx(TRUE[0], rel=1e-3)
    assert sigma == pytest.approx(TRUE[1], rel=1e-4)
    assert result.best_error < 1e-3
    records = read_log(log_path(directory, 0))
    evaluations = [r for r in records if r["kind"] == "evaluation"]
    assert len(evaluations) == result.evaluations == result.computed
    assert evaluations[0]["parameters"] == {"epsilon": START[0], "sigma": START[1]}
    assert evaluations[0]["error"] > 100  # the start is far off
    assert set(evaluations[0]["properties"]) == {"lattice_constant", "cohesive_energy"}
    assert [r["kind"] for r in records][:2] == ["search", "evaluation"]
    assert records[-1]["kind"] == "end"


def test_a_resumed_search_continues_its_log_without_recomputing(lj_fit, tmp_path):
    reference, reference_directory = lj_fit
    with pytest.raises(KeyboardInterrupt):
        run_search(Interrupting(_lj_objective(), after=25), LJ_SPACE, LJ_SETTINGS, 0, tmp_path)
    path = log_path(tmp_path, 0)
    assert sum(r["kind"] == "evaluation" for r in read_log(path)) == 25
    with open(path, "ab") as handle:  # a write cut short by the interruption
        handle.write(b'{"kind":"evaluation","search":0,"st')
    counting = Counting(_lj_objective())
    resumed = run_search(counting, LJ_SPACE, LJ_SETTINGS, 0, tmp_path)
    assert counting.calls == resumed.computed == reference.evaluations - 25
    assert resumed.best_parameters == reference.best_parameters
    logged = _without_seconds(read_log(path))
    expected = _without_seconds(read_log(log_path(reference_directory, 0)))
    assert logged[:-1] == expected[:-1]  # the same evaluations and steps, the partial line gone
    assert {**logged[-1], "computed": None} == {**expected[-1], "computed": None}
    again = Counting(_lj_objective())  # a finished search replays without computing
    assert run_search(again, LJ_SPACE, LJ_SETTINGS, 0, tmp_path).best_error == resumed.best_error
    assert again.calls == 0


def test_searches_are_identical_locally_and_on_a_2_worker_local_cluster(tmp_path):
    from atomscope.parallel import client

    settings = SearchSettings(searches=2, steps=1, nelder_mead_iterations=8, seed=11)
    local = run_searches(_lj_objective(), LJ_SPACE, settings, tmp_path / "local")
    with client(workers=2) as dask_client:
        remote = run_searches(_lj_objective(), LJ_SPACE, settings, tmp_path / "dask", dask_client)
    assert [r.best_parameters for r in local] == [r.best_parameters for r in remote]
    assert local[0].best_parameters != local[1].best_parameters  # search 1 starts elsewhere
    for k in range(2):
        assert _without_seconds(read_log(log_path(tmp_path / "local", k))) == _without_seconds(
            read_log(log_path(tmp_path / "dask", k))
        )


# --- failures and bad input -------------------------------------------------------------------


class FailsAboveOne:
    """x² + 1, but an exception for x > 1 (like a LAMMPS error) and NaN for x < −1."""

    def __call__(self, values):
        (x,) = values
        if x > 1:
            raise RuntimeError("LAMMPS: lost atoms")
        return Evaluation(float("nan") if x < -1 else x * x + 1, {"x2": x * x})


def test_a_failed_evaluation_is_logged_and_scored_never_fatal(tmp_path):
    space = SearchSpace(("x",), (0.98,), (-3.0,), (3.0,))
    settings = SearchSettings(searches=1, steps=6, jump=2.0, nelder_mead_iterations=10, seed=1)
    result = run_search(FailsAboveOne(), space, settings, 0, tmp_path / "raises")
    records = read_log(log_path(tmp_path / "raises", 0))
    failed = [r for r in records if r["kind"] == "evaluation" and r["failure"] is not None]
    assert failed and result.failures == len(failed)
    assert all(r["error"] == FAILURE_SCORE for r in failed)
    raised = [r for r in failed if r["parameters"]["x"] > 1]
    assert raised and raised[0]["failure"] == "RuntimeError: LAMMPS: lost atoms"
    assert result.best_error == pytest.approx(1.0, abs=1e-3)  # the search went on
    space = SearchSpace(("x",), (-2.0,), (-3.0,), (-1.5,))  # NaN everywhere
    result = run_search(FailsAboveOne(), space, settings, 0, tmp_path / "nan")
    records = read_log(log_path(tmp_path / "nan", 0))
    evaluations = [r for r in records if r["kind"] == "evaluation"]
    assert result.failures == len(evaluations) > 0 and result.best_error == FAILURE_SCORE
    assert "the error is nan" in evaluations[0]["failure"]
    assert evaluations[0]["properties"] == {"x2": 4.0}


class RosenbrockResiduals:
    """Rosenbrock's function as least-squares residuals (10 (y − x²), 1 − x): minimum 0 at
    (1, 1) in a curved valley; a few points (x > 1.8) fail like a LAMMPS error."""

    def __call__(self, values):
        x, y = values
        if x > 1.8:
            raise RuntimeError("LAMMPS: lost atoms")
        r = (10.0 * (y - x * x), 1.0 - x)
        return Evaluation(r[0] ** 2 + r[1] ** 2, {"x": x}, None, r)


def test_least_squares_local_steps_find_the_valley_s_minimum_and_resume(tmp_path):
    space = SearchSpace(("x", "y"), (-1.2, 1.0), (-2.0, -2.0), (2.0, 3.0))
    settings = SearchSettings(searches=1, steps=2, jump=0.3, local="least-squares",
                              least_squares_evaluations=80, seed=2)  # fmt: skip
    result = run_search(RosenbrockResiduals(), space, settings, 0, tmp_path / "a")
    assert result.best_parameters["x"] == pytest.approx(1.0, abs=1e-4)
    assert result.best_parameters["y"] == pytest.approx(1.0, abs=1e-4)
    records = read_log(log_path(tmp_path / "a", 0))
    evaluations = [r for r in records if r["kind"] == "evaluation"]
    assert len(evaluations) <= 3 * 80  # the budget holds per local minimisation
    good = [r for r in evaluations if r["failure"] is None]
    assert all(len(r["residuals"]) == 2 for r in good)
    assert all(sum(v * v for v in r["residuals"]) == pytest.approx(r["error"]) for r in good)
    with pytest.raises(KeyboardInterrupt):
        run_search(Interrupting(RosenbrockResiduals(), 30), space, settings, 0, tmp_path / "b")
    counting = Counting(RosenbrockResiduals())
    resumed = run_search(counting, space, settings, 0, tmp_path / "b")
    assert resumed.best_parameters == result.best_parameters
    assert counting.calls == result.evaluations - 30


def test_least_squares_needs_residuals_from_the_objective(tmp_path):
    space = SearchSpace(("x",), (2.0,), (-6.0,), (6.0,))
    settings = SearchSettings(searches=1, steps=1, local="least-squares")
    with pytest.raises(ValueError, match=r"needs an objective that returns Evaluation\.residuals"):
        run_search(Rugged(), space, settings, 0, tmp_path)


def test_a_log_of_another_search_is_refused(tmp_path):
    space = SearchSpace(("x",), (2.0,), (-6.0,), (6.0,))
    run_search(Rugged(), space, SearchSettings(searches=1, steps=1), 0, tmp_path)
    with pytest.raises(ValueError, match="log of another search"):
        run_search(Rugged(), space, SearchSettings(searches=1, steps=2), 0, tmp_path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SearchSettings(jump=0.0), "jump must be > 0"),
        (lambda: SearchSettings(temperature=-0.014), "temperature must be > 0"),
        (lambda: SearchSettings(searches=0), "searches"),
        (lambda: SearchSettings(local="newton"), "local must be one of 'nelder-mead'"),
        (lambda: SearchSettings(difference_step=0.0), "difference_step must be > 0"),
        (lambda: SearchSettings(least_squares_evaluations=1), "least_squares_evaluations"),
        (lambda: SearchSpace(("a",), (5.0,), (0.0,), (1.0,)), "start value of a = 5"),
        (lambda: SearchSpace(("a",), (0.5,), (1.0,), (0.0,)), "lower < upper"),
        (lambda: acceptance_probability(float("nan"), 1.0, 0.014), "finite"),
    ],
)
def test_bad_search_input_raises_naming_it(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- stages and bounds --------------------------------------------------------------------------


def test_stages_name_the_parameters_and_bound_them_relative_to_copper():
    start = comb3_file.initial_entries("Au", from_element="Cu")
    stage1 = stage_parameters(start, "Au", 1)
    assert [p.name for p in stage1] == list(STAGE_PARAMETERS[1])
    assert all(p.triplets == (("Au", "Au", "Au"),) for p in stage1)
    by_name = {p.name: p for p in stage1}
    assert (by_name["bigA"].lower, by_name["bigA"].upper) == pytest.approx((71.23527, 7123.527))
    assert by_name["lambda"].lower == pytest.approx(2.712035 / 2)
    assert by_name["vsig"].lower == pytest.approx((3.35 - 0.15) / 0.95)  # LAMMPS's vdW spline
    assert all(p.lower >= 0 for p in stage1 if p.name in ("bigA", "bigB1", "veps", "powern"))
    stage2 = stage_parameters(start, "Au", 2)
    assert {p.name for p in stage2} == set(STAGE_PARAMETERS[2])
    assert by_name["bigA"].start == 712.3527
    du = {p.name: p for p in stage2}["DU"]
    assert du.upper < 0  # LAMMPS requires DU <= 0
    stage3 = stage_parameters(start, "Au", 3, partners=["O"])
    shared = [p for p in stage3 if len(p.triplets) == 2]
    assert [p.label for p in shared] == ["Au-O:bigA", "Au-O:lambda", "Au-O:bigB1", "Au-O:alpha1"]
    changed = with_values(start, shared[:1], [1400.0])
    assert changed["Au", "O", "O"]["bigA"] == changed["O", "Au", "Au"]["bigA"] == 1400.0


def test_a_start_parameter_outside_its_bounds_is_named(tmp_path):
    start = comb3_file.initial_entries("Au", from_element="Cu")
    start["Au", "Au", "Au"]["alpha1"] = 5.0  # > 2 × Cu's 1.467
    with pytest.raises(ValueError, match=r"Au-Au-Au:alpha1 = 5 .* outside its bounds"):
        stage_parameters(start, "Au", 1)
    start["Au", "Au", "Au"]["alpha1"] = 1.5
    (bigA,) = stage_parameters(start, "Au", 1, names=["bigA"])
    with pytest.raises(ValueError, match="Au-Au-Au:bigA = 1e\\+06 is outside"):
        with_values(start, [bigA], [1e6])
    with pytest.raises(ValueError, match="not stage-1 parameters"):
        stage_parameters(start, "Au", 1, names=["chi"])
    with pytest.raises(ValueError, match="no parameters for 'Pt'"):
        stage_parameters(start, "Pt", 1)
    with pytest.raises(ValueError, match="needs partners"):
        stage_parameters(start, "Au", 3)


def test_the_van_der_waals_spline_rule_of_lammps_is_checked(tmp_path):
    copper = {k: dict(v) for k, v in comb3_file.read().items() if set(k) == {"Cu"}}
    copper["Cu", "Cu", "Cu"]["vsig"] = 3.3  # 0.95 σ = 3.135 < R − D = 3.2
    with pytest.raises(ValueError, match=r"'vsig' must be >= 3\.36842"):
        comb3_file.write(copper, tmp_path / "ffield")
