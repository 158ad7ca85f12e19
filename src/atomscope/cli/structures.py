"""``atomscope build | relax | phonons``: options → `atomscope.jobs.structures`.

Like every command, each writes into ``--out DIR``: the structure file (``--name``), its PNG
preview and summary.json.
"""

from __future__ import annotations

import argparse

from atomscope.cli.common import add_out_option, read_structure


def _add_name(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--name",
        default=default,
        help="file name of the structure in --out; its extension picks the format (any ASE "
        "writes: .xyz, .cif, .traj, .vasp, ...)",
    )


def _build(args: argparse.Namespace) -> None:
    from atomscope.jobs.structures import run_build

    if args.kind == "particle":
        parameters = dict(
            element=args.element,
            radius=tuple(args.radius),
            growth=tuple(args.growth),
            temperature=args.temperature,
            rng=args.rng,
            vacuum=args.vacuum,
        )
    elif args.kind == "wulff":
        parameters = dict(
            element=args.element,
            surfaces=args.surfaces,
            energies=args.energies,
            size=args.size,
            vacuum=args.vacuum,
        )
    else:
        parameters = dict(
            form=args.form,
            extent=args.extent,
            grains=args.grains,
            holes=None if args.holes is None else tuple(args.holes),
            hole_radius=None if args.hole_radius is None else tuple(args.hole_radius),
            rng=args.rng,
        )
    run_build(args.kind, args.out, args.name, **parameters)


def _calculator(args: argparse.Namespace, atoms):
    if args.pair_style is None:
        return args.calculator
    from atomscope.thermal import lammps_calculator

    if not args.pair_coeff:
        raise ValueError("--pair-style needs at least one --pair-coeff, e.g. '* * Au_u3.eam'")
    types = args.types or sorted(set(atoms.get_chemical_symbols()))
    return lammps_calculator(args.pair_style, args.pair_coeff, types)


def _relax(args: argparse.Namespace) -> None:
    from atomscope.jobs.structures import check_filename, run_relax

    check_filename(args.name)
    atoms = read_structure(args.structure)
    run_relax(
        atoms,
        args.out,
        _calculator(args, atoms),
        fmax=args.fmax,
        steps=args.steps,
        filename=args.name,
        name=args.structure,
    )


def _phonons(args: argparse.Namespace) -> None:
    from atomscope.jobs.structures import run_phonons

    atoms = read_structure(args.structure)
    run_phonons(
        atoms,
        args.out,
        model=args.model,
        temperature=args.temperature,
        sigma=args.sigma,
        configs=args.configs,
        calculator=_calculator(args, atoms) if args.model == "md" else args.calculator,
        timestep=args.timestep,
        friction=args.friction,
        equilibration=args.equilibration,
        interval=args.interval,
        rng=args.rng,
        filename=args.name,
        name=args.structure,
    )


def _add_calculator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calculator",
        default="emt",
        help="emt (asap3) | ase_emt | comb3 (LAMMPS, oxides) | comb3-AuPt (LAMMPS, fitted Au or Pt)",
    )
    parser.add_argument("--pair-style", help="use LAMMPS with this pair style, e.g. eam")
    parser.add_argument("--pair-coeff", action="append", default=[], help="LAMMPS pair_coeff")
    parser.add_argument("--types", nargs="+", help="elements in LAMMPS type order")


def _configure_build(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    particle = kinds.add_parser("particle", help="random rough particle (seed Eq 6.18)")
    particle.add_argument("--element", default="Au", help="fcc/bcc element")
    particle.add_argument(
        "--radius",
        type=float,
        nargs=2,
        default=(6.0, 12.0),
        metavar=("LOW", "HIGH"),
        help="facet-plane distances [Å]",
    )
    particle.add_argument(
        "--growth",
        type=float,
        nargs=2,
        default=(0.0, 0.5),
        metavar=("LOW", "HIGH"),
        help="added atoms / seed atoms",
    )
    particle.add_argument(
        "--temperature", type=float, default=1.0, help="roughness temperature T of Eq 6.18"
    )
    particle.add_argument("--vacuum", type=float, default=5.0, help="vacuum around it [Å]")
    particle.add_argument("--rng", type=int, default=0, help="random seed")

    wulff = kinds.add_parser("wulff", help="Wulff-shaped particle")
    wulff.add_argument("--element", default="Au", help="fcc/bcc element")
    wulff.add_argument("--surfaces", nargs="+", default=["100", "111"], help="e.g. 100 111")
    wulff.add_argument(
        "--energies", type=float, nargs="+", default=[1.0, 1.1], help="surface energy per family"
    )
    wulff.add_argument("--size", default="500", help="atom count (integer) or radius [Å] (12.5)")
    wulff.add_argument("--vacuum", type=float, default=5.0, help="vacuum around it [Å]")

    graphene = kinds.add_parser(
        "graphene",
        help="graphene: an ideal sheet, a polycrystal or the random network of seed Fig 6.9",
    )
    graphene.add_argument(
        "--form",
        default="sheet",
        help="sheet (single crystal in the nearest commensurate rectangular cell) | "
        "polycrystal (--grains) | random (seed Fig 6.9, --holes, --hole-radius)",
    )
    graphene.add_argument("--extent", type=float, default=43.2, help="square cell side [Å]")
    graphene.add_argument("--grains", type=int, help="polycrystal: number of grains (default 3)")
    graphene.add_argument(
        "--holes",
        type=int,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="random: number of holes drawn from LOW…HIGH (default 0 4)",
    )
    graphene.add_argument(
        "--hole-radius",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="random: mean hole radii [Å] (default 3.5 7, narrowed to fit the cell)",
    )
    graphene.add_argument("--rng", type=int, default=0, help="random seed")
    for kind, sub in (("particle", particle), ("wulff", wulff), ("graphene", graphene)):
        add_out_option(sub, "build")
        _add_name(sub, f"{kind}.xyz")
    parser.set_defaults(func=_build)


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of ``command`` (build, relax or phonons) to its ``parser``."""
    if command == "build":
        _configure_build(parser)
        return
    parser.add_argument("structure", help="any file ASE reads")
    add_out_option(parser, command)
    _add_calculator_options(parser)
    if command == "relax":
        parser.add_argument("--fmax", type=float, default=0.01, help="force threshold [eV/Å]")
        parser.add_argument("--steps", type=int, default=1000, help="maximum FIRE steps")
        _add_name(parser, "relaxed.xyz")
        parser.set_defaults(func=_relax)
        return
    parser.add_argument("--model", default="einstein", help="einstein | md")
    parser.add_argument("--temperature", type=float, default=300.0, help="[K]")
    parser.add_argument("--sigma", type=float, help="Einstein: rms displacement per axis [Å]")
    parser.add_argument("--configs", type=int, default=20, help="number of snapshots")
    parser.add_argument("--timestep", type=float, default=2.0, help="MD time step [fs]")
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin friction [1/fs]")
    parser.add_argument("--equilibration", type=int, default=1000, help="MD steps discarded")
    parser.add_argument("--interval", type=int, default=50, help="MD steps between snapshots")
    parser.add_argument("--rng", type=int, default=0, help="random seed")
    parser.add_argument(
        "--name", default="snapshots.traj", help="file name of the trajectory in --out (.traj)"
    )
    parser.set_defaults(func=_phonons)
