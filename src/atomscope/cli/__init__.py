"""The ``atomscope`` command line: a thin translation of options into the jobs of
`atomscope.jobs`.

One module per command group (`cli.simulate`, `cli.structures`, `cli.potentials`,
`cli.analysis`, `cli.series`, `cli.experiment`, `cli.reconstruction`, `cli.camera`,
`cli.learning`, `cli.count`, `cli.fit`, `cli.rerun`), shared options in `cli.common`. Every
subcommand validates its arguments before any work; a ``ValueError``/``TypeError``, an
``OSError`` (disk full, permission denied) or a ``MemoryError`` is printed as one line (no
traceback) and the exit status is 2. Only the parser of the command being run is built, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import signal
import sys
import threading
import warnings

from atomscope import __version__
from atomscope.cli.common import ArgumentParser, check_scheduler_options

#: command -> (module of atomscope.cli that configures it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("simulate", "the seed's Au nanoparticle HRTEM example (what `make demo` runs)"),
    "hrtem": ("simulate", "simulate an HRTEM image of a structure file"),
    "stem": ("simulate", "STEM images (annular, segmented, 4D-STEM) of a structure file"),
    "cbed": ("simulate", "convergent-beam diffraction pattern of a structure file"),
    "build": ("structures", "build a nanoparticle or graphene model"),
    "relax": ("structures", "relax a structure (FIRE)"),
    "phonons": ("structures", "frozen-phonon snapshots (Einstein or MD)"),
    "dft": ("potentials", "DFT (GPAW) all-electron potential of a structure, for hrtem"),
    "strain": ("analysis", "strain maps from an atomic-resolution image (templates, GPA)"),
    "series": ("series", "drift, sites and hop statistics of an image series"),
    "ewr": ("reconstruction", "exit-wave reconstruction from a focal series"),
    "experiment": ("experiment", "strain-accuracy study (seed ch. 4): run, status, figures"),
    "fit": ("fit", "fit a COMB3 potential to material properties (seed ch. 5): run, report"),
    "mtf": ("camera", "a camera's MTF and DQE from flat fields and a knife edge"),
    "train": ("learning", "train an atom-recognition network on simulations"),
    "recognize": ("learning", "find atoms in an image with a trained network"),
    "count": ("count", "atoms per column from a focal series with a counting network"),
    "rerun": ("rerun", "repeat a run exactly from its summary.json"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of every subcommand, or with ``only`` of that one alone (the others
    are listed without their options)."""
    parser = ArgumentParser(
        prog="atomscope",
        description="Quantitative atomic-resolution electron microscopy: simulate HRTEM, STEM "
        "and CBED, build and relax structures, and measure strain and atoms in images.",
    )
    parser.add_argument("--version", action="version", version=f"atomscope {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            importlib.import_module(f"atomscope.cli.{module}").configure(name, subparser)
            if name not in ("train", "rerun"):  # train's --threads is its own (torch) option
                subparser.add_argument(
                    "--threads",
                    type=int,
                    default=None,
                    help="threads for FFTs, PyTorch, numba and BLAS (default: the cores not "
                    "busy with other processes, or ATOMSCOPE_THREADS)",
                )
    return parser


def _interrupt(signum: int, frame) -> None:
    from atomscope.outputs import termination_requested

    termination_requested.set()  # in case Python drops the exception (see outputs)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``atomscope`` command.

    SIGTERM is handled like Ctrl-C while a command runs, so a terminated job removes its
    staging directory and leaves ``--out`` as it was (exit status 130). Warnings print as one
    line each, ``atomscope CMD: warning: ...``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only=command).parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    from atomscope.outputs import termination_requested
    from atomscope.summary import invocation

    termination_requested.clear()
    token = invocation.set({"argv": argv, "cwd": os.getcwd()})
    with warnings.catch_warnings():
        warnings.showwarning = functools.partial(_show_warning, args.command)
        try:
            return _run(args)
        finally:
            invocation.reset(token)
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)


def _show_warning(command: str, message, category, filename, lineno, file=None, line=None):
    """A warning as one line, ``atomscope CMD: warning: ...``, without the source line."""
    print(f"atomscope {command}: warning: {message}", file=sys.stderr if file is None else file)


def _run(args) -> int:
    try:
        check_scheduler_options(args)
        if getattr(args, "out", None) is not None:
            from atomscope.outputs import check_output_directory

            check_output_directory(args.out, "--out")
        threads = getattr(args, "threads", None) if args.command != "train" else None
        if threads is None:
            code = args.func(args)
        else:
            from atomscope.core.threads import using

            with using(threads):
                code = args.func(args)  # a command that runs another (rerun) passes its status on
    except (ValueError, TypeError) as error:
        print(f"atomscope {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # disk full, permission denied, ... while reading or writing
        reason = error.strerror or str(error) or type(error).__name__
        where = f" ({error.filename})" if error.filename else ""
        print(f"atomscope {args.command}: error: {reason}{where}", file=sys.stderr)
        return 2
    except MemoryError as error:
        detail = f" ({error})" if str(error) else ""
        print(
            f"atomscope {args.command}: error: out of memory{detail}; try a smaller job",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"atomscope {args.command}: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    return code or 0


def run() -> None:
    """The console script: `main` with fewer garbage collections, then exit without the
    interpreter's teardown.

    Every output is closed and moved into place when `main` returns; the atexit handlers run
    (Dask, logging), stdout and stderr are flushed, and the process ends. Python's own teardown
    of numba/LLVM, matplotlib and SciPy modules would add 0.3–0.5 s to every command.
    """
    import gc

    # Python 3.11 collects the youngest generation every 700 allocations: a command's imports
    # alone trigger hundreds of collections (0.1–0.2 s); collect 50× less often
    gc.set_threshold(35_000, 10, 10)
    try:
        code = main()
    except SystemExit as exit:  # --help, --version and usage errors
        code = exit.code if isinstance(exit.code, int) else 2 if exit.code else 0
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
