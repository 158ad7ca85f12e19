"""The structure jobs: build, relax and frozen-phonon snapshots, each written into a directory.

Each job writes the structure file (any format ASE writes; snapshots as a ``.traj``), a PNG
preview beside it and ``summary.json`` (`atomscope.summary`), all moved into ``out``
together (`atomscope.outputs.staged_outputs`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from atomscope.core.memory import reporting
from atomscope.core.validate import check_choice, check_positive, check_positive_int

_PREVIEW_BYTES = 48 * 2**20  # matplotlib and the preview figure of a structure (measured)
#: Peak bytes of relax/phonons besides the atoms: the calculator (asap3 or LAMMPS), the
#: trajectory writer and the preview figure (measured, VmHWM)
_FIXED_BYTES = 56 * 2**20
_ATOM_BYTES = 1024  # per atom and snapshot: positions, forces, velocities, neighbour lists
GRAPHENE_FORMS = ("sheet", "polycrystal", "random")


def _output_names(filename: str) -> list[str]:
    return [filename, f"{Path(filename).stem}.png", "summary.json"]


def check_filename(filename: str, option: str = "--name") -> str:
    """``filename`` (a plain name with an extension ASE writes), or a ``ValueError``."""
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    if Path(filename).name != filename or filename.startswith("."):
        raise ValueError(f"{option} {filename!r} must be a plain file name such as particle.xyz")
    try:
        name = filetype(filename, read=False)
    except UnknownFileTypeError:
        name = None
    if name not in ioformats or not ioformats[name].can_write:
        raise ValueError(
            f"{option} {filename!r}: ASE cannot write this file type; use e.g. .xyz, .traj, .cif"
        )
    return filename


def _write(
    command: str,
    atoms,
    out: str | Path,
    filename: str,
    arguments: Mapping[str, object],
    started: float,
    results: Mapping[str, object],
    snapshots=None,
) -> dict:
    """Write ``atoms`` (or ``snapshots``, a `FrozenPhonons` saved as a trajectory), its preview
    and the summary into ``out``."""
    import ase.io

    from atomscope.outputs import staged_outputs
    from atomscope.structures.preview import save_preview
    from atomscope.summary import write_summary

    outputs = _output_names(filename)
    with staged_outputs(out, command) as stage:
        if snapshots is None:
            ase.io.write(stage / filename, atoms)
        else:
            snapshots.save(stage / filename, progress=True)
        save_preview(atoms, stage / outputs[1])
        summary = write_summary(
            stage / "summary.json",
            command,
            arguments,
            outputs,
            started,
            {
                "formula": atoms.get_chemical_formula(),
                "num_atoms": len(atoms),
                "cell_A": atoms.cell.lengths().tolist(),
                **results,
            },
        )
    print(f"{summary['formula']}: {len(atoms)} atoms -> {Path(out) / filename}")
    return summary


def _claim(out: str | Path, command: str, filename: str) -> None:
    from atomscope.outputs import check_output_directory, claim_outputs

    check_output_directory(out, "--out")
    claim_outputs(out, command, _output_names(filename))


def run_build(
    kind: str, out: str | Path, filename: str | None = None, **parameters: object
) -> dict:
    """Build a model and write it into ``out``.

    Parameters
    ----------
    kind
        ``"particle"`` (`random_particle`: element, radius, growth, temperature, rng, vacuum),
        ``"wulff"`` (`wulff_particle`: element, surfaces, energies, size, vacuum) or
        ``"graphene"`` (form ``"sheet"`` — an ideal sheet in the nearest commensurate
        rectangular cell, `graphene_sheet` — ``"polycrystal"`` (`polycrystalline_graphene`:
        grains, rng) or ``"random"`` (`random_graphene`, seed Fig 6.9: holes, hole_radius,
        rng); extent [Å]).
    out
        Output directory.
    filename
        Name of the structure file (default ``KIND.xyz``).
    **parameters
        The builder's parameters named above.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    started = time.perf_counter()
    check_choice("kind", kind, ("particle", "wulff", "graphene"))
    filename = check_filename(filename or f"{kind}.xyz")
    _claim(out, "build", filename)
    # the builder checks its memory before building; print that estimate with the preview's
    with reporting(extra=_PREVIEW_BYTES):
        atoms, results = _BUILDERS[kind](**parameters)
    return _write("build", atoms, out, filename, {"kind": kind, **parameters}, started, results)


def _particle(element, radius, growth, temperature, rng, vacuum):
    from atomscope.structures import center, random_particle

    particle = random_particle(
        element, rng, radius=tuple(radius), growth=tuple(growth), temperature=temperature,
        progress=True,
    )  # fmt: skip
    return center(particle, vacuum), {}


def _wulff(element, surfaces, energies, size, vacuum):
    from atomscope.structures import center, wulff_particle

    families = []
    for text in surfaces:
        if len(text) != 3 or not text.isdigit():
            raise ValueError(f"--surfaces: each family is three digits such as 111, got {text!r}")
        families.append(tuple(int(c) for c in text))
    size = int(size) if str(size).isdigit() else float(size)
    particle = wulff_particle(element, families, energies, size, progress=True)
    return center(particle, vacuum), {}


def _graphene(form, extent, grains=None, holes=None, hole_radius=None, rng=0):
    from atomscope.structures import graphene_sheet, polycrystalline_graphene, random_graphene
    from atomscope.structures.graphene import BOND_LENGTH

    check_choice("--form", form, GRAPHENE_FORMS)
    check_positive("--extent", extent)
    misplaced = {"--grains": (grains, "polycrystal"), "--holes": (holes, "random")}
    misplaced["--hole-radius"] = (hole_radius, "random")
    for option, (value, needs) in misplaced.items():
        if value is not None and form != needs:
            raise ValueError(f"{option} applies to --form {needs}, not --form {form}")
    if form == "sheet":
        # the nearest commensurate rectangular cell: √3 b along x (armchair), 3 b along y
        periods = (3**0.5 * BOND_LENGTH, 3 * BOND_LENGTH)
        cells = [max(1, round(extent / period)) for period in periods]
        size = tuple(n * period for n, period in zip(cells, periods, strict=True))
        sheet = graphene_sheet(size)
        return sheet, {
            "rectangular_cells": cells,
            "note": f"extent {size[0]:.4g} × {size[1]:.4g} Å",
        }
    if form == "polycrystal":
        sheet = polycrystalline_graphene(
            extent, 3 if grains is None else grains, rng, progress=True
        )
        return sheet, {}
    sheet = random_graphene(
        extent,
        rng,
        num_holes=(0, 4) if holes is None else tuple(holes),
        hole_radius=hole_radius,
        progress=True,
    )
    return sheet, {"num_holes": sheet.info["num_holes"]}


_BUILDERS = {"particle": _particle, "wulff": _wulff, "graphene": _graphene}


def _report_memory(num_atoms: int, snapshots: int, job: str) -> None:
    from atomscope.core.memory import check_and_report

    check_and_report(
        _FIXED_BYTES + _ATOM_BYTES * num_atoms * snapshots,
        f"{job} of {num_atoms} atoms × {snapshots}",
        "use a smaller structure or fewer --configs",
    )


def run_relax(
    atoms,
    out: str | Path,
    calculator="emt",
    fmax: float = 0.01,
    steps: int = 1000,
    filename: str = "relaxed.xyz",
    name: str = "structure",
) -> dict:
    """Relax ``atoms`` with FIRE (`atomscope.thermal.relax`) and write the result into ``out``.

    ``calculator`` is a name (emt, ase_emt, comb3) or an ASE calculator; ``fmax`` [eV/Å] the
    force threshold, ``steps`` the most FIRE steps. Returns the summary.
    """
    from atomscope.thermal import relax

    started = time.perf_counter()
    arguments = {"structure": name, "calculator": str(calculator), "fmax": fmax, "steps": steps}
    check_positive("--fmax", fmax)
    check_positive_int("--steps", steps)
    filename = check_filename(filename)
    _claim(out, "relax", filename)
    _report_memory(len(atoms), 1, "relaxation")
    relaxed = relax(atoms, calculator, fmax, steps, progress=True)
    info = relaxed.info["relaxation"]
    print(
        f"converged={info['converged']} after {info['steps']} steps, "
        f"E = {info['energy']:.4f} eV, max force {info['fmax']:.2g} eV/Å"
    )
    return _write("relax", relaxed, out, filename, arguments, started, {"relaxation": info})


def run_phonons(
    atoms,
    out: str | Path,
    model: str = "einstein",
    temperature: float = 300.0,
    sigma: float | None = None,
    configs: int = 20,
    calculator="emt",
    timestep: float = 2.0,
    friction: float = 0.01,
    equilibration: int = 1000,
    interval: int = 50,
    rng: int = 0,
    filename: str = "snapshots.traj",
    name: str = "structure",
) -> dict:
    """Frozen-phonon snapshots of ``atoms`` (Einstein or Langevin MD) as a trajectory in ``out``.

    Parameters are those of `EinsteinPhonons` (``sigma`` [Å] or ``temperature`` [K]) and
    `MDPhonons` (``calculator``, ``timestep`` [fs], ``friction`` [1/fs], ``equilibration``
    and ``interval`` [steps]); ``configs`` snapshots, seed ``rng``. Returns the summary.
    """
    started = time.perf_counter()
    arguments = {key: value for key, value in locals().items() if key not in ("atoms", "started")}
    arguments["structure"], arguments["calculator"] = name, str(calculator)
    from atomscope.thermal import EinsteinPhonons, MDPhonons

    check_choice("--model", model, ("einstein", "md"))
    if Path(filename).suffix != ".traj":
        raise ValueError(f"--name {filename!r} must end in .traj (an ASE trajectory)")
    _claim(out, "phonons", check_filename(filename))
    _report_memory(len(atoms), max(1, configs), "frozen-phonon snapshots")
    if model == "einstein":
        phonons = EinsteinPhonons(
            atoms,
            sigma,
            temperature=None if sigma is not None else temperature,
            num_configs=configs,
            rng=rng,
        )
    else:
        phonons = MDPhonons(
            atoms,
            calculator,
            temperature=temperature,
            timestep=timestep,
            friction=friction,
            equilibration=equilibration,
            num_configs=configs,
            interval=interval,
            rng=rng,
            progress=True,
        )
    return _write(
        "phonons",
        phonons[0],
        out,
        filename,
        arguments,
        started,
        {"num_snapshots": len(phonons)},
        snapshots=phonons,
    )
