"""Pre-flight estimates: refuse a job that cannot fit, in memory or on disk, before any work.

The memory limit is ``ATOMSCOPE_MEMORY_LIMIT`` in bytes (suffixes K, M, G, T for powers of 1024)
when set, else the memory the kernel reports as available (``MemAvailable`` in /proc/meminfo).

What a job may still allocate (`memory_budget`) depends on which limit applies:

- ``ATOMSCOPE_MEMORY_LIMIT`` caps the whole process, so the memory this process already holds
  (its resident set: interpreter, imported libraries, earlier results — about 240 MiB once the
  physics is imported) counts against it: the budget is the limit minus the current resident
  set size (/proc/self/statm).
- ``MemAvailable`` is what the kernel can still hand out; the pages this process holds are
  already excluded from it (they are in use), so subtracting them again would count them twice:
  the budget is MemAvailable itself.

`check_memory` refuses a job whose estimate exceeds 90 % of the budget. `check_disk` does the
same for files: the free space of the file system (``shutil.disk_usage``), or
``ATOMSCOPE_DISK_LIMIT`` when set (same syntax as the memory limit).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import resource
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

#: Fraction of the budget (memory or disk) a job may use; the rest is headroom for the estimate.
USABLE_FRACTION = 0.9


def _parse_size(text: str, variable: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"{variable} must be a size like 512M or 2G, got {text!r}")
    return int(float(match.group(1)) * _SUFFIXES[match.group(2).upper()])


def _memory_limit() -> int | None:
    limit = os.environ.get("ATOMSCOPE_MEMORY_LIMIT")
    return _parse_size(limit, "ATOMSCOPE_MEMORY_LIMIT") if limit else None


def available_memory() -> int:
    """The memory limit [B]: ``ATOMSCOPE_MEMORY_LIMIT`` if set, else MemAvailable.

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    limit = _memory_limit()
    if limit is not None:
        return limit
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def resident_memory() -> int:
    """Memory this process holds now [B]: its resident set size.

    Read from /proc/self/smaps_rollup, which counts the pages mapped now; /proc/self/statm
    (older kernels) reads the kernel's RSS counters, which can lag pages just touched (seen:
    64 MiB of fresh huge pages not yet counted). Without /proc the peak resident set
    (``getrusage``) stands in, an upper bound.

    Examples
    --------
    >>> resident_memory() > 2**20
    True
    """
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        # ru_maxrss is KiB on Linux and bytes on macOS: read as KiB it can only overstate
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * resource.getpagesize()


def memory_budget() -> int:
    """Bytes a new job may still allocate [B] (see the module docstring).

    ``ATOMSCOPE_MEMORY_LIMIT`` minus `resident_memory` (never below 0) when the variable is set,
    else MemAvailable.

    Examples
    --------
    >>> memory_budget() > 0
    True
    """
    limit = _memory_limit()
    if limit is None:
        return available_memory()
    return max(0, limit - resident_memory())


def describe(nbytes: float) -> str:
    """The memory estimate a command prints: the job's bytes plus what the process holds.

    Examples
    --------
    >>> describe(100 * 2**20).startswith("memory estimate ")
    True
    """
    held = resident_memory()
    return (
        f"memory estimate {(nbytes + held) / 2**20:.0f} MiB (the job {nbytes / 2**20:.0f} MiB "
        f"+ {held / 2**20:.0f} MiB the process holds)"
    )


_REPORTING: contextvars.ContextVar[int | None] = contextvars.ContextVar("reporting", default=None)


@contextlib.contextmanager
def reporting(extra: int = 0) -> Iterator[None]:
    """Inside, every `check_memory` counts ``extra`` bytes [B] more and, when it passes, prints
    its estimate (`describe`): for commands that call a library function which checks its own
    memory (the structure builders), ``extra`` being what the command adds (its figure).

    Examples
    --------
    >>> with reporting():
    ...     check_memory(2**20, "a tiny job")  # doctest: +ELLIPSIS
    memory estimate ... MiB (the job 1 MiB + ... MiB the process holds)
    """
    token = _REPORTING.set(int(extra))
    try:
        yield
    finally:
        _REPORTING.reset(token)


def check_and_report(nbytes: float, job: str, hint: str = "") -> None:
    """`check_memory`, then print the estimate (`describe`): what a command does before work.

    Examples
    --------
    >>> check_and_report(2**20, "a tiny job")  # doctest: +ELLIPSIS
    memory estimate ... MiB (the job 1 MiB + ... MiB the process holds)
    """
    check_memory(nbytes, job, hint)
    print(describe(nbytes))


def _gib(nbytes: float) -> str:
    value = nbytes / 2**30 if nbytes < 1e300 else float("inf")  # an int past float range
    return f"{value:.2f} GiB" if 0.01 <= value < 1e4 else f"{value:.3g} GiB"


def check_memory(nbytes: float, job: str, hint: str = "", baseline: bool = True) -> None:
    """Raise ``ValueError`` if ``job`` needs more than 90 % of the `memory_budget`.

    Parameters
    ----------
    nbytes
        Estimated peak bytes the job adds to this process [B].
    job
        What is being refused, naming the argument that drives its size, e.g.
        ``"an HRTEM run on the 4096×4096 grid of --sampling 0.004 Å"``.
    hint
        How to make it fit, appended to the message.
    baseline
        Count what this process already holds against ``ATOMSCOPE_MEMORY_LIMIT`` (the
        default). ``False`` compares with the limit itself: a bound on one part of a job
        (e.g. its scan positions) that is checked before the job's own estimate, which then
        counts the baseline.

    Examples
    --------
    >>> check_memory(1024, "a tiny job")
    """
    budget = memory_budget() if baseline else available_memory()
    extra = _REPORTING.get()
    if extra is not None:
        nbytes += extra
        if nbytes <= USABLE_FRACTION * budget:
            print(describe(nbytes))
    if nbytes > USABLE_FRACTION * budget:
        limit = _memory_limit()
        source = (
            ""
            if limit is None or not baseline
            else f" (ATOMSCOPE_MEMORY_LIMIT {_gib(limit)} minus the {_gib(resident_memory())} "
            "this process already holds)"
        )
        raise ValueError(
            f"{job} needs about {_gib(nbytes)} but only {_gib(budget)} is available{source}"
            f"{'; ' + hint if hint else ''}"
        )


def free_disk(path: str | os.PathLike) -> int:
    """Free space [B] for files written under ``path``: ``ATOMSCOPE_DISK_LIMIT`` if set, else
    the free space of the file system that holds ``path`` (or its nearest existing parent).

    Examples
    --------
    >>> free_disk(".") > 0
    True
    """
    limit = os.environ.get("ATOMSCOPE_DISK_LIMIT")
    if limit:
        return _parse_size(limit, "ATOMSCOPE_DISK_LIMIT")
    existing = Path(path).absolute()
    while not existing.exists():
        existing = existing.parent
    return shutil.disk_usage(existing).free


def check_disk(path: str | os.PathLike, nbytes: float, job: str, hint: str = "") -> None:
    """Raise ``ValueError`` if writing ``nbytes`` under ``path`` needs more than 90 % of the
    free space (`free_disk`).

    Parameters
    ----------
    path
        Where the files go (a directory; it need not exist yet).
    nbytes
        Bytes the job writes [B] (an upper bound, e.g. the uncompressed size).
    job
        What is being refused, naming the argument that drives its size.
    hint
        How to make it fit, appended to the message.

    Examples
    --------
    >>> check_disk(".", 1024, "a tiny file")
    """
    free = free_disk(path)
    if nbytes > USABLE_FRACTION * free:
        where = (
            "allowed (ATOMSCOPE_DISK_LIMIT)" if os.environ.get("ATOMSCOPE_DISK_LIMIT") else "free"
        )
        raise ValueError(
            f"{job} writes up to {_gib(nbytes)} to {os.fspath(path)!r} but only {_gib(free)} is "
            f"{where}{'; ' + hint if hint else ''}"
        )


def _pixels(gpts) -> int:
    nx, ny = (gpts, gpts) if np.isscalar(gpts) else gpts
    return int(nx) * int(ny)


#: Peak bytes per pixel of one multislice run of one wave (measured: 102 B/px on 2048², Si);
#: each element adds its form factor, 4 B/px (complex64 over the half spectrum).
_MULTISLICE_BYTES_PER_PIXEL = (
    24  # the cached FFTW plans ("fft_plans")
    + 16  # the wave and its FFT-aligned working copy (complex64)
    + 20  # stepper: band-limit aperture and transmission function (complex64), phase (float32)
    + 16  # propagators of the slice thickness, normalised and bare (complex64)
    + 12  # slice generation: |k| (float64, half spectrum), spectrum (complex64, half), the slice
    + 16  # products of repeated vacuum-slice runs (waves.multislice.MAX_VACUUM_RUNS = 2)
    + 8  # transient: a new propagator before its band limit (complex64; its 1D factors are tiny)
)


def _structure_factor_bytes(gpts, num_atoms: int) -> int:
    nx, ny = (gpts, gpts) if np.isscalar(gpts) else gpts
    half = int(ny) // 2 + 1
    # exp(−2πi kx x_j) is built through a complex128 argument and exponential (16 + 16 B per
    # entry), then exp(−2πi ky y_j) likewise while the first is kept (complex64, 8 B per entry)
    return int(num_atoms) * max(32 * int(nx), 8 * int(nx) + 32 * half)


#: Bytes of each job type per unit of its sizes (complex64 waves, float32 slices).
_ESTIMATES = {
    # complex64 wave functions: 8 bytes per pixel per wave
    "waves": lambda gpts, count=1: 8 * _pixels(gpts) * count,
    # float32 intensities / diffraction patterns: 4 bytes per pixel
    "intensity": lambda gpts, count=1: 4 * _pixels(gpts) * count,
    # float32 potential slices of every configuration
    "potential_slices": lambda gpts, num_slices, num_configs=1: (
        4 * _pixels(gpts) * num_slices * num_configs
    ),
    # the PRISM S-matrix: one complex64 exit wave per beam
    "smatrix": lambda gpts, num_beams: 8 * _pixels(gpts) * num_beams,
    # the FFTW plans core.fft keeps for a grid: complex64 forward + backward scratch (2 × 8),
    # irfft half spectrum (complex64, 4) + float32 output (4)
    "fft_plans": lambda gpts: 24 * _pixels(gpts),
    # one wave through the slices (waves.multislice), see _MULTISLICE_BYTES_PER_PIXEL
    "multislice": lambda gpts, num_elements=1: (
        (_MULTISLICE_BYTES_PER_PIXEL + 4 * num_elements) * _pixels(gpts)
    ),
    # the phase matrices of Potential's structure factor for the atoms of one slice
    "structure_factor": lambda gpts, num_atoms: _structure_factor_bytes(gpts, num_atoms),
}


def estimate(job: str, **sizes) -> int:
    """Bytes a ``job`` of the given ``sizes`` holds in memory.

    Parameters
    ----------
    job
        ``"waves"`` (gpts, count), ``"intensity"`` (gpts, count), ``"potential_slices"``
        (gpts, num_slices, num_configs), ``"smatrix"`` (gpts, num_beams), ``"fft_plans"``
        (gpts: the FFTW plans kept for a grid), ``"multislice"``
        (gpts, num_elements: one wave through the slices, FFT plans and slice generation
        included) or ``"structure_factor"`` (gpts, num_atoms: the phase matrices of the
        atoms of one element in one slice).
    **sizes
        The sizes the job takes; ``gpts`` is an int or an (nx, ny) pair [pixels].

    Returns
    -------
    int
        Bytes [B].

    Examples
    --------
    >>> estimate("waves", gpts=(256, 256), count=10)
    5242880
    >>> estimate("potential_slices", gpts=128, num_slices=20, num_configs=2)
    2621440
    """
    if job not in _ESTIMATES:
        raise ValueError(f"job must be one of {sorted(_ESTIMATES)}, got {job!r}")
    for name, value in sizes.items():
        values = np.atleast_1d(value)
        if not np.issubdtype(values.dtype, np.integer) or np.any(values < 0):
            raise ValueError(f"{name} must be a non-negative integer (pair), got {value!r}")
    try:
        return int(_ESTIMATES[job](**sizes))
    except TypeError as error:
        raise ValueError(f"estimate({job!r}, ...): {error}") from None
