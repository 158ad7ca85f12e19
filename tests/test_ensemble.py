"""Streaming frozen-phonon averages, locally and on a Dask LocalCluster with 2 workers."""

import numpy as np
import pytest
from ase.build import bulk

from atomscope import CTF, PlaneWave, Potential
from atomscope.parallel import client, ordered_map
from atomscope.thermal import EinsteinPhonons
from atomscope.waves.ensemble import frozen_phonon_average


@pytest.fixture(scope="module")
def potential():
    atoms = bulk("Au", cubic=True).repeat((2, 2, 2))
    snapshots = EinsteinPhonons(atoms, sigmas=0.1, num_configs=4, rng=1)
    return Potential(snapshots, sampling=0.1, slice_thickness=2.04)


@pytest.fixture(scope="module")
def ctf():
    return CTF(energy=300e3, Cs=-2e5, defocus=-50, focal_spread=20, semiangle_cutoff=25)


def test_streamed_average_equals_the_stacked_ensemble(potential, ctf):
    stacked = PlaneWave(300e3).multislice(potential)
    average = frozen_phonon_average(PlaneWave(300e3), potential, ctf)
    assert average.num_configs == 4
    np.testing.assert_allclose(average.image.array, ctf.image(stacked).array, rtol=2e-5)
    np.testing.assert_allclose(average.intensity.array, stacked.intensity().array, rtol=2e-5)
    np.testing.assert_allclose(average.exit_wave.array, stacked.array.mean(axis=0), atol=2e-6)


def test_thermal_motion_scatters_diffusely(potential):
    average = frozen_phonon_average(PlaneWave(300e3), potential)
    diffuse = average.diffuse_intensity.array
    # ⟨|ψ|²⟩ ≥ |⟨ψ⟩|² pixel by pixel (Cauchy–Schwarz), strictly somewhere when atoms move
    assert diffuse.min() > -1e-5
    assert diffuse.max() > 1e-3


def test_dask_two_workers_bit_identical_to_local(potential, ctf):
    local = frozen_phonon_average(PlaneWave(300e3), potential, ctf)
    with client(workers=2) as dask_client:
        distributed = frozen_phonon_average(PlaneWave(300e3), potential, ctf, client=dask_client)
    np.testing.assert_array_equal(distributed.image.array, local.image.array)
    np.testing.assert_array_equal(distributed.exit_wave.array, local.exit_wave.array)


def _worker_fft_threads():
    from atomscope.core.fft import fft_threads

    return fft_threads()


def test_local_workers_share_the_cores_unless_told():
    from atomscope.core.threads import available_cores

    with client(workers=2) as dask_client:
        expected = max(1, available_cores() // 2)  # 2 workers × 2 threads would oversubscribe
        assert set(dask_client.run(_worker_fft_threads).values()) == {expected}
    with client(workers=2, fft_threads=1) as dask_client:
        assert set(dask_client.run(_worker_fft_threads).values()) == {1}


def test_ordered_map_keeps_order_on_the_cluster():
    with client(workers=2) as dask_client:
        assert list(ordered_map(np.negative, range(10), dask_client)) == [-i for i in range(10)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"address": "tcp://127.0.0.1:1", "timeout": 1}, "unreachable"),
        ({"address": "localhost"}, "tcp://"),
        ({"workers": 0}, "workers"),
        ({"fft_threads": 0}, "fft_threads"),
    ],
)
def test_bad_client_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        client(**kwargs)


def test_projection_accumulated_during_multislice_equals_project(potential):
    average = frozen_phonon_average(PlaneWave(300e3), potential)
    np.testing.assert_allclose(
        average.projected_potential.array, potential.project(), rtol=1e-5, atol=1e-3
    )
