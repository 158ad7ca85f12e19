"""MD speed: asap3 EMT vs ASE's own EMT, Langevin steps per second on the same ~1000-atom Au
particle, measured in one run. Issue #4 target: ratio > 20×.
"""

import time

import numpy as np
from contention import run

from atomscope.structures import wulff_particle
from atomscope.thermal import MDPhonons, relax


def steps_per_second(atoms, calculator, steps):
    phonons = MDPhonons(
        atoms,
        calculator,
        temperature=300,
        timestep=5,
        equilibration=0,
        num_configs=1,
        interval=steps,
        rng=0,
    )
    start = time.perf_counter()
    phonons[0]
    return steps / (time.perf_counter() - start)


def main():
    particle = relax(
        wulff_particle("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [1.0, 1.1, 1.0], size=1000)
    )
    print(f"Au particle: {len(particle)} atoms, Langevin 300 K, 5 fs")
    asap = steps_per_second(particle, "emt", 500)
    ase = steps_per_second(particle, "ase_emt", 10)
    print(f"asap3 EMT : {asap:8.1f} steps/s")
    print(f"ASE EMT   : {ase:8.2f} steps/s")
    print(f"ratio asap3 / ASE = {asap / ase:.0f}x (target > 20x)")
    phonons = MDPhonons(
        particle,
        "emt",
        temperature=300,
        timestep=5,
        equilibration=500,
        num_configs=20,
        interval=20,
        rng=0,
    )
    temperatures = [snapshot.get_temperature() for snapshot in phonons]
    print(
        f"snapshot kinetic temperature: {np.mean(temperatures):.1f} K ± "
        f"{np.std(temperatures):.1f} K (target 300 K ± 5 %)"
    )


if __name__ == "__main__":
    run(main)
