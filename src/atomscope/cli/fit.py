"""``atomscope fit run|report|export``: options → `atomscope.fitting` (seed chapter 5)."""

from __future__ import annotations

import argparse
import time

from atomscope.cli.common import add_scheduler_options, scheduler_client


def _run(args: argparse.Namespace) -> int:
    from atomscope.fitting.run import check_fit_directory, run_fit
    from atomscope.fitting.search import log_path, read_log
    from atomscope.fitting.spec import FitSpec
    from atomscope.summary import write_summary

    started = time.perf_counter()
    spec = FitSpec.read(args.spec)  # every check, before any work
    check_fit_directory(spec, args.out)  # refuses another fit's directory; writes nothing
    with scheduler_client(args) as client:
        try:
            result = run_fit(spec, args.out, client=client, progress=args.progress)
        except KeyboardInterrupt:
            logged = sum(
                sum(
                    r.get("kind") == "evaluation"
                    for r in read_log(log_path(f"{args.out}/searches", k))
                )
                for k in range(spec.settings.searches)
            )
            print(
                f"atomscope fit: interrupted; {logged} logged evaluations are kept in "
                f"{args.out}/searches — run the same command again to resume"
            )
            return 130
    evaluations = result["evaluations"]
    seconds = time.perf_counter() - started
    write_summary(
        f"{args.out}/summary.json",
        "fit run",
        {"spec": args.spec, "workers": args.workers, "scheduler": args.scheduler},
        ["spec.json", "start.comb3", "searches", "result.json", f"ffield.comb3.{spec.element}"],
        started,
        {
            "name": spec.name,
            "fingerprint": spec.fingerprint,
            "best_error": result["best_error"],
            "evaluations": evaluations,
            "computed": result["computed"],
            "evaluation_seconds": result["evaluation_seconds"],
        },
    )
    print(
        f"{spec.settings.searches} searches, {evaluations} evaluations ({result['computed']} "
        f"computed now, {result['failures']} failed) in {seconds:.1f} s; best error "
        f"{result['best_error']:.6g} (search {result['best_search']}); one evaluation of all "
        f"{len(result['properties'])} properties took {result['evaluation_seconds']:.2f} s"
    )
    print(f"best entries: {args.out}/ffield.comb3.{spec.element}; report: atomscope fit report "
          f"{args.out}")  # fmt: skip
    return 0


def _report(args: argparse.Namespace) -> int:
    from atomscope.fitting.report import write_report

    report = write_report(args.directory)
    print(report["table"], end="")
    print(f"{len(report['files'])} files in {args.directory}/report/")
    return 0


def _export(args: argparse.Namespace) -> int:
    from atomscope.fitting.export import export_fits

    exported = export_fits(args.directories, args.file, overwrite=args.overwrite)
    errors = ", ".join(f"{k} {v:.4g}" for k, v in exported["best_errors"].items())
    print(f"{exported['entries']} entries of {', '.join(exported['elements'])} (best errors "
          f"{errors}) → {exported['files'][0]}; card {exported['files'][1]}")  # fmt: skip
    return 0


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the actions of ``atomscope fit`` to its ``parser``."""
    parser.description = (
        "Fit a COMB3 potential to material properties (seed chapter 5): random walks of "
        "Nelder–Mead minimisations with Metropolis acceptance (Eqs 5.14, 5.15), resumable; "
        "report the fitted properties against the targets; export finished fits as one "
        "ffield.comb3 file with its card."
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run (or resume) the searches of a fit spec")
    run.add_argument("spec", metavar="SPEC", help="fit spec (TOML)")
    run.add_argument(
        "--out", "-o", required=True, metavar="DIR",
        help="fit directory; a resumed run must name the same spec",
    )  # fmt: skip
    add_scheduler_options(run, "the searches")
    run.add_argument("--progress", action="store_true", help="show a progress bar")
    run.set_defaults(func=_run)
    report = actions.add_parser("report", help="table and figures of a fit directory")
    report.add_argument("directory", metavar="DIR")
    report.set_defaults(func=_report)
    export = actions.add_parser(
        "export", help="the best entries of finished fits as one ffield.comb3 file and its card"
    )
    export.add_argument("directories", nargs="+", metavar="DIR", help="finished fit directories")
    export.add_argument(
        "--out", "-o", required=True, metavar="FILE", dest="file",
        help="ffield.comb3 file to write (its card: FILE.md)",
    )  # fmt: skip
    export.add_argument("--overwrite", action="store_true", help="replace FILE and FILE.md")
    export.set_defaults(func=_export)
