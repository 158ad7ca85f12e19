"""`Potential`: the projected electrostatic potential of a specimen, slice by slice.

Slices are produced on the fly (``generate_slices``) so a cell with thousands of slices never
holds more than one; ``build()`` stacks them only when asked. The potential is the superposition
of isolated-atom potentials (seed Eq 2.1) from a scattering-factor parametrization.

Two projections:

``"infinite"`` (default)
    Each atom's full projected potential v_z is placed in the slice that holds its centre. It is
    evaluated exactly in Fourier space: the 2D transform of v_z is h²/(2π m0 e) f_e(k)
    (Kirkland 2010, Eq 5.10), and the structure factor Σ_j exp(−2πi k·r_j) of the atoms in a
    slice is computed as one complex matrix product, exp(−2πi kx x_j) @ exp(−2πi ky y_j)ᵀ, with
    no interpolation of positions and exact periodicity; the potential is band-limited to the
    grid's Nyquist frequency instead of being point-sampled at its logarithmic core.
``"finite"``
    Each atom's potential is integrated between the slice boundaries, ∫_{z0}^{z1} V dz, so an
    atom straddling a boundary contributes to both slices (for thick slices or when the slice
    position of an atom matters). Evaluated in real space on radial tables up to the radius where
    the projected potential falls below ``cutoff_tolerance``.

Atoms outside the cell along z (above it, below it, or pushed through a face by a frozen
phonon) follow one rule in both projections: the first slice reaches down to z = −∞ and the
last up to z = +∞, so every atom's whole potential is counted exactly once. The infinite
projection puts such an atom in the first or last slice; the finite one integrates its potential
over those open-ended slices (an atom on a face is not cut in half). The projected potential
summed over the slices is therefore the same for both projections, wherever the atoms are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from scipy import constants

from atomscope.core.fft import irfft2
from atomscope.core.grid import Grid
from atomscope.core.memory import check_memory
from atomscope.core.threads import blas_threads
from atomscope.core.validate import check_atoms, check_choice, check_positive
from atomscope.potentials.finite import FiniteProjector
from atomscope.potentials.parametrizations import load_parametrization
from atomscope.potentials.slicing import slice_index, slice_limits

PROJECTIONS = ("infinite", "finite")

# h² / (2π m0 e) [V·Å²]: converts f_e [Å] into the Fourier transform of the potential
# (Kirkland 2010, Eq 5.10: 2π a0 e = 47.878 V·Å²).
FE_TO_POTENTIAL = constants.h**2 / (2 * np.pi * constants.m_e * constants.e) * 1e20


@dataclass(frozen=True)
class PotentialSlice:
    """One slice: projected potential ``array`` [V·Å] (float32, [x, y]) and its thickness [Å]."""

    array: np.ndarray
    thickness: float
    index: int


def _configurations(atoms: Any) -> list[Atoms]:
    """The configurations of ``atoms``: one ``Atoms``, or a non-empty sequence of them."""
    if isinstance(atoms, Atoms):
        return [atoms.copy()]
    if isinstance(atoms, Sequence) and not isinstance(atoms, str) and len(atoms) > 0:
        configurations = list(atoms)
        if all(isinstance(configuration, Atoms) for configuration in configurations):
            return [configuration.copy() for configuration in configurations]
    raise TypeError(
        "atoms must be an ase.Atoms or a non-empty sequence of them (frozen phonons), got "
        f"{type(atoms).__name__}"
    )


def _validate_atoms(name: str, atoms: Atoms) -> tuple[np.ndarray, float]:
    check_atoms(name, atoms)
    cell = np.asarray(atoms.cell)
    off_diagonal = cell[~np.eye(3, dtype=bool)]
    if not np.allclose(off_diagonal, 0.0, atol=1e-8):
        raise ValueError(
            f"{name}.cell must be orthorhombic (beam along z, x and y cell vectors along the "
            f"axes); got cell {cell.round(6).tolist()} Å; rotate the structure or use "
            "ase.build.make_supercell"
        )
    extent = (cell[0, 0], cell[1, 1])
    if min(extent) <= 0 or cell[2, 2] <= 0:
        raise ValueError(
            f"{name}.cell must have positive lengths along x, y and z (non-zero area and "
            f"thickness), got {np.diag(cell).tolist()} Å"
        )
    return np.array(extent), float(cell[2, 2])


class Potential:
    """Projected potential of ``atoms`` on a periodic grid, sliced along z.

    Parameters
    ----------
    atoms
        Specimen with an orthorhombic cell and finite positions; the beam travels along +z.
        Empty ``Atoms`` is vacuum. Atoms outside the cell along z count whole in the first or
        last slice, in both projections (see the module docstring); laterally the cell is
        periodic.
        A sequence of ``Atoms`` with one cell (`atomscope.thermal.FrozenPhonons`,
        `EinsteinPhonons`, `MDPhonons` or a list) makes a frozen-phonon ensemble: each
        configuration is one `Potential` in ``configurations``, and multislice averages their
        intensities incoherently.
    sampling
        Pixel size [Å] (scalar or (x, y)); give this or ``gpts``.
    gpts
        Number of grid points (scalar or (x, y)); give this or ``sampling``.
    slice_thickness
        Target slice thickness [Å], in (0, cell z length]. The cell is cut into
        ⌈thickness / slice_thickness⌉ equal slices.
    parametrization
        ``"lobato"`` (default), ``"kirkland"``, ``"peng"`` or ``"weickenmeier_kohl"``.
    projection
        ``"infinite"`` (default) or ``"finite"``; see the module docstring.
    cutoff_tolerance
        For ``"finite"``: radial cutoff where the projected potential falls below this [V·Å].

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("Si", cubic=True)
    >>> potential = Potential(atoms, sampling=0.1, slice_thickness=1.0)
    >>> potential.gpts, potential.num_slices
    ((56, 56), 6)
    >>> next(potential.generate_slices()).array.shape
    (56, 56)
    >>> Potential([atoms, atoms], sampling=0.1).num_configs
    2
    """

    def __init__(
        self,
        atoms: Atoms,
        sampling: float | tuple[float, float] | None = None,
        gpts: int | tuple[int, int] | None = None,
        slice_thickness: float = 0.5,
        parametrization: str = "lobato",
        projection: str = "infinite",
        cutoff_tolerance: float = 1e-3,
    ):
        configurations = _configurations(atoms)
        names = (
            ["atoms"]
            if len(configurations) == 1
            else [f"atoms[{index}]" for index in range(len(configurations))]
        )
        extent, thickness = _validate_atoms(names[0], configurations[0])
        for name, configuration in zip(names[1:], configurations[1:], strict=True):
            other_extent, other_thickness = _validate_atoms(name, configuration)
            if not (np.allclose(other_extent, extent) and np.isclose(other_thickness, thickness)):
                raise ValueError("atoms: every frozen-phonon configuration must have the same cell")
        if (sampling is None) == (gpts is None):
            raise ValueError(
                f"give exactly one of sampling or gpts, got sampling={sampling!r}, gpts={gpts!r}"
            )
        self._grid = Grid(extent=tuple(extent), gpts=gpts, sampling=sampling)
        self._limits = slice_limits(thickness, slice_thickness)
        self._projection = check_choice("projection", projection, PROJECTIONS)
        self._parametrization = load_parametrization(parametrization)
        for configuration in configurations:
            self._parametrization.check_elements(np.unique(configuration.numbers))
        self._cutoff_tolerance = check_positive("cutoff_tolerance", cutoff_tolerance)
        self._configurations = configurations
        self._atoms = configurations[0]
        self._settings = {
            "gpts": self._grid.gpts,
            "slice_thickness": slice_thickness,
            "parametrization": parametrization,
            "projection": projection,
            "cutoff_tolerance": cutoff_tolerance,
        }

    @property
    def num_configs(self) -> int:
        """Number of frozen-phonon configurations (1 for a single ``Atoms``)."""
        return len(self._configurations)

    @property
    def configurations(self) -> tuple[Potential, ...]:
        """One `Potential` per frozen-phonon configuration (``(self,)`` for a single one)."""
        if self.num_configs == 1:
            return (self,)
        return tuple(Potential(atoms, **self._settings) for atoms in self._configurations)

    @property
    def atoms(self) -> Atoms:
        """A copy of the specimen (the first configuration of an ensemble)."""
        return self._atoms.copy()

    @property
    def grid(self) -> Grid:
        """Lateral grid."""
        return self._grid

    @property
    def gpts(self) -> tuple[int, int]:
        """Grid points along x and y."""
        return self._grid.gpts

    @property
    def sampling(self) -> tuple[float, float]:
        """Pixel size [Å]."""
        return self._grid.sampling

    @property
    def extent(self) -> tuple[float, float]:
        """Lateral size of the cell [Å]."""
        return self._grid.extent

    @property
    def slice_limits(self) -> np.ndarray:
        """Slice boundaries along z [Å], shape (num_slices + 1,)."""
        return self._limits.copy()

    @property
    def num_slices(self) -> int:
        """Number of slices."""
        return len(self._limits) - 1

    @property
    def thickness(self) -> float:
        """Specimen (cell) thickness [Å]."""
        return float(self._limits[-1])

    @property
    def projection(self) -> str:
        """``"infinite"`` or ``"finite"``."""
        return self._projection

    @property
    def parametrization(self) -> str:
        """Name of the scattering-factor parametrization."""
        return self._parametrization.name

    def __len__(self) -> int:
        return self.num_slices

    def generate_slices(self, first: int = 0, last: int | None = None) -> Iterator[PotentialSlice]:
        """Yield slices ``first`` … ``last - 1`` one at a time (each a fresh float32 array)."""
        self._check_single("generate_slices")
        last = self.num_slices if last is None else last
        if not 0 <= first <= last <= self.num_slices:
            raise ValueError(
                f"need 0 <= first <= last <= {self.num_slices}, got first={first}, last={last}"
            )
        if self._projection == "infinite":
            yield from self._infinite_slices(first, last)
        else:
            projector = FiniteProjector(
                self._atoms, self._grid, self._parametrization, self._cutoff_tolerance
            )
            for index in range(first, last):
                # the outermost slices reach to ±∞ along z: atoms outside the cell count whole
                z0 = -np.inf if index == 0 else self._limits[index]
                z1 = np.inf if index == self.num_slices - 1 else self._limits[index + 1]
                yield PotentialSlice(projector.project(z0, z1), self._slice_thickness(index), index)

    def _check_single(self, method: str) -> None:
        if self.num_configs > 1:
            raise ValueError(
                f"{method} needs one configuration; this potential holds {self.num_configs} "
                "frozen-phonon configurations: use potential.configurations"
            )

    def _slice_thickness(self, index: int) -> float:
        return float(self._limits[index + 1] - self._limits[index])

    def _infinite_slices(self, first: int, last: int) -> Iterator[PotentialSlice]:
        numbers = self._atoms.numbers
        positions = self._atoms.positions
        indices = slice_index(positions[:, 2], self._limits)
        # V is real, so only the non-negative ky half of its spectrum is computed (rfft layout).
        kx = self._grid.frequencies()[0]
        ky = np.fft.rfftfreq(self._grid.gpts[1], self._grid.sampling[1])
        k = np.sqrt(kx[:, None] ** 2 + ky[None, :] ** 2)
        pixel_area = self._grid.sampling[0] * self._grid.sampling[1]
        # FT of v_z is h²/(2π m0 e) f_e(k) (Kirkland Eq 5.10); a Fourier series on the pixel
        # grid turns the 1/A prefactor into ifft2(...) / pixel area.
        form_factors = {
            int(z): (
                FE_TO_POTENTIAL / pixel_area * self._parametrization.scattering_factor(z, k)
            ).astype(np.complex64)
            for z in np.unique(numbers)
        }
        spectrum = np.empty(k.shape, dtype=np.complex64)
        term = np.empty(k.shape, dtype=np.complex64)
        for index in range(first, last):
            in_slice = indices == index
            if not in_slice.any():
                array = np.zeros(self._grid.gpts, dtype=np.float32)
                yield PotentialSlice(array, self._slice_thickness(index), index)
                continue
            spectrum[...] = 0
            for z, form_factor in form_factors.items():
                selected = positions[in_slice & (numbers == z)]
                if len(selected):
                    np.multiply(form_factor, structure_factor(kx, ky, selected[:, :2]), out=term)
                    spectrum += term
            array = irfft2(spectrum, self._grid.gpts)
            yield PotentialSlice(array, self._slice_thickness(index), index)

    def build(self) -> np.ndarray:
        """All slices stacked, float32 (num_slices, nx, ny) [V·Å]. Memory: num_slices × nx × ny."""
        self._check_single("build")
        check_memory(
            4 * self.num_slices * self.gpts[0] * self.gpts[1],
            f"building {self.num_slices} potential slices of {self.gpts} pixels",
            "iterate generate_slices() instead",
        )
        out = np.empty((self.num_slices, *self.gpts), dtype=np.float32)
        for potential_slice in self.generate_slices():
            out[potential_slice.index] = potential_slice.array
        return out

    def project(self) -> np.ndarray:
        """Projected potential of the whole specimen [V·Å]: the sum of all slices, averaged over
        the frozen-phonon configurations."""
        total = np.zeros(self.gpts, dtype=np.float64)
        for configuration in self.configurations:
            for potential_slice in configuration.generate_slices():
                total += potential_slice.array
        return (total / self.num_configs).astype(np.float32)


def structure_factor(kx: np.ndarray, ky: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """S(kx, ky) = Σ_j exp(−2πi (kx x_j + ky y_j)) as one matrix product, complex64 (nx, ny).

    Parameters
    ----------
    kx, ky
        Spatial frequencies [1/Å], shapes (nx,) and (ny,).
    positions
        Lateral positions (n, 2) [Å].

    Examples
    --------
    >>> s = structure_factor(np.array([0.0, 0.5]), np.array([0.0]), np.array([[1.0, 0.0]]))
    >>> np.round(s.real.ravel(), 6).tolist()
    [1.0, -1.0]
    """
    phase_x = _unit_phasors(kx, positions[:, 0])
    phase_y = _unit_phasors(ky, positions[:, 1])
    # One BLAS thread: multithreaded OpenBLAS keeps spinning after the call and halves the speed
    # of the FFTW threads that run next.
    with blas_threads(1):
        return phase_x @ phase_y.T


def _unit_phasors(k: np.ndarray, x: np.ndarray) -> np.ndarray:
    """exp(−2πi k x) for every pair (k, x) [1/Å, Å], complex64 (len(k), len(x)).

    k·x is reduced to [−½, ½] cycles in float64 before the float32 cosine and sine, so the
    phase keeps float64 accuracy for any position and frequency."""
    cycles = np.multiply.outer(k, x)
    cycles -= np.rint(cycles)
    angle = (-2 * np.pi * cycles).astype(np.float32)
    out = np.empty(angle.shape, dtype=np.complex64)
    np.cos(angle, out=out.real)
    np.sin(angle, out=out.imag)
    return out
