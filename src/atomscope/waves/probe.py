"""`Probe`: the convergent electron beam of STEM and CBED.

In Fourier space the probe is the condenser lens, Ψ(k) = A(k) exp(−iχ(k)) exp(−2πi k·r_p)
(Kirkland 2010, Eq 5.47; χ as in the CTF, seed Eq 2.10), evaluated by the same `CTF` object as
the objective lens so aberrations carry the same signs; the phase ramp puts the probe centre at
r_p. It is normalised so that Σ|ψ|² = 1 over the real-space pixels (DESIGN.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.fft import empty, ifft2_inplace
from atomscope.core.grid import Grid
from atomscope.core.validate import check_finite_array, check_positive
from atomscope.optics.aberrations import Aberrations
from atomscope.optics.ctf import CTF
from atomscope.waves.diffraction import max_simulated_angle
from atomscope.waves.multislice import exp_i
from atomscope.waves.waves import Waves


def check_positions(positions: Any) -> tuple[np.ndarray, bool]:
    """Positions as a float (n, 2) array [Å] and whether a single (x, y) pair was given."""
    array = check_finite_array("positions", positions)
    if array.shape == (2,):
        return array[None], True
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"positions must be (x, y) or an (n, 2) array [Å], got shape {array.shape}")
    return array, False


class Probe:
    """A focused probe from a condenser aperture and aberrations.

    Parameters
    ----------
    energy
        Electron energy [eV], > 0.
    semiangle_cutoff
        Condenser aperture semi-angle α_c [mrad], > 0.
    soft
        Soft aperture edge (linear over one reciprocal pixel, against ringing; default) instead
        of a hard one.
    aperture_taper
        Width of the soft edge [mrad]; default one pixel of the diffraction plane (λ/extent).
    **aberrations
        Polar coefficients [Å] / angles [rad] by symbol or alias (see `Aberrations`), e.g.
        ``defocus=50`` (positive = underfocus, as for `CTF`), ``Cs=-1e4``.

    Examples
    --------
    >>> from atomscope.core.grid import Grid
    >>> probe = Probe(energy=200e3, semiangle_cutoff=20)
    >>> waves = probe.build(Grid(gpts=64, sampling=0.1), positions=(3.2, 3.2))
    >>> round(float((np.abs(waves.array) ** 2).sum()), 5)
    1.0
    >>> np.unravel_index(np.argmax(np.abs(waves.array)), waves.gpts)
    (np.int64(32), np.int64(32))
    """

    def __init__(
        self,
        energy: float,
        semiangle_cutoff: float,
        soft: bool = True,
        aperture_taper: float | None = None,
        **aberrations: float,
    ):
        semiangle_cutoff = check_positive("semiangle_cutoff", semiangle_cutoff)
        self.aberrations = Aberrations(**aberrations)
        self.ctf = CTF(
            energy,
            semiangle_cutoff=semiangle_cutoff,
            soft=soft,
            aperture_taper=aperture_taper,
            **self.aberrations.nonzero(),
        )

    @property
    def energy(self) -> float:
        """Electron energy [eV]."""
        return self.ctf.energy

    @property
    def semiangle_cutoff(self) -> float:
        """Condenser aperture semi-angle [mrad]."""
        return self.ctf.semiangle_cutoff

    @property
    def wavelength(self) -> float:
        """Relativistic wavelength [Å]."""
        return self.ctf.wavelength

    def __repr__(self) -> str:
        return f"Probe({', '.join(f'{k}={v!r}' for k, v in self.parameters().items())})"

    def parameters(self) -> dict[str, Any]:
        """Energy, aperture and nonzero aberrations (by symbol), e.g. for a JSON summary."""
        return {
            "energy": self.energy,
            "semiangle_cutoff": self.semiangle_cutoff,
            "soft": self.ctf.soft,
            "aperture_taper": self.ctf.aperture_taper,
            **self.aberrations.nonzero(),
        }

    def nyquist_sampling(self) -> float:
        """Scan step [Å] that samples the probe intensity at its Nyquist rate: λ / (4 α_c).

        |ψ|² holds spatial frequencies up to 2 α_c / λ (the autocorrelation of the aperture),
        so steps of 1 / (2 · 2 α_c / λ) lose nothing (abTEM's default scan step is 0.99× this).

        Examples
        --------
        >>> round(Probe(energy=200e3, semiangle_cutoff=20).nyquist_sampling(), 4)
        0.3135
        """
        return float(self.wavelength / (4 * self.semiangle_cutoff * 1e-3))

    def fourier_array(self, grid: Grid) -> np.ndarray:
        """The centred probe A(k) exp(−iχ(k)) in FFT order, complex64, scaled to Σ_k|Ψ|² = N.

        With that scale the normalised inverse FFT has Σ|ψ|² = 1 (Parseval).
        """
        array = self.ctf.evaluate(grid)
        # the zero-frequency pixel always passes the aperture, so the norm is > 0
        norm = float(np.sum(np.abs(array.astype(np.complex128)) ** 2))
        return array * np.complex64(np.sqrt(grid.gpts[0] * grid.gpts[1] / norm))

    def build_array(self, grid: Grid, positions: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write probes centred at ``positions`` (n, 2) [Å] into ``out`` (n, nx, ny), real space.

        ``out`` must be an FFT-aligned complex64 buffer (`atomscope.core.fft.empty`).
        """
        kx, ky = grid.frequencies()
        # shift theorem: a probe at r_p is Ψ(k) exp(−2πi k·r_p); phases in float64
        ramp_x = exp_i(-2 * np.pi * positions[:, :1] * kx[None])
        ramp_y = exp_i(-2 * np.pi * positions[:, 1:] * ky[None])
        np.multiply(self.fourier_array(grid)[None], ramp_x[:, :, None], out=out)
        out *= ramp_y[:, None, :]
        return ifft2_inplace(out)

    def build(self, grid: Grid, positions: Any = None) -> Waves:
        """Probe wave functions on ``grid`` centred at ``positions`` [Å].

        Parameters
        ----------
        grid
            The lateral grid (e.g. ``potential.grid``).
        positions
            One (x, y) pair (gives a 2D wave) or an (n, 2) array (gives a leading axis of n
            waves) [Å]; default the centre of the grid.

        Returns
        -------
        Waves
            Complex64 [(n,) nx, ny], each with Σ|ψ|² = 1.

        Examples
        --------
        >>> from atomscope.core.grid import Grid
        >>> waves = Probe(200e3, 20).build(Grid(gpts=32, sampling=0.2), [[1, 1], [2, 3]])
        >>> waves.array.shape
        (2, 32, 32)
        """
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an atomscope Grid, got {type(grid).__name__}")
        if positions is None:
            positions = np.array(grid.extent) / 2
        positions, single = check_positions(positions)
        array = self.build_array(grid, positions, empty((len(positions), *grid.gpts)))
        return Waves(
            array[0] if single else array,
            grid.sampling,
            self.energy,
            metadata={"probe": self.parameters(), "positions": positions.tolist()},
        )

    def check_grid(self, grid: Grid) -> float:
        """The maximum simulated angle [mrad] of ``grid``; raise if the aperture exceeds it."""
        limit = max_simulated_angle(grid, self.energy)
        if self.semiangle_cutoff > limit:
            raise ValueError(
                f"semiangle_cutoff={self.semiangle_cutoff} mrad exceeds the maximum simulated "
                f"angle {limit:.2f} mrad of the potential grid (sampling {max(grid.sampling):.4g} Å); "
                "use a finer sampling"
            )
        return limit

    def multislice(self, potential, position: Any = None, progress: bool = False) -> Waves:
        """Exit wave(s) of ``potential`` for the probe at ``position`` [Å] (CBED).

        Parameters
        ----------
        potential
            A `Potential` (a frozen-phonon one gives a weighted leading configuration axis).
        position
            (x, y) [Å] inside the cell, or an (n, 2) array of positions; default the centre.
        progress
            Show a progress bar over the slices.

        Examples
        --------
        >>> from ase import Atoms
        >>> from atomscope.potentials.projected import Potential
        >>> vacuum = Potential(Atoms(cell=[6.4, 6.4, 2]), sampling=0.1, slice_thickness=1)
        >>> exit_wave = Probe(200e3, 20).multislice(vacuum, position=(3.2, 3.2))
        >>> round(float((np.abs(exit_wave.array) ** 2).sum()), 4)
        1.0
        """
        self.check_grid(potential.grid)
        if position is not None:
            check_inside(check_positions(position)[0], potential.extent)
        waves = self.build(potential.grid, position)
        waves.metadata.update(
            potential=potential.parametrization,
            slice_thickness=float(potential.thickness / potential.num_slices),
        )
        return waves.multislice(potential, progress=progress)


def check_inside(positions: np.ndarray, extent: tuple[float, float]) -> None:
    """Raise ``ValueError`` unless every position (n, 2) [Å] lies in [0, extent]."""
    low = positions.min(axis=0)
    high = positions.max(axis=0)
    if np.any(low < -1e-9) or np.any(high > np.asarray(extent) * (1 + 1e-9)):
        raise ValueError(
            f"scan positions span x {low[0]:.3f}…{high[0]:.3f} Å, y {low[1]:.3f}…{high[1]:.3f} Å, "
            f"outside the cell [0, {extent[0]:.3f}] × [0, {extent[1]:.3f}] Å"
        )
