"""Focal-series exit-wave reconstruction (issue #16) on atomscope's own simulations."""

import numpy as np
import pytest
from ase.cluster.cubic import FaceCenteredCubic
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import fourier_shift

from atomscope import CTF, PlaneWave, Potential, Waves
from atomscope.detection import Camera
from atomscope.optics.series import defocus_series
from atomscope.reconstruction.focal_series import (
    aperture_limited,
    focal_series_ewr,
    linear_ewr,
    wave_error,
)

ENERGY = 300e3
SAMPLING = 0.05
DEFOCI = np.linspace(-300, 650, 20)
DOSE = 1e4  # [e/Å²]


def issue_lens(**changes):
    """The issue's microscope: 300 keV, Cs 0.6 mm, focal spread 30 Å, 20 mrad hard aperture."""
    return CTF(
        **{
            "energy": ENERGY,
            "Cs": 6e6,
            "focal_spread": 30,
            "semiangle_cutoff": 20,
            **changes,
        }
    )


def au_particle(layers):
    particle = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], layers)
    particle.rotate(45, "y")
    particle.center(vacuum=2)
    return particle


@pytest.fixture(scope="module")
def au_wave():
    """The seed's Au nanoparticle (675 atoms, the demo's) at 0.05 Å: a 600×576 grid."""
    potential = Potential(au_particle([6, 9, 5]), sampling=SAMPLING, slice_thickness=1.0)
    return PlaneWave(ENERGY).multislice(potential)


@pytest.fixture(scope="module")
def small_wave():
    """A 87-atom Au particle in a 12.8 Å cell (256² pixels) for the slower variants."""
    particle = au_particle([3, 4, 3])
    particle.set_cell([12.8, 12.8, particle.cell[2, 2]])
    particle.center(axis=(0, 1))
    return PlaneWave(ENERGY).multislice(Potential(particle, sampling=SAMPLING, slice_thickness=1))


@pytest.fixture(scope="module")
def au_series(au_wave):
    return defocus_series(au_wave, issue_lens(), DEFOCI)


def noisy(series, dose=DOSE, seed=0):
    """Poisson counts at ``dose`` through `Camera`, back in units of the incident beam."""
    camera = Camera(sampling=series.sampling, dose=dose)
    counts = camera.detect(series, rng=seed)
    assert counts.shape == series.shape
    return counts.array / (dose * np.prod(counts.sampling))


def test_noise_free_series_of_au_particle_within_3_percent(au_wave, au_series):
    truth = aperture_limited(au_wave, issue_lens())
    result = focal_series_ewr(au_series, ctf=issue_lens(), max_iter=200)
    assert result.exit_wave.array.shape == au_wave.array.shape
    assert result.converged
    error = wave_error(result.exit_wave, truth)
    assert error <= 0.03
    # the iteration earns it: the linear first guess alone is several times worse
    assert wave_error(linear_ewr(au_series, ctf=issue_lens()), truth) > 3 * error


def test_noisy_series_within_10_percent_and_error_falls_with_more_images(au_wave, au_series):
    truth = aperture_limited(au_wave, issue_lens())
    images = noisy(au_series)
    errors = {}
    for count in (5, 10, 20):
        chosen = np.linspace(0, len(DEFOCI) - 1, count).round().astype(int)
        result = focal_series_ewr(
            images[chosen], DEFOCI[chosen], issue_lens(), au_series.sampling, max_iter=200
        )
        errors[count] = wave_error(result.exit_wave, truth)
    assert errors[20] <= 0.10
    assert errors[5] > errors[10] > errors[20]


def test_error_falls_with_iterations_and_allen_method_converges(small_wave):
    lens = issue_lens()
    series = defocus_series(small_wave, lens, DEFOCI)
    truth = aperture_limited(small_wave, lens)
    errors = [
        wave_error(focal_series_ewr(series, ctf=lens, max_iter=n, method="allen").exit_wave, truth)
        for n in (2, 20, 200)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] <= 0.03
    allen = focal_series_ewr(series, ctf=lens, max_iter=200, method="allen")
    assert np.all(np.diff(allen.residuals) <= 1e-7)  # error reduction never increases the misfit
    lbfgs = focal_series_ewr(series, ctf=lens, max_iter=200)
    assert lbfgs.iterations < allen.iterations or not allen.converged
    assert wave_error(lbfgs.exit_wave, truth) < errors[2]


def test_band_grid_and_full_grid_find_the_same_wave(small_wave):
    lens = issue_lens()
    series = defocus_series(small_wave, lens, DEFOCI[::2])
    band = focal_series_ewr(series, ctf=lens, max_iter=150)
    full = focal_series_ewr(series, ctf=lens, max_iter=150, working_grid="full")
    assert band.settings["working_gpts"] < full.settings["working_gpts"]
    assert wave_error(band.exit_wave, full.exit_wave) < 2e-3
    assert wave_error(full.exit_wave, aperture_limited(small_wave, lens)) < 2e-3


def shifted(images, shifts_angstrom, sampling):
    return np.stack(
        [
            np.fft.ifft2(fourier_shift(np.fft.fft2(image), shift / np.asarray(sampling))).real
            for image, shift in zip(images, shifts_angstrom, strict=True)
        ]
    )


def test_defocus_and_drift_are_refined_and_reported(au_wave):
    lens = issue_lens()
    rng = np.random.default_rng(1)
    defocus_errors = rng.uniform(-15, 15, len(DEFOCI))
    defocus_errors -= defocus_errors.mean()
    drifts = rng.uniform(-0.3, 0.3, (len(DEFOCI), 2))
    drifts -= drifts.mean(axis=0)
    true_defoci = DEFOCI + defocus_errors
    images = shifted(defocus_series(au_wave, lens, true_defoci).array, drifts, au_wave.sampling)
    truth = aperture_limited(au_wave, lens)
    sampling = au_wave.sampling
    plain = focal_series_ewr(images, DEFOCI, lens, sampling, max_iter=150)
    refined = focal_series_ewr(
        images, DEFOCI, lens, sampling, max_iter=150, refine_defocus=True, align=True
    )
    assert np.abs(refined.defoci - true_defoci).max() < 0.5
    assert np.abs(refined.shifts - drifts).max() < 0.02
    assert wave_error(refined.exit_wave, truth) < 0.01 < wave_error(plain.exit_wave, truth)


@settings(max_examples=8, deadline=None)
@given(
    strength=st.floats(0.002, 0.01),
    frequency=st.integers(1, 6),
    first=st.floats(-400, 0),
    step=st.floats(40, 120),
)
def test_linear_estimate_recovers_weak_phase_objects(strength, frequency, first, step):
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    phase = strength * (np.cos(frequency * x)[:, None] + np.sin((frequency + 1) * x)[None, :])
    wave = Waves(np.exp(1j * phase), 0.1, ENERGY)
    lens = CTF(energy=ENERGY, Cs=1e6, semiangle_cutoff=30, focal_spread=20)
    defoci = first + step * np.arange(6)
    estimate = linear_ewr(defocus_series(wave, lens, defoci), ctf=lens, wiener=0.0)
    truth = aperture_limited(wave, lens)
    # neglecting |φ|² leaves an error of order |φ|, relative to the scattered part
    assert wave_error(estimate, truth) < 0.5 * strength


@settings(max_examples=6, deadline=None)
@given(dx=st.integers(-20, 20), dy=st.integers(-20, 20))
def test_reconstruction_is_shift_equivariant(small_wave, dx, dy):
    lens = issue_lens()
    series = defocus_series(small_wave, lens, DEFOCI[::4]).array
    moved = np.roll(series, (dx, dy), axis=(1, 2))
    one = focal_series_ewr(series, DEFOCI[::4], lens, SAMPLING, max_iter=60).exit_wave.array
    two = focal_series_ewr(moved, DEFOCI[::4], lens, SAMPLING, max_iter=60).exit_wave.array
    assert wave_error(two, np.roll(one, (dx, dy), axis=(0, 1))) < 1e-3


def test_images_stack_carries_sampling_and_defoci(small_wave):
    lens = issue_lens()
    series = defocus_series(small_wave, lens, DEFOCI[::5])
    from_images = focal_series_ewr(series, ctf=lens, max_iter=5)
    from_arrays = focal_series_ewr(series.array, DEFOCI[::5], lens, SAMPLING, max_iter=5)
    np.testing.assert_array_equal(from_images.exit_wave.array, from_arrays.exit_wave.array)
    np.testing.assert_array_equal(from_images.defoci, DEFOCI[::5])
    assert from_images.exit_wave.sampling == (SAMPLING, SAMPLING)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a, d, c: (a[:1], d[:1], c), "at least 2 images"),
        (
            lambda a, d, c: (a[:, :, :-1].reshape(-1)[: a[0].size].reshape(a[0].shape), d, c),
            "stack",
        ),
        (lambda a, d, c: (a, d[:-1], c), "one defocus per image"),
        (lambda a, d, c: (a, np.r_[d[:-1], d[0]], c), "distinct"),
        (
            lambda a, d, c: (np.where(np.arange(a.size).reshape(a.shape) == 7, np.nan, a), d, c),
            "finite",
        ),
        (lambda a, d, c: (a - 2 * a.max(), d, c), ">= 0|≥ 0"),
        (lambda a, d, c: (a, d, issue_lens(semiangle_cutoff=float("inf"))), "band limit"),
        (lambda a, d, c: (a, d, issue_lens(semiangle_cutoff=200)), "band limit"),
        (lambda a, d, c: (a, d, issue_lens(focal_integration="gauss_hermite")), "quasi_coherent"),
        (lambda a, d, c: (a, d, issue_lens(deflection=0.3)), "deflection"),
    ],
)
def test_bad_input_is_refused_before_any_work(small_wave, change, message):
    lens = issue_lens()
    defoci = DEFOCI[::5]
    images = defocus_series(small_wave, lens, defoci).array
    images, defoci, lens = change(images, defoci, lens)
    with pytest.raises(ValueError, match=message):
        focal_series_ewr(images, defoci, lens, SAMPLING)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("max_iter", 0, "max_iter"),
        ("tolerance", -1.0, "tolerance"),
        ("defocus_search", 0.0, "defocus_search"),
        ("max_drift", -1.0, "max_drift"),
        ("wiener", -0.1, "wiener"),
        ("working_grid", "half", "working_grid"),
        ("method", "gs", "method"),
    ],
)
def test_bad_options_name_the_argument(small_wave, option, value, message):
    lens = issue_lens()
    images = defocus_series(small_wave, lens, DEFOCI[::5])
    with pytest.raises(ValueError, match=message):
        focal_series_ewr(images, ctf=lens, **{option: value})
