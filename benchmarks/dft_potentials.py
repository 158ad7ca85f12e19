"""DFT (GPAW all-electron) vs independent-atom potentials (issue #17).

Printed:

* hBN monolayer: the (10) and (11) Fourier coefficients of the projected potential [V·Å] for
  grid refinement 1, 2 and 4 beside the IAM (abTEM 1.0.11's GPAWPotential reported 19.24 for
  (10), its fix 9.98);
* silicon (8-atom cubic cell, PBE): X-ray structure factors (111), (220), (222) [electrons per
  cell] from the DFT density and from the IAM (static, no Debye–Waller factor): (222) is the
  bond charge, zero for spherical atoms;
* graphene, hBN and MoS2 (orthogonal cells, PBE): the SCF time, the time to build the potential
  from the converged calculator (constructor and ``build()``, best of 3) against one IAM
  `Potential` of the same grid measured in the same run, twice: with the PAW setups' radial
  tables cached (`paw_density` keeps them between builds: a rebuild, or the next frozen-phonon
  configuration) and with that cache cleared before each build (a setup's first use in the
  process, which adds its spherical-Bessel transforms); the part of the cached build that is
  the all-electron density's Fourier coefficients (ours, from the PAW data), and the build
  through GPAW's real-space all-electron density (``density="gpaw"``, the former default) with
  the time of that density alone; and the HRTEM image difference DFT vs IAM at 80 kV with
  −Cs imaging (Cs −20 µm, defocus −(−Cs Scherzer), 30 mrad): relative L2 and a line profile
  through a bond, drawn into ``out/benchmarks/dft_vs_iam.png``.
"""

import time
from pathlib import Path

import gpaw
import matplotlib
import numpy as np
from ase import Atoms
from ase.build import mx2
from contention import run

from atomscope import CTF, PlaneWave, Potential, scherzer_defocus
from atomscope.potentials.dft import DFTPotential
from atomscope.potentials.paw_density import all_electron_spectrum, clear_cache
from atomscope.structures.orient import orthogonal_supercell

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OUT = Path("out/benchmarks")
ENERGY = 80e3
CS = -20e4  # −20 µm [Å]


def layer(symbols, a, scaled, vacuum=8.0):
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, vacuum]]
    atoms = Atoms(symbols, scaled_positions=scaled, cell=cell, pbc=True)
    return orthogonal_supercell(atoms)[0]


def specimens() -> dict[str, tuple[Atoms, tuple[int, int, int]]]:
    graphene = layer("C2", 2.46, [(0, 0, 0.5), (1 / 3, 2 / 3, 0.5)])
    hbn = layer("BN", 2.504, [(0, 0, 0.5), (1 / 3, 2 / 3, 0.5)])
    mos2 = mx2("MoS2", a=3.18, thickness=3.19, vacuum=4.0)
    mos2.pbc = True
    mos2 = orthogonal_supercell(mos2)[0]
    return {"graphene": (graphene, (6, 4, 1)), "hBN": (hbn, (6, 4, 1)), "MoS2": (mos2, (5, 3, 1))}


def converge(atoms: Atoms, kpts) -> tuple[object, float]:
    atoms = atoms.copy()
    atoms.calc = gpaw.GPAW(mode=gpaw.PW(400), kpts=kpts, xc="PBE", txt=None)
    start = time.perf_counter()
    atoms.get_potential_energy()
    return atoms.calc, time.perf_counter() - start


def best_of(function, *args, repeat: int = 3, **kwargs) -> tuple[object, float]:
    """The result of ``function(*args, **kwargs)`` and its fastest wall time of ``repeat``
    runs [s]."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return result, min(times)


def built(kind, *args, **kwargs):
    """A potential of ``kind`` with its slices built (what the timings include)."""
    potential = kind(*args, **kwargs)
    potential.build()
    return potential


def built_uncached(kind, *args, **kwargs):
    """`built` after forgetting the PAW setups' radial tables (`clear_cache`)."""
    clear_cache()
    return built(kind, *args, **kwargs)


def coefficient(potential, magnitude: float) -> float:
    coefficients = np.fft.fft2(potential.project()) / np.prod(potential.gpts)
    kx, ky = potential.grid.frequencies()
    chosen = np.abs(np.hypot(kx[:, None], ky[None, :]) - magnitude) < 1e-3
    return float(np.abs(coefficients[chosen]).mean())


def image(potential, lens: CTF) -> np.ndarray:
    return lens.image(PlaneWave(ENERGY).multislice(potential)).array


def silicon() -> None:
    from ase.build import bulk

    from atomscope.potentials.structure_factors import xray_structure_factors

    calculator, scf = converge(bulk("Si", cubic=True), (3, 3, 3))
    dft = DFTPotential(calculator, sampling=0.1, slice_thickness=1.0)
    iam = Potential(dft.atoms, sampling=0.1, slice_thickness=1.0)
    hkl = [(1, 1, 1), (2, 2, 0), (2, 2, 2)]
    ours, atoms = np.abs(xray_structure_factors(dft, hkl)), np.abs(xray_structure_factors(iam, hkl))
    print(f"silicon (SCF {scf:.0f} s): X-ray F(hkl) per 8-atom cell, DFT vs IAM (static)")
    for index, a, b in zip(hkl, ours, atoms, strict=True):
        print(f"  {index}: DFT {a:.3f}  IAM {b:.3f}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    silicon()
    lens = CTF(energy=ENERGY, Cs=CS, defocus=scherzer_defocus(CS, ENERGY), semiangle_cutoff=30)
    fig, axes = plt.subplots(3, 3, figsize=(12, 11))
    for row, (name, (atoms, kpts)) in enumerate(specimens().items()):
        calculator, scf = converge(atoms, kpts)
        shape = tuple(2 * int(n) for n in calculator.get_number_of_grid_points())
        _, gpaw_density = best_of(calculator.get_all_electron_density, gridrefinement=2)
        options = {"sampling": 0.05, "slice_thickness": 1.0}
        _, gpaw_build = best_of(built, DFTPotential, calculator, density="gpaw", **options)
        _, uncached_seconds = best_of(built_uncached, DFTPotential, calculator, **options)
        _, spectrum_seconds = best_of(all_electron_spectrum, calculator, shape)
        dft, dft_seconds = best_of(built, DFTPotential, calculator, **options)
        iam, iam_seconds = best_of(built, Potential, dft.atoms, **options)
        print(
            f"{name}: {len(atoms)} atoms, SCF {scf:.1f} s, DFT grid {shape}; DFT potential "
            f"{dft_seconds * 1e3:.1f} ms = {dft_seconds / iam_seconds:.1f}× one IAM Potential "
            f"({iam_seconds * 1e3:.2f} ms) with the setups' radial tables cached, "
            f"{uncached_seconds * 1e3:.1f} ms = {uncached_seconds / iam_seconds:.1f}× without; "
            f"of which the all-electron spectrum (ours) {spectrum_seconds * 1e3:.1f} ms; "
            f"through GPAW's real-space density {gpaw_build * 1e3:.0f} ms (GPAW's density alone "
            f"{gpaw_density * 1e3:.0f} ms)"
        )
        if name == "hBN":
            a = 2.504
            for label, magnitude in (("(10)", 2 / (np.sqrt(3) * a)), ("(11)", 2 / a)):
                values = [
                    coefficient(
                        DFTPotential(
                            calculator, sampling=0.05, slice_thickness=8, grid_refinement=r
                        ),
                        magnitude,
                    )
                    for r in (1, 2, 4)
                ]
                reference = coefficient(
                    Potential(dft.atoms, sampling=0.05, slice_thickness=8), magnitude
                )
                print(
                    f"  hBN {label}: DFT refinement 1/2/4 = "
                    + " / ".join(f"{v:.3f}" for v in values)
                    + f" V·Å, IAM {reference:.3f} V·Å (DFT/IAM {values[-1] / reference:.4f})"
                )
        with_dft, with_iam = image(dft, lens), image(iam, lens)
        relative = np.linalg.norm(with_dft - with_iam) / np.linalg.norm(with_iam - with_iam.mean())
        print(f"  HRTEM 80 kV −Cs: ‖DFT − IAM‖ / ‖IAM contrast‖ = {relative:.3f}")
        extent = (0, dft.extent[0], 0, dft.extent[1])
        for col, (array, title) in enumerate(
            ((with_iam, f"{name} IAM"), (with_dft - with_iam, "DFT − IAM"))
        ):
            axes[row, col].imshow(array.T, origin="lower", extent=extent, cmap="gray")
            axes[row, col].set_title(title)
        first, second = dft.atoms.positions[:2, :2]  # a line through the first bond
        steps = np.linspace(0, 1, 200)
        points = first[None, :] + (second - first)[None, :] * (2 * steps[:, None] - 0.5)
        pixels = np.round(points / np.asarray(dft.sampling)).astype(int) % np.array(dft.gpts)
        for array, label in ((with_iam, "IAM"), (with_dft, "DFT")):
            axes[row, 2].plot(steps, array[pixels[:, 0], pixels[:, 1]], label=label)
        axes[row, 2].set_title(f"{name}: profile through a bond")
        axes[row, 2].legend()
    fig.tight_layout()
    fig.savefig(OUT / "dft_vs_iam.png", dpi=100)
    print(f"figure: {OUT / 'dft_vs_iam.png'}")


if __name__ == "__main__":
    run(main)
