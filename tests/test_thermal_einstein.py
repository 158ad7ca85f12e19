"""Einstein frozen phonons and Debye amplitudes: statistics, limits, reproducibility, files."""

import numpy as np
import pytest
from ase.build import bulk
from ase.data import atomic_masses, atomic_numbers

from atomscope.thermal import EinsteinPhonons, FrozenPhonons, debye_sigma, sigma_from_debye_waller

HBAR, KB, AMU = 1.054571817e-34, 1.380649e-23, 1.66053906660e-27


def _crystal():
    return bulk("Au", cubic=True).repeat(4)  # 256 atoms


def test_mean_square_displacement_equals_sigma_squared_per_axis():
    atoms = _crystal()
    phonons = EinsteinPhonons(atoms, sigmas=0.08, num_configs=100, rng=0)
    displacements = np.array([snapshot.positions - atoms.positions for snapshot in phonons])
    msd = np.mean(displacements**2, axis=(0, 1))
    samples = displacements.shape[0] * displacements.shape[1]
    # χ² statistics: relative standard error of a variance estimate is √(2/n)
    assert msd == pytest.approx([0.08**2] * 3, rel=4 * np.sqrt(2 / samples))
    assert np.abs(displacements.mean(axis=(0, 1))).max() < 4 * 0.08 / np.sqrt(samples)


def test_sigmas_per_element():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(4)
    phonons = EinsteinPhonons(atoms, sigmas={"Na": 0.05, "Cl": 0.1}, num_configs=60, rng=1)
    displacements = np.array([snapshot.positions - atoms.positions for snapshot in phonons])
    is_na = np.array(atoms.get_chemical_symbols()) == "Na"
    assert np.sqrt(np.mean(displacements[:, is_na] ** 2)) == pytest.approx(0.05, rel=0.03)
    assert np.sqrt(np.mean(displacements[:, ~is_na] ** 2)) == pytest.approx(0.1, rel=0.03)


def test_snapshots_are_reproducible_and_order_independent():
    atoms = _crystal()
    phonons = EinsteinPhonons(atoms, temperature=300, num_configs=5, rng=7)
    last_first = phonons[4].positions
    forward = [snapshot.positions for snapshot in phonons]
    assert np.array_equal(forward[4], last_first)
    again = EinsteinPhonons(atoms, temperature=300, num_configs=5, rng=7)
    assert all(
        np.array_equal(a.positions, b.positions) for a, b in zip(again, phonons, strict=True)
    )
    assert not np.allclose(forward[0], forward[1])
    other = EinsteinPhonons(atoms, temperature=300, num_configs=5, rng=8)
    assert not np.allclose(other[0].positions, forward[0])
    assert np.array_equal(atoms.positions, _crystal().positions)


def test_debye_sigma_limits():
    mass = atomic_masses[atomic_numbers["Au"]] * AMU
    theta = 165.0
    # T → ∞: ⟨u_x²⟩ → 3ħ²T/(m k_B Θ²); T = 0: zero-point 3ħ²/(4 m k_B Θ)
    high = np.sqrt(3 * HBAR**2 * 3000 / (mass * KB * theta**2)) * 1e10
    assert debye_sigma("Au", 3000) == pytest.approx(high, rel=1e-3)
    zero = np.sqrt(3 * HBAR**2 / (4 * mass * KB * theta)) * 1e10
    assert debye_sigma("Au", 0) == pytest.approx(zero, rel=1e-9)
    assert debye_sigma("Au", 1e-3) == pytest.approx(zero, rel=1e-6)
    # monotonic in T; heavier/stiffer atoms vibrate less
    assert debye_sigma("Au", 100) < debye_sigma("Au", 300) < debye_sigma("Au", 600)
    assert debye_sigma("Au", 300, debye_temperature=300) < debye_sigma("Au", 300)


def test_debye_waller_conversion():
    assert sigma_from_debye_waller(8 * np.pi**2 * 0.0081) == pytest.approx(0.09)


@pytest.mark.parametrize("progress", [False, True])
def test_save_and_load_round_trip(progress, tmp_path, capsys):
    phonons = EinsteinPhonons(_crystal(), sigmas=0.1, num_configs=3, rng=0)
    path = phonons.save(tmp_path / "snaps.traj", progress=progress)
    assert ("snapshots" in capsys.readouterr().err) == progress
    loaded = FrozenPhonons.load(path)
    assert len(loaded) == 3
    assert all(np.allclose(a.positions, b.positions) for a, b in zip(loaded, phonons, strict=True))
    assert [p.name for p in tmp_path.iterdir()] == ["snaps.traj"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sigmas": 0.1, "num_configs": 0}, ValueError, "num_configs"),
        ({"temperature": -1.0}, ValueError, "temperature"),
        ({"sigmas": -0.1}, ValueError, "sigmas"),
        ({"sigmas": {"Ag": 0.1}}, ValueError, "Au"),
        ({"sigmas": 0.1, "temperature": 300}, ValueError, "exactly one"),
        ({}, ValueError, "exactly one"),
        ({"sigmas": 0.1, "num_configs": 2.5}, TypeError, "num_configs"),
    ],
)
def test_bad_input_is_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        EinsteinPhonons(_crystal(), **kwargs)


def test_unknown_debye_temperature_is_refused():
    with pytest.raises(ValueError, match="debye_temperature"):
        EinsteinPhonons(bulk("Os"), temperature=300)
    with pytest.raises(ValueError, match="symbol"):
        debye_sigma("Qq", 300)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        debye_sigma("Au", -1)
