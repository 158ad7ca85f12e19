"""``atomscope mtf``: options → `atomscope.jobs.camera.run_mtf`."""

from __future__ import annotations

import argparse

import numpy as np

from atomscope.cli.common import add_out_option, inputs_name


def read_counts(path: str, sampling: float | None) -> tuple[np.ndarray, float | None]:
    """The counts of an image or stack file [..., x, y] and its pixel size [Å], or None when
    neither the file nor ``--sampling`` gives one (the MTF needs none: q is in Nyquist units)."""
    from atomscope.io import MissingCalibration, read_image

    try:
        image = read_image(path, sampling=sampling)
    except MissingCalibration:
        return read_image(path, sampling=1.0).array, None
    return image.array, float(image.sampling[0])


def _mtf(args: argparse.Namespace) -> None:
    from atomscope.jobs.camera import run_mtf

    frames, pixels = [], []
    for path in args.flat_fields:
        array, pixel = read_counts(path, args.sampling)
        frames.extend(array if array.ndim == 3 else [array])
        pixels.append(pixel)
    shapes = {frame.shape for frame in frames}
    if len(shapes) > 1:
        raise ValueError(f"FLATFIELD: the frames must share one shape, got {sorted(shapes)}")
    edge = None
    if args.edge is not None:
        edge, pixel = read_counts(args.edge, args.sampling)
        if edge.ndim != 2:
            raise ValueError(f"--edge {args.edge!r} must hold one image, got shape {edge.shape}")
        pixels.append(pixel)
    known = {pixel for pixel in pixels if pixel is not None}
    if len(known) > 1:
        raise ValueError(f"the files record different pixel sizes {sorted(known)} Å")
    summary = run_mtf(
        np.stack(frames),
        args.out,
        model=args.model,
        edge=edge,
        edge_model=args.edge_model,
        sampling=known.pop() if known else None,
        gain=args.gain,
        name=inputs_name(args.flat_fields),
    )
    mtf = summary["mtf"]
    shown = ", ".join(
        f"{key}={value:.4g}" for key, value in mtf.items() if key in ("c1", "c2", "c3")
    )
    print(
        f"MTF {mtf['name']} {shown}".strip()
        + f"; DQE(0) {summary['dqe0']:.3f}; outputs in {args.out}/"
    )


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``atomscope mtf`` to its ``parser``."""
    parser.description = (
        "Measure a camera's MTF and DQE from flat fields (noise power spectrum, seed §2.6) and "
        "optionally a knife edge (ISO 12233 slanted edge); writes mtf.csv, edge.csv, mtf.png "
        "and summary.json. The fitted parameters drive hrtem's --mtf."
    )
    parser.add_argument(
        "flat_fields",
        nargs="+",
        metavar="FLATFIELD",
        help="uniformly illuminated frames [counts]: image or stack files (TIFF, npz, dm3/dm4, "
        "emd, hspy, mrc, ser)",
    )
    parser.add_argument(
        "--edge", metavar="EDGE", help="an image of a straight edge at 2–10° to the pixel axes"
    )
    add_out_option(parser, "mtf")
    parser.add_argument(
        "--model",
        choices=("rational", "exp_gauss", "table"),
        default="rational",
        help="MTF model fitted to the flat fields",
    )
    parser.add_argument(
        "--edge-model",
        choices=("table", "rational", "exp_gauss"),
        default="table",
        help="MTF model of the edge estimate",
    )
    parser.add_argument(
        "--sampling",
        type=float,
        default=None,
        help="camera pixel size [Å] for k in 1/Å (default: from the files, else q only)",
    )
    parser.add_argument(
        "--gain", type=float, default=1.0, help="counts per detected electron (for the DQE)"
    )
    parser.set_defaults(func=_mtf)
