"""The multislice loop (seed Eqs 2.6–2.9): ψ ← F⁻¹{P_dz · F[t · ψ]} per slice, in place.

Nothing is allocated inside the loop: the transmission function, the wave and the cached
propagators live in FFT-aligned complex64 buffers, and the 1/N of the inverse FFT is folded into
the propagator and the band-limiting aperture. Every spectrum the loop makes is band-limited to
the antialias aperture, so its transforms are pruned to the aperture's rows
(`atomscope.core.fft.fft2_band_inplace`): 5/6 of a full transform each. A vacuum slice
(V = 0, so t = 1) is exactly a multiplication by its propagator in Fourier space, so runs of vacuum slices cost no FFT: the wave
stays in Fourier space until the next slice with atoms, and a run that repeats costs one
multiplication by the product of its propagators.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from atomscope.core.energy import energy2sigma, energy2wavelength
from atomscope.core.fft import band_of, empty, fft2_band_inplace, ifft2_band_inplace
from atomscope.core.grid import Grid
from atomscope.core.memory import check_memory, estimate
from atomscope.core.validate import check_pair, check_range

MAX_TILT = 100.0
"""Largest specimen tilt per axis [mrad] for the tilted propagator (a small-angle model)."""

MAX_VACUUM_RUNS = 2
"""Products of vacuum-slice propagators a stepper keeps (one complex64 grid each)."""


def check_tilt(tilt) -> tuple[float, float]:
    """Return ``tilt`` as a pair (θx, θy) [mrad], each within ±`MAX_TILT`, or raise ValueError."""
    if np.ndim(tilt) != 1:
        raise ValueError(f"tilt must be a pair (θx, θy) [mrad], got {tilt!r}")
    return check_pair(
        "tilt", tilt, lambda name, value: check_range(name, value, -MAX_TILT, MAX_TILT)
    )


def exp_i(phase: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """exp(i·phase) as complex64 from a real ``phase`` [rad], written into ``out`` if given."""
    out = np.empty(phase.shape, dtype=np.complex64) if out is None else out
    np.cos(phase, out=out.real)
    np.sin(phase, out=out.imag)
    return out


def fresnel_propagator(
    grid: Grid, energy: float, thickness: float, tilt: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Fresnel propagator P = exp(−iπλΔz k²) (Fourier transform of seed Eq 2.8), complex64.

    A specimen ``tilt`` (θx, θy) [mrad] adds the shift of the wave by Δz·tan θ per slice:
    P · exp(−2πiΔz(kx tan θx + ky tan θy)) (Kirkland 2010, Eq 6.99, in our FFT sign convention).
    Both phases are sums of an x and a y part, so P is the outer product of two 1D factors,
    each evaluated in float64 (the phase reaches thousands of rad for long distances).
    """
    wavelength = energy2wavelength(energy)
    factors = []
    for k, angle in zip(grid.frequencies(), tilt, strict=True):
        # seed Eq 2.8 and Kirkland Eq 6.99: the slice's content moves by Δz·tan θ
        phase = -np.pi * wavelength * thickness * k**2 - 2 * np.pi * thickness * k * np.tan(
            angle * 1e-3
        )
        factors.append(np.exp(1j * phase).astype(np.complex64))
    return np.multiply.outer(*factors)


class MultisliceStepper:
    """Holds the buffers and cached operators for one grid and energy.

    Parameters
    ----------
    grid
        Lateral grid of the wave and potential.
    energy
        Electron energy [eV].
    antialias_cutoff
        Band limit of transmission function and propagator as a fraction of Nyquist (2/3).
    tilt
        Specimen tilt (θx, θy) [mrad] in the propagator (Kirkland 2010, Eq 6.99).
    """

    def __init__(
        self,
        grid: Grid,
        energy: float,
        antialias_cutoff: float = 2 / 3,
        tilt: tuple[float, float] = (0.0, 0.0),
    ):
        self.grid = grid
        self.energy = energy
        self.tilt = (float(tilt[0]), float(tilt[1]))
        self.sigma = np.float32(energy2sigma(energy))
        self._size = grid.gpts[0] * grid.gpts[1]
        aperture = grid.antialias_aperture(antialias_cutoff)
        self._band = band_of(aperture)
        self._aperture = (aperture / self._size).astype(np.complex64)
        self._propagators: dict[tuple[float, bool], np.ndarray] = {}
        self._vacuum_runs: dict[tuple[tuple[float, ...], bool], np.ndarray] = {}
        self._seen_runs: set[tuple[tuple[float, ...], bool]] = set()
        self._transmission = empty(grid.gpts)
        self._phase = np.empty(grid.gpts, dtype=np.float32)

    def propagator(self, thickness: float, normalized: bool = True) -> np.ndarray:
        """Band-limited propagator for ``thickness`` [Å], complex64.

        With ``normalized`` the inverse FFT's 1/N is folded in (for one forward/inverse pair);
        without, it is the bare band-limited P for chaining in Fourier space.
        """
        key = (round(float(thickness), 9), normalized)
        if key not in self._propagators:
            scale = 1.0 if normalized else self._size
            self._propagators[key] = fresnel_propagator(
                self.grid, self.energy, thickness, self.tilt
            ) * (self._aperture * np.complex64(scale))
        return self._propagators[key]

    def propagate_vacuum(
        self, wave: np.ndarray, thicknesses: tuple[float, ...], normalized: bool
    ) -> None:
        """Apply the propagators of consecutive vacuum slices of ``thicknesses`` [Å] to a
        ``wave`` in Fourier space, in place; ``normalized`` as in `propagator`, for the first.

        A run seen before is one multiplication by the product of its propagators (at most
        `MAX_VACUUM_RUNS` products are kept), equal to applying them one by one, aperture
        included each time.
        """
        key = (tuple(round(float(t), 9) for t in thicknesses), normalized)
        product = self._vacuum_runs.get(key)
        if product is None and key in self._seen_runs and len(self._vacuum_runs) < MAX_VACUUM_RUNS:
            product = self.propagator(thicknesses[0], normalized).copy()
            for thickness in thicknesses[1:]:
                product *= self.propagator(thickness, normalized=False)
            self._vacuum_runs[key] = product
        self._seen_runs.add(key)
        if product is not None:
            wave *= product
            return
        for index, thickness in enumerate(thicknesses):
            wave *= self.propagator(thickness, normalized=normalized and index == 0)

    def transmission(self, potential_slice: np.ndarray) -> np.ndarray:
        """t = exp(iσV) (seed Eq 2.7) band-limited to the antialias aperture, in a reused buffer."""
        np.multiply(potential_slice, self.sigma, out=self._phase)
        t = exp_i(self._phase, out=self._transmission)
        self.to_fourier(t)
        t *= self._aperture
        return self.to_real(t)

    def to_fourier(self, array: np.ndarray) -> np.ndarray:
        """Forward FFT in place, kept on the antialias aperture's rows (unnormalised)."""
        return fft2_band_inplace(array, self._band)

    def to_real(self, array: np.ndarray) -> np.ndarray:
        """Inverse FFT in place of a spectrum band-limited to the antialias aperture (no 1/N:
        it is folded into the aperture and the propagators)."""
        return ifft2_band_inplace(array, self._band, normalize=False)

    def transmit_and_propagate(
        self, wave: np.ndarray, transmission: np.ndarray, propagator: np.ndarray
    ) -> None:
        """In place ψ ← P · F[t · ψ]: one slice, leaving the wave in Fourier space."""
        wave *= transmission
        self.to_fourier(wave)
        wave *= propagator

    def step(self, wave: np.ndarray, transmission: np.ndarray, propagator: np.ndarray) -> None:
        """One slice in place: ψ ← F⁻¹{P · F[t · ψ]} (seed Eq 2.9)."""
        self.transmit_and_propagate(wave, transmission, propagator)
        self.to_real(wave)


def multislice_memory(potential) -> int:
    """Peak bytes of one wave's multislice through one configuration of ``potential`` [B].

    `atomscope.core.memory.estimate` ``("multislice")`` for the grid and elements plus, for the
    infinite projection, the structure-factor matrices of the slice with the most atoms of one
    element. A potential given as slices (no ``atoms``) counts as one element.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomscope.potentials.projected import Potential
    >>> potential = Potential(bulk("Si", cubic=True), gpts=256, slice_thickness=1.0)
    >>> multislice_memory(potential) / (256 * 256)
    116.25
    """
    from atomscope.potentials.slicing import slice_index

    atoms = getattr(potential, "atoms", None)
    if atoms is None:
        return estimate("multislice", gpts=potential.gpts)
    nbytes = estimate("multislice", gpts=potential.gpts, num_elements=len(set(atoms.numbers)))
    if potential.projection == "infinite" and len(atoms):
        slices = slice_index(atoms.positions[:, 2], potential.slice_limits)
        groups = np.column_stack([slices, atoms.numbers])
        fullest = int(np.unique(groups, axis=0, return_counts=True)[1].max())
        nbytes += estimate("structure_factor", gpts=potential.gpts, num_atoms=fullest)
    return nbytes


def check_multislice_memory(potential, waves: int = 1, lanes: int = 1) -> None:
    """Refuse (``ValueError``) a multislice of ``waves`` waves through ``potential``, ``lanes``
    of them at once, that cannot fit (`multislice_memory` per lane plus the waves themselves),
    before anything is allocated."""
    nx, ny = potential.gpts
    check_memory(
        lanes * multislice_memory(potential) + estimate("waves", gpts=potential.gpts, count=waves),
        f"a multislice{f' of {waves} frozen-phonon configurations' if waves > 1 else ''} on "
        f"the {nx}×{ny} grid of sampling {potential.sampling[0]:.3g} Å",
        "use a coarser sampling or a smaller cell",
    )


def run_multislice(
    wave: np.ndarray,
    potential,
    energy: float,
    progress: bool = False,
    projection: np.ndarray | None = None,
    tilt: tuple[float, float] = (0.0, 0.0),
    fourier_space: bool = False,
) -> np.ndarray:
    """Propagate ``wave`` (complex64, aligned, [..., nx, ny]) through ``potential`` in place.

    With ``fourier_space`` the wave is left as its normalised spectrum F[ψ]/N (N pixels; the
    loop's last inverse transform skipped), for a caller that wants the diffraction plane.

    The wave is propagated after every slice, including the last (as abTEM does). Vacuum slices
    are applied in Fourier space without transforms (exact, see the module docstring). If
    ``projection`` (nx, ny) is given, every slice is added to it: the projected potential [V·Å]
    comes for free instead of a second pass over the slices. ``tilt`` (θx, θy) [mrad] tilts
    the specimen relative to the beam (tilted propagator, Kirkland 2010 Eq 6.99).
    """
    stepper = MultisliceStepper(potential.grid, energy, tilt=tilt)
    slices = potential.generate_slices()
    in_fourier_space = False
    vacuum: list[float] = []  # thicknesses of the vacuum slices not yet applied

    def apply_vacuum() -> None:
        nonlocal in_fourier_space
        if vacuum:
            if not in_fourier_space:
                stepper.to_fourier(wave)
            stepper.propagate_vacuum(wave, tuple(vacuum), normalized=not in_fourier_space)
            in_fourier_space = True
            vacuum.clear()

    for potential_slice in tqdm(
        slices, total=potential.num_slices, desc="multislice", unit="slice", disable=not progress
    ):
        if projection is not None:
            projection += potential_slice.array
        if not potential_slice.array.any():
            vacuum.append(potential_slice.thickness)
            continue
        apply_vacuum()
        if in_fourier_space:
            stepper.to_real(wave)
        stepper.transmit_and_propagate(
            wave,
            stepper.transmission(potential_slice.array),
            stepper.propagator(potential_slice.thickness),
        )
        in_fourier_space = True
    apply_vacuum()
    if fourier_space and not in_fourier_space:
        stepper.to_fourier(wave)
        wave /= np.float32(wave.shape[-2] * wave.shape[-1])
    elif in_fourier_space and not fourier_space:
        stepper.to_real(wave)
    return wave
