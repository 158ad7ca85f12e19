"""core/memory.py: estimates by job type, and peak memory of real jobs against them."""

import json
import subprocess
import sys

import pytest

from atomscope.core.memory import estimate

# Runs in a fresh process, whose peak resident memory (VmHWM, not inherited across exec) is
# still the baseline after the imports and the potential; prints peak growth / estimate.
JOB = """
import json, sys
from pathlib import Path
from ase.spacegroup import crystal
from atomscope.potentials.projected import Potential
from atomscope.waves.detectors import AnnularDetector, PixelatedDetector
from atomscope.waves.prism import PRISM
from atomscope.waves.probe import Probe
from atomscope.waves.scan import GridScan

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

atoms = crystal("Si", [(0, 0, 0)], spacegroup=227, cellpar=5.431).repeat((4, 4, 1))
potential = Potential(atoms, gpts=256, slice_thickness=2.7155)
probe = Probe(200e3, 20)
detectors = [AnnularDetector(30, 60), PixelatedDetector(40)]
scan = GridScan(gpts=(16, 16))
if sys.argv[1] == "prism":
    job = PRISM(probe, 2)
    nbytes = job.estimate(potential, 256, detectors)
else:
    job = probe
    nbytes = probe.plan_batches(potential, 256, detectors).nbytes
before = peak()
job.scan(potential, detectors, scan)
print(json.dumps({"ratio": (peak() - before) / nbytes, "estimate": nbytes}))
"""


@pytest.mark.parametrize("method", ["probe", "prism"])
def test_peak_memory_growth_of_a_scan_stays_within_the_estimate(method):
    result = subprocess.run(
        [sys.executable, "-c", JOB, method], capture_output=True, text=True, check=True
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    # the estimate dominates the job (> 100 MiB), and the peak stays within 1.2× of it
    assert measured["estimate"] > 100 * 2**20
    assert 0.5 < measured["ratio"] <= 1.2, measured


def test_estimates_count_bytes_per_pixel_of_each_job():
    assert estimate("waves", gpts=(100, 50), count=3) == 8 * 100 * 50 * 3
    assert estimate("intensity", gpts=10) == 400
    assert estimate("potential_slices", gpts=(4, 5), num_slices=6) == 4 * 20 * 6
    assert estimate("smatrix", gpts=8, num_beams=5) == 8 * 64 * 5


def test_multislice_estimates_count_plans_buffers_and_structure_factors():
    # FFTW plans: complex64 forward + backward (2 × 8 B/px), irfft half spectrum + output (8)
    assert estimate("fft_plans", gpts=(100, 50)) == 24 * 100 * 50
    # one wave through the slices: 112 B/px, and 4 B/px per element's form factor
    assert estimate("multislice", gpts=64, num_elements=2) == (112 + 8) * 64 * 64
    # kx phases (complex128 argument and exponential, 32 B each) dominate for a square grid
    assert estimate("structure_factor", gpts=(256, 256), num_atoms=10) == 10 * 32 * 256
    # a wide ny: the ky phases (32 B each over ny/2 + 1) on top of the kept kx phases (8 B)
    assert estimate("structure_factor", gpts=(4, 1000), num_atoms=1) == 8 * 4 + 32 * 501


def test_estimate_refuses_unknown_jobs_and_sizes():
    with pytest.raises(ValueError, match="job must be one of"):
        estimate("everything", gpts=8)
    with pytest.raises(ValueError, match="count must be a non-negative integer"):
        estimate("waves", gpts=8, count=-1)
    with pytest.raises(ValueError, match="num_beams"):
        estimate("smatrix", gpts=8)
