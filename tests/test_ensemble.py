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


def test_configurations_in_parallel_lanes_equal_one_at_a_time_bit_for_bit(potential, ctf):
    from atomscope.core.threads import using
    from atomscope.waves.ensemble import configuration_lanes

    with using(1):
        assert configuration_lanes(potential) == 1
        single = frozen_phonon_average(PlaneWave(300e3), potential, ctf)
        stacked_single = PlaneWave(300e3).multislice(potential).array
    with using(2):
        assert configuration_lanes(potential) == 2
        lanes = frozen_phonon_average(PlaneWave(300e3), potential, ctf)
        stacked_lanes = PlaneWave(300e3).multislice(potential).array
    np.testing.assert_array_equal(lanes.image.array, single.image.array)
    np.testing.assert_array_equal(lanes.exit_wave.array, single.exit_wave.array)
    np.testing.assert_array_equal(stacked_lanes, stacked_single)


def test_lanes_are_limited_by_the_tasks_and_the_memory(monkeypatch):
    import atomscope.core.memory
    from atomscope.core.threads import using
    from atomscope.parallel import local_lanes

    monkeypatch.setattr(atomscope.core.memory, "memory_budget", lambda: 2**30)
    with using(2):
        assert local_lanes(5) == 2
        assert local_lanes(1) == 1
        assert local_lanes(5, lane_bytes=300 * 2**20) == 2
        assert local_lanes(5, lane_bytes=600 * 2**20) == 1  # two would not fit in 90 % of 1 GiB
        assert local_lanes(5, lane_bytes=300 * 2**20, held_bytes=500 * 2**20) == 1


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


def test_ordered_map_in_lanes_keeps_order_bounds_the_work_in_flight_and_copies_per_thread():
    import threading
    import time

    from atomscope.core.threads import threads

    lock = threading.Lock()
    state = {"running": 0, "most": 0, "callers": set(), "fft_threads": set()}

    class Task:
        def __init__(self):
            self.owner = None

        def __call__(self, item):
            with lock:
                state["running"] += 1
                state["most"] = max(state["most"], state["running"])
                state["fft_threads"].add(threads())
            if self.owner is None:
                self.owner = threading.get_ident()
            assert self.owner == threading.get_ident(), "a copy was shared between threads"
            time.sleep(0.01 * (item % 3))  # finish out of order
            with lock:
                state["running"] -= 1
                state["callers"].add(threading.get_ident())
            return -item

    assert list(ordered_map(Task(), range(12), lanes=2)) == [-i for i in range(12)]
    assert state["most"] <= 2 and len(state["callers"]) == 2
    assert state["fft_threads"] == {max(1, threads() // 2)}


def test_ordered_map_in_lanes_raises_the_first_error_in_order():
    def task(item):
        if item == 3:
            raise ValueError("item 3")
        return item

    results = []
    with pytest.raises(ValueError, match="item 3"):
        for result in ordered_map(task, range(8), lanes=2):
            results.append(result)
    assert results == [0, 1, 2]


def test_ordered_map_keeps_order_on_the_cluster():
    with client(workers=2) as dask_client:
        assert list(ordered_map(np.negative, range(10), dask_client)) == [-i for i in range(10)]


def test_two_local_clusters_at_once_warn_of_no_port(recwarn):
    # a second job on the machine (e.g. two `atomscope fit run --workers 2`) printed Dask's
    # "Port 8787 is already in use" as an atomscope warning: the HTTP port is now chosen freely
    with client(workers=1) as first, client(workers=1) as second:
        assert list(ordered_map(np.negative, range(3), first)) == [0, -1, -2]
        assert list(ordered_map(np.negative, range(3), second)) == [0, -1, -2]
    assert not [w for w in recwarn if "already in use" in str(w.message)]
    # closing a client stops its cluster: its worker processes do not linger (they did, ~5 %
    # of a core each, until the Python process ended)
    assert first.cluster.status.name == second.cluster.status.name == "closed"


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
