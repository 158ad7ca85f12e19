"""Property tables (seed Tables 5.1 and 5.2) and the error function of seed Eq 5.14."""

import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.fitting import properties
from atomscope.fitting.targets import (
    FAILURE_SCORE,
    KNOWN_PROPERTIES,
    PropertyTarget,
    error_function,
    load_targets,
    residuals,
)

#: three property values, any float (NaN, ±inf) or a missing one
PROPERTY_VALUES = st.lists(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()), min_size=3, max_size=3
)
ROOT = Path(__file__).resolve().parents[1]
STARRED = {
    "lattice_constant",
    "cohesive_energy",
    "C11",
    "C12",
    "C44",
    "phase_energy_hcp",
    "phase_energy_bcc",
    "surface_energy_111",
    "surface_energy_ratio_100_111",
    "dimer_energy",
}


def _by_name(targets):
    return {target.name: target for target in targets}


def test_table_5_1_gold_holds_the_seed_values():
    au = _by_name(load_targets("au"))
    # seed Table 5.1, "Exp. or DFT" column (E0 = −3.81 eV is −E_coh; C1 is C11)
    expected = {
        "lattice_constant": 4.06,
        "lattice_constant_300K": 4.078,
        "cohesive_energy": 3.81,
        "bulk_modulus": 180.3,
        "C11": 201.6,
        "C12": 169.7,
        "C44": 45.4,
        "melting_point": 1337.0,
        "phase_energy_hcp": 0.002,
        "phase_energy_bcc": 0.04,
        "phase_energy_diamond": 1.01,
        "phase_energy_sc": 0.28,
        "surface_energy_111": 0.98,  # PBEsol, which the seed says it fits (§5.2.3)
        "surface_energy_ratio_100_111": 1.22,
        "surface_energy_ratio_110_111": 1.31,
        "vacancy_energy": 0.89,
        "dimer_energy": -1.17,
        "dimer_bond_length": 2.47,
    }
    for name, value in expected.items():
        assert au[name].value == value, name
    assert {name for name, t in au.items() if t.stage1} == STARRED
    assert all((t.weight == 1.0) == t.stage1 for t in au.values())
    assert au["C44"].source == "Exp. [109]" and au["C44"].reference["COMB3"] == 48.4
    assert (0.74, "DFT-PBE [124]") in au["surface_energy_111"].alternatives
    assert au["phase_energy_hcp"].alternatives == ((0.0054, "DFT-LDA [117]"),)
    assert au["stacking_fault_intrinsic"].unit == "mJ/m²"


def test_table_5_2_platinum_holds_the_seed_values():
    pt = _by_name(load_targets("pt"))
    expected = {
        "lattice_constant": 3.91,
        "cohesive_energy": 5.84,
        "bulk_modulus": 288.4,
        "C11": 347.0,
        "C12": 251.0,
        "C44": 77.0,
        "phase_energy_hcp": 0.03,
        "phase_energy_bcc": 0.16,
        "surface_energy_111": 1.91,
        "surface_energy_ratio_100_111": 1.17,
        "dimer_energy": -1.65,
        "dimer_bond_length": 2.4,
    }
    for name, value in expected.items():
        assert pt[name].value == value, name
    assert {name for name, t in pt.items() if t.stage1} == STARRED
    assert pt["cohesive_energy"].reference == {"EAM": 5.77, "ReaxFF": 5.77, "COMB3": 5.87}
    # rows without a target (stacking faults of Pt, interstitials) are reference-only
    assert "stacking_fault_intrinsic" not in pt and "interstitial_octahedral" not in pt


def test_the_seed_s_own_comb3_values_score_near_one_per_starred_property():
    # a sanity check of the δp chosen here (the seed prints none): its fitted COMB3 potential
    # misses each starred target by about one δp or less
    for name in ("au", "pt"):
        targets = load_targets(name)
        values = {t.name: t.reference["COMB3"] for t in targets if "COMB3" in t.reference}
        starred = [t for t in targets if t.stage1]
        error = error_function(values, starred)
        assert 0 < error < 2 * len(starred), name


def test_every_computable_table_property_has_a_calculator():
    table_names = {t.name for name in ("au", "pt") for t in load_targets(name)}
    computable = set(properties.PROPERTY_NAMES)
    assert STARRED <= computable
    assert computable <= set(KNOWN_PROPERTIES)
    assert table_names - computable == {
        "lattice_constant_300K",
        "melting_point",
        "stacking_fault_intrinsic",
        "stacking_fault_unstable",
    }


def test_package_data_ships_the_tables():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "fitting/data/*.toml" in project["tool"]["setuptools"]["package-data"]["atomscope"]


def test_error_function_is_eq_5_14():
    targets = [
        PropertyTarget("lattice_constant", 4.06, 0.02),
        PropertyTarget("C44", 45.4, 4.5, weight=2.0),
        PropertyTarget("melting_point", 1337.0, 50.0, weight=0.0),
    ]
    values = {"lattice_constant": 4.10, "C44": 40.0}  # melting point not needed: weight 0
    expected = ((4.10 - 4.06) / 0.02) ** 2 + 2.0 * ((40.0 - 45.4) / 4.5) ** 2
    assert error_function(values, targets) == pytest.approx(expected, rel=1e-12)
    assert error_function({"lattice_constant": 4.06, "C44": 45.4}, targets) == 0.0


@pytest.mark.parametrize(
    "failure", [RuntimeError("LAMMPS failed"), None, math.nan, math.inf, "n/a", 1e300]
)
def test_a_failed_evaluation_scores_a_large_finite_value(failure):
    targets = [PropertyTarget("lattice_constant", 4.06, 0.02), PropertyTarget("C44", 45.4, 4.5)]
    error = error_function({"lattice_constant": failure, "C44": 45.4}, targets)
    assert error == FAILURE_SCORE and math.isfinite(error)
    assert error_function({"lattice_constant": failure, "C44": 45.4}, targets, 10.0) == 10.0


@settings(max_examples=200, deadline=None)
@given(values=PROPERTY_VALUES)
def test_the_error_is_always_finite_and_non_negative(values):
    targets = load_targets("au")[:3]
    error = error_function(dict(zip([t.name for t in targets], values, strict=True)), targets)
    assert math.isfinite(error) and 0 <= error <= FAILURE_SCORE * sum(t.weight for t in targets)


@settings(max_examples=200, deadline=None)
@given(
    values=PROPERTY_VALUES,
    weights=st.lists(st.floats(0.0, 4.0), min_size=3, max_size=3),
)
def test_residuals_square_and_sum_to_the_error(values, weights):
    targets = [
        PropertyTarget(t.name, t.value, t.delta, weight=w)
        for t, w in zip(load_targets("au")[:3], weights, strict=True)
    ]
    values = dict(zip([t.name for t in targets], values, strict=True))
    r = residuals(values, targets)
    assert len(r) == sum(t.weight > 0 for t in targets)
    assert float(r @ r) == pytest.approx(error_function(values, targets), rel=1e-12, abs=1e-300)


def test_residuals_carry_the_sign_of_the_deviation():
    targets = [PropertyTarget("lattice_constant", 4.06, 0.02), PropertyTarget("C44", 45.4, 4.5,
               weight=4.0)]  # fmt: skip
    r = residuals({"lattice_constant": 4.10, "C44": 40.0}, targets)
    assert r.tolist() == pytest.approx([2.0, 2.0 * (40.0 - 45.4) / 4.5], rel=1e-12)


def _table(tmp_path, body):
    path = tmp_path / "table.toml"
    path.write_text(body)
    return path


def test_an_unknown_property_name_is_refused_naming_it(tmp_path):
    path = _table(tmp_path, '[[property]]\nname = "latice_constant"\nvalue = 4.0\ndelta = 0.1\n')
    with pytest.raises(ValueError, match="'latice_constant'"):
        load_targets(path)
    with pytest.raises(ValueError, match="'melting'"):
        PropertyTarget("melting", 1.0, 1.0)


@pytest.mark.parametrize("delta", ["0.0", "-0.1"])
def test_a_non_positive_delta_is_refused_naming_the_property(tmp_path, delta):
    path = _table(tmp_path, f'[[property]]\nname = "C44"\nvalue = 45.0\ndelta = {delta}\n')
    with pytest.raises(ValueError, match=r"property 'C44'.*delta"):
        load_targets(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[property]]\nname = "C44"\nvalue = 45.0\n', "no delta"),
        ('[[property]]\nname = "C44"\nvalue = 45.0\ndelta = 1.0\nweight = -1.0\n', "weight"),
        ('[[property]]\nname = "C44"\nvalue = 45.0\ndelta = 1.0\ncolour = "red"\n', "colour"),
        (
            '[[property]]\nname = "C44"\nvalue = 1.0\ndelta = 1.0\n' * 2,
            "'C44' appears twice",
        ),
        ("[[property]\n", "not valid TOML"),
        ("[table]\n", "no \\[\\[property\\]\\] rows"),
    ],
)
def test_malformed_tables_are_refused(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        load_targets(_table(tmp_path, body))


def test_unknown_table_names_and_missing_values_are_refused():
    with pytest.raises(ValueError, match=r"'cu'.*'au', 'pt'"):
        load_targets("cu")
    with pytest.raises(ValueError, match=r"no entry for the weighted properties \['C44'\]"):
        error_function({}, [PropertyTarget("C44", 45.4, 4.5)])
