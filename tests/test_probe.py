"""waves/probe.py: the STEM/CBED probe — norm, position, aberration signs, aperture."""

import numpy as np
import pytest
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import j1

from atomscope.core.energy import energy2wavelength
from atomscope.core.grid import Grid
from atomscope.optics.ctf import CTF
from atomscope.potentials.projected import Potential
from atomscope.waves.probe import Probe

GRID = Grid(gpts=96, sampling=0.1)


@settings(max_examples=20, deadline=None)
@given(
    st.floats(5, 30),
    st.floats(-200, 200),
    st.floats(-1e5, 1e5),
    st.tuples(st.floats(0, 9.6), st.floats(0, 9.6)),
)
def test_probe_is_normalised_for_any_aperture_aberrations_and_position(alpha, df, cs, position):
    waves = Probe(200e3, alpha, defocus=df, Cs=cs).build(GRID, position)
    assert float(np.sum(np.abs(waves.array) ** 2)) == pytest.approx(1.0, rel=1e-5)


def test_norm_is_conserved_through_vacuum():
    vacuum = Potential(Atoms(cell=[9.6, 9.6, 40.0]), gpts=96, slice_thickness=2.0)
    exit_wave = Probe(200e3, 20, defocus=30).multislice(vacuum, position=(4.0, 5.0))
    assert float(np.sum(np.abs(exit_wave.array) ** 2)) == pytest.approx(1.0, rel=1e-5)


@settings(max_examples=20, deadline=None)
@given(st.floats(0, 9.6), st.floats(0, 9.6), st.floats(-100, 100))
def test_probe_at_p_is_centred_at_p(x, y, defocus):
    # The intensity of a round-aberration probe is centrosymmetric about its centre, so by the
    # shift theorem the phase of its first Fourier coefficient is −2π p / extent exactly (the
    # intensity's band limit 2 α_c / λ = 1.6 /Å is below the grid's Nyquist 5 /Å).
    intensity = np.abs(Probe(200e3, 20, defocus=defocus).build(GRID, (x, y)).array) ** 2
    spectrum = np.fft.fft2(intensity)
    extent = GRID.extent[0]
    for measured, true in ((spectrum[1, 0], x), (spectrum[0, 1], y)):
        expected = np.exp(-2j * np.pi * true / extent)
        assert measured / abs(measured) == pytest.approx(expected, abs=1e-4)


def test_batch_of_positions_equals_single_builds():
    probe = Probe(200e3, 15, Cs=1e4)
    positions = np.array([[1.0, 2.0], [5.5, 3.25], [9.0, 9.0]])
    batch = probe.build(GRID, positions)
    assert batch.array.shape == (3, *GRID.gpts)
    for position, wave in zip(positions, batch.array, strict=True):
        np.testing.assert_allclose(wave, probe.build(GRID, position).array, atol=1e-6)


def test_underfocused_probe_focuses_after_propagating_its_defocus():
    # defocus = −C10 > 0 is underfocus (DESIGN): the crossover lies a distance `defocus` below
    # the entrance plane, so propagating by it gives the in-focus probe.
    focused = Probe(200e3, 20).build(GRID).array
    under = Probe(200e3, 20, defocus=80.0).build(GRID)
    np.testing.assert_allclose(under.propagate(80.0).array, focused, atol=2e-5)
    assert np.abs(under.array).max() < 0.5 * np.abs(focused).max()
    vacuum = Potential(Atoms(cell=[*GRID.extent, 80.0]), gpts=96, slice_thickness=10.0)
    exit_wave = Probe(200e3, 20, defocus=80.0).multislice(vacuum)
    np.testing.assert_allclose(exit_wave.array, focused, atol=2e-5)


def test_probe_spectrum_is_the_ctf_of_the_same_aberrations():
    aberrations = {"defocus": 50.0, "Cs": 2e4, "astigmatism": 10.0, "astigmatism_angle": 0.3}
    probe = Probe(300e3, 25, soft=False, **aberrations)
    ctf = CTF(300e3, semiangle_cutoff=25, **aberrations).evaluate(GRID)
    spectrum = probe.fourier_array(GRID)
    scale = spectrum[0, 0] / ctf[0, 0]
    np.testing.assert_allclose(spectrum, scale * ctf, atol=1e-5 * abs(scale))


def test_hard_aperture_cut_is_exact_in_fourier_space():
    grid = Grid(gpts=128, sampling=0.08)
    probe = Probe(200e3, 18, soft=False)
    pattern = probe.build(grid).diffraction_pattern(max_angle=40).array
    angles = [
        (np.arange(n) - n // 2) * energy2wavelength(200e3) / grid.extent[0] * 1e3
        for n in pattern.shape
    ]
    alpha = np.hypot(angles[0][:, None], angles[1][None, :])
    inside = alpha <= 18
    assert np.all(pattern[~inside] < 1e-12)
    np.testing.assert_allclose(pattern[inside], 1 / inside.sum(), rtol=1e-4)


def test_soft_aperture_tapers_over_one_pixel():
    grid = Grid(gpts=128, sampling=0.08)
    pattern = Probe(200e3, 18).build(grid).diffraction_pattern(max_angle=40)
    step = pattern.angular_sampling[0]
    ax, ay = pattern.angles()
    alpha = np.hypot(ax[:, None], ay[None, :])
    values = pattern.array / pattern.array.max()
    np.testing.assert_allclose(values[alpha < 18 - step / 2], 1.0, rtol=1e-4)
    assert np.all(values[alpha > 18 + step / 2] < 1e-10)
    edge = np.abs(alpha - 18) < step / 2
    np.testing.assert_allclose(np.sqrt(values[edge]), (18 - alpha[edge]) / step + 0.5, atol=1e-3)


def test_in_focus_hard_aperture_probe_is_an_airy_pattern():
    # |ψ(r)|² ∝ [2 J1(v) / v]², v = 2π α_c r / λ (Born & Wolf, Principles of Optics, §8.5.2)
    grid = Grid(gpts=512, sampling=0.05)
    alpha_c, energy = 20.0, 200e3
    wave = Probe(energy, alpha_c, soft=False).build(grid, (12.8, 12.8)).array
    profile = np.abs(wave[256:356, 256]) ** 2
    r = np.arange(100) * grid.sampling[0]
    v = 2 * np.pi * alpha_c * 1e-3 * r / energy2wavelength(energy)
    with np.errstate(invalid="ignore", divide="ignore"):
        airy = np.where(v > 0, (2 * j1(v) / v) ** 2, 1.0)
    np.testing.assert_allclose(profile / profile[0], airy, atol=0.01)


def test_bad_probe_input_is_refused():
    with pytest.raises(ValueError, match="semiangle_cutoff must be > 0"):
        Probe(200e3, 0)
    with pytest.raises(ValueError, match="unknown aberration 'focal_spread'"):
        Probe(200e3, 20, focal_spread=30)
    with pytest.raises(ValueError, match=r"positions must be \(x, y\)"):
        Probe(200e3, 20).build(GRID, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="grid must be an atomscope Grid"):
        Probe(200e3, 20).build((64, 64))
    vacuum = Potential(Atoms(cell=[9.6, 9.6, 2.0]), gpts=96, slice_thickness=1.0)
    with pytest.raises(ValueError, match="outside the cell"):
        Probe(200e3, 20).multislice(vacuum, position=(10.0, 1.0))
    with pytest.raises(ValueError, match=r"exceeds the maximum simulated angle 83\.60"):
        Probe(200e3, 200).multislice(vacuum)
