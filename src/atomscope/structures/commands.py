"""``atomscope build | relax | phonons``: structure files with a PNG preview beside each output."""

from __future__ import annotations

import argparse
from pathlib import Path

from atomscope.core.memory import reporting
from atomscope.core.validate import check_choice, check_positive, check_positive_int
from atomscope.outputs import atomic_output


def _targets(path: str) -> list[Path]:
    """The file ``-o`` names and its PNG preview."""
    return [Path(path), Path(path).with_suffix(".png")]


def _check_output_file(path: str, command: str) -> None:
    """Refuse, before any work, an ``-o`` (or its PNG preview) that is a directory, whose
    directory cannot be written, or that is a file ``command`` did not write (or that changed
    since): an existing file is replaced only if an earlier run of ``command`` wrote it
    (`atomscope.outputs`)."""
    from atomscope.outputs import check_output_directory, claim_outputs

    for target in _targets(path):
        if target.is_dir():
            raise ValueError(
                f"-o/--output {path!r}: {str(target)!r} is a directory; give a file name such "
                "as particle.xyz"
            )
    check_output_directory(Path(path).parent, f"-o/--output {path!r}: its directory")
    try:
        claim_outputs(Path(path).parent, command, [target.name for target in _targets(path)])
    except ValueError as error:
        raise ValueError(f"-o/--output {path!r}: {error}") from None


def _record(path: str, command: str) -> None:
    from atomscope.outputs import record_outputs

    record_outputs(Path(path).parent, command, [target.name for target in _targets(path)])


def _output_format(path: str, command: str) -> str:
    """The ASE format for writing ``path``, refused before any work if ASE cannot write it."""
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    _check_output_file(path, command)
    try:
        name = filetype(path, read=False)
    except UnknownFileTypeError:
        name = None
    if name not in ioformats or not ioformats[name].can_write:
        raise ValueError(
            f"--output {path!r}: ASE cannot write this file type; use e.g. .xyz, .traj, .cif"
        )
    return name


def _write(atoms, path: str, file_format: str, command: str) -> None:
    import ase.io

    from atomscope.structures.preview import save_preview

    with atomic_output(path) as tmp:
        ase.io.write(tmp, atoms, format=file_format)
    preview = save_preview(atoms, Path(path).with_suffix(".png"))
    _record(path, command)
    print(f"{atoms.get_chemical_formula()}: {len(atoms)} atoms -> {path} (preview {preview})")


def _build_particle(args) -> None:
    from atomscope.structures import center, random_particle

    file_format = _output_format(args.output, args.command)
    # the builder checks its memory before building; print that estimate with the preview's
    with reporting(extra=_PREVIEW_BYTES):
        particle = random_particle(
            args.element,
            args.rng,
            radius=tuple(args.radius),
            growth=tuple(args.growth),
            temperature=args.temperature,
            progress=True,
        )
    _write(center(particle, args.vacuum), args.output, file_format, args.command)


def _build_wulff(args) -> None:
    from atomscope.structures import center, wulff_particle

    file_format = _output_format(args.output, args.command)
    surfaces = []
    for text in args.surfaces:
        if len(text) != 3 or not text.isdigit():
            raise ValueError(f"--surfaces: each family is three digits such as 111, got {text!r}")
        surfaces.append(tuple(int(c) for c in text))
    size = int(args.size) if args.size.isdigit() else float(args.size)
    with reporting(extra=_PREVIEW_BYTES):
        particle = wulff_particle(args.element, surfaces, args.energies, size, progress=True)
    _write(center(particle, args.vacuum), args.output, file_format, args.command)


def _build_graphene(args) -> None:
    from atomscope.structures import polycrystalline_graphene, random_graphene

    file_format = _output_format(args.output, args.command)
    with reporting(extra=_PREVIEW_BYTES):
        if args.grains is not None:
            sheet = polycrystalline_graphene(args.extent, args.grains, args.rng, progress=True)
        else:
            sheet = random_graphene(
                args.extent, args.rng, num_holes=tuple(args.holes), progress=True
            )
    _write(sheet, args.output, file_format, args.command)


_PREVIEW_BYTES = 48 * 2**20  # matplotlib and the preview figure of a structure (measured)
#: Peak bytes of relax/phonons besides the atoms: the calculator (asap3 or LAMMPS), the
#: trajectory writer and the preview figure (measured, VmHWM)
_FIXED_BYTES = 56 * 2**20
_ATOM_BYTES = 1024  # per atom and snapshot: positions, forces, velocities, neighbour lists


def _report_memory(num_atoms: int, snapshots: int, job: str) -> None:
    from atomscope.core.memory import check_and_report

    check_and_report(
        _FIXED_BYTES + _ATOM_BYTES * num_atoms * snapshots,
        f"{job} of {num_atoms} atoms × {snapshots}",
        "use a smaller structure or fewer --configs",
    )


def _calculator(args, atoms):
    if args.pair_style is None:
        return args.calculator
    from atomscope.thermal import lammps_calculator

    if not args.pair_coeff:
        raise ValueError("--pair-style needs at least one --pair-coeff, e.g. '* * Au_u3.eam'")
    types = args.types or sorted(set(atoms.get_chemical_symbols()))
    return lammps_calculator(args.pair_style, args.pair_coeff, types)


def _relax(args) -> None:
    from atomscope.cli import read_structure
    from atomscope.thermal import relax

    file_format = _output_format(args.output, args.command)
    check_positive("--fmax", args.fmax)
    check_positive_int("--steps", args.steps)
    atoms = read_structure(args.structure)
    calculator = _calculator(args, atoms)
    _report_memory(len(atoms), 1, "relaxation")
    relaxed = relax(atoms, calculator, args.fmax, args.steps, progress=True)
    info = relaxed.info["relaxation"]
    print(
        f"converged={info['converged']} after {info['steps']} steps, "
        f"E = {info['energy']:.4f} eV, max force {info['fmax']:.2g} eV/Å"
    )
    _write(relaxed, args.output, file_format, args.command)


def _phonons(args) -> None:
    from atomscope.cli import read_structure
    from atomscope.structures.preview import save_preview
    from atomscope.thermal import EinsteinPhonons, MDPhonons

    check_choice("--model", args.model, ("einstein", "md"))
    if Path(args.output).suffix != ".traj":
        raise ValueError(f"--output {args.output!r} must end in .traj (an ASE trajectory)")
    _check_output_file(args.output, args.command)
    atoms = read_structure(args.structure)
    _report_memory(len(atoms), max(1, args.configs), "frozen-phonon snapshots")
    if args.model == "einstein":
        sigmas = args.sigma
        phonons = EinsteinPhonons(
            atoms,
            sigmas,
            temperature=None if sigmas is not None else args.temperature,
            num_configs=args.configs,
            rng=args.rng,
        )
    else:
        phonons = MDPhonons(
            atoms,
            _calculator(args, atoms),
            temperature=args.temperature,
            timestep=args.timestep,
            friction=args.friction,
            equilibration=args.equilibration,
            num_configs=args.configs,
            interval=args.interval,
            rng=args.rng,
            progress=True,
        )
    path = phonons.save(args.output, progress=True)
    preview = save_preview(phonons[0], Path(path).with_suffix(".png"))
    _record(args.output, args.command)
    print(f"{len(phonons)} snapshots of {len(atoms)} atoms -> {path} (preview {preview})")


def _add_output(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument("-o", "--output", required=True, help=f"output file, e.g. {example}")


def _add_calculator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calculator",
        default="emt",
        help="emt (asap3, default) | ase_emt | comb3 (LAMMPS, oxides)",
    )
    parser.add_argument("--pair-style", help="use LAMMPS with this pair style, e.g. eam")
    parser.add_argument("--pair-coeff", action="append", default=[], help="LAMMPS pair_coeff")
    parser.add_argument("--types", nargs="+", help="elements in LAMMPS type order")


def add_commands(subparsers) -> None:
    """Register ``build``, ``relax`` and ``phonons`` on the ``atomscope`` parser."""
    build = subparsers.add_parser("build", help="build a nanoparticle or graphene model")
    kinds = build.add_subparsers(dest="kind", required=True)

    particle = kinds.add_parser("particle", help="random rough particle (seed Eq 6.18)")
    particle.add_argument("--element", default="Au", help="fcc/bcc element (default Au)")
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
    _add_output(particle, "particle.xyz")
    particle.set_defaults(func=_build_particle)

    wulff = kinds.add_parser("wulff", help="Wulff-shaped particle")
    wulff.add_argument("--element", default="Au", help="fcc/bcc element (default Au)")
    wulff.add_argument("--surfaces", nargs="+", default=["100", "111"], help="e.g. 100 111")
    wulff.add_argument(
        "--energies", type=float, nargs="+", default=[1.0, 1.1], help="surface energy per family"
    )
    wulff.add_argument(
        "--size", default="500", help="atom count (integer) or radius [Å] (e.g. 12.5)"
    )
    wulff.add_argument("--vacuum", type=float, default=5.0, help="vacuum around it [Å]")
    _add_output(wulff, "wulff.xyz")
    wulff.set_defaults(func=_build_wulff)

    graphene = kinds.add_parser("graphene", help="random graphene (seed Fig 6.9) or grains")
    graphene.add_argument("--extent", type=float, default=43.2, help="square cell side [Å]")
    graphene.add_argument("--holes", type=int, nargs=2, default=(0, 4), metavar=("LOW", "HIGH"))
    graphene.add_argument("--grains", type=int, help="polycrystalline with this many grains")
    graphene.add_argument("--rng", type=int, default=0, help="random seed")
    _add_output(graphene, "graphene.xyz")
    graphene.set_defaults(func=_build_graphene)

    relax = subparsers.add_parser("relax", help="relax a structure (FIRE)")
    relax.add_argument("structure", help="any file ASE reads")
    relax.add_argument("--fmax", type=float, default=0.01, help="force threshold [eV/Å]")
    relax.add_argument("--steps", type=int, default=1000, help="maximum FIRE steps")
    _add_calculator_options(relax)
    _add_output(relax, "relaxed.xyz")
    relax.set_defaults(func=_relax)

    phonons = subparsers.add_parser("phonons", help="frozen-phonon snapshots (Einstein or MD)")
    phonons.add_argument("structure", help="any file ASE reads")
    phonons.add_argument("--model", default="einstein", help="einstein | md")
    phonons.add_argument("--temperature", type=float, default=300.0, help="[K]")
    phonons.add_argument("--sigma", type=float, help="Einstein: rms displacement per axis [Å]")
    phonons.add_argument("--configs", type=int, default=20, help="number of snapshots")
    phonons.add_argument("--timestep", type=float, default=2.0, help="MD time step [fs]")
    phonons.add_argument("--friction", type=float, default=0.01, help="Langevin friction [1/fs]")
    phonons.add_argument("--equilibration", type=int, default=1000, help="MD steps discarded")
    phonons.add_argument("--interval", type=int, default=50, help="MD steps between snapshots")
    phonons.add_argument("--rng", type=int, default=0, help="random seed")
    _add_calculator_options(phonons)
    _add_output(phonons, "snapshots.traj")
    phonons.set_defaults(func=_phonons)
