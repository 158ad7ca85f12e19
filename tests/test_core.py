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
