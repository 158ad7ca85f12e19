"""waves/prism.py: the PRISM S-matrix against plain multislice (Probe.scan)."""

import numpy as np
import pytest
from ase import Atoms
from ase.spacegroup import crystal

from atomscope.core.grid import Grid
from atomscope.potentials.projected import Potential
from atomscope.thermal import EinsteinPhonons
from atomscope.waves.detectors import (
    AnnularDetector,
    PixelatedDetector,
    SegmentedDetector,
    WavesDetector,
)
from atomscope.waves.diffraction import max_simulated_angle
from atomscope.waves.prism import PRISM
from atomscope.waves.probe import Probe
from atomscope.waves.scan import GridScan, LineScan

SILICON = crystal("Si", [(0, 0, 0)], spacegroup=227, cellpar=5.431).repeat((2, 2, 1))
DETECTORS = [AnnularDetector(40, 70), SegmentedDetector(0, 30, 2, 4), PixelatedDetector(60)]


def relative_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_interpolation_one_equals_plain_multislice_to_float32_precision():
    potential = Potential(SILICON, gpts=96, slice_thickness=1.0)
    probe = Probe(200e3, 20, defocus=20)
    scan = GridScan(gpts=(5, 4))
    plain = probe.scan(potential, DETECTORS, scan)
    prism = PRISM(probe, 1).scan(potential, DETECTORS, scan)
    for reference, result in zip(plain, prism, strict=True):
        assert result.array.shape == reference.array.shape
        assert relative_l2(result.array, reference.array) < 1e-5
    # the detectors see silicon: a dark-field signal well above zero that varies over the scan
    assert plain[0].array.min() > 1e-5 and np.ptp(plain[0].array) > plain[0].array.mean()


def test_frozen_phonon_average_equals_plain_multislice_for_interpolation_one():
    snapshots = EinsteinPhonons(SILICON, sigmas=0.1, num_configs=2, rng=3)
    potential = Potential(snapshots, gpts=64, slice_thickness=2.0)
    probe = Probe(200e3, 20)
    scan = LineScan((0, 0), (5.4, 5.4), gpts=4)
    plain = probe.scan(potential, AnnularDetector(30, 45), scan)[0].array
    prism = PRISM(probe, 1).scan(potential, AnnularDetector(30, 45), scan)[0].array
    assert relative_l2(prism, plain) < 1e-5


def test_window_probe_in_vacuum_is_the_probe_of_the_window_propagated():
    # Beams on every f-th Fourier pixel are exactly the frequencies of the window grid, so in
    # vacuum the cropped PRISM wave is the (hard-aperture) probe built on the window and
    # propagated through the thickness, centred where the crop puts it.
    thickness = 6.0
    vacuum = Potential(Atoms(cell=[9.6, 9.6, thickness]), gpts=96, slice_thickness=2.0)
    probe = Probe(200e3, 20, soft=False, defocus=30)
    position = (3.33, 7.1)
    waves = PRISM(probe, 2).scan(vacuum, WavesDetector(), np.array([position]))[0].array[0]
    window = Grid(gpts=48, sampling=0.1)
    origin = np.rint(np.array(position) / 0.1) - 24
    local = np.array(position) - origin * 0.1
    expected = probe.build(window, local).propagate(thickness).array
    np.testing.assert_allclose(waves, expected, atol=2e-5)


@pytest.mark.parametrize("interpolation", [2, 4])
def test_annular_detector_over_all_angles_sums_to_one_in_vacuum(interpolation):
    vacuum = Potential(Atoms(cell=[8.0, 8.0, 4.0]), gpts=80, slice_thickness=2.0)
    everything = AnnularDetector(0, max_simulated_angle(vacuum.grid, 200e3))
    image = PRISM(Probe(200e3, 20, Cs=1e4), interpolation).scan(
        vacuum, everything, GridScan(gpts=(3, 3))
    )[0]
    np.testing.assert_allclose(image.array, 1.0, rtol=1e-5)


def test_interpolation_error_shrinks_as_the_window_grows():
    # the cropped probe's tails wrap less into a larger window (Ophus 2017, Fig 5)
    probe = Probe(200e3, 20, defocus=20)
    errors = []
    for repeat in (1, 2):
        atoms = SILICON.repeat((repeat, repeat, 1))
        potential = Potential(atoms, gpts=96 * repeat, slice_thickness=2.7155)
        scan = GridScan(start=(0, 0), end=(5.431, 5.431), gpts=3)
        plain = probe.scan(potential, AnnularDetector(40, 70), scan)[0].array
        prism = PRISM(probe, 2).scan(potential, AnnularDetector(40, 70), scan)[0].array
        errors.append(relative_l2(prism, plain))
    assert 1e-3 < errors[0] < 0.1 and errors[1] < 0.7 * errors[0]


def test_bad_arguments_are_refused_before_work(monkeypatch):
    potential = Potential(SILICON, gpts=90, slice_thickness=2.0)
    with pytest.raises(TypeError, match="probe must be an atomscope Probe"):
        PRISM("probe", 2)
    with pytest.raises(ValueError, match="interpolation"):
        PRISM(Probe(200e3, 20), 0)
    with pytest.raises(ValueError, match="interpolation=4 must divide the grid gpts"):
        PRISM(Probe(200e3, 20), 4).scan(potential, AnnularDetector(40, 60))
    with pytest.raises(ValueError, match="exceeds the maximum simulated angle"):
        PRISM(Probe(200e3, 20), 2).scan(potential, AnnularDetector(40, 300))
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "1M")
    with pytest.raises(ValueError, match=r"PRISM scan .* needs about"):
        PRISM(Probe(200e3, 20), 2).scan(potential, AnnularDetector(40, 60))


def test_smatrix_on_a_dask_cluster_is_bit_identical_to_the_local_build(monkeypatch):
    from atomscope.parallel import client

    # beam batches of 3 waves, so the S-matrix is several tasks
    monkeypatch.setattr("atomscope.waves.prism.BATCH_BYTES", 3 * 8 * 64 * 64)
    potential = Potential(SILICON, gpts=64, slice_thickness=2.0)
    prism = PRISM(Probe(200e3, 20), 2)
    scan = GridScan(gpts=(3, 2))
    local = prism.scan(potential, [AnnularDetector(30, 45), PixelatedDetector(40)], scan)
    with client(workers=2) as dask_client:
        distributed = prism.scan(
            potential, [AnnularDetector(30, 45), PixelatedDetector(40)], scan, client=dask_client
        )
    for ours, theirs in zip(local, distributed, strict=True):
        assert ours.array.max() > 0
        np.testing.assert_array_equal(theirs.array, ours.array)
