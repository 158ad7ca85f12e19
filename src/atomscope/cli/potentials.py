"""``atomscope dft``: options → `atomscope.jobs.dft.run_dft`."""

from __future__ import annotations

import argparse
from pathlib import Path

from atomscope.cli.common import add_out_option, read_structure


def _dft(args: argparse.Namespace) -> None:
    from atomscope.jobs.dft import run_dft

    atoms = read_structure(args.structure)
    summary = run_dft(
        atoms,
        args.out,
        mode=args.mode,
        kpts=tuple(args.kpts),
        xc=args.xc,
        sampling=args.sampling,
        slice_thickness=args.slice_thickness,
        grid_refinement=args.grid_refinement,
        name=Path(args.structure).name,
    )
    print(
        f"E = {summary['energy_eV']:.4f} eV after {summary['scf_iterations']} SCF iterations; "
        f"projected potential differs from the IAM by "
        f"{100 * summary['projected_relative_l2_vs_iam']:.2f} % (L2); outputs in {args.out}/ "
        f"(simulate with: atomscope hrtem --potential {args.out}/potential.npz)"
    )


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``atomscope dft`` to its ``parser``."""
    parser.description = (
        "Ground-state DFT with GPAW, then the all-electron electrostatic potential sliced for "
        "image simulation; writes calculation.gpw, gpaw.txt, potential.npz (for hrtem "
        "--potential), dft_minus_iam.png and summary.json."
    )
    parser.add_argument(
        "structure",
        metavar="STRUCTURE",
        help="periodic structure file (any format ASE reads) with an orthorhombic cell, c "
        "along the beam",
    )
    add_out_option(parser, "dft")
    parser.add_argument(
        "--mode", default="pw:500", help="pw:ECUT (plane waves, cutoff in eV), fd or lcao"
    )
    parser.add_argument(
        "--kpts",
        type=int,
        nargs=3,
        default=[1, 1, 1],
        metavar=("K1", "K2", "K3"),
        help="Monkhorst–Pack k-points",
    )
    parser.add_argument("--xc", default="PBE", help="exchange–correlation functional")
    parser.add_argument(
        "--sampling", type=float, default=0.05, help="pixel size of the stored potential [Å]"
    )
    parser.add_argument("--slice-thickness", type=float, default=1.0, help="slice thickness [Å]")
    parser.add_argument(
        "--grid-refinement",
        type=int,
        default=2,
        choices=(1, 2, 4),
        help="refinement of GPAW's grid for the all-electron density",
    )
    parser.set_defaults(func=_dft)
