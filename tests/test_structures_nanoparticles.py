"""Nanoparticle builders: Wulff's theorem, lattice sites, Eq 6.18 growth law, reproducibility."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from atomscope.structures import random_particle, wulff_particle
from atomscope.structures.nanoparticles import _grow, _lattice_block

A_AU = 4.08  # ASE reference lattice constant of Au [Å]


def _support_function(atoms, direction):
    direction = np.asarray(direction, float)
    return np.max(atoms.positions @ (direction / np.linalg.norm(direction)))


def test_wulff_facet_distances_follow_surface_energies():
    # Wulff's theorem: facet distance from the centre ∝ surface energy.
    particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.15], size=3000)
    ratio = _support_function(particle, (1, 0, 0)) / _support_function(particle, (1, 1, 1))
    layer = A_AU / np.sqrt(3)  # (111) spacing: ASE rounds the shape to whole layers
    assert ratio == pytest.approx(1 / 1.15, abs=layer / _support_function(particle, (1, 1, 1)))


def test_wulff_size_as_radius_matches_sphere_volume():
    radius = 15.0
    expected = 4 / 3 * np.pi * radius**3 / (A_AU**3 / 4)  # fcc: 4 atoms per cubic cell
    particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], size=radius)
    by_count = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], size=round(expected))
    assert len(particle) == len(by_count)  # ASE then rounds to the nearest closed Wulff shape
    assert len(particle) == pytest.approx(expected, rel=0.15)
    assert np.allclose(particle.positions.mean(0), 0, atol=1e-9)


def test_random_particle_is_reproducible_and_seed_dependent():
    first = random_particle("Au", rng=3, radius=(6, 10), growth=(0.1, 0.4))
    again = random_particle("Au", rng=3, radius=(6, 10), growth=(0.1, 0.4))
    other = random_particle("Au", rng=4, radius=(6, 10), growth=(0.1, 0.4))
    assert np.array_equal(first.positions, again.positions)
    assert len(first) != len(other) or not np.allclose(first.positions, other.positions)


@pytest.mark.parametrize("symbol", ["Au", "Fe"])
def test_random_particle_atoms_sit_on_the_lattice_and_touch(symbol):
    particle = random_particle(symbol, rng=0, radius=(5, 8), growth=0.5, temperature=np.inf)
    structure = {"Au": ("fcc", 4.08, 12), "Fe": ("bcc", 2.87, 8)}[symbol]
    a = structure[1]
    nearest = a / np.sqrt(2) if structure[0] == "fcc" else a * np.sqrt(3) / 2
    relative = (particle.positions - particle.positions[0]) / (a / 2)
    assert np.allclose(relative, np.round(relative), atol=1e-6)
    tree = cKDTree(particle.positions)
    distances, _ = tree.query(particle.positions, k=2)
    assert np.allclose(distances[:, 1], nearest, atol=1e-6)  # no isolated atom: N_i > 0
    counts = np.array(
        [len(n) - 1 for n in tree.query_ball_point(particle.positions, 1.05 * nearest)]
    )
    assert counts.max() == structure[2]


def test_growth_zero_gives_a_convex_seed_crystal():
    particle = random_particle("Au", rng=1, radius=(7, 9), growth=0.0)
    # Every lattice site inside the convex hull of the particle must be occupied.
    from scipy.spatial import ConvexHull

    hull = ConvexHull(particle.positions)
    grid = np.mgrid[-6:7, -6:7, -6:7].reshape(3, -1).T * (A_AU / 2)
    fcc = grid[np.sum(np.round(grid / (A_AU / 2)), axis=1) % 2 == 0] + particle.positions[0]
    inside = fcc[np.all(fcc @ hull.equations[:, :3].T + hull.equations[:, 3] < 1e-6, axis=1)]
    assert len(inside) >= len(particle)
    occupied = cKDTree(particle.positions).query(inside)[0]
    assert np.all(occupied < 1e-6)


def test_growth_probability_follows_eq_6_18():
    # Two adjacent occupied fcc sites: 4 empty sites touch both (N=2), 14 touch one (N=1).
    positions, neighbours, complete = _lattice_block("Au", "fcc", A_AU, 9.0)
    origin = int(np.argmin(np.linalg.norm(positions, axis=1)))
    partner = neighbours[origin][0]
    temperature, trials, doubly = 1.0, 3000, 0
    rng = np.random.default_rng(0)
    for _ in range(trials):
        occupied = np.zeros(len(positions), bool)
        occupied[[origin, partner]] = True
        _grow(occupied, neighbours, complete, 1, temperature, rng)
        added = np.flatnonzero(occupied & ~np.isin(np.arange(len(positions)), [origin, partner]))
        doubly += (
            np.isin(added, neighbours[origin]).all() and np.isin(added, neighbours[partner]).all()
        )
    expected = 4 * np.exp(2) / (4 * np.exp(2) + 14 * np.exp(1))  # Eq 6.18, = 0.437
    assert doubly / trials == pytest.approx(
        expected, abs=4 * np.sqrt(expected * (1 - expected) / trials)
    )


def test_low_temperature_grows_smoother_particles():
    def low_coordinated_fraction(temperature):
        fractions = []
        for seed in range(3):
            particle = random_particle(
                "Au", rng=seed, radius=8, growth=0.6, temperature=temperature
            )
            tree = cKDTree(particle.positions)
            counts = np.array([len(n) - 1 for n in tree.query_ball_point(particle.positions, 3.1)])
            fractions.append(np.mean(counts <= 5))
        return np.mean(fractions)

    assert low_coordinated_fraction(0.1) < 0.5 * low_coordinated_fraction(np.inf)


def test_progress_bars_show_and_change_nothing(capsys):
    quiet = random_particle("Au", rng=2, radius=(6, 8), growth=0.4)
    assert capsys.readouterr().err == ""
    shown = random_particle("Au", rng=2, radius=(6, 8), growth=0.4, progress=True)
    assert np.array_equal(quiet.positions, shown.positions)
    assert "growth" in capsys.readouterr().err
    wulff = wulff_particle("Au", [(1, 1, 1)], [1.0], size=50, progress=True)
    assert "wulff" in capsys.readouterr().err
    assert np.array_equal(wulff.positions, wulff_particle("Au", [(1, 1, 1)], [1.0], 50).positions)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: wulff_particle("Xx", [(1, 0, 0)], [1.0], 100), "symbol"),
        (lambda: wulff_particle("Au", [(1, 0, 0)], [1.0], 0), "size"),
        (lambda: wulff_particle("Au", [(1, 0, 0)], [1.0], -3.0), "size"),
        (lambda: wulff_particle("Au", [(0, 0, 0)], [1.0], 100), r"surfaces\[0\]"),
        (lambda: wulff_particle("Au", [(1, 0, 0)], [1.0, 2.0], 100), "equal length"),
        (lambda: wulff_particle("Au", [(1, 0, 0)], [-1.0], 100), r"energies\[0\]"),
        (lambda: wulff_particle("Ti", [(1, 0, 0)], [1.0], 100), "hcp"),
        (lambda: random_particle("Au", 0, radius=(-1, 5)), "radius"),
        (lambda: random_particle("Au", 0, radius=(9, 5)), "radius"),
        (lambda: random_particle("Au", 0, growth=-0.1), "growth"),
        (lambda: random_particle("Au", 0, temperature=0), "temperature"),
        (lambda: random_particle("Au", 0, temperature=-1), "temperature"),
        (lambda: random_particle("Uu", 0), "symbol"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
