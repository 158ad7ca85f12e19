"""Same seed, same bytes: on a fresh FFT cache and a warm one, with 1 or 2 threads (issue #12)."""

import os
import subprocess
import sys

from ase.build import bulk
from ase.io import write

_COMPARED = ("potential.tif", "exit_wave.npz", "image.tif", "detected.tif")


def _hrtem(tmp_path, tag: str, threads: str) -> dict[str, bytes]:
    env = {
        **os.environ,
        "ATOMSCOPE_CACHE_DIR": str(tmp_path / f"cache-{tag}"),
        "ATOMSCOPE_THREADS": threads,
    }
    env.pop("ATOMSCOPE_FFT", None)  # the default backend
    out = tmp_path / f"out-{tag}"
    arguments = ["hrtem", str(tmp_path / "si.xyz"), "--sampling", "0.03", "--out", str(out)]
    subprocess.run(
        [sys.executable, "-m", "atomscope.cli", *arguments],
        env=env,
        check=True,
        capture_output=True,
    )
    return {name: (out / name).read_bytes() for name in _COMPARED}


def test_same_seed_gives_the_same_bytes_on_fresh_and_warm_caches(tmp_path):
    # 272² grid: FFTW's measured plans for it differed between fresh caches in 3 of 3 runs
    write(tmp_path / "si.xyz", bulk("Si", cubic=True).repeat((2, 2, 1)), format="extxyz")
    first = _hrtem(tmp_path, "fresh-1", "2")
    assert _hrtem(tmp_path, "fresh-2", "2") == first
    assert _hrtem(tmp_path, "fresh-1", "1") == first  # warm cache, other thread count
