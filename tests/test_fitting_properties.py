"""Property calculators (atomscope.fitting.properties) against numbers computed independently
here: ASE's EMT through plain ASE calls (scipy minimisation of E(a), energy second derivatives,
Eq 5.23 with thick slabs) and the analytic Lennard-Jones fcc lattice sum."""

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc100, fcc110, fcc111
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.optimize import BFGS
from ase.spacegroup import crystal
from ase.units import GPa, J, m
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar
from threadpoolctl import threadpool_limits

from atomscope.fitting import properties as props

J_PER_M2 = J / m**2
RTOL = 0.005  # the 0.5 %


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The independent BFGS relaxations here: one BLAS thread (small matrices, shared cores)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --- independent references (plain ASE + scipy) ----------------------------------------------


def _emt_energy_per_atom(atoms):
    atoms.calc = EMT()
    return atoms.get_potential_energy() / len(atoms)


@pytest.fixture(scope="module")
def reference():
    """EMT Au: lattice constant and bulk energy per atom by minimising E(a) with scipy."""
    best = minimize_scalar(
        lambda a: _emt_energy_per_atom(bulk("Au", "fcc", a=a)),
        bracket=(3.9, 4.0, 4.2),
        tol=1e-10,
    )
    return {"a": best.x, "energy": best.fun}


@pytest.fixture(scope="module")
def ours():
    return props.lattice_constant(EMT(), "Au")


def _strained_energy(a, deformation):
    atoms = bulk("Au", "fcc", a=a)
    atoms.set_cell(atoms.cell.array @ deformation, scale_atoms=True)
    atoms.calc = EMT()
    return atoms.get_potential_energy(), atoms.get_volume()


def _energy_elastic_constants(a, h=1e-3):
    """C11, C12, C44 from second derivatives of the energy density (not from the stress)."""

    def energy(exx=0.0, eyy=0.0, gamma=0.0):
        deformation = np.eye(3) + np.diag([exx, eyy, 0.0])
        deformation[1, 2] = deformation[2, 1] = gamma / 2
        return _strained_energy(a, deformation)

    e0, volume = energy()
    c11 = (energy(exx=h)[0] - 2 * e0 + energy(exx=-h)[0]) / h**2 / volume
    c12 = (
        energy(exx=h, eyy=h)[0]
        - energy(exx=h, eyy=-h)[0]
        - energy(exx=-h, eyy=h)[0]
        + energy(exx=-h, eyy=-h)[0]
    ) / (4 * h**2 * volume)
    c44 = (energy(gamma=h)[0] - 2 * e0 + energy(gamma=-h)[0]) / h**2 / volume
    return {"C11": c11 / GPa, "C12": c12 / GPa, "C44": c44 / GPa}


def _relaxed_slab(build, layers, a):
    slab = build("Au", size=(1, 1, layers), a=a, vacuum=10.0)
    slab.calc = EMT()
    BFGS(slab, logfile=None).run(fmax=1e-4)
    return slab


# --- lattice constant --------------------------------------------------------------------------


def test_emt_lattice_constant_equals_the_minimum_of_e_of_a(reference, ours):
    # independent: scipy's Brent minimisation of the EMT energy of the one-atom cell
    assert ours == pytest.approx(reference["a"], rel=RTOL)
    assert ours == pytest.approx(reference["a"], rel=1e-5)  # in fact far closer
    by_eos = props.lattice_constant(EMT(), "Au", method="eos")
    assert by_eos == pytest.approx(reference["a"], rel=1e-5)


def _lj_fcc_lattice_constant(cutoff):
    """fcc a/σ minimising the Lennard-Jones lattice sum over neighbours closer than cutoff/σ.

    E/atom = 2ε Σ_s [(σ/(a c_s))¹² − (σ/(a c_s))⁶] over the neighbours at distance a·c_s
    (c_s = |(i, j, k)|/2, i + j + k even); dE/da = 0 gives a = σ (2 S12/S6)^(1/6) with
    S_n = Σ c_s^(−n), iterated until the set of neighbours inside the cutoff is stable.
    """
    a = 1.5
    for _ in range(50):
        n = math.ceil(2 * cutoff / a) + 1
        i, j, k = np.meshgrid(*(np.arange(-n, n + 1),) * 3, indexing="ij")
        squared = i**2 + j**2 + k**2
        c = np.sqrt(squared[((i + j + k) % 2 == 0) & (squared > 0)]) / 2
        inside = c[c * a < cutoff]
        new = (2 * (inside**-12.0).sum() / (inside**-6.0).sum()) ** (1 / 6)
        if abs(new - a) < 1e-13:
            return new
        a = new
    raise AssertionError("the lattice sum did not converge")


def test_the_analytic_lattice_sum_gives_1_5417_sigma_for_the_full_sum():
    assert _lj_fcc_lattice_constant(20.0) == pytest.approx(1.5417, rel=1e-4)


@pytest.mark.parametrize("method", ["relax", "eos"])
def test_lennard_jones_lattice_constant_equals_the_analytic_lattice_sum(method):
    sigma, cutoff = 3.4, 3.0  # Ar-like; cutoff in units of σ
    # smooth=False: ASE shifts each pair energy by −φ(rc) inside rc. That shift is constant
    # between shells, so it moves neither the stress nor the E(V) minimum as long as no
    # neighbour shell crosses rc (shells at 1.871a and 2.0a bracket rc = 1.94a). A smooth
    # cutoff (smooth=True) would change the potential itself.
    calc = LennardJones(sigma=sigma, epsilon=0.0104, rc=cutoff * sigma, smooth=False)
    expected = _lj_fcc_lattice_constant(cutoff) * sigma
    assert expected / sigma == pytest.approx(1.54638, abs=1e-5)  # ≠ 1.5417: the cutoff counts
    assert props.lattice_constant(calc, "Ar", method=method) == pytest.approx(expected, rel=1e-3)


def test_lennard_jones_with_a_long_cutoff_approaches_1_5417_sigma():
    sigma = 1.0
    calc = LennardJones(sigma=sigma, epsilon=1.0, rc=8.0 * sigma, smooth=False)
    a = props.lattice_constant(calc, "Ar", a0=1.55, min_image=0)
    assert a == pytest.approx(_lj_fcc_lattice_constant(8.0), rel=1e-4)
    assert a == pytest.approx(1.5417 * sigma, rel=1e-3)


# --- cohesive energy, elastic constants, phases -------------------------------------------------


def test_cohesive_energy_is_free_atom_minus_bulk(reference, ours):
    atom = Atoms("Au", positions=[(5, 5, 5)], cell=[10, 10, 10], pbc=False)
    expected = _emt_energy_per_atom(atom) - reference["energy"]  # Eq 5.16
    assert props.cohesive_energy(EMT(), "Au", a=ours) == pytest.approx(expected, rel=1e-6)


def test_emt_elastic_constants_equal_energy_second_derivatives(reference):
    expected = _energy_elastic_constants(reference["a"])
    got = props.elastic_constants(EMT(), "Au", a=reference["a"])
    for name in ("C11", "C12", "C44"):
        assert got[name] == pytest.approx(expected[name], rel=RTOL), name
    assert got["B"] == pytest.approx((expected["C11"] + 2 * expected["C12"]) / 3, rel=RTOL)


def test_phase_energies_equal_independent_minimisations(reference, ours):
    bcc = minimize_scalar(
        lambda a: _emt_energy_per_atom(bulk("Au", "bcc", a=a)), bracket=(3.1, 3.2, 3.4), tol=1e-10
    )
    hcp = minimize(
        lambda x: _emt_energy_per_atom(bulk("Au", "hcp", a=x[0], c=x[1])),
        x0=[2.87, 4.69],
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-12},
    )
    got = {phase: props.phase_energy(EMT(), "Au", phase, a=ours) for phase in ("bcc", "hcp", "sc")}
    assert got["bcc"] == pytest.approx(bcc.fun - reference["energy"], abs=2e-6)
    assert got["hcp"] == pytest.approx(hcp.fun - reference["energy"], abs=2e-6)
    assert 0 < got["hcp"] < got["bcc"] < got["sc"]


# --- surfaces, vacancy, dimer --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("miller", "build"), [((1, 1, 1), fcc111), ((1, 0, 0), fcc100), ((1, 1, 0), fcc110)]
)
def test_emt_surface_energy_equals_eq_5_23_with_a_thick_slab(reference, miller, build):
    # independent: ASE's own slab builder, a 15-layer relaxed slab and the bulk energy
    slab = _relaxed_slab(build, 15, reference["a"])
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    expected = (slab.get_potential_energy() - 15 * reference["energy"]) / (2 * area)
    got = props.surface_energy(EMT(), "Au", miller, a=reference["a"])
    assert got == pytest.approx(expected / J_PER_M2, rel=RTOL)


@settings(max_examples=6, deadline=None)
@given(permutation=st.permutations([1, 1, 0]), signs=st.tuples(*[st.sampled_from([1, -1])] * 3))
def test_surface_energy_is_the_same_for_equivalent_planes(reference, permutation, signs):
    # cubic symmetry: every permutation and sign change of (1, 1, 0) is the same plane family
    miller = tuple(s * p for s, p in zip(signs, permutation, strict=True))
    got = props.surface_energy(EMT(), "Au", miller, a=reference["a"], relax=False, layers=(5, 7))
    expected = props.surface_energy(
        EMT(), "Au", (1, 1, 0), a=reference["a"], relax=False, layers=(5, 7)
    )
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("miller", "build"), [((1, 1, 1), fcc111), ((1, 0, 0), fcc100)])
def test_surface_relaxation_equals_plain_ase_relaxation(reference, miller, build):
    slab = _relaxed_slab(build, 11, reference["a"])
    z = np.sort(slab.positions[:, 2])
    bulk_spacing = reference["a"] * {(1, 1, 1): 1 / np.sqrt(3), (1, 0, 0): 1 / 2}[miller]
    expected = (z[-1] - z[-2] - bulk_spacing) / bulk_spacing
    got = props.surface_relaxation(EMT(), "Au", miller, a=reference["a"])
    assert got == pytest.approx(expected, abs=2e-4)
    assert got < 0  # EMT Au contracts the top spacing


def test_emt_vacancy_energy_equals_plain_ase_supercell(reference):
    perfect = bulk("Au", "fcc", a=reference["a"], cubic=True).repeat(3)
    perfect.calc = EMT()
    defect = perfect.copy()
    del defect[0]
    defect.calc = EMT()
    BFGS(defect, logfile=None).run(fmax=1e-4)
    n = len(perfect)
    expected = defect.get_potential_energy() - (n - 1) / n * perfect.get_potential_energy()
    assert props.vacancy_energy(EMT(), "Au", a=reference["a"]) == pytest.approx(expected, rel=RTOL)


def test_dimer_energy_and_bond_length_equal_a_scalar_minimisation():
    def energy(distance):
        pair = Atoms("Au2", positions=[(5, 5, 5), (5, 5, 5 + distance)], cell=[10, 10, 20])
        return _emt_energy_per_atom(pair) * 2

    free = _emt_energy_per_atom(Atoms("Au", positions=[(5, 5, 5)], cell=[10, 10, 10]))
    best = minimize_scalar(energy, bracket=(2.2, 2.4, 2.7), tol=1e-10)
    got_energy, got_length = props.dimer(EMT(), "Au")
    assert got_length == pytest.approx(best.x, abs=1e-4)
    assert got_energy == pytest.approx((best.fun - 2 * free) / 2, abs=1e-6)
    assert got_energy < 0


# --- compounds and adsorption --------------------------------------------------------------------


def test_formation_energy_is_eq_5_17():
    cu3au = crystal(
        ["Au", "Cu"], [(0, 0, 0), (0, 0.5, 0.5)], spacegroup=221, cellpar=[3.75] * 3 + [90] * 3
    )
    copper, gold = bulk("Cu", a=3.6), bulk("Au", a=4.06)
    expected = (
        4 * _emt_energy_per_atom(cu3au.copy())
        - 3 * _emt_energy_per_atom(copper.copy())
        - _emt_energy_per_atom(gold.copy())
    ) / 4
    got = props.formation_energy(EMT(), cu3au, {"Cu": copper, "Au": gold}, relax=False)
    assert got == pytest.approx(expected, abs=1e-9)
    energies = {"Cu": _emt_energy_per_atom(copper.copy()), "Au": _emt_energy_per_atom(gold.copy())}
    assert props.formation_energy(EMT(), cu3au, energies, relax=False) == pytest.approx(
        expected, abs=1e-9
    )
    # relaxing the compound and the references can only lower the compound's energy
    relaxed = props.formation_energy(EMT(), cu3au, {"Cu": copper, "Au": gold})
    assert np.isfinite(relaxed) and relaxed < 0


def test_adsorption_energy_is_eq_5_19_with_the_sign_of_tables_5_3_and_5_4():
    clean = fcc111("Cu", size=(2, 2, 3), vacuum=8.0)
    covered = clean.copy()
    add_adsorbate(covered, "O", 1.2, "fcc")
    free_o = _emt_energy_per_atom(Atoms("O", positions=[(5, 5, 5)], cell=[10, 10, 10]))
    expected = (
        _emt_energy_per_atom(covered.copy()) * len(covered)
        - _emt_energy_per_atom(clean.copy()) * len(clean)
        - free_o
    )
    got = props.adsorption_energy(EMT(), clean, covered, relax=False)
    assert got == pytest.approx(expected, abs=1e-9)
    assert got < 0  # bound, as the tables' values
    assert props.adsorption_energy(EMT(), clean, covered, relax=False, min_image=0) == (
        pytest.approx(expected, abs=1e-9)
    )


# --- evaluate and bad input ---------------------------------------------------------------------


def test_evaluate_shares_the_lattice_constant_and_records_failures(ours):
    values = props.evaluate(EMT(), "Au", ["lattice_constant", "C44", "cohesive_energy"])
    assert values["lattice_constant"] == pytest.approx(ours, rel=1e-9)
    assert values["C44"] == pytest.approx(
        props.elastic_constants(EMT(), "Au", a=ours)["C44"], rel=1e-9
    )

    class Broken(EMT):
        def calculate(self, *args, **kwargs):
            raise RuntimeError("the potential blew up")

    failed = props.evaluate(Broken(), "Au", ["lattice_constant", "vacancy_energy"])
    assert all(isinstance(v, RuntimeError) for v in failed.values())


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: props.phase_energy(EMT(), "Au", "hex"), "phase"),
        (lambda: props.evaluate(EMT(), "Au", ["lattice_const"]), "names"),
        (lambda: props.surface_energy(EMT(), "Au", (0, 0, 0)), "miller"),
        (lambda: props.surface_energy(EMT(), "Au", (1, 1)), "miller"),
        (lambda: props.surface_energy(EMT(), "Au", (1.0, 1, 1)), "miller"),
        (lambda: props.surface_energy(EMT(), "Au", (1, 1, 1), layers=(5, 5)), "layers"),
        (lambda: props.surface_energy(EMT(), "Au", (1, 1, 1), layers=(0, 5)), "layers[0]"),
        (lambda: props.surface_relaxation(EMT(), "Au", (1, 1, 1), layers=2), "layers"),
        (lambda: props.vacancy_energy(EMT(), "Au", size=0), "size"),
        (lambda: props.elastic_constants(EMT(), "Au", strain=-0.01), "strain"),
        (lambda: props.lattice_constant(EMT(), "Au", method="fit"), "method"),
        (lambda: props.lattice_constant(EMT(), "Au", a0=-4.0), "a0"),
        (lambda: props.cohesive_energy(EMT(), "Xx"), "symbol"),
        (lambda: props.dimer(EMT(), "Au", d0=0.0), "d0"),
        (lambda: props.formation_energy(EMT(), bulk("Cu"), {"Au": 0.0}), "references"),
        (
            lambda: props.adsorption_energy(
                EMT(), fcc111("Cu", (1, 1, 3), vacuum=5), fcc111("Cu", (1, 1, 3), vacuum=5)
            ),
            "adsorbed",
        ),
        (
            lambda: props.adsorption_energy(
                EMT(), fcc111("Cu", (1, 1, 3), vacuum=5), bulk("Cu"), reference="O2"
            ),
            "reference",
        ),
    ],
)
def test_bad_input_raises_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_bad_input_is_refused_before_any_calculation():
    calls = []

    class Counting(EMT):
        def calculate(self, *args, **kwargs):
            calls.append(1)
            super().calculate(*args, **kwargs)

    for call in (
        lambda: props.phase_energy(Counting(), "Au", "fcc"),
        lambda: props.surface_energy(Counting(), "Au", (0, 0, 0)),
        lambda: props.vacancy_energy(Counting(), "Au", size=1),
        lambda: props.evaluate(Counting(), "Au", ["lattice_constant", "melting_point"]),
    ):
        with pytest.raises(ValueError) as error:
            call()
        assert "must" in str(error.value)
    assert not calls
    with pytest.raises(ValueError, match="'hcp', 'bcc', 'diamond', 'sc'"):
        props.phase_energy(Counting(), "Au", "fcc")
    with pytest.raises(TypeError, match="ASE calculator"):
        props.lattice_constant(object(), "Au")
