"""Cutting a cell along the beam (z) into slices and assigning atoms to them."""

from __future__ import annotations

import numpy as np

from atomscope.core.validate import check_positive

_TOLERANCE = 1e-9


def slice_limits(thickness: float, slice_thickness: float) -> np.ndarray:
    """Boundaries z_0 = 0 < z_1 < … < z_n = thickness of equal slices [Å].

    The number of slices is ⌈thickness / slice_thickness⌉ and every slice gets the same
    thickness thickness / n (abTEM's convention), so no thin sliver is left at the exit surface.

    Examples
    --------
    >>> slice_limits(2.0, 0.6)
    array([0. , 0.5, 1. , 1.5, 2. ])
    """
    thickness = check_positive("thickness (cell z length)", thickness)
    slice_thickness = check_positive("slice_thickness", slice_thickness)
    if slice_thickness > thickness * (1 + _TOLERANCE):
        raise ValueError(
            f"slice_thickness must be in (0, {thickness}] (the cell's z length), "
            f"got {slice_thickness}"
        )
    count = max(int(np.ceil(thickness / slice_thickness - _TOLERANCE)), 1)
    return np.linspace(0.0, thickness, count + 1)


def slice_index(z: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Index of the slice holding each z [Å]; atoms outside the cell go to the nearest slice."""
    index = np.searchsorted(limits, z, side="right") - 1
    return np.clip(index, 0, len(limits) - 2)
