"""Through-focus series, locally and on a Dask LocalCluster."""

import numpy as np
import pytest
from ase.build import bulk

from atomscope import CTF, PlaneWave, Potential
from atomscope.optics.series import defocus_series
from atomscope.parallel import client


@pytest.fixture(scope="module")
def exit_wave():
    potential = Potential(bulk("Au", cubic=True).repeat((2, 2, 2)), sampling=0.1)
    return PlaneWave(300e3).multislice(potential)


@pytest.fixture(scope="module")
def lens():
    return CTF(energy=300e3, Cs=-2e5, defocus=-50, focal_spread=20, semiangle_cutoff=25)


def test_each_image_is_the_lens_at_that_defocus(exit_wave, lens):
    defoci = [-60.0, 0.0, 80.0]
    series = defocus_series(exit_wave, lens, defoci)
    assert series.shape == (3, *exit_wave.array.shape)
    assert series.metadata["defoci"] == defoci
    for image, defocus in zip(series.array, defoci, strict=True):
        single = CTF(energy=300e3, Cs=-2e5, defocus=defocus, focal_spread=20, semiangle_cutoff=25)
        np.testing.assert_allclose(image, single.image(exit_wave).array, rtol=1e-6)
    # defocus changes the image (not a constant stack)
    assert np.abs(series.array[0] - series.array[2]).max() > 0.05


def test_series_on_dask_is_bit_identical(exit_wave, lens):
    local = defocus_series(exit_wave, lens, [-40.0, 40.0, 120.0])
    with client(workers=2) as dask_client:
        distributed = defocus_series(exit_wave, lens, [-40.0, 40.0, 120.0], client=dask_client)
    np.testing.assert_array_equal(distributed.array, local.array)


@pytest.mark.parametrize("defoci, message", [([], "at least one"), ([1.0, np.nan], "finite")])
def test_bad_defoci(exit_wave, lens, defoci, message):
    with pytest.raises(ValueError, match=message):
        defocus_series(exit_wave, lens, defoci)
