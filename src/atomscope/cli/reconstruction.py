"""``atomscope ewr``: options → `atomscope.jobs.reconstruction.run_ewr`."""

from __future__ import annotations

import argparse
import warnings

from atomscope.cli.common import (
    add_aberration_options,
    add_out_option,
    inputs_name,
    merge_aberrations,
    read_stack,
)

#: Lens options of ``ewr``: CTF keyword -> (option, help, default)
_LENS_OPTIONS = {
    "energy": ("--energy", "electron energy [eV]", 300e3),
    "semiangle_cutoff": ("--semiangle-cutoff", "objective aperture [mrad]", 20.0),
    "focal_spread": ("--focal-spread", "focal spread, 1/e width [Å]", 30.0),
    "angular_spread": ("--angular-spread", "illumination semi-angle β, 1/e [mrad]", 0.0),
}
CS_DEFAULT = 6e6  # [Å]


def lens_from_options(args: argparse.Namespace):
    """The `CTF` of ``ewr``'s options; defaults that were used are named in one warning."""
    from atomscope.optics import CTF

    aberrations = merge_aberrations(args)
    if "C10" in aberrations:
        raise ValueError("--aberration C10/defocus: give the defoci with --defocus instead")
    defaulted = []
    options = {}
    for keyword, (option, _, default) in _LENS_OPTIONS.items():
        value = getattr(args, keyword)
        if value is None:
            value = default
            if keyword != "angular_spread":  # 0 (coherent illumination) is no guess
                defaulted.append(f"{option} {default:g}")
        options[keyword] = value
    if "C30" not in aberrations:
        aberrations["C30"] = CS_DEFAULT
        defaulted.append(f"--Cs {CS_DEFAULT:g}")
    if defaulted:
        warnings.warn(
            f"lens defaults used: {', '.join(defaulted)}; a reconstruction is only as right as "
            "its lens, give the microscope's values",
            stacklevel=2,
        )
    return CTF(**options, **aberrations)


def _ewr(args: argparse.Namespace) -> None:
    from atomscope.jobs.reconstruction import run_ewr

    lens = lens_from_options(args)
    series = read_stack(args.images, args.sampling, option="IMAGES")
    if len(args.defoci) != series.shape[0]:
        raise ValueError(
            f"--defocus gives {len(args.defoci)} values for {series.shape[0]} images; give one "
            "defocus per image"
        )
    summary = run_ewr(
        series,
        args.out,
        args.defoci,
        lens,
        dose=args.dose,
        max_iter=args.max_iter,
        tolerance=args.tolerance,
        refine_defocus=args.refine_defocus,
        align=args.align,
        method=args.method,
        name=inputs_name(args.images),
        progress=True,
    )
    print(
        f"{summary['iterations']} iterations ({summary['stopped']}), misfit "
        f"{summary['final_misfit']:.3g}; outputs in {args.out}/"
    )


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``atomscope ewr`` to its ``parser``."""
    parser.description = (
        "Exit-wave reconstruction from an inline focal series (Allen et al. 2004, with L-BFGS "
        "and an optional defocus and drift refinement); writes exit_wave.npz, amplitude.tif, "
        "phase.tif, ewr.png, residuals.csv and summary.json."
    )
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGES",
        help="one stack file (frames = defoci) or one file per defocus (TIFF, npz, dm3/dm4, "
        "emd, hspy, mrc, ser)",
    )
    parser.add_argument(
        "--defocus",
        dest="defoci",
        type=float,
        nargs="+",
        required=True,
        metavar="DF",
        help="defocus of each image [Å], positive = underfocus (one per image, in order)",
    )
    add_out_option(parser, "ewr")
    for keyword, (option, text, default) in _LENS_OPTIONS.items():
        parser.add_argument(
            option, dest=keyword, type=float, default=None, help=f"{text} (default: {default:g})"
        )
    add_aberration_options(parser, Cs_default=CS_DEFAULT, defocus_default=None)
    parser.add_argument(
        "--sampling",
        type=float,
        default=None,
        help="pixel size [Å]; overrides the files' calibration (default: from the files)",
    )
    parser.add_argument(
        "--dose",
        type=float,
        default=None,
        help="dose per image [e⁻/Å²] that turns counts into intensity (default: normalise the "
        "series to mean 1)",
    )
    parser.add_argument("--max-iter", type=int, default=200, help="most iterations")
    parser.add_argument(
        "--tolerance", type=float, default=1e-5, help="stop at this relative change of the wave"
    )
    parser.add_argument(
        "--refine-defocus",
        action="store_true",
        help="refine each image's defocus within ±20 Å (mean correction 0)",
    )
    parser.add_argument(
        "--align", action="store_true", help="measure and model each image's drift (mean 0)"
    )
    parser.add_argument(
        "--method",
        choices=("lbfgs", "allen"),
        default="lbfgs",
        help="L-BFGS on Allen's misfit, or Allen's plain iteration",
    )
    parser.set_defaults(func=_ewr)
