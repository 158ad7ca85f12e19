"""Seeded random number generators: every function that draws takes ``rng``."""

from __future__ import annotations

import numpy as np


def as_generator(rng: int | np.random.Generator | None, name: str = "rng") -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from an int seed or a generator.

    ``None`` gives fresh OS entropy (not reproducible); an int gives bit-identical draws.

    Examples
    --------
    >>> bool(as_generator(0).integers(100) == as_generator(0).integers(100))
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be a non-negative int seed or numpy.random.Generator, got {rng!r}"
    )


def spawn(rng: int | np.random.Generator | None, count: int) -> list[np.random.Generator]:
    """Independent child generators, e.g. one per frozen-phonon configuration or task."""
    return as_generator(rng).spawn(count)
