"""Atoms per column from a focal series, read column by column: the counting stage of the
``gold-counting`` model (issue #18, seed §6.4.3).

The FusionNet of the seed finds the columns well but its per-pixel classes count them poorly
(18–20 % exact on held-out particles); the information is there (a Gaussian mixture of Voronoi
signals counts 83 % at 1e4 e⁻/Å²). `ColumnCounter` classifies each found column from two
patches of every focal image around it, resampled so that the network sees the same thing at
any pixel size:

* a fine patch (``size`` × ``size`` points ``fine`` Å apart: the column and its neighbours) and
  a coarse one (``coarse`` Å apart: where in the particle the column is), each image divided by
  its vacuum level (its median: the training images are at least half vacuum) minus 1, so the
  contrast of the column relative to the vacuum is kept (local contrast normalisation, seed
  Eqs 6.10–6.11, takes part of it away);
* a small convolutional network whose batch normalisations use the statistics of the columns
  of the image at hand, in training and in prediction alike (``track_running_stats=False``):
  a batch is always the columns of one focal series. Measured: with running averages in place
  of these per-image statistics the same weights count 43 % instead of 92 % exact.

Predictions for one column therefore depend on the other columns of the image (as the
mixture's EM of its scale does in `analysis.counting`); an image needs
`MIN_COLUMNS` columns or more.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from atomscope.core.validate import (
    check_finite_array,
    check_positive,
    check_positive_int,
)

FORMAT = "atomscope-column-counter/1"
#: fewest columns an image must have: the network normalises its features over them
MIN_COLUMNS = 4


@dataclass(frozen=True)
class PatchGeometry:
    """The patches around each column: ``size`` × ``size`` points, ``fine`` and ``coarse`` [Å]
    apart (a fine patch of ``size`` · ``fine`` Å and a coarse one of ``size`` · ``coarse`` Å)."""

    size: int = 16
    fine: float = 0.2
    coarse: float = 1.0

    def __post_init__(self):
        check_positive_int("size", self.size, minimum=8)
        if self.size % 8:
            raise ValueError(f"size must be a multiple of 8, got {self.size}")
        check_positive("fine", self.fine)
        check_positive("coarse", self.coarse)


#: the patches of the shipped counter
DEFAULT_GEOMETRY = PatchGeometry()


def vacuum_relative(images) -> np.ndarray:
    """Each image divided by its vacuum level (median) minus 1 [k, x, y].

    Examples
    --------
    >>> vacuum_relative(np.array([[[2.0, 2.0, 2.0, 3.0]]])).tolist()
    [[[0.0, 0.0, 0.0, 0.5]]]
    """
    stack = np.asarray(images, dtype=np.float64)
    level = np.median(stack, axis=(-2, -1), keepdims=True)
    if np.any(level <= 0):
        raise ValueError(
            "images must have a positive vacuum level (median); give raw intensities or counts"
        )
    return stack / level - 1.0


def column_patches(
    images,
    sampling: float,
    positions,
    geometry: PatchGeometry = DEFAULT_GEOMETRY,
    rng: np.random.Generator | None = None,
    position_sigma: float = 0.0,
) -> np.ndarray:
    """Fine and coarse patches of every image around every column, (n, 2k, size, size) float32.

    Each image is smoothed with a Gaussian of σ = half the patch step before it is sampled
    (linear interpolation, periodic borders). With ``rng`` each patch is turned by a random
    angle and mirrored with probability ½, and the column's place jittered by
    ``position_sigma`` [Å] (training).

    Parameters
    ----------
    images
        (k, nx, ny) normalised images (`vacuum_relative`).
    sampling
        Pixel size [Å].
    positions
        (n, 2) column positions [Å].

    Examples
    --------
    >>> stack = np.random.default_rng(0).normal(size=(3, 64, 64))
    >>> column_patches(stack, 0.1, [[3.2, 3.2], [1.0, 2.0]]).shape
    (2, 6, 16, 16)
    """
    stack = check_finite_array("images", images, ndim=3)
    points = check_finite_array("positions", positions, ndim=2)
    sampling = check_positive("sampling", sampling)
    count = len(points)
    if rng is not None and position_sigma > 0:
        points = points + rng.normal(0.0, position_sigma, points.shape)
    angle = rng.uniform(0, 2 * np.pi, count) if rng is not None else np.zeros(count)
    mirror = rng.integers(0, 2, count) * 2 - 1 if rng is not None else np.ones(count)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    offset = np.arange(geometry.size) - (geometry.size - 1) / 2
    u, v = np.meshgrid(offset, offset, indexing="ij")
    out = np.empty((count, 2 * len(stack), geometry.size, geometry.size), np.float32)
    for scale, step in enumerate((geometry.fine, geometry.coarse)):
        smooth = ndimage.gaussian_filter(stack, (0, step / 2 / sampling, step / 2 / sampling),
                                         mode="wrap")  # fmt: skip
        x = (points[:, 0, None, None] + step * (cos * u - sin * v)) / sampling
        y = points[:, 1, None, None] + step * mirror[:, None, None] * (sin * u + cos * v)
        y = y / sampling
        for k, image in enumerate(smooth):
            channel = scale * len(stack) + k
            out[:, channel] = ndimage.map_coordinates(image, [x, y], order=1, mode="grid-wrap")
    return out


def _network(in_channels: int, num_classes: int, width: int, size: int):
    """Three conv–conv–pool blocks (width × 1, 2, 4) with per-batch normalisation, then a
    128-unit hidden layer and one output per class."""
    from torch import nn

    def block(a: int, b: int) -> list:
        return [
            nn.Conv2d(a, b, 3, padding=1),
            nn.BatchNorm2d(b, track_running_stats=False),
            nn.ReLU(),
            nn.Conv2d(b, b, 3, padding=1),
            nn.BatchNorm2d(b, track_running_stats=False),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    side = size // 8
    return nn.Sequential(
        *block(in_channels, width),
        *block(width, 2 * width),
        *block(2 * width, 4 * width),
        nn.Flatten(),
        nn.Linear(4 * width * side * side, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


class ColumnCounter:
    """A trained column classifier: atoms per column from the patches of a focal series.

    Parameters
    ----------
    atoms_per_class
        Atoms of each output class, e.g. 1 … 14.
    in_images
        Images of the focal series.
    width
        Feature maps of the first block.
    geometry
        The patches (`PatchGeometry`).
    metadata
        Training record, kept in the saved file.

    Examples
    --------
    >>> counter = ColumnCounter(np.arange(1, 5), in_images=3, width=4)
    >>> stack = 1 + 0.1 * np.random.default_rng(0).random((3, 64, 64))
    >>> counts, probabilities = counter.predict(stack, 0.1, np.random.default_rng(1).random((5, 2)) * 6)
    >>> counts.shape, probabilities.shape
    ((5,), (5, 4))
    """

    def __init__(
        self,
        atoms_per_class,
        in_images: int = 3,
        width: int = 32,
        geometry: PatchGeometry = DEFAULT_GEOMETRY,
        metadata: dict[str, Any] | None = None,
    ):
        atoms = np.asarray(atoms_per_class)
        if atoms.ndim != 1 or len(atoms) < 2 or atoms.dtype.kind not in "iu" or np.any(atoms < 1):
            raise ValueError(
                f"atoms_per_class must be at least 2 positive integers, got {atoms_per_class!r}"
            )
        self.atoms_per_class = atoms.astype(np.int64)
        self.in_images = check_positive_int("in_images", in_images)
        self.width = check_positive_int("width", width)
        if not isinstance(geometry, PatchGeometry):
            raise TypeError(f"geometry must be a PatchGeometry, got {type(geometry).__name__}")
        self.geometry = geometry
        self.metadata = dict(metadata or {})
        self.network = _network(2 * in_images, len(atoms), width, geometry.size)

    def _config(self) -> dict[str, Any]:
        return {
            "atoms_per_class": self.atoms_per_class.tolist(),
            "in_images": self.in_images,
            "width": self.width,
            "geometry": asdict(self.geometry),
            "metadata": self.metadata,
        }

    def state(self, half: bool = False) -> dict[str, Any]:
        """Weights and settings as plain tensors and values (for `torch.save`)."""
        weights = {
            key: value.half() if half and value.is_floating_point() else value
            for key, value in self.network.state_dict().items()
        }
        return {"format": FORMAT, "state_dict": weights, "config": self._config()}

    @classmethod
    def from_state(cls, content: Any, name: str = "column counter") -> ColumnCounter:
        """The counter `state` describes; ``ValueError`` naming ``name`` if it is not one."""
        import torch

        if not isinstance(content, dict) or content.get("format") != FORMAT:
            raise ValueError(f"{name} is not an atomscope column counter ({FORMAT})")
        config, weights = content.get("config"), content.get("state_dict")
        if not isinstance(config, dict) or not isinstance(weights, dict):
            raise ValueError(f"{name} is incomplete: it needs a config and a state_dict")
        try:
            counter = cls(
                config["atoms_per_class"],
                config["in_images"],
                config["width"],
                PatchGeometry(**config["geometry"]),
                config.get("metadata"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{name} has an invalid config: {error}") from None
        if not all(isinstance(value, torch.Tensor) for value in weights.values()):
            raise ValueError(f"{name} has a state_dict with entries that are not tensors")
        try:
            counter.network.load_state_dict({key: value.float() for key, value in weights.items()})
        except RuntimeError as error:
            detail = str(error).strip().splitlines()[1:] or [str(error)]
            raise ValueError(
                f"{name} has weights that do not fit its config: {detail[0].strip()}"
            ) from None
        return counter

    def save(self, path: str | os.PathLike, half: bool = False) -> Path:
        """Write the counter to ``path`` (through a temporary file)."""
        import torch

        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(self.state(half), tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ColumnCounter:
        """Read a file written by `save` (``torch.load(weights_only=True)``)."""
        from atomscope.learning.model import read_weights

        name = f"column counter file {str(path)!r}"
        return cls.from_state(read_weights(path, name), name)

    def logits(self, patches):
        """Network output (n, classes) for patches of the columns of one image (a tensor)."""
        return self.network(patches)

    def predict(self, images, sampling: float, positions) -> tuple[np.ndarray, np.ndarray]:
        """Atoms (n,) and class probabilities (n, classes) of the columns at ``positions``.

        Parameters
        ----------
        images
            (k, nx, ny) focal series in intensity units (raw or mean-normalised: each image is
            divided by its vacuum level, `vacuum_relative`), k = ``in_images``.
        sampling
            Pixel size [Å].
        positions
            (n, 2) column positions [Å], n ≥ `MIN_COLUMNS` (or none).
        """
        import torch

        stack = check_finite_array("images", images, ndim=3)
        if len(stack) != self.in_images:
            raise ValueError(
                f"images has {len(stack)} images; this counter takes a focal series of "
                f"{self.in_images}"
            )
        points = check_finite_array("positions", np.reshape(positions, (-1, 2)), ndim=2)
        classes = len(self.atoms_per_class)
        if len(points) == 0:
            return np.zeros(0, np.int64), np.zeros((0, classes))
        if len(points) < MIN_COLUMNS:
            raise ValueError(
                f"positions has {len(points)} columns; counting normalises over the columns of "
                f"an image and needs at least {MIN_COLUMNS}"
            )
        patches = column_patches(vacuum_relative(stack), sampling, points, self.geometry)
        self.network.eval()
        with torch.inference_mode():
            probabilities = torch.softmax(self.logits(torch.from_numpy(patches)), dim=1).numpy()
        probabilities = probabilities.astype(np.float64)
        return self.atoms_per_class[probabilities.argmax(axis=1)], probabilities
