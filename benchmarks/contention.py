"""``--busy N`` for every benchmark: the same measurement quiet, then next to N busy processes.

Users share machines and Dask workers share cores, so each benchmark can print its numbers for
0 busy cores and for N (`while True: pass` processes running for the duration, stopped after).
Not a benchmark itself: ``make bench`` skips it.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """``count`` busy-loop processes for the duration of the block."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        if loops:
            time.sleep(0.5)  # let the scheduler see them
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


_blocks_run = 0


def fresh_process() -> bool:
    """True in the first block only: later blocks run in the same, warmed-up process, so a
    "cold" time measured there is not one."""
    return _blocks_run == 0


def run(main: Callable[[], None]) -> None:
    """Run ``main`` quiet; with ``--busy N`` (N > 0) on the command line, run it again next to N
    busy processes, each block headed by its count. Other arguments stay in ``sys.argv``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--busy", type=int, default=0)
    known, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    if known.busy < 0:
        sys.exit(f"--busy must be >= 0, got {known.busy}")
    if known.busy == 0:
        main()
        return
    global _blocks_run
    for count in (0, known.busy):
        print(f"=== {count} busy process(es) ===", flush=True)
        with busy_processes(count):
            main()
        _blocks_run += 1
