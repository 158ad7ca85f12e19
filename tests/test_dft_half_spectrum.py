"""The DFT potential's 3D work on the rfft half of the frequencies (issue #17, speed): the same
Poisson solution, slices and low orders as from the whole spectrum."""

import numpy as np
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.potentials.dft import (
    E_OVER_EPSILON0,
    _low_orders,
    _slice_spectra,
    _slice_weights,
    electrostatic_spectrum,
)
from atomscope.potentials.slicing import slice_limits

shapes = st.tuples(st.integers(2, 9), st.integers(2, 9), st.integers(2, 12))


def whole_spectrum_potential(spectrum, atoms, width):
    """Poisson's equation on every frequency of ``spectrum`` (the electrons' n_G), written out
    as the definition: Gaussian nuclei minus electrons, V_G = (e/ε₀) ρ_G / (4π² G²), V_0 = 0."""
    lengths = np.diag(atoms.cell.array)
    k = [np.fft.fftfreq(n, d / n) for n, d in zip(spectrum.shape, lengths, strict=True)]
    k2 = k[0][:, None, None] ** 2 + k[1][None, :, None] ** 2 + k[2][None, None, :] ** 2
    charge = -spectrum.copy()
    for number, position in zip(atoms.numbers, atoms.positions, strict=True):
        x, y, z = position
        phase = np.exp(-2j * np.pi * (k[0][:, None, None] * x + k[1][None, :, None] * y + k[2] * z))
        charge += number * np.exp(-2 * np.pi**2 * width**2 * k2) * phase / np.prod(lengths)
    k2[0, 0, 0] = 1.0
    potential = E_OVER_EPSILON0 * charge / (4 * np.pi**2 * k2)
    potential[0, 0, 0] = 0.0
    return potential


def random_cell(shape, seed):
    """Two atoms in an orthorhombic cell and a real density on the grid ``shape``."""
    rng = np.random.default_rng(seed)
    lengths = 2 + 4 * rng.random(3)
    atoms = Atoms("CO", positions=rng.random((2, 3)) * lengths, cell=lengths, pbc=True)
    return atoms, rng.random(shape)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 99))
def test_poisson_on_the_half_spectrum_equals_every_frequency(shape, seed):
    atoms, density = random_cell(shape, seed)
    expected = whole_spectrum_potential(np.fft.fftn(density) / density.size, atoms, 0.3)
    # an even grid's lateral Nyquist order −n/2 is also +n/2: the bins m_z < 0 taken as
    # V_{−G}* put the Gaussian nuclei (e^{−2π²σ²k²} ≈ 1e-5 there in a DFTPotential) at +n/2
    below = np.ix_(*(np.abs(np.fft.fftfreq(n, 1 / n)) < n / 2 for n in shape[:2]))
    for values, fourier in ((density, False), (np.fft.fftn(density) / density.size, True)):
        ours = electrostatic_spectrum(values, atoms, 0.3, fourier=fourier)
        np.testing.assert_allclose(
            ours[below], expected[below], rtol=0, atol=1e-12 * np.abs(expected).max()
        )


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 99), fraction=st.floats(0.1, 1.0))
def test_slices_from_the_half_spectrum_sum_every_frequency(shape, seed, fraction):
    atoms, density = random_cell(shape, seed)
    length = atoms.cell[2, 2]
    limits = slice_limits(float(length), fraction * length)
    kz = np.fft.fftfreq(shape[2], length / shape[2])
    whole = np.fft.fftn(density) / density.size
    expected = np.einsum("xyz,zs->sxy", whole, _slice_weights(kz, limits))
    ours = _slice_spectra(np.fft.rfftn(density) / density.size, shape[2], length, limits)
    assert ours.dtype == np.complex64
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 99))
def test_low_orders_from_the_half_spectrum_are_the_block_of_every_frequency(shape, seed):
    atoms, density = random_cell(shape, seed)
    lengths = np.diag(atoms.cell.array) / 4  # a block smaller than the grid for some cells
    ours, orders = _low_orders(np.fft.rfftn(density) / density.size, shape[2], lengths)
    whole = np.fft.fftn(density) / density.size
    expected = whole[np.ix_(*(np.r_[0 : n + 1, -n:0] for n in orders))]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
