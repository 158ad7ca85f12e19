"""waves/: Waves, PlaneWave, free-space propagation and the multislice loop."""

import numpy as np
import pytest
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.core.energy import energy2sigma, energy2wavelength
from atomscope.core.grid import Grid
from atomscope.potentials.projected import Potential, PotentialSlice
from atomscope.waves.multislice import MultisliceStepper
from atomscope.waves.plane import PlaneWave
from atomscope.waves.waves import Waves


class GivenSlices:
    """A potential made of given arrays, for testing the loop on its own."""

    def __init__(self, arrays, sampling, thickness):
        self.arrays = np.asarray(arrays, dtype=np.float32)
        self.grid = Grid(gpts=self.arrays.shape[1:], sampling=sampling)
        self.gpts, self.sampling = self.grid.gpts, self.grid.sampling
        self.num_slices, self.thickness = len(self.arrays), thickness * len(self.arrays)
        self.slice_thickness = thickness
        self.projection, self.parametrization = "given", "given"

    def generate_slices(self):
        for index, array in enumerate(self.arrays):
            yield PotentialSlice(array, self.slice_thickness, index)


def test_vacuum_leaves_plane_wave_unchanged():
    potential = Potential(Atoms(cell=[6, 5, 10]), sampling=0.1, slice_thickness=0.5)
    exit_wave = PlaneWave(energy=200e3).multislice(potential)
    np.testing.assert_allclose(exit_wave.array, 1.0, atol=1e-6)
    assert exit_wave.array.dtype == np.complex64


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.floats(-500, 500))
def test_free_space_propagation_is_unitary_and_additive(seed, distance):
    rng = np.random.default_rng(seed)
    wave = Waves(rng.standard_normal((24, 20)) + 1j * rng.standard_normal((24, 20)), 0.2, 100e3)
    moved = wave.propagate(distance)
    norm = np.sum(np.abs(wave.array) ** 2)
    assert np.sum(np.abs(moved.array) ** 2) == pytest.approx(norm, rel=1e-4)
    back = moved.propagate(-distance)
    np.testing.assert_allclose(back.array, wave.array, atol=1e-4 * np.abs(wave.array).max())
    twice = wave.propagate(distance / 2).propagate(distance / 2)
    np.testing.assert_allclose(twice.array, moved.array, atol=1e-4 * np.abs(wave.array).max())


def test_fresnel_propagation_of_gaussian_beam_matches_analytic_spreading():
    # Paraxial Gaussian beam exp(−r²/w0²): w(z) = w0 √(1 + (z/z_R)²), z_R = π w0² / λ.
    energy, w0, sampling, n = 300e3, 2.0, 0.1, 256
    grid = Grid(gpts=n, sampling=sampling)
    x, y = grid.coordinates()
    r2 = (x[:, None] - n * sampling / 2) ** 2 + (y[None] - n * sampling / 2) ** 2
    wave = Waves(np.exp(-r2 / w0**2), sampling, energy)
    z = 1000.0
    intensity = np.abs(wave.propagate(z).array) ** 2
    measured = np.sqrt(2 * np.sum(intensity * r2) / np.sum(intensity))  # 1/e² intensity radius
    z_r = np.pi * w0**2 / energy2wavelength(energy)
    assert measured == pytest.approx(w0 * np.sqrt(1 + (z / z_r) ** 2), rel=2e-3)


def test_single_thin_phase_slice_gives_exp_i_sigma_v():
    rng = np.random.default_rng(3)
    grid_n = 64
    # a smooth potential well inside the band limit, so the aperture does not touch it
    kx = np.fft.fftfreq(grid_n)
    spectrum = rng.standard_normal((grid_n, grid_n)) * (np.hypot(kx[:, None], kx[None]) < 0.1)
    potential = 5 * np.real(np.fft.ifft2(spectrum)) / np.abs(np.fft.ifft2(spectrum)).max()
    given_potential = GivenSlices([potential], sampling=0.1, thickness=1e-9)
    exit_wave = PlaneWave(100e3).multislice(given_potential)
    expected = np.exp(1j * energy2sigma(100e3) * potential)
    np.testing.assert_allclose(exit_wave.array, expected, atol=2e-3)


def test_multislice_step_equals_explicit_formula():
    rng = np.random.default_rng(0)
    grid = Grid(gpts=(32, 40), sampling=0.1)
    stepper = MultisliceStepper(grid, 300e3)
    potential = rng.random((32, 40)).astype(np.float32) * 10
    transmission = stepper.transmission(potential).copy()
    wave = (rng.standard_normal((32, 40)) + 1j * rng.standard_normal((32, 40))).astype(np.complex64)
    expected = np.fft.ifft2(
        np.fft.fft2(transmission * wave)
        * np.exp(-1j * np.pi * energy2wavelength(300e3) * 0.5 * grid.frequency_squared())
        * grid.antialias_aperture()
    )
    actual = wave.copy()
    stepper.step(actual, transmission, stepper.propagator(0.5))
    np.testing.assert_allclose(actual, expected, atol=1e-4 * np.abs(expected).max())


@settings(max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=14), st.integers(0, 2**31))
def test_vacuum_slices_skipped_in_fourier_space_equal_full_steps(vacuum, seed):
    # run_multislice keeps the wave in Fourier space across vacuum slices (a repeated run as one
    # product of propagators); the result must equal one full step (t = 1) per slice.
    rng = np.random.default_rng(seed)
    arrays = [np.zeros((24, 20)) if empty else rng.random((24, 20)) * 30 for empty in vacuum]
    given_potential = GivenSlices(arrays, sampling=0.1, thickness=0.7)
    stepper = MultisliceStepper(given_potential.grid, 200e3)
    expected = np.ones((24, 20), dtype=np.complex64)
    for array in given_potential.arrays:
        stepper.step(expected, stepper.transmission(array).copy(), stepper.propagator(0.7))
    exit_wave = PlaneWave(200e3).multislice(given_potential)
    np.testing.assert_allclose(exit_wave.array, expected, atol=2e-5)


def test_a_repeated_vacuum_run_is_one_product_equal_to_its_propagators_one_by_one():
    grid = Grid(gpts=(24, 30), sampling=0.1)
    stepper = MultisliceStepper(grid, 300e3, tilt=(3.0, -2.0))
    rng = np.random.default_rng(4)
    spectrum = (rng.standard_normal((24, 30)) + 1j * rng.standard_normal((24, 30))).astype(
        np.complex64
    )
    run = (0.5, 0.5, 0.25)
    for normalized in (False, True, False, True):
        expected = spectrum * stepper.propagator(run[0], normalized)
        for thickness in run[1:]:
            expected *= stepper.propagator(thickness, normalized=False)
        actual = spectrum.copy()
        stepper.propagate_vacuum(actual, run, normalized)
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


@settings(max_examples=20, deadline=None)
@given(st.floats(1e-3, 5e3), st.floats(-100, 100), st.floats(-100, 100))
def test_fresnel_propagator_is_the_direct_formula(thickness, tilt_x, tilt_y):
    # the outer product of the x and y factors against exp(−iπλΔz k² − 2πiΔz k·tan θ) evaluated
    # on the whole grid (seed Eq 2.8, Kirkland 2010 Eq 6.99)
    from atomscope.waves.multislice import fresnel_propagator

    grid = Grid(gpts=(20, 18), sampling=0.2)
    kx, ky = grid.frequencies()
    wavelength = energy2wavelength(200e3)
    phase = -np.pi * wavelength * thickness * grid.frequency_squared() - 2 * np.pi * thickness * (
        kx[:, None] * np.tan(tilt_x * 1e-3) + ky[None, :] * np.tan(tilt_y * 1e-3)
    )
    actual = fresnel_propagator(grid, 200e3, thickness, (tilt_x, tilt_y))
    assert actual.dtype == np.complex64
    np.testing.assert_allclose(actual, np.exp(1j * phase), atol=2e-6)


def test_waves_made_from_waves_own_their_arrays():
    wave = PlaneWave(200e3).build(Grid(gpts=16, sampling=0.2))
    propagated = wave.propagate(10.0)
    propagated.array[...] = 0
    assert np.abs(wave.array).min() > 0.99
    assert not np.shares_memory(wave.array, wave.propagate(0.0).array)


@pytest.mark.parametrize("vacuum_last", [False, True])
def test_multislice_can_end_in_the_diffraction_plane(vacuum_last):
    from atomscope.waves.multislice import run_multislice

    rng = np.random.default_rng(3)
    arrays = [rng.random((24, 20)) * 30, np.zeros((24, 20)), rng.random((24, 20)) * 30]
    if vacuum_last:
        arrays.append(np.zeros((24, 20)))
    given_potential = GivenSlices(arrays, sampling=0.1, thickness=0.7)
    real = np.ones((2, 24, 20), dtype=np.complex64)
    run_multislice(real, given_potential, 200e3)
    spectrum = np.ones((2, 24, 20), dtype=np.complex64)
    run_multislice(spectrum, given_potential, 200e3, fourier_space=True)
    expected = np.fft.fft2(real) / real[0].size
    np.testing.assert_allclose(spectrum, expected, atol=2e-6 * np.abs(expected).max())


def test_multislice_holds_a_fixed_number_of_slices_whatever_the_thickness():
    import weakref

    from ase.build import bulk

    potential = Potential(bulk("Si", cubic=True) * (1, 1, 40), sampling=0.1)
    counts = {"alive": 0, "most": 0, "seen": 0}
    generate = potential.generate_slices

    def released():
        counts["alive"] -= 1

    def counting_slices(*args, **kwargs):
        for potential_slice in generate(*args, **kwargs):
            counts["alive"] += 1
            counts["seen"] += 1
            counts["most"] = max(counts["most"], counts["alive"])
            weakref.finalize(potential_slice.array, released)
            yield potential_slice

    potential.generate_slices = counting_slices
    PlaneWave(energy=300e3).multislice(potential)
    assert counts["seen"] == potential.num_slices > 400
    # slices are consumed one at a time and released (peak memory independent of thickness)
    assert counts["most"] <= 2


def test_transmission_function_is_band_limited_to_two_thirds_nyquist():
    grid = Grid(gpts=64, sampling=0.1)
    stepper = MultisliceStepper(grid, 300e3)
    spiky = np.zeros((64, 64), dtype=np.float32)
    spiky[10, 20] = 500
    spectrum = np.fft.fft2(stepper.transmission(spiky))
    k = np.sqrt(grid.frequency_squared())
    assert np.abs(spectrum[k > 2 / 3 * grid.nyquist[0]]).max() < 1e-3 * np.abs(spectrum).max()


def test_waves_validation():
    with pytest.raises(ValueError, match="energy"):
        Waves(np.ones((4, 4)), 0.1, -1)
    with pytest.raises(ValueError, match="finite"):
        Waves(np.full((4, 4), np.nan), 0.1, 300e3)
    with pytest.raises(ValueError, match="sampling"):
        Waves(np.ones((4, 4)), 0.0, 300e3)
    potential = Potential(Atoms(cell=[4, 4, 2]), sampling=0.5, slice_thickness=1)
    with pytest.raises(ValueError, match="grid"):
        Waves(np.ones((5, 5)), 0.5, 300e3).multislice(potential)
