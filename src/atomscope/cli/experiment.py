"""``atomscope experiment run|status|figures``: options → `atomscope.experiments`."""

from __future__ import annotations

import argparse
import time

from atomscope.cli.common import add_scheduler_options, scheduler_client


def _run(args: argparse.Namespace) -> int:
    from atomscope.experiments.run import run_experiment
    from atomscope.experiments.spec import ExperimentSpec
    from atomscope.experiments.store import COMMAND, ResultStore
    from atomscope.outputs import claim_outputs, record_outputs
    from atomscope.summary import write_summary

    started = time.perf_counter()
    spec = ExperimentSpec.read(args.spec)
    claim_outputs(args.out, COMMAND, ["summary.json"])  # writes nothing; run_experiment
    # then checks memory and the directory (another spec) before it writes anything
    with scheduler_client(args) as client:
        try:
            store = run_experiment(spec, args.out, client=client)
        except KeyboardInterrupt:
            done = len(ResultStore(args.out).finished())
            print(
                f"atomscope experiment: interrupted; {done} finished points are kept in "
                f"{args.out}/ — run the same command again to resume",
            )
            return 130
    total = len(spec.points())
    write_summary(
        store.directory / "summary.json",
        "experiment run",
        {"spec": args.spec, "workers": args.workers, "scheduler": args.scheduler},
        ["spec.json", "results.zarr", "results.csv", "models"],
        started,
        {"name": spec.name, "fingerprint": spec.fingerprint, "points": total},
    )
    record_outputs(args.out, COMMAND, ["summary.json"])
    print(f"{total}/{total} points finished; results in {args.out}/results.csv")
    return 0


def _status(args: argparse.Namespace) -> int:
    from atomscope.experiments.store import ResultStore

    store = ResultStore(args.directory)
    points = store.spec.points()
    done = store.finished()
    print(f"experiment {store.spec.name!r} ({store.spec.fingerprint[:12]}): "
          f"{len(done)}/{len(points)} points finished")  # fmt: skip
    for point in points:
        print(f"  {'done' if point.key in done else 'todo'}  {point.key}")
    return 0


def _smallest_model(store):
    """The first snapshot of the smallest particle the run simulated (DIR/models), or None."""
    from ase.io import read

    for size in sorted(store.spec.particles.sizes_nm):
        path = store.directory / "models" / f"size={size:g}.traj"
        if path.is_file():
            try:
                return read(path, index=0)
            except Exception as error:  # ASE raises many kinds for a damaged trajectory
                raise ValueError(
                    f"the run's particle model {str(path)!r} cannot be read ({error}); delete "
                    "it and run the experiment again to recreate it"
                ) from None
    return None


def _figures(args: argparse.Namespace) -> int:
    from atomscope.experiments.figures import write_figures
    from atomscope.experiments.store import ResultStore

    store = ResultStore(args.directory)
    out = args.out if args.out is not None else store.directory / "figures"
    written = write_figures(store.read(), out, store.spec, _smallest_model(store))
    for name, (c, r_squared) in written["dose_fits"].items():
        print(f"MAE = c/√D at the {name} column: c = {c:.3g}, R² = {r_squared:.3f}")
    print(f"{len(written['figures'])} figures in {out}/")
    return 0


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the actions of ``atomscope experiment`` to its ``parser``."""
    parser.description = (
        "The strain-accuracy study of seed chapter 4 as a declarative, resumable experiment: "
        "run a TOML spec, see which points are done, draw the chapter's figures."
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run (or resume) every point of a spec")
    run.add_argument("spec", metavar="SPEC", help="experiment spec (TOML)")
    run.add_argument(
        "--out", "-o", required=True, metavar="DIR",
        help="experiment directory; a resumed run must name the same spec",
    )  # fmt: skip
    add_scheduler_options(run, "the experiment's points")
    run.set_defaults(func=_run)
    status = actions.add_parser("status", help="which points of an experiment are finished")
    status.add_argument("directory", metavar="DIR")
    status.set_defaults(func=_status)
    figures = actions.add_parser("figures", help="draw the chapter-4 figures of an experiment")
    figures.add_argument("directory", metavar="DIR")
    figures.add_argument("--out", "-o", default=None, metavar="FIGURES", help="default DIR/figures")
    figures.set_defaults(func=_figures)
