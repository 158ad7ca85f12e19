"""FFTW wisdom survives concurrent processes; an unwritable cache is one warning (issue #15)."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("pyfftw")

PLAN = """
import sys, numpy as np
from atomscope.core import fft
shape = (2, int(sys.argv[1]), int(sys.argv[1]))
array = fft.empty(shape)
array[...] = 1
fft.ifft2_inplace(fft.fft2_inplace(array))
print(abs(array - 1).max())
"""
WISDOM_ONLY = """
import sys, pyfftw
from atomscope.core import fft
fft._load_wisdom()
for n in map(int, sys.argv[1:]):
    scratch = pyfftw.empty_aligned((2, n, n), dtype="complex64")
    pyfftw.FFTW(scratch, scratch, axes=(-2, -1), threads=fft.fft_threads(),
                flags=("FFTW_MEASURE", "FFTW_WISDOM_ONLY"))  # RuntimeError without wisdom
print("planned from wisdom")
"""


def _env(cache) -> dict:
    return {
        **os.environ,
        "ATOMSCOPE_FFT": "fftw",
        "ATOMSCOPE_CACHE_DIR": str(cache),
        "ATOMSCOPE_THREADS": "1",
    }


def test_two_processes_planning_at_once_both_keep_their_plans(tmp_path):
    env = _env(tmp_path / "cache")
    sizes = ("96", "120")
    runs = [
        subprocess.Popen([sys.executable, "-c", PLAN, size], env=env, stdout=subprocess.PIPE)
        for size in sizes
    ]
    for run in runs:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0 and float(output) < 1e-5
    check = subprocess.run(
        [sys.executable, "-c", WISDOM_ONLY, *sizes], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "planned from wisdom" in check.stdout


def test_an_unwritable_wisdom_location_is_one_warning(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    script = PLAN + "fft.fft2_inplace(fft.empty((2, 64, 64)))\n"
    run = subprocess.run(
        [sys.executable, "-c", script, "48"],
        env=_env(blocked / "cache"),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and float(run.stdout) < 1e-5
    warnings = [line for line in run.stderr.splitlines() if "wisdom cannot be saved" in line]
    assert len(warnings) == 1
