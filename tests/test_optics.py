"""optics/: aberrations, Scherzer focus, apertures, envelopes against direct averages, CTF."""

import json

import numpy as np
import pytest

from atomscope.core.energy import energy2wavelength
from atomscope.core.fft import fft2, ifft2
from atomscope.core.grid import Grid
from atomscope.images import Images
from atomscope.optics import (
    CTF,
    Aberrations,
    aperture,
    deflection_envelope,
    focal_nodes,
    scherzer_defocus,
    scherzer_point_resolution,
    spatial_envelope,
    temporal_envelope,
)
from atomscope.waves.multislice import fresnel_propagator
from atomscope.waves.waves import Waves

ENERGY = 300e3
CS = 6e6  # 0.6 mm
LAMBDA = energy2wavelength(ENERGY)


# ---------------------------------------------------------------- names and Scherzer focus


def test_aliases_map_to_symbols_with_the_defocus_sign():
    aberrations = Aberrations(defocus=50.0, Cs=1e6, C5=2e9, astigmatism=3.0, coma_angle=0.5)
    assert aberrations["C10"] == -50.0 and aberrations.defocus == 50.0
    assert aberrations["C30"] == 1e6 and aberrations.Cs == 1e6
    assert aberrations["C50"] == 2e9 and aberrations["C12"] == 3.0
    assert aberrations["phi21"] == 0.5
    assert aberrations == Aberrations(C10=-50.0, C30=1e6, C50=2e9, C12=3.0, phi21=0.5)


def test_unknown_name_lists_the_allowed_names():
    with pytest.raises(ValueError, match="C99") as error:
        CTF(energy=ENERGY, C99=3.0)
    assert "C56" in str(error.value) and "defocus" in str(error.value)


@pytest.mark.parametrize(("alias", "symbol"), [("defocus", "C10"), ("Cs", "C30"), ("C5", "C50")])
def test_alias_and_symbol_together_are_refused(alias, symbol):
    with pytest.raises(ValueError, match=f"{alias}.*{symbol}|{symbol}.*{alias}"):
        Aberrations(**{alias: 1.0, symbol: 1.0})


def test_aberrations_are_immutable():
    aberrations = Aberrations(C10=1.0)
    with pytest.raises(AttributeError):
        aberrations.C10 = 2.0
    assert aberrations.replace(defocus=5.0)["C10"] == -5.0 and aberrations["C10"] == 1.0


def test_scherzer_defocus_matches_the_seed_and_abtem_numbers():
    defocus = scherzer_defocus(CS, ENERGY)
    assert defocus == pytest.approx(412.4, abs=0.05)  # seed Fig 2.3: C10 = −41.24 nm
    assert CTF(energy=ENERGY, Cs=CS, defocus=defocus).aberrations["C10"] == pytest.approx(
        -412.4, abs=0.05
    )
    assert np.sqrt(1.5 * CS * LAMBDA) == pytest.approx(420.9, abs=0.05)  # abTEM's convention
    assert scherzer_defocus(-CS, ENERGY) == pytest.approx(-412.4, abs=0.05)  # negative-Cs mirror
    with pytest.raises(ValueError, match="Cs"):
        scherzer_defocus(0.0, ENERGY)


def test_point_resolution_at_scherzer_matches_the_closed_form():
    defocus = scherzer_defocus(CS, ENERGY)
    ctf = CTF(energy=ENERGY, Cs=CS, defocus=defocus)
    # χ = πλk²(½Csλ²k² − D) = 0  ⇒  k_p² = 2D/(Csλ²)
    k_p = np.sqrt(2 * defocus / (CS * LAMBDA**2))
    assert ctf.point_resolution() == pytest.approx(1 / k_p, rel=1e-9)
    assert scherzer_point_resolution(CS, ENERGY) == pytest.approx(1 / k_p, rel=1e-9)
    assert 1 / k_p == pytest.approx(CS**0.25 * LAMBDA**0.75 / np.sqrt(2.4), rel=1e-12)
    assert 1 / k_p == pytest.approx(1.679, abs=5e-4)
    # the textbook 0.66 Cs^¼ λ^¾ (D ≈ 1.15 √(Csλ)) is 2 % coarser than the 1.2 convention
    assert 0.66 * CS**0.25 * LAMBDA**0.75 / (1 / k_p) == pytest.approx(1.0225, abs=1e-3)


def test_scherzer_passband_has_one_sign_up_to_the_point_resolution():
    ctf = CTF(energy=ENERGY, Cs=CS, defocus=scherzer_defocus(CS, ENERGY))
    k_p = 1 / ctf.point_resolution()
    inside = ctf.radial_profile(np.linspace(1e-3, 0.999 * k_p, 2000))
    assert np.all(inside.sin_chi < 0)  # atoms dark at underfocus: I ≈ 1 + 2σV ∗ sin χ
    beyond = ctf.radial_profile(np.linspace(1.001 * k_p, 1.05 * k_p, 50))
    assert np.all(beyond.sin_chi > 0)


def test_ctf_zeros_sit_where_chi_is_a_multiple_of_pi():
    defocus = 450.0  # χ stays above −π before its first zero (D < √(2 Cs λ) = 486 Å)
    ctf = CTF(energy=ENERGY, Cs=CS, defocus=defocus)
    # ½ Cs λ³ u² − D λ u − n = 0 for u = k² (χ = nπ)
    n = np.arange(0, 6)
    u = (defocus * LAMBDA + np.sqrt((defocus * LAMBDA) ** 2 + 2 * CS * LAMBDA**3 * n)) / (
        CS * LAMBDA**3
    )
    zeros = np.sqrt(u)
    profile = ctf.radial_profile(zeros)
    np.testing.assert_allclose(profile.chi, n * np.pi, atol=1e-9)
    np.testing.assert_allclose(profile.sin_chi, 0, atol=1e-9)
    middles = ctf.radial_profile((zeros[:-1] + zeros[1:]) / 2).sin_chi
    assert np.all(np.sign(middles[1:]) == -np.sign(middles[:-1]))
    assert ctf.point_resolution() == pytest.approx(1 / zeros[0], rel=1e-9)


# ---------------------------------------------------------------- CTF on a grid


def test_pure_c10_is_the_fresnel_propagator():
    grid = Grid(gpts=(48, 40), sampling=0.1)
    dz = 37.5  # C10 = +Δz: the lens acts as free-space propagation by +Δz (overfocus)
    ctf = CTF(energy=ENERGY, C10=dz).evaluate(grid)
    np.testing.assert_allclose(ctf, fresnel_propagator(grid, ENERGY, dz), atol=2e-6)
    expected = np.exp(-1j * np.pi * LAMBDA * dz * grid.frequency_squared())
    np.testing.assert_allclose(ctf, expected, atol=2e-6)


def test_evaluate_is_complex64_fft_order_and_matches_the_radial_profile():
    grid = Grid(gpts=64, sampling=0.1)
    ctf = CTF(
        energy=ENERGY,
        Cs=CS,
        defocus=400.0,
        semiangle_cutoff=25,
        focal_spread=30,
        angular_spread=0.3,
    )
    array = ctf.evaluate(grid)
    assert array.dtype == np.complex64 and array.shape == (64, 64)
    assert array[0, 0] == 1
    kx = grid.frequencies()[0][:32]
    profile = ctf.radial_profile(kx)
    np.testing.assert_allclose(-array[:32, 0].imag, profile.sin_chi, atol=1e-6)
    np.testing.assert_allclose(array[:32, 0].real, profile.cos_chi, atol=1e-6)
    assert np.abs(array).max() <= 1 + 1e-6


def test_hard_and_soft_apertures():
    grid = Grid(gpts=128, sampling=0.05)
    k = np.sqrt(grid.frequency_squared())
    cutoff = 20.0  # mrad
    hard = np.abs(CTF(energy=ENERGY, semiangle_cutoff=cutoff).evaluate(grid))
    inside = LAMBDA * k <= cutoff * 1e-3
    assert np.all(hard[inside] == 1) and np.all(hard[~inside] == 0)
    soft = np.abs(CTF(energy=ENERGY, semiangle_cutoff=cutoff, soft=True).evaluate(grid))
    pixel = LAMBDA / grid.extent[0]  # one reciprocal pixel as an angle [rad]
    edge = (soft > 1e-6) & (soft < 1 - 1e-6)
    assert edge.any() and np.all(np.abs(LAMBDA * k[edge] - cutoff * 1e-3) < pixel / 2 + 1e-12)
    # the centred linear edge keeps the transmitted area π α_c²
    area = np.pi * (cutoff * 1e-3 / pixel) ** 2
    assert soft.sum() == pytest.approx(area, rel=0.01)
    wide = aperture(np.array([19.0, 20.0, 21.0]) * 1e-3, cutoff, taper=2.0)
    np.testing.assert_allclose(wide, [1.0, 0.5, 0.0])


# ---------------------------------------------------------------- envelopes vs direct averages


def _tilt_average(aberrations, k, beta, nodes=80):
    """⟨exp(−iχ(k + k_β))⟩ over p(k_β) = exp(−k_β²/k_s²)/(π k_s²), k_s = β/λ (Eqs 2.13–2.14)."""
    x, w = np.polynomial.hermite.hermgauss(nodes)
    k_s = beta * 1e-3 / LAMBDA
    weights = w[:, None] * w[None, :] / np.pi
    chi = aberrations.chi(k[0] + k_s * x[:, None], k[1] + k_s * x[None, :], LAMBDA)
    return np.sum(weights * np.exp(-1j * chi))


@pytest.mark.parametrize("k", [(0.7, 0.2), (0.1, -0.45), (-0.5, -0.6)])
def test_spatial_envelope_is_the_small_beta_limit_of_the_tilt_average(k):
    aberrations = Aberrations(Cs=CS, defocus=412.4, C12=20.0, phi12=0.3, C23=1e3, phi23=1.0)
    exponent = -np.log(spatial_envelope(aberrations, *k, LAMBDA, angular_spread=1.0))
    # −ln|⟨⟩| / β² → |∂χ/∂k|²/(4λ²): dimensionless, the factor 4 and β² both checked;
    # the linearisation error of Eq 2.15 shrinks as β²
    for beta, tolerance in ((0.01, 2e-4), (0.05, 4e-3)):
        average = _tilt_average(aberrations, k, beta)
        assert -np.log(np.abs(average)) / beta**2 == pytest.approx(exponent, rel=tolerance)
    # at a realistic β the quasi-coherent envelope is still within 0.5 %
    es = spatial_envelope(aberrations, *k, LAMBDA, angular_spread=0.3)
    assert np.abs(_tilt_average(aberrations, k, 0.3)) == pytest.approx(es, abs=5e-3)


def test_spatial_envelope_equals_kirklands_form_for_defocus_and_cs():
    k = np.linspace(0, 1.2, 50)
    beta, defocus = 0.5, 412.4
    es = spatial_envelope(Aberrations(Cs=CS, defocus=defocus), k, 0.0, LAMBDA, beta)
    # Kirkland (2010) ch. 3: exp(−(πβ/λ)² (Csλ³k³ − Δf λ k)²)
    kirkland = np.exp(
        -((np.pi * beta * 1e-3 / LAMBDA) ** 2) * (CS * LAMBDA**3 * k**3 - defocus * LAMBDA * k) ** 2
    )
    np.testing.assert_allclose(es, kirkland, rtol=1e-12)


def test_temporal_envelope_is_the_average_over_exp_minus_delta2_over_width2():
    focal_spread = 30.0
    k = np.array([0.2, 0.5, 0.8, 1.1])
    delta = np.linspace(-10 * focal_spread, 10 * focal_spread, 40001)
    p = np.exp(-(delta**2) / focal_spread**2) / (np.sqrt(np.pi) * focal_spread)
    phase = np.exp(-1j * np.pi * LAMBDA * k[:, None] ** 2 * delta[None, :])
    average = np.trapezoid(p * phase, delta, axis=1)
    et = temporal_envelope(k**2, LAMBDA, focal_spread)
    np.testing.assert_allclose(average.real, et, atol=1e-10)
    np.testing.assert_allclose(average.imag, 0, atol=1e-10)
    # reading Δ as the standard deviation instead would damp much harder
    p_rms = np.exp(-(delta**2) / (2 * focal_spread**2)) / (np.sqrt(2 * np.pi) * focal_spread)
    assert np.trapezoid(p_rms * phase[-1], delta).real < 0.5 * et[-1]


def test_focal_nodes_reproduce_the_gaussian_moments():
    offsets, weights = focal_nodes(30.0, 7)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.sum(weights * offsets) == pytest.approx(0.0, abs=1e-9)
    assert np.sum(weights * offsets**2) == pytest.approx(30.0**2 / 2, rel=1e-12)
    assert np.sum(weights * offsets**4) == pytest.approx(3 * 30.0**4 / 4, rel=1e-12)


def _weak_phase_images(ctf, grid, strength, nodes):
    """Quasi-coherent image and the incoherent Gauss–Hermite focal sum of a weak phase object."""
    rng = np.random.default_rng(1)
    potential = np.real(
        ifft2(fft2(rng.normal(size=grid.gpts)) * np.exp(-grid.frequency_squared() / 0.5))
    )
    potential /= np.abs(potential).max()
    spectrum = fft2(np.exp(1j * strength * potential).astype(np.complex64))
    coherent = np.abs(ifft2(spectrum * ctf.evaluate(grid))) ** 2
    arrays, weights = ctf.evaluate_focal_series(grid, nodes)
    incoherent = np.tensordot(weights, np.abs(ifft2(spectrum[None] * arrays)) ** 2, axes=1)
    return coherent, incoherent


def test_focal_series_converges_to_the_quasi_coherent_envelope_for_a_weak_phase_object():
    grid = Grid(gpts=96, sampling=0.1)
    ctf = CTF(energy=ENERGY, Cs=CS, defocus=412.4, focal_spread=30, semiangle_cutoff=30)
    errors = []
    for strength in (0.04, 0.01):
        coherent, incoherent = _weak_phase_images(ctf, grid, strength, nodes=12)
        contrast = coherent - coherent.mean()
        errors.append(np.linalg.norm(incoherent - coherent) / np.linalg.norm(contrast))
    # the difference is the (non-linear) second-order term: it shrinks ∝ strength
    assert errors[1] < 1e-3 and errors[1] < errors[0] / 3
    _, few = _weak_phase_images(ctf, grid, 0.04, nodes=8)
    _, many = _weak_phase_images(ctf, grid, 0.04, nodes=16)
    assert np.abs(few - many).max() < 1e-5  # the Gauss–Hermite sum has converged


def test_deflection_envelope_equals_the_average_of_shifted_images():
    sampling, sigma_px = 0.05, 3.0
    sigma = sigma_px * sampling  # 0.15 Å standard deviation per axis
    rng = np.random.default_rng(3)
    image = Images(1 + 0.3 * rng.random((64, 64)), sampling)
    # direct average over integer shifts weighted by the Gaussian exp(−s²/(2σ²)) per axis
    shifts = np.arange(-15, 16)
    w = np.exp(-(shifts**2) / (2 * sigma_px**2))
    w /= w.sum()
    rows = sum(
        wx * np.roll(image.array.astype(float), s, axis=0) for wx, s in zip(w, shifts, strict=True)
    )
    direct = sum(wy * np.roll(rows, s, axis=1) for wy, s in zip(w, shifts, strict=True))
    blurred = CTF(energy=ENERGY, deflection=sigma).apply_deflection(image)
    np.testing.assert_allclose(blurred.array, direct, atol=1e-5)
    assert blurred.metadata["deflection"] == sigma
    # the seed's Eq 2.19 read with k in 1/Å (no 2π) would hardly blur at all
    literal = np.real(
        ifft2(fft2(image.array) * np.exp(-(sigma**2) * image.grid.frequency_squared() / 2))
    )
    assert np.abs(literal - direct).max() > 20 * np.abs(blurred.array - direct).max()
    assert deflection_envelope(1.0, 0.25) == pytest.approx(np.exp(-2 * np.pi**2 / 16))


# ---------------------------------------------------------------- the lens step on Waves


def test_image_applies_ctf_then_deflection_for_both_focal_integrations():
    grid = Grid(gpts=64, sampling=0.1)
    rng = np.random.default_rng(0)
    wave = Waves.from_array(np.exp(0.05j * rng.random(grid.gpts)), grid.sampling, ENERGY)
    settings = dict(energy=ENERGY, Cs=CS, defocus=412.4, focal_spread=30, deflection=0.2)
    quasi = CTF(**settings).image(wave)
    exact = CTF(**settings, focal_integration="gauss_hermite", focal_nodes=10).image(wave)
    without = CTF(**{**settings, "deflection": 0.0}).image(wave)
    assert quasi.array.shape == (64, 64) and quasi.metadata["deflection"] == 0.2
    assert quasi.array.mean() == pytest.approx(without.array.mean(), rel=1e-5)
    assert quasi.array.std() < 0.9 * without.array.std()
    assert np.abs(quasi.array - exact.array).max() < 0.05 * np.ptp(quasi.array)


def test_parameters_round_trip_and_plot_marks_the_point_resolution():
    ctf = CTF(
        energy=ENERGY,
        Cs=CS,
        defocus=412.4,
        focal_spread=30,
        semiangle_cutoff=20,
        C12=5.0,
        phi12=0.1,
    )
    parameters = json.loads(json.dumps(ctf.parameters()))
    assert parameters["C10"] == -412.4 and parameters["phi12"] == 0.1
    assert (
        CTF(**{k: v for k, v in parameters.items() if v is not None}).parameters()
        == ctf.parameters()
    )
    fig = ctf.plot(max_k=1.0)
    lines = [line for line in fig.axes[0].lines if np.ptp(line.get_xdata()) == 0]
    assert any(line.get_xdata()[0] == pytest.approx(1 / ctf.point_resolution()) for line in lines)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"energy": 0.0}, "energy"),
        ({"energy": -3e5}, "energy"),
        ({"energy": float("nan")}, "energy"),
        ({"semiangle_cutoff": 0.0}, "semiangle_cutoff"),
        ({"semiangle_cutoff": float("nan")}, "semiangle_cutoff"),
        ({"focal_spread": -1.0}, "focal_spread"),
        ({"angular_spread": -0.1}, "angular_spread"),
        ({"deflection": -0.2}, "deflection"),
        ({"deflection": float("nan")}, "deflection"),
        ({"Cs": float("nan")}, "Cs"),
        ({"aperture_taper": 1.0}, "aperture_taper"),
        ({"soft": True, "aperture_taper": 0.0}, "aperture_taper"),
        ({"focal_integration": "exact"}, "focal_integration"),
        ({"focal_nodes": 0}, "focal_nodes"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CTF(**{"energy": ENERGY, **kwargs})


def test_evaluate_refuses_a_non_grid():
    with pytest.raises(TypeError, match="grid"):
        CTF(energy=ENERGY).evaluate((64, 64))
