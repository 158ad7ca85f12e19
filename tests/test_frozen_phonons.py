"""Frozen-phonon ensembles: thermal snapshots go wherever a single Atoms goes."""

import numpy as np
import pytest
from ase import Atoms

import atomscope as ats
from atomscope.thermal import EinsteinPhonons, FrozenPhonons

ENERGY = 200e3


def gold_grid(spacing=2.5, repeats=4):
    positions = [
        (spacing * (i + 0.5), spacing * (j + 0.5), 1.0)
        for i in range(repeats)
        for j in range(repeats)
    ]
    return Atoms(
        f"Au{len(positions)}", positions=positions, cell=[spacing * repeats, spacing * repeats, 2.0]
    )


def test_ensemble_projected_potential_is_damped_by_the_debye_waller_factor():
    # ⟨exp(−2πi k·u)⟩ over Gaussian displacements of std σ per axis = exp(−2π²σ²k²)
    atoms, sigma = gold_grid(), 0.1
    static = ats.Potential(atoms, sampling=0.1, slice_thickness=2.0)
    thermal = ats.Potential(
        EinsteinPhonons(atoms, sigmas=sigma, num_configs=100, rng=0),
        sampling=0.1,
        slice_thickness=2.0,
    )
    assert thermal.num_configs == 100
    static_spectrum = np.fft.fft2(static.project())
    ratio = np.fft.fft2(thermal.project()) / static_spectrum
    k = np.sqrt(static.grid.frequency_squared())
    lattice = np.abs(static_spectrum) > 1e-3 * np.abs(static_spectrum).max()  # reflections
    for k_value in (0.4, 0.8, 1.2):
        picked = lattice & np.isclose(k, k_value, atol=0.05)
        assert picked.any()
        expected = np.exp(-2 * np.pi**2 * sigma**2 * k_value**2)
        assert np.mean(ratio[picked].real) == pytest.approx(expected, abs=0.03)


def test_ensemble_image_is_the_mean_of_the_configuration_images():
    rng = np.random.default_rng(3)
    base = gold_grid(repeats=2)
    snapshots = []
    for _ in range(3):
        moved = base.copy()
        moved.positions[:, :2] += rng.normal(0, 0.1, (len(moved), 2))
        snapshots.append(moved)
    for integration in ("quasi_coherent", "gauss_hermite"):
        lens = ats.CTF(
            energy=ENERGY,
            Cs=1e6,
            defocus=300.0,
            focal_spread=30,
            focal_integration=integration,
            focal_nodes=4,
        )
        ensemble = ats.Potential(FrozenPhonons(snapshots), sampling=0.1)
        waves = ats.PlaneWave(ENERGY).multislice(ensemble)
        assert waves.array.shape == (3, *ensemble.gpts)
        assert waves.weights == pytest.approx(np.full(3, 1 / 3))
        one_by_one = [
            lens.image(ats.PlaneWave(ENERGY).multislice(ats.Potential(s, sampling=0.1))).array
            for s in snapshots
        ]
        np.testing.assert_allclose(lens.image(waves).array, np.mean(one_by_one, axis=0), rtol=1e-4)


def test_ensemble_input_is_validated_before_any_work():
    atoms = gold_grid(repeats=2)
    other = atoms.copy()
    other.set_cell([6.0, 5.0, 2.0])
    with pytest.raises(ValueError, match="same cell"):
        ats.Potential([atoms, other], sampling=0.1)
    with pytest.raises(TypeError, match="sequence"):
        ats.Potential([atoms, "Au"], sampling=0.1)
    with pytest.raises(TypeError, match="sequence"):
        ats.Potential([], sampling=0.1)
    ensemble = ats.Potential([atoms, atoms], sampling=0.1)
    with pytest.raises(ValueError, match="configurations"):
        next(ensemble.generate_slices())


def test_an_ensemble_that_cannot_fit_is_refused_before_any_work(monkeypatch):
    atoms = gold_grid(repeats=2)
    ensemble = ats.Potential([atoms] * 50, sampling=0.05)
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "1M")
    with pytest.raises(ValueError, match="50 frozen-phonon configurations"):
        ats.PlaneWave(ENERGY).multislice(ensemble)
    with pytest.raises(ValueError, match="generate_slices"):
        ats.Potential(atoms, sampling=0.01).build()
