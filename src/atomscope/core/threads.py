"""How many threads atomscope's FFTs, PyTorch, numba and BLAS use: one policy in one place.

The default (`threads`) is the number of cores this process may run on
(``os.sched_getaffinity``) minus the cores other processes keep busy when it is decided: the
machine's run queue (``procs_running`` in ``/proc/stat``, every runnable task) less this
process's own runnable threads, sampled a few times over 10 ms. On this 2-core machine that is
2 threads when it is quiet and 1 next to one busy process, where two threads measured 3–4× slower than one (the
other process and our second thread take turns on one core). ``ATOMSCOPE_THREADS`` or a
command's ``--threads`` override it; more than the cores available is clamped with a warning.
The count is decided at the first call that asks and again when that decision is more than
`REDECIDE_AFTER` seconds old, so a long-lived process (a notebook, a Dask worker) follows the
machine's load; a count given to `set_threads` (``--threads``) stands until ``set_threads(None)``.

Idle OpenMP workers (PyTorch, numba's parallel loops) spin-wait by default and so burn a core
another process needs: importing atomscope sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator

_ENVIRONMENT = "ATOMSCOPE_THREADS"
_SAMPLES = 5
_INTERVAL = 0.002  # [s] between run-queue samples
_chosen: int | None = None
_decided_at = 0.0  # time.monotonic() of the last decision [s]
_explicit = False  # _chosen came from set_threads(count)
_this_thread = threading.local()  # .count: the count of `in_this_thread`, for one thread

REDECIDE_AFTER = 5.0
"""Age [s] after which the default thread count is decided again (sampling costs ~10 ms)."""


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a cgroup or ``taskset``).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _procs_running() -> int | None:
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _own_running() -> int:
    """Runnable threads of this process (state R in /proc/self/task; at least the caller).

    A decision made again during a job must not count this process's own FFT or PyTorch
    workers, which may still be finishing, as another process's load."""
    running = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat") as stat:
                # the state follows the command name, which is in parentheses and may hold spaces
                running += stat.read().rpartition(")")[2].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(1, running)


def busy_cores() -> int:
    """Cores other processes keep busy now: runnable tasks that are not this process's threads
    (median of a few samples of the run queue; 0 where the kernel does not report it)."""
    samples = []
    for _ in range(_SAMPLES):
        running = _procs_running()
        if running is None:
            return 0
        samples.append(running - _own_running())
        time.sleep(_INTERVAL)
    return max(0, sorted(samples)[len(samples) // 2])


def check_threads(value: object, name: str = "--threads") -> int:
    """A positive thread count, clamped (with a warning) to the cores available."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    cores = available_cores()
    if value > cores:
        warnings.warn(
            f"{name} {value} is more than the {cores} core(s) this process may use; using {cores}",
            stacklevel=2,
        )
        return cores
    return value


def _from_environment() -> int | None:
    text = os.environ.get(_ENVIRONMENT)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{_ENVIRONMENT} must be an integer >= 1, got {text!r}") from None
    return check_threads(value, _ENVIRONMENT)


def default_threads() -> int:
    """``ATOMSCOPE_THREADS`` if set, else the available cores that are not busy (at least 1)."""
    configured = _from_environment()
    if configured is not None:
        return configured
    cores = available_cores()
    return max(1, cores - min(busy_cores(), cores - 1))


def threads() -> int:
    """Threads per process for FFTs, PyTorch, numba and BLAS (decided on first use and again
    when the decision is older than `REDECIDE_AFTER`, unless `set_threads` was given a count);
    inside `in_this_thread`, that block's count for the calling thread.

    Examples
    --------
    >>> 1 <= threads() <= available_cores()
    True
    """
    global _chosen, _decided_at
    local = getattr(_this_thread, "count", None)
    if local is not None:
        return local
    now = time.monotonic()
    if _chosen is None or (not _explicit and now - _decided_at > REDECIDE_AFTER):
        _chosen, _decided_at = default_threads(), now
    return _chosen


def set_threads(count: int | None) -> int:
    """Use ``count`` threads from now on (None: decide again by the default rule), in every
    library already loaded; returns the count in use."""
    global _chosen, _decided_at, _explicit
    _chosen = default_threads() if count is None else check_threads(count)
    _decided_at, _explicit = time.monotonic(), count is not None
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(_chosen)
    if "numba" in sys.modules:
        limit_numba()
    return _chosen


@contextlib.contextmanager
def using(count: int) -> Iterator[int]:
    """Use ``count`` threads inside the ``with`` block (`set_threads`), the previous choice
    after it."""
    global _chosen, _explicit
    previous, was_explicit = _chosen, _explicit
    try:
        yield set_threads(count)
    finally:
        _chosen = previous
        if previous is not None:
            set_threads(previous)
        _explicit = was_explicit


def lane_count() -> int:
    """Independent lanes (threads that do not wait for each other, e.g. scan batches or
    frozen-phonon configurations) this process may run at once: the count the user gave
    (``ATOMSCOPE_THREADS``, `set_threads`) or else every available core.

    Unlike one FFT split over threads, lanes have no barrier to stall at, so a core another
    process keeps busy is shared fairly rather than lost: next to one busy process on 2
    cores, a HAADF scan took 1.96 s in two lanes and 2.50 s in one
    (``benchmarks/thread_policy.py``).

    Examples
    --------
    >>> 1 <= lane_count() <= available_cores()
    True
    """
    if _explicit:
        return threads()
    configured = _from_environment()
    return configured if configured is not None else available_cores()


@contextlib.contextmanager
def in_this_thread(count: int) -> Iterator[int]:
    """Give the FFTs called from this thread ``count`` threads inside the ``with`` block (other
    threads keep theirs): for work split over parallel lanes, each lane with its share.

    Examples
    --------
    >>> with in_this_thread(1):
    ...     threads()
    1
    """
    previous = getattr(_this_thread, "count", None)
    _this_thread.count = check_threads(count, "threads per lane")
    try:
        yield _this_thread.count
    finally:
        _this_thread.count = previous


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(count: int | None = None) -> Iterator[None]:
    """BLAS (OpenBLAS) limited to ``count`` threads — default `threads` — inside the block.

    OpenBLAS starts one thread per core whatever the load: next to one busy process, the
    matrix DFTs of a drift measurement ran 1.9× slower on two BLAS threads than on one (301
    against 159 ms per 512² frame), and idle OpenBLAS threads keep spinning after a call and
    slow the FFT threads that run next.

    Examples
    --------
    >>> import numpy as np
    >>> with blas_threads(1):
    ...     product = np.ones((4, 4)) @ np.ones((4, 4))
    >>> float(product[0, 0])
    4.0
    """
    with _blas_controller().limit(limits=count or threads(), user_api="blas"):
        yield


def limit_numba() -> None:
    """Set numba's parallel loops to `threads` (never above the pool numba started with)."""
    import numba

    numba.set_num_threads(min(threads(), numba.config.NUMBA_NUM_THREADS))


def limit_torch() -> None:
    """Set PyTorch's intra-op threads to `threads`."""
    import torch

    if torch.get_num_threads() != threads():
        torch.set_num_threads(threads())


def passive_openmp() -> None:
    """Let idle OpenMP workers sleep instead of spinning, unless the user chose otherwise;
    must run before PyTorch or numba's OpenMP runtime loads."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
