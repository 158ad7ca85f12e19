"""Pre-flight memory estimates: refuse a job that cannot fit before any work starts.

The limit is the memory the kernel reports as available (``MemAvailable`` in /proc/meminfo), or
``ATOMSCOPE_MEMORY_LIMIT`` in bytes (suffixes K, M, G, T for powers of 1024) when set.
"""

from __future__ import annotations

import os
import re

import numpy as np

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"ATOMSCOPE_MEMORY_LIMIT must be a size like 512M or 2G, got {text!r}")
    return int(float(match.group(1)) * _SUFFIXES[match.group(2).upper()])


def available_memory() -> int:
    """Bytes a new job may use: ``ATOMSCOPE_MEMORY_LIMIT`` if set, else MemAvailable.

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    limit = os.environ.get("ATOMSCOPE_MEMORY_LIMIT")
    if limit:
        return _parse_size(limit)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(nbytes: int, job: str, hint: str = "") -> None:
    """Raise ``ValueError`` if ``job`` needs more than 90 % of the available memory.

    Parameters
    ----------
    nbytes
        Estimated peak bytes of the job.
    job
        What is being refused, e.g. ``"multislice of 20 frozen-phonon configurations"``.
    hint
        How to make it fit, appended to the message.

    Examples
    --------
    >>> check_memory(1024, "a tiny job")
    """
    available = available_memory()
    if nbytes > 0.9 * available:
        raise ValueError(
            f"{job} needs about {nbytes / 2**30:.2f} GiB but only {available / 2**30:.2f} GiB "
            f"is available{'; ' + hint if hint else ''}"
        )


def _pixels(gpts) -> int:
    nx, ny = (gpts, gpts) if np.isscalar(gpts) else gpts
    return int(nx) * int(ny)


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
}


def estimate(job: str, **sizes) -> int:
    """Bytes a ``job`` of the given ``sizes`` holds in memory.

    Parameters
    ----------
    job
        ``"waves"`` (gpts, count), ``"intensity"`` (gpts, count), ``"potential_slices"``
        (gpts, num_slices, num_configs) or ``"smatrix"`` (gpts, num_beams).
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
