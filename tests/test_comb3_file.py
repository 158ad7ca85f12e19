"""ffield.comb3 files (atomscope.fitting.comb3_file): read, write, diff and initial entries,
checked through LAMMPS itself (thermal.comb3_calculator with the ffield= argument)."""

import itertools

import numpy as np
import pytest
from ase.build import bulk
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.fitting import comb3_file
from atomscope.thermal import comb3_calculator

SHIPPED_ELEMENTS = ("C", "Cu", "H", "N", "O", "Ti", "Zn", "Zr")


@pytest.fixture(scope="module")
def shipped():
    return comb3_file.read()


def _energy(atoms, symbols, **kwargs):
    atoms = atoms.copy()
    atoms.calc = comb3_calculator(symbols, **kwargs)
    return atoms.get_potential_energy()


def _copper():
    return bulk("Cu", "fcc", a=3.61, cubic=True)


def test_the_shipped_file_parses_into_named_parameters_of_every_triplet(shipped):
    assert len(comb3_file.PARAMETERS) == 71  # + 3 element names = LAMMPS's 74 words
    assert set(shipped) == set(itertools.product(SHIPPED_ELEMENTS, repeat=3))
    copper = shipped["Cu", "Cu", "Cu"]
    assert list(copper) == list(comb3_file.PARAMETERS)
    # the 'Cu Cu Cu' line of ffield.comb3: groups 2 2 2, cutoff R = 3.35 Å, D = 0.15 Å,
    # electronegativity 3.652316, Coulomb cutoff 11 Å
    assert (copper["ielementgp"], copper["jelementgp"], copper["kelementgp"]) == (2, 2, 2)
    assert copper["bigr"] == 3.35 and copper["bigd"] == 0.15
    assert copper["chi"] == 3.652316 and copper["coulcut"] == 11.0
    assert isinstance(copper["ang_flag"], int) and isinstance(copper["powerm"], float)


def test_round_tripped_file_gives_lammps_the_identical_energy(shipped, tmp_path):
    path = comb3_file.write(shipped, tmp_path / "ffield.comb3", comb3_file.read_header())
    assert comb3_file.read(path) == shipped
    assert comb3_file.diff(shipped, comb3_file.read(path)) == []
    copper = _copper()
    original = _energy(copper, ["Cu"])
    round_tripped = _energy(copper, ["Cu"], ffield=path)
    assert round_tripped == original  # bit for bit
    assert original / len(copper) == pytest.approx(-3.58, abs=0.01)


def test_a_changed_parameter_reaches_lammps_and_diff_lists_it(shipped, tmp_path):
    changed = {triplet: dict(values) for triplet, values in shipped.items()}
    changed["Cu", "Cu", "Cu"]["bigA"] *= 1.05  # 5 % more repulsion
    path = comb3_file.write(changed, tmp_path / "ffield.changed")
    assert comb3_file.diff(shipped, changed) == [
        comb3_file.Change(
            ("Cu", "Cu", "Cu"),
            "bigA",
            shipped["Cu", "Cu", "Cu"]["bigA"],
            shipped["Cu", "Cu", "Cu"]["bigA"] * 1.05,
        )
    ]
    copper = _copper()
    assert _energy(copper, ["Cu"], ffield=path) > _energy(copper, ["Cu"])


def test_diff_lists_entries_present_in_only_one(shipped):
    fewer = {k: v for k, v in shipped.items() if "Zn" not in k}
    changes = comb3_file.diff(shipped, fewer)
    assert len(changes) == 8**3 - 7**3
    assert all(c.parameter is None and "Zn" in c.elements for c in changes)


def test_initial_gold_is_an_exact_clone_of_copper(tmp_path):
    extended = comb3_file.initial_entries("Au", from_element="Cu")
    elements = (*SHIPPED_ELEMENTS, "Au")
    assert set(extended) == set(itertools.product(elements, repeat=3))
    assert extended["Au", "O", "Au"] == extended["Cu", "O", "Cu"]
    assert extended["Au", "Cu", "Au"] == extended["Cu", "Cu", "Cu"]
    path = comb3_file.write(extended, tmp_path / "ffield.comb3.Au")
    comb3_file.read(path, elements=["Au", "O"])  # complete for Au-O
    # Au on Cu's lattice with Cu's parameters has Cu's energy, through LAMMPS
    gold = bulk("Au", "fcc", a=3.61, cubic=True)
    assert _energy(gold, ["Au"], ffield=path) == pytest.approx(_energy(_copper(), ["Cu"]), abs=1e-9)


def test_initial_entries_refuse_a_missing_or_existing_element(shipped):
    with pytest.raises(ValueError, match="from_element 'Pt'"):
        comb3_file.initial_entries("Au", from_element="Pt", entries=shipped)
    with pytest.raises(ValueError, match="symbol 'Ti'"):
        comb3_file.initial_entries("Ti", from_element="Cu", entries=shipped)
    with pytest.raises(ValueError, match="symbol"):
        comb3_file.initial_entries("Qq")


def test_a_missing_element_or_triplet_is_named(shipped, tmp_path):
    with pytest.raises(ValueError, match=r"element\(s\) \['Au'\]"):
        comb3_file.read(elements=["Cu", "Au"])
    partial = {k: v for k, v in shipped.items() if k != ("Cu", "O", "Cu")}
    path = comb3_file.write(partial, tmp_path / "ffield.partial")
    with pytest.raises(ValueError, match="missing the entry for Cu O Cu"):
        comb3_file.read(path, elements=["O", "Cu"])
    with pytest.raises(ValueError, match=r"symbols \['Au'\] have no COMB3 parameters"):
        comb3_calculator(["Au"], ffield=path)
    with pytest.raises(ValueError, match="ffield"):
        comb3_calculator(["Cu"], ffield=tmp_path / "no-such-file")


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda words: words[:-1], "the last entry is incomplete"),
        (lambda words: [*words, "1.0"], "an entry has 74 words"),
        (lambda words: [*words[:21], "abc", *words[22:]], "parameter 'DL' of entry Cu Cu Cu"),
        (lambda words: ["Qq", *words[1:]], "chemical symbol"),
        (lambda words: [*words[:4], "2.5", *words[5:]], "'jelementgp'.*integer"),
        (lambda words: [*words[:50], "9.0", *words[51:]], "'bigd' must be <= bigr"),
        (lambda words: [*words[:19], "0.5", *words[20:]], "'QL' must be <= 0"),
    ],
)
def test_a_file_that_does_not_parse_is_refused_naming_the_problem(tmp_path, edit, message):
    line = next(
        text
        for text in comb3_file.shipped_path().read_text().splitlines()
        if text.startswith("Cu Cu Cu")
    )
    path = _write_lines(tmp_path / "bad", ["# a damaged file", " ".join(edit(line.split()))])
    with pytest.raises(ValueError, match=message) as error:
        comb3_file.read(path)
    assert "bad" in str(error.value)


def test_an_entry_may_span_lines_and_carry_comments(tmp_path):
    line = next(
        text
        for text in comb3_file.shipped_path().read_text().splitlines()
        if text.startswith("Cu Cu Cu")
    )
    words = line.split()
    path = _write_lines(
        tmp_path / "split", [" ".join(words[:30]) + "  # first part", " ".join(words[30:])]
    )
    assert comb3_file.read(path) == {("Cu", "Cu", "Cu"): comb3_file.read()["Cu", "Cu", "Cu"]}


def test_write_refuses_a_parameter_lammps_would_reject(shipped, tmp_path):
    bad = {("Cu", "Cu", "Cu"): dict(shipped["Cu", "Cu", "Cu"], bigA=-1.0)}
    with pytest.raises(ValueError, match="'bigA' must be >= 0"):
        comb3_file.write(bad, tmp_path / "out")
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(ValueError, match="missing"):
        comb3_file.write({("Cu", "Cu", "Cu"): {"chi": 1.0}}, tmp_path / "out")


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["chi", "dj", "pcos3", "p6p2", "cmn1", "paaa", "curl"]),
    value=st.floats(allow_nan=False, allow_infinity=False),
)
def test_any_finite_value_survives_the_round_trip_bit_for_bit(
    shipped, tmp_path_factory, name, value
):
    entry = dict(shipped["Cu", "Cu", "Cu"], **{name: value})
    path = comb3_file.write({("Cu", "Cu", "Cu"): entry}, tmp_path_factory.mktemp("rt") / "f")
    back = comb3_file.read(path)["Cu", "Cu", "Cu"][name]
    assert np.float64(back).tobytes() == np.float64(value).tobytes()
