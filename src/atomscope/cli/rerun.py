"""``atomscope rerun DIR/summary.json``: the same command, options and working directory again.

Every job records in its summary the argument list it was started with and the working
directory it ran in (`atomscope.summary`); seeds are options, so the run repeats exactly
and replaces its own earlier outputs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def recorded_invocation(path: str) -> dict:
    """The ``invocation`` {"argv", "cwd"} of a summary.json, or a ``ValueError`` naming SUMMARY."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"SUMMARY {path!r} does not exist")
    try:
        summary = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"SUMMARY {path!r} is not JSON: {error}") from None
    invocation = summary.get("invocation") if isinstance(summary, dict) else None
    if not isinstance(invocation, dict):
        raise ValueError(
            f"SUMMARY {path!r} records no command line (written by the Python API or an older "
            "atomscope); run the command again by hand"
        )
    argv, cwd = invocation.get("argv"), invocation.get("cwd")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise ValueError(f"SUMMARY {path!r}: invocation.argv must be a list of strings")
    if argv[0] == "rerun":
        raise ValueError(f"SUMMARY {path!r} records a rerun; rerun the original summary")
    if not isinstance(cwd, str) or not Path(cwd).is_dir():
        raise ValueError(f"SUMMARY {path!r}: its working directory {cwd!r} does not exist")
    return {"argv": argv, "cwd": cwd}


def _rerun(args: argparse.Namespace) -> int:
    from atomscope.cli import main

    invocation = recorded_invocation(args.summary)
    print(f"atomscope {' '.join(invocation['argv'])}  (in {invocation['cwd']})")
    previous = os.getcwd()
    os.chdir(invocation["cwd"])
    try:
        return main(invocation["argv"])
    finally:
        os.chdir(previous)


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the argument of ``atomscope rerun`` to its ``parser``."""
    parser.add_argument("summary", help="a summary.json written by any atomscope command")
    parser.set_defaults(func=_rerun)
