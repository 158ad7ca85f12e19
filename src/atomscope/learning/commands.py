"""``atomscope train`` and ``atomscope recognize``: the recognition network from the command line."""

from __future__ import annotations

from pathlib import Path


def _train(args) -> None:
    from atomscope.learning.train import TrainConfig, train

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
    )
    result = train(config, args.out)
    print(
        f"{config.preset}: {len(result.losses)} iterations, last-50 mean loss "
        f"{sum(result.losses[-50:]) / len(result.losses[-50:]):.4f}, "
        f"{result.iterations_per_second:.3f} it/s; model {result.out / 'model.pt'}"
    )


def _recognizer(name: str):
    from atomscope.learning.infer import Recognizer

    if Path(name).suffix == ".pt" or Path(name).is_file():
        return Recognizer.load(name)
    return Recognizer.pretrained(name)


def _recognize(args) -> None:
    from atomscope.core.memory import check_and_report
    from atomscope.io import read_image, write_npz
    from atomscope.outputs import claim_outputs, staged_outputs
    from atomscope.plot import save_figure

    image = read_image(args.image, sampling=args.sampling, frames=args.frame, single_frame=True)
    out = Path(args.out)
    stem = Path(args.image).stem
    claim_outputs(out, "recognize", [f"{stem}_atoms.png", f"{stem}_atoms.npz"])
    recognizer = _recognizer(args.model)
    nx, ny = image.shape[-2:]
    check_and_report(
        recognizer.memory_estimate(image.shape, image.sampling[0]),
        f"recognition in a {nx}×{ny} image at {image.sampling[0]:g} Å/px",
        "check --sampling (the image is resampled to the model's pixel size) or crop the image",
    )
    result = recognizer.predict(image.array, image.sampling[0], threshold=args.threshold)
    # each image adds its own pair of files; earlier images' results stay
    with staged_outputs(out, "recognize", last=f"{stem}_atoms.npz", keep_others=True) as stage:
        save_figure(result.plot(), stage / f"{stem}_atoms.png")
        write_npz(
            stage / f"{stem}_atoms.npz",
            positions=result.positions,
            probabilities=result.probabilities,
            scores=result.scores,
            maps=result.maps,
        )
    print(
        f"{len(result)} atoms -> {out / f'{stem}_atoms.npz'} (overlay {out / f'{stem}_atoms.png'})"
    )


def add_commands(subparsers) -> None:
    """Register ``train`` and ``recognize`` on the ``atomscope`` parser."""
    from atomscope.learning.train import TrainConfig

    d = TrainConfig()
    train = subparsers.add_parser("train", help="train an atom-recognition network on simulations")
    train.add_argument("--preset", default="graphene", help="graphene (80 kV) | gold (300 kV)")
    train.add_argument("--iterations", type=int, default=d.iterations, help="Adam steps")
    train.add_argument("--out", "-o", required=True, help="output directory (resumes if present)")
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
    train.add_argument("--threads", type=int, default=d.threads, help="torch threads")
    train.add_argument(
        "--init-weights",
        help="model.pt whose weights start the run (fine-tuning; same width and classes)",
    )
    train.set_defaults(func=_train)

    recognize = subparsers.add_parser("recognize", help="find atoms in an image with a network")
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
    recognize.add_argument("--out", "-o", default="out/recognize", help="output directory")
    recognize.set_defaults(func=_recognize)
