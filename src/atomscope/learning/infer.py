"""Recognition of atoms in an image with a trained network (seed §6.3.3 and §6.3.5).

`Recognizer.predict`: local contrast normalisation (Eqs 6.10–6.11) → tiled network inference
with overlap → watershed segmentation of the background map (local minima below ε = 0.995,
basins limited to ε) → per-segment class probabilities (Eq 6.14) and centre-of-mass positions
(Eq 6.15) → threshold on the segment's peak class probability (Eq 6.16). A counting model
(classes = atoms per column, seed §6.4.2) also gives each column's count: the atoms of its most
probable class.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
from scipy import ndimage

from atomscope.core.memory import check_memory
from atomscope.core.threads import limit_torch
from atomscope.core.threads import threads as default_thread_count
from atomscope.core.validate import check_positive, check_positive_int, check_range
from atomscope.learning.normalize import (
    BATCH_STATISTICS,
    NORMALIZATIONS,
    check_image_stack,
    normalize_input,
)

FORMAT = "atomscope-recognizer/1"
_CONFIG_KEYS = (
    "in_channels",
    "num_classes",
    "width",
    "class_names",
    "sampling_range",
    "lcn_sigma",
    "metadata",
)
WEIGHTS = Path(__file__).parent / "weights"
#: Smallest image side [px] the network is run on after resampling (one 8-px level below
#: the deepest of FusionNet's three poolings)
MIN_PIXELS = 16
_PIXEL_BYTES = 160  # per resampled pixel during predict (measured, width-8 models, 96²–1024²)
_FIXED_BYTES = 96 * 2**20  # the overlay figure and the network's tile buffers
#: Seed §6.3.5: minima of the background map above ε are discarded and basins stop at ε.
EPSILON = 0.995
#: Overlap of the strips the watershed runs on in parallel [Å]: several basins (atoms) wide.
STRIP_MARGIN = 6.0


def _watershed(background, markers, inside, sampling: float, threads: int) -> np.ndarray:
    """Marker watershed of ``background`` within ``inside``, in ``threads`` overlapping strips
    along x run in parallel threads (scikit-image releases the GIL). Each strip reaches
    `STRIP_MARGIN` beyond the rows it keeps, so only pixels whose flooding path leaves that
    margin, in practice ties between equal values, can differ from one pass over the image."""
    from concurrent.futures import ThreadPoolExecutor

    from skimage.segmentation import watershed

    margin = math.ceil(STRIP_MARGIN / sampling)
    rows = background.shape[0]
    strips = max(1, min(threads, rows // (4 * margin)))
    if strips == 1:
        return watershed(background, markers, mask=inside)
    bounds = np.linspace(0, rows, strips + 1).astype(int)

    def strip(k: int) -> np.ndarray:
        low, high = max(bounds[k] - margin, 0), min(bounds[k + 1] + margin, rows)
        part = np.s_[low:high]
        labels = watershed(background[part], markers[part], mask=inside[part])
        return labels[bounds[k] - low : bounds[k + 1] - low]

    with ThreadPoolExecutor(strips) as pool:
        return np.concatenate(list(pool.map(strip, range(strips))))


def _weight_bytes(in_channels: int, num_classes: int, width: int, levels: int) -> int:
    """Float32 bytes of the conv weights of a `FusionNet` (biases and batch norms add a few
    numbers per channel): per level a conv, a residual block of three convs and a conv (3×3),
    a 4×4 transposed conv up and a decoder level per skip, and the 1×1 scoring conv."""
    channels = [width * 2**level for level in range(levels)]
    inputs = [in_channels, *channels[:-1]]
    encoder = sum(9 * (a * b + 4 * b * b) for a, b in zip(inputs, channels, strict=True))
    decoder = sum(9 * 5 * c * c + 16 * 2 * c * c for c in channels[:-1])
    return 4 * (encoder + decoder + channels[0] * (num_classes + 1))


@dataclass(frozen=True)
class Recognition:
    """Atoms found in an image.

    Attributes
    ----------
    positions
        (n, 2) positions [Å] along the array axes [x, y] (pixel (i, j) at (i, j)·sampling).
    probabilities
        (n, classes) class probabilities of each atom (Eq 6.14).
    scores
        (n,) peak class probability 1 − P0 in each atom's segment (thresholded by Eq 6.16).
    maps
        Probability maps [classes + 1, x, y] at ``sampling``; channel 0 is the background.
    image
        The (first) input image at ``sampling``.
    sampling
        Pixel size of ``maps`` and ``image`` [Å].
    class_names
        Names of the classes.
    metadata
        Settings of the prediction (threshold t, ε).
    counts
        (n,) atoms in each column for a counting model (the atoms of the most probable
        class; ``probabilities`` are the per-column class probabilities), else None.
    confidence
        With ``predict(..., confidence=True)``: agreement of the atoms with those found in the
        image's mirror images, 0–1 (`atomscope.learning.confidence.mirror_agreement`), else
        None.
    """

    positions: np.ndarray
    probabilities: np.ndarray
    scores: np.ndarray
    maps: np.ndarray
    image: np.ndarray
    sampling: float
    class_names: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    counts: np.ndarray | None = None
    confidence: float | None = None

    def __len__(self) -> int:
        return len(self.positions)

    def plot(self, ax=None):
        """The image with the recognised positions, coloured by most probable class.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        from atomscope.images import pixel_extent

        if ax is None:
            fig = Figure(figsize=(6, 6))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        nx, ny = self.image.shape
        ax.imshow(
            self.image.T,
            origin="lower",
            cmap="gray",
            extent=pixel_extent((nx, ny), self.sampling),
        )
        classes = self.probabilities.argmax(axis=1) if len(self) else np.zeros(0, int)
        for k, name in enumerate(self.class_names):
            chosen = self.positions[classes == k]
            ax.plot(chosen[:, 0], chosen[:, 1], "o", ms=3, mfc="none", label=name)
        ax.set_xlabel("x [Å]")
        ax.set_ylabel("y [Å]")
        ax.set_title(f"{len(self)} atoms")
        ax.legend(loc="upper right", fontsize=8)
        return fig


def segment(
    maps: np.ndarray, sampling: float, epsilon: float = EPSILON, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Atoms from probability maps: watershed of the background, Eqs 6.14–6.15.

    Parameters
    ----------
    maps
        [classes + 1, x, y], channel 0 the background, summing to 1 over the channels.
    sampling
        Pixel size [Å].
    epsilon
        Minima of the background above ε are discarded; basins are limited to P0 < ε.
    threads
        Parallel watershed strips (default: the cores); 1 runs one pass over the image.

    Returns
    -------
    positions (n, 2) [Å], probabilities (n, classes), scores (n,) = max(1 − P0) per segment

    Examples
    --------
    >>> from atomscope.learning.data import truth_maps
    >>> maps = truth_maps([[1.0, 1.0], [2.5, 1.0]], [0, 0], 1, (0, 0), (40, 20), 0.1)
    >>> positions, probabilities, scores = segment(maps, 0.1)
    >>> positions.round(1).tolist(), probabilities.ravel().tolist()
    ([[1.0, 1.0], [2.5, 1.0]], [1.0, 1.0])
    """
    from skimage.morphology import local_minima

    if threads is None:
        threads = default_thread_count()
    threads = check_positive_int("threads", threads)
    background = np.asarray(maps[0], dtype=float)
    inside = background < epsilon
    markers, count = ndimage.label(local_minima(background) & inside)
    if count == 0:
        return np.zeros((0, 2)), np.zeros((0, len(maps) - 1)), np.zeros(0)
    labels = _watershed(background, markers, inside, sampling, threads)
    sums, moments, scores = _segment_statistics(
        labels, np.asarray(maps[1:], dtype=np.float64), background, count
    )
    # Eq 6.14: p_n(c_k) = Σ_{S_n} P_k / Σ_k Σ_{S_n} P_k
    totals = sums.sum(axis=1, keepdims=True)
    probabilities = sums / totals
    # Eq 6.15: centre of mass of the segment weighted by Σ_k P_k
    positions = moments / totals * sampling
    return positions, probabilities, scores


@numba.njit(cache=True)
def _segment_statistics(labels, class_maps, background, count):
    """One pass over the pixels: per segment the class sums Σ P_k, the moments Σ (Σ_k P_k)·(x, y)
    [px] and the peak score max(1 − P0)."""
    sums = np.zeros((count, class_maps.shape[0]))
    moments = np.zeros((count, 2))
    scores = np.full(count, -np.inf)
    for x in range(labels.shape[0]):
        for y in range(labels.shape[1]):
            segment = labels[x, y] - 1
            if segment < 0:
                continue
            weight = 0.0
            for k in range(class_maps.shape[0]):
                sums[segment, k] += class_maps[k, x, y]
                weight += class_maps[k, x, y]
            moments[segment, 0] += weight * x
            moments[segment, 1] += weight * y
            scores[segment] = max(scores[segment], 1.0 - background[x, y])
    return sums, moments, scores


class Recognizer:
    """A trained network with what is needed to apply it to new images.

    Parameters
    ----------
    model
        A `FusionNet`.
    class_names
        Names of its classes (without the background).
    sampling_range
        Pixel sizes (low, high) [Å] seen in training.
    lcn_sigma
        Window σ of the local contrast normalisation used in training [Å].
    metadata
        Training record (config, iterations, validation), kept in the saved file. A counting
        model has ``"atoms_per_class"`` (atoms of each class, e.g. 1 … 14), a focal-series
        model ``"focal_series"`` (the `randomize.FocalSeries` it was trained on, as a dict), a
        model trained on standardised images ``"normalization": "standard"`` (default
        ``"lcn"``, `normalize.normalize_input`), a model trained to normalise each image by its
        own feature maps ``"batch_statistics": "image"`` (`model.per_image_statistics`; default
        ``"running"``, the running statistics of training).

    Examples
    --------
    >>> from atomscope.learning.model import FusionNet
    >>> recognizer = Recognizer(FusionNet(width=2), ("C",), (0.11, 0.13), 10.0)
    >>> image = np.random.default_rng(0).normal(size=(48, 40))
    >>> result = recognizer.predict(image, sampling=0.12, threshold=0.0)
    >>> result.maps.shape, result.positions.shape[1]
    ((2, 48, 40), 2)
    """

    def __init__(
        self,
        model,
        class_names,
        sampling_range: tuple[float, float],
        lcn_sigma: float,
        metadata: dict[str, Any] | None = None,
        column_counter=None,
    ):
        from atomscope.learning.column_counter import ColumnCounter
        from atomscope.learning.model import FusionNet

        if not isinstance(model, FusionNet):
            raise TypeError(f"model must be a FusionNet, got {type(model).__name__}")
        self.class_names = tuple(str(name) for name in class_names)
        if len(self.class_names) != model.num_classes:
            raise ValueError(
                f"class_names {self.class_names} must name the model's {model.num_classes} classes"
            )
        low, high = (check_positive("sampling_range", value) for value in sampling_range)
        if low > high:
            raise ValueError(f"sampling_range must be (low, high), got {sampling_range}")
        self.sampling_range = (low, high)
        self.lcn_sigma = check_positive("lcn_sigma", lcn_sigma)
        self.model = model.eval()
        self.metadata = dict(metadata or {})
        atoms = self.metadata.get("atoms_per_class")
        if atoms is not None:
            atoms = np.asarray(atoms)
            if (
                atoms.shape != (model.num_classes,)
                or atoms.dtype.kind not in "iu"
                or np.any(atoms < 1)
            ):
                raise ValueError(
                    f"metadata atoms_per_class must be {model.num_classes} positive integers "
                    f"(one per class), got {self.metadata['atoms_per_class']!r}"
                )
        series = self.metadata.get("focal_series")
        if series is not None:
            from atomscope.learning.randomize import FocalSeries

            if not isinstance(series, dict):
                raise ValueError(f"metadata focal_series must be a dict, got {series!r}")
            try:
                length = FocalSeries(**series).num_images
            except TypeError as error:
                raise ValueError(f"metadata focal_series: {error}") from None
            if length != model.in_channels:
                raise ValueError(
                    f"metadata focal_series has {length} images; the model takes "
                    f"{model.in_channels}"
                )
        if column_counter is not None:
            if not isinstance(column_counter, ColumnCounter):
                raise TypeError(
                    f"column_counter must be a ColumnCounter, got {type(column_counter).__name__}"
                )
            if atoms is None or not np.array_equal(column_counter.atoms_per_class, atoms):
                raise ValueError(
                    "column_counter must count the model's classes (metadata atoms_per_class "
                    f"{None if atoms is None else atoms.tolist()}), got "
                    f"{column_counter.atoms_per_class.tolist()}"
                )
            if column_counter.in_images != model.in_channels:
                raise ValueError(
                    f"column_counter takes {column_counter.in_images} images; the model takes "
                    f"{model.in_channels}"
                )
        self.column_counter = column_counter
        self.normalization = self.metadata.get("normalization", "lcn")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"metadata normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        self.batch_statistics = self.metadata.get("batch_statistics", "running")
        if self.batch_statistics not in BATCH_STATISTICS:
            raise ValueError(
                f"metadata batch_statistics must be one of {BATCH_STATISTICS}, got "
                f"{self.batch_statistics!r}"
            )
        self._folded = self._folded_source = None

    @property
    def in_channels(self) -> int:
        """Number of images the model takes."""
        return self.model.in_channels

    @property
    def atoms_per_class(self) -> np.ndarray | None:
        """Atoms in a column of each class for a counting model, else None."""
        atoms = self.metadata.get("atoms_per_class")
        return None if atoms is None else np.asarray(atoms, dtype=np.int64)

    @property
    def focal_series(self):
        """The `randomize.FocalSeries` a focal-series model was trained on, else None."""
        from atomscope.learning.randomize import FocalSeries

        series = self.metadata.get("focal_series")
        return None if series is None else FocalSeries(**series)

    def _config(self) -> dict[str, Any]:
        return {
            "in_channels": self.model.in_channels,
            "num_classes": self.model.num_classes,
            "width": self.model.width,
            "global_context": self.model.global_context,
            "class_names": list(self.class_names),
            "sampling_range": list(self.sampling_range),
            "lcn_sigma": self.lcn_sigma,
            "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike, half: bool = False) -> Path:
        """Write the weights and settings (float16 weights if ``half``), atomically.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from atomscope.learning.model import FusionNet
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
        >>> _ = Recognizer(FusionNet(width=2), ("C",), (0.11, 0.13), 10.0).save(path)
        >>> Recognizer.load(path).class_names
        ('C',)
        """
        import torch

        path = Path(path)
        state = {
            key: value.half() if half and value.is_floating_point() else value
            for key, value in self.model.state_dict().items()
        }
        tmp = path.with_name(f".{path.name}.tmp")
        content = {"format": FORMAT, "state_dict": state, "config": self._config()}
        if self.column_counter is not None:
            content["column_counter"] = self.column_counter.state(half)
        torch.save(content, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recognizer:
        """Read a file written by `save` (safe loading: ``torch.load(weights_only=True)``).

        The config is checked before the network is built, and the network's size against the
        available memory (`check_memory`), so a tampered file cannot allocate gigabytes.

        Raises
        ------
        ValueError
            One line naming the file if it is missing, damaged, not a recognizer file, has an
            incomplete or invalid config, asks for a network too large for the memory, or
            holds weights that do not fit its config.
        """
        import torch

        from atomscope.learning.model import FusionNet, read_weights

        path = Path(path)
        name = f"model file {str(path)!r}"
        content = read_weights(path, name)
        if not isinstance(content, dict) or content.get("format") != FORMAT:
            raise ValueError(f"{name} is not an atomscope recognizer ({FORMAT})")
        config, state = content.get("config"), content.get("state_dict")
        if not isinstance(config, dict) or not isinstance(state, dict):
            raise ValueError(f"{name} is incomplete: it needs a config and a state_dict")
        missing = [key for key in _CONFIG_KEYS if key not in config]
        if missing:
            raise ValueError(f"{name} has no {', '.join(missing)} in its config")
        if not all(isinstance(value, torch.Tensor) for value in state.values()):
            raise ValueError(f"{name} has a state_dict with entries that are not tensors")
        try:
            sizes = [check_positive_int(key, config[key]) for key in _CONFIG_KEYS[:3]]
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} has an invalid config: {error}") from None
        check_memory(
            _weight_bytes(*sizes, FusionNet.levels),
            f"the network of {name} (in_channels {sizes[0]}, num_classes {sizes[1]}, "
            f"width {sizes[2]})",
            "its config asks for a network too large for this machine",
        )
        global_context = config.get("global_context", False)  # files before it: none
        if not isinstance(global_context, bool):
            raise ValueError(
                f"{name} has an invalid config: global_context must be true or false, got "
                f"{global_context!r}"
            )
        model = FusionNet(*sizes, global_context=global_context)
        try:
            model.load_state_dict(
                {
                    key: value.float() if value.is_floating_point() else value
                    for key, value in state.items()
                }
            )
        except RuntimeError as error:
            detail = str(error).strip().splitlines()[1:] or [str(error)]
            raise ValueError(
                f"{name} has weights that do not fit its config: {detail[0].strip()}"
            ) from None
        try:
            sampling_range = config["sampling_range"]
            if not isinstance(sampling_range, (list, tuple)) or len(sampling_range) != 2:
                raise ValueError(f"sampling_range must be (low, high) [Å], got {sampling_range!r}")
            counter = content.get("column_counter")
            if counter is not None:
                from atomscope.learning.column_counter import ColumnCounter

                counter = ColumnCounter.from_state(counter, "its column_counter")
            recognizer = cls(
                model,
                config["class_names"],
                tuple(sampling_range),
                config["lcn_sigma"],
                config["metadata"],
                counter,
            )
            if "threshold" in recognizer.metadata:
                check_range("metadata threshold", recognizer.metadata["threshold"], 0.0, 1.0)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} has an invalid config: {error}") from None
        return recognizer

    @classmethod
    def pretrained(cls, name: str) -> Recognizer:
        """A model shipped in ``atomscope/learning/weights``: ``"graphene"``, ``"gold"`` (one
        image) or ``"gold-counting"`` (atoms per column from a three-image focal series)."""
        shipped = sorted(p.stem for p in WEIGHTS.glob("*.pt"))
        if name not in shipped:
            raise ValueError(
                f"no pretrained model {name!r}; shipped models: {shipped or 'none yet'} "
                "(train one with `atomscope train` and use Recognizer.load)"
            )
        return cls.load(WEIGHTS / f"{name}.pt")

    @classmethod
    def resolve(cls, model) -> Recognizer:
        """``model`` itself if a `Recognizer`, else a ``.pt`` file (`load`) or a shipped
        model's name (`pretrained`).

        Examples
        --------
        >>> Recognizer.resolve("graphene").class_names == Recognizer.pretrained("graphene").class_names
        True
        """
        if isinstance(model, cls):
            return model
        if not isinstance(model, (str, os.PathLike)):
            raise ValueError(
                f"model must be a shipped model's name, a model.pt file or a Recognizer, got "
                f"{type(model).__name__}"
            )
        if Path(model).suffix == ".pt" or Path(model).is_file():
            return cls.load(model)
        return cls.pretrained(str(model))

    def _prepare(self, image, sampling: float) -> tuple[np.ndarray, float]:
        array = check_image_stack("image", image)
        if len(array) != self.in_channels:
            series = self.focal_series
            if series is None:
                takes = "(a 2D image, or a stack [channels, x, y])"
            else:
                defoci = ", ".join(f"{c:+g}" for c in series.nominal_defoci())
                takes = (
                    f"(a focal series [{series.num_images}, x, y] ordered k = 0, 1, … at "
                    f"C10 = {defoci} Å ± {series.jitter:g} Å, seed Eq 6.19; defocus = −C10)"
                )
            raise ValueError(
                f"image has {len(array)} channel(s) (images); this model takes "
                f"{self.in_channels} {takes}"
            )
        low, high = self.sampling_range
        if low <= sampling <= high:
            return array, sampling
        if not low / 1.2 <= sampling <= high * 1.2:
            warnings.warn(
                f"sampling {sampling} Å is far outside the training range {low}–{high} Å; the "
                "image is resampled to the middle of that range",
                stacklevel=3,
            )
        target = (low + high) / 2
        zoom = sampling / target
        shape = [n * zoom for n in array.shape[1:]]  # floats: a bad sampling may overflow an int
        size = f"{shape[0]:.4g}×{shape[1]:.4g} px"
        if min(shape) < MIN_PIXELS:
            raise ValueError(
                f"sampling {sampling:g} Å: resampled to the model's {target:g} Å/px the "
                f"{array.shape[1]}×{array.shape[2]} px image would be {size} (at least "
                f"{MIN_PIXELS} needed); check the pixel size"
            )
        # the zoomed copy and the network's tiles of it: about 64 bytes per resampled pixel
        check_memory(
            64 * len(array) * shape[0] * shape[1],
            f"the image resampled from {sampling:g} to {target:g} Å/px ({size})",
            "check the pixel size (--sampling)",
        )
        resampled = np.stack([ndimage.zoom(channel, zoom, order=1) for channel in array])
        # the exact pixel after rounding to whole pixels
        return resampled, sampling * array.shape[1] / resampled.shape[1]

    def _inference_model(self):
        """The network with batch norms folded into the convs (or, for a model with
        ``batch_statistics="image"``, normalising each tile by its own maps), in channels-last
        memory format (oneDNN's faster CPU convolutions, 1.5× here); built once per model
        object, so assign a new ``model`` rather than changing its weights in place."""
        import torch

        from atomscope.learning.model import fold_batch_norm, per_image_statistics

        if self._folded_source is not self.model:
            adapt = per_image_statistics if self.batch_statistics == "image" else fold_batch_norm
            self._folded = adapt(self.model).to(memory_format=torch.channels_last)
            self._folded_source = self.model
        return self._folded

    def probability_maps(
        self,
        normalised: np.ndarray,
        tile: int = 640,
        overlap: int = 32,
        batch: int = 1,
        progress: bool = False,
    ) -> np.ndarray:
        """Network output [classes + 1, x, y] for a normalised stack, tile by tile.

        Each axis is cut into the fewest tiles of at most ``tile`` px that overlap by
        ``overlap`` px on each side (tile sizes rounded up to multiples of 8, so little padding
        is computed); only the tile centres are kept. The image is mirror-padded at its
        borders; ``batch`` tiles run per forward pass. The defaults cut a 1024² image into
        2 × 2 tiles of 576² (12 % more pixels than the image; 512² tiles would compute 3 × 3
        tiles of 408², 43 % more), a 519² frame into one of 584² (576² tiles made it 2 × 2 of
        328², 26 % more pixels and 0.40–0.48 s instead of 0.35–0.37 s with one busy core) and
        batch nothing, which measured fastest on this CPU.
        ``progress`` shows a tqdm bar over the tiles. A model with ``batch_statistics="image"``
        normalises each tile by its own feature maps (an image up to ``tile`` px is one tile).
        """
        import torch
        from tqdm.auto import tqdm

        tile = check_positive_int("tile", tile, minimum=8)
        if tile % 8:
            raise ValueError(f"tile must be a multiple of 8, got {tile}")
        overlap = check_positive_int("overlap", overlap, minimum=0)
        if 2 * overlap >= tile:
            raise ValueError(f"overlap must be < tile / 2 = {tile / 2}, got {overlap}")
        batch = check_positive_int("batch", batch)
        shape = normalised.shape[1:]
        counts = [math.ceil(n / (tile - 2 * overlap)) for n in shape]
        tiles = [
            8 * math.ceil((math.ceil(n / m) + 2 * overlap) / 8)
            for n, m in zip(shape, counts, strict=True)
        ]
        cores = [t - 2 * overlap for t in tiles]
        padded = np.pad(
            normalised,
            (
                (0, 0),
                *(
                    (overlap, m * c - n + overlap)
                    for n, m, c in zip(shape, counts, cores, strict=True)
                ),
            ),
            mode="symmetric",
        )
        corners = [(a * cores[0], b * cores[1]) for a in range(counts[0]) for b in range(counts[1])]
        out = np.zeros(
            (self.model.num_classes + 1, counts[0] * cores[0], counts[1] * cores[1]),
            dtype=np.float32,
        )
        centre = (
            slice(None),
            slice(overlap, overlap + cores[0]),
            slice(overlap, overlap + cores[1]),
        )
        model = self._inference_model()
        bar = tqdm(total=len(corners), desc="recognize", unit="tile", disable=not progress)
        with torch.inference_mode(), bar:
            for first in range(0, len(corners), batch):
                chunk = corners[first : first + batch]
                x = torch.from_numpy(
                    np.stack(
                        [padded[:, a : a + tiles[0], b : b + tiles[1]] for a, b in chunk]
                    ).astype(np.float32)
                ).contiguous(memory_format=torch.channels_last)
                for (a, b), maps in zip(chunk, model(x).numpy(), strict=True):
                    out[:, a : a + cores[0], b : b + cores[1]] = maps[centre]
                bar.update(len(chunk))
        return out[:, : shape[0], : shape[1]]

    def atom_probability(self, image, sampling: float) -> np.ndarray:
        """Probability 1 − P₀ that each pixel lies in an atom (the network's output before the
        segmentation), on the pixel grid of ``image`` [x, y] (resampled back when the model
        resampled the image to its training pixel size).

        Examples
        --------
        >>> image = np.random.default_rng(0).normal(size=(64, 48))
        >>> atoms = Recognizer.pretrained("gold").atom_probability(image, sampling=0.1)
        >>> atoms.shape, bool(0 <= atoms.min() and atoms.max() <= 1)
        ((64, 48), True)
        """
        sampling = check_positive("sampling", sampling)
        limit_torch()  # the thread policy (atomscope.core.threads)
        array, used = self._prepare(image, sampling)
        normalised = normalize_input(array, self.normalization, self.lcn_sigma, used)
        atoms = 1.0 - self.probability_maps(normalised)[0]
        shape = np.shape(image)[-2:]
        if atoms.shape != shape:
            atoms = ndimage.zoom(
                atoms, np.divide(shape, atoms.shape), order=1, grid_mode=True, mode="nearest"
            )
        return np.clip(atoms, 0.0, 1.0).astype(np.float32)

    def memory_estimate(self, shape: tuple[int, ...], sampling: float) -> int:
        """Bytes `predict` adds to the process for an image of ``shape`` at ``sampling`` [Å] [B].

        Measured peak per (resampled) pixel of the normalisation, the tiled network, the class
        maps and the watershed, plus the overlay figure the command draws.

        Examples
        --------
        >>> recognizer = Recognizer.pretrained("graphene")
        >>> recognizer.memory_estimate((1024, 1024), 0.12) > 100 * 2**20
        True
        """
        low, high = self.sampling_range
        zoom = 1.0 if low <= sampling <= high else sampling / ((low + high) / 2)
        with np.errstate(over="ignore"):
            pixels = float(np.prod(shape[-2:])) * np.float64(zoom) ** 2
        channels = shape[0] if len(shape) > 2 else 1
        nbytes = pixels * (_PIXEL_BYTES + 4 * channels) + _FIXED_BYTES
        return int(min(nbytes, 2**100))  # an absurd sampling gives a huge, finite estimate

    def predict(
        self,
        image,
        sampling: float,
        threshold: float | None = None,
        epsilon: float = EPSILON,
        tile: int = 640,
        overlap: int = 32,
        batch: int = 1,
        progress: bool = False,
        confidence: bool = False,
    ) -> Recognition:
        """Find the atoms in ``image``.

        Parameters
        ----------
        image
            2D image [x, y] or a stack [channels, x, y] (e.g. a focal series), any units;
            finite and not constant; as many channels as the model takes (`in_channels`; for
            a focal-series model the images ordered as its `focal_series`).
        sampling
            Pixel size [Å]. Outside the training range the image is resampled to its middle
            (with a warning when far outside).
        threshold
            t of Eq 6.16 in [0, 1]: atoms whose segment peak class probability 1 − P0 is below
            t are dropped (the seed's Fig 6.12 uses 0.01 and 0.5). Default: the model's
            validated ``metadata["threshold"]`` (shipped models), else 0.5.
        epsilon
            Background level ε of the segmentation.
        tile, overlap, batch, progress
            Tiled inference, see `probability_maps`.
        confidence
            Also find the atoms in the image's three mirror images (4× the work) and give
            their agreement as ``Recognition.confidence``; warn when it is below
            `atomscope.learning.confidence.CONFIDENCE_WARNING` (the image is probably outside
            the model's validated range).

        Returns
        -------
        Recognition
            With ``counts`` (atoms per column) for a counting model.

        Examples
        --------
        >>> from atomscope.learning.randomize import FocalSeries
        >>> counter = Recognizer.pretrained("gold-counting")
        >>> counter.focal_series == FocalSeries(), counter.in_channels
        (True, 3)
        >>> series = np.random.default_rng(0).poisson(100, (3, 64, 64)).astype(float)
        >>> found = counter.predict(series, sampling=0.1)
        >>> found.counts.shape == (len(found),) and found.probabilities.shape[1] == 14
        True
        """
        sampling = check_positive("sampling", sampling)
        limit_torch()  # the thread policy (atomscope.core.threads)
        if threshold is None:
            threshold = self.metadata.get("threshold", 0.5)
        threshold = check_range("threshold", threshold, 0.0, 1.0)
        epsilon = check_range("epsilon", epsilon, 0.0, 1.0, low_open=True)
        array, sampling = self._prepare(image, sampling)
        normalised = normalize_input(array, self.normalization, self.lcn_sigma, sampling)
        maps = self.probability_maps(normalised, tile, overlap, batch, progress)
        positions, probabilities, scores = segment(maps, sampling, epsilon)
        keep = scores >= threshold  # Eq 6.16
        positions, probabilities, scores = positions[keep], probabilities[keep], scores[keep]
        atoms = self.atoms_per_class
        if self.column_counter is not None:
            probabilities = self._column_probabilities(array, sampling, positions, probabilities)
        agreement = None
        if confidence:
            agreement = self._mirror_agreement(
                normalised, positions, sampling, threshold, epsilon, tile, overlap, batch
            )
        return Recognition(
            positions,
            probabilities,
            scores,
            maps,
            array[0],
            sampling,
            self.class_names,
            {"threshold": threshold, "epsilon": epsilon},
            None if atoms is None else atoms[probabilities.argmax(axis=1)],
            agreement,
        )

    def _column_probabilities(self, images, sampling, positions, segment_probabilities):
        """The column counter's class probabilities of the columns at ``positions``; with
        fewer columns than it normalises over, the segments' own (Eq 6.14), with a warning."""
        from atomscope.learning.column_counter import MIN_COLUMNS

        if 0 < len(positions) < MIN_COLUMNS:
            warnings.warn(
                f"only {len(positions)} columns found (the column counter needs {MIN_COLUMNS}); "
                "their counts are the segmentation's, which counts poorly (see the model card)",
                stacklevel=3,
            )
            return segment_probabilities
        return self.column_counter.predict(images, sampling, positions)[1]

    def _mirror_agreement(self, normalised, positions, sampling, threshold, epsilon, *tiling):
        """`mirror_agreement` of ``positions`` with this model's atoms in the mirror images."""
        from atomscope.learning.confidence import CONFIDENCE_WARNING, mirror_agreement

        def find(stack: np.ndarray) -> np.ndarray:
            found, _, scores = segment(self.probability_maps(stack, *tiling), sampling, epsilon)
            return found[scores >= threshold]  # Eq 6.16

        agreement = mirror_agreement(find, normalised, positions, sampling)
        if agreement < CONFIDENCE_WARNING:
            warnings.warn(
                f"recognition confidence {agreement:.2f} < {CONFIDENCE_WARNING}: the atoms move "
                f"when the image is mirrored, so the image is probably outside the range this "
                f"model was validated for (its model card lists the range)",
                stacklevel=3,
            )
        return agreement
