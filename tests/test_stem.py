"""waves/scan.py, waves/detectors.py and Probe.scan: STEM end to end."""

import numpy as np
import pytest
import zarr
from ase import Atoms
from ase.spacegroup import crystal
from hypothesis import given, settings
from hypothesis import strategies as st

import atomscope.waves.probe as probe_module
from atomscope.images import Images
from atomscope.potentials.projected import Potential
from atomscope.waves.detectors import (
    AnnularDetector,
    PixelatedDetector,
    SegmentedDetector,
    WavesDetector,
)
from atomscope.waves.diffraction import DiffractionPatterns, max_simulated_angle
from atomscope.waves.probe import Probe
from atomscope.waves.scan import CustomScan, GridScan, LineProfiles, LineScan

VACUUM = Potential(Atoms(cell=[8.0, 8.0, 4.0]), gpts=80, slice_thickness=2.0)
LIMIT = max_simulated_angle(VACUUM.grid, 200e3)


def silicon(repeat=(2, 2, 1)):
    atoms = crystal("Si", [(0, 0, 0)], spacegroup=227, cellpar=5.431)
    return atoms.repeat(repeat)


def strontium_titanate(repeat=(2, 2, 2)):
    # perovskite SrTiO3, a = 3.905 Å: Sr (0,0,0), Ti (½,½,½), O (½,½,0) ... (Pm-3m, no. 221)
    atoms = crystal(
        ["Sr", "Ti", "O"],
        [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
        spacegroup=221,
        cellpar=3.905,
    )
    return atoms.repeat(repeat)


def test_annular_detector_over_all_angles_collects_the_whole_probe_in_vacuum():
    everything = AnnularDetector(0, LIMIT)
    image, profile = (
        Probe(200e3, 20, defocus=40).scan(VACUUM, everything, scan)[0]
        for scan in (GridScan(gpts=(4, 3)), LineScan((0, 0), (8, 8), gpts=5))
    )
    assert isinstance(image, Images) and image.array.shape == (4, 3)
    np.testing.assert_allclose(image.array, 1.0, rtol=1e-5)
    assert isinstance(profile, LineProfiles) and profile.sampling == pytest.approx(np.sqrt(8))
    np.testing.assert_allclose(profile.array, 1.0, rtol=1e-5)


def test_haadf_of_strontium_titanate_peaks_on_cation_columns_not_oxygen():
    # [001] columns: Sr at (0, 0), Ti–O at (½, ½), pure O at (½, 0) and (0, ½).
    atoms = strontium_titanate()
    potential = Potential(atoms, gpts=256, slice_thickness=1.0)
    assert max_simulated_angle(potential.grid, 300e3) > 200
    scan = GridScan(start=(0, 0), end=(3.905, 3.905), gpts=8)
    haadf = Probe(300e3, 20).scan(potential, AnnularDetector(70, 200), scan)[0].array
    sr, ti, o1, o2 = haadf[0, 0], haadf[4, 4], haadf[4, 0], haadf[0, 4]
    assert np.unravel_index(np.argmax(haadf), haadf.shape) == (0, 0)
    assert min(sr, ti) > 2 * max(o1, o2)
    assert sr > ti  # Z = 38 vs 22


def test_batches_do_not_change_the_result_and_match_single_cbed_runs():
    potential = Potential(silicon(), gpts=96, slice_thickness=1.4)
    probe = Probe(200e3, 15, defocus=20)
    scan = CustomScan([[1.0, 1.0], [2.7, 4.1], [5.0, 0.5], [9.0, 9.0], [10.8, 10.8]])
    detectors = [AnnularDetector(30, 70), PixelatedDetector(max_angle=40), WavesDetector()]
    one, default = (probe.scan(potential, detectors, scan, batch_size=b) for b in (1, None))
    three = probe.scan(potential, detectors, scan, batch_size=3)  # a padded last batch
    for a, b, c in zip(one, default, three, strict=True):
        np.testing.assert_allclose(a.array, b.array, atol=1e-6)
        np.testing.assert_allclose(a.array, c.array, atol=1e-6)
    cbed = probe.multislice(potential, position=(2.7, 4.1))
    np.testing.assert_allclose(one[2].array[1], cbed.array, atol=1e-5)
    np.testing.assert_allclose(
        one[1].array[1], cbed.diffraction_pattern(max_angle=40).array, atol=1e-8
    )


def test_segments_add_up_to_the_annulus_and_a_virtual_detector_agrees():
    potential = Potential(silicon(), gpts=96, slice_thickness=1.4)
    probe = Probe(200e3, 15)
    scan = GridScan(end=(5.431, 5.431), gpts=3)
    annular, segmented, pixelated = probe.scan(
        potential,
        [
            AnnularDetector(10, 60),
            SegmentedDetector(10, 60, 2, 4, rotation=0.3),
            PixelatedDetector(),
        ],
        scan,
    )
    assert segmented.array.shape == (2, 4, 3, 3)
    np.testing.assert_allclose(segmented.array.sum(axis=(0, 1)), annular.array, rtol=1e-5)
    virtual = AnnularDetector(10, 60).integrate(pixelated)
    np.testing.assert_allclose(virtual, annular.array, rtol=1e-5)


def test_symmetric_probe_in_vacuum_fills_every_sector_equally():
    segmented = Probe(200e3, 20).scan(
        VACUUM,
        SegmentedDetector(5, 20, nbins_radial=1, nbins_azimuthal=4, rotation=0.1),
        GridScan(gpts=1),
    )[0]
    values = segmented.array[0, :, 0, 0]
    np.testing.assert_allclose(values, values.mean(), rtol=1e-3)


def test_frozen_phonon_scan_averages_the_configurations():
    first, second = silicon(), silicon()
    second.positions += np.random.default_rng(0).normal(0, 0.1, second.positions.shape)
    probe, scan, detector = Probe(200e3, 15), GridScan(gpts=2), AnnularDetector(40, 70)
    settings = {"gpts": 96, "slice_thickness": 1.4}
    ensemble = probe.scan(Potential([first, second], **settings), detector, scan)[0].array
    separate = [
        probe.scan(Potential(a, **settings), detector, scan)[0].array for a in (first, second)
    ]
    np.testing.assert_allclose(ensemble, np.mean(separate, axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="WavesDetector cannot average"):
        probe.scan(Potential([first, second], **settings), WavesDetector(), scan)


def test_default_scan_covers_the_cell_at_the_probe_nyquist_step():
    probe = Probe(200e3, 20)
    image = probe.scan(VACUUM, AnnularDetector(0, 30), batch_size=64)[0]
    step = probe.nyquist_sampling()
    assert image.array.shape == (int(np.ceil(8.0 / step)),) * 2
    assert image.sampling[0] <= step
    assert image.sampling[0] * image.array.shape[0] == pytest.approx(8.0)


def test_pixelated_zarr_store_is_marked_complete_only_at_the_end(tmp_path, monkeypatch):
    probe, scan = Probe(200e3, 20), GridScan(gpts=(3, 2))
    path = tmp_path / "4d.zarr"
    patterns = probe.scan(VACUUM, PixelatedDetector(max_angle=30, path=path), scan, batch_size=2)[0]
    assert isinstance(patterns, DiffractionPatterns) and patterns.shape == (
        3,
        2,
        19,
        19,
    )  # 2 ⌊30 / (λ / 8 Å)⌋ + 1
    stored = zarr.open_array(path, mode="r")
    assert stored.attrs["complete"] is True
    np.testing.assert_allclose(np.asarray(stored).sum(axis=(-2, -1)), 1.0, rtol=1e-5)

    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return run(*args, **kwargs)

    run = probe_module.run_multislice
    monkeypatch.setattr(probe_module, "run_multislice", interrupted)
    broken = tmp_path / "broken.zarr"
    with pytest.raises(KeyboardInterrupt):
        probe.scan(VACUUM, PixelatedDetector(max_angle=30, path=broken), scan, batch_size=2)
    assert zarr.open_array(broken, mode="r").attrs["complete"] is False


def test_grid_and_line_scan_geometry():
    scan = GridScan(start=(1, 2), end=(3, 5), sampling=(1.0, 0.7))
    assert scan.shape == (2, 5)
    assert scan.step == pytest.approx((1.0, 0.6))
    assert scan.positions[-1] == pytest.approx([2.0, 4.4])
    closed = GridScan(start=(0, 0), end=(2, 2), gpts=3, endpoint=True)
    assert closed.positions[-1].tolist() == [2.0, 2.0]
    line = LineScan((0, 0), (3, 4), sampling=1.0)
    assert line.shape == (6,) and line.positions[-1].tolist() == [3.0, 4.0]


def test_bad_scan_input_is_refused_before_any_work():
    probe = Probe(200e3, 20)
    with pytest.raises(ValueError, match=r"exceeds the maximum simulated angle 83\.60"):
        probe.scan(VACUUM, [AnnularDetector(10, 20), AnnularDetector(70, 200)])
    with pytest.raises(ValueError, match=r"max_angle=300\.0 mrad exceeds the maximum"):
        probe.scan(VACUUM, PixelatedDetector(max_angle=300))
    with pytest.raises(ValueError, match=r"inner \(50\.0 mrad\) must be smaller than outer"):
        AnnularDetector(50, 50)
    with pytest.raises(ValueError, match="outside the cell"):
        probe.scan(VACUUM, AnnularDetector(0, 30), GridScan(start=(0, 0), end=(9, 8)))
    with pytest.raises(ValueError, match="outside the cell"):
        probe.scan(VACUUM, AnnularDetector(0, 30), [[-1.0, 2.0]])
    with pytest.raises(ValueError, match="semiangle_cutoff must be > 0"):
        Probe(200e3, 0.0)
    with pytest.raises(ValueError, match="at least one detector"):
        probe.scan(VACUUM, [])
    with pytest.raises(TypeError, match="got str"):
        probe.scan(VACUUM, "annular")
    with pytest.raises(ValueError, match="give sampling or gpts, not both"):
        GridScan(sampling=0.2, gpts=4)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        probe.scan(VACUUM, AnnularDetector(0, 30), GridScan(gpts=2), batch_size=0)


def test_a_scan_that_cannot_fit_in_memory_is_refused(monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "1M")
    with pytest.raises(ValueError, match=r"needs about .* GiB but only"):
        Probe(200e3, 20).scan(VACUUM, WavesDetector(), GridScan(gpts=8))


def run_command(argv):
    from atomscope.cli import build_parser

    args = build_parser(only=argv[0]).parse_args(argv)
    args.func(args)


def test_stem_and_cbed_commands_write_their_outputs(tmp_path, capsys):
    import json

    import ase.io

    structure = tmp_path / "sto.cif"
    ase.io.write(structure, strontium_titanate((1, 1, 2)))
    out = tmp_path / "stem"
    run_command(
        [
            "stem",
            str(structure),
            "--out",
            str(out),
            "--energy",
            "300e3",
            "--sampling",
            "0.03051",
            "--detector",
            "annular:70:200",
            "--detector",
            "segmented:10:40:2:4",
            "--detector",
            "pixelated:30",
            "--scan-sampling",
            "0.5",
        ]
    )
    printed = capsys.readouterr().out
    assert "memory estimate" in printed and "outputs in" in printed
    names = {p.name for p in out.iterdir()}
    assert {
        "annular_70-200mrad.tif",
        "annular_70-200mrad.png",
        "segmented_10-40mrad_2x4.tif",
        "segmented_10-40mrad_2x4_segments.npz",
        "4dstem.zarr",
        "4dstem_mean.png",
        "summary.json",
    } <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scan"]["shape"] == [8, 8] and summary["probe"]["semiangle_cutoff"] == 20.0
    assert zarr.open_array(out / "4dstem.zarr", mode="r").attrs["complete"] is True

    cbed = tmp_path / "cbed"
    run_command(
        [
            "cbed",
            str(structure),
            "--out",
            str(cbed),
            "--sampling",
            "0.0611",
            "--position",
            "1.0",
            "1.5",
            "--max-angle",
            "40",
        ]
    )
    pattern = np.load(cbed / "cbed.npz")["pattern"]
    assert pattern.shape[0] % 2 == 1 and 0.9 < pattern.sum() <= 1.0
    assert json.loads((cbed / "summary.json").read_text())["position"] == [1.0, 1.5]


def test_stem_command_refuses_bad_input_before_writing(tmp_path):
    import ase.io

    structure = tmp_path / "sto.cif"
    ase.io.write(structure, strontium_titanate((1, 1, 1)))
    out = tmp_path / "never"
    with pytest.raises(SystemExit):
        run_command(["stem", str(structure), "--detector", "annular:70"])
    with pytest.raises(ValueError, match="exceeds the maximum simulated angle"):
        run_command(
            [
                "stem",
                str(structure),
                "--out",
                str(out),
                "--sampling",
                "0.1",
                "--detector",
                "annular:70:200",
            ]
        )
    with pytest.raises(ValueError, match="at least one --detector"):
        run_command(["stem", str(structure), "--out", str(out)])
    with pytest.raises(ValueError, match="outside the cell"):
        run_command(
            [
                "stem",
                str(structure),
                "--out",
                str(out),
                "--detector",
                "annular:0:30",
                "--scan-end",
                "10",
                "3",
            ]
        )
    with pytest.raises(ValueError, match="outside the cell"):
        run_command(["cbed", str(structure), "--out", str(out), "--position", "-1", "0"])
    with pytest.raises(SystemExit):
        run_command(["stem", str(structure), "--detector", "annular:0:30", "--phonons", "debye:1"])
    with pytest.raises(ValueError, match="interpolation=3 must divide"):
        run_command(
            [
                "stem",
                str(structure),
                "--out",
                str(out),
                "--sampling",
                "0.1",
                "--detector",
                "annular:0:30",
                "--prism",
                "3",
            ]
        )
    assert not out.exists()


def test_stem_command_with_phonons_and_prism_equals_the_api(tmp_path):
    import json

    import ase.io
    import tifffile

    from atomscope.thermal import EinsteinPhonons
    from atomscope.waves.prism import PRISM

    atoms = strontium_titanate((1, 1, 1))
    structure = tmp_path / "sto.cif"
    ase.io.write(structure, atoms)
    out = tmp_path / "stem"
    run_command(
        [
            "stem",
            str(structure),
            "--out",
            str(out),
            "--sampling",
            "0.1",
            "--detector",
            "annular:30:60",
            "--scan-sampling",
            "1.0",
            "--prism",
            "2",
            "--phonons",
            "einstein:0.1:2:7",
        ]
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_configs"] == 2 and summary["prism_interpolation"] == 2
    potential = Potential(
        list(EinsteinPhonons(atoms, sigmas=0.1, num_configs=2, rng=7)),
        sampling=0.1,
        slice_thickness=1.0,
    )
    expected = (
        PRISM(Probe(200e3, 20), 2)
        .scan(potential, AnnularDetector(30, 60), GridScan(sampling=1.0))[0]
        .array
    )
    # TIFF rows are y (image convention), arrays are [x, y]
    np.testing.assert_allclose(
        tifffile.imread(out / "annular_30-60mrad.tif").T, expected, rtol=1e-6
    )


@settings(max_examples=40, deadline=None)
@given(
    st.tuples(st.floats(0, 5), st.floats(0, 5)),
    st.tuples(st.floats(0.1, 10), st.floats(0.1, 10)),
    st.floats(0.05, 2.0),
    st.booleans(),
)
def test_grid_scan_fills_its_rectangle_evenly_at_most_at_the_step(start, size, sampling, endpoint):
    end = (start[0] + size[0], start[1] + size[1])
    scan = GridScan(start=start, end=end, sampling=sampling, endpoint=endpoint)
    positions = scan.positions.reshape(*scan.shape, 2)
    assert len(scan.positions) == scan.shape[0] * scan.shape[1]
    for axis in range(2):
        assert scan.step[axis] <= sampling * (1 + 1e-9)
        assert positions[(0, 0)][axis] == pytest.approx(start[axis])
        last = positions[(-1, -1)][axis]
        expected = end[axis] if endpoint else end[axis] - scan.step[axis]
        assert last == pytest.approx(expected, abs=1e-9)


def test_frozen_phonon_cbed_is_the_average_of_the_configuration_patterns():
    first, second = silicon((1, 1, 1)), silicon((1, 1, 1))
    second.positions += np.random.default_rng(1).normal(0, 0.1, second.positions.shape)
    probe, settings_ = Probe(200e3, 15), {"gpts": 64, "slice_thickness": 1.4}
    ensemble = probe.multislice(Potential([first, second], **settings_)).diffraction_pattern(40)
    separate = [
        probe.multislice(Potential(a, **settings_)).diffraction_pattern(40).array
        for a in (first, second)
    ]
    np.testing.assert_allclose(ensemble.array, np.mean(separate, axis=0), atol=1e-7)


def thermal_scan():
    """A frozen-phonon Si scan with every kind of detector, in four batches of 4 positions."""
    from atomscope.thermal import EinsteinPhonons

    potential = Potential(
        EinsteinPhonons(silicon(), sigmas=0.1, num_configs=2, rng=5), gpts=64, slice_thickness=2.0
    )
    detectors = [AnnularDetector(30, 45), SegmentedDetector(0, 20, 1, 4), PixelatedDetector(40)]
    return potential, Probe(200e3, 20), detectors, GridScan(gpts=(3, 5))


def test_scan_on_a_dask_cluster_is_bit_identical_to_the_local_scan():
    from atomscope.parallel import client

    potential, probe, detectors, scan = thermal_scan()
    local = probe.scan(potential, detectors, scan, batch_size=4)
    with client(workers=2) as dask_client:
        distributed = probe.scan(potential, detectors, scan, batch_size=4, client=dask_client)
    for ours, theirs in zip(local, distributed, strict=True):
        assert ours.array.max() > 0
        np.testing.assert_array_equal(theirs.array, ours.array)


def test_parallel_lanes_give_the_single_lane_scan_bit_for_bit():
    # batches in two threads with one FFT thread each against one lane with every thread
    from atomscope.core.threads import using

    potential, probe, detectors, scan = thermal_scan()
    assert probe.plan_batches(potential, 15, detectors, batch_size=4, lanes=2).lanes == 2
    assert probe.plan_batches(potential, 15, detectors, batch_size=15, lanes=2).lanes == 1
    with using(1):
        single = probe.scan(potential, detectors, scan, batch_size=4)
    with using(2):
        lanes = probe.scan(potential, detectors, scan, batch_size=4)
    for ours, theirs in zip(single, lanes, strict=True):
        assert ours.array.max() > 0
        np.testing.assert_array_equal(theirs.array, ours.array)


def test_the_memory_plan_counts_every_lane():
    potential = Potential(silicon(), gpts=64, slice_thickness=2.0)
    probe, detectors = Probe(200e3, 20), [AnnularDetector(30, 45)]
    one, two, three = (
        probe.plan_batches(potential, 100, detectors, batch_size=10, lanes=lanes).nbytes
        for lanes in (1, 2, 3)
    )
    per_batch = two - one
    assert three - two == per_batch > 10 * 2 * 8 * 64 * 64  # waves and FFT scratch at least
    balanced = probe.plan_batches(potential, 100, detectors, lanes=2)
    assert balanced.lanes == 2 and (-(-100 // balanced.batch_size)) % 2 == 0


def test_frozen_phonon_cbed_on_dask_equals_the_local_run():
    from ase.build import bulk

    from atomscope.parallel import client
    from atomscope.thermal import EinsteinPhonons

    snapshots = EinsteinPhonons(bulk("Si", cubic=True), sigmas=0.08, num_configs=3, rng=2)
    potential = Potential(snapshots, sampling=0.1, slice_thickness=1.3575)
    probe = Probe(energy=200e3, semiangle_cutoff=15)
    local = probe.multislice(potential, position=(2.0, 2.5))
    with client(workers=2) as dask_client:
        distributed = probe.multislice(potential, position=(2.0, 2.5), client=dask_client)
    assert distributed.array.shape == local.array.shape == (3, *potential.gpts)
    np.testing.assert_array_equal(distributed.array, local.array)
    np.testing.assert_array_equal(
        distributed.diffraction_pattern().array, local.diffraction_pattern().array
    )
