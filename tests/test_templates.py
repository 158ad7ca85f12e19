"""Structural template matching (seed §3.2): similarity kernels, correspondence, matcher."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.spatial import Voronoi
from scipy.spatial.transform import Rotation

from atomscope.analysis.correspondence import branch_and_bound, sorted_permutations
from atomscope.analysis.rmsd import kabsch_rotation, rmsd_qcp, similarity_2d
from atomscope.analysis.segments import interface_lengths, local_lattices
from atomscope.analysis.templates import Template, TemplateMatch, match_templates

BUILTINS = ("square", "hexagonal", "fcc110", "honeycomb")
LATTICES = {  # cell, basis of the ideal 2D lattice behind each built-in template
    "square": ([[1, 0], [0, 1]], [[0, 0]]),
    "hexagonal": ([[1, 0], [0.5, math.sqrt(3) / 2]], [[0, 0]]),
    "fcc110": ([[1 / math.sqrt(2), 0], [0, 1]], [[0, 0], [1 / (2 * math.sqrt(2)), 0.5]]),
    "honeycomb": ([[math.sqrt(3), 0], [math.sqrt(3) / 2, 1.5]], [[0, 0], [0, 1]]),
}


def lattice(name, size, noise=0.0, rng=0):
    cell, basis = (np.array(a, float) for a in LATTICES[name])
    steps = np.arange(size)
    grid = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2) @ cell
    points = (grid[:, None] + basis[None]).reshape(-1, 2)
    return points + noise * np.random.default_rng(rng).normal(size=points.shape)


def interior(points, fraction=0.3):
    radius = np.linalg.norm(points - points.mean(0), axis=1)
    return radius < np.quantile(radius, fraction)


def turn(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def brute_force_2d(vectors, w):
    # min over all N! permutations of Eq 3.9 (the reference for branch and bound)
    perms = np.array(list(itertools.permutations(range(len(w)))))
    return similarity_2d(np.broadcast_to(vectors, (len(perms), *vectors.shape)), w[perms])[0].min()


# --- similarity kernels -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 12), st.integers(0, 2**31), st.booleans())
def test_qcp_agrees_with_kabsch_svd(count, seed, scaled):
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(count, 3))
    rotation = Rotation.random(random_state=seed)
    a = 1.7 * rotation.apply(b) + 0.2 * rng.normal(size=(count, 3))
    reference, _ = Rotation.align_vectors(a, b)  # scipy's SVD (Kabsch) solution
    rotated = reference.apply(b)
    if scaled:  # Eq 3.9: best s for s·a ≈ U b
        s = np.sum(a * rotated) / np.sum(a * a)
        expected = np.sqrt(np.mean(np.sum((s * a - rotated) ** 2, axis=1)))
    else:
        expected = np.sqrt(np.mean(np.sum((a - rotated) ** 2, axis=1)))
    assert rmsd_qcp(a, b, scale=scaled) == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert np.allclose(kabsch_rotation(a, b), reference.as_matrix(), atol=1e-8)


def test_qcp_is_batched_and_zero_for_rotated_copies():
    rng = np.random.default_rng(3)
    b = rng.normal(size=(5, 7, 3))
    a = np.stack([Rotation.random(random_state=k).apply(x) for k, x in enumerate(b)])
    result = rmsd_qcp(a, b)
    assert result.shape == (5,)
    assert np.all(result < 1e-6)


@settings(max_examples=12, deadline=None)
@given(st.integers(3, 9), st.integers(0, 2**31))
def test_2d_closed_form_matches_numerical_minimum(count, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(count, 2))
    w /= np.linalg.norm(w, axis=1).mean()
    v = 2.3 * w @ turn(rng.uniform(-np.pi, np.pi)).T + 0.3 * rng.normal(size=(count, 2))

    def objective(x):  # Eq 3.9 with U and s as free parameters
        return np.mean(np.sum((x[1] * v - w @ turn(x[0]).T) ** 2, axis=1))

    best = min(
        (
            minimize(
                objective,
                [angle, 0.4],
                method="Nelder-Mead",
                options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 4000},
            )
            for angle in np.linspace(-np.pi, np.pi, 8, endpoint=False)
        ),
        key=lambda result: result.fun,
    )
    rmsd, angle, _ = similarity_2d(v, w)
    assert rmsd == pytest.approx(np.sqrt(best.fun), rel=1e-5)
    # both rotate w towards s·v; a negative s is the same fit turned by π
    found = best.x[0] + (np.pi if best.x[1] < 0 else 0.0)
    assert np.cos(angle - found) == pytest.approx(1.0, abs=1e-6)


def test_2d_recovers_rotation_and_scale():
    w = Template.hexagonal().normalized
    rmsd, angle, scale = similarity_2d(3.5 * w @ turn(0.4).T, w)
    assert rmsd < 1e-12
    assert angle == pytest.approx(0.4)
    assert scale == pytest.approx(3.5)


# --- templates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sizes", "symmetry"),
    [
        ("square", [4, 4], 4),
        ("hexagonal", [6], 6),
        ("fcc110", [4, 2, 2], 2),
        ("honeycomb", [3, 6], 3),
    ],
)
def test_builtin_shells_and_symmetry(name, sizes, symmetry):
    template = Template.from_name(name)
    assert np.bincount(template.shells).tolist() == sizes
    assert template.symmetry == symmetry
    assert np.mean(np.linalg.norm(template.normalized, axis=1)) == pytest.approx(1.0)  # Eq 3.10


def test_fcc110_shells_follow_voronoi_interfaces():
    # Fig 3.3: in the centred a/√2 × a rectangle the 4 nearest (√3/8·a) and the 2 along
    # [1-10] (a/√2) share edges with the central cell, the 2 along [001] (a) do not.
    template = Template.fcc110(spacing=math.sqrt(3 / 8))  # lattice constant a = 1
    radius = np.linalg.norm(template.points, axis=1)
    lengths = interface_lengths(template.points[None])[0]
    assert np.allclose(radius[template.shells == 0], math.sqrt(3 / 8))
    assert np.allclose(radius[template.shells == 2], 1.0)
    assert np.all(lengths[template.shells == 2] < 1e-12)
    assert np.all(lengths[template.shells < 2] > 0.1)


def test_honeycomb_spacing_is_the_bond_length():
    template = Template.honeycomb(spacing=1.42)
    radius = np.sort(np.linalg.norm(template.points, axis=1))
    assert np.allclose(radius[:3], 1.42)
    assert np.allclose(radius[3:], 1.42 * math.sqrt(3))


def test_from_points_cuts_a_patch_and_detects_symmetry():
    points = lattice("hexagonal", 7)
    center = int(np.argmin(np.linalg.norm(points - points.mean(0), axis=1)))
    template = Template.from_points(points, center=center, num_neighbors=12)
    assert template.symmetry == 6
    assert np.bincount(template.shells).tolist() == [6, 6]
    with pytest.raises(ValueError, match="num_neighbors"):
        Template.from_points(points, center=center, num_neighbors=8)


def test_interface_lengths_agree_with_scipy_voronoi():
    rng = np.random.default_rng(5)
    vectors = Template.hexagonal(shells=2).normalized + 0.05 * rng.normal(size=(12, 2))
    voronoi = Voronoi(np.vstack([[0.0, 0.0], vectors]))
    expected = np.zeros(12)
    for (i, j), ridge in zip(voronoi.ridge_points, voronoi.ridge_vertices, strict=True):
        if 0 in (i, j):
            assert -1 not in ridge
            corners = voronoi.vertices[ridge]
            expected[max(i, j) - 1] = np.linalg.norm(corners[0] - corners[1])
    assert np.allclose(interface_lengths(vectors[None])[0], expected, atol=1e-12)


def test_template_rejects_bad_points():
    with pytest.raises(ValueError, match="central point"):
        Template([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="points"):
        Template([[1.0, 0.0]])
    with pytest.raises(ValueError, match="symmetry"):
        Template([[1.0, 0], [0, 1], [-1, 0], [0, -1]], symmetry=3)
    with pytest.raises(ValueError, match="template"):
        Template.from_name("cubic")


# --- correspondence -----------------------------------------------------------------------------

CASES = [
    Template.square(shells=1),
    Template.hexagonal(),
    Template.fcc110(shells=2),
    Template.honeycomb(shells=1),
    Template([[1.0, 0.2], [-0.3, 1.1], [-0.9, -0.5], [0.4, -1.3], [1.6, 1.4]]),
]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(range(len(CASES))), st.integers(0, 2**31), st.floats(0.0, 0.6), st.booleans()
)
def test_branch_and_bound_finds_the_brute_force_optimum(case, seed, noise, seeded):
    template = CASES[case]
    rng = np.random.default_rng(seed)
    w = template.normalized
    vectors = 2.0 * w[rng.permutation(len(w))] @ turn(rng.uniform(0, 6.3)).T
    vectors = vectors + noise * rng.normal(size=vectors.shape)
    vectors = vectors[np.argsort(np.linalg.norm(vectors, axis=1))][None]
    seeds = sorted_permutations(vectors, template)[0] if seeded else None
    perm, rmsd, matched, evaluations, finished = branch_and_bound(vectors, w, seeds)
    assert finished[0]
    assert matched[0] == len(w)
    assert sorted(perm[0]) == list(range(len(w)))
    assert rmsd[0] == pytest.approx(brute_force_2d(vectors[0], w), abs=1e-9)
    assert similarity_2d(vectors[0], w[perm[0]])[0] == pytest.approx(rmsd[0], abs=1e-12)
    # never more than the whole tree: partial nodes with 2 … N−2 pairs, then N! leaves
    tree = sum(math.perm(len(w), k) for k in range(2, len(w) - 1)) + math.factorial(len(w))
    assert evaluations[0] <= tree
    # one root per symmetry orbit for the nearest neighbour gives the same optimum
    reduced = branch_and_bound(vectors, w, seeds, roots=template.orbit_roots)
    assert reduced[1][0] == pytest.approx(rmsd[0], abs=1e-12)


def test_branch_and_bound_evaluates_fewer_permutations_than_brute_force():
    # the seed's Fig 3.4 example: 4 neighbours, 18 RSSD evaluations instead of 4! = 24
    rng = np.random.default_rng(11)
    w = Template.square(shells=1).normalized
    vectors = w[None] @ turn(0.3).T + 0.15 * rng.normal(size=(500, 4, 2))
    vectors = np.take_along_axis(
        vectors, np.argsort(np.linalg.norm(vectors, axis=2))[..., None], axis=1
    )
    unseeded = branch_and_bound(vectors, w)[3]
    seeds = sorted_permutations(vectors, Template.square(shells=1))[0]
    seeded = branch_and_bound(vectors, w, seeds)[3]
    assert unseeded.mean() < 24
    assert seeded.mean() <= unseeded.mean()
    # larger templates gain far more: hexagonal with 6! = 720 permutations
    w6 = Template.hexagonal()
    vectors6 = w6.normalized[None] + 0.05 * rng.normal(size=(200, 6, 2))
    vectors6 = np.take_along_axis(
        vectors6, np.argsort(np.linalg.norm(vectors6, axis=2))[..., None], axis=1
    )
    evaluations = branch_and_bound(vectors6, w6.normalized, sorted_permutations(vectors6, w6)[0])[3]
    assert evaluations.mean() < 720 / 4


@settings(max_examples=15, deadline=None)
@given(st.integers(4, 5), st.integers(0, 2**31))
def test_branch_and_bound_3d_matches_brute_force(count, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(count, 3))
    w /= np.linalg.norm(w, axis=1).mean()
    vectors = Rotation.random(random_state=seed).apply(w[rng.permutation(count)])
    vectors = vectors + 0.3 * rng.normal(size=vectors.shape)
    perms = np.array(list(itertools.permutations(range(count))))
    expected = rmsd_qcp(
        np.broadcast_to(vectors, (len(perms), count, 3)), w[perms], scale=True
    ).min()
    _, rmsd, matched, _, _ = branch_and_bound(vectors[None], w)
    assert matched[0] == count
    assert rmsd[0] == pytest.approx(expected, abs=1e-7)


def test_voronoi_shells_sort_fcc110_better_than_distance():
    # Fig 3.3b/c: with noise the first two fcc〈110〉 shells overlap in distance
    points = lattice("fcc110", 30, noise=0.035, rng=2)
    vectors = local_lattices(points, 8)[0][interior(points, 0.25)]
    voronoi = Template.fcc110()
    distance = Template(voronoi.points, shell_metric="distance")
    assert np.bincount(distance.shells).tolist() == [4, 2, 2]
    optimum = branch_and_bound(vectors, voronoi.normalized)[1]
    hits = {}
    for label, template in (("voronoi", voronoi), ("distance", distance)):
        rmsd = sorted_permutations(vectors, template)[1]
        hits[label] = np.mean(rmsd <= optimum + 1e-9)
    assert hits["voronoi"] > hits["distance"]
    assert hits["voronoi"] > 0.9


# --- matcher ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTINS)
def test_perfect_lattice_matches_its_own_template(name):
    points = lattice(name, 16) * 7.0
    match = match_templates(points, list(BUILTINS))
    inner = interior(points)
    assert isinstance(match, TemplateMatch)
    assert np.all(match.template_index[inner] == BUILTINS.index(name))
    assert np.all(match.rmsd[inner] < 1e-9)
    own = Template.from_name(name)
    nearest = math.sqrt(3 / 8) if name == "fcc110" else 1.0  # of the lattices above
    assert np.allclose(match.scale[inner], 7.0 * nearest * own.mean_distance)


def test_square_and_hexagonal_are_told_apart_with_noise():
    for name, expected in (("square", 0), ("hexagonal", 1)):
        points = lattice(name, 20, noise=0.04, rng=1)
        match = match_templates(points, [Template.square(), Template.hexagonal()])
        assert np.all(match.template_index[interior(points)] == expected)


@settings(max_examples=15, deadline=None)
@given(st.floats(-np.pi, np.pi), st.floats(0.1, 50.0), st.integers(0, 2**31))
def test_rmsd_is_rotation_and_scale_invariant(angle, factor, seed):
    points = lattice("hexagonal", 12, noise=0.03, rng=seed % 1000)
    moved = factor * points @ turn(angle).T + np.array([13.0, -4.0])
    templates = [Template.hexagonal(), Template.square()]
    before = match_templates(points, templates)
    after = match_templates(moved, templates)
    assert np.allclose(after.rmsd, before.rmsd, rtol=0, atol=1e-9)
    assert np.array_equal(after.template_index, before.template_index)
    assert np.allclose(after.scale, factor * before.scale, rtol=1e-9)
    sixfold = np.mod(after.rotation - before.rotation - angle + np.pi / 6, np.pi / 3)
    inner = interior(points) & (before.template_index == 0)
    assert np.allclose(sixfold[inner], np.pi / 6, atol=1e-9)


def test_pairs_reproduce_the_local_lattice():
    points = lattice("square", 12, noise=0.02, rng=4) * 5.0
    match = match_templates(points, ["square"])
    rows = np.flatnonzero(interior(points))
    for i in rows:
        count = match.num_matched[i]
        assert count == 8
        assert np.allclose(
            points[match.neighbors[i, :count]] - points[i], match.segments[i, :count]
        )
    for i in rows[:5]:  # scale and rotation are the least-squares fit v ≈ σ R(θ) w
        v, w = match.segments[i], match.template_points[i]
        fit = minimize(
            lambda x, v=v, w=w: np.sum((v - x[1] * w @ turn(x[0]).T) ** 2),
            [match.rotation[i] + 0.05, 1.1 * match.scale[i]],
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 2000},
        )
        assert np.cos(fit.x[0] - match.rotation[i]) == pytest.approx(1.0, abs=1e-10)
        assert fit.x[1] == pytest.approx(match.scale[i], rel=1e-6)
    assert match.segments.shape == match.template_points.shape == (len(points), 8, 2)
    assert np.array_equal(match.points, points)


def test_edge_points_get_partial_matches_and_masks():
    points = lattice("square", 8)
    corner = 0
    edge = 3  # (0, 3): one missing nearest neighbour, two missing diagonals
    centre = 3 * 8 + 3
    match = match_templates(points, ["square"], rmax=0.05)
    assert match.num_matched[centre] == 8
    assert match.num_matched[edge] == 5  # 3 at distance 1, 2 diagonals; the next is off-template
    assert match.num_matched[corner] == 3
    assert np.all(match.mask) and np.all(match.rmsd < 1e-9)
    assert np.isnan(match.segments[edge, 5:]).all() and np.isfinite(match.segments[edge, :5]).all()
    strict = match_templates(points, ["square"], rmax=0.05, min_matched=6)
    border = (points.min(1) == 0) | (points.max(1) == 7)
    assert np.array_equal(strict.mask, ~border)
    assert np.all(np.isnan(strict.rmsd[border])) and np.all(np.isnan(strict.rotation[border]))
    assert np.all(strict.template_index[border] == -1) and np.all(strict.num_matched[border] == 0)
    unbounded = match_templates(points, ["square"])
    assert np.all(unbounded.mask)
    assert np.all(unbounded.rmsd[border] > 0.1) and np.all(unbounded.rmsd[~border] < 1e-9)


def test_sort_method_agrees_on_mild_noise():
    points = lattice("honeycomb", 14, noise=0.03, rng=8)
    fast = match_templates(points, ["honeycomb"], method="sort")
    exact = match_templates(points, ["honeycomb"])
    assert np.all(exact.rmsd <= fast.rmsd + 1e-12)
    inner = interior(points)
    assert np.allclose(fast.rmsd[inner], exact.rmsd[inner], atol=1e-12)
    assert not np.any(fast.optimal) and np.all(exact.optimal[inner])


def test_3d_fcc_is_told_from_hcp_in_a_rotated_snapshot():
    from ase.build import bulk

    fcc = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((4, 4, 4))
    hcp = bulk("Cu", "hcp", a=3.6 / math.sqrt(2), c=3.6 / math.sqrt(2) * math.sqrt(8 / 3))
    hcp = hcp.repeat((5, 5, 4))
    templates = [
        Template.from_points(
            crystal.positions,
            center=int(np.argmax(interior(crystal.positions, 0.05))),
            num_neighbors=12,
        )
        for crystal in (fcc, hcp)
    ]
    rng = np.random.default_rng(0)
    positions = Rotation.random(random_state=1).apply(fcc.positions)
    positions = positions + 0.05 * rng.normal(size=positions.shape)
    # rmax keeps the search small at the free surfaces, which get partial matches instead
    match = match_templates(positions, templates, rmax=0.15)
    inner = interior(positions, 0.25)
    assert np.all(match.template_index[inner] == 0)
    assert np.all(match.num_matched[inner] == 12)
    assert np.all(match.rmsd[inner] < 0.1)  # thermal 0.05 Å on 2.55 Å bonds: about 0.05
    assert np.all(match.optimal)
    assert match.rotation.shape == (len(positions), 3, 3)
    assert np.all(match.num_matched[~inner] <= 12)


def test_evaluation_budget_keeps_a_valid_answer_and_says_so():
    points = lattice("honeycomb", 10, noise=0.05, rng=3)
    capped = match_templates(points, ["hexagonal"], max_evaluations=40)
    full = match_templates(points, ["hexagonal"], max_evaluations=None)
    assert np.all(full.optimal) and not np.all(capped.optimal)
    assert np.all(capped.mask) and np.all(np.isfinite(capped.rmsd))
    assert np.all(capped.rmsd >= full.rmsd - 1e-12)
    assert np.allclose(capped.rmsd[capped.optimal], full.rmsd[capped.optimal], atol=1e-12)


def test_bad_input_is_refused_naming_the_argument():
    points = lattice("square", 6)
    with pytest.raises(ValueError, match="points must hold at least 9"):
        match_templates(points[:8], ["square"])
    broken = points.copy()
    broken[3, 1] = np.nan
    with pytest.raises(ValueError, match="points"):
        match_templates(broken, ["square"])
    with pytest.raises(ValueError, match="template"):
        match_templates(points, ["cubic"])
    with pytest.raises(ValueError, match="rmax"):
        match_templates(points, ["square"], rmax=-1.0)
    with pytest.raises(ValueError, match="method"):
        match_templates(points, ["square"], method="greedy")
    with pytest.raises(ValueError, match="templates"):
        match_templates(points, [])
    with pytest.raises(ValueError, match="templates"):
        match_templates(points, [Template(np.eye(3) + 0.1)])
    with pytest.raises(TypeError, match="templates"):
        match_templates(points, [42])
