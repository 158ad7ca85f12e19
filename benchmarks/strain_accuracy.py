"""Chapter 4's headline numbers: exit-wave strain error of an ideal vs a relaxed 4 nm Au particle,
and the quick experiment's trends and wall time (issue #19).

Printed: the planar-strain error RMS of the exit wave (§4.3: ~0 ideal, 0.5–1 % relaxed; relaxed
with EMT and with the fitted COMB3 Au, the seed's potential family), then
`examples/experiments/ch4_quick.toml` run end to end (wall time against its 10 min budget), its
noise-free error RMS per defocus (Fig 4.6: ≲ 1 % to 8.5 nm, rising after), the surface-relaxation
error per facet (Fig 4.7) and the MAE fits c/√D with R² (Eq 4.7).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from contention import run

from atomscope.experiments.figures import mae_table, reference_columns
from atomscope.experiments.measures import fit_inverse_sqrt_dose
from atomscope.experiments.run import (
    exit_wave_errors,
    make_view,
    particle_snapshots,
    run_experiment,
)
from atomscope.experiments.spec import ExperimentSpec
from atomscope.structures.nanoparticles import wulff_particle

QUICK = Path(__file__).parents[1] / "examples" / "experiments" / "ch4_quick.toml"


def rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(values**2)))


def exit_wave(size_nm: float, relaxations: list[str]) -> None:
    ideal = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 0.9], size=size_nm * 5.0)
    cases = [("ideal", "none")] + [(f"relaxed ({r})", r) for r in relaxations]
    for name, relaxation in cases:
        spec = ExperimentSpec.from_dict(
            {"particles": {"sizes_nm": [size_nm], "relaxation": relaxation}}
        )
        snapshots = [ideal] if relaxation == "none" else particle_snapshots(spec, size_nm)
        view = make_view(spec, snapshots, "omega1", 0.0)
        planar, _ = exit_wave_errors(view)
        print(
            f"exit wave, {name} {size_nm:g} nm particle ({len(view.positions)} columns): "
            f"planar-strain error {rms(planar) * 100:.2f} % RMS, "
            f"{np.nanmax(np.abs(planar)) * 100:.2f} % at most "
            f"(true projected strain spread {np.nanstd(view.planar) * 100:.2f} %)"
        )


def column_model() -> None:
    """Figs 4.4–4.5: the independent-column exit wave and a column's radius of influence."""
    from atomscope.experiments.column_model import independent_column_wave, radius_of_influence
    from atomscope.experiments.run import ZONE_AXIS, in_plane_angle
    from atomscope.potentials.projected import Potential
    from atomscope.structures.facets import crystal_rotation
    from atomscope.waves.plane import PlaneWave

    particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 0.9], size=8.0)
    turned = particle.copy()
    turned.positions = particle.positions @ crystal_rotation(ZONE_AXIS, in_plane_angle()).T
    turned.positions -= turned.positions.min(axis=0) - 4.0
    turned.cell = turned.positions.max(axis=0) + 4.0
    full = PlaneWave(300e3).multislice(Potential(turned, sampling=0.05, slice_thickness=0.5))
    summed = independent_column_wave(turned, sampling=0.05)
    error = np.linalg.norm(summed.array - full.array) / np.linalg.norm(full.array - 1)
    print(f"independent columns (Eq 4.5), {len(turned)}-atom particle: ‖ψ_sum − ψ_full‖ / "
          f"‖ψ_full − ψ0‖ = {error * 100:.2f} %")  # fmt: skip
    defoci_nm = np.array([0, 2, 4, 6, 8, 10, 12, 14])
    for cs_um in (-5, -10, -20):
        radii = radius_of_influence(8, 300e3, cs_um * 1e4, -defoci_nm * 10.0)
        print(f"radius of influence, 8 atoms, Cs {cs_um} µm, Δf {defoci_nm.tolist()} nm: "
              + " ".join(f"{r:.2f}" for r in radii) + " Å")  # fmt: skip


def quick() -> None:
    spec = ExperimentSpec.read(QUICK)
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        store = run_experiment(spec, directory, progress=False)
        seconds = time.perf_counter() - start
        table = store.read()
    print(f"{QUICK.name}: {len(spec.points())} points, {len(table['k'])} rows in {seconds:.0f} s "
          f"({seconds / 600:.2f}× the 10 min budget)")  # fmt: skip
    clean = table["k"] == -1
    exit_wave = np.isnan(table["defocus_A"])
    print(f"  exit wave: planar error {rms(table['error_planar'][exit_wave]) * 100:.2f} % RMS")
    defoci = np.unique(table["defocus_A"][~exit_wave])
    for defocus in defoci:
        rows = clean & (table["defocus_A"] == defocus) & (table["dose"] == np.nanmin(table["dose"]))
        facets = {
            facet: np.nanmean(table["error_surface"][rows & (table["facet"] == facet)]) * 100
            for facet in ("{111}", "{100}")
        }
        print(
            f"  Δf {defocus / 10:4.1f} nm: noise-free planar error {rms(table['error_planar'][rows]) * 100:.2f} % RMS, "
            f"missed columns {np.isnan(table['error_planar'][rows]).sum()}/{rows.sum()}, surface error "
            f"{{111}} {facets['{111}']:+.2f} %, {{100}} {facets['{100}']:+.2f} %"
        )  # fmt: skip
    maes = mae_table(table)
    doses = np.unique(table["dose"][~exit_wave])
    for name, point in reference_columns(table).items():
        for defocus in defoci:
            values = np.array([
                maes[(spec.particles.sizes_nm[0], "omega1", 0.0, defocus, spec.sweep.sampling_A[0],
                      dose, point)][0]
                for dose in doses
            ])  # fmt: skip
            fit = fit_inverse_sqrt_dose(doses, values)
            print(f"  MAE {name:6s} Δf {defocus / 10:4.1f} nm: "
                  + ", ".join(f"{v * 100:.2f} % at {d:g}" for v, d in zip(values, doses, strict=True))
                  + f"; c/√D fit c = {fit.c:.3g}, R² = {fit.r_squared:.3f}")  # fmt: skip


def findings(directory: str) -> None:
    """The chapter's findings from a finished (or partly finished) experiment directory."""
    from atomscope.experiments.store import ResultStore

    table = ResultStore(directory).read()
    images = ~np.isnan(table["defocus_A"])
    clean = images & (table["k"] == -1) & (table["dose"] == np.nanmin(table["dose"]))
    sizes = np.unique(table["size_nm"])
    print(f"{directory}: {len(table['k'])} rows")
    print(
        "noise-free planar error RMS [%] vs Δf (tilt 0) — Figs 4.6–4.7; surface error {111}/{100}"
    )
    for size in sizes:
        cells = []
        for defocus in np.unique(table["defocus_A"][images]):
            rows = clean & (table["size_nm"] == size) & (table["defocus_A"] == defocus)
            rows &= table["tilt_mrad"] == 0
            surface = [
                np.nanmean(table["error_surface"][rows & (table["facet"] == f)]) * 100
                for f in ("{111}", "{100}")
            ]
            cells.append(f"{defocus / 10:g} nm {rms(table['error_planar'][rows]) * 100:.2f} "
                         f"({surface[0]:+.1f}/{surface[1]:+.1f})")  # fmt: skip
        print(f"  {size:g} nm: " + ", ".join(cells))
    defoci = np.unique(table["defocus_A"][images])
    reference = defoci[np.argmin(np.abs(defoci - 85))]
    print(f"noise-free planar error RMS [%] vs tilt at Δf {reference / 10:g} nm — Fig 4.8")
    for size in sizes:
        for axis in np.unique(table["tilt_axis"]):
            cells = []
            for tilt in np.unique(table["tilt_mrad"]):
                rows = clean & (table["size_nm"] == size) & (table["defocus_A"] == reference)
                rows &= (table["tilt_mrad"] == tilt) & ((table["tilt_axis"] == axis) | (tilt == 0))
                if rows.any():
                    cells.append(
                        f"{np.degrees(tilt * 1e-3):.0f}° {rms(table['error_planar'][rows]) * 100:.2f}"
                    )
            print(f"  {size:g} nm about {axis}: " + ", ".join(cells))
    maes = mae_table(table)
    doses = np.unique(table["dose"][images])
    print(f"MAE = c/√D over {doses.min():g}–{doses.max():g} e⁻/Å² at Δf {reference / 10:g} nm, "
          "tilt 0 — Eq 4.7, Fig 4.11")  # fmt: skip
    sampling = np.unique(table["sampling_A"][images])[0]
    for size in sizes:
        points = np.unique(table["point"][clean & (table["size_nm"] == size)])
        r2 = []
        for point in points:
            values = np.array([maes[(size, "omega1", 0.0, reference, sampling, d, point)][0]
                               for d in doses])  # fmt: skip
            if np.all(np.isfinite(values)):
                r2.append(fit_inverse_sqrt_dose(doses, values).r_squared)
        r2 = np.array(r2)
        print(f"  {size:g} nm: R² over {len(r2)} columns: median {np.median(r2):.3f}, "
              f"{np.mean(r2 >= 0.95) * 100:.0f} % ≥ 0.95")  # fmt: skip
    print("median MAE over columns [%] vs Δf per dose (tilt 0) — Fig 4.12")
    for size in sizes:
        for dose in doses:
            cells = []
            for defocus in defoci:
                values = [v for key, (v, _) in maes.items() if key[0] == size and key[2] == 0
                          and key[3] == defocus and key[5] == dose]  # fmt: skip
                cells.append(f"{defocus / 10:g}: {np.nanmedian(values) * 100:.2f}")
            print(f"  {size:g} nm, {dose:g} e⁻/Å²: " + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=float, default=4.0, help="particle diameter [nm]")
    parser.add_argument(
        "--relaxations", nargs="+", default=["emt", "comb3-AuPt"],
        help="relaxations of the exit-wave particle (experiment spec particles.relaxation)",
    )  # fmt: skip
    parser.add_argument(
        "--results", default=None, help="only summarise a finished experiment directory"
    )
    parser.add_argument("--exit-wave-only", action="store_true", help="skip the quick spec")
    args = parser.parse_args()
    if args.results is not None:
        findings(args.results)
        return
    exit_wave(args.size, args.relaxations)
    if args.exit_wave_only:
        return
    column_model()
    quick()


if __name__ == "__main__":
    run(main)
