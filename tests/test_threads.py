"""The thread policy (issue #15): cores not busy with other processes, overrides, clamping."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from atomscope.cli import main
from atomscope.core import threads


@pytest.fixture
def fresh(monkeypatch):
    """The policy undecided and without ATOMSCOPE_THREADS, restored afterwards."""
    monkeypatch.delenv("ATOMSCOPE_THREADS", raising=False)
    monkeypatch.setattr(threads, "_chosen", None)
    monkeypatch.setattr(threads, "_explicit", False)
    return threads


@pytest.mark.parametrize("others", [0, 1, 5])
def test_default_leaves_the_cores_other_processes_use(fresh, monkeypatch, others):
    monkeypatch.setattr(fresh, "available_cores", lambda: 2)
    monkeypatch.setattr(fresh, "_procs_running", lambda: 1 + others)  # this process + others
    monkeypatch.setattr(fresh, "_own_running", lambda: 1)
    assert fresh.busy_cores() == others
    assert fresh.threads() == max(1, 2 - others)


def test_the_default_is_decided_again_when_old_but_a_given_count_stands(fresh, monkeypatch):
    # a long-lived process (notebook, Dask worker) must follow the load: busy at first, quiet
    # later; a count from --threads / set_threads is never replaced
    clock = [100.0]
    monkeypatch.setattr(fresh.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(fresh, "available_cores", lambda: 2)
    running = [2]
    monkeypatch.setattr(fresh, "_procs_running", lambda: running[0])
    monkeypatch.setattr(fresh, "_own_running", lambda: 1)
    assert fresh.threads() == 1
    running[0] = 1
    clock[0] += fresh.REDECIDE_AFTER / 2
    assert fresh.threads() == 1  # still the recent decision
    clock[0] += fresh.REDECIDE_AFTER
    assert fresh.threads() == 2
    fresh.set_threads(1)
    clock[0] += 10 * fresh.REDECIDE_AFTER
    assert fresh.threads() == 1
    fresh.set_threads(None)
    assert fresh.threads() == 2


def test_this_process_own_running_threads_are_not_counted_as_busy(fresh, monkeypatch):
    import threading

    import scipy.fft

    # a worker that keeps running without the GIL (as FFT or PyTorch workers finishing a call)
    stop = threading.Event()
    data = np.ones((512, 512), dtype=np.complex64)

    def work():
        while not stop.is_set():
            scipy.fft.fft2(data, workers=1)

    worker = threading.Thread(target=work)
    worker.start()
    try:
        seen = max(fresh._own_running() for _ in range(200))
    finally:
        stop.set()
        worker.join()
    assert seen >= 2
    monkeypatch.setattr(fresh, "_procs_running", lambda: 3)
    monkeypatch.setattr(fresh, "_own_running", lambda: 2)
    assert fresh.busy_cores() == 1


def test_a_busy_process_is_seen_in_the_run_queue(fresh):
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        # a VM's scheduler may be late to show a new process: a few tries over ~1 s
        assert any(fresh.busy_cores() >= 1 for _ in range(10))
        assert any(
            fresh.default_threads() <= max(1, fresh.available_cores() - 1) for _ in range(10)
        )
    finally:
        busy.kill()
        busy.wait()


def test_lanes_use_every_core_unless_the_user_gave_a_count(fresh, monkeypatch):
    # independent lanes share a busy core fairly instead of stalling at a barrier
    monkeypatch.setattr(fresh, "available_cores", lambda: 2)
    monkeypatch.setattr(fresh, "_procs_running", lambda: 2)  # one other busy process
    monkeypatch.setattr(fresh, "_own_running", lambda: 1)
    assert fresh.threads() == 1 and fresh.lane_count() == 2
    monkeypatch.setenv("ATOMSCOPE_THREADS", "1")
    assert fresh.lane_count() == 1
    monkeypatch.delenv("ATOMSCOPE_THREADS")
    fresh.set_threads(1)
    assert fresh.lane_count() == 1
    with fresh.in_this_thread(1):
        assert fresh.threads() == 1


def test_the_environment_overrides_and_is_clamped(fresh, monkeypatch):
    monkeypatch.setenv("ATOMSCOPE_THREADS", "1")
    assert fresh.threads() == 1
    monkeypatch.setattr(fresh, "_chosen", None)
    monkeypatch.setenv("ATOMSCOPE_THREADS", str(fresh.available_cores() + 7))
    with pytest.warns(UserWarning, match="more than the .* core"):
        assert fresh.threads() == fresh.available_cores()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ValueError, match="--threads must be an integer >= 1"):
        threads.check_threads(bad)


def test_set_threads_reaches_torch_and_numba_and_using_restores(fresh):
    import numba
    import torch

    fresh.set_threads(1)
    fresh.limit_numba()
    assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    with fresh.using(min(2, fresh.available_cores())) as count:
        assert torch.get_num_threads() == count == fresh.threads()
    assert fresh.threads() == 1 and torch.get_num_threads() == 1


def test_importing_atomscope_makes_idle_openmp_workers_sleep():
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    script = "import os, atomscope; print(os.environ['OMP_WAIT_POLICY'])"
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's choice stands
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.stdout.strip() == "ACTIVE"


def test_threads_option_of_the_command_line(tmp_path, capsys):
    path = tmp_path / "si.xyz"
    write(path, bulk("Si", cubic=True), format="extxyz")
    common = ["hrtem", str(path), "--sampling", "0.2", "--no-camera"]
    assert main([*common, "--threads", "0", "-o", str(tmp_path / "a")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--threads must be an integer >= 1, got 0" in error[0]
    assert not (tmp_path / "a").exists()
    assert main([*common, "--threads", "64", "-o", str(tmp_path / "b")]) == 0
    assert "more than the" in capsys.readouterr().err  # clamped with a warning
    one = tmp_path / "one"
    assert main([*common, "--threads", "1", "-o", str(one)]) == 0
    two = np.load(tmp_path / "b" / "exit_wave.npz")["array"]
    np.testing.assert_array_equal(np.load(one / "exit_wave.npz")["array"], two)
