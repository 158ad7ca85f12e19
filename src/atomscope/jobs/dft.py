"""What ``atomscope dft`` runs: GPAW on a structure, then its all-electron electrostatic
potential, sliced and stored for ``atomscope hrtem --potential``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms

DFT_OUTPUTS = ("calculation.gpw", "gpaw.txt", "potential.npz", "dft_minus_iam.png", "summary.json")
MODES = ("pw", "fd", "lcao")


def gpaw_mode(text: str):
    """``pw:ECUT`` (plane waves, cutoff [eV]), ``fd`` or ``lcao`` as a GPAW mode."""
    from gpaw import PW

    kind, _, value = text.partition(":")
    if kind not in MODES or (kind == "pw") != bool(value):
        raise ValueError(f"--mode must be pw:ECUT (cutoff in eV), fd or lcao; got {text!r}")
    if kind != "pw":
        return kind
    try:
        cutoff = float(value)
    except ValueError:
        raise ValueError(f"--mode pw:ECUT needs a number, got {text!r}") from None
    if not 50 <= cutoff <= 5000:
        raise ValueError(f"--mode pw:{value}: the cutoff must be in [50, 5000] eV")
    return PW(cutoff)


def run_dft(
    atoms: Atoms,
    out: str | Path,
    mode: str = "pw:500",
    kpts: tuple[int, int, int] = (1, 1, 1),
    xc: str = "PBE",
    sampling: float = 0.05,
    slice_thickness: float = 1.0,
    grid_refinement: int = 2,
    name: str = "structure",
    progress: bool = True,
) -> dict:
    """Ground-state DFT of ``atoms`` with GPAW, then its `DFTPotential`, written into ``out``:
    calculation.gpw (the converged calculation), gpaw.txt (GPAW's log), potential.npz (the
    slices, for ``hrtem --potential``), dft_minus_iam.png and summary.json.

    Parameters
    ----------
    atoms
        Periodic structure with an orthorhombic cell, c along the beam.
    out
        Output directory; only files an earlier ``dft`` run wrote are replaced.
    mode
        ``"pw:ECUT"`` (plane waves, cutoff [eV]), ``"fd"`` or ``"lcao"``.
    kpts
        Monkhorst–Pack k-point grid.
    xc
        Exchange–correlation functional (GPAW's names, e.g. ``"PBE"``, ``"LDA"``).
    sampling, slice_thickness
        Simulation pixel size and slice thickness of the stored potential [Å].
    grid_refinement
        All-electron density refinement (1, 2 or 4).
    name
        The structure's name for the summary.
    progress
        A progress bar over GPAW's SCF iterations.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    started = time.perf_counter()
    arguments = {key: value for key, value in locals().items() if key not in ("atoms", "started")}
    from tqdm.auto import tqdm

    from atomscope import io, plot
    from atomscope.core.validate import check_positive, check_positive_int
    from atomscope.outputs import check_output_directory, claim_outputs, staged_outputs
    from atomscope.potentials.dft import GRID_REFINEMENTS, DFTPotential, iam_difference
    from atomscope.potentials.stored import potential_arrays
    from atomscope.summary import write_summary

    try:
        from gpaw import GPAW
    except ImportError as error:
        raise ImportError(
            "atomscope dft needs GPAW: pip install 'atomscope[dft]' (make test installs it)"
        ) from error
    gpaw_parameters = {"mode": gpaw_mode(mode), "xc": xc}
    kpts = tuple(check_positive_int("--kpts", k) for k in kpts)
    if len(kpts) != 3:
        raise ValueError(f"--kpts takes three positive integers, got {kpts}")
    check_positive("--sampling", sampling)
    check_positive("--slice-thickness", slice_thickness)
    if grid_refinement not in GRID_REFINEMENTS:
        raise ValueError(f"--grid-refinement must be one of {GRID_REFINEMENTS}")
    cell = atoms.cell.array
    if not np.allclose(cell - np.diag(np.diag(cell)), 0, atol=1e-8) or not all(atoms.pbc):
        raise ValueError(
            f"STRUCTURE {name!r}: the cell must be orthorhombic and periodic with c along the "
            "beam (atomscope.structures.orthogonal_supercell makes one)"
        )
    out = check_output_directory(out)
    claim_outputs(out, "dft", DFT_OUTPUTS)
    with staged_outputs(out, "dft") as stage:
        atoms = atoms.copy()
        calculator = GPAW(**gpaw_parameters, kpts=kpts, txt=str(stage / "gpaw.txt"))
        atoms.calc = calculator
        scf_started = time.perf_counter()
        with tqdm(desc="GPAW SCF", unit="iteration", disable=not progress) as bar:
            for _ in calculator.iconverge(atoms):
                bar.update()
        energy = atoms.get_potential_energy()
        scf_seconds = time.perf_counter() - scf_started
        calculator.write(str(stage / "calculation.gpw"))
        build_started = time.perf_counter()
        potential = DFTPotential(
            calculator,
            sampling=sampling,
            slice_thickness=slice_thickness,
            grid_refinement=grid_refinement,
        )
        arrays = potential_arrays(potential)
        build_seconds = time.perf_counter() - build_started
        io.write_npz(stage / "potential.npz", **arrays)
        comparison = iam_difference(potential)
        plot.save_figure(plot.iam_difference_figure(comparison), stage / "dft_minus_iam.png")
        results = {
            "structure": name,
            "num_atoms": len(atoms),
            "energy_eV": energy,
            "scf_iterations": calculator.get_number_of_iterations(),
            "scf_seconds": scf_seconds,
            "potential_seconds": build_seconds,
            "dft_gpts": list(potential.dft_gpts),
            "nuclear_width_A": potential.nuclear_width,
            "gpts": list(potential.gpts),
            "num_slices": potential.num_slices,
            "projected_relative_l2_vs_iam": comparison.relative_l2,
            "fourier_ratio_minus_1_by_k": {
                f"{k:.2f}": float(r) for k, r in zip(comparison.k, comparison.relative, strict=True)
            },
        }
        summary = write_summary(
            stage / "summary.json", "dft", arguments, DFT_OUTPUTS, started, results
        )
    return summary
