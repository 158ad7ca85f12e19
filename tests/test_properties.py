"""Property tests for the guarantees users rely on (issue #12): physics invariants, file round
trips with units, seeded reproducibility and output safety, over generated inputs."""

import json
import os

import numpy as np
import pytest
from ase import Atoms
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from atomscope.core import fft
from atomscope.core.grid import Grid
from atomscope.detection import MTF, Camera
from atomscope.images import Images
from atomscope.io import read_image, write_json, write_npz, write_tiff
from atomscope.outputs import claim_outputs, digest, staged_outputs
from atomscope.potentials.projected import Potential
from atomscope.waves.multislice import MultisliceStepper

FEW = settings(max_examples=20, deadline=None)
TMP = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
shapes = st.tuples(st.integers(4, 48), st.integers(4, 48))
samplings = st.floats(1e-3, 10.0, allow_nan=False, allow_infinity=False)


def _atoms(seed: int, count: int, symbols: str) -> Atoms:
    rng = np.random.default_rng(seed)
    cell = np.array([6.0, 5.0, 4.0])
    return Atoms(
        [symbols[i % len(symbols)] for i in range(count)],
        positions=rng.random((count, 3)) * cell,
        cell=cell,
        pbc=True,
    )


@FEW
@given(
    st.integers(0, 2**31),
    st.integers(1, 6),
    st.sampled_from([("C",), ("Si",), ("Au",), ("Sr", "Ti", "O")]),
    st.floats(60e3, 300e3),
)
def test_multislice_without_band_limit_conserves_the_norm(seed, count, symbols, energy):
    """With real potentials (no absorption) t = exp(iσV) and the Fresnel propagator are unitary:
    the norm of the wave is the norm of the plane wave after every slice."""
    potential = Potential(_atoms(seed, count, symbols), gpts=(48, 40), slice_thickness=1.0)
    stepper = MultisliceStepper(potential.grid, energy, antialias_cutoff=2.0)  # covers all k
    wave = fft.empty(potential.gpts)
    wave[...] = 1
    initial = np.sum(np.abs(wave) ** 2)
    for potential_slice in potential.generate_slices():
        transmission = stepper.transmission(potential_slice.array)
        stepper.step(wave, transmission, stepper.propagator(potential_slice.thickness))
        assert np.sum(np.abs(wave) ** 2) == pytest.approx(initial, rel=2e-5)


@FEW
@given(shapes, st.integers(0, 2**31), st.sampled_from(["scipy", "fftw"]))
def test_parseval_holds_for_both_backends(shape, seed, backend):
    os.environ["ATOMSCOPE_FFT"] = backend
    try:
        rng = np.random.default_rng(seed)
        array = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
        spectrum = fft.fft2(array)
    finally:
        del os.environ["ATOMSCOPE_FFT"]
    energy = np.sum(np.abs(array.astype(np.complex128)) ** 2)
    assert np.sum(np.abs(spectrum.astype(np.complex128)) ** 2) == pytest.approx(
        array.size * energy, rel=1e-5
    )


@settings(max_examples=6, deadline=None)  # each new shape costs FFTW a measured plan
@given(shapes, st.integers(0, 2**31))
def test_both_fft_backends_agree_and_invert(shape, seed):
    rng = np.random.default_rng(seed)
    array = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    results = {}
    for backend in ("scipy", "fftw"):
        os.environ["ATOMSCOPE_FFT"] = backend
        try:
            results[backend] = fft.fft2(array)
            back = fft.ifft2(results[backend])
        finally:
            del os.environ["ATOMSCOPE_FFT"]
        np.testing.assert_allclose(back, array, atol=1e-5 * np.abs(array).max())
    scale = np.abs(results["scipy"]).max()
    np.testing.assert_allclose(results["fftw"], results["scipy"], atol=1e-5 * scale)


@TMP
@given(shapes, samplings, samplings, st.integers(0, 2**31))
def test_tiff_round_trip_keeps_pixels_and_sampling(tmp_path, shape, sx, sy, seed):
    array = np.random.default_rng(seed).random(shape, dtype=np.float32)
    path = write_tiff(tmp_path / "image.tif", Images(array, (sx, sy)))
    image = read_image(path)
    np.testing.assert_array_equal(image.array, array)
    assert image.sampling == pytest.approx((sx, sy), rel=1e-6)


@TMP
@given(shapes, samplings, st.integers(0, 2**31))
def test_npz_round_trip_keeps_pixels_and_sampling(tmp_path, shape, sampling, seed):
    array = np.random.default_rng(seed).random(shape).astype(np.float32)
    path = write_npz(tmp_path / "image.npz", array=array, sampling=np.array([sampling] * 2))
    image = read_image(path)
    np.testing.assert_array_equal(image.array, array)
    assert image.sampling == pytest.approx((sampling, sampling))


@TMP
@given(
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.floats(5.0, 40.0),
    st.sampled_from([(200e3, 20.0), (300e3, 10.0), (80e3, 25.0)]),
)
def test_4dstem_zarr_round_trip_keeps_patterns_and_angular_sampling(
    tmp_path, scan_gpts, max_angle, beam
):
    import zarr

    from atomscope.waves.detectors import PixelatedDetector
    from atomscope.waves.probe import Probe
    from atomscope.waves.scan import GridScan

    energy, semiangle = beam
    potential = Potential(Atoms(cell=[6.0, 6.0, 2.0]), gpts=64, slice_thickness=2.0)
    path = tmp_path / f"{scan_gpts}-{max_angle}.zarr"
    detector = PixelatedDetector(max_angle=max_angle, path=path)
    patterns = Probe(energy, semiangle).scan(potential, detector, GridScan(gpts=scan_gpts))[0]
    stored = zarr.open_array(path, mode="r")
    np.testing.assert_array_equal(np.asarray(stored), np.asarray(patterns.array))
    assert stored.attrs["complete"] is True
    assert tuple(stored.attrs["angular_sampling"]) == pytest.approx(patterns.angular_sampling)


@FEW
@given(st.integers(0, 2**31), st.floats(10.0, 1e5), st.floats(0.0, 0.5))
def test_the_camera_repeats_itself_with_the_same_seed(seed, dose, c1):
    image = Images(np.random.default_rng(seed).random((32, 24)).astype(np.float32) + 0.5, 0.05)
    camera = Camera(sampling=0.1, dose=dose, mtf=MTF("rational", c1=c1, c2=0.5, c3=2.5))
    first, second = camera.detect(image, rng=seed), camera.detect(image, rng=seed)
    np.testing.assert_array_equal(first.array, second.array)
    other = camera.detect(image, rng=np.random.default_rng(seed + 1))
    assume(dose > 100)  # at tiny doses two draws can coincide
    assert not np.array_equal(first.array, other.array)


@FEW
@given(
    st.tuples(st.integers(8, 600), st.integers(8, 600)),
    st.floats(0.01, 0.5),
)
def test_grid_extent_gpts_and_sampling_are_consistent(gpts, sampling):
    grid = Grid(gpts=gpts, sampling=sampling)
    again = Grid(extent=grid.extent, gpts=grid.gpts)
    assert again.sampling == pytest.approx(grid.sampling, rel=1e-12)
    assert np.all(np.asarray(grid.extent) == pytest.approx(np.asarray(gpts) * sampling))


@TMP
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_a_digest_changes_whenever_the_content_does(tmp_path, first, second):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(first)
    b.write_bytes(second)
    assert (digest(a) == digest(b)) == (first == second)


plain_names = st.text(
    st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="._-"),
    min_size=1,
    max_size=12,
).filter(lambda name: not name.startswith(".") and name not in (".", ".."))


@TMP
@given(st.sets(plain_names, max_size=6), st.sets(plain_names, max_size=6))
def test_claims_refuse_exactly_the_existing_foreign_names(tmp_path, existing, wanted):
    out = tmp_path / f"claims-{abs(hash((tuple(existing), tuple(wanted))))}"
    out.mkdir()
    for name in existing:
        (out / name).write_text("the user's")
    if existing & wanted:
        with pytest.raises(ValueError, match="was not written by"):
            claim_outputs(out, "hrtem", sorted(wanted))
    else:
        claim_outputs(out, "hrtem", sorted(wanted))
    assert sorted(path.name for path in out.iterdir()) == sorted(existing)


@TMP
@given(st.lists(st.sampled_from(["a.tif", "b.png", "summary.json"]), min_size=1, max_size=6))
def test_repeated_runs_keep_exactly_the_last_set(tmp_path, sequence):
    """Property: after any sequence of runs of one command, ``out`` holds the last run's files
    (plus the user's file) and its manifest lists exactly those."""
    out = tmp_path / f"runs-{abs(hash(tuple(sequence)))}"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    last = set()
    for index, name in enumerate(sequence):
        last = {name, "summary.json"}
        with staged_outputs(out, "stem") as stage:
            for written in last:
                write_json(stage / written, {"run": index})
    visible = {path.name for path in out.iterdir() if not path.name.startswith(".")}
    assert visible == last | {"notes.txt"}
    manifest = json.loads((out / ".atomscope-stem.json").read_text())
    assert set(manifest["outputs"]) == last


@settings(max_examples=8, deadline=None)
@given(
    st.integers(0, 2**31),
    st.integers(32, 160),
    st.integers(1, 12),
    st.integers(1, 3),
    st.booleans(),
)
def test_the_hrtem_estimate_bounds_what_the_job_allocates(seed, gpts, count, configs, camera):
    """The pre-flight estimate is never below what the multislice, lens and camera allocate
    (traced by tracemalloc, which sees every NumPy buffer)."""
    import tracemalloc

    from atomscope.jobs.hrtem import HRTEMSettings, memory_estimate, prepare
    from atomscope.waves.ensemble import frozen_phonon_average
    from atomscope.waves.plane import PlaneWave

    snapshots = [_atoms(seed + i, count, ("Au", "O")) for i in range(configs)]
    settings = HRTEMSettings(sampling=6.0 / gpts, camera_sampling=0.1 if camera else None)
    potential, ctf, cam, _ = prepare(snapshots if configs > 1 else snapshots[0], settings)
    tracemalloc.start()
    try:
        average = frozen_phonon_average(PlaneWave(settings.energy), potential, ctf)
        if cam is not None:
            cam.detect(average.image, rng=seed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= memory_estimate(potential, cam)


@pytest.fixture(scope="module")
def dask_client():
    from atomscope.parallel import client

    with client(workers=2) as running:
        yield running


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 2**31), st.integers(1, 6), st.integers(2, 3))
def test_frozen_phonons_on_dask_equal_the_local_run(dask_client, seed, count, configs):
    from atomscope.optics import CTF
    from atomscope.waves.ensemble import frozen_phonon_average
    from atomscope.waves.plane import PlaneWave

    snapshots = [_atoms(seed + i, count, ("Si",)) for i in range(configs)]
    potential = Potential(snapshots, gpts=(40, 36), slice_thickness=1.0)
    ctf = CTF(energy=200e3, Cs=1e6, defocus=300, semiangle_cutoff=25)
    local = frozen_phonon_average(PlaneWave(200e3), potential, ctf)
    distributed = frozen_phonon_average(PlaneWave(200e3), potential, ctf, client=dask_client)
    np.testing.assert_array_equal(distributed.image.array, local.image.array)
    np.testing.assert_array_equal(distributed.exit_wave.array, local.exit_wave.array)
