"""Scale-out on Dask distributed: a client, and an ordered map whose results stream back.

Frozen-phonon configurations, scan batches and defocus series are independent tasks. Results
come back in task order whatever order the workers finish in, so a reduction over them adds in
the same order as the local loop and the result is bit-identical to the local run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

from atomscope.core.validate import check_positive, check_positive_int

__all__ = ["client", "local_lanes", "ordered_map"]


def client(
    address: str | None = None,
    workers: int = 2,
    timeout: float = 10.0,
    fft_threads: int | None = None,
):
    """A Dask distributed client: a local cluster of ``workers`` processes, or a running scheduler.

    Parameters
    ----------
    address
        Scheduler address such as ``"tcp://host:8786"``; ``None`` starts a `LocalCluster`
        with one task thread per worker.
    workers
        Worker processes of the local cluster (ignored with ``address``).
    timeout
        Seconds to wait for the scheduler before giving up [s].
    fft_threads
        Threads of each local worker (its ``ATOMSCOPE_THREADS``); default: the available
        cores divided among the workers (at least 1), so workers never oversubscribe the
        machine. The default scipy FFT gives the same bits with any thread count; FFTW
        (``ATOMSCOPE_FFT=fftw``) plans per thread count, so its results then differ from a
        local run in the last bits (~1e-6 relative) unless the counts match.

    Returns
    -------
    distributed.Client
        Close it (or use it as a context manager) when done.

    Examples
    --------
    >>> with client(workers=1) as c:
    ...     len(c.scheduler_info()["workers"])
    1
    """
    timeout = check_positive("timeout", timeout)
    try:
        from distributed import Client
    except ImportError as error:
        raise ValueError("scale-out needs Dask: pip install 'atomscope[parallel]'") from error
    if address is None:
        workers = check_positive_int("workers", workers)
        if fft_threads is None:
            from atomscope.core.threads import available_cores

            fft_threads = max(1, available_cores() // workers)
        fft_threads = check_positive_int("fft_threads", fft_threads)
        # the Client starts the LocalCluster itself, so closing it stops the workers too
        return Client(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: no warning when another cluster runs
            env={"ATOMSCOPE_THREADS": str(fft_threads)},
            set_as_default=False,
        )
    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"address must look like tcp://host:port, got {address!r}")
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ValueError(
            f"scheduler {address} is unreachable within {timeout:g} s: {error}"
        ) from None


def local_lanes(tasks: int, lane_bytes: int = 0, held_bytes: int = 0) -> int:
    """How many of ``tasks`` independent tasks to run at once in this process (`ordered_map`'s
    ``lanes``): `atomscope.core.threads.lane_count` (the user's thread count, else every
    core), at most ``tasks``, and no more than fit in 90 % of the
    `atomscope.core.memory.memory_budget` when each lane holds ``lane_bytes`` on top of
    ``held_bytes`` [B].

    Examples
    --------
    >>> local_lanes(1)
    1
    >>> local_lanes(8, lane_bytes=2**60)
    1
    """
    from atomscope.core.memory import memory_budget
    from atomscope.core.threads import lane_count

    lanes = max(1, min(lane_count(), check_positive_int("tasks", tasks)))
    room = 0.9 * memory_budget() - held_bytes
    while lanes > 1 and lanes * lane_bytes > room:
        lanes -= 1
    return lanes


def ordered_map(
    function: Callable[[Any], Any],
    items: Iterable[Any],
    client=None,
    progress: bool = False,
    desc: str = "tasks",
    lanes: int = 1,
) -> Iterator[Any]:
    """``function(item)`` for every item, yielded in item order, computed on ``client`` if given.

    Without a client the items run in this process: one after another, or with ``lanes`` > 1
    in that many threads at once, each with its own copy of ``function`` (``copy.copy``: a
    callable that keeps buffers between items gets one per thread) and its share of the
    threads (`atomscope.core.threads.in_this_thread`). Worker threads release the GIL in FFTs
    and NumPy, and unlike one call with every thread they need no synchronisation per
    transform. At most ``lanes`` items are in flight, so memory holds ``lanes`` results. With a
    client, all tasks are submitted at once and each result is fetched (then released) in
    order, so memory on this side holds one result at a time.

    Examples
    --------
    >>> list(ordered_map(abs, [-1, 2, -3]))
    [1, 2, 3]
    >>> list(ordered_map(abs, [-1, 2, -3], lanes=2))
    [1, 2, 3]
    """
    items = list(items)
    lanes = check_positive_int("lanes", lanes)
    bar = tqdm(total=len(items), desc=desc, unit="task", disable=not progress)
    with bar:
        if client is None:
            if lanes == 1:
                results = (function(item) for item in items)
            else:
                results = _in_lanes(function, items, lanes)
            for result in results:
                yield result
                bar.update()
            return
        futures = client.map(function, items, pure=False)
        try:
            for future in futures:
                result = future.result()
                future.release()
                yield result
                bar.update()
        finally:
            client.cancel(futures)


def _in_lanes(function: Callable[[Any], Any], items: list, lanes: int) -> Iterator[Any]:
    """The results of ``function`` over ``items`` in order, from ``lanes`` threads."""
    import copy
    import threading
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    from itertools import islice

    from atomscope.core.threads import in_this_thread, threads

    each = max(1, threads() // lanes)
    local = threading.local()

    def run(item):
        if not hasattr(local, "function"):
            local.function = copy.copy(function)
        with in_this_thread(each):
            return local.function(item)

    remaining = iter(items)
    with ThreadPoolExecutor(lanes, thread_name_prefix="atomscope-lane") as pool:
        pending = deque(pool.submit(run, item) for item in islice(remaining, lanes))
        try:
            while pending:
                result = pending.popleft().result()
                for item in remaining:
                    pending.append(pool.submit(run, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()
