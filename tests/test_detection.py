"""detection/: MTF forms, resampling, and the camera (resample → Poisson → MTF)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.core.fft import fft2
from atomscope.detection import MTF, Camera, resample
from atomscope.images import Images


def _cosine(gpts, sampling, cycles, amplitude=0.5, offset=1.0):
    """offset + amplitude·cos(2π(cx·x/Lx + cy·y/Ly)) with pixel i at i·δ."""
    x = np.arange(gpts[0])[:, None] / gpts[0]
    y = np.arange(gpts[1])[None, :] / gpts[1]
    return offset + amplitude * np.cos(2 * np.pi * (cycles[0] * x + cycles[1] * y))


# ---------------------------------------------------------------- MTF


def test_mtf_is_one_at_zero_frequency_for_both_forms():
    assert MTF("rational", 0.1, 0.5, 2.5).evaluate(0.0) == 1.0
    assert MTF("exp_gauss", 0.58, 2.5, 5.9).evaluate(0.0) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize(("c1", "c2", "c3"), [(0.1, 0.5, 2.5), (0.0, 0.3, 1.0), (0.7, 1.2, 4.0)])
def test_rational_form_at_twice_c2_is_halfway_to_the_floor(c1, c2, c3):
    # seed Eq 2.21 at q = 2 c2: (1 − c1)/2 + c1
    assert MTF("rational", c1, c2, c3).evaluate(2 * c2) == pytest.approx((1 - c1) / 2 + c1)


def test_exp_gauss_form_matches_its_closed_form():
    q = np.array([0.25, 0.5, 1.0])
    expected = 0.58 * np.exp(-2.5 * q) + 0.42 * np.exp(-(5.9**2) * q**2)
    np.testing.assert_allclose(MTF("exp_gauss", 0.58, 2.5, 5.9).evaluate(q), expected)


def test_mtf_apply_scales_a_cosine_by_the_mtf_at_its_nyquist_fraction():
    gpts, cycles = (64, 48), (8, 6)  # q = 2·8/64 along x and 2·6/48 along y
    image = _cosine(gpts, 1.0, cycles)
    mtf = MTF("rational", 0.1, 0.5, 2.5)
    q = np.hypot(2 * 8 / 64, 2 * 6 / 48)
    expected = _cosine(gpts, 1.0, cycles, amplitude=0.5 * mtf.evaluate(q))
    np.testing.assert_allclose(mtf.apply(image), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("rational", -0.1, 0.5, 2.5), "c1"),
        (("rational", 1.5, 0.5, 2.5), "c1"),
        (("rational", 0.1, 0.0, 2.5), "c2"),
        (("exp_gauss", 0.1, -1.0, 2.5), "c2"),
        (("rational", 0.1, 0.5, 0.0), "c3"),
        (("rational", 0.1, float("nan"), 2.5), "c2"),
    ],
)
def test_mtf_parameters_out_of_range_are_refused(args, name):
    with pytest.raises(ValueError, match=name):
        MTF(*args)


def test_unknown_mtf_name_lists_the_forms():
    with pytest.raises(ValueError, match=r"rational.*exp_gauss"):
        MTF("gaussian", 0.1, 0.5, 2.5)


def test_mtf_plot_draws_the_curve():
    fig = MTF("rational", 0.1, 0.5, 2.5).plot()
    line = fig.axes[0].lines[0]
    assert line.get_ydata()[0] == 1.0 and len(line.get_xdata()) == 500


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize("method", ["fourier", "bilinear"])
def test_resampling_preserves_the_mean(method):
    image = 1 + np.random.default_rng(0).random((100, 90))
    out, sampling = resample(image, 0.05, 0.18, method)
    assert out.shape == (28, 25) and sampling == pytest.approx((5 / 28, 4.5 / 25))
    assert out.mean() == pytest.approx(image.mean(), rel=1e-12)


@pytest.mark.parametrize(("method", "tolerance"), [("fourier", 1e-9), ("bilinear", 5e-3)])
@pytest.mark.parametrize("new_sampling", [0.13, 0.031])
def test_resampling_keeps_a_band_limited_cosine(method, tolerance, new_sampling):
    gpts, cycles = (100, 90), (3, 2)
    out, sampling = resample(_cosine(gpts, 0.05, cycles), 0.05, new_sampling, method)
    expected = _cosine(out.shape, sampling, cycles)
    np.testing.assert_allclose(out, expected, atol=tolerance)


@pytest.mark.parametrize("method", ["fourier", "bilinear"])
def test_frequencies_above_the_new_nyquist_are_removed_not_aliased(method):
    # 40 cycles over 100 px; 28 camera pixels can hold at most 14
    image = _cosine((100, 100), 0.05, (40, 0))
    out, _ = resample(image, 0.05, 0.18, method)
    np.testing.assert_allclose(out, 1.0, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    st.tuples(st.integers(3, 40), st.integers(3, 40)),
    st.floats(0.3, 3.0),
    st.sampled_from(["fourier", "bilinear"]),
)
def test_resampling_any_size_keeps_the_mean_and_stays_real(gpts, factor, method):
    image = 2 + np.random.default_rng(1).random(gpts)
    out, sampling = resample(image, 0.1, 0.1 * factor, method)
    assert np.isrealobj(out) and np.all(np.isfinite(out))
    assert out.mean() == pytest.approx(image.mean(), rel=1e-10)
    np.testing.assert_allclose(np.multiply(out.shape, sampling), np.multiply(gpts, 0.1))


# ---------------------------------------------------------------- camera


def test_shot_noise_has_mean_d_delta2_i_and_poisson_variance():
    intensity, dose, pixel = 0.8, 1e3, 0.2
    camera = Camera(sampling=pixel, dose=dose)
    counts = camera.detect(np.full((1024, 1024), intensity), sampling=0.05, rng=1).array
    expected = dose * pixel**2 * intensity  # seed Eq 2.22: N = D δ² I = 32
    assert counts.shape == (256, 256)
    assert counts.mean() == pytest.approx(expected, abs=4 * np.sqrt(expected / counts.size))
    assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.02)
    assert np.all(counts == np.round(counts))


def test_noise_power_spectrum_is_mtf_squared_times_mean():
    mtf = MTF("rational", 0.1, 0.5, 2.5)
    camera = Camera(sampling=0.2, dose=2500.0, mtf=mtf)
    shape = (256, 256)
    spectra = []
    for seed in range(10):
        counts = camera.detect(np.ones(shape), sampling=0.2, rng=seed).array.astype(float)
        spectra.append(np.abs(fft2(counts - counts.mean())) ** 2 / counts.size)
    nps = np.mean(spectra, axis=0)
    mean = 2500.0 * 0.2**2  # 100 counts per pixel
    q = np.hypot(2 * np.fft.fftfreq(shape[0])[:, None], 2 * np.fft.fftfreq(shape[1])[None, :])
    bins = np.linspace(0.05, 1.0, 11)
    index = np.digitize(q, bins)
    for b in range(1, len(bins)):
        ring = index == b
        # noise is white before the MTF, so the MTF colours it: NPS = MTF² · N̄ (seed Fig 2.4)
        assert nps[ring].mean() == pytest.approx(
            mean * np.mean(mtf.evaluate(q[ring]) ** 2), rel=0.06
        )
    assert nps[index == 10].mean() < 0.5 * mean  # clearly not white


def test_camera_mtf_uses_the_camera_nyquist():
    mtf = MTF("exp_gauss", 0.5, 1.0, 1.5)
    camera = Camera(sampling=0.2, dose=None, mtf=mtf)
    # 6 cycles over 12.8 Å: on 64 camera pixels that is q = 2·6/64
    image = Images(_cosine((256, 256), 0.05, (6, 0)), sampling=0.05)
    out = camera.detect(image)
    expected = _cosine((64, 64), 0.2, (6, 0), amplitude=0.5 * mtf.evaluate(2 * 6 / 64))
    np.testing.assert_allclose(out.array, expected, atol=1e-5)
    assert out.metadata["units"] == "normalised intensity" and out.metadata["dose"] is None


def test_same_seed_is_bit_identical_and_metadata_is_recorded():
    camera = Camera(sampling=0.18, dose=1e4, mtf=MTF("rational", 0.1, 0.5, 2.5))
    image = Images(1 + 0.2 * np.random.default_rng(0).random((90, 90)), 0.05, {"energy": 3e5})
    first = camera.detect(image, rng=7)
    second = camera.detect(image, rng=np.random.default_rng(7))
    assert np.array_equal(first.array, second.array) and first.array.dtype == np.float32
    assert not np.array_equal(first.array, camera.detect(image, rng=8).array)
    assert first.metadata["energy"] == 3e5 and first.metadata["dose"] == 1e4
    assert first.metadata["mtf"] == {"name": "rational", "c1": 0.1, "c2": 0.5, "c3": 2.5}
    assert first.sampling == pytest.approx((0.18, 0.18), rel=0.01)
    assert first.metadata["units"] == "counts"


@pytest.mark.parametrize("dose", [None, float("inf")])
def test_infinite_dose_is_the_noise_free_resampled_image(dose):
    image = 1 + 0.2 * np.random.default_rng(2).random((80, 80))
    out = Camera(sampling=0.2, dose=dose, resample="bilinear").detect(image, sampling=0.05)
    expected, _ = resample(image, 0.05, 0.2, "bilinear")
    np.testing.assert_allclose(out.array, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"dose": -5.0}, ValueError, "dose"),
        ({"dose": 0.0}, ValueError, "dose"),
        ({"dose": float("nan")}, ValueError, "dose"),
        ({"sampling": 0.0}, ValueError, "sampling"),
        ({"resample": "cubic"}, ValueError, "resample"),
        ({"mtf": (0.1, 0.5, 2.5)}, TypeError, "mtf"),
    ],
)
def test_bad_camera_arguments_are_refused(kwargs, error, name):
    with pytest.raises(error, match=name):
        Camera(**{"sampling": 0.2, "dose": 1e3, **kwargs})


def test_detect_needs_exactly_one_source_of_sampling():
    camera = Camera(sampling=0.2, dose=1e3)
    with pytest.raises(ValueError, match="sampling"):
        camera.detect(np.ones((8, 8)))
    with pytest.raises(ValueError, match="sampling"):
        camera.detect(Images(np.ones((8, 8)), 0.1), sampling=0.1)
