"""The conventions of DESIGN.md, checked end to end through the public API.

Units Å / eV / mrad, arrays [x, y], defocus = −C10 (positive = underfocus), the lens
T = exp(−iχ) (seed Eq 2.12), plane waves of amplitude 1, and the weak-phase-object image.
"""

import numpy as np
import pytest
from ase import Atoms

import atomscope as ats

ENERGY = 300e3


def test_arrays_are_indexed_x_then_y():
    atoms = Atoms("Au", positions=[(2.0, 5.0, 1.0)], cell=[10.0, 8.0, 2.0])
    projected = ats.Potential(atoms, sampling=0.1, slice_thickness=2.0).project()
    assert projected.shape == (100, 80)
    assert np.unravel_index(np.argmax(projected), projected.shape) == (20, 50)


def test_plane_wave_has_amplitude_one_per_pixel():
    wave = ats.PlaneWave(ENERGY).build(ats.Grid(gpts=(12, 10), sampling=0.2))
    np.testing.assert_array_equal(np.abs(wave.array), 1.0)


def test_units_scherzer_defocus_is_positive_underfocus_in_angstrom():
    # seed: Scherzer focus −41.25 nm at 300 kV, Cs 0.6 mm (its Δf = C10)
    defocus = ats.scherzer_defocus(Cs=6e6, energy=ENERGY)
    assert defocus == pytest.approx(412.4, abs=0.1)
    assert ats.CTF(energy=ENERGY, defocus=defocus).aberrations["C10"] == -defocus


def test_overfocus_equals_forward_propagation():
    # T = exp(−iχ) with χ = πλC10 k²: C10 = +Δz (defocus = −Δz) is propagation by +Δz
    rng = np.random.default_rng(0)
    wave = ats.Waves(
        rng.standard_normal((32, 24)) + 1j * rng.standard_normal((32, 24)), 0.1, ENERGY
    )
    lens = ats.CTF(energy=ENERGY, defocus=-50.0)
    np.testing.assert_allclose(wave.apply_ctf(lens).array, wave.propagate(50.0).array, atol=1e-5)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("defocus", [ats.scherzer_defocus(6e6, ENERGY), -200.0])
@pytest.mark.parametrize("harmonic", [3, 5, 9])
def test_weak_phase_object_image_is_one_plus_two_sigma_v_sin_chi(axis, defocus, harmonic):
    # Kirkland (2010) Eq 6.38: I = 1 + 2σ v_z ⊗ F⁻¹[sin χ] for a weak phase object; a cosine
    # potential of frequency g gives I − 1 = 2σV0 sin χ(g) cos(2πg·x) (atoms dark where
    # sin χ < 0, i.e. in the Scherzer passband).
    n, sampling, v0 = 64, 0.1, 10.0
    g = harmonic / (n * sampling)
    x = np.arange(n) * sampling
    profile = np.cos(2 * np.pi * g * x)
    potential = v0 * (profile[:, None] if axis == 0 else profile[None, :]) * np.ones((n, n))
    sigma = ats.energy2sigma(ENERGY)
    exit_wave = ats.Waves.from_array(np.exp(1j * sigma * potential), sampling, ENERGY)
    lens = ats.CTF(energy=ENERGY, Cs=6e6, defocus=defocus)
    image = exit_wave.apply_ctf(lens).intensity().array
    chi = lens.aberrations.chi(g, 0.0, ats.energy2wavelength(ENERGY))
    expected = 1 + 2 * sigma * v0 * np.sin(chi) * (
        profile[:, None] if axis == 0 else profile[None, :]
    )
    np.testing.assert_allclose(
        image, np.broadcast_to(expected, image.shape), atol=0.03 * 2 * sigma * v0
    )


def test_light_atom_is_dark_at_scherzer_defocus():
    atoms = Atoms("C", positions=[(5.0, 5.0, 1.0)], cell=[10.0, 10.0, 2.0])
    potential = ats.Potential(atoms, sampling=0.1, slice_thickness=2.0)
    exit_wave = ats.PlaneWave(ENERGY).multislice(potential)
    lens = ats.CTF(
        energy=ENERGY, Cs=6e6, defocus=ats.scherzer_defocus(6e6, ENERGY), semiangle_cutoff=20
    )
    image = lens.image(exit_wave).array
    assert np.unravel_index(np.argmin(image), image.shape) == (50, 50)
    assert image[50, 50] < 1 < image.max()


def test_the_design_api_path_equals_ctf_image_with_deflection():
    rng = np.random.default_rng(1)
    wave = ats.Waves(np.exp(0.3j * rng.standard_normal((40, 40))), 0.1, ENERGY)
    for integration in ("quasi_coherent", "gauss_hermite"):
        lens = ats.CTF(
            energy=ENERGY,
            Cs=6e6,
            defocus=400.0,
            focal_spread=30,
            deflection=0.2,
            focal_integration=integration,
        )
        by_design = wave.apply_ctf(lens).intensity().array
        np.testing.assert_allclose(by_design, lens.image(wave).array, rtol=1e-6)
        sharp = ats.CTF(
            energy=ENERGY, Cs=6e6, defocus=400.0, focal_spread=30, focal_integration=integration
        )
        assert by_design.std() < wave.apply_ctf(sharp).intensity().array.std()
