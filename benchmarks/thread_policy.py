"""The default thread count against fixed ones, quiet and next to busy processes (issue #15).

For each job — the seed's Au-particle HRTEM (exit wave + image), a SrTiO3 HAADF scan and the
graphene recognizer on 1024² — a fresh process times it with ``ATOMSCOPE_THREADS`` = 1, = the
core count and unset (the default policy, `atomscope.core.threads`), with 0 and with
``--busy N`` (default 1) busy-loop processes running. Printed: seconds per setting and the
default's ratio to the best fixed count (target ≤ 1.2 in every column).

    python benchmarks/thread_policy.py [--busy N] [--repeats R] [--rounds K]

Each setting is measured in ``K`` rounds (default 2) with the settings' order rotated, and the
best is kept, so the VM's drift does not favour whichever setting ran first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

JOBS = {
    "hrtem": """
from atomscope.jobs.hrtem import HRTEMSettings, demo_structure, prepare
from atomscope.waves.ensemble import frozen_phonon_average
from atomscope.waves.plane import PlaneWave
settings = HRTEMSettings(camera_sampling=None)
potential, ctf, _, _ = prepare(demo_structure(), settings)
run = lambda: frozen_phonon_average(PlaneWave(settings.energy), potential, ctf, progress=False)
""",
    "haadf": """
from ase.build import bulk
from atomscope import Potential
from atomscope.waves import AnnularDetector, GridScan, Probe
potential = Potential(bulk("Si", cubic=True).repeat((2, 2, 4)), sampling=0.04,
                      slice_thickness=1.3575)
probe = Probe(energy=200e3, semiangle_cutoff=20)
scan = GridScan((0, 0), (5.43, 5.43), sampling=0.4)
run = lambda: probe.scan(potential, [AnnularDetector(70, 200)], scan)
""",
    "recognizer": """
import numpy as np
from atomscope.learning.infer import Recognizer
recognizer = Recognizer.pretrained("graphene")
image = 1 + 0.1 * np.random.default_rng(0).standard_normal((1024, 1024))
run = lambda: recognizer.predict(image, 0.12)
""",
}
TIMER = """
import time
run()
best = float("inf")
for _ in range({repeats}):
    start = time.perf_counter()
    run()
    best = min(best, time.perf_counter() - start)
print(best)
"""


def seconds(job: str, threads: str | None, repeats: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "ATOMSCOPE_THREADS"}
    if threads is not None:
        env["ATOMSCOPE_THREADS"] = threads
    code = JOBS[job] + TIMER.format(repeats=repeats)
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(run.stdout.split()[-1])


def measure(busy: int, repeats: int, rounds: int) -> dict[str, dict[str, float]]:
    """Best time per job and setting over ``rounds`` rounds, the settings in a rotated order
    each round (this VM's speed drifts by tens of percent within minutes)."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        time.sleep(0.5)
        settings = ["1", str(len(os.sched_getaffinity(0))), None]
        best = {job: {} for job in JOBS}
        for round_ in range(rounds):
            order = settings[round_ % 3 :] + settings[: round_ % 3]
            for job in JOBS:
                for threads in order:
                    key = "default" if threads is None else threads
                    value = seconds(job, threads, repeats)
                    best[job][key] = min(best[job].get(key, float("inf")), value)
        return {
            job: {key: times[key] for key in ("1", settings[1], "default")}
            for job, times in best.items()
        }
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=1, help="busy processes of the second run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (best)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, settings rotated")
    args = parser.parse_args()
    results = {
        busy: measure(busy, args.repeats, args.rounds) for busy in dict.fromkeys((0, args.busy))
    }
    for busy, table in results.items():
        print(f"{busy} busy process(es):")
        for job, times in table.items():
            fixed = {k: v for k, v in times.items() if k != "default"}
            best = min(fixed.values())
            cells = ", ".join(f"threads {k}: {v:.3f} s" for k, v in times.items())
            print(f"  {job:10s} {cells}; default / best fixed {times['default'] / best:.2f}")


if __name__ == "__main__":
    main()
