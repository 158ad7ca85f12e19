"""`DFTPotential`: the electrostatic potential of a GPAW all-electron density, sliced for the
multislice (seed §2.2 and its appendix paper on PAW potentials; Susi et al., Ultramicroscopy
197 (2019) 16).

The specimen's charge is the nuclei minus the all-electron density n(r) of the PAW calculation
(pseudo-density + PAW corrections + frozen core). Its Fourier coefficients are computed directly
(`atomscope.potentials.paw_density`: spherical Bessel transforms of the PAW corrections, no
real-space reconstruction) on the frequencies of GPAW's grid refined by ``grid_refinement``;
``density="gpaw"`` takes GPAW's own real-space reconstruction on that grid instead. Each
nucleus Z is split into a Gaussian of width σ (smooth, carried on the DFT grid with the
electrons) and the remainder "point − Gaussian", whose potential
Z e/(4πε₀) erfc(r/(√2 σ))/r is short-ranged and is added analytically in Fourier space on the
simulation grid, so nothing diverges and nothing is lost at high frequency:

* smooth part: ρ_G = Σ_a Z_a e^{−2π²σ²G²} e^{−2πi G·R_a} / Ω − n_G and Poisson's equation in
  Fourier space, V_G = (e/ε₀) ρ_G / (4π² G²) (frequencies without 2π), V_0 = 0 (the cell
  average is zero: a constant is a global phase). Slice j is the exact z-integral of the
  Fourier series, P_j(G⊥) = Σ_Gz V(G⊥, Gz) ∫_{z_j}^{z_j+1} e^{2πi Gz z} dz (not a Riemann sum),
  moved onto the simulation grid by cropping or zero-padding the lateral spectrum. The 3D work
  runs on the rfft half of the frequencies (Gz ≥ 0): V is real, V_{−G} = V_G*.
* remainder: its projection has the 2D transform (e/ε₀) Z (1 − e^{−2π²σ²k²}) / (4π²k²) (the
  projection theorem), placed whole in the slice holding the nucleus, like the IAM's
  ``"infinite"`` projection (its range, a few σ ≈ 0.3 Å, is far below a slice).

Frozen phonons: one converged calculator per configuration (the density is recomputed, not
the IAM cores moved).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from scipy import constants
from tqdm.auto import tqdm

from atomscope.core.fft import irfft2
from atomscope.core.grid import Grid
from atomscope.core.validate import check_positive
from atomscope.potentials.paw_density import (
    _full_spectrum,
    _resized,
    all_electron_half_spectrum,
)
from atomscope.potentials.projected import Potential, PotentialSlice, structure_factor
from atomscope.potentials.slicing import slice_index, slice_limits

__all__ = [
    "E_OVER_EPSILON0",
    "DFTPotential",
    "IAMDifference",
    "electrostatic_half_spectrum",
    "electrostatic_spectrum",
    "iam_difference",
    "nuclear_remainder",
]

#: e/ε₀ [V·Å]: Poisson's equation ∇²V = −(e/ε₀) ρ with ρ in elementary charges per Å³
E_OVER_EPSILON0 = constants.e / constants.epsilon_0 * 1e10
#: grid refinements GPAW's ``get_all_electron_density`` supports
GRID_REFINEMENTS = (1, 2, 4)
#: where the all-electron density comes from: our Fourier-space PAW reconstruction, or GPAW's
#: real-space one (``get_all_electron_density``, for cross-checks and legacy calculators)
DENSITIES = ("paw", "gpaw")
#: default Gaussian nuclear width in units of the refined grid spacing: its spectrum is
#: e^{−2π²σ²k²} ≈ 1.5e-5 at the grid's Nyquist frequency, so the grid carries it whole
WIDTH_PER_SPACING = 1.5


def electrostatic_half_spectrum(
    electrons: np.ndarray, atoms: Atoms, nuclear_width: float, n_z: int
) -> np.ndarray:
    """`electrostatic_spectrum` on the rfft half grid: V_G [V] for m_z ≥ 0 (numpy ``rfftn``
    layout; the last bin of an even ``n_z``, the Nyquist frequency, taken at −n_z/(2c) as
    ``fftfreq`` does), from the electrons' coefficients n_G [e/Å³] there
    (``np.fft.rfftn(values) / values.size``; `all_electron_half_spectrum`); ``n_z`` grid
    points along c. The Gaussian nuclei are summed as Σ_a Z_a g_x g_y g_z with one factor per
    axis (a matrix product), Poisson's equation applied as one real factor per frequency.

    Examples
    --------
    >>> from ase import Atoms
    >>> atoms = Atoms("H", positions=[(2, 2, 2)], cell=(4, 4, 4), pbc=True)
    >>> flat = np.zeros((16, 16, 9), dtype=complex)
    >>> flat[0, 0, 0] = 1 / 64  # one electron spread evenly
    >>> spectrum = electrostatic_half_spectrum(flat, atoms, 0.4, 16)
    >>> spectrum.shape, complex(spectrum[0, 0, 0])
    ((16, 16, 9), 0j)
    """
    lengths = np.diag(atoms.cell.array)
    shape = (*electrons.shape[:2], n_z)
    kx, ky, kz = (np.fft.fftfreq(n, d / n) for n, d in zip(shape, lengths, strict=True))
    kz = kz[: electrons.shape[2]]
    # Gaussian nuclei Σ_a Z_a e^{−2π²σ²k²} e^{−2πi k·R_a} / Ω, separable along x, y and z
    factors = [
        np.exp(-2 * np.pi**2 * nuclear_width**2 * k**2) * np.exp(-2j * np.pi * np.outer(x, k))
        for k, x in zip((kx, ky, kz), atoms.positions.T, strict=True)
    ]
    lateral = (atoms.numbers / np.prod(lengths))[:, None, None] * (
        factors[0][:, :, None] * factors[1][:, None, :]
    )
    charge = (lateral.reshape(len(atoms), -1).T @ factors[2]).reshape(electrons.shape)
    charge -= electrons
    k2 = (kx[:, None] ** 2 + ky[None, :] ** 2)[:, :, None] + kz**2
    k2[0, 0, 0] = np.inf  # V_0 = 0
    # Poisson in Fourier space: V_G = (e/ε₀) ρ_G / (4π² G²)
    np.divide(E_OVER_EPSILON0 / (4 * np.pi**2), k2, out=k2)
    charge *= k2
    return charge


def electrostatic_spectrum(
    density: np.ndarray, atoms: Atoms, nuclear_width: float, *, fourier: bool = False
) -> np.ndarray:
    """Fourier coefficients V_G [V] of the smooth potential: electrons ``density`` [e/Å³] on
    the periodic grid of ``atoms``' orthorhombic cell plus Gaussian nuclei of width
    ``nuclear_width`` [Å]; V_0 = 0. With ``fourier=True``, ``density`` holds the electrons'
    Fourier-series coefficients n_G [e/Å³] instead (numpy FFT order, as
    ``np.fft.fftn(values) / values.size``; `all_electron_spectrum`). Computed on the rfft half
    (`electrostatic_half_spectrum`); the bins m_z < 0 are V_{−G}* (so along an even grid's
    lateral Nyquist order ±n/2, where the nuclei are e^{−2π²σ²k²} ≈ 1e-5 of their charge in a
    `DFTPotential`, they are taken at +n/2 there).

    Examples
    --------
    >>> from ase import Atoms
    >>> atoms = Atoms("H", positions=[(2, 2, 2)], cell=(4, 4, 4), pbc=True)
    >>> flat = np.full((16, 16, 16), 1 / 64)  # one electron spread evenly
    >>> spectrum = electrostatic_spectrum(flat, atoms, nuclear_width=0.4)
    >>> spectrum.shape, complex(spectrum[0, 0, 0])
    ((16, 16, 16), 0j)
    """
    n_z = density.shape[2]
    if fourier:
        half = density[:, :, : n_z // 2 + 1]
    else:
        half = np.fft.rfftn(density) / density.size
    # the density is real: V_{−G} = V_G* restores the other half
    return _full_spectrum(electrostatic_half_spectrum(half, atoms, nuclear_width, n_z), n_z)


def nuclear_remainder(k: np.ndarray, number: int, nuclear_width: float) -> np.ndarray:
    """2D transform [V·Å³] of the projected potential of a point nucleus minus its Gaussian of
    width ``nuclear_width`` [Å]: (e/ε₀) Z (1 − e^{−2π²σ²k²}) / (4π²k²), 0 at k = 0.

    Examples
    --------
    >>> value = nuclear_remainder(np.array([0.0, 50.0]), 6, 0.1)
    >>> float(value[0]), bool(np.isclose(value[1], E_OVER_EPSILON0 * 6 / (4 * np.pi**2 * 2500)))
    (0.0, True)
    """
    k2 = np.asarray(k, dtype=float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        # the point-charge potential minus a Gaussian's, projected (Fourier slice theorem)
        value = (E_OVER_EPSILON0 * number * -np.expm1(-2 * np.pi**2 * nuclear_width**2 * k2)) / (
            4 * np.pi**2 * k2
        )
    return np.where(k2 > 0, value, 0.0)


#: the 3D smooth spectrum is kept up to this frequency [1/Å] for `structure_factors`
LOW_ORDER_LIMIT = 4.0
#: `DFTPotential.generate_slices` moves this many bytes of slice spectra at once onto the
#: simulation grid (one call instead of one per slice; the slices are yielded one at a time)
CHUNK_BYTES = 2**22


@dataclass(frozen=True)
class _Part:
    """One configuration: slice spectra on the DFT lateral grid, the nuclear width, the DFT
    grid, and the 3D smooth spectrum V_G for |G_i| ≤ `LOW_ORDER_LIMIT` (index ±n_i)."""

    smooth: np.ndarray
    width: float
    shape: tuple[int, int, int]
    low_orders: np.ndarray
    orders: tuple[int, int, int]


def _mirrored(values: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``values`` at the negated FFT-order indices (−m mod n) along ``axes``, a new array."""
    flipped = np.flip(values, axis=axes)
    return np.roll(flipped, 1, axis=axes)


def _low_orders(spectrum: np.ndarray, n_z: int, lengths: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The block of V_G with integer frequency indices |m_i| ≤ n_i (FFT order, size 2n_i + 1),
    from its rfft half ``spectrum`` (``n_z`` points along c; V_{−G} = V_G*)."""
    orders = tuple(
        min(int(LOW_ORDER_LIMIT * length), (size - 1) // 2)
        for length, size in zip(lengths, (*spectrum.shape[:2], n_z), strict=True)
    )
    n_x, n_y, n_half = orders
    block = spectrum[:, :, : n_half + 1]
    block = np.concatenate([block[: n_x + 1], block[block.shape[0] - n_x :]])
    block = np.concatenate([block[:, : n_y + 1], block[:, block.shape[1] - n_y :]], axis=1)
    out = np.empty((2 * n_x + 1, 2 * n_y + 1, 2 * n_half + 1), dtype=np.complex64)
    out[:, :, : n_half + 1] = block
    np.conjugate(_mirrored(block[:, :, :0:-1], (0, 1)), out=out[:, :, n_half + 1 :])
    return out, orders


def _slice_weights(kz: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """∫_{z_j}^{z_j+1} e^{2πi kz z} dz [Å] for every kz and slice j, shape (nz, num_slices)."""
    z0, z1 = limits[None, :-1], limits[None, 1:]
    kz = kz[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = (np.exp(2j * np.pi * kz * z1) - np.exp(2j * np.pi * kz * z0)) / (2j * np.pi * kz)
    return np.where(kz == 0, z1 - z0, weights)


def _slice_spectra(spectrum: np.ndarray, n_z: int, length: float, limits: np.ndarray) -> np.ndarray:
    """P_j(G⊥) = Σ_Gz V(G⊥, Gz) ∫_{z_j}^{z_j+1} e^{2πi Gz z} dz [V·Å] of every slice j, shape
    (num_slices, nx, ny) complex64, from the rfft half ``spectrum`` of V (``n_z`` points
    along c of ``length`` [Å]): the bins ±m_z (0 < m_z < n_z/2) summed as
    A_j(G⊥) + A_j(−G⊥)*, A_j = Σ_{m_z > 0} V w_j, since V_{−G} = V_G* and w_j(−Gz) = w_j(Gz)*."""
    kz = np.fft.fftfreq(n_z, length / n_z)[: spectrum.shape[2]]
    weights = _slice_weights(kz, limits)
    paired = np.zeros_like(weights)
    paired[1 : (n_z + 1) // 2] = weights[1 : (n_z + 1) // 2]
    both = np.concatenate([weights, paired], axis=1).T @ spectrum.reshape(-1, spectrum.shape[2]).T
    both = both.reshape(2, -1, *spectrum.shape[:2])
    smooth = np.empty(both.shape[1:], dtype=np.complex64)
    return np.add(both[0], np.conjugate(_mirrored(both[1], (1, 2))), out=smooth)


def _load(calculator: Any, name: str):
    """A converged GPAW calculator from itself or a .gpw path, or a ValueError naming ``name``."""
    if isinstance(calculator, (str, os.PathLike)):
        try:
            from gpaw import GPAW
        except ImportError as error:
            raise ImportError(
                "DFT potentials need GPAW: pip install 'atomscope[dft]' (make test installs it)"
            ) from error
        path = os.fspath(calculator)
        if not os.path.isfile(path):
            raise ValueError(f"{name}: {path!r} does not exist")
        try:
            calculator = GPAW(path, txt=None)
        except Exception as error:  # GPAW raises many kinds for a foreign file
            raise ValueError(
                f"{name}: {path!r} is not a GPAW .gpw file ({type(error).__name__}: {error})"
            ) from None
    if not hasattr(calculator, "get_all_electron_density"):
        raise ValueError(
            f"{name} must be a GPAW calculator or a .gpw path, got {type(calculator).__name__}"
        )
    if "energy" not in getattr(calculator, "results", {}):
        raise ValueError(
            f"{name} holds no converged density: run atoms.get_potential_energy() with it first "
            "(or load a .gpw written after convergence)"
        )
    return calculator


def _check_cell(atoms: Atoms, name: str) -> np.ndarray:
    cell = atoms.cell.array
    if not np.allclose(cell - np.diag(np.diag(cell)), 0, atol=1e-8):
        raise ValueError(
            f"{name}: the cell must be orthorhombic with c along the beam (z), got "
            f"{np.round(cell, 4).tolist()}; run GPAW on "
            "atomscope.structures.orthogonal_supercell(atoms)"
        )
    if not all(atoms.pbc):
        raise ValueError(f"{name}: the calculation must be periodic in x, y and z (pbc=True)")
    return np.diag(cell)


class DFTPotential(Potential):
    """Projected electrostatic potential from GPAW all-electron densities; behaves as a
    `Potential` (slices, ``project()``, frozen-phonon ensembles, memory, Dask).

    Parameters
    ----------
    calculators
        A converged GPAW calculator or a path to its ``.gpw`` file, or a sequence of them (one
        per frozen-phonon configuration, same cell). The cell must be orthorhombic with c along
        the beam.
    sampling
        Simulation pixel size [Å] (scalar or (x, y)); give this or ``gpts``.
    gpts
        Simulation grid points; give this or ``sampling``.
    slice_thickness
        Target slice thickness [Å].
    grid_refinement
        The all-electron density is kept up to the frequencies of GPAW's density grid refined
        by 1, 2 (default) or 4 (the 3D grid the Poisson equation is solved on).
    nuclear_width
        σ of the Gaussian that carries each nucleus on the DFT grid [Å] (default 1.5 × the
        refined grid spacing); the rest of the nucleus is added analytically.
    exact
        Refuse a simulation grid coarser than the refined DFT grid (whose lateral spectrum would
        be cropped); by default it is cropped, as the multislice band-limits anyway.
    progress
        Progress bar over the configurations.
    density
        ``"paw"`` (default): the all-electron density's Fourier coefficients computed from the
        PAW data (`all_electron_spectrum`; exact at every frequency, no real-space sampling);
        ``"gpaw"``: GPAW's ``get_all_electron_density`` on the refined grid, FFT'd (0.5 s for a
        graphene cell; for cross-checks and calculators of the legacy GPAW code).

    Examples
    --------
    >>> from ase import Atoms
    >>> from gpaw import GPAW, PW
    >>> atoms = Atoms("He", positions=[(2, 2, 2)], cell=(4, 4, 4), pbc=True)
    >>> atoms.calc = GPAW(mode=PW(250), txt=None)
    >>> energy = atoms.get_potential_energy()
    >>> potential = DFTPotential(atoms.calc, sampling=0.1, slice_thickness=1)
    >>> potential.num_slices, potential.gpts
    (4, (40, 40))
    """

    def __init__(
        self,
        calculators: Any,
        sampling: float | tuple[float, float] | None = None,
        gpts: int | tuple[int, int] | None = None,
        slice_thickness: float = 0.5,
        grid_refinement: int = 2,
        nuclear_width: float | None = None,
        exact: bool = False,
        progress: bool = False,
        density: str = "paw",
    ):
        single = not isinstance(calculators, (list, tuple))
        items = [calculators] if single else list(calculators)
        if not items:
            raise ValueError("calculators must hold at least one GPAW calculator or .gpw path")
        names = ["calculators"] if single else [f"calculators[{i}]" for i in range(len(items))]
        if grid_refinement not in GRID_REFINEMENTS:
            raise ValueError(
                f"grid_refinement must be one of {GRID_REFINEMENTS} (GPAW's all-electron "
                f"density), got {grid_refinement!r}"
            )
        if density not in DENSITIES:
            raise ValueError(f"density must be one of {DENSITIES}, got {density!r}")
        if nuclear_width is not None:
            nuclear_width = check_positive("nuclear_width", nuclear_width)
        if (sampling is None) == (gpts is None):
            raise ValueError(
                f"give exactly one of sampling or gpts, got sampling={sampling!r}, gpts={gpts!r}"
            )
        calculators = [_load(item, name) for item, name in zip(items, names, strict=True)]
        # copies without the calculator (its open log file would not pickle for Dask workers)
        configurations = [calculator.get_atoms().copy() for calculator in calculators]
        lengths = _check_cell(configurations[0], names[0])
        for name, atoms in zip(names[1:], configurations[1:], strict=True):
            if not np.allclose(_check_cell(atoms, name), lengths):
                raise ValueError(f"{name}: every configuration must have the same cell")
        grid = Grid(extent=tuple(lengths[:2]), gpts=gpts, sampling=sampling)
        limits = slice_limits(float(lengths[2]), slice_thickness)
        parts = []
        for calculator in tqdm(calculators, desc="DFT potential", disable=not progress):
            shape = tuple(grid_refinement * int(n) for n in calculator.get_number_of_grid_points())
            spacing = float(np.max(lengths / np.array(shape)))
            width = WIDTH_PER_SPACING * spacing if nuclear_width is None else nuclear_width
            if width < spacing:
                raise ValueError(
                    f"nuclear_width={width:g} Å is below the refined DFT grid spacing "
                    f"{spacing:.3g} Å: the grid cannot carry the Gaussian; use ≥ {spacing:.3g}"
                )
            dft_spacing = lengths[:2] / np.array(shape[:2])
            if exact and np.any(np.array(grid.sampling) > dft_spacing * (1 + 1e-9)):
                raise ValueError(
                    f"exact=True: the simulation pixels {grid.sampling} Å are coarser than the "
                    f"refined DFT grid's {tuple(np.round(dft_spacing, 4))} Å, so its spectrum "
                    f"would be cropped; use sampling ≤ {dft_spacing.min():.4g} Å"
                )
            atoms = calculator.get_atoms()
            if density == "paw":
                electrons = all_electron_half_spectrum(calculator, shape)
            else:
                values = calculator.get_all_electron_density(gridrefinement=grid_refinement)
                electrons = np.fft.rfftn(values) / values.size
            spectrum = electrostatic_half_spectrum(electrons, atoms, width, shape[2])
            parts.append(
                _Part(
                    _slice_spectra(spectrum, shape[2], lengths[2], limits),
                    width,
                    shape,
                    *_low_orders(spectrum, shape[2], lengths),
                )
            )
        self._initialise(
            configurations, grid, limits, parts, grid_refinement, slice_thickness, density
        )

    def _initialise(self, configurations, grid, limits, parts, grid_refinement, thickness, density):
        self._configurations = configurations
        self._atoms = configurations[0]
        self._grid = grid
        self._limits = limits
        self._projection = "infinite"
        self._parts = parts
        self._grid_refinement = grid_refinement
        self._density = density
        self._settings = {"gpts": grid.gpts, "slice_thickness": thickness}

    @property
    def parametrization(self) -> str:
        """Where the potential comes from: GPAW's all-electron density and its refinement."""
        source = "" if self._density == "paw" else ", GPAW's real-space density"
        return f"gpaw all-electron (grid_refinement {self._grid_refinement}{source})"

    @property
    def nuclear_width(self) -> float:
        """σ of the Gaussian nuclei of the first configuration [Å]."""
        return self._parts[0].width

    @property
    def dft_gpts(self) -> tuple[int, int, int]:
        """The refined DFT grid of the first configuration."""
        return tuple(self._parts[0].shape)

    @property
    def configurations(self) -> tuple[DFTPotential, ...]:
        """One `DFTPotential` per configuration (``(self,)`` for a single one)."""
        if self.num_configs == 1:
            return (self,)
        out = []
        for atoms, part in zip(self._configurations, self._parts, strict=True):
            single = object.__new__(DFTPotential)
            single._initialise(
                [atoms],
                self._grid,
                self._limits,
                [part],
                self._grid_refinement,
                self._settings["slice_thickness"],
                self._density,
            )
            out.append(single)
        return tuple(out)

    def generate_slices(self, first: int = 0, last: int | None = None) -> Iterator[PotentialSlice]:
        """Yield slices ``first`` … ``last - 1``: the smooth DFT part on the simulation grid
        plus the nuclei's analytic remainder (float32 [V·Å])."""
        self._check_single("generate_slices")
        last = self.num_slices if last is None else last
        if not 0 <= first <= last <= self.num_slices:
            raise ValueError(
                f"need 0 <= first <= last <= {self.num_slices}, got first={first}, last={last}"
            )
        smooth, width = self._parts[0].smooth, self._parts[0].width
        nx, ny = self._grid.gpts
        kx = self._grid.frequencies()[0]
        ky = np.fft.rfftfreq(ny, self._grid.sampling[1])
        k = np.sqrt(kx[:, None] ** 2 + ky[None, :] ** 2)
        # Fourier-series coefficients [V·Å] times nx ny, the normalisation irfft2 divides by
        scale = nx * ny / (self._grid.extent[0] * self._grid.extent[1])
        numbers, positions = self._atoms.numbers, self._atoms.positions
        indices = slice_index(positions[:, 2], self._limits)
        remainders = {
            int(z): (nuclear_remainder(k, int(z), width) * scale).astype(np.float32)
            for z in set(numbers)
        }
        chunk = max(1, CHUNK_BYTES // (8 * nx * (ny // 2 + 1)))
        for start in range(first, last, chunk):
            stop = min(start + chunk, last)
            # the smooth parts moved onto the simulation grid (rfft half), cropped or zero-padded
            spectra = _resized(smooth[start:stop], (stop - start, nx, ny), half=True)
            spectra *= nx * ny
            for index, spectrum in zip(range(start, stop), spectra, strict=True):
                for z, remainder in remainders.items():
                    selected = positions[(indices == index) & (numbers == z)]
                    if len(selected):
                        spectrum += remainder * structure_factor(kx, ky, selected[:, :2])
                array = irfft2(spectrum, (nx, ny))
                yield PotentialSlice(array, self._slice_thickness(index), index)


@dataclass(frozen=True)
class IAMDifference:
    """A DFT potential against the independent-atom model of the same atoms and grid.

    Attributes
    ----------
    dft, iam, difference
        Projected potentials [V·Å] (each with its cell average removed) and DFT − IAM, [x, y].
    k
        Centres of the radial frequency bins [1/Å].
    relative
        Mean of |P_DFT(k)| / |P_IAM(k)| − 1 over the lattice frequencies in each bin.
    sampling
        Pixel size [Å].
    parametrization
        The IAM's scattering factors.
    """

    dft: np.ndarray
    iam: np.ndarray
    difference: np.ndarray
    k: np.ndarray
    relative: np.ndarray
    sampling: tuple[float, float]
    parametrization: str

    @property
    def relative_l2(self) -> float:
        """‖DFT − IAM‖ / ‖IAM‖ of the projected potentials."""
        return float(np.linalg.norm(self.difference) / np.linalg.norm(self.iam))


def iam_difference(
    potential: DFTPotential, parametrization: str = "lobato", bin_width: float = 0.1
) -> IAMDifference:
    """DFT − IAM projected potential maps and the radially averaged ratio of their Fourier
    coefficients (the bonding and charge-transfer signal the seed's PAW paper measures).

    Parameters
    ----------
    potential
        The DFT potential (its first configuration is compared).
    parametrization
        IAM scattering factors, as `Potential`.
    bin_width
        Width of the radial frequency bins [1/Å].

    Examples
    --------
    >>> from ase import Atoms
    >>> from gpaw import GPAW, PW
    >>> atoms = Atoms("He", positions=[(2, 2, 2)], cell=(4, 4, 4), pbc=True)
    >>> atoms.calc = GPAW(mode=PW(250), txt=None)
    >>> energy = atoms.get_potential_energy()
    >>> comparison = iam_difference(DFTPotential(atoms.calc, sampling=0.1))
    >>> comparison.difference.shape, bool(comparison.relative_l2 < 0.2)
    ((40, 40), True)
    """
    if not isinstance(potential, DFTPotential):
        raise TypeError(f"potential must be a DFTPotential, got {type(potential).__name__}")
    bin_width = check_positive("bin_width", bin_width)
    single = potential.configurations[0]
    iam = Potential(
        single.atoms,
        gpts=single.gpts,
        slice_thickness=single._settings["slice_thickness"],
        parametrization=parametrization,
    )
    maps = []
    spectra = []
    for projected in (single.project().astype(np.float64), iam.project().astype(np.float64)):
        maps.append(projected - projected.mean())
        spectra.append(np.abs(np.fft.fft2(projected)))
    kx, ky = single.grid.frequencies()
    k = np.hypot(kx[:, None], ky[None, :])
    usable = (k > 0) & (spectra[1] > 1e-6 * spectra[1].max())
    bins = np.floor(k[usable] / bin_width).astype(int)
    ratio = spectra[0][usable] / spectra[1][usable] - 1
    counts = np.bincount(bins)
    filled = counts > 0
    relative = np.bincount(bins, weights=ratio)[filled] / counts[filled]
    centres = (np.arange(len(counts))[filled] + 0.5) * bin_width
    return IAMDifference(
        dft=maps[0],
        iam=maps[1],
        difference=maps[0] - maps[1],
        k=centres,
        relative=relative,
        sampling=single.sampling,
        parametrization=parametrization,
    )
