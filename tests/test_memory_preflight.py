"""Memory and disk pre-flight (issue #12, item 3): every job that cannot fit is refused before
it allocates, with a message naming the option that drives its size and the estimate.

A refusal must come before the allocation, so every test here replaces the step that would
allocate with one that fails the test.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from atomscope.cli import main
from atomscope.core import memory
from atomscope.jobs.hrtem import HRTEMSettings, prepare
from atomscope.waves.scan import GridScan, LineScan

MiB = 2**20


def _allocating(*args, **kwargs):
    pytest.fail("the job started allocating instead of being refused")


@pytest.fixture
def structure(tmp_path):
    path = tmp_path / "si.xyz"
    write(path, bulk("Si", cubic=True), format="extxyz")
    return path


@pytest.fixture
def no_simulation(monkeypatch):
    """Every simulation step that allocates the grid fails the test."""
    from atomscope.waves import ensemble
    from atomscope.waves.probe import Probe

    monkeypatch.setattr(ensemble, "frozen_phonon_average", _allocating)
    monkeypatch.setattr(Probe, "multislice", _allocating)
    monkeypatch.setattr(Probe, "scan", _allocating)
    monkeypatch.setattr(GridScan, "positions", property(_allocating))


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    return err


# --- finding 1: HRTEM, CBED and STEM jobs of absurd size --------------------------------------


def test_hrtem_with_a_tiny_sampling_is_refused_before_allocating(
    structure, tmp_path, monkeypatch, capsys, no_simulation
):
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "200M")
    out = tmp_path / "run"
    assert main(["hrtem", str(structure), "--out", str(out), "--sampling", "5e-5"]) == 2
    err = _error(capsys)
    assert "108864×108864 grid of --sampling 5e-05 Å needs about" in err
    assert "GiB" in err and "ATOMSCOPE_MEMORY_LIMIT 0.20 GiB" in err
    assert not out.exists()


def test_hrtem_is_refused_against_the_available_memory_too(structure, monkeypatch, capsys):
    monkeypatch.delenv("ATOMSCOPE_MEMORY_LIMIT", raising=False)
    settings = HRTEMSettings(sampling=5e-5)
    with pytest.raises(ValueError, match=r"--sampling 5e-05 Å needs about \d+\.\d\d GiB but only"):
        prepare(bulk("Si", cubic=True), settings)


def test_a_camera_finer_than_the_grid_is_refused_naming_camera_sampling(
    structure, tmp_path, capsys, no_simulation
):
    arguments = ["hrtem", str(structure), "--out", str(tmp_path / "run")]
    assert main([*arguments, "--sampling", "0.05", "--camera-sampling", "1e-4"]) == 2
    err = _error(capsys)
    assert "54300×54300 camera image of --camera-sampling 0.0001 Å needs about" in err
    assert "coarser --camera-sampling" in err


def test_cbed_max_angle_beyond_the_simulated_limit_is_refused_before_the_multislice(
    structure, tmp_path, capsys, no_simulation
):
    out = tmp_path / "cbed"
    assert main(["cbed", str(structure), "--out", str(out), "--max-angle", "1e5"]) == 2
    err = _error(capsys)
    assert "--max-angle=100000.0 mrad exceeds the maximum simulated angle 215.54 mrad" in err
    assert "allowed range 0 < --max-angle ≤ 215.54 mrad" in err
    assert not out.exists()


def test_cbed_with_a_tiny_sampling_is_refused(structure, tmp_path, capsys, no_simulation):
    out = tmp_path / "cbed"
    assert main(["cbed", str(structure), "--out", str(out), "--sampling", "1e-4"]) == 2
    err = _error(capsys)
    assert "CBED multislice on the 54432×54432 grid of --sampling 0.0001 Å needs about" in err
    assert not out.exists()


def test_stem_with_a_tiny_scan_step_is_refused_before_the_positions_exist(
    structure, tmp_path, capsys, no_simulation
):
    out = tmp_path / "stem"
    arguments = ["stem", str(structure), "--out", str(out), "--detector", "annular:50:150"]
    assert main([*arguments, "--scan-sampling", "1e-9"]) == 2
    err = _error(capsys)
    assert "a 5430000000×5430000000 scan (--scan-sampling 1e-09 Å) needs about" in err
    assert "e+11 GiB" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("scan", "named"),
    [
        (GridScan(sampling=1e-9), "scan (sampling 1e-09 Å)"),
        (GridScan(gpts=(10**6, 10**6)), "1000000×1000000 scan (gpts (1000000, 1000000))"),
        (GridScan(sampling=(1e-300, 1.0)), "scan (sampling (1e-300, 1.0) Å)"),
        (LineScan((0, 0), (3, 4), sampling=1e-12), "a 5000000000001 scan (sampling 1e-12 Å)"),
        (GridScan(), "scan (sampling (default) 1e-10 Å)"),
    ],
)
def test_scans_whose_positions_cannot_fit_are_refused_by_resolve(monkeypatch, scan, named):
    monkeypatch.setattr(GridScan, "positions", property(_allocating))
    monkeypatch.setattr(LineScan, "positions", property(_allocating))
    with pytest.raises(ValueError, match="needs about") as error:
        scan.resolve(1e-10, (5.0, 5.0))
    assert named in str(error.value)


def test_a_scan_that_fits_is_resolved_as_before():
    scan = GridScan(sampling=0.5).resolve(0.3, (5.0, 4.0))
    assert scan.shape == (10, 8) and scan.positions.shape == (80, 2)
    assert LineScan((0, 0), (3, 4)).resolve(1.0, (5.0, 5.0)).shape == (6,)


# --- finding 2: the process baseline counts against ATOMSCOPE_MEMORY_LIMIT ----------------------


def test_resident_memory_follows_what_the_process_touches():
    """Fresh pages (an anonymous map written through): with ``np.ones`` the allocator may hand
    back memory that earlier tests freed but the process still holds, and the resident set
    rightly does not grow (seen in the full suite after the lens-search tests)."""
    import mmap

    before = memory.resident_memory()
    with mmap.mmap(-1, 64 * MiB) as block:
        np.frombuffer(block, dtype=np.uint8)[:] = 1
        assert memory.resident_memory() - before > 48 * MiB


def test_the_memory_this_process_holds_counts_against_the_limit(monkeypatch):
    held = memory.resident_memory()
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", str(held + 100 * MiB))
    assert memory.available_memory() == held + 100 * MiB
    assert memory.memory_budget() == pytest.approx(100 * MiB, abs=16 * MiB)
    memory.check_memory(50 * MiB, "a job of 50 MiB")
    # fits the limit alone, but not on top of what the process already holds
    with pytest.raises(ValueError, match=r"minus the .* GiB this process already holds"):
        memory.check_memory(150 * MiB, "a job of 150 MiB")


def test_a_limit_below_what_the_process_holds_refuses_every_job(monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "1M")
    assert memory.memory_budget() == 0
    with pytest.raises(ValueError, match=r"only 0 GiB is available \(ATOMSCOPE_MEMORY_LIMIT"):
        memory.check_memory(1, "one byte")


def test_mem_available_already_excludes_the_process_itself(monkeypatch):
    monkeypatch.delenv("ATOMSCOPE_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(memory, "available_memory", lambda: 4 * 2**30)
    monkeypatch.setattr(memory, "resident_memory", lambda: 3 * 2**30)
    # MemAvailable is free memory: the 3 GiB this process holds are not in it already
    assert memory.memory_budget() == 4 * 2**30
    memory.check_memory(3 * 2**30, "a 3 GiB job")


# --- finding 5: 4D-STEM disk space -------------------------------------------------------------


def test_check_disk_uses_the_free_space_of_the_nearest_existing_directory(tmp_path, monkeypatch):
    import shutil

    monkeypatch.delenv("ATOMSCOPE_DISK_LIMIT", raising=False)
    seen = []

    def usage(path):
        seen.append(path)
        return shutil._ntuple_diskusage(10 * MiB, 9 * MiB, 1 * MiB)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    target = tmp_path / "not" / "yet"
    memory.check_disk(target, 512 * 1024, "half a MiB")
    with pytest.raises(ValueError, match=r"a big store writes up to .* GiB to .* but only"):
        memory.check_disk(target, 2 * MiB, "a big store", "write less")
    assert seen == [tmp_path, tmp_path]


def test_check_disk_honours_atomscope_disk_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_DISK_LIMIT", "1M")
    assert memory.free_disk(tmp_path) == MiB
    memory.check_disk(tmp_path, 900 * 1024, "900 KiB")
    with pytest.raises(ValueError, match=r"allowed \(ATOMSCOPE_DISK_LIMIT\); write less"):
        memory.check_disk(tmp_path, 2 * MiB, "2 MiB", "write less")
    monkeypatch.setenv("ATOMSCOPE_DISK_LIMIT", "plenty")
    with pytest.raises(ValueError, match="ATOMSCOPE_DISK_LIMIT must be a size"):
        memory.free_disk(tmp_path)


def test_a_4d_stem_store_larger_than_the_disk_is_refused_before_the_scan(
    structure, tmp_path, monkeypatch, capsys
):
    from atomscope.waves.probe import Probe

    monkeypatch.setattr(Probe, "scan", _allocating)
    monkeypatch.setenv("ATOMSCOPE_DISK_LIMIT", "100K")
    out = tmp_path / "stem"
    arguments = ["stem", str(structure), "--out", str(out), "--detector", "pixelated:40"]
    assert main([*arguments, "--scan-sampling", "0.2"]) == 2
    err = _error(capsys)
    # 28 × 28 positions × 17 × 17 pixels × 4 B
    assert f"writes up to {28 * 28 * 17 * 17 * 4 / 2**30:.3g} GiB" in err
    assert "28×28 positions (--scan-sampling 0.2 Å) with 17×17-pixel patterns" in err
    assert not out.exists()


# --- finding 3: structure builders --------------------------------------------------------------


@pytest.fixture
def no_building(monkeypatch):
    """The builders' allocating steps fail the test."""
    from atomscope.structures import graphene, nanoparticles

    monkeypatch.setattr(nanoparticles, "_lattice_block", _allocating)
    monkeypatch.setattr(nanoparticles, "wulff_construction", _allocating)
    monkeypatch.setattr(graphene, "_honeycomb", _allocating)
    monkeypatch.setattr(graphene, "_poisson_disc", _allocating)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["particle", "--radius", "1e4", "1e4"], "a particle of radius up to 10000 Å"),
        (["wulff", "--size", "1e4"], "Wulff particle of about 2.47e+11 atoms (size=10000 Å"),
        (["wulff", "--size", "1000000000000"], "Wulff particle of 1000000000000 atoms"),
        (["graphene", "--extent", "1e6"], "extent=(1e+06, 1e+06) Å (about 3.82e+11 atoms)"),
        (["graphene", "--form", "random", "--extent", "1e6"], "extent=(1e+06, 1e+06) Å"),
        (
            ["graphene", "--form", "polycrystal", "--extent", "1e6", "--grains", "3"],
            "extent=(1e+06, 1e+06) Å",
        ),
    ],
)
def test_huge_structures_are_refused_before_building(argv, named, tmp_path, capsys, no_building):
    output = tmp_path / "huge"
    assert main(["build", *argv, "-o", str(output)]) == 2
    err = _error(capsys)
    assert named in err and "needs about" in err and "GiB" in err
    assert not output.exists()


def test_graphene_sheet_is_refused_too(no_building):
    from atomscope.structures import graphene_sheet

    with pytest.raises(ValueError, match=r"extent=\(100000, 200000\) Å \(about 7.64e\+09"):
        graphene_sheet((1e5, 2e5))


def test_the_builders_estimates_follow_the_sizes(monkeypatch, no_building):
    from atomscope.structures import graphene, nanoparticles

    # 2 atoms per 5.24 Å² of graphene; 4 fcc atoms per a³ in the block of a particle
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "1T")
    sheet = 1e6**2 / 5.2392 * 2 * graphene.RANDOM_ATOM_BYTES
    block = 4 * (2 * np.ceil((1.13 * 1e4 * 1.5 ** (1 / 3) + 3 * 4.08) / 4.08) + 3) ** 3
    for build, nbytes in [
        (lambda: graphene.random_graphene(1e6, 0), sheet),
        (lambda: nanoparticles.random_particle("Au", 0, radius=1e4), block * 200),
    ]:
        with pytest.raises(ValueError) as error:
            build()
        assert f"needs about {nbytes / 2**30:.3g} GiB" in str(error.value)


def test_moderate_structures_are_still_built():
    from atomscope.structures import random_graphene, random_particle, wulff_particle

    assert len(random_particle("Au", 0, radius=(6, 9), growth=0.2)) > 50
    assert 400 < len(wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 1.1], 500)) < 600
    assert len(random_graphene(20.0, 0, num_holes=0)) > 100


# --- finding 4: a network of absurd width ------------------------------------------------------


def test_a_network_of_absurd_width_is_refused_before_its_layers_exist(monkeypatch):
    torch = pytest.importorskip("torch")
    from atomscope.learning.model import FusionNet

    monkeypatch.setattr(torch.nn.Conv2d, "__init__", _allocating)
    with pytest.raises(ValueError, match=r"FusionNet of width=100000 \(5.06e\+13 numbers") as error:
        FusionNet(width=100000)
    assert "use a smaller width" in str(error.value)


def test_the_network_estimate_counts_every_number_and_grows_with_the_tiles():
    pytest.importorskip("torch")
    from atomscope.learning.model import FusionNet, memory_estimate, parameter_count

    for width, in_channels, num_classes in [(2, 1, 1), (4, 3, 2)]:
        net = FusionNet(in_channels, num_classes, width)
        stored = sum(t.numel() for t in net.state_dict().values())
        assert parameter_count(width, in_channels, num_classes) == stored
    inference = memory_estimate(32, 256, batch_size=16)
    assert memory_estimate(32, 512, batch_size=16) > 3.5 * (inference - 24 * MiB)
    assert memory_estimate(32, 256, batch_size=16, training=True) > 5 * inference
    with pytest.raises(ValueError, match="tile_size must be"):
        memory_estimate(32, 0)


# --- finding 6: the dose is checked when the camera is made ------------------------------------


def test_an_absurd_dose_is_refused_before_the_simulation(
    structure, tmp_path, capsys, no_simulation
):
    out = tmp_path / "run"
    assert main(["hrtem", str(structure), "--out", str(out), "--dose", "1e300"]) == 2
    err = _error(capsys)
    assert "dose=1e+300 e⁻/Å² gives 3.24e+298 counts per 0.18×0.18 Å pixel" in err
    assert "allowed: 0 < dose ≤ 3.09e+16 e⁻/Å²" in err
    assert not out.exists()


def test_the_largest_allowed_dose_still_draws_counts():
    from atomscope.detection import Camera
    from atomscope.detection.camera import MAX_COUNTS_PER_PIXEL

    camera = Camera(sampling=0.2, dose=MAX_COUNTS_PER_PIXEL / 0.04)
    counts = camera.detect(np.full((8, 8), 2.0), sampling=0.2, rng=0)
    assert counts.array.mean() == pytest.approx(2 * MAX_COUNTS_PER_PIXEL, rel=1e-6)
    with pytest.raises(ValueError, match=r"allowed: 0 < dose ≤ 2.5e\+16"):
        Camera(sampling=0.2, dose=3e16)
    with pytest.raises(ValueError, match=r"expects up to 1e\+19 counts per pixel"):
        camera.detect(np.full((8, 8), 1e4), sampling=0.2, rng=0)


# --- the estimates are honest upper bounds ------------------------------------------------------

# Each job runs in a fresh process: RSS before the job (after what its pre-flight imports),
# peak RSS after it; prints {"estimate": bytes, "growth": bytes}. The peak is VmHWM, the
# process's own high-water mark: Linux carries ru_maxrss over from the parent across exec, so
# after a test that grew pytest's process (e.g. importing torch) ru_maxrss is pytest's peak.
HONEST_JOB = """
import json, sys
from pathlib import Path
from ase.build import bulk
from atomscope.core.memory import resident_memory

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

atoms = bulk("Si", cubic=True)
if sys.argv[1] == "hrtem":
    from atomscope.jobs.hrtem import HRTEMSettings, memory_estimate, prepare, run_hrtem

    atoms = atoms.repeat((3, 3, 2))
    settings = HRTEMSettings(sampling=atoms.cell[0, 0] / 512, camera_sampling=0.18)
    potential, _, camera, _ = prepare(atoms, settings)
    nbytes = memory_estimate(potential, camera)
    del potential, camera
    before = resident_memory()
    run_hrtem(atoms, settings, sys.argv[2], progress=False)
else:
    from atomscope.potentials.projected import Potential
    from atomscope.waves.detectors import AnnularDetector, PixelatedDetector
    from atomscope.waves.probe import Probe
    from atomscope.waves.scan import GridScan

    potential = Potential(atoms.repeat((4, 4, 1)), gpts=256, slice_thickness=2.7155)
    probe, scan = Probe(200e3, 20), GridScan(gpts=(12, 12))
    detectors = [AnnularDetector(30, 45), PixelatedDetector(40)]
    nbytes = probe.plan_batches(potential, 144, detectors).nbytes
    before = resident_memory()
    probe.scan(potential, detectors, scan)
print(json.dumps({"estimate": nbytes, "growth": peak() - before}))
"""


@pytest.mark.parametrize("job", ["hrtem", "stem"])
def test_estimates_bound_the_measured_peak_without_being_absurd(job, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", HONEST_JOB, job, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    estimate, growth = measured["estimate"], measured["growth"]
    assert estimate > 64 * MiB, measured  # the grid's arrays, not the noise, dominate
    assert growth <= 1.2 * estimate, measured
    assert estimate <= 3 * growth, measured


def test_plane_wave_multislice_from_python_is_refused_before_allocating(monkeypatch):
    """The Python API path (not only the CLI) refuses a grid that cannot fit."""
    from ase.build import bulk

    from atomscope.potentials.projected import Potential
    from atomscope.waves.plane import PlaneWave

    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "2G")
    potential = Potential(bulk("Si", cubic=True), sampling=5e-4, slice_thickness=2.0)
    with pytest.raises(ValueError, match=r"multislice on the \d+×\d+ grid"):
        PlaneWave(300e3).multislice(potential)
