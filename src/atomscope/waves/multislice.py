"""The multislice loop (seed Eqs 2.6–2.9): ψ ← F⁻¹{P_dz · F[t · ψ]} per slice, in place.

Nothing is allocated inside the loop: the transmission function, the wave and the cached
propagators live in FFT-aligned complex64 buffers, and the 1/N of the inverse FFT is folded into
the propagator and the band-limiting aperture. A vacuum slice (V = 0, so t = 1) is exactly a
multiplication by its propagator in Fourier space, so runs of vacuum slices cost no FFT: the wave
stays in Fourier space until the next slice with atoms.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from atomscope.core.energy import energy2sigma, energy2wavelength
from atomscope.core.fft import empty, fft2_inplace, ifft2_inplace
from atomscope.core.grid import Grid
from atomscope.core.memory import check_memory, estimate
from atomscope.core.validate import check_pair, check_range

MAX_TILT = 100.0
"""Largest specimen tilt per axis [mrad] for the tilted propagator (a small-angle model)."""


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
    """
    wavelength = energy2wavelength(energy)
    # the phase stays float64: it reaches thousands of rad for long propagation distances
    phase = -np.pi * wavelength * thickness * grid.frequency_squared()
    if tilt[0] or tilt[1]:
        kx, ky = grid.frequencies()
        # Kirkland Eq 6.99: the slice's content moves by Δz·tan θ
        phase -= (
            2
            * np.pi
            * thickness
            * (kx[:, None] * np.tan(tilt[0] * 1e-3) + ky[None, :] * np.tan(tilt[1] * 1e-3))
        )
    return exp_i(phase)


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
        self._aperture = (grid.antialias_aperture(antialias_cutoff) / self._size).astype(
            np.complex64
        )
        self._propagators: dict[tuple[float, bool], np.ndarray] = {}
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

    def transmission(self, potential_slice: np.ndarray) -> np.ndarray:
        """t = exp(iσV) (seed Eq 2.7) band-limited to the antialias aperture, in a reused buffer."""
        np.multiply(potential_slice, self.sigma, out=self._phase)
        t = exp_i(self._phase, out=self._transmission)
        fft2_inplace(t)
        t *= self._aperture
        return ifft2_inplace(t, normalize=False)

    @staticmethod
    def transmit_and_propagate(
        wave: np.ndarray, transmission: np.ndarray, propagator: np.ndarray
    ) -> None:
        """In place ψ ← P · F[t · ψ]: one slice, leaving the wave in Fourier space."""
        wave *= transmission
        fft2_inplace(wave)
        wave *= propagator

    def step(self, wave: np.ndarray, transmission: np.ndarray, propagator: np.ndarray) -> None:
        """One slice in place: ψ ← F⁻¹{P · F[t · ψ]} (seed Eq 2.9)."""
        self.transmit_and_propagate(wave, transmission, propagator)
        ifft2_inplace(wave, normalize=False)


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


def check_multislice_memory(potential, waves: int = 1) -> None:
    """Refuse (``ValueError``) a multislice of ``waves`` waves through ``potential`` that cannot
    fit (`multislice_memory` plus the waves themselves), before anything is allocated."""
    nx, ny = potential.gpts
    check_memory(
        multislice_memory(potential) + estimate("waves", gpts=potential.gpts, count=waves),
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
) -> np.ndarray:
    """Propagate ``wave`` (complex64, aligned, [..., nx, ny]) through ``potential`` in place.

    The wave is propagated after every slice, including the last (as abTEM does). Vacuum slices
    are applied in Fourier space without transforms (exact, see the module docstring). If
    ``projection`` (nx, ny) is given, every slice is added to it: the projected potential [V·Å]
    comes for free instead of a second pass over the slices. ``tilt`` (θx, θy) [mrad] tilts
    the specimen relative to the beam (tilted propagator, Kirkland 2010 Eq 6.99).
    """
    stepper = MultisliceStepper(potential.grid, energy, tilt=tilt)
    slices = potential.generate_slices()
    in_fourier_space = False
    for potential_slice in tqdm(
        slices, total=potential.num_slices, desc="multislice", unit="slice", disable=not progress
    ):
        if projection is not None:
            projection += potential_slice.array
        if not potential_slice.array.any():
            if in_fourier_space:
                wave *= stepper.propagator(potential_slice.thickness, normalized=False)
            else:
                fft2_inplace(wave)
                wave *= stepper.propagator(potential_slice.thickness)
                in_fourier_space = True
            continue
        if in_fourier_space:
            ifft2_inplace(wave, normalize=False)
        stepper.transmit_and_propagate(
            wave,
            stepper.transmission(potential_slice.array),
            stepper.propagator(potential_slice.thickness),
        )
        in_fourier_space = True
    if in_fourier_space:
        ifft2_inplace(wave, normalize=False)
    return wave
