"""Training of the recognition network on simulated images only (seed §6.3.2).

Loss: squared error summed over the class maps (mean over pixels and the batch) plus the weight
decay ½λΣW² (Eq 6.6), or the cross-entropy of the class maps in place of the squared error
(``loss="cross_entropy"``, atomscope's option for many classes); Adam with learning rate 1e-4.
Step i uses items i·M … i·M + M − 1 of `TrainingImages` (M = batch size / crops per image), so
a run resumed from a checkpoint continues bit-identically.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from atomscope.core.validate import (
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)
from atomscope.learning.curriculum import VALIDATION_SEED
from atomscope.learning.data import FOCAL_STEP, STRUCTURE_PRESETS, TRUTH_WIDTH
from atomscope.learning.normalize import BATCH_STATISTICS, NORMALIZATIONS
from atomscope.learning.randomize import PRESET_EASY_RANGES, PRESET_FOCAL_SERIES, PRESETS
from atomscope.outputs import atomic_output, claim_outputs, record_outputs
from atomscope.summary import write_summary

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
BEST = "best.pt"
DATASET = "exit_waves"
VALIDATION = "validation"
#: data terms of the training loss (`loss_function`)
LOSSES = ("squared", "cross_entropy")
#: the files `train` writes and rewrites in its output directory
OUTPUTS = ("config.json", CHECKPOINT, MODEL, "loss.png", "summary.json")
#: the files a run with validation (``validate_every``) adds
VALIDATION_OUTPUTS = (BEST, "curriculum.json", "curriculum.png")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (recorded in the checkpoint and the model card).

    Attributes
    ----------
    preset
        ``"graphene"``, ``"gold"`` or ``"gold-counting"``: structures and microscope ranges
        (and, for ``"gold-counting"``, the focal series of seed Eq 6.19, `PRESET_FOCAL_SERIES`).
    iterations
        Number of Adam steps.
    batch_size
        Crops per step, a multiple of ``crops_per_image``.
    crops_per_image
        Crops cut from each simulated image.
    num_images
        Input images per example: 1, or a focal series (seed Eq 6.19); a preset with a focal
        series of its own needs its length (3 for ``"gold-counting"``).
    focal_step
        Defocus step of a focal series [Å] (also of a preset's own series).
    crop
        Training crop [px], a multiple of 8.
    width
        Feature maps at the first network level (seed 32).
    learning_rate
        Adam step size (seed 1e-4).
    weight_decay
        λ of Eq 6.6 (the seed says "moderate" without a value).
    checkpoint_every
        Steps between checkpoints.
    seed
        Seed of the weights, the structures and every training image.
    num_structures
        Exit waves simulated for the training set.
    truth_width
        σ of the truth Gaussians [Å].
    lcn_sigma
        Window σ of the local contrast normalisation [Å].
    threads
        Torch intra-op threads.
    ranges
        Overrides of the preset's `MicroscopeRanges` fields.
    curriculum_iterations
        Steps over which the microscope ranges widen from ``start_ranges`` to the full ranges
        (0: the full ranges from the start).
    start_ranges
        Overrides of the full ranges at step 0 of the curriculum; ``None``: the preset's
        `PRESET_EASY_RANGES` (high dose, negative-Cs imaging lens).
    easy_fraction
        Fraction of the simulated images drawn from ``start_ranges`` throughout (a mixture).
    init_weights
        A `Recognizer` file (``model.pt``) whose weights start the run (fine-tuning), or None
        for the seeded random initialisation; its network must have this run's width, inputs
        and classes.
    loss
        ``"squared"`` (Eq 6.6, the seed's) or ``"cross_entropy"`` (−Σ_k P_k log P̃_k per pixel
        in place of Eq 6.6's squared error; its gradient does not vanish when the softmax is
        spread over many classes, as for atom counting), see `loss_function`.
    normalization
        Network input: ``"lcn"`` (seed Eqs 6.10–6.11) or ``"standard"`` (per image); the model
        file records it and `Recognizer.predict` applies the same.
    batch_statistics
        ``"running"`` (the seed's batch norm: statistics of each step's batch in training, their
        running averages at inference) or ``"image"``: each simulated image's crops are
        normalised by their own statistics in training, and `Recognizer.predict` normalises each
        image by its own (`model.per_image_statistics`); recorded in the model file.
    global_context
        Give the network a `model.GlobalContext` branch after its lowest level (what the whole
        crop shows reaches every pixel: which sign of contrast the lens gave). Starting from
        ``init_weights`` without the branch, the branch starts at zero (the same maps).
    atom_weight
        Weight of the atom classes' terms in the loss (background 1; `loss_function`).
    augment
        Exact augmentation of every item: a sub-pixel shift of the exit wave and one of the
        eight rotations/flips per crop (`TrainingImages`).
    curriculum_levels
        Levels of the validation-driven curriculum (`learning.curriculum`): the ranges start at
        ``start_ranges`` and widen by 1/levels of the way to the full ranges each time the
        validation F1 on the current ranges reaches ``curriculum_threshold`` (0: none).
    curriculum_start
        Level the validation-driven curriculum starts at (0 … ``curriculum_levels``): for
        ``init_weights`` that have passed the levels below it.
    curriculum_threshold
        Validation F1 (median over the validation images, all atoms, t = 0.5) to widen.
    validate_every
        Steps between validations on held-out structures through random microscopes of the
        current and of the full ranges (0: never; required by ``curriculum_levels``); the
        network with the best full-range F1 is written to ``best.pt``.
    validation_structures, validation_microscopes
        Held-out structures, and microscopes per structure, of each validation.
    """

    preset: str = "graphene"
    iterations: int = 3000
    batch_size: int = 8
    crops_per_image: int = 4
    num_images: int = 1
    focal_step: float = FOCAL_STEP
    crop: int = 96
    width: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 1e-5
    checkpoint_every: int = 100
    seed: int = 0
    num_structures: int = 150
    truth_width: float = TRUTH_WIDTH
    lcn_sigma: float = 10.0
    threads: int = 1
    ranges: dict[str, Any] = field(default_factory=dict)
    curriculum_iterations: int = 0
    start_ranges: dict[str, Any] | None = None
    easy_fraction: float = 0.0
    init_weights: str | None = None
    loss: str = "squared"
    atom_weight: float = 1.0
    normalization: str = "lcn"
    batch_statistics: str = "running"
    global_context: bool = False
    lens_weight: float = 0.0
    augment: bool = False
    curriculum_levels: int = 0
    curriculum_threshold: float = 0.8
    curriculum_start: int = 0
    validate_every: int = 0
    validation_structures: int = 2
    validation_microscopes: int = 3

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        check_choice("loss", self.loss, LOSSES)
        for name in (
            "iterations",
            "batch_size",
            "crops_per_image",
            "num_images",
            "width",
            "checkpoint_every",
            "num_structures",
            "threads",
        ):
            check_positive_int(name, getattr(self, name))
        if self.batch_size % self.crops_per_image:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of crops_per_image "
                f"({self.crops_per_image})"
            )
        check_positive_int("crop", self.crop, minimum=8)
        if self.crop % 8:
            raise ValueError(f"crop must be a multiple of 8, got {self.crop}")
        check_positive_int("seed", self.seed, minimum=0)
        check_real("focal_step", self.focal_step)
        check_positive("learning_rate", self.learning_rate)
        check_nonnegative("weight_decay", self.weight_decay)
        check_positive("truth_width", self.truth_width)
        check_positive("lcn_sigma", self.lcn_sigma)
        series = PRESET_FOCAL_SERIES.get(self.preset)
        if series is not None and self.num_images != series.num_images:
            raise ValueError(
                f"num_images must be {series.num_images} for preset {self.preset!r} (a focal "
                f"series of seed Eq 6.19, `--images {series.num_images}`), got {self.num_images}"
            )
        check_positive_int("curriculum_iterations", self.curriculum_iterations, minimum=0)
        self._check_validation()
        check_range("easy_fraction", self.easy_fraction, 0.0, 1.0)
        if self.init_weights is not None and not Path(self.init_weights).is_file():
            raise ValueError(f"init_weights {self.init_weights!r} is not a file")
        self.microscope_ranges()  # validates the overrides
        self.start_microscope_ranges()

    def _check_validation(self) -> None:
        from atomscope.learning.curriculum import VALIDATION_STRUCTURES

        for name in ("augment", "global_context"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        check_positive("atom_weight", self.atom_weight)
        check_nonnegative("lens_weight", self.lens_weight)
        if self.lens_weight and not self.global_context:
            raise ValueError(
                f"lens_weight ({self.lens_weight}) needs global_context: the lens head reads "
                "the global-context branch"
            )
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_choice("batch_statistics", self.batch_statistics, BATCH_STATISTICS)
        check_positive_int("curriculum_levels", self.curriculum_levels, minimum=0)
        check_range("curriculum_threshold", self.curriculum_threshold, 0.0, 1.0)
        check_positive_int("curriculum_start", self.curriculum_start, minimum=0)
        if self.curriculum_start > self.curriculum_levels:
            raise ValueError(
                f"curriculum_start must be within 0…curriculum_levels ({self.curriculum_levels}),"
                f" got {self.curriculum_start}"
            )
        check_positive_int("validate_every", self.validate_every, minimum=0)
        check_positive_int("validation_structures", self.validation_structures)
        check_positive_int("validation_microscopes", self.validation_microscopes)
        if self.curriculum_levels and self.curriculum_iterations:
            raise ValueError(
                "curriculum_levels (validation-driven) and curriculum_iterations (step-driven) "
                "exclude each other; give one"
            )
        if self.curriculum_levels and not self.validate_every:
            raise ValueError("curriculum_levels needs validate_every > 0 (its validations decide)")
        if self.validate_every and (
            self.preset not in VALIDATION_STRUCTURES or self.num_images != 1
        ):
            raise ValueError(
                f"validate_every is for single-image presets ({', '.join(VALIDATION_STRUCTURES)}),"
                f" not preset {self.preset!r} with {self.num_images} image(s)"
            )

    def microscope_ranges(self):
        """The preset's `MicroscopeRanges` with ``ranges`` applied."""
        from dataclasses import replace

        try:
            return replace(PRESETS[self.preset], **self.ranges)
        except TypeError as error:
            raise ValueError(f"ranges: {error}") from error

    def start_microscope_ranges(self):
        """Ranges at step 0 of the curriculum (full ranges with ``start_ranges`` applied)."""
        from dataclasses import replace

        try:
            overrides = (
                PRESET_EASY_RANGES[self.preset] if self.start_ranges is None else self.start_ranges
            )
            return replace(self.microscope_ranges(), **overrides)
        except TypeError as error:
            raise ValueError(f"start_ranges: {error}") from error

    def focal_series(self):
        """The preset's `FocalSeries` with ``focal_step``, or None (then ``num_images`` and
        ``focal_step`` describe the series)."""
        from dataclasses import replace

        series = PRESET_FOCAL_SERIES.get(self.preset)
        return None if series is None else replace(series, step=self.focal_step)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON / checkpoint friendly)."""
        return asdict(self)


@dataclass
class TrainResult:
    """What `train` did: the model, the per-step losses and the speed."""

    model: Any
    losses: list[float]
    iterations_per_second: float
    out: Path


def forward(model, x, crops_per_image: int, batch_statistics: str = "running"):
    """The training network's output on a step's crops [batch, classes + 1, x, y].

    With ``batch_statistics="image"`` the crops of each simulated image (consecutive groups of
    ``crops_per_image``) pass on their own, so batch norm uses that image's statistics, as
    `Recognizer.predict` will; ``"running"`` passes the whole batch at once (the seed's).

    Examples
    --------
    >>> import torch
    >>> from atomscope.learning.model import FusionNet
    >>> net = FusionNet(width=2)
    >>> tuple(forward(net, torch.randn(4, 1, 16, 16), 2, "image").shape)
    (4, 2, 16, 16)
    """
    import torch

    check_choice("batch_statistics", batch_statistics, BATCH_STATISTICS)
    if batch_statistics == "running":
        return model(x)
    return torch.cat([model(group) for group in x.split(crops_per_image)])


def loss_function(
    output,
    truth,
    parameters,
    weight_decay: float,
    kind: str = "squared",
    atom_weight: float = 1.0,
):
    """Eq 6.6: Σ_k (P̃ − P)² averaged over pixels and batch, plus ½λΣW²; returns (total, data).

    With ``kind="cross_entropy"`` the data term is −Σ_k P_k log P̃_k (P̃ clamped at 1e-7)
    averaged over pixels and batch, the weight decay unchanged. ``atom_weight`` multiplies the
    terms of the atom classes k ≥ 1 (background k = 0 keeps 1): atoms cover ~1 % of the pixels,
    so an uncertain network otherwise gains most by predicting background everywhere.

    Examples
    --------
    >>> import torch
    >>> weights = [torch.full((2,), 2.0)]
    >>> total, data = loss_function(torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), weights, 0.1)
    >>> float(data), float(total)  # 2 classes × 1², plus 0.05 × (4 + 4)
    (2.0, 2.4000000953674316)
    >>> half = torch.full((1, 2, 4, 4), 0.5)
    >>> round(float(loss_function(half, half, [], 0.0, "cross_entropy")[1]), 4)  # ln 2
    0.6931
    >>> float(loss_function(torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), [], 0, atom_weight=3)[1])
    4.0
    """
    import torch

    weights = torch.ones(output.shape[1], dtype=output.dtype)
    weights[1:] = atom_weight
    weights = weights.view(1, -1, 1, 1)
    if kind == "cross_entropy":
        data = -(weights * truth * torch.log(output.clamp_min(1e-7))).sum(dim=1).mean()
    elif kind == "squared":
        data = (weights * (output - truth) ** 2).sum(dim=1).mean()
    else:
        raise ValueError(f"kind must be one of {LOSSES}, got {kind!r}")
    # Eq 6.6: ½ λ Σ_i W_i²
    penalty = 0.5 * weight_decay * sum(torch.sum(p**2) for p in parameters)
    return data + penalty, data


def _save_atomic(obj: Any, path: Path) -> None:
    """Write ``obj`` to a temporary file, read it back, and only then replace ``path``: a
    checkpoint that cannot be read (full disk, a crash mid-write) never replaces the last good
    one."""
    import torch

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(obj, tmp)
        torch.load(tmp, weights_only=True)
    except Exception as error:  # torch raises many types for unwritable or unreadable files
        tmp.unlink(missing_ok=True)
        raise OSError(
            f"checkpoint {str(path)!r} not replaced: writing it failed ({error})"
        ) from error
    os.replace(tmp, path)


def save_loss_curve(
    losses: list[float],
    path: str | os.PathLike,
    window: int = 50,
    label: str = "squared error (Eq 6.6, without decay)",
) -> Path:
    """PNG of the per-step data loss and its running mean over ``window`` steps (y axis
    ``label``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = save_loss_curve([0.3, 0.2, 0.1], pathlib.Path(tempfile.mkdtemp()) / "loss.png")
    >>> path.stat().st_size > 0
    True
    """
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="0.75", lw=0.6, label="loss per step")
    if len(losses) >= window:
        running = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], running, "k-", label=f"running mean ({window})")
    ax.set_xlabel("iteration")
    ax.set_ylabel(label)
    ax.set_yscale("log")
    ax.legend()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


def _load_checkpoint(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        raise ValueError(f"checkpoint {str(path)!r} could not be read: {error}") from error


def _initial_weights(config: TrainConfig, dataset):
    """The network of ``config.init_weights``, read and checked against this run's network
    (width, inputs, classes) before any data is simulated or any output written."""
    from atomscope.learning.infer import Recognizer

    model = Recognizer.load(config.init_weights).model
    classes = (
        dataset.class_names if dataset is not None else STRUCTURE_PRESETS[config.preset]["classes"]
    )
    found = (model.width, model.in_channels, model.num_classes)
    needed = (config.width, config.num_images, len(classes))
    if model.global_context and not config.global_context:
        raise ValueError(
            f"init_weights {config.init_weights!r} holds a network with a global-context branch;"
            " this run has none (give global_context / --global-context)"
        )
    if found != needed:
        raise ValueError(
            f"init_weights {config.init_weights!r} holds a network of another shape: width "
            f"{found[0]}, {found[1]} input(s), {found[2]} class(es); this run needs width "
            f"{needed[0]}, {needed[1]} input(s), {needed[2]} class(es)"
        )
    return model


def _dataset(config: TrainConfig, out: Path, dataset, client=None):
    from atomscope.learning.data import ExitWaveDataset, generate

    if dataset is not None:
        return dataset
    path = out / DATASET
    if path.exists():
        return ExitWaveDataset.open(path)
    dataset = generate(
        config.preset, config.num_structures, config.seed, path, progress=True, client=client
    )
    record_outputs(out, "train", [DATASET])
    return dataset


class _StepItems:
    """Map-style dataset of whole steps: item j is step ``first + j``'s batch (x, y, lens): lens
    the `lens_head.transfer_profile` of each crop's microscope, or None."""

    def __init__(self, images, per_step: int, first: int, last: int, lens: bool = False):
        self.images, self.per_step, self.first, self.last = images, per_step, first, last
        self.lens = lens

    def __len__(self) -> int:
        return self.last - self.first

    def __getitem__(self, j: int):
        import torch

        step = self.first + j
        items = [step * self.per_step + b for b in range(self.per_step)]
        batch = [self.images.sample(item) for item in items]
        lens = None
        if self.lens:
            from atomscope.learning.lens_head import transfer_profile

            lens = torch.from_numpy(
                np.concatenate(
                    [
                        np.tile(transfer_profile(self.images.microscope_at(item)), (len(x), 1))
                        for item, (x, _) in zip(items, batch, strict=True)
                    ]
                )
            )
        return (
            torch.from_numpy(np.concatenate([image for image, _ in batch])),
            torch.from_numpy(np.concatenate([truth for _, truth in batch])),
            lens,
        )


def _one_thread(_worker: int) -> None:
    from atomscope.core.threads import set_threads

    set_threads(1)  # numpy's FFTs and torch in a data worker: one core each


def _segment_end(config: TrainConfig, iteration: int) -> int:
    """The step after the next validation (or the run's end)."""
    if not config.validate_every:
        return config.iterations
    following = (iteration // config.validate_every + 1) * config.validate_every
    return min(config.iterations, following)


def _batches(images, per_step: int, first: int, last: int, workers: int, lens: bool = False):
    """Iterator over the batches of steps first … last − 1, in order."""
    steps = _StepItems(images, per_step, first, last, lens)
    if not workers:
        return (steps[j] for j in range(len(steps)))
    from torch.utils.data import DataLoader

    loader = DataLoader(
        steps, batch_size=None, num_workers=workers, worker_init_fn=_one_thread, prefetch_factor=2
    )
    return iter(loader)


def train(
    config: TrainConfig,
    out: str | os.PathLike,
    dataset=None,
    progress: bool = True,
    client=None,
    data_workers: int = 0,
) -> TrainResult:
    """Train (or resume) a `FusionNet` on simulated images; checkpoints in ``out``.

    Parameters
    ----------
    config
        All settings; a checkpoint in ``out`` is resumed (up to ``config.iterations``) if it
        was made with the same settings apart from ``iterations``, and refused otherwise.
    out
        Output directory: ``exit_waves/`` (simulated once, unless ``dataset`` is given),
        ``checkpoint.pt`` (every ``checkpoint_every`` steps and at the end), ``model.pt``
        (a `Recognizer` file of the latest weights), ``loss.png`` and ``config.json``; with
        ``validate_every``: ``validation/`` (held-out structures), ``curriculum.json`` and
        ``curriculum.png`` (every validation and the curriculum level), ``best.pt`` (the
        weights with the best full-range validation F1).
    dataset
        An `ExitWaveDataset` to train on instead of ``out/exit_waves``.
    progress
        tqdm bar with the running loss.
    client
        A Dask ``distributed.Client`` that simulates the exit waves (`generate`), or None.
    data_workers
        Processes that image the training items ahead of the network (one thread each; 0:
        in this process). Items depend only on their index, so the result is the same.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import tempfile
    >>> from atomscope.learning.data import generate
    >>> data = generate("graphene", 1, rng=0, extent=8.0, sampling=0.1)
    >>> config = TrainConfig(iterations=2, batch_size=2, crops_per_image=2, crop=32, width=2,
    ...                      checkpoint_every=1)
    >>> result = train(config, tempfile.mkdtemp(), dataset=data, progress=False)
    >>> len(result.losses)
    2
    """
    import torch

    from atomscope.learning.data import TrainingImages
    from atomscope.learning.infer import Recognizer
    from atomscope.learning.lens_head import LensHead
    from atomscope.learning.model import FusionNet

    job_started = time.perf_counter()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    data_workers = check_positive_int("data_workers", data_workers, minimum=0)
    out = Path(out)
    # a training directory is train's own: nothing in it that train did not write is replaced
    claim_outputs(out, "train", [*OUTPUTS, DATASET, VALIDATION, *VALIDATION_OUTPUTS])
    checkpoint_path = out / CHECKPOINT
    state = _load_checkpoint(checkpoint_path) if checkpoint_path.exists() else None
    if state is not None:
        # settings added after the checkpoint was written take their defaults
        saved = {**TrainConfig().to_dict(), **state["config"], "iterations": config.iterations}
        if saved != config.to_dict():
            changed = sorted(k for k in saved if saved[k] != config.to_dict().get(k))
            raise ValueError(
                f"out {str(out)!r} holds a checkpoint made with different {', '.join(changed)} "
                "(only iterations may change on resume); use a new directory or the same settings"
            )
        if int(state["iteration"]) > config.iterations:
            raise ValueError(
                f"iterations ({config.iterations}) must be >= the checkpoint's "
                f"{int(state['iteration'])} to resume"
            )
    initial = None
    if state is None and config.init_weights is not None:
        initial = _initial_weights(config, dataset)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "config.json") as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=1))
    record_outputs(out, "train", ["config.json"])
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    ranges = config.microscope_ranges()
    data = _dataset(config, out, dataset, client)
    images = TrainingImages(
        data,
        ranges,
        config.crop,
        config.seed,
        config.truth_width,
        config.lcn_sigma,
        config.crops_per_image,
        config.num_images,
        config.focal_step,
        config.start_microscope_ranges()
        if config.curriculum_iterations or config.easy_fraction or config.curriculum_levels
        else None,
        config.curriculum_iterations * (config.batch_size // config.crops_per_image),
        config.easy_fraction,
        focal_series=config.focal_series(),
        augment=config.augment,
        normalization=config.normalization,
    )
    per_step = config.batch_size // config.crops_per_image
    # what `Recognizer.predict` needs to know: the atoms of each class, the focal series
    inference_metadata: dict[str, Any] = {}
    atoms_per_class = STRUCTURE_PRESETS.get(config.preset, {}).get("atoms_per_class")
    if atoms_per_class is not None and len(atoms_per_class) == len(data.class_names):
        inference_metadata["atoms_per_class"] = list(atoms_per_class)
    if images.num_images > 1:
        inference_metadata["focal_series"] = images.focal_series.to_dict()
    if config.normalization != "lcn":
        inference_metadata["normalization"] = config.normalization
    if config.batch_statistics != "running":
        inference_metadata["batch_statistics"] = config.batch_statistics
    torch.manual_seed(config.seed)
    model = FusionNet(config.num_images, len(data.class_names), config.width, config.global_context)
    lens_head = LensHead(model) if config.lens_weight else None
    optimizer = torch.optim.Adam(
        [*model.parameters(), *(lens_head.parameters() if lens_head else [])],
        lr=config.learning_rate,
    )
    lens_losses: list[float] = []
    losses: list[float] = []
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        if lens_head is not None:
            lens_head.load_state_dict(state["lens_head"])
            lens_losses = list(state["lens_losses"])
        optimizer.load_state_dict(state["optimizer"])
        losses = list(state["losses"])
        start = int(state["iteration"])
    elif initial is not None:
        # a network without the global-context branch starts one with it (zero: the same maps)
        model.load_state_dict(initial.state_dict(), strict=initial.global_context)
    validation = None
    if config.validate_every:
        from atomscope.learning.curriculum import CurriculumLog, validation_dataset

        validation = validation_dataset(
            config.preset, config.validation_structures, out / VALIDATION
        )
        record_outputs(out, "train", [VALIDATION])
        log = (
            CurriculumLog.from_dict(state["curriculum"])
            if state is not None and "curriculum" in state
            else CurriculumLog(
                config.curriculum_levels, config.curriculum_threshold, config.curriculum_start
            )
        )
        if config.curriculum_levels:
            images.fraction = log.fraction

    def recognizer_of(iteration: int):
        return Recognizer(  # a copy: the recognizer puts its model in eval mode
            copy.deepcopy(model),
            data.class_names,
            ranges.sampling,
            config.lcn_sigma,
            {"training": config.to_dict(), "iterations": iteration, **inference_metadata},
        )

    def validate(iteration: int) -> None:
        from atomscope.learning.curriculum import (
            VALIDATION_THRESHOLDS,
            best_threshold,
            plot_curriculum,
        )
        from atomscope.learning.lens_validation import random_lens_sweep
        from atomscope.learning.randomize import blend

        recognizer = recognizer_of(iteration)
        current = blend(config.start_microscope_ranges(), ranges, log.fraction)
        scores = {
            name: best_threshold(
                random_lens_sweep(
                    recognizer,
                    validation,
                    level_ranges,
                    VALIDATION_THRESHOLDS,
                    config.validation_microscopes,
                    rng=np.random.default_rng([VALIDATION_SEED, stream]),
                    oracle=False,
                )
            )
            for name, level_ranges, stream in (("level", current, 1), ("full", ranges, 2))
        }
        torch.set_num_threads(config.threads)  # predict applies atomscope's thread policy
        if log.record(iteration, scores["level"][0], scores["full"]):
            recognizer.metadata["threshold"] = scores["full"][3]
            recognizer.save(out / BEST)
        if config.curriculum_levels:
            images.fraction = log.fraction
        log.write(out / "curriculum.json")
        plot_curriculum(log, out / "curriculum.png")
        record_outputs(out, "train", VALIDATION_OUTPUTS)

    def save(iteration: int) -> None:
        _save_atomic(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "iteration": iteration,
                "losses": losses,
                "config": config.to_dict(),
                **(
                    {"lens_head": lens_head.state_dict(), "lens_losses": lens_losses}
                    if lens_head is not None
                    else {}
                ),
                **({"curriculum": log.to_dict()} if validation is not None else {}),
            },
            checkpoint_path,
        )
        recognizer_of(iteration).save(out / MODEL)
        save_loss_curve(losses, out / "loss.png", label=f"{config.loss} loss (without decay)")
        write_summary(
            out / "summary.json",
            "train",
            config.to_dict(),
            [*OUTPUTS, DATASET],
            job_started,
            {
                "iteration": iteration,
                "mean_loss_last_50": float(np.mean(losses[-50:] or [np.nan])),
                **(
                    {"mean_lens_loss_last_50": float(np.mean(lens_losses[-50:] or [np.nan]))}
                    if lens_head is not None
                    else {}
                ),
                **(
                    {"curriculum_level": log.level, "best_full_f1": log.best_f1}
                    if validation is not None
                    else {}
                ),
            },
        )
        record_outputs(out, "train", OUTPUTS)

    model.train()
    began = time.perf_counter()
    bar = tqdm(
        range(start, config.iterations),
        initial=start,
        total=config.iterations,
        desc=f"train {config.preset}",
        disable=not progress,
    )
    stream = None
    for iteration in bar:
        if stream is None:  # a validation may have moved the curriculum: items start anew
            stream = _batches(
                images,
                per_step,
                iteration,
                _segment_end(config, iteration),
                data_workers,
                lens=lens_head is not None,
            )
        x, y, lens = next(stream)
        if lens_head is not None:
            lens_head.clear()  # what validation passes left
        loss, data_loss = loss_function(
            forward(model, x, config.crops_per_image, config.batch_statistics),
            y,
            model.parameters(),
            config.weight_decay,
            config.loss,
            config.atom_weight,
        )
        if lens_head is not None:
            lens_loss = torch.mean((lens_head.take() - lens) ** 2)
            loss = loss + config.lens_weight * lens_loss
            lens_losses.append(lens_loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(data_loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if validation is not None and (iteration + 1) % config.validate_every == 0:
            validate(iteration + 1)
            stream = None
        if (iteration + 1) % config.checkpoint_every == 0 or iteration + 1 == config.iterations:
            save(iteration + 1)
    elapsed = time.perf_counter() - began
    done = config.iterations - start
    return TrainResult(model.eval(), losses, done / elapsed if elapsed > 0 else 0.0, out)
