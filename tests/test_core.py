"""core/: energy, grid, FFT seam, rng, validation."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.core import fft, memory
from atomscope.core.energy import energy2sigma, energy2wavelength
from atomscope.core.grid import Grid
from atomscope.core.rng import as_generator, spawn


def test_wavelength_and_sigma_at_300kev_match_published_values():
    # Kirkland (2010) Table 2.2 / issue #3: λ(300 keV) = 0.019687 Å, σ = 6.5262e-4 rad/(V·Å).
    assert energy2wavelength(300e3) == pytest.approx(0.019687, abs=5e-7)
    assert energy2sigma(300e3) == pytest.approx(6.5262e-4, rel=2e-5)


def test_wavelength_at_200_and_80_kev():
    # Kirkland (2010) Table 2.2: 200 keV 0.02508 Å, 80 keV (Williams & Carter) 0.04176 Å.
    assert energy2wavelength(200e3) == pytest.approx(0.025079, abs=2e-6)
    assert energy2wavelength(80e3) == pytest.approx(0.041757, abs=2e-6)


def test_nonrelativistic_limit_of_wavelength():
    # λ → h / √(2 m0 E) for E ≪ m0c² (12.2643 / √E Å with E in eV).
    assert energy2wavelength(10.0) == pytest.approx(12.2643 / np.sqrt(10.0), rel=1e-5)


@pytest.mark.parametrize("energy", [0, -1, np.nan, np.inf])
def test_energy_must_be_positive(energy):
    with pytest.raises(ValueError, match="energy"):
        energy2wavelength(energy)


def test_grid_two_of_three():
    assert Grid(extent=10, gpts=100).sampling == (0.1, 0.1)
    assert Grid(gpts=(10, 20), sampling=0.5).extent == (5.0, 10.0)
    grid = Grid(extent=(10, 5), sampling=0.3)
    # 34 and 17 pixels rounded up to fast FFT sizes (2·5·7 and 2·3²): the sampling only shrinks
    assert grid.gpts == (35, 18)
    assert np.allclose(np.array(grid.gpts) * grid.sampling, grid.extent)
    assert max(grid.sampling) <= 0.3
    # an absurd sampling is one clear error at once (it searched upward for a fast size forever)
    with pytest.raises(ValueError, match=r"too fine for the extent .* 1e\+301 pixels per axis"):
        Grid(extent=10.0, sampling=1e-300)


def test_grid_contradiction_and_bad_values_raise():
    with pytest.raises(ValueError, match="contradict"):
        Grid(extent=10, gpts=100, sampling=0.2)
    with pytest.raises(ValueError, match="two of"):
        Grid(extent=10)
    with pytest.raises(ValueError, match="sampling"):
        Grid(extent=10, sampling=np.nan)
    with pytest.raises(ValueError, match="gpts"):
        Grid(extent=10, gpts=0)
    with pytest.raises(ValueError, match="extent"):
        Grid(extent=0, sampling=0.1)


def test_grid_frequencies_have_no_two_pi():
    kx, ky = Grid(extent=(8, 4), gpts=(8, 4)).frequencies()
    assert kx[1] == pytest.approx(1 / 8) and ky[1] == pytest.approx(1 / 4)
    assert Grid(extent=8, gpts=8).nyquist == (0.5, 0.5)


@pytest.mark.parametrize("name", ["fftw", "scipy"])
def test_fft_backends_match_numpy(monkeypatch, name):
    monkeypatch.setenv("ATOMSCOPE_FFT", name)
    rng = np.random.default_rng(1)
    data = rng.standard_normal((3, 64, 48)) + 1j * rng.standard_normal((3, 64, 48))
    a = fft.empty(data.shape)
    a[...] = data
    fft.fft2_inplace(a)
    np.testing.assert_allclose(a, np.fft.fft2(data), rtol=0, atol=1e-3 * np.abs(data).sum() ** 0.5)
    fft.ifft2_inplace(a)
    np.testing.assert_allclose(a, data, atol=1e-5)


@pytest.mark.parametrize("name", ["fftw", "scipy"])
@pytest.mark.parametrize("shape", [(32, 24), (31, 25), (20, 33)])
def test_irfft2_inverts_numpy_rfft2(monkeypatch, name, shape):
    monkeypatch.setenv("ATOMSCOPE_FFT", name)
    data = np.random.default_rng(2).standard_normal(shape)
    half = np.fft.rfft2(data).astype(np.complex64)
    kept = half.copy()
    result = fft.irfft2(half, shape)
    assert result.dtype == np.float32 and result.shape == shape
    np.testing.assert_allclose(result, data, atol=1e-5)
    np.testing.assert_array_equal(half, kept)
    with pytest.raises(ValueError, match="half_spectrum"):
        fft.irfft2(half, (shape[0], shape[1] + 2))


@pytest.mark.parametrize("name", ["fftw", "scipy"])
@settings(max_examples=15, deadline=None)
@given(
    st.integers(4, 40),
    st.integers(2, 33),
    st.floats(0.1, 1.0),
    st.sampled_from([(), (3,)]),
    st.integers(0, 2**31),
)
def test_band_transforms_equal_full_transforms_on_the_band(name, nx, ny, cutoff, batch, seed):
    # the pruned transforms of the multislice loop: the forward one must equal the full FFT on
    # the aperture's rows (zero elsewhere); the inverse of a band-limited spectrum the full one
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATOMSCOPE_FFT", name)
        grid = Grid(gpts=(nx, ny), sampling=0.1)
        aperture = grid.antialias_aperture(cutoff)
        band = fft.band_of(aperture)
        rows = np.abs(grid.frequencies()[0]) <= cutoff * grid.nyquist[0] + 1e-9
        assert np.array_equal(aperture.any(axis=1), rows & aperture.any(axis=1))
        rng = np.random.default_rng(seed)
        data = rng.standard_normal((*batch, nx, ny)) + 1j * rng.standard_normal((*batch, nx, ny))
        array = fft.empty(data.shape)
        array[...] = data
        fft.fft2_band_inplace(array, band)
        kept = np.zeros(nx, dtype=bool)
        kept[: band[0]] = kept[band[1] :] = True
        full = np.fft.fft2(data)
        scale = np.abs(full).max()
        np.testing.assert_allclose(array[..., kept, :], full[..., kept, :], atol=1e-5 * scale)
        assert not array[..., ~kept, :].any()
        spectrum = full * aperture
        array[...] = spectrum
        array[..., ~kept, :] = 12345  # rows outside the band are not read
        fft.ifft2_band_inplace(array, band)
        np.testing.assert_allclose(array, np.fft.ifft2(spectrum), atol=1e-5 * scale / (nx * ny))
        array[...] = spectrum
        fft.ifft2_band_inplace(array, band, normalize=False)
        np.testing.assert_allclose(array, np.fft.ifft2(spectrum) * nx * ny, atol=1e-5 * scale)


def test_band_of_reads_the_rows_of_an_aperture():
    aperture = np.zeros((10, 4))
    assert fft.band_of(aperture) == (0, 10)
    aperture[[0, 1, 2, 9]] = 1
    assert fft.band_of(aperture) == (3, 9)
    aperture[5] = 1
    with pytest.raises(ValueError, match="aperture"):
        fft.band_of(aperture)


def test_a_simulation_with_the_default_fft_backend_does_not_import_pyfftw():
    # importing pyFFTW (core.fft holds it as a lazy module) imports dask.array: 0.4 s that
    # every first simulation used to pay for aligned buffers pocketfft does not need
    code = (
        "import sys; from ase.build import bulk; import atomscope as ats\n"
        "p = ats.Potential(bulk('Si', cubic=True), sampling=0.2)\n"
        "ats.PlaneWave(energy=200e3).multislice(p)\n"
        "assert 'dask.array' not in sys.modules, 'pyFFTW was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ATOMSCOPE_FFT"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_fftw_wisdom_is_saved_and_survives_a_corrupt_cache(tmp_path):
    script = (
        "import numpy as np; from atomscope.core import fft; "
        "a = fft.empty((36, 44)); a[...] = 1; fft.fft2_inplace(a); print(abs(a[0, 0]))"
    )
    env = {**os.environ, "ATOMSCOPE_CACHE_DIR": str(tmp_path), "ATOMSCOPE_FFT": "fftw"}
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    (wisdom,) = (path for path in tmp_path.iterdir() if path.suffix == ".bin")  # and its .lock
    assert first.stdout.strip() == "1584.0" and b"fftw" in wisdom.read_bytes()
    wisdom.write_bytes(b"not wisdom")
    again = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.strip() == "1584.0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512M", 512 * 2**20), ("2GiB", 2 * 2**30), ("1000", 1000), ("1.5k", 1536)],
)
def test_memory_limit_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", text)
    assert memory.available_memory() == expected


def test_memory_check_refuses_a_job_that_cannot_fit(monkeypatch):
    monkeypatch.delenv("ATOMSCOPE_MEMORY_LIMIT", raising=False)
    real = memory.available_memory()
    assert 2**20 < real < 2**50
    memory.check_memory(real // 2, "half of it")
    with pytest.raises(ValueError, match=r"a big job needs about .* GiB is available; shrink it"):
        memory.check_memory(real, "a big job", "shrink it")
    monkeypatch.setenv("ATOMSCOPE_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="ATOMSCOPE_MEMORY_LIMIT"):
        memory.available_memory()


def test_fft_backend_env_is_validated(monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_FFT", "cuda")
    with pytest.raises(ValueError, match="ATOMSCOPE_FFT"):
        fft.backend()


def test_fft_inplace_refuses_wrong_dtype():
    with pytest.raises(TypeError, match="complex64"):
        fft.fft2_inplace(np.zeros((4, 4)))


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 40), st.integers(2, 40))
def test_fft_unnormalised_inverse_scales_by_size(nx, ny):
    data = np.random.default_rng(nx * ny).standard_normal((nx, ny)).astype(np.complex64)
    a = fft.fft2(data)
    fft.ifft2_inplace(a, normalize=False)
    np.testing.assert_allclose(a, data * nx * ny, atol=1e-3 * nx * ny)


def test_rng_reproducible_and_validated():
    assert as_generator(3).random() == as_generator(3).random()
    children = spawn(7, 3)
    assert len({c.random() for c in children}) == 3
    assert spawn(7, 3)[1].random() == spawn(7, 3)[1].random()
    with pytest.raises(TypeError, match="rng"):
        as_generator(-1)


@pytest.mark.parametrize(("value", "ok"), [("1", True), ("2", True), ("0", False), ("two", False)])
def test_threads_from_the_environment(value, ok):
    script = "from atomscope.core import fft; print(fft.fft_threads())"
    env = {**os.environ, "ATOMSCOPE_THREADS": value}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    if ok:
        assert run.returncode == 0 and run.stdout.strip() == value
    else:
        assert run.returncode != 0 and "ATOMSCOPE_THREADS must be an integer >= 1" in run.stderr
