"""`Images`: a real-valued 2D measurement (intensity, counts) with its pixel size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atomscope.core.grid import Grid
from atomscope.core.validate import check_choice, check_finite_array, check_pair

#: Where an image's pixel size came from: read from its file, or given by the caller.
SAMPLING_SOURCES = ("file", "argument")


@dataclass(frozen=True, eq=False)
class Images:
    """An image (or a stack with leading axes) indexed ``[..., x, y]``.

    Parameters
    ----------
    array
        Real values, cast to float32.
    sampling
        Pixel size [Å] along x and y (a scalar means square pixels).
    metadata
        Free-form record of how the image was made (energy, dose, ...), kept through every stage.
    sampling_source
        Where ``sampling`` came from: ``"file"`` when `atomscope.io.read_image` took it from the
        image file's own calibration, ``"argument"`` (the default) when the caller gave it,
        which includes every image made in code.

    Examples
    --------
    >>> image = Images(np.ones((4, 6)), sampling=0.5)
    >>> image.extent
    (2.0, 3.0)
    >>> image.sampling_source
    'argument'
    """

    array: np.ndarray
    sampling: tuple[float, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    sampling_source: str = "argument"

    def __post_init__(self):
        array = check_finite_array("array", self.array)
        if array.ndim < 2:
            raise ValueError(f"array must have at least 2 dimensions [x, y], got {array.shape}")
        object.__setattr__(self, "array", np.ascontiguousarray(array, dtype=np.float32))
        object.__setattr__(self, "sampling", check_pair("sampling", self.sampling))
        object.__setattr__(self, "metadata", dict(self.metadata))
        check_choice("sampling_source", self.sampling_source, SAMPLING_SOURCES)

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape."""
        return self.array.shape

    @property
    def grid(self) -> Grid:
        """The lateral grid of the last two axes."""
        return Grid(gpts=self.array.shape[-2:], sampling=self.sampling)

    @property
    def extent(self) -> tuple[float, float]:
        """Field of view [Å] along x and y."""
        return self.grid.extent

    def with_array(self, array: np.ndarray, sampling=None, **metadata) -> Images:
        """A new `Images` with a replaced array (and sampling), metadata updated.

        The `sampling_source` is kept when the sampling is; a new ``sampling`` is the caller's
        (``"argument"``).
        """
        if sampling is None:
            return Images(array, self.sampling, {**self.metadata, **metadata}, self.sampling_source)
        return Images(array, sampling, {**self.metadata, **metadata})


def pixel_extent(shape: tuple[int, int], sampling) -> tuple[float, float, float, float]:
    """``imshow`` extent (left, right, bottom, top) [Å] of an ``[x, y]`` array whose pixel
    (i, j) sits at (i, j) × sampling, so plotted positions [Å] land on their pixels.

    Examples
    --------
    >>> pixel_extent((4, 2), 0.5)
    (-0.25, 1.75, -0.25, 0.75)
    """
    sx, sy = (float(s) for s in np.broadcast_to(np.asarray(sampling, dtype=float), (2,)))
    nx, ny = shape
    return (-sx / 2, (nx - 0.5) * sx, -sy / 2, (ny - 0.5) * sy)
