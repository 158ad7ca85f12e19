"""The all-electron density of a GPAW PAW calculation as Fourier-series coefficients, computed
in Fourier space instead of being reconstructed on a refined real-space grid.

PAW writes the all-electron density as the smooth pseudo-density plus one localized correction
per atom (Blöchl, PRB 50, 17953 (1994); the all-electron density of Susi et al.,
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

from atomscope.detection.resample import resize_spectrum

__all__ = ["all_electron_spectrum"]

#: radial transforms are computed every 1/(TABLE_DENSITY r_max) [1/Å] (r_max: where the
#: atom's PAW corrections end) and cubic-spline interpolated REFINE× finer, then linearly onto
#: the 3D frequencies (bounds (2π/TABLE_DENSITY)⁴/384 and (2π/(TABLE_DENSITY·REFINE))²/8 of
#: the largest coefficient; measured on graphene: ≤ 1.5e-6 electrons per cell from a table
#: 4× denser and 16× more refined, the rounding of the single-precision 3D sums)
TABLE_DENSITY = 40
REFINE = 16
#: an atom's angular component (l > 0) whose transform stays below this [electrons] is skipped:
#: zero by site symmetry, or k-point and SCF noise (GPAW converges the density to 1e-4
#: electrons per valence electron), at the tables' own accuracy
NEGLIGIBLE = 1e-6


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
        # the radial part of the plane-wave expansion e^{−ik·r} = 4π Σ_L (−i)^l j_l(kr) Y_L Y_L
        bessel = _spherical_bessel(max(self.integrands), 2 * np.pi * np.outer(g, self.r))
        pairs = {ell: bessel[ell] @ f.T for ell, f in self.integrands.items()}
        return pairs, bessel[0] @ self.core

    def tabulate(self, g_max: float) -> tuple[float, dict[int, np.ndarray], np.ndarray]:
        """`transforms` on a uniform table from 0 past ``g_max`` [1/Å]: computed every
        1/(TABLE_DENSITY r_max), cubic-spline interpolated REFINE× finer; returns the fine
        spacing [1/Å] and the fine tables."""
        step = 1 / (TABLE_DENSITY * self.r[-1])
        coarse = np.arange(int(g_max / step) + 3) * step
        pairs, core = self.transforms(coarse)
        stacked = np.column_stack([core, *pairs.values()])
        fine = np.linspace(0, coarse[-1], (len(coarse) - 1) * REFINE + 1)
        stacked = CubicSpline(coarse, stacked, axis=0)(fine)
        ends = np.cumsum([1, *(len(self.pairs[ell]) for ell in pairs)])
        columns = dict(zip(pairs, np.split(stacked, ends[:-1], axis=1)[1:], strict=True))
        return step / REFINE, columns, stacked[:, 0]


def _spherical_bessel(lmax: int, x: np.ndarray) -> np.ndarray:
    """j_0(x) … j_lmax(x) for x ≥ 0, shape (lmax + 1, *x.shape).

    For x ≥ 1 the upward recurrence j_{l+1} = (2l + 1) j_l / x − j_{l−1} from
    j_0 = sin x / x, j_1 = sin x / x² − cos x / x (Abramowitz & Stegun 10.1.11, 10.1.19; its
    rounding error grows by at most (2l − 1)!! ≈ 1e4 for l ≤ 6, i.e. stays ~1e-12); below, the
    power series j_l(x) = x^l Σ_k (−x²/2)^k / (k! (2l + 2k + 1)!!) (A&S 10.1.2), whose terms
    fall by ≥ 6× each for x < 1 (20 terms: converged to rounding).

    Examples
    --------
    >>> from scipy.special import spherical_jn
    >>> x = np.array([0.0, 0.5, 3.0, 40.0])
    >>> bool(np.allclose(_spherical_bessel(3, x), [spherical_jn(l, x) for l in range(4)]))
    True
    """
    x = np.asarray(x, dtype=float)
    out = np.empty((lmax + 1, *x.shape))
    large = x >= 1
    z = x[large]
    sine, cosine = np.sin(z), np.cos(z)
    previous, current = sine / z, sine / z**2 - cosine / z
    out[0][large] = previous
    for ell in range(1, lmax + 1):
        out[ell][large] = current
        previous, current = current, (2 * ell + 1) / z * current - previous
    z = x[~large]
    step = -(z**2) / 2
    for ell in range(lmax + 1):
        term = z**ell / math.prod(range(1, 2 * ell + 2, 2))  # x^l / (2l + 1)!!
        total = term.copy()
        for k in range(1, 20):
            term = term * step / (k * (2 * ell + 2 * k + 1))
            total += term
        out[ell][~large] = total
    return out


def _require_new_gpaw(calculator: Any) -> Any:
    """GPAW's ``Densities`` (pseudo-density, density matrices, setups) of a converged new-style
    calculator; a ValueError for anything else."""
    dft = getattr(calculator, "dft", None)
    if not hasattr(dft, "densities"):
        raise ValueError(
            f"{type(calculator).__name__} is not a converged GPAW calculator of the new code "
            "(gpaw.new, GPAW's default): its PAW data cannot be read; use "
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
        # Δn_q(r) = φ_j1 φ_j2 − φ̃_j1 φ̃_j2, the one-centre density of a pair (Blöchl 1994)
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


def _harmonics(indices: Sequence[int], unit: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
    """GPAW's real spherical harmonics Y_L at the unit vectors ``unit`` (x, y, z arrays), as the
    polynomials GPAW tabulates (``YL``: coefficient, powers), each monomial computed once."""
    from gpaw.sphere.spherical_harmonics import YL

    monomials: dict[tuple[int, int, int], np.ndarray] = {(0, 0, 0): np.ones_like(unit[0])}

    def monomial(powers: tuple[int, int, int]) -> np.ndarray:
        if powers not in monomials:
            axis = next(v for v in range(3) if powers[v])
            lower = tuple(p - (v == axis) for v, p in enumerate(powers))
            monomials[powers] = monomial(lower) * unit[axis]
        return monomials[powers]

    return {L: sum(c * monomial(tuple(p)) for c, p in YL[L]) for L in indices}


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
    keep = [0, *np.flatnonzero(np.abs(table[:, 1:]).max(axis=0) > NEGLIGIBLE) + 1]
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
    unit = [(component.ravel() * scale).astype(np.float32) for component in (gx, gy, gz)]
    setups = densities.setups
    species = {id(setup): _species(setup) for setup in setups}
    # per species, a |G| table fine for its augmentation sphere and where every |G| of the grid
    # falls on it (linear interpolation)
    tables = {}
    for key, radial in species.items():
        step, pairs, core = radial.tabulate(float(g.max()))
        position = g / step
        index = position.astype(np.intp)
        tables[key] = pairs, core, index, (position - index).astype(np.float32)
    radial_tables = []
    electrons = 0.0  # Σ_a ∫ Δn_a d³r = Σ_a F_a,00(0) Y_00, kept in double precision for n_0
    for a, setup in enumerate(setups):
        table, harmonic_index = _radial_table(
            species[id(setup)], *tables[id(setup)][:2], matrices[a].real[:spins].sum(axis=0)
        )
        electrons += table[0, 0] / np.sqrt(4 * np.pi)
        radial_tables.append((table.T.astype(np.float32), harmonic_index))
    needed = sorted({L for _, harmonic_index in radial_tables for L in harmonic_index})
    harmonics = _harmonics(needed, unit)
    # e^{−2πi G·R_a} = e^{−2πi m·s_a}: separable in the integer orders m
    scaled = atoms.get_scaled_positions(wrap=False)
    orders = [np.fft.fftfreq(n, 1 / n) for n in shape[:2]] + [np.arange(shape[2] // 2 + 1)]
    # the 3D work in single precision: its rounding (1e-7) is far below the tables' accuracy
    corrections = np.zeros(g.size, dtype=np.complex64)
    for a, (setup, (table, harmonic_index)) in enumerate(zip(setups, radial_tables, strict=True)):
        index, fraction = tables[id(setup)][2:]
        # linear interpolation of every harmonic's radial function at every |G|
        radial_values = np.take(table, index, axis=1)
        radial_values += fraction * np.take(
            np.diff(table, axis=1, append=table[:, -1:]), index, axis=1
        )
        values = [np.zeros(g.size, np.float32), np.zeros(g.size, np.float32)]  # even, odd l
        for row, L in enumerate(harmonic_index):
            values[_degree(L) % 2] += harmonics[L] * radial_values[row]
        phase = np.exp(-2j * np.pi * orders[0] * scaled[a, 0])[:, None, None] * (
            np.exp(-2j * np.pi * orders[1] * scaled[a, 1])[None, :, None]
            * np.exp(-2j * np.pi * orders[2] * scaled[a, 2])[None, None, :]
        )
        corrections += phase.astype(np.complex64).ravel() * (values[0] - 1j * values[1])
    pseudo_mean = spectrum[0, 0, 0]
    spectrum += corrections.reshape(spectrum.shape) / volume
    spectrum[0, 0, 0] = pseudo_mean + electrons / volume  # the electron count, unrounded
    return _full_spectrum(spectrum, shape[2])
