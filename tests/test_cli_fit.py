"""``atomscope fit run|report`` (issue #20): a short COMB3 Au stage-1 fit through LAMMPS, its
resume, the report, and bad specs refused before any work with nothing written."""

import json
import re
import textwrap

import pytest
from ase.build import bulk

from atomscope.cli import main
from atomscope.fitting import comb3_file
from atomscope.fitting.search import log_path, read_log
from atomscope.thermal import comb3_calculator

TARGETS = """
[[property]]
name = "lattice_constant"
value = 4.06
delta = 0.02
weight = 1.0
reference = { EAM = 4.06 }

[[property]]
name = "cohesive_energy"
value = 3.81
delta = 0.05
weight = 1.0

[[property]]
name = "C44"
value = 45.4
delta = 4.5
weight = 0.0
"""

SPEC = """
name = "au-smoke"
element = "Au"
targets = "targets.toml"
parameters = ["bigA", "bigB1"]
{start}
[search]
searches = 1
steps = 1
nelder_mead_iterations = 3
seed = 5
{extra}
"""


def _write(directory, start='[start]\nfrom_element = "Cu"', extra="", targets=TARGETS):
    (directory / "targets.toml").write_text(textwrap.dedent(targets))
    path = directory / "fit.toml"
    path.write_text(SPEC.format(start=start, extra=extra))
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    spec = _write(root)
    out = root / "out"
    assert main(["fit", "run", str(spec), "--out", str(out)]) == 0
    return spec, out


def test_fit_run_improves_on_the_copper_start_and_writes_its_outputs(fitted):
    _, out = fitted
    names = {path.name for path in out.iterdir()}
    assert {"spec.json", "start.comb3", "searches", "result.json", "ffield.comb3.Au",
            "summary.json"} <= names  # fmt: skip
    records = read_log(log_path(out / "searches", 0))
    evaluations = [r for r in records if r["kind"] == "evaluation"]
    start_error = evaluations[0]["error"]
    assert evaluations[0]["parameters"] == {"Au-Au-Au:bigA": 712.3527, "Au-Au-Au:bigB1": 102.8261}
    # the Cu clone: a = 3.61 Å, E_coh = 3.58 eV (Cu's COMB3 values) against 4.06 Å and 3.81 eV
    assert evaluations[0]["properties"]["lattice_constant"] == pytest.approx(3.6098, abs=1e-3)
    assert evaluations[0]["properties"]["cohesive_energy"] == pytest.approx(3.5816, abs=1e-3)
    result = json.loads((out / "result.json").read_text())
    assert result["best_error"] < start_error
    assert result["failures"] == 0
    assert result["best_error"] == min(r["error"] for r in evaluations)
    assert set(result["properties"]) == {
        "lattice_constant",
        "cohesive_energy",
        "C44",
        "surface_relaxation_111",
        "surface_relaxation_100",
    }
    # the written entries, run by the standard calculator (with charge equilibration; bulk
    # charges are 0), give the fitted cohesive energy: E_free = 0 for COMB3's neutral atom
    gold = bulk("Au", "fcc", a=result["properties"]["lattice_constant"], cubic=True).repeat(2)
    gold.calc = comb3_calculator(["Au"], ffield=out / "ffield.comb3.Au")
    energy = gold.get_potential_energy() / len(gold)
    assert -energy == pytest.approx(result["properties"]["cohesive_energy"], rel=1e-6)
    best = comb3_file.read(out / "ffield.comb3.Au")["Au", "Au", "Au"]
    assert best["bigA"] == result["best_parameters"]["Au-Au-Au:bigA"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "fit run" and summary["evaluations"] == len(evaluations)


def test_running_again_resumes_without_recomputing(fitted, capsys):
    spec, out = fitted
    before = read_log(log_path(out / "searches", 0))
    assert main(["fit", "run", str(spec), "--out", str(out)]) == 0
    assert "(0 computed now, 0 failed)" in capsys.readouterr().out
    assert read_log(log_path(out / "searches", 0)) == before


def test_fit_report_writes_the_table_and_figures(fitted, capsys):
    _, out = fitted
    assert main(["fit", "report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| lattice_constant | Å | 4.06 | 0.02 | 1 |" in printed
    assert "EMT" in printed and "EAM (table)" in printed
    files = {path.name for path in (out / "report").iterdir()}
    assert files == {"table.md", "table.csv", "error_vs_step.png", "accepted_minima.png",
                     "emt.json"}  # fmt: skip
    emt = json.loads((out / "report" / "emt.json").read_text())
    assert emt["lattice_constant"] == pytest.approx(4.0562, abs=1e-3)  # ASE's EMT Au


def _start_file(directory, bigA=None, edit=None):
    """A start file with the Au clone of Cu, bigA changed or its text edited."""
    gold = comb3_file.initial_entries("Au", from_element="Cu")
    gold = {k: v for k, v in gold.items() if set(k) == {"Au"}}
    if bigA is not None:
        gold["Au", "Au", "Au"]["bigA"] = bigA
    path = comb3_file.write(gold, directory / "start.comb3")
    if edit is not None:
        path.write_text(edit(path.read_text()))
    return '[start]\nffield = "start.comb3"'


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown key", "unknown spec key search.stepz"),
        ("delta", r"property 'lattice_constant': delta \(the target accuracy δp\) must be > 0"),
        ("bounds", r"Au-Au-Au:bigA = 9e\+06 eV is outside its bounds \[71\.2353, 7123\.53\]"),
        ("unparsable", "parameter 'lami' of entry Au Au Au must be a number, got 'x'"),
        ("missing element", "has no entries for element\\(s\\) \\['Au'\\]"),
        ("jump", "search.jump must be > 0"),
        ("stage", "stage 2 cannot be fitted yet"),
        ("min_image", "properties.min_image must be > the short-range cutoff"),
        ("weight row", "weights.vacancy_energy: the targets table has no row 'vacancy_energy'"),
        ("weight value", r"weights.C44 must be a number >= 0, got -1"),
    ],
)
def test_bad_specs_exit_2_naming_the_problem_and_write_nothing(tmp_path, capsys, case, message):
    start, extra, targets = '[start]\nfrom_element = "Cu"', "", TARGETS
    if case == "unknown key":
        extra = "stepz = 3"
    elif case == "delta":
        targets = TARGETS.replace("delta = 0.02", "delta = 0.0")
    elif case == "bounds":
        start = _start_file(tmp_path, bigA=9e6)
    elif case == "unparsable":
        start = _start_file(tmp_path, edit=lambda text: text.replace("0.2712035E+01", "x", 1))
    elif case == "missing element":
        path = comb3_file.write(
            {k: v for k, v in comb3_file.read().items() if set(k) == {"Cu"}},
            tmp_path / "start.comb3",
        )
        start = f'[start]\nffield = "{path.name}"'
    elif case == "jump":
        extra = "jump = 0.0"
    elif case == "stage":
        start = 'stage = 2\n[start]\nfrom_element = "Cu"'
    elif case == "min_image":
        extra = "[properties]\nmin_image = 3.4"
    elif case == "weight row":
        start = "[weights]\nvacancy_energy = 1.0\n" + start
    elif case == "weight value":
        start = "[weights]\nC44 = -1\n" + start
    spec = _write(tmp_path, start=start, extra=extra, targets=targets)
    out = tmp_path / "out"
    assert main(["fit", "run", str(spec), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("atomscope fit: error: ")
    assert re.search(message, error), error
    assert not out.exists()


def test_another_fit_into_the_same_directory_is_refused(fitted, tmp_path, capsys):
    spec, out = fitted
    other = tmp_path / "other.toml"
    other.write_text(spec.read_text().replace("seed = 5", "seed = 6"))
    (tmp_path / "targets.toml").write_text(TARGETS)
    assert main(["fit", "run", str(other), "--out", str(out)]) == 2
    assert "holds another fit" in capsys.readouterr().err
    assert main(["fit", "report", str(tmp_path)]) == 2
    assert "not a fit directory" in capsys.readouterr().err


def test_fit_export_writes_one_ffield_and_its_card_that_lammps_runs(fitted, tmp_path, capsys):
    _, out = fitted
    target = tmp_path / "ffield.comb3.Mine"
    assert main(["fit", "export", str(out), "--out", str(target)]) == 0
    assert "entries of Au" in capsys.readouterr().out
    assert comb3_file.read(target) == comb3_file.read(out / "ffield.comb3.Au")
    card = (tmp_path / "ffield.comb3.Mine.md").read_text()
    result = json.loads((out / "result.json").read_text())
    assert "## au-smoke: Au stage 1" in card
    assert f"Best error (Eq 5.14): {result['best_error']:.6g}" in card
    assert "| lattice_constant | Å | 4.06 | 0.02 | 1 |" in card
    assert f"{sum(s['evaluations'] for s in result['searches'])} evaluations (0 failed)" in card
    gold = bulk("Au", "fcc", a=result["properties"]["lattice_constant"], cubic=True)
    gold.calc = comb3_calculator(["Au"], ffield=target)
    energy = gold.get_potential_energy() / len(gold)
    assert -energy == pytest.approx(result["properties"]["cohesive_energy"], rel=1e-6)
    before = target.read_bytes()
    assert main(["fit", "export", str(out), "--out", str(target)]) == 2  # never replaced silently
    assert "exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_fit_export_refuses_unfinished_and_duplicate_fits_before_writing(fitted, tmp_path, capsys):
    _, out = fitted
    target = tmp_path / "ffield.comb3.X"
    assert main(["fit", "export", str(out), str(out), "--out", str(target)]) == 2
    assert "several fits of one element: ['Au', 'Au']" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "spec.json").write_text((out / "spec.json").read_text())
    assert main(["fit", "export", str(unfinished), "--out", str(target)]) == 2
    assert "no result.json" in capsys.readouterr().err
    assert not target.exists() and not (tmp_path / "ffield.comb3.X.md").exists()


def test_spec_weights_override_the_table_s_weights(tmp_path):
    from atomscope.fitting.spec import FitSpec

    spec = FitSpec.read(_write(tmp_path, start='[weights]\nC44 = 2.5\nlattice_constant = 0\n'
                                                '[start]\nfrom_element = "Cu"'))  # fmt: skip
    weights = {t.name: t.weight for t in spec.targets}
    assert weights == {"lattice_constant": 0.0, "cohesive_energy": 1.0, "C44": 2.5}
    assert spec.objective().names == ["cohesive_energy", "C44"]
    assert spec.fingerprint != FitSpec.read(_write(tmp_path)).fingerprint
