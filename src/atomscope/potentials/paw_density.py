"""The all-electron density of a GPAW PAW calculation as Fourier-series coefficients, computed
in Fourier space instead of being reconstructed on a refined real-space grid.

PAW writes the all-electron density as the smooth pseudo-density plus one localized correction
per atom (Blöchl, PRB 50, 17953 (1994), Eq. 8; the all-electron density of Susi et al.,
Ultramicroscopy 197 (2019) 16):

    n(r) = ñ(r) + Σ_a Δn_a(r − R_a),
    Δn_a(r) = Σ_ij D^a_ij [φ_i(r) φ_j(r) − φ̃_i(r) φ̃_j(r)] + n_c(r) − ñ_c(r),

with ñ GPAW's pseudo-density (valence plus the smooth core ñ_c) on its coarse grid, D^a the
atomic density matrices, φ and φ̃ the all-electron and smooth partial waves and n_c, ñ_c the
frozen core and its smooth counterpart. Its Fourier-series coefficients on a periodic cell of
volume Ω are (frequencies G without 2π, as everywhere in atomscope)

    n_G = ñ_G + (1/Ω) Σ_a e^{−2πi G·R_a} Δn_a(G),

where ñ_G is the FFT of ñ (zero-padded beyond its grid: GPAW's own refinement is this Fourier
interpolation) and Δn_a(G) follows from the expansion Δn_a(r) = Σ_L Δn_aL(r) Y_L(r̂) in real
spherical harmonics, the products Y_L1 Y_L2 reduced with Gaunt coefficients, and the plane-wave
expansion e^{−2πi G·r} = 4π Σ_L (−i)^l j_l(2π G r) Y_L(Ĝ) Y_L(r̂):

    Δn_a(G) = Σ_L (−i)^l Y_L(Ĝ) 4π ∫ Δn_aL(r) j_l(2π|G|r) r² dr.

The radial (spherical Bessel) transforms are evaluated once per species on a 1D |G| table and
interpolated onto the 3D frequencies, so nothing is sampled on a real-space grid: no aliasing of
the sharp core, no renormalisation, and any frequency can be asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.units import Bohr
from scipy.interpolate import CubicSpline
from scipy.special import spherical_jn

from atomscope.detection.resample import resize_spectrum

__all__ = ["all_electron_spectrum"]

#: radial transforms are tabulated every 1/(TABLE_DENSITY · r_max) [1/Å] (r_max: the
#: augmentation region) and cubic-spline interpolated; error ~ (2π/TABLE_DENSITY)⁴/384 ≲ 2e-6
TABLE_DENSITY = 40
#: the cubic table is refined by this factor for the linear interpolation onto the 3D grid
#: (error ~ (2π/(TABLE_DENSITY·REFINE))²/8 ≲ 1e-5 of the largest coefficient)
REFINE = 16
#: an atom's angular component whose transform stays below this fraction of its spherical one
#: is zero by site symmetry (left at rounding level) and skipped
NEGLIGIBLE = 1e-10


@dataclass(frozen=True)
class _Species:
    """The radial PAW corrections of one setup, on its radial grid up to where they vanish.

    ``pairs[l]`` lists the partial-wave pairs (j1 ≤ j2) whose product can hold angular
    momentum l, ``integrands[l]`` their φ_j1 φ_j2 − φ̃_j1 φ̃_j2 times the quadrature weights
    4π r² dr (shape (len(pairs[l]), n_r)) and ``core`` the same for n_c − ñ_c; ``r`` [Å].
    """

    l_j: tuple[int, ...]
    pairs: dict[int, list[tuple[int, int]]]
    integrands: dict[int, np.ndarray]
    core: np.ndarray
    r: np.ndarray

    def transforms(self, g: np.ndarray) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """4π ∫ f(r) j_l(2πgr) r² dr of every pair (per l, shape (len(g), len(pairs[l])))
        and of the core difference (l = 0, shape (len(g),)) at ``g`` [1/Å]."""
        x = 2 * np.pi * np.outer(g, self.r)
        # the radial part of the plane-wave expansion e^{−ik·r} = 4π Σ_L (−i)^l j_l(kr) Y_L Y_L
        pairs = {ell: spherical_jn(ell, x) @ f.T for ell, f in self.integrands.items()}
        return pairs, np.sinc(2 * np.outer(g, self.r)) @ self.core  # j_0(x) = sin x / x


def _require_new_gpaw(calculator: Any) -> Any:
    """GPAW's ``Densities`` (pseudo-density, density matrices, setups) of a converged new-style
    calculator; a ValueError for anything else."""
    dft = getattr(calculator, "dft", None)
    if not hasattr(dft, "densities"):
        raise ValueError(
            f"{type(calculator).__name__} is not a converged GPAW calculator of the new code "
            "(gpaw.new, the default since GPAW 24): its PAW data cannot be read; use "
            'DFTPotential(..., density="gpaw") for GPAW\'s own real-space density'
        )
    return dft.densities()


def _reciprocal(cell: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Cartesian frequencies Gx, Gy, Gz [1/Å] of the rfft half grid (last axis m ≥ 0)."""
    reciprocal = np.linalg.inv(cell).T  # rows b_i with a_i · b_j = δ_ij (no 2π)
    orders = [
        np.fft.fftfreq(shape[0], 1 / shape[0]),
        np.fft.fftfreq(shape[1], 1 / shape[1]),
        np.arange(shape[2] // 2 + 1, dtype=float),
    ]
    return tuple(
        orders[0][:, None, None] * reciprocal[0, v]
        + orders[1][None, :, None] * reciprocal[1, v]
        + orders[2][None, None, :] * reciprocal[2, v]
        for v in range(3)
    )


def _pseudo_half_spectrum(pseudo: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """rfft-half Fourier-series coefficients of the pseudo-density [e/Å³] on ``shape``, from
    its values on GPAW's grid [e/Bohr³]: zero-padded (or cropped), a split Nyquist bin halved
    on each side so the density stays real, as GPAW's own Fourier interpolation does."""
    spectrum = np.fft.fftn(pseudo) / pseudo.size / Bohr**3
    for axis, n in enumerate(shape):
        spectrum = resize_spectrum(spectrum, axis, n)
    return spectrum[:, :, : shape[2] // 2 + 1]


def _full_spectrum(half: np.ndarray, n_last: int) -> np.ndarray:
    """The full FFT-ordered spectrum of a real function from its rfft half (Hermitian
    symmetry n_{−G} = n_G*)."""
    full = np.empty((*half.shape[:2], n_last), dtype=complex)
    full[:, :, : half.shape[2]] = half
    negative = np.arange(half.shape[2], n_last)  # bins −(n_last − m) of the last axis
    mirror_0 = (-np.arange(half.shape[0])) % half.shape[0]
    mirror_1 = (-np.arange(half.shape[1])) % half.shape[1]
    full[:, :, negative] = np.conj(half[np.ix_(mirror_0, mirror_1, n_last - negative)])
    return full


def _species(setup: Any) -> _Species:
    """The radial PAW corrections of a GPAW ``setup`` (stored in Bohr)."""
    data = setup.data
    rgd = data.rgd
    l_j = tuple(int(ell) for ell in setup.l_j)
    # GPAW keeps partial waves and cores to 2 max(r_cut); φ = φ̃ and n_c = ñ_c beyond r_cut
    end = rgd.ceil(2 * max(setup.rcut_j))
    weight = 4 * np.pi * rgd.r_g[:end] ** 2 * rgd.dr_g[:end]  # GPAW's radial quadrature
    phi = np.asarray(data.phi_jg)[:, :end]
    phit = np.asarray(data.phit_jg)[:, :end]
    pairs: dict[int, list[tuple[int, int]]] = {}
    for j1, l1 in enumerate(l_j):
        for j2 in range(j1, len(l_j)):
            l2 = l_j[j2]
            for ell in range(abs(l1 - l2), l1 + l2 + 1, 2):  # Gaunt: triangle and parity rules
                pairs.setdefault(ell, []).append((j1, j2))
    integrands = {
        # Δn_q(r) = φ_j1 φ_j2 − φ̃_j1 φ̃_j2 (Blöchl 1994, Eq. 8)
        ell: np.array([phi[a] * phi[b] - phit[a] * phit[b] for a, b in selected]) * weight
        for ell, selected in sorted(pairs.items())
    }
    core = (np.asarray(data.nc_g)[:end] - np.asarray(data.nct_g)[:end]) * weight
    # keep the radial points up to the last one where any correction is non-zero
    nonzero = core != 0
    for integrand in integrands.values():
        nonzero |= np.any(integrand != 0, axis=0)
    last = int(np.flatnonzero(nonzero).max(initial=0)) + 1
    return _Species(
        l_j,
        pairs,
        {ell: integrand[:, :last] for ell, integrand in integrands.items()},
        core[:last],
        rgd.r_g[:last] * Bohr,
    )


def _angular_coefficients(species: _Species, density_matrix: np.ndarray) -> dict[int, np.ndarray]:
    """C_{L,q} = Σ_{m1 m2} D_{i1 i2} G_{L1 L2}^{L} (×2 for j1 ≠ j2, D symmetric): the weight of
    pair q in Δn_L(r) = Σ_q C_{L,q} Δn_q(r), per l as arrays (2l + 1, len(pairs[l]))."""
    from gpaw.sphere.gaunt import gaunt

    l_j = species.l_j
    lmax = max(l_j)
    coefficients_lll = gaunt(lmax)  # ∫ Y_L1 Y_L2 Y_L dΩ, GPAW's real harmonics
    starts = np.cumsum([0, *(2 * ell + 1 for ell in l_j)])
    symmetric = (density_matrix + density_matrix.T) / 2
    out = {}
    for ell, selected in sorted(species.pairs.items()):
        block = np.empty((2 * ell + 1, len(selected)))
        for q, (j1, j2) in enumerate(selected):
            l1, l2 = l_j[j1], l_j[j2]
            d = symmetric[starts[j1] : starts[j1 + 1], starts[j2] : starts[j2 + 1]]
            gaunt_block = coefficients_lll[
                l1**2 : (l1 + 1) ** 2, l2**2 : (l2 + 1) ** 2, ell**2 : (ell + 1) ** 2
            ]
            block[:, q] = np.einsum("mn,mnL->L", d, gaunt_block) * (1 if j1 == j2 else 2)
        out[ell] = block
    return out


def _degree(L: int) -> int:
    """l of the combined harmonic index L = l² + m (0 ≤ m ≤ 2l)."""
    return math.isqrt(L)


def _radial_table(
    species: _Species,
    pair_transforms: dict[int, np.ndarray],
    core_transform: np.ndarray,
    density_matrix: np.ndarray,
) -> tuple[np.ndarray, list[int]]:
    """One atom's F_L(g) = 4π ∫ Δn_L(r) j_l(2πgr) r² dr on the table, times (−i)^l up to a
    factor −i for odd l, for the harmonics L it holds (columns, and the list of L)."""
    columns, harmonic_index = [], []
    for ell, block in _angular_coefficients(species, density_matrix).items():
        values = pair_transforms[ell] @ block.T  # (n_table, 2l + 1)
        if ell == 0:
            values = values + core_transform[:, None]  # n_c(r) = nc_g(r) Y_00: L = 0
        sign = (-1) ** (ell // 2)  # (−i)^l = sign for even l, −i·sign for odd l
        columns.extend(sign * values.T)
        harmonic_index.extend(range(ell**2, (ell + 1) ** 2))
    table = np.array(columns).T
    spherical = np.abs(table[:, 0]).max()
    keep = [c for c in range(table.shape[1]) if np.abs(table[:, c]).max() > NEGLIGIBLE * spherical]
    return table[:, keep], [harmonic_index[c] for c in keep]


def all_electron_spectrum(calculator: Any, shape: Sequence[int]) -> np.ndarray:
    """Fourier-series coefficients n_G [e/Å³] of the all-electron density (valence and frozen
    core, spins summed) of a converged GPAW PAW calculation.

    Parameters
    ----------
    calculator
        A converged GPAW calculator (the ``gpaw.new`` code, GPAW's default).
    shape
        The 3D grid whose frequencies are returned, along the cell vectors; frequencies above
        GPAW's own grid hold the PAW corrections only (the pseudo-density ends there).

    Returns
    -------
    numpy.ndarray
        Complex, ``shape``, numpy FFT order: n_G = (1/Ω) ∫_cell n(r) e^{−2πi G·r} d³r, the same
        as ``np.fft.fftn(density) / density.size`` of a density sampled on that grid (without
        its aliasing). n_0 Ω is the number of electrons.

    Examples
    --------
    >>> from ase import Atoms
    >>> from gpaw import GPAW, PW
    >>> atoms = Atoms("He", positions=[(2, 2, 2)], cell=(4, 4, 4), pbc=True)
    >>> atoms.calc = GPAW(mode=PW(250), txt=None)
    >>> energy = atoms.get_potential_energy()
    >>> spectrum = all_electron_spectrum(atoms.calc, (32, 32, 32))
    >>> round(float(spectrum[0, 0, 0].real * 4**3), 8)
    2.0
    """
    from gpaw.sphere.spherical_harmonics import Y

    shape = tuple(int(n) for n in shape)
    densities = _require_new_gpaw(calculator)
    atoms = calculator.get_atoms()
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    pseudo_sR = densities.nt_sR.to_pbc_grid().gather(broadcast=True).data
    matrices = densities.D_asii.gather(broadcast=True)
    spins = pseudo_sR.shape[0] % 3  # 1 or 2 densities (4 components: noncollinear n, m)
    spectrum = _pseudo_half_spectrum(pseudo_sR[:spins].sum(axis=0), shape)

    gx, gy, gz = _reciprocal(cell, shape)
    g = np.sqrt(gx**2 + gy**2 + gz**2).ravel()
    # Ĝ for the harmonics (Y_L(0) = 0 for l > 0; the l = 0 term carries G = 0)
    scale = np.divide(1.0, g, out=np.zeros_like(g), where=g > 0)
    unit = gx.ravel() * scale, gy.ravel() * scale, gz.ravel() * scale
    setups = densities.setups
    species = {id(setup): _species(setup) for setup in setups}
    # one |G| table for all species, fine enough for the most extended correction
    step = 1 / (TABLE_DENSITY * max(radial.r[-1] for radial in species.values()))  # [1/Å]
    g_table = np.arange(int(g.max() / step) + 3) * step
    transforms = {key: radial.transforms(g_table) for key, radial in species.items()}
    fine = np.arange((len(g_table) - 1) * REFINE + 1) * (step / REFINE)
    position = g / (step / REFINE)
    index = position.astype(np.intp)
    fraction = position - index
    harmonics: dict[int, np.ndarray] = {}
    # e^{−2πi G·R_a} = e^{−2πi m·s_a}: separable in the integer orders m
    scaled = atoms.get_scaled_positions(wrap=False)
    orders = [np.fft.fftfreq(n, 1 / n) for n in shape[:2]] + [np.arange(shape[2] // 2 + 1)]
    corrections = np.zeros(g.size, dtype=complex)
    for a, setup in enumerate(setups):
        radial = species[id(setup)]
        d_sii = matrices[a].real
        table, harmonic_index = _radial_table(
            radial, *transforms[id(setup)], d_sii[:spins].sum(axis=0)
        )
        # cubic spline onto the fine table, then linear interpolation at every |G|
        table = np.ascontiguousarray(CubicSpline(g_table, table, axis=0)(fine).T)
        slope = np.diff(table, axis=1, append=table[:, -1:])
        values = np.zeros(g.size), np.zeros(g.size)  # real (even l), −imaginary (odd l)
        for row, L in enumerate(harmonic_index):
            if L not in harmonics:
                harmonics[L] = Y(L, *unit)
            radial_values = table[row][index] + fraction * slope[row][index]
            values[_degree(L) % 2] += harmonics[L] * radial_values
        phase = np.exp(-2j * np.pi * orders[0] * scaled[a, 0])[:, None, None] * (
            np.exp(-2j * np.pi * orders[1] * scaled[a, 1])[None, :, None]
            * np.exp(-2j * np.pi * orders[2] * scaled[a, 2])[None, None, :]
        )
        corrections += phase.ravel() * (values[0] - 1j * values[1])
    spectrum += corrections.reshape(spectrum.shape) / volume
    return _full_spectrum(spectrum, shape[2])
