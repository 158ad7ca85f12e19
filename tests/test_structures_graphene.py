"""Graphene builders: coordination, bond lengths, holes, periodicity, grain orientations."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from atomscope.structures import graphene_sheet, polycrystalline_graphene, random_graphene

B = 1.42
CUTOFF = 1.8  # bonded C–C distances are below, second neighbours (≥ 2.0 Å in 4-rings) above


def _xy(sheet):
    return sheet.positions[:, :2], sheet.cell.lengths()[:2]


def _coordination(sheet):
    points, box = _xy(sheet)
    tree = cKDTree(points, boxsize=box)
    return np.array([len(n) - 1 for n in tree.query_ball_point(points, CUTOFF)])


def _bond_lengths(sheet):
    points, box = _xy(sheet)
    pairs = cKDTree(points, boxsize=box).query_pairs(CUTOFF, output_type="ndarray")
    vectors = (points[pairs[:, 1]] - points[pairs[:, 0]] + box / 2) % box - box / 2
    return vectors


def _vacuum(sheet, pixel=0.25, clearance=2.5):
    """Raster of the cell: True where the nearest atom is farther than ``clearance`` [Å]."""
    points, box = _xy(sheet)
    gx, gy = (np.arange(int(length / pixel)) * pixel for length in box)
    grid = np.stack(np.meshgrid(gx, gy, indexing="ij"), -1).reshape(-1, 2)
    distance, _ = cKDTree(points, boxsize=box).query(grid)
    return (distance > clearance).reshape(len(gx), len(gy))


def _count_periodic_regions(mask):
    labels, count = ndimage.label(mask)
    parent = list(range(count + 1))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in [
        *zip(labels[0], labels[-1], strict=True),
        *zip(labels[:, 0], labels[:, -1], strict=True),
    ]:
        if a and b:
            parent[root(a)] = root(b)
    return len({root(i) for i in range(1, count + 1)})


@pytest.mark.parametrize("seed", [0, 1])
def test_random_graphene_is_three_coordinated_with_graphene_bonds(seed):
    sheet = random_graphene(43.2, rng=seed, num_holes=0)
    coordination = _coordination(sheet)
    lengths = np.linalg.norm(_bond_lengths(sheet), axis=1)
    assert np.mean(coordination == 3) > 0.9
    assert lengths.mean() == pytest.approx(B, abs=0.05)
    assert lengths.std() < 0.1
    # a random network, not a honeycomb: rings other than hexagons give off-120° angles
    assert lengths.min() > 1.0
    density = len(sheet) / np.prod(sheet.cell.lengths()[:2])
    assert density == pytest.approx(4 / (3 * np.sqrt(3) * B**2), rel=0.08)


def test_random_graphene_tiles_without_seams():
    sheet = random_graphene(30.0, rng=5, num_holes=0)
    points, box = _xy(sheet)
    near_edge = np.any((points < 3) | (points > box - 3), axis=1)
    assert np.mean(_coordination(sheet)[near_edge] == 3) > 0.9
    distance, _ = cKDTree(points, boxsize=box).query(points, k=2)
    assert distance[:, 1].min() > 1.0


@pytest.mark.parametrize("holes", [0, 1, 3])
def test_requested_number_of_holes(holes):
    sheet = random_graphene(50.0, rng=holes + 10, num_holes=holes, hole_radius=(4, 6))
    assert sheet.info["num_holes"] == holes
    assert _count_periodic_regions(_vacuum(sheet)) == holes


def test_hole_count_drawn_in_range_and_atoms_away_from_holes_three_coordinated():
    counts = []
    for seed in range(4):
        sheet = random_graphene(43.2, rng=seed, num_holes=(0, 4), hole_radius=(4, 6))
        counts.append(sheet.info["num_holes"])
        assert _count_periodic_regions(_vacuum(sheet)) == sheet.info["num_holes"]
        vacuum = _vacuum(sheet, clearance=2.5)
        if vacuum.any():
            holes = np.argwhere(vacuum) * 0.25
            box = sheet.cell.lengths()[:2]
            distance, _ = cKDTree(holes, boxsize=box).query(sheet.positions[:, :2] % box)
            away = distance > 4.0
        else:
            away = np.ones(len(sheet), bool)
        assert np.mean(_coordination(sheet)[away] == 3) > 0.9
    assert all(0 <= c <= 4 for c in counts)


def test_random_graphene_is_reproducible():
    first = random_graphene(25.0, rng=3)
    assert np.array_equal(first.positions, random_graphene(25.0, rng=3).positions)
    assert not np.array_equal(first.positions[:10], random_graphene(25.0, rng=4).positions[:10])


def test_progress_bars_show_and_change_nothing(capsys):
    quiet = random_graphene(25.0, rng=3, num_holes=1)
    grains = polycrystalline_graphene(25.0, num_grains=2, rng=1)
    assert capsys.readouterr().err == ""
    assert np.array_equal(quiet.positions, random_graphene(25.0, 3, 1, progress=True).positions)
    assert "graphene" in capsys.readouterr().err
    shown = polycrystalline_graphene(25.0, num_grains=2, rng=1, progress=True)
    assert np.array_equal(grains.positions, shown.positions)
    assert "grains" in capsys.readouterr().err


def test_graphene_sheet_bonds_and_rotation():
    rotation = 13.0
    sheet = graphene_sheet((30.0, 30.0), rotation=rotation)
    points, box = _xy(sheet)
    interior = np.all((points > 3) & (points < box - 3), axis=1)
    assert np.all(_coordination(sheet)[interior] == 3)
    pairs = cKDTree(points[interior]).query_pairs(CUTOFF, output_type="ndarray")
    vectors = points[interior][pairs[:, 1]] - points[interior][pairs[:, 0]]
    assert np.allclose(np.linalg.norm(vectors, axis=1), B, atol=1e-9)
    # bonds point at 30° + rotation modulo 60°
    angles = np.degrees(np.arctan2(vectors[:, 1], vectors[:, 0])) % 60
    assert np.allclose(angles, (30 + rotation) % 60, atol=1e-6)
    assert len(sheet) / 900 == pytest.approx(4 / (3 * np.sqrt(3) * B**2), rel=0.03)


def test_commensurate_sheet_is_perfectly_periodic():
    sheet = graphene_sheet((np.sqrt(3) * B * 6, 3 * B * 4))
    assert len(sheet) == 6 * 4 * 4
    assert np.all(_coordination(sheet) == 3)


def test_polycrystalline_grains_keep_their_orientation():
    sheet = polycrystalline_graphene(60.0, num_grains=4, rng=2)
    points, box = _xy(sheet)
    grains = sheet.arrays["grain"]
    assert set(grains) == {0, 1, 2, 3}
    distance, _ = cKDTree(points, boxsize=box).query(points, k=2)
    assert distance[:, 1].min() >= 1.0
    assert len(sheet) / np.prod(box) == pytest.approx(4 / (3 * np.sqrt(3) * B**2), rel=0.06)
    tree = cKDTree(points, boxsize=box)
    pairs = tree.query_pairs(1.5, output_type="ndarray")
    same = grains[pairs[:, 0]] == grains[pairs[:, 1]]
    vectors = (points[pairs[:, 1]] - points[pairs[:, 0]] + box / 2) % box - box / 2
    angles = np.degrees(np.arctan2(vectors[:, 1], vectors[:, 0])) % 60
    expected = (30 + np.array(sheet.info["rotations"])[grains[pairs[:, 0]]]) % 60
    error = np.abs((angles - expected + 30) % 60 - 30)
    assert np.mean(error[same] < 1e-6) > 0.9  # grains that cross the cell edge have a seam


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: random_graphene(0.0, rng=0), "extent"),
        (lambda: random_graphene((20.0, -5.0), rng=0), r"extent\[1\]"),
        (lambda: random_graphene(20.0, rng=0, num_holes=-1), "num_holes"),
        (lambda: random_graphene(20.0, rng=0, num_holes=(3, 1)), "num_holes"),
        (lambda: random_graphene(20.0, rng=0, num_holes=4, hole_radius=(7, 8)), "hole_radius"),
        # a hole up to 2 × 9.5 × 1.24 Å wide plus its 3 Å gap cannot fit in 25 Å, whatever
        # the draw: refused before any work
        (
            lambda: random_graphene(25.0, rng=0, num_holes=(0, 1), hole_radius=(5, 9.5)),
            r"hole_radius\[1\] <= 8\.87",
        ),
        (lambda: random_graphene(40.0, rng=0, num_holes=9, hole_radius=(6, 7)), "num_holes"),
        (lambda: random_graphene(20.0, rng=0, bond_length=0), "bond_length"),
        (lambda: graphene_sheet(-1.0), "extent"),
        (lambda: polycrystalline_graphene(30.0, num_grains=0, rng=0), "num_grains"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
