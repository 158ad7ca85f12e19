"""Pre-flight memory estimates: refuse a job that cannot fit before any work starts.

The limit is the memory the kernel reports as available (``MemAvailable`` in /proc/meminfo), or
``ATOMSCOPE_MEMORY_LIMIT`` in bytes (suffixes K, M, G, T for powers of 1024) when set.
"""

from __future__ import annotations

import os
import re

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(
            f"ATOMSCOPE_MEMORY_LIMIT must be a size like 512M or 2G, got {text!r}"
        )
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
