"""Hostile-input fuzzing of the whole command line (issue #12).

Generates bad invocations of every command — corrupt input files (truncations, bit flips,
garbage, empty files of every format a command reads), hostile output directories (summaries
and manifests that list ``..``, absolute paths and the user's folders, symbolic links named like
outputs, the user's files named like outputs) and extreme numbers (0, negative, NaN, inf, 1e300,
1e-300, huge sizes) — runs each in a fresh process and counts:

- tracebacks (any "Traceback" on stderr) and exit codes other than 0, 2 and 130 (signals too);
- files outside the run's output that changed or vanished, and files the user had in the output
  directory before the run that changed or vanished (the command's own manifest,
  ``.atomscope-COMMAND.json``, which a case may have planted with hostile content, is the
  command's to rewrite);
- for every accepted job that printed a memory estimate: peak RSS (VmHWM at exit) / estimate.

Targets: 0, 0, 0, 0 and every ratio ≤ 1.2. Jobs run under ``ATOMSCOPE_MEMORY_LIMIT=2G`` so that
accepted jobs stay small; a job still running after ``--timeout`` seconds is killed and counted
apart (a slow job is not a crash, but it is reported).

    python benchmarks/fuzz_cli.py [--count 520] [--seed 0] [--timeout 120] [--sample N]
        [--match LABEL-PART]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from contention import run

EXTREMES = ("0", "-1", "nan", "inf", "-inf", "1e300", "1e-300", "1e-9", "abc", "")
ESTIMATE = re.compile(r"memory estimate ([0-9.]+) ([KMG]i?B)")
# runs the command and records its peak resident set (VmHWM, reset by exec unlike ru_maxrss,
# which a child inherits from the process that started it) when it exits
LAUNCHER = """
import atexit, sys
def record():
    with open("/proc/self/status") as status:
        peak = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    with open(sys.argv[1], "w") as out:
        out.write(peak[0])
atexit.register(record)
from atomscope.cli import main
sys.exit(main(sys.argv[2:]))
"""
UNITS = {"KiB": 2**10, "KB": 2**10, "MiB": 2**20, "MB": 2**20, "GiB": 2**30, "GB": 2**30}


@dataclass
class Case:
    """One invocation: its arguments and what the run's directory holds before it starts."""

    label: str
    arguments: list[str]
    prepare: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) in the out dir


@dataclass
class Outcome:
    case: Case
    code: int | None
    seconds: float
    traceback: bool
    lost_inside: list[str]
    touched_outside: list[str]
    peak_rss: int
    estimate: int | None
    stderr: str


# ---------------------------------------------------------------------------------------------
# valid inputs and their corruptions


def make_inputs(directory: Path) -> dict[str, Path]:
    """Small valid files of every kind the commands read."""
    import ase.io
    from ase.build import bulk

    from atomscope.analysis.synthetic import lattice_image, square_lattice
    from atomscope.io import write_tiff

    directory.mkdir(parents=True)
    silicon = bulk("Si", cubic=True)
    files = {}
    for suffix in ("xyz", "cif", "traj"):
        files[suffix] = directory / f"si.{suffix}"
        ase.io.write(files[suffix], silicon)
    image = lattice_image(square_lattice((96, 96), 8.0, margin=4), (96, 96), width=1.5)
    files["tif"] = write_tiff(directory / "lattice.tif", image, sampling=0.12)
    files["npz"] = directory / "lattice.npz"
    np.savez(files["npz"], array=image, sampling=np.array([0.12, 0.12]))
    files["dm3"] = directory / "lattice.dm3"
    files["dm3"].write_bytes(files["tif"].read_bytes())  # not a DigitalMicrograph file
    frames = np.stack([np.roll(image, shift, axis=0) for shift in range(4)])
    files["stack"] = write_tiff(directory / "stack.tif", frames, sampling=0.12)
    files["flat"] = write_tiff(
        directory / "flat.tif",
        np.random.default_rng(0).poisson(500.0, (4, 96, 96)).astype(np.float32),
        sampling=0.12,
    )
    files["toml"] = directory / "spec.toml"
    files["toml"].write_text(SPEC)
    weights = Path(__file__).parents[1] / "src/atomscope/learning/weights/graphene.pt"
    files["pt"] = directory / "graphene.pt"
    shutil.copyfile(weights, files["pt"])
    return files


def corruptions(path: Path, rng: np.random.Generator, directory: Path) -> list[Path]:
    """Truncated, bit-flipped, garbage and empty versions of ``path`` (same suffix)."""
    data = path.read_bytes()
    variants = {
        "empty": b"",
        "one-byte": data[:1],
        "half": data[: len(data) // 2],
        "all-but-one": data[:-1],
        "garbage": rng.integers(0, 256, len(data), dtype=np.uint8).tobytes(),
    }
    for flips in (1, 16, 256):
        flipped = bytearray(data)
        for position in rng.integers(0, len(data), flips):
            flipped[position] ^= 1 << int(rng.integers(0, 8))
        variants[f"{flips}-flips"] = bytes(flipped)
    made = []
    for name, content in variants.items():
        corrupt = directory / f"{path.stem}-{name}{path.suffix}"
        corrupt.write_bytes(content)
        made.append(corrupt)
    return made


# ---------------------------------------------------------------------------------------------
# invocations


def structure_commands(structure: str) -> list[list[str]]:
    """Every command that reads a structure, with small settings."""
    return [
        ["hrtem", structure, "--sampling", "0.1", "--no-camera"],
        [
            "stem",
            structure,
            "--sampling",
            "0.1",
            "--detector",
            "annular:40:80",
            "--scan-sampling",
            "1.5",
        ],
        ["cbed", structure, "--sampling", "0.1"],
        ["relax", structure, "--steps", "5"],
        ["phonons", structure, "--sigma", "0.1", "--configs", "2"],
    ]


NUMERIC_OPTIONS = {
    "hrtem": [
        "--sampling",
        "--energy",
        "--slice-thickness",
        "--Cs",
        "--defocus",
        "--semiangle-cutoff",
        "--focal-spread",
        "--angular-spread",
        "--deflection",
        "--camera-sampling",
        "--dose",
        "--rng",
    ],
    "stem": [
        "--sampling",
        "--energy",
        "--semiangle-cutoff",
        "--defocus",
        "--scan-sampling",
        "--slice-thickness",
        "--batch-size",
        "--prism",
    ],
    "cbed": ["--sampling", "--energy", "--semiangle-cutoff", "--max-angle", "--slice-thickness"],
    "relax": ["--fmax", "--steps"],
    "phonons": ["--sigma", "--configs", "--temperature", "--rng"],
    "strain": ["--sampling", "--min-distance", "--threshold", "--rmax", "--min-matched"],
    "recognize": ["--sampling", "--threshold"],
}

#: A tiny valid experiment (about a second); its keys get the extreme values below.
SPEC = """name = "fuzz"
[particles]
sizes_nm = [1.2]
relaxation = "none"
[microscope]
simulation_sampling_A = 0.1
vacuum_A = 4.0
[sweep]
defocus_A = [85]
dose = [1e4]
sampling_A = [0.15]
noise_realisations = 2
"""
SPEC_KEYS = [
    ("particles", "sizes_nm", True),
    ("particles", "snapshots", False),
    ("particles", "temperature_K", False),
    ("microscope", "energy_eV", False),
    ("microscope", "Cs_A", False),
    ("microscope", "aperture_mrad", False),
    ("microscope", "simulation_sampling_A", False),
    ("microscope", "vacuum_A", False),
    ("sweep", "defocus_A", True),
    ("sweep", "tilt_mrad", True),
    ("sweep", "dose", True),
    ("sweep", "sampling_A", True),
    ("sweep", "noise_realisations", False),
]
TOML_EXTREMES = ("0", "-1", "nan", "inf", "-inf", "1e300", "1e-300", "1e-9", '"abc"', "[]")
#: the newer commands that read images, with small valid arguments (after the input file)
READER_COMMANDS = {
    "series": ("stack", ["--sampling", "0.12"]),
    "ewr": (
        "stack",
        ["--defocus", "-100", "0", "100", "200", "--sampling", "0.12", "--max-iter", "5"],
    ),
    "mtf": ("flat", ["--sampling", "0.12"]),
}

BUILD_CASES = [
    ["build", "particle", "--radius", "1e4", "2e4"],
    ["build", "particle", "--radius", "-1", "5"],
    ["build", "particle", "--radius", "nan", "5"],
    ["build", "particle", "--growth", "1e9", "2e9"],
    ["build", "particle", "--temperature", "-1"],
    ["build", "particle", "--vacuum", "1e300"],
    ["build", "particle", "--element", "Xx"],
    ["build", "wulff", "--size", "1e4"],
    ["build", "wulff", "--size", "1e12"],
    ["build", "wulff", "--size", "-3"],
    ["build", "wulff", "--size", "nan"],
    ["build", "wulff", "--surfaces", "000"],
    ["build", "wulff", "--energies", "-1", "1"],
    ["build", "graphene", "--extent", "1e6"],
    ["build", "graphene", "--extent", "0"],
    ["build", "graphene", "--extent", "inf"],
    ["build", "graphene", "--form", "polycrystal", "--grains", "0"],
    ["build", "graphene", "--form", "polycrystal", "--grains", "100000"],
    ["build", "graphene", "--form", "random", "--holes", "5", "1"],
]

HOSTILE_DIRECTORIES = [
    [("summary", '{"outputs": [".."]}')],
    [("summary", '{"outputs": ["data", "/etc/hostname", "../sentinel.txt", "notes.txt"]}')],
    [("manifest", ".."), ("manifest", "data"), ("manifest", "../sentinel.txt")],
    [("symlink", "image.tif"), ("symlink", "summary.json")],
    [("user-file", "summary.json")],
    [("user-file", "image.tif"), ("user-file", "cbed.npz"), ("user-file", "points.csv")],
    [("user-dir", "summary.json")],
    [("user-dir", "4dstem.zarr")],
    [("staging", ".atomscope-hrtem-staging-x"), ("staging", ".staging-old")],
]


def _set_key(spec: str, section: str, key: str, setting: str) -> str:
    """``spec`` with ``key`` of ``[section]`` set by the TOML line ``setting``."""
    rows = spec.splitlines()
    if any(row.startswith(f"{key} =") for row in rows):
        return "\n".join(setting if row.startswith(f"{key} =") else row for row in rows) + "\n"
    return spec.replace(f"[{section}]\n", f"[{section}]\n{setting}\n", 1)


def generate(files: dict[str, Path], corrupt: dict[str, list[Path]], count: int, rng) -> list[Case]:
    """At least ``count`` invocations: every corrupt file in every reader, every extreme value in
    every numeric option, hostile directories under valid runs, builders at extreme sizes."""
    cases = []
    for kind in ("xyz", "cif", "traj"):
        for path in corrupt[kind]:
            for arguments in structure_commands(str(path)):
                cases.append(Case(f"corrupt {path.name}", arguments))
    for kind in ("tif", "npz", "dm3"):
        for path in corrupt[kind]:
            cases.append(
                Case(
                    f"corrupt {path.name}",
                    ["strain", str(path), "--sampling", "0.12", "--template", "square"],
                )
            )
            cases.append(Case(f"corrupt {path.name}", ["recognize", str(path)]))
    for path in corrupt["pt"]:
        cases.append(
            Case(f"corrupt {path.name}", ["recognize", str(files["tif"]), "--model", str(path)])
        )
        cases.append(
            Case(
                f"corrupt {path.name}",
                ["train", "--iterations", "1", "--structures", "1", "--init-weights", str(path)],
            )
        )
    base = {
        **{args[0]: args for args in structure_commands(str(files["xyz"]))},
        "strain": ["strain", str(files["tif"]), "--template", "square"],
        "recognize": ["recognize", str(files["tif"])],
    }
    for command, options in NUMERIC_OPTIONS.items():
        for option in options:
            for value in EXTREMES:
                cases.append(Case(f"{command} {option} {value!r}", [*base[command], option, value]))
    cases += [Case(" ".join(arguments), arguments) for arguments in BUILD_CASES]
    for command, (kind, arguments) in READER_COMMANDS.items():
        for path in [files[kind], *corrupt[kind], files["tif"]]:
            cases.append(Case(f"{command} {path.name}", [command, str(path), *arguments]))
        for option in [a for a in arguments if a.startswith("--")]:
            for value in EXTREMES:
                changed = list(arguments)
                changed[changed.index(option) + 1] = value
                cases.append(
                    Case(f"{command} {option} {value!r}", [command, str(files[kind]), *changed])
                )
    for path in [files["toml"], *corrupt["toml"]]:
        cases.append(Case(f"experiment {path.name}", ["experiment", "run", str(path)]))
    variants = files["toml"].parent / "specs"
    variants.mkdir(exist_ok=True)
    for section, key, is_array in SPEC_KEYS:
        for value in TOML_EXTREMES:
            setting = f"{key} = {f'[{value}]' if is_array and value != '[]' else value}"
            spec = variants / f"{section}-{key}-{len(cases)}.toml"
            spec.write_text(_set_key(SPEC, section, key, setting))
            label = f"experiment {section}.{key} = {value}"
            cases.append(Case(label, ["experiment", "run", str(spec)]))
    status = ["experiment", "status", str(files["toml"].parent)]
    cases.append(Case("experiment status of a non-experiment", status))
    base["experiment"] = ["experiment", "run", str(files["toml"])]
    experiment_directories = [
        [("user-file", "results.csv")],
        [("user-file", "spec.json")],
        [("user-dir", "results.zarr")],
    ]
    for prepare in [*HOSTILE_DIRECTORIES, *experiment_directories]:
        for command in ("hrtem", "stem", "cbed", "strain", "recognize", "experiment"):
            cases.append(Case(f"{command} into {prepare}", base[command], prepare))
    cases.append(Case("hrtem --out /proc/x", [*base["hrtem"], "--out", "/proc/atomscope-x"]))
    while len(cases) < count:  # random combinations of two extremes
        command = str(rng.choice(list(NUMERIC_OPTIONS)))
        first, second = rng.choice(NUMERIC_OPTIONS[command], 2)
        values = rng.choice(EXTREMES, 2)
        cases.append(
            Case(
                f"{command} {first}={values[0]!r} {second}={values[1]!r}",
                [*base[command], str(first), str(values[0]), str(second), str(values[1])],
            )
        )
    return cases


# ---------------------------------------------------------------------------------------------
# running and checking


def snapshot(roots: list[Path], skip: Path | None = None) -> dict[str, str]:
    """Every path under ``roots`` (not following links) with a digest of its content."""
    state = {}
    for root in roots:
        for path in sorted([root, *root.rglob("*")]) if root.exists() else []:
            if skip is not None and (path == skip or skip in path.parents):
                continue
            if path.is_symlink():
                state[str(path)] = "link:" + os.readlink(path)
            elif path.is_dir():
                state[str(path)] = "dir"
            else:
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def prepare_run(run: Path, out: Path, prepare: list[tuple[str, str]], command: str) -> None:
    """A sibling of ``out`` and the user's files in it before the run, plus the hostile entries
    of the case (which point at the sibling)."""
    run.mkdir(parents=True)
    (run / "sentinel.txt").write_text("beside --out, never to be touched")
    if out.parent != run:
        return
    out.mkdir()
    (out / "notes.txt").write_text("the user's notes")
    (out / "data").mkdir()
    (out / "data" / "raw.dm4").write_bytes(b"experiment")
    manifest = {}
    for kind, name in prepare:
        if kind == "summary":
            (out / "summary.json").write_text(name)
        elif kind == "manifest":
            manifest[name] = ["sha256:0"]
        elif kind == "symlink":
            (out / name).symlink_to(run / "sentinel.txt")
        elif kind == "user-file":
            (out / name).write_text(f"the user's {name}")
        elif kind == "user-dir":
            (out / name).mkdir()
            (out / name / "keep").write_text("the user's")
        elif kind == "staging":
            (out / name).mkdir()
            (out / name / "partial").write_text("unknown owner")
    if manifest:
        manifest_file = out / f".atomscope-{command}.json"
        manifest_file.write_text(json.dumps({"command": command, "outputs": manifest}))


def output_arguments(case: Case, run: Path) -> tuple[list[str], Path]:
    """The case's arguments with its output location inside ``run``, and that location."""
    arguments = list(case.arguments)
    if "--out" in arguments:
        return arguments, Path(arguments[arguments.index("--out") + 1])
    return [*arguments, "--out", str(run / "out")], run / "out"


def execute(case: Case, workspace: Path, index: int, timeout: float, env: dict) -> Outcome:
    run = workspace / "runs" / f"{index:04d}"
    arguments, out = output_arguments(case, run)
    prepare_run(run, out, case.prepare, arguments[0])
    watched = [workspace / "inputs", workspace / "corrupt", run]
    inside_before = snapshot([out]) if out.exists() else {}
    outside_before = snapshot(watched, skip=out)
    logs = workspace / "logs"
    logs.mkdir(exist_ok=True)
    stdout_path, stderr_path = logs / f"{index:04d}.out", logs / f"{index:04d}.err"
    peak_path = logs / f"{index:04d}.peak"
    start = time.perf_counter()
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(peak_path), *arguments],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=run,
        )
        timer = threading.Timer(timeout, lambda: os.kill(process.pid, signal.SIGKILL))
        timer.start()
        _, status, _ = os.wait4(process.pid, 0)
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    text = stderr_path.read_text(errors="replace")
    printed = stdout_path.read_text(errors="replace") + text
    estimates = [float(v) * UNITS[u] for v, u in ESTIMATE.findall(printed)]
    inside_after = snapshot([out]) if out.exists() else {}
    outside_after = snapshot(watched, skip=out)
    timed_out = process.returncode == -signal.SIGKILL and seconds >= timeout
    outcome = Outcome(
        case=case,
        code=None if timed_out else process.returncode,
        seconds=seconds,
        traceback="Traceback (most recent call last)" in text,
        lost_inside=[
            p
            for p, d in inside_before.items()
            if inside_after.get(p) != d and not Path(p).name == f".atomscope-{arguments[0]}.json"
        ],
        touched_outside=[
            p
            for p in sorted(set(outside_before) | set(outside_after))
            if outside_before.get(p) != outside_after.get(p)
        ],
        peak_rss=int(peak_path.read_text()) * 1024 if peak_path.exists() else 0,
        estimate=int(max(estimates)) if estimates else None,
        stderr=text.strip().splitlines()[-1] if text.strip() else "",
    )
    if not (outcome.traceback or outcome.touched_outside or outcome.lost_inside):
        shutil.rmtree(run, ignore_errors=True)  # keep the workspace small; failures stay
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=520, help="invocations (at least)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0, help="[s] per invocation")
    parser.add_argument("--sample", type=int, default=None, help="run only N random cases")
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    parser.add_argument("--match", default=None, help="run only cases whose label contains this")
    options = parser.parse_args()
    rng = np.random.default_rng(options.seed)
    workspace = Path(tempfile.mkdtemp(prefix="atomscope-fuzz-"))
    files = make_inputs(workspace / "inputs")
    corrupt_dir = workspace / "corrupt"
    corrupt_dir.mkdir()
    corrupt = {kind: corruptions(path, rng, corrupt_dir) for kind, path in files.items()}
    cache = Path(tempfile.mkdtemp(prefix="atomscope-fuzz-cache-"))
    env = {
        **os.environ,
        "ATOMSCOPE_MEMORY_LIMIT": "2G",
        "ATOMSCOPE_CACHE_DIR": str(cache),
        "MPLCONFIGDIR": str(cache),
        "PYTHONWARNINGS": "ignore",
    }
    cases = generate(files, corrupt, options.count, rng)
    if options.match is not None:
        cases = [case for case in cases if options.match in case.label]
    if options.sample is not None:
        cases = [cases[i] for i in sorted(rng.choice(len(cases), options.sample, replace=False))]
    outcomes = []
    try:
        from tqdm import tqdm

        for index, case in enumerate(tqdm(cases, desc="invocations", unit="run")):
            outcomes.append(execute(case, workspace, index, options.timeout, env))
    except KeyboardInterrupt:
        print(f"interrupted after {len(outcomes)} invocations")
    report(outcomes)
    if options.keep:
        print(f"workspace kept: {workspace}")
    else:
        shutil.rmtree(workspace, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)


def report(outcomes: list[Outcome]) -> None:
    tracebacks = [o for o in outcomes if o.traceback]
    bad_codes = [o for o in outcomes if o.code is not None and o.code not in (0, 2, 130)]
    timeouts = [o for o in outcomes if o.code is None]
    outside = [o for o in outcomes if o.touched_outside]
    lost = [o for o in outcomes if o.lost_inside]
    accepted = [o for o in outcomes if o.code == 0]
    ratios = [(o.peak_rss / o.estimate, o) for o in accepted if o.estimate]
    print(
        f"{len(outcomes)} invocations: {len(accepted)} accepted (exit 0), "
        f"{sum(o.code == 2 for o in outcomes)} refused (exit 2), {len(timeouts)} timed out"
    )
    print(f"tracebacks: {len(tracebacks)} (target 0)")
    print(f"exit codes other than 0/2/130: {len(bad_codes)} (target 0)")
    print(f"runs that touched files outside their output: {len(outside)} (target 0)")
    print(f"runs that lost or changed the user's files in their output: {len(lost)} (target 0)")
    if ratios:
        worst, case = max(ratios, key=lambda item: item[0])
        print(
            f"peak RSS / printed estimate over {len(ratios)} accepted jobs: max {worst:.2f} "
            f"({case.case.label}), median {np.median([r for r, _ in ratios]):.2f} "
            f"(target ≤ 1.2)"
        )
    over = [(r, o) for r, o in ratios if r > 1.2]
    no_estimate = [o for o in accepted if o.estimate is None]
    print(f"accepted jobs without a printed estimate: {len(no_estimate)}")
    for title, group in (
        ("traceback", tracebacks),
        ("exit code", bad_codes),
        ("outside", outside),
        ("lost", lost),
        ("timeout", timeouts),
        ("RSS > 1.2 × estimate", [o for _, o in over]),
    ):
        for outcome in group[:15]:
            detail = outcome.touched_outside[:3] or outcome.lost_inside[:3] or outcome.stderr
            print(
                f"  [{title}] {outcome.case.label} (exit {outcome.code}, "
                f"{outcome.seconds:.1f} s): {detail}"
            )


if __name__ == "__main__":
    run(main)
