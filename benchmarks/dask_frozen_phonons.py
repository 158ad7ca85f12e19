"""Frozen-phonon HRTEM on Dask: LocalCluster with 2 workers vs one process, 8 configurations.

Issue #6 expects close to 2× on 2 cores. The single process already runs its FFTs on both cores
(FFTW threads), so the gain left for Dask is what a single multislice leaves idle (potential
evaluation, element-wise steps), minus shipping configurations and results between processes;
small grids (512², 0.25 s per configuration) come out slower on Dask. Prints both times, the
ratio and whether the images are bit-identical.

    python benchmarks/dask_frozen_phonons.py
"""

from __future__ import annotations

import time

import numpy as np
from ase.cluster.cubic import FaceCenteredCubic

from atomscope import CTF, PlaneWave, Potential
from atomscope.parallel import client
from atomscope.thermal import EinsteinPhonons
from atomscope.waves.ensemble import frozen_phonon_average

NUM_CONFIGS = 8


def main():
    particle = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [6, 9, 5])
    particle.center(vacuum=4)
    snapshots = EinsteinPhonons(particle, sigmas=0.087, num_configs=NUM_CONFIGS, rng=0)
    potential = Potential(snapshots, gpts=1024, slice_thickness=0.5)
    ctf = CTF(energy=300e3, Cs=-2e5, defocus=-50, focal_spread=20, semiangle_cutoff=25)
    wave = PlaneWave(300e3)
    print(
        f"{len(particle)} Au atoms, {potential.gpts} px, {potential.num_slices} slices, "
        f"{NUM_CONFIGS} configurations"
    )

    frozen_phonon_average(wave, potential.configurations[0], ctf)  # plan FFTs, warm caches
    start = time.perf_counter()
    local = frozen_phonon_average(wave, potential, ctf)
    local_seconds = time.perf_counter() - start

    with client(workers=2) as dask_client:
        frozen_phonon_average(wave, potential.configurations[0], ctf, client=dask_client)
        start = time.perf_counter()
        distributed = frozen_phonon_average(wave, potential, ctf, client=dask_client)
        dask_seconds = time.perf_counter() - start

    identical = np.array_equal(local.image.array, distributed.image.array)
    print(
        f"one process: {local_seconds:.2f} s; LocalCluster 2 workers: {dask_seconds:.2f} s; "
        f"speed-up {local_seconds / dask_seconds:.2f}× (target ~2×); "
        f"images bit-identical: {identical}"
    )


if __name__ == "__main__":
    main()
