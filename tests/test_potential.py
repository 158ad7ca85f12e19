"""potentials/: slicing, infinite (Fourier-space) and finite (real-space) projections."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy import integrate

from atomscope.potentials.parametrizations import load_parametrization
from atomscope.potentials.projected import FE_TO_POTENTIAL, Potential
from atomscope.potentials.slicing import slice_limits


def single_atom(symbol="Au", extent=12.0, position=(6.0, 6.0, 2.0), thickness=4.0):
    return Atoms(symbol, positions=[position], cell=[extent, extent, thickness])


def test_h2_over_2pi_m0_e_is_kirklands_constant():
    # Kirkland (2010) Eq 5.10: 2π a0 e = 2π × 0.529177 Å × 14.3996 V·Å = 47.878 V·Å².
    assert FE_TO_POTENTIAL == pytest.approx(2 * np.pi * 0.529177 * 14.3996, rel=1e-5)


def test_slice_limits_are_equal_slices_covering_the_cell():
    limits = slice_limits(10.0, 3.0)
    assert len(limits) == 5 and limits[-1] == 10.0
    np.testing.assert_allclose(np.diff(limits), 2.5)


@pytest.mark.parametrize("symbol", ["Au", "C"])
def test_infinite_projection_matches_analytic_projected_potential_away_from_core(symbol):
    # Independent number: the parametrization's real-space closed form v_z(r), summed over
    # periodic images, against our Fourier-space construction from f_e(k).
    atoms = single_atom(symbol, extent=16.0, position=(8.0, 8.0, 2.0))
    potential = Potential(atoms, sampling=0.04, slice_thickness=4.0)
    array = potential.build()[0]
    parametrization = load_parametrization("lobato")
    x, y = potential.grid.coordinates()
    expected = np.zeros(potential.gpts)
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            r = np.hypot(x[:, None] - 8.0 - 16 * i, y[None] - 8.0 - 16 * j)
            expected += parametrization.projected_potential(atoms.numbers[0], np.maximum(r, 1e-3))
    r = np.hypot(x[:, None] - 8.0, y[None] - 8.0)
    ring = (r > 0.3) & (r < 3.0)
    error = np.abs(array[ring] - expected[ring]).max() / np.abs(expected[ring]).max()
    assert error < 0.01


def test_integral_of_projected_potential_equals_radial_quadrature():
    # ∫ v_z d²r over one atom = 2π ∫ r v_z(r) dr (quadrature of the closed form).
    atoms = single_atom("Si", extent=20.0, position=(10.0, 10.0, 2.0))
    potential = Potential(atoms, sampling=0.1, slice_thickness=4.0)
    total = potential.build()[0].sum() * np.prod(potential.sampling)
    parametrization = load_parametrization("lobato")
    radial, _ = integrate.quad(
        lambda r: 2 * np.pi * r * parametrization.projected_potential(14, np.array([r]))[0],
        0,
        60,
        limit=400,
    )
    assert total == pytest.approx(radial, rel=2e-3)


def test_shifting_atoms_by_whole_pixels_rolls_the_slice_exactly():
    atoms = single_atom("Cu", extent=6.4, position=(2.13, 3.71, 1.0))
    shifted = atoms.copy()
    shifted.positions[:, :2] += (0.3, -0.5)
    a = Potential(atoms, sampling=0.1, slice_thickness=4.0).build()[0]
    b = Potential(shifted, sampling=0.1, slice_thickness=4.0).build()[0]
    np.testing.assert_allclose(np.roll(a, (3, -5), axis=(0, 1)), b, atol=1e-3 * a.max())


def test_atoms_go_to_the_slice_holding_their_centre():
    atoms = Atoms("C2", positions=[(2, 2, 0.7), (2, 2, 3.2)], cell=[4, 4, 4])
    slices = Potential(atoms, sampling=0.1, slice_thickness=1.0).build()
    totals = slices.sum(axis=(1, 2))
    assert totals[0] > 0 and totals[3] > 0
    assert totals[1] == pytest.approx(0, abs=1e-3 * float(totals[0]))


def test_empty_atoms_is_vacuum():
    slices = Potential(Atoms(cell=[3, 3, 2]), gpts=16, slice_thickness=1.0).build()
    assert slices.shape == (2, 16, 16) and not slices.any()


def test_slices_are_generated_lazily():
    potential = Potential(bulk("Si", cubic=True) * (1, 1, 500), sampling=0.2, slice_thickness=0.5)
    assert potential.num_slices == int(np.ceil(potential.thickness / 0.5)) > 5000
    first = next(potential.generate_slices())
    assert first.index == 0 and first.array.shape == potential.gpts


def test_finite_projection_sums_to_infinite_projection():
    atoms = Atoms("Au2", positions=[(3.1, 3.3, 2.0), (5.2, 4.4, 3.0)], cell=[8.0, 8.0, 5.0])
    infinite = Potential(atoms, sampling=0.05, slice_thickness=5.0).build()[0]
    finite = Potential(
        atoms, sampling=0.05, slice_thickness=1.0, projection="finite", cutoff_tolerance=1e-4
    ).build()
    total = finite.sum(axis=0)
    x = np.arange(160) * 0.05
    r = np.hypot(x[:, None] - 3.1, x[None] - 3.3)
    ring = (r > 0.3) & (r < 1.5)
    error = np.abs(total[ring] - infinite[ring]).max() / infinite[ring].max()
    assert error < 0.02


def test_finite_projection_splits_an_atom_on_a_slice_boundary_in_half():
    atoms = single_atom("Au", extent=8.0, position=(4.0, 4.0, 2.0), thickness=4.0)
    upper, lower = Potential(atoms, sampling=0.05, slice_thickness=2.0, projection="finite").build()
    np.testing.assert_allclose(upper, lower, rtol=1e-4, atol=1e-4 * upper.max())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sampling": 0.0}, "sampling"),
        ({"sampling": np.nan}, "sampling"),
        ({"gpts": -3}, "gpts"),
        ({"sampling": 0.1, "slice_thickness": 0.0}, "slice_thickness"),
        ({"sampling": 0.1, "slice_thickness": 50.0}, "slice_thickness"),
        ({"sampling": 0.1, "parametrization": "doyle"}, "parametrization|doyle"),
        ({"sampling": 0.1, "projection": "half"}, "projection"),
        ({"sampling": 0.1, "gpts": 10}, "exactly one"),
    ],
)
def test_bad_arguments_raise_before_work(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Potential(single_atom(), **kwargs)


def test_bad_structures_raise():
    with pytest.raises(ValueError, match="cell"):
        Potential(Atoms("C", positions=[(0, 0, 0)], cell=[0, 4, 4]), sampling=0.1)
    with pytest.raises(ValueError, match="orthorhombic"):
        Potential(bulk("Cu"), sampling=0.1)
    nan_atoms = single_atom()
    nan_atoms.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="positions"):
        Potential(nan_atoms, sampling=0.1)
    with pytest.raises(TypeError, match=r"ase\.Atoms"):
        Potential([1, 2, 3], sampling=0.1)
