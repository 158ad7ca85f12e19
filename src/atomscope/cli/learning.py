"""``atomscope train | recognize``: options → `atomscope.learning.train` and
`atomscope.jobs.recognize`."""

from __future__ import annotations

import argparse

from atomscope.cli.common import add_out_option, add_scheduler_options, scheduler_client

#: scheduling priority (nice value) of a training run unless --nice says otherwise
TRAIN_NICE = 10


def _train(args) -> None:
    import os

    from atomscope.learning.randomize import read_ranges
    from atomscope.learning.train import TrainConfig, train

    if not 0 <= args.nice <= 19:
        raise ValueError(f"--nice must be in 0…19, got {args.nice}")
    ranges = read_ranges(args.ranges) if args.ranges else {}
    start_ranges = read_ranges(args.start_ranges) if args.start_ranges else None
    config = TrainConfig(
        preset=args.preset,
        iterations=args.iterations,
        batch_size=args.batch_size,
        crops_per_image=args.crops_per_image,
        num_images=args.images,
        focal_step=args.focal_step,
        crop=args.crop,
        width=args.width,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        num_structures=args.structures,
        threads=args.threads,
        learning_rate=args.learning_rate,
        curriculum_iterations=args.curriculum,
        truth_width=args.truth_width,
        easy_fraction=args.easy_fraction,
        init_weights=args.init_weights,
        ranges=ranges,
        start_ranges=start_ranges,
        augment=args.augment,
        global_context=args.global_context,
        lens_weight=args.lens_weight,
        loss=args.loss,
        atom_weight=args.atom_weight,
        normalization=args.normalization,
        batch_statistics=args.batch_statistics,
        curriculum_levels=args.curriculum_levels,
        curriculum_threshold=args.curriculum_threshold,
        curriculum_start=args.curriculum_start,
        validate_every=args.validate_every,
    )
    os.nice(args.nice)  # a long job that shares the machine: lower priority (never higher)
    with scheduler_client(args) as client:
        result = train(config, args.out, client=client, data_workers=args.data_workers)
    print(
        f"{config.preset}: {len(result.losses)} iterations, last-50 mean loss "
        f"{sum(result.losses[-50:]) / len(result.losses[-50:]):.4f}, "
        f"{result.iterations_per_second:.3f} it/s; model {result.out / 'model.pt'}"
    )


def _recognize(args: argparse.Namespace) -> None:
    from atomscope.io import read_image
    from atomscope.jobs.recognize import run_recognize

    image = read_image(args.image, sampling=args.sampling, frames=args.frame, single_frame=True)
    run_recognize(
        image,
        args.out,
        args.model,
        threshold=args.threshold,
        name=args.image,
        confidence=args.confidence,
        unknown_lens=args.unknown_lens,
    )


def _configure_train(train: argparse.ArgumentParser) -> None:
    from atomscope.learning.train import TrainConfig

    d = TrainConfig()
    train.add_argument("--preset", default="graphene", help="graphene (80 kV) | gold (300 kV)")
    train.add_argument("--iterations", type=int, default=d.iterations, help="Adam steps")
    train.add_argument(
        "--out", "-o", default="out/train", metavar="DIR", help="output directory (resumes a run)"
    )
    train.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step")
    train.add_argument(
        "--crops-per-image",
        type=int,
        default=d.crops_per_image,
        help="crops cut from each simulated image",
    )
    train.add_argument(
        "--images",
        type=int,
        default=d.num_images,
        help="input images: 1, or a focal series of this length",
    )
    train.add_argument(
        "--focal-step",
        type=float,
        default=d.focal_step,
        help="defocus step of a focal series [Å] (seed Eq 6.19)",
    )
    train.add_argument("--crop", type=int, default=d.crop, help="crop size [px], multiple of 8")
    train.add_argument("--width", type=int, default=d.width, help="feature maps at level 1")
    train.add_argument(
        "--structures", type=int, default=d.num_structures, help="exit waves to simulate"
    )
    train.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    train.add_argument("--seed", type=int, default=d.seed, help="random seed")
    train.add_argument(
        "--learning-rate", type=float, default=d.learning_rate, help="Adam step size (seed 1e-4)"
    )
    train.add_argument(
        "--curriculum",
        type=int,
        default=d.curriculum_iterations,
        help="steps over which the microscope ranges widen from the preset's easy ranges "
        "to the full ranges (0: none)",
    )
    train.add_argument(
        "--easy-fraction",
        type=float,
        default=d.easy_fraction,
        help="fraction of images drawn from the preset's easy ranges (a mixture)",
    )
    train.add_argument(
        "--truth-width",
        type=float,
        default=d.truth_width,
        help="σ of the truth Gaussians [Å] (Eqs 6.7–6.8)",
    )
    train.add_argument(
        "--ranges",
        metavar="FILE",
        help="TOML/JSON overrides of the preset's microscope ranges, e.g. dose = [3e3, 3e4]",
    )
    train.add_argument(
        "--start-ranges",
        metavar="FILE",
        help="TOML/JSON ranges a curriculum or mixture starts from (default: the preset's easy "
        "ranges: high dose, negative-Cs lens)",
    )
    train.add_argument(
        "--loss",
        default=d.loss,
        help="squared (seed Eq 6.6) | cross_entropy",
    )
    train.add_argument(
        "--atom-weight",
        type=float,
        default=d.atom_weight,
        help="weight of the atom classes in the loss (background 1)",
    )
    train.add_argument(
        "--normalization",
        default=d.normalization,
        help="network input: lcn (seed Eqs 6.10-6.11) | standard (per image)",
    )
    train.add_argument(
        "--batch-statistics",
        default=d.batch_statistics,
        help="batch norm statistics: running (seed) | image (each image's own, in training "
        "and prediction)",
    )
    train.add_argument(
        "--global-context",
        action="store_true",
        help="a global-context branch after the lowest level (what the whole crop shows)",
    )
    train.add_argument(
        "--lens-weight",
        type=float,
        default=0.0,
        help="weight of an auxiliary loss: the global-context branch predicts each training "
        "image's lens transfer (needs --global-context; default 0: none)",
    )
    train.add_argument(
        "--augment",
        action="store_true",
        help="exact augmentation: sub-pixel shifts of the exit wave, rotations/flips of crops",
    )
    train.add_argument(
        "--validate-every",
        type=int,
        default=d.validate_every,
        help="steps between validations on held-out structures through random microscopes "
        "(curriculum.json/png, best.pt) (0: never)",
    )
    train.add_argument(
        "--curriculum-levels",
        type=int,
        default=d.curriculum_levels,
        help="widen the ranges from the start ranges to the full ones in this many levels, "
        "each when the validation F1 passes --curriculum-threshold (needs --validate-every)",
    )
    train.add_argument(
        "--curriculum-threshold",
        type=float,
        default=d.curriculum_threshold,
        help="validation F1 on the current ranges that widens them",
    )
    train.add_argument(
        "--curriculum-start",
        type=int,
        default=d.curriculum_start,
        help="curriculum level to start at (for --init-weights that passed the levels below)",
    )
    train.add_argument(
        "--nice",
        type=int,
        default=TRAIN_NICE,
        help="scheduling priority increment (0…19): training yields the cores to other work",
    )
    train.add_argument(
        "--data-workers",
        type=int,
        default=0,
        help="processes that image training items ahead of the network (same result; 0: none)",
    )
    add_scheduler_options(train, "the training set's exit-wave simulations")
    train.add_argument("--threads", type=int, default=d.threads, help="torch threads")
    train.add_argument(
        "--init-weights",
        help="model.pt whose weights start the run (fine-tuning; same width and classes)",
    )
    train.set_defaults(func=_train)


def _configure_recognize(recognize: argparse.ArgumentParser) -> None:
    recognize.add_argument("image", help="image file (.tif, .npz, .dm3/.dm4/.emd)")
    recognize.add_argument(
        "--model", default="graphene", help="shipped model name (graphene, gold) or a model.pt file"
    )
    recognize.add_argument(
        "--sampling", type=float, help="pixel size [Å]; overrides the file's (default: from file)"
    )
    recognize.add_argument("--frame", type=int, help="the frame of a stack to analyse (from 0)")
    recognize.add_argument(
        "--threshold",
        type=float,
        help="t of Eq 6.16: minimum peak class probability (default: the model's validated t, "
        "else 0.5)",
    )
    recognize.add_argument(
        "--confidence",
        action="store_true",
        help="also recognise the image's mirror images and report how well the atoms agree "
        "(4× the work; < 0.9 warns: the image is probably outside the model's validated range)",
    )
    recognize.add_argument(
        "--unknown-lens",
        action="store_true",
        help="fit the image's lens (Thon rings, then the atoms' consistency), re-image it to the "
        "model's own lens and recognise that (~34 recognitions); the lens goes into the summary",
    )
    add_out_option(recognize, "recognize")
    recognize.set_defaults(func=_recognize)


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``command`` (train or recognize) to its ``parser``."""
    (_configure_train if command == "train" else _configure_recognize)(parser)
