"""Specimen tilt (tilted propagator) and tilt series, locally and on a Dask LocalCluster."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from atomscope import PlaneWave, Potential
from atomscope.core.energy import energy2wavelength
from atomscope.parallel import client
from atomscope.waves import Waves, tilt_series

ENERGY = 300e3


@pytest.fixture(scope="module")
def crystal():
    return Potential(bulk("Si", cubic=True).repeat((1, 1, 4)), sampling=0.04, slice_thickness=1.0)


def _centre_of_mass(intensity, sampling):
    x = np.arange(intensity.shape[0]) * sampling
    return float((intensity.sum(axis=1) * x).sum() / intensity.sum())


@pytest.mark.parametrize("tilt_x", [-30.0, 12.0, 45.0])
def test_vacuum_moves_a_wave_packet_by_thickness_times_tan_tilt(tilt_x):
    thickness = 40.0
    vacuum = Potential(Atoms(cell=[25.6, 6.4, thickness]), sampling=0.1, slice_thickness=5.0)
    x = np.arange(256)[:, None] * 0.1
    packet = np.exp(-((x - 12.8) ** 2) / (2 * 1.5**2)) * np.ones((1, 64), np.complex64)
    wave = Waves(packet, sampling=0.1, energy=ENERGY)
    before = _centre_of_mass(np.abs(packet) ** 2, 0.1)
    after = _centre_of_mass(np.abs(wave.multislice(vacuum, tilt=(tilt_x, 0)).array) ** 2, 0.1)
    assert after - before == pytest.approx(thickness * np.tan(tilt_x * 1e-3), abs=1e-4)


def test_tilted_propagator_equals_a_tilted_plane_wave(crystal):
    """Paraxial Galilean invariance: ψ·exp(2πi k_t·r) propagates like ψ under tan θ = λ k_t."""
    nx, ny = crystal.gpts
    extent = nx * crystal.sampling[0]
    kt = 5 / extent  # commensurate with the periodic cell
    x = np.arange(nx) * crystal.sampling[0]
    ramp = np.exp(2j * np.pi * kt * x)[:, None] * np.ones((1, ny))
    tilted_wave = Waves(ramp.astype(np.complex64), crystal.sampling, ENERGY).multislice(crystal)
    tilt = (np.arctan(energy2wavelength(ENERGY) * kt) * 1e3, 0.0)
    envelope = PlaneWave(ENERGY, tilt).multislice(crystal).array
    demodulated = tilted_wave.array * np.conj(ramp)
    phase = np.vdot(envelope, demodulated)  # the constant phase exp(−iπλL k_t²)
    demodulated *= np.conj(phase) / abs(phase)
    error = np.linalg.norm(demodulated - envelope) / np.linalg.norm(envelope)
    assert tilt[0] > 5  # a visible tilt: the exit wave differs from the untilted one
    untilted = PlaneWave(ENERGY).multislice(crystal).array
    assert np.linalg.norm(untilted - envelope) / np.linalg.norm(envelope) > 20 * error
    assert error < 5e-3


def test_zero_tilt_is_bit_identical_to_no_tilt(crystal):
    np.testing.assert_array_equal(
        PlaneWave(ENERGY, (0, 0)).multislice(crystal).array,
        PlaneWave(ENERGY).multislice(crystal).array,
    )


def test_tilt_series_local_and_on_dask(crystal):
    tilts = [(0.0, 0.0), (10.0, -5.0), (-20.0, 15.0)]
    local = tilt_series(crystal, ENERGY, tilts)
    assert [wave.metadata["tilt"] for wave in local] == tilts
    for wave, tilt in zip(local, tilts, strict=True):
        np.testing.assert_array_equal(wave.array, PlaneWave(ENERGY, tilt).multislice(crystal).array)
    assert np.abs(local[0].array - local[2].array).max() > 0.05
    with client(workers=2) as dask_client:
        distributed = tilt_series(crystal, ENERGY, tilts, client=dask_client)
    for a, b in zip(distributed, local, strict=True):
        np.testing.assert_array_equal(a.array, b.array)


@pytest.mark.parametrize(
    "tilt, message",
    [((150.0, 0.0), r"tilt\[0\] must be in \[-100.0, 100.0\]"), (5.0, "pair"), ((1, 2, 3), "pair")],
)
def test_bad_tilt(tilt, message):
    with pytest.raises(ValueError, match=message):
        PlaneWave(ENERGY, tilt)


@pytest.mark.parametrize(
    "tilts, message",
    [
        (np.zeros((0, 2)), r"shape \(n ≥ 1, 2\)"),
        ([(1.0, 2.0, 3.0)], r"shape \(n ≥ 1, 2\)"),
        ([(0.0, np.nan)], "finite"),
        ([(0.0, -120.0)], r"tilt\[1\]"),
    ],
)
def test_bad_tilts(crystal, tilts, message):
    with pytest.raises(ValueError, match=message):
        tilt_series(crystal, ENERGY, tilts)
