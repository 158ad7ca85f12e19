"""The chapter-4 measures against numbers known independently.

Strain: an affinely deformed ideal lattice x → F x has, at every column, the Biot strain of F's
left polar decomposition (ε = R E Rᵀ for F = R (I + E)), whatever the particle's shape, and the
ideal lattice has none. Positions: Gaussian columns drawn at known places. Noise and dose: the
MAE of normal noise is σ√(2/π); c/√D curves are fitted exactly.
"""

import numpy as np
import pytest
from ase.cluster import Octahedron
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.experiments.measures import (
    column_strain,
    fit_inverse_sqrt_dose,
    mean_absolute_error,
    measure_positions,
    pair_points,
    strain_errors,
    surface_relaxation,
)
from atomscope.structures import projected_columns, wulff_particle
from atomscope.structures.facets import column_facets

A = 4.08  # Au lattice constant [Å]
SPACING = A / np.sqrt(2)  # the zero-strain nearest-neighbour distance a/√2
ZONE = (1, 1, 0)


@pytest.fixture(scope="module")
def octahedron():
    # 43 columns: 6 corners, 14 other surface columns, 23 bulk
    return projected_columns(Octahedron("Au", length=7, cutoff=2, latticeconstant=A), ZONE)


@pytest.fixture(scope="module")
def wulff():
    particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], 300, lattice_constant=A)
    return projected_columns(particle, ZONE)


def _turn(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def test_ideal_lattice_has_no_strain_anywhere(wulff):
    strain = column_strain(wulff.positions, SPACING)
    assert strain.valid.all()
    for values in (strain.exx, strain.eyy, strain.exy, strain.planar):
        assert np.abs(values).max() < 1e-12


def test_stretch_by_one_percent_gives_planar_strain_0_01(wulff):
    strain = column_strain(wulff.positions * 1.01, SPACING)
    assert strain.valid.all()
    assert np.abs(strain.planar - 0.01).max() < 1e-6
    assert np.abs(strain.exx - 0.01).max() < 1e-6 and np.abs(strain.eyy - 0.01).max() < 1e-6
    assert np.abs(strain.exy).max() < 1e-6


def test_corners_use_three_neighbours_and_the_bulk_six(octahedron):
    # seed §4.4.3: "the strain at corner atoms is determined on the basis of just three
    # neighbours, while the measurements in the center relies on twice that number"
    strain = column_strain(octahedron.positions, SPACING)
    facets = column_facets(octahedron, ZONE)
    assert np.all(strain.num_matched[facets.mask("corner")] == 3)
    assert np.all(strain.num_matched[~facets.surface] == 6)
    assert np.all(strain.num_matched[facets.mask("{111}") | facets.mask("{100}")] == 4)


@settings(max_examples=15, deadline=None)
@given(
    exx=st.floats(-0.03, 0.03),
    eyy=st.floats(-0.03, 0.03),
    exy=st.floats(-0.02, 0.02),
    angle=st.floats(-np.pi, np.pi),
)
def test_affine_deformation_gives_its_biot_strain_at_every_column(exx, eyy, exy, angle):
    positions = projected_columns(Octahedron("Au", length=7, cutoff=2, latticeconstant=A), ZONE)
    strain_matrix = np.array([[exx, exy], [exy, eyy]])
    rotation = _turn(angle)
    deformed = positions.positions @ (rotation @ (np.eye(2) + strain_matrix)).T
    strain = column_strain(deformed, SPACING)
    assert strain.valid.all()
    expected = rotation @ strain_matrix @ rotation.T  # the left polar P − I, in the image frame
    assert np.abs(strain.tensor - expected).max() < 1e-6
    assert np.abs(strain.planar - (exx + eyy) / 2).max() < 1e-6  # Eq 4.1, a rotation invariant


def test_uniaxial_stretch_along_001_relaxes_100_fully_and_111_by_a_third(wulff):
    # ε = 0.02 n nᵀ with n ∥ [001]: Eq 4.2 gives 0.02 on {100} facets and 0.02 cos²54.74° =
    # 0.02/3 on {111} facets (the angle between [001] and <111>)
    facets = column_facets(wulff, ZONE)
    n = facets.directions["{100}"][0]
    stretch = np.eye(2) + 0.02 * np.outer(n, n)
    strain = column_strain(wulff.positions @ stretch.T, SPACING)
    relaxation = surface_relaxation(strain, facets.normals)
    assert np.allclose(relaxation[facets.mask("{100}")], 0.02, atol=1e-6)
    assert np.allclose(relaxation[facets.mask("{111}")], 0.02 / 3, atol=1e-6)
    assert np.all(np.isnan(relaxation[~facets.surface]))


def test_surface_relaxation_is_n_eps_n():
    tensors = np.array([[[0.01, 0.004], [0.004, -0.02]]] * 3)
    normals = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    expected = [0.01, -0.02, (0.01 - 0.02 + 2 * 0.004) / 2]
    assert np.allclose(surface_relaxation(tensors, normals), expected, atol=1e-15)


def test_pair_points_recovers_a_shuffled_jittered_copy(wulff):
    rng = np.random.default_rng(1)
    truth = wulff.positions
    order = rng.permutation(len(truth))
    measured = truth[order] + rng.normal(0, 0.1, truth.shape)
    # drop three columns, add two spurious peaks far away
    keep = np.ones(len(truth), bool)
    keep[[3, 10, 20]] = False
    measured = np.vstack([measured[keep], [[100.0, 100.0], [-80.0, 5.0]]])
    pairs = pair_points(truth, measured, max_distance=1.0)
    missing = order[~keep]
    expected = np.full(len(truth), -1)
    expected[order[keep]] = np.arange(keep.sum())
    assert np.array_equal(pairs.index, expected)
    assert np.all(np.isnan(pairs.positions[missing]))
    assert np.nanmax(pairs.distance) < 0.5


def test_pair_points_prefers_more_pairs_to_a_greedy_nearest():
    # m1 is equally near A and B; only A reaches m2: a greedy first pick A–m1 would leave B
    pairs = pair_points([[0.0, 0.0], [1.0, 0.0]], [[0.5, 0.0], [-0.59, 0.0]], max_distance=0.6)
    assert pairs.index.tolist() == [1, 0]
    assert np.allclose(pairs.distance, [0.59, 0.5])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 60))
def test_pair_points_is_one_to_one_and_within_reach(seed, count):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 20, (count, 2))
    measured = rng.uniform(0, 20, (rng.integers(1, 60), 2))
    pairs = pair_points(truth, measured, max_distance=1.5)
    used = pairs.index[pairs.index >= 0]
    assert len(set(used.tolist())) == len(used)  # one-to-one
    assert np.all(pairs.distance[pairs.index >= 0] <= 1.5 + 1e-12)
    assert np.allclose(pairs.positions[pairs.index >= 0], measured[used])


def test_strain_errors_of_a_stretched_measurement(octahedron):
    truth = column_strain(octahedron.positions, SPACING)
    rng = np.random.default_rng(2)
    order = rng.permutation(len(octahedron))[:-2]  # two columns not found
    measured_positions = octahedron.positions[order] * 1.01
    measured = column_strain(measured_positions, SPACING)
    pairs = pair_points(octahedron.positions * 1.01, measured_positions, max_distance=0.5)
    facets = column_facets(octahedron, ZONE)
    errors = strain_errors(truth, measured, pairs.index, facets.normals)
    found = pairs.index >= 0
    assert found.sum() == len(octahedron) - 2
    assert np.all(np.isnan(errors.planar[~found]))
    # a found column whose measured neighbourhood keeps < 3 template neighbours (here the
    # two beside the missing {111} column) has no measured strain: NaN, not a guess
    defined = np.zeros(len(octahedron), bool)
    defined[found] = measured.valid[pairs.index[found]]
    assert np.array_equal(np.isfinite(errors.planar), defined)
    assert defined.sum() == found.sum() - 2
    # every other found column of a 1 % stretch errs by 0.01 (Eq 4.3), those matched
    # partially next to a missing column too — exact for a uniform stretch
    assert np.abs(errors.planar[defined] - 0.01).max() < 1e-6
    surface = defined & facets.surface
    assert np.abs(errors.surface[surface] - 0.01).max() < 1e-6
    assert np.all(np.isnan(errors.surface[~facets.surface]))


def _gaussian_image(positions, sampling, shape, width=0.35):
    x = np.arange(shape[0]) * sampling
    y = np.arange(shape[1]) * sampling
    image = np.zeros(shape)
    for px, py in positions:
        image += np.exp(-((x[:, None] - px) ** 2 + (y[None, :] - py) ** 2) / (2 * width**2))
    return image


@pytest.mark.parametrize("method", ["polynomial", "com"])
def test_measured_positions_give_the_true_strain(octahedron, method):
    sampling = 0.1
    truth = octahedron.positions - octahedron.positions.min(0) + 3.0
    shape = tuple(np.ceil((truth.max(0) + 3.0) / sampling).astype(int))
    image = _gaussian_image(truth, sampling, shape)
    found = measure_positions(image, sampling, method=method)
    pairs = pair_points(truth, found, max_distance=0.5)
    assert np.all(pairs.index >= 0) and len(found) == len(truth)
    assert np.nanmax(pairs.distance) < 0.01
    errors = strain_errors(
        column_strain(truth, SPACING), column_strain(found, SPACING), pairs.index
    )
    assert np.abs(errors.planar).max() < 1e-3
    # dark columns on a bright background: minima=True finds the same
    dark = measure_positions(1.0 - 0.5 * image, sampling, minima=True, method=method)
    assert np.allclose(dark, found, atol=1e-6)


def test_measure_positions_reads_the_sampling_of_images(octahedron):
    from atomscope.images import Images

    truth = octahedron.positions - octahedron.positions.min(0) + 3.0
    shape = tuple(np.ceil((truth.max(0) + 3.0) / 0.1).astype(int))
    image = Images(_gaussian_image(truth, 0.1, shape), sampling=0.1)
    assert np.allclose(measure_positions(image), measure_positions(image.array, 0.1))
    shifted = measure_positions(image, origin=(5.0, -2.0))
    assert np.allclose(shifted - measure_positions(image), [5.0, -2.0])


def test_mae_of_normal_noise_is_sigma_sqrt_2_over_pi():
    rng = np.random.default_rng(3)
    sigma, reference = 0.01, np.array([0.0, 0.02, -0.01])
    noisy = reference + rng.normal(0, sigma, (4000, 3))
    result = mean_absolute_error(noisy, reference)
    assert np.allclose(result.mae, sigma * np.sqrt(2 / np.pi), rtol=0.03)
    assert result.dropped.sum() == 0  # 5 scaled MADs: no normal value in 12000 is cut
    assert np.all(result.used == 4000)


def test_mae_drops_stated_outliers_and_counts_missing():
    rng = np.random.default_rng(4)
    noisy = rng.normal(0, 0.01, (50, 2))
    noisy[:3, 0] = 1.0  # failed fits: far outliers
    noisy[5:9, 1] = np.nan  # no column found
    result = mean_absolute_error(noisy, np.zeros(2))
    assert result.dropped.tolist() == [3, 0]
    assert result.missing.tolist() == [0, 4]
    assert result.used.tolist() == [47, 46]
    assert np.isclose(result.mae[0], np.abs(noisy[3:, 0]).mean())
    assert np.isclose(result.mae[1], np.nanmean(np.abs(noisy[:, 1])))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 30))
def test_mae_without_a_cut_is_the_plain_mean(seed, k):
    rng = np.random.default_rng(seed)
    noisy = rng.standard_t(2, (k, 4))
    reference = rng.normal(size=4)
    result = mean_absolute_error(noisy, reference, max_mads=np.inf)
    assert np.allclose(result.mae, np.abs(noisy - reference).mean(axis=0))
    assert np.all(result.dropped == 0)


def test_mae_keeps_everything_when_the_mad_is_zero():
    noisy = np.array([[0.0], [0.0], [0.0], [0.3]])
    result = mean_absolute_error(noisy, np.array([0.0]))
    assert result.dropped.tolist() == [0] and np.isclose(result.mae[0], 0.075)


def test_inverse_sqrt_dose_fit_recovers_c():
    doses = np.array([1e2, 3e2, 1e3, 3e3, 1e4, 1e5])
    exact = fit_inverse_sqrt_dose(doses, 0.25 / np.sqrt(doses))
    assert np.isclose(exact.c, 0.25, rtol=1e-12) and np.isclose(exact.r_squared, 1.0)
    rng = np.random.default_rng(5)
    curves = (np.array([0.2, 0.5])[None] / np.sqrt(doses)[:, None]) * rng.normal(1, 0.05, (6, 2))
    curves[2, 1] = np.nan
    fit = fit_inverse_sqrt_dose(doses, curves)
    assert np.allclose(fit.c, [0.2, 0.5], rtol=0.1)
    assert np.all(fit.r_squared >= 0.95)
    # the least-squares c by hand (Eq 4.7): Σ m u / Σ u², u = D^-1/2, NaN left out
    u = 1 / np.sqrt(doses)
    keep = np.isfinite(curves[:, 1])
    by_hand = (curves[keep, 1] * u[keep]).sum() / (u[keep] ** 2).sum()
    assert np.isclose(fit.c[1], by_hand)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: column_strain(np.zeros((10, 2)), 0.0), "spacing"),
        (lambda: column_strain(np.zeros((10, 3)), 2.9), "positions"),
        (lambda: column_strain(np.zeros((5, 2)), 2.9), "at least 7"),
        (lambda: column_strain([[0, np.nan]] * 8, 2.9), "positions"),
        (lambda: column_strain(np.zeros((10, 2)), 2.9, rmax=-1), "rmax"),
        (lambda: column_strain(np.zeros((10, 2)), 2.9, shells=4), "shells"),
        (lambda: pair_points([[0, 0]], [[0, 0]], 0), "max_distance"),
        (lambda: surface_relaxation(np.zeros((2, 2, 2)), [[0, 0], [1, 0]]), "normals"),
        (lambda: surface_relaxation(np.zeros((2, 3, 3)), [[1, 0], [1, 0]]), "strain_tensor"),
        (lambda: strain_errors(np.zeros((2, 2, 2)), np.zeros((3, 2, 2))), "index"),
        (lambda: strain_errors(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), [0, 5]), "index"),
        (lambda: measure_positions(np.random.default_rng(0).random((9, 9))), "sampling"),
        (lambda: measure_positions(np.eye(9), 0.1, method="fit"), "method"),
        (lambda: measure_positions(np.eye(9), 0.1, threshold=1.0), "threshold"),
        (lambda: measure_positions(np.eye(9), 0.1, window=0), "window"),
        (lambda: mean_absolute_error(np.zeros((1, 3)), np.zeros(3)), "K >= 2"),
        (lambda: mean_absolute_error(np.zeros((4, 3)), np.zeros(2)), "reference"),
        (lambda: mean_absolute_error(np.zeros((4, 3)), np.zeros(3), max_mads=0), "max_mads"),
        (lambda: fit_inverse_sqrt_dose([1e3, 0.0], [0.1, 0.2]), "doses"),
        (lambda: fit_inverse_sqrt_dose([1e3], [0.1]), "doses"),
        (lambda: fit_inverse_sqrt_dose([1e3, 1e4], [0.1, 0.2, 0.3]), "mae"),
    ],
)
def test_bad_input_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()
