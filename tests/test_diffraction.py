"""waves/diffraction.py: Waves.diffraction_pattern and DiffractionPatterns."""

import numpy as np
import pytest
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import jv

from atomscope.core.energy import energy2wavelength
from atomscope.core.grid import Grid
from atomscope.potentials.projected import Potential
from atomscope.waves.diffraction import DiffractionPatterns, max_simulated_angle
from atomscope.waves.plane import PlaneWave
from atomscope.waves.probe import Probe
from atomscope.waves.waves import Waves


def test_plane_wave_in_vacuum_puts_everything_in_the_centre_pixel():
    vacuum = Potential(Atoms(cell=[6.4, 4.8, 2.0]), gpts=(64, 48), slice_thickness=1.0)
    pattern = PlaneWave(200e3).multislice(vacuum).diffraction_pattern()
    centre = tuple(n // 2 for n in pattern.shape)
    assert pattern.array[centre] == pytest.approx(64 * 48, rel=1e-5)  # Σ|ψ|² (Parseval)
    assert pattern.array.sum() == pytest.approx(pattern.array[centre], rel=1e-5)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.1, 3.0), st.integers(2, 6))
def test_phase_grating_orders_follow_jacobi_anger(strength, period_pixels):
    # exp(iε cos(2πx/a)) = Σ_n iⁿ J_n(ε) exp(2πinx/a): order n carries the fraction J_n(ε)²
    n, sampling = 48 * period_pixels, 0.05
    x = np.arange(n) * sampling
    period = period_pixels * sampling * 8
    grating = np.exp(1j * strength * np.cos(2 * np.pi * x / period))[:, None] * np.ones((1, 16))
    wave = Waves(grating, sampling, 200e3)
    pattern = wave.diffraction_pattern(max_angle=None).array / (n * 16)
    centre = pattern.shape[0] // 2, pattern.shape[1] // 2
    order = n // (period_pixels * 8)  # pixels between orders: extent / period
    for m in range(3):
        if centre[0] + m * order < pattern.shape[0]:
            assert pattern[centre[0] + m * order, centre[1]] == pytest.approx(
                jv(m, strength) ** 2, abs=1e-5
            )
            assert pattern[centre[0] - m * order, centre[1]] == pytest.approx(
                jv(m, strength) ** 2, abs=1e-5
            )


def test_crop_reaches_the_requested_angle_with_the_zero_angle_centred():
    grid = Grid(gpts=(100, 80), sampling=(0.05, 0.06))
    waves = Probe(200e3, 20).build(grid)
    default = waves.diffraction_pattern()
    limit = max_simulated_angle(grid, 200e3)
    step = energy2wavelength(200e3) / np.array(grid.extent) * 1e3
    assert default.angular_sampling == pytest.approx(tuple(step))
    assert default.shape == tuple(2 * int(limit // s) + 1 for s in step)
    assert all(m <= limit for m in default.max_angles)
    cropped = waves.diffraction_pattern(max_angle=30)
    assert cropped.shape == tuple(2 * int(30 // s) + 1 for s in step)
    ax, ay = cropped.angles()
    assert ax[len(ax) // 2] == 0 and ay[len(ay) // 2] == 0
    # the probe (20 mrad) lies wholly inside both crops: both hold all of its intensity
    assert default.array.sum() == pytest.approx(1.0, rel=1e-5)
    assert cropped.array.sum() == pytest.approx(1.0, rel=1e-5)


def test_pattern_is_centred_on_the_direct_beam_and_tilts_move_it():
    # a wave tilted by exp(2πi k0 x) diffracts to +k0: angle λ k0 on the +αx side
    grid = Grid(gpts=64, sampling=0.1)
    x = grid.coordinates()[0]
    k0 = 5 / grid.extent[0]
    tilted = Waves(np.exp(2j * np.pi * k0 * x)[:, None] * np.ones((1, 64)), 0.1, 200e3)
    pattern = tilted.diffraction_pattern()
    ax, ay = pattern.angles()
    i, j = np.unravel_index(np.argmax(pattern.array), pattern.shape)
    assert ax[i] == pytest.approx(energy2wavelength(200e3) * k0 * 1e3) and ay[j] == 0


def test_weighted_waves_give_the_weighted_sum_of_patterns():
    grid = Grid(gpts=32, sampling=0.2)
    stack = Probe(200e3, 20).build(grid, [[1.0, 1.0], [3.0, 2.0]])
    first, second = (Waves(a, 0.2, 200e3).diffraction_pattern().array for a in stack.array)
    weighted = Waves(stack.array, 0.2, 200e3, weights=[0.25, 0.75]).diffraction_pattern()
    np.testing.assert_allclose(weighted.array, 0.25 * first + 0.75 * second, rtol=1e-5)


def test_plot_has_angle_axes():
    pattern = Probe(200e3, 20).build(Grid(gpts=64, sampling=0.1)).diffraction_pattern(40)
    fig = pattern.plot()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "αx [mrad]" and ax.get_ylabel() == "αy [mrad]"
    left, right = ax.get_xlim()
    assert right == pytest.approx(pattern.max_angles[0] + pattern.angular_sampling[0] / 2)
    assert left == pytest.approx(-right)


def test_bad_diffraction_input_is_refused():
    waves = Probe(200e3, 20).build(Grid(gpts=64, sampling=0.1))
    with pytest.raises(
        ValueError,
        match=r"max_angle=100\.0 mrad exceeds the maximum simulated "
        r"angle 83\.60 mrad",
    ):
        waves.diffraction_pattern(max_angle=100)
    with pytest.raises(ValueError, match="max_angle must be > 0"):
        waves.diffraction_pattern(max_angle=0)
    with pytest.raises(ValueError, match="odd mx and my"):
        DiffractionPatterns(np.ones((4, 5)), 1.0, 200e3)
