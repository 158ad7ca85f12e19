"""One property evaluation of a COMB3 Au parameter set (issue #20: ≤ 5 s), split per property,
and evaluations/s of the stage-1 fit.

The fit's evaluation (`atomscope.fitting.objective`, the settings of
examples/fitting/au_stage1.toml): charges held at 0, periodic cells down to 1.1 × the
short-range cutoff, LAMMPS's own minimiser for the slabs, (5, 7, 9)-layer slab series. The
reference: the same properties with `thermal.comb3_calculator` (charge equilibration), the
default 6 Å cells, (7, 9, 11, 13) layers and ASE's BFGS — what `properties.evaluate` does
with it by default. Printed: the seconds of every property (a shared computation — the lattice
constant, the slab series — where it is first needed), the total, evaluations/s, the ratio to
the reference and the largest difference to it in units of the target accuracy δp.

Two parameter sets: the Cu start of the fit (a = 3.61 Å) and an "Au-like" set with the decay
lengths stretched by 4.06/3.61 (a ≈ 4.06 Å, the target), as the fit will meet.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
from contention import run

from atomscope.fitting.objective import PropertyObjective, PropertySettings
from atomscope.fitting.properties import PROPERTY_NAMES
from atomscope.fitting.spec import FitSpec
from atomscope.thermal import comb3_calculator

SPEC = Path(__file__).resolve().parents[1] / "examples" / "fitting" / "au_stage1.toml"
REPEATS = 3


def au_like(spec: FitSpec) -> np.ndarray:
    """The start with λ, α₁ and β divided by 4.06/3.61 (distances stretched to Au's)."""
    stretch = 4.06 / 3.61
    values = np.array([p.start for p in spec.parameters])
    for index, parameter in enumerate(spec.parameters):
        if parameter.name in ("lambda", "alpha1", "beta"):
            values[index] /= stretch
    return values


def timed(objective: PropertyObjective, values: np.ndarray, names) -> tuple[dict, dict, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    result = objective.properties(values, names, timings=timings)
    return result, timings, time.perf_counter() - started


def main() -> None:
    spec = FitSpec.read(SPEC)
    fast = spec.objective()
    targets = {t.name: t for t in spec.targets}
    starred = fast.names

    scratch = tempfile.TemporaryDirectory(prefix="comb3-benchmark-")

    def reference_calculator(values):
        path = fast.calculator.write(values, Path(scratch.name) / "ffield.comb3")
        return comb3_calculator(["Au"], ffield=path)

    reference = PropertyObjective(reference_calculator, "Au", spec.targets, PropertySettings())
    print(
        f"COMB3 Au stage 1: {len(starred)} starred properties of seed Table 5.1, "
        f"{len(spec.parameters)} parameters; fit settings {spec.properties}"
    )
    for label, values in (("Cu start", np.array([p.start for p in spec.parameters])),
                          ("Au-like", au_like(spec))):  # fmt: skip
        runs = [timed(fast, values, starred) for _ in range(REPEATS)]
        result, timings, _ = runs[0]
        totals = sorted(seconds for *_, seconds in runs)
        median = totals[len(totals) // 2]
        print(f"\n{label}: a = {result['lattice_constant']:.4f} Å, error (Eq 5.14) "
              f"{fast(values).error:.4g}")  # fmt: skip
        for name in starred:
            value = result[name]
            shown = f"{value:10.4f}" if isinstance(value, float) else f"{type(value).__name__}"
            print(f"  {name:30s} {timings[name]:6.2f} s   {shown}")
        print(
            f"  one stage-1 evaluation: {median:.2f} s (median of {REPEATS}; min {totals[0]:.2f}, "
            f"max {totals[-1]:.2f}) → {1 / median:.2f} evaluations/s (target ≤ 5 s)"
        )
        _, all_timings, everything = timed(fast, values, PROPERTY_NAMES)
        slowest = sorted(all_timings.items(), key=lambda item: -item[1])[:4]
        print(
            f"  all {len(PROPERTY_NAMES)} properties (with d12, vacancy, diamond, sc, γ(110), "
            f"dimer length): {everything:.2f} s; slowest "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in slowest)
        )
        slow, slow_timings, slow_seconds = timed(reference, values, starred)
        deviation = max(
            abs(result[name] - slow[name]) / targets[name].delta
            for name in starred
            if isinstance(result[name], float) and isinstance(slow[name], float)
        )
        print(
            f"  reference (charge equilibration, 6 Å cells, 4 slabs, BFGS): {slow_seconds:.2f} s"
            f" → the fit's evaluation is {slow_seconds / median:.1f}× faster; largest difference "
            f"{deviation:.3f} δp; per property [s]: "
            + ", ".join(f"{name} {slow_timings[name]:.1f}" for name in starred)
        )


if __name__ == "__main__":
    run(main)
