"""Randomized microscope of seed Table 6.1 (atomscope.learning.randomize)."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomscope.detection.camera import Camera
from atomscope.detection.mtf import MTF, nyquist_fraction
from atomscope.learning.randomize import (
    GOLD_300KV,
    GRAPHENE_80KV,
    Microscope,
    MicroscopeRanges,
    draw,
    image_from_exit_wave,
)
from atomscope.optics.ctf import CTF
from atomscope.waves.waves import Waves


def test_defaults_are_table_6_1_in_atomscope_units():
    r = GRAPHENE_80KV
    assert r.energy == 80e3
    assert r.C10 == (-200.0, 200.0)
    assert r.Cs == (-2e5, 2e5)  # ±20 µm in Å
    assert r.C5 == (0.0, 5e7)  # 5 mm in Å
    assert r.astigmatism == (0.0, 100.0)
    assert r.deflection == (0.0, 0.25)  # the seed's "0–25 Å" read as 0–0.25 Å
    assert r.focal_spread == (20.0, 40.0)
    assert r.dose == (10.0, 1e4)
    assert (r.mtf_c1, r.mtf_c2, r.mtf_c3) == ((0.0, 0.1), (0.4, 0.6), (2.0, 3.0))
    assert GOLD_300KV.energy == 300e3


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_draws_lie_in_the_ranges_and_repeat_with_the_seed(seed):
    m = draw(GRAPHENE_80KV, seed)
    assert m.parameters() == draw(GRAPHENE_80KV, seed).parameters()
    ab = m.ctf.aberrations
    r = GRAPHENE_80KV
    assert r.C10[0] <= ab["C10"] <= r.C10[1]
    assert r.Cs[0] <= ab["C30"] <= r.Cs[1]
    assert r.C5[0] <= ab["C50"] <= r.C5[1]
    assert r.deflection[0] <= m.ctf.deflection <= r.deflection[1]
    assert r.focal_spread[0] <= m.ctf.focal_spread <= r.focal_spread[1]
    assert r.dose[0] <= m.camera.dose <= r.dose[1]
    assert r.sampling[0] <= m.camera.sampling[0] <= r.sampling[1]
    assert m.camera.mtf.name == "exp_gauss"
    assert m.ctf.focal_integration == "quasi_coherent"


def test_dose_is_log_uniform():
    doses = np.array(
        [draw(GRAPHENE_80KV, rng).camera.dose for rng in np.random.default_rng(3).spawn(2000)]
    )
    log = np.log10(doses)
    # log-uniform on [1, 4]: mean 2.5, variance 9/12
    assert abs(log.mean() - 2.5) < 0.05
    assert abs(log.var() - 0.75) < 0.05


def test_noise_level_matches_dose_and_mtf():
    """Vacuum image: variance of counts/mean = mean(MTF²) / (D δ²) for Poisson noise (Eq 2.22)."""
    dose, sampling = 200.0, 0.125
    mtf = MTF("exp_gauss", 0.05, 0.5, 2.5)
    microscope = Microscope(CTF(energy=80e3), Camera(sampling=sampling, dose=dose, mtf=mtf))
    wave = Waves(np.ones((512, 512), complex), sampling=0.0625, energy=80e3)
    image = image_from_exit_wave(wave, microscope, rng=0).array
    expected = np.mean(mtf.evaluate(nyquist_fraction(image.shape)) ** 2) / (dose * sampling**2)
    assert image.shape == (256, 256)
    assert image.var() == pytest.approx(expected, rel=0.05)


def test_image_is_bit_reproducible_and_jitter_is_applied():
    wave = Waves(np.exp(0.3j * np.random.default_rng(1).random((96, 96))), 0.1, 80e3)
    microscope = draw(GRAPHENE_80KV, 5)
    a = image_from_exit_wave(wave, microscope, rng=7).array
    b = image_from_exit_wave(wave, microscope, rng=7).array
    c = image_from_exit_wave(wave, microscope, rng=8).array
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # brightness / contrast / gamma on the noise-free, mean-normalised image
    plain = Microscope(microscope.ctf, Camera(sampling=0.125, dose=None))
    jittered = replace(plain, brightness=0.05, contrast=1.1, gamma=1.5)
    n = image_from_exit_wave(wave, plain, rng=0).array.astype(float)
    j = image_from_exit_wave(wave, jittered, rng=0).array
    np.testing.assert_allclose(j, 1.1 * (np.clip(n, 0, None) ** 1.5 - 1) + 1.05, atol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="C10"):
        MicroscopeRanges(C10=(200.0, -200.0))
    with pytest.raises(ValueError, match="dose"):
        MicroscopeRanges(dose=(0.0, 10.0))
    with pytest.raises(ValueError, match="mtf_c1"):
        MicroscopeRanges(mtf_c1=(0.0, 1.5))
    with pytest.raises(TypeError, match="ranges"):
        draw({"dose": (1, 2)}, 0)
    with pytest.raises(TypeError, match="waves"):
        image_from_exit_wave(np.ones((8, 8)), draw(rng=0), rng=0)


def test_blend_moves_the_bounds_linearly():
    from atomscope.learning.randomize import EASY_RANGES, blend

    easy = replace(GRAPHENE_80KV, **EASY_RANGES)
    assert blend(easy, GRAPHENE_80KV, 0.0) == easy
    assert blend(easy, GRAPHENE_80KV, 1.0) == GRAPHENE_80KV
    half = blend(easy, GRAPHENE_80KV, 0.5)
    assert half.C10 == (-65.0, 150.0) and half.dose == ((1e4 + 10) / 2, (1e6 + 1e4) / 2)
    with pytest.raises(ValueError, match="energy"):
        blend(GOLD_300KV, GRAPHENE_80KV, 0.5)


def test_easy_ranges_hold_the_negative_cs_defocus_of_each_preset():
    from atomscope.learning.randomize import PRESET_EASY_RANGES, PRESETS, ncsi_defocus

    # the seed's evaluation microscope (80 kV, Cs −12 µm) images at C10 = +84 Å
    assert ncsi_defocus(80e3, -12e4) == pytest.approx(84.0, abs=3.0)
    for preset, easy in PRESET_EASY_RANGES.items():
        energy = PRESETS[preset].energy
        for cs in easy["Cs"]:
            low, high = easy["C10"]
            assert low < ncsi_defocus(energy, cs) < high, (preset, cs)
    with pytest.raises(ValueError, match="Cs must be negative"):
        ncsi_defocus(80e3, 1e4)
