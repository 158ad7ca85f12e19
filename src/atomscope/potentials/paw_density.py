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
the sharp core, no renormalisation, and any frequency can be asked for. What depends only on
the PAW setup and the table (the radial corrections, their transforms, the Gaunt coefficients
that contract a density matrix with them) is kept between calls, verified against the setup's
radial data on every use; the 3D sum over atoms and harmonics is one compiled pass over the
frequencies.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from ase.units import Bohr
from scipy.interpolate import CubicSpline

__all__ = ["all_electron_half_spectrum", "all_electron_spectrum", "clear_cache"]

#: radial transforms are computed every 1/(TABLE_DENSITY r_max) [1/Å] (r_max: where the
#: atom's PAW corrections end) and cubic-spline interpolated REFINE× finer, then linearly onto
#: the 3D frequencies (bounds (2π/TABLE_DENSITY)⁴/384 and (2π/(TABLE_DENSITY·REFINE))²/8 of
#: the largest coefficient; measured on graphene: ≤ 1.5e-6 electrons per cell from a table
#: 4× denser and 16× more refined, then summed in single precision)
TABLE_DENSITY = 40
REFINE = 16
#: an atom's angular component (l > 0) whose transform stays below this [electrons] is skipped:
#: zero by site symmetry, or k-point and SCF noise (GPAW converges the density to 1e-4
#: electrons per valence electron), at the tables' own accuracy
NEGLIGIBLE = 1e-6
#: setups (and |G| tables) whose radial corrections are kept between calls, least recently used
#: dropped first: a few MB each (a Mo table of 7000 |G| × 36 columns is 2 MB); `clear_cache`
CACHE_SIZE = 16


@dataclass(frozen=True)
class _Species:
    """The radial PAW corrections of one setup, on its radial grid up to where they vanish.

    ``pairs[l]`` lists the partial-wave pairs (j1 ≤ j2) whose product can hold angular
    momentum l, ``integrands[l]`` their φ_j1 φ_j2 − φ̃_j1 φ̃_j2 times the quadrature weights
    4π r² dr (shape (len(pairs[l]), n_r)) and ``core`` the same for n_c − ñ_c; ``r`` [Å].
    ``gaunt[l]`` (shape (2l + 1, len(pairs[l]), n_i, n_i)) turns a density matrix D into the
    weights C_{L,q} of the pairs (`_angular_coefficients`).
    """

    l_j: tuple[int, ...]
    pairs: dict[int, list[tuple[int, int]]]
    integrands: dict[int, np.ndarray]
    core: np.ndarray
    r: np.ndarray
    gaunt: dict[int, np.ndarray]

    def transforms(self, g: np.ndarray) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """4π ∫ f(r) j_l(2πgr) r² dr of every pair (per l, shape (len(g), len(pairs[l])))
        and of the core difference (l = 0, shape (len(g),)) at ``g`` [1/Å]."""
        # the radial part of the plane-wave expansion e^{−ik·r} = 4π Σ_L (−i)^l j_l(kr) Y_L Y_L
        bessel = _spherical_bessel(max(self.integrands), 2 * np.pi * np.outer(g, self.r))
        pairs = {ell: bessel[ell] @ f.T for ell, f in self.integrands.items()}
        return pairs, bessel[0] @ self.core

    @property
    def step(self) -> float:
        """Spacing of the coarse |G| table [1/Å]: 1/(TABLE_DENSITY r_max)."""
        return 1 / (TABLE_DENSITY * self.r[-1])

    def table_length(self, g_max: float) -> int:
        """Points of the coarse table `tabulate` computes for ``g_max`` [1/Å]."""
        return int(g_max / self.step) + 3

    def tabulate(
        self, g_max: float
    ) -> tuple[float, dict[int, np.ndarray], dict[int, np.ndarray], np.ndarray]:
        """`transforms` on a uniform table from 0 past ``g_max`` [1/Å]: computed every
        1/(TABLE_DENSITY r_max), cubic-spline interpolated REFINE× finer; returns the fine
        spacing [1/Å] and the fine tables (read-only: they are cached), one row per pair (per
        l, shape (len(pairs[l]), n_table)), each row's largest |value| (per l) and the core's
        table (n_table,)."""
        coarse = np.arange(self.table_length(g_max)) * self.step
        pairs, core = self.transforms(coarse)
        stacked = np.column_stack([core, *pairs.values()])
        fine = np.linspace(0, coarse[-1], (len(coarse) - 1) * REFINE + 1)
        stacked = np.ascontiguousarray(CubicSpline(coarse, stacked, axis=0)(fine).T)
        stacked.flags.writeable = False
        ends = np.cumsum([1, *(len(self.pairs[ell]) for ell in pairs)])
        rows = dict(zip(pairs, np.split(stacked, ends[:-1])[1:], strict=True))
        largest = {ell: np.abs(values).max(axis=1) for ell, values in rows.items()}
        return self.step / REFINE, rows, largest, stacked[0]


def _spherical_bessel(lmax: int, x: np.ndarray) -> np.ndarray:
    """j_0(x) … j_lmax(x) for x ≥ 0, shape (lmax + 1, *x.shape).

    For x ≥ 1 the upward recurrence j_{l+1} = (2l + 1) j_l / x − j_{l−1} from
    j_0 = sin x / x, j_1 = sin x / x² − cos x / x (Abramowitz & Stegun 10.1.11, 10.1.19; its
    rounding error grows by at most (2l − 1)!! ≈ 1e4 for l ≤ 6, i.e. stays ~1e-12); below, the
    power series j_l(x) = x^l Σ_k (−x²/2)^k / (k! (2l + 2k + 1)!!) (A&S 10.1.2), whose terms
    fall by ≥ 6× each for x < 1, summed until a term no longer changes the sum (≤ 20 terms).
    Compiled, one x at a time (sin x and cos x vectorised beforehand).

    Examples
    --------
    >>> from scipy.special import spherical_jn
    >>> x = np.array([0.0, 0.5, 3.0, 40.0])
    >>> bool(np.allclose(_spherical_bessel(3, x), [spherical_jn(l, x) for l in range(4)]))
    True
    """
    x = np.asarray(x, dtype=float)
    flat = x.ravel()
    out = np.empty((lmax + 1, flat.size))
    _bessel_values(flat, np.sin(flat), np.cos(flat), out)
    return out.reshape(lmax + 1, *x.shape)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bessel_values(x, sines, cosines, out):  # pragma: no cover - compiled
    """out[l, i] = j_l(x[i]) for l < len(out), as `_spherical_bessel` describes, given
    sin x and cos x."""
    lmax = out.shape[0] - 1
    for i in range(x.shape[0]):
        z = x[i]
        if z >= 1.0:
            sine, cosine = sines[i], cosines[i]
            previous, current = sine / z, sine / z**2 - cosine / z
            out[0, i] = previous
            for ell in range(1, lmax + 1):
                out[ell, i] = current
                previous, current = current, (2 * ell + 1) / z * current - previous
            continue
        step = -(z * z) / 2
        leading = 1.0  # x^l / (2l + 1)!!
        for ell in range(lmax + 1):
            term = leading
            total = term
            for k in range(1, 20):
                term = term * step / (k * (2 * ell + 2 * k + 1))
                if total + term == total:
                    break
                total += term
            out[ell, i] = total
            leading *= z / (2 * ell + 3)


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


def _resize_blocks(n_old: int, n_new: int, n_out: int) -> list[tuple[slice, slice, float]]:
    """The copies (source bins, destination bins, weight) that crop or zero-pad an FFT-ordered
    axis of ``n_old`` bins to ``n_new`` as `resize_spectrum` does (at an even size's Nyquist
    bin the ±f bins summed when cropping, the bin halved onto ±f when padding), destinations
    limited to the first ``n_out`` bins (the rfft half of the last axis)."""
    if n_new == n_old:
        blocks = [(0, n_old, 0, n_old, 1.0)]
    else:
        size = min(n_old, n_new)
        kept = (size - 1) // 2  # ±1 … ±kept copied
        blocks = [(0, kept + 1, 0, kept + 1, 1.0), (n_old - kept, n_old, n_new - kept, n_new, 1.0)]
        nyquist = size // 2
        if size % 2 == 0 and n_new < n_old:
            blocks += [(nyquist, nyquist + 1, nyquist, nyquist + 1, 1.0)]
            blocks += [(n_old - nyquist, n_old - nyquist + 1, nyquist, nyquist + 1, 1.0)]
        elif size % 2 == 0:
            blocks += [(nyquist, nyquist + 1, nyquist, nyquist + 1, 0.5)]
            blocks += [(nyquist, nyquist + 1, n_new - nyquist, n_new - nyquist + 1, 0.5)]
    return [
        (slice(a, a + min(d1, n_out) - d0), slice(d0, min(d1, n_out)), weight)
        for a, _, d0, d1, weight in blocks
        if d0 < min(d1, n_out)
    ]


def _resized(
    spectrum: np.ndarray, shape: Sequence[int], half: bool, n_last: int | None = None
) -> np.ndarray:
    """``spectrum`` (FFT order) cropped or zero-padded to ``shape`` as `resize_spectrum` does
    along each axis; with ``half``, only the rfft half (the first shape[-1] // 2 + 1 bins) of
    the last axis is returned. A ``spectrum`` that is itself an rfft half of ``n_last`` bins
    along its last axis may only be padded along it."""
    n_out = [*shape[:-1], shape[-1] // 2 + 1 if half else shape[-1]]
    n_in = [*spectrum.shape[:-1], spectrum.shape[-1] if n_last is None else n_last]
    out = np.zeros(n_out, dtype=spectrum.dtype)
    axes = [_resize_blocks(*sizes) for sizes in zip(n_in, shape, n_out, strict=True)]
    for blocks in itertools.product(*axes):
        source = tuple(block[0] for block in blocks)
        target = tuple(block[1] for block in blocks)
        weight = math.prod(block[2] for block in blocks)
        out[target] += spectrum[source] if weight == 1 else weight * spectrum[source]
    return out


def _pseudo_half_spectrum(pseudo: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """rfft-half Fourier-series coefficients of the pseudo-density [e/Å³] on ``shape``, from
    its values on GPAW's grid [e/Bohr³]: zero-padded (or cropped), a split Nyquist bin halved
    on each side so the density stays real, as GPAW's own Fourier interpolation does."""
    if shape[2] < pseudo.shape[2]:  # cropping the last axis sums its ±Nyquist bins
        return _resized(np.fft.fftn(pseudo / Bohr**3, norm="forward"), shape, half=True)
    half = np.fft.rfftn(pseudo / Bohr**3, norm="forward")
    return _resized(half, shape, half=True, n_last=pseudo.shape[2])


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


#: what `_species` reads from a setup's data, compared on every cache hit
_RADIAL_DATA = ("phi_jg", "phit_jg", "nc_g", "nct_g")
#: setup identity (symbol, dataset fingerprint) → (its radial data, `_Species`)
_SPECIES: dict[tuple, tuple[list[np.ndarray], _Species]] = {}
#: (setup identity, |G| table length) → (the `_Species` tabulated, `_Species.tabulate`)
_TABLES: dict[tuple, tuple[_Species, tuple]] = {}
#: one thread at a time reads or changes the caches
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget the radial PAW corrections and |G| tables kept between calls (`CACHE_SIZE`).

    Examples
    --------
    >>> clear_cache()
    >>> len(_SPECIES), len(_TABLES)
    (0, 0)
    """
    with _CACHE_LOCK:
        _SPECIES.clear()
        _TABLES.clear()


def _radial_data(setup: Any) -> list[np.ndarray]:
    """Everything `_species` reads from ``setup``, as arrays (the cache's verification)."""
    data = setup.data
    arrays = [np.asarray(setup.l_j, dtype=float), np.asarray(setup.rcut_j, dtype=float)]
    arrays += [data.rgd.r_g, data.rgd.dr_g]
    for name in _RADIAL_DATA:
        value = getattr(data, name)  # an array per radial function, or one (2D: one per row)
        arrays += [value] if getattr(value, "ndim", 2) == 1 else [np.asarray(row) for row in value]
    return arrays


def _remember(cache: dict, key: Any, value: Any) -> None:
    """Store ``value`` as the most recently used entry, dropping the oldest past CACHE_SIZE."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > CACHE_SIZE:
        del cache[next(iter(cache))]


def _cached_species(setup: Any) -> tuple[tuple, _Species]:
    """`_species` of ``setup`` and its cache key, from the cache when the radial data there
    equal the setup's exactly (a same-named setup with other data is recomputed)."""
    key = (setup.symbol, getattr(setup.data, "fingerprint", None), len(setup.l_j))
    arrays = _radial_data(setup)
    with _CACHE_LOCK:
        cached = _SPECIES.get(key)
        if cached is not None and len(cached[0]) == len(arrays):
            if all(np.array_equal(a, b) for a, b in zip(cached[0], arrays, strict=True)):
                _remember(_SPECIES, key, cached)
                return key, cached[1]
    species = _species(setup)
    with _CACHE_LOCK:
        _remember(_SPECIES, key, ([np.array(a, copy=True) for a in arrays], species))
    return key, species


def _cached_tables(
    key: tuple, species: _Species, g_max: float
) -> tuple[float, dict[int, np.ndarray], dict[int, np.ndarray], np.ndarray]:
    """`_Species.tabulate` up to ``g_max`` [1/Å], from the cache when ``species`` (the very
    object `_cached_species` returned) was tabulated to the same length before."""
    length = species.table_length(g_max)
    with _CACHE_LOCK:
        cached = _TABLES.get((key, length))
        if cached is not None and cached[0] is species:
            _remember(_TABLES, (key, length), cached)
            return cached[1]
    tables = species.tabulate(g_max)
    with _CACHE_LOCK:
        _remember(_TABLES, (key, length), (species, tables))
    return tables


def _species(setup: Any) -> _Species:
    """The radial PAW corrections of a GPAW ``setup`` (stored in Bohr)."""
    from gpaw.sphere.gaunt import gaunt

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
    pairs = dict(sorted(pairs.items()))
    integrands = {
        # Δn_q(r) = φ_j1 φ_j2 − φ̃_j1 φ̃_j2, the one-centre density of a pair (Blöchl 1994)
        ell: np.array([phi[a] * phi[b] - phit[a] * phit[b] for a, b in selected]) * weight
        for ell, selected in pairs.items()
    }
    core = (np.asarray(data.nc_g)[:end] - np.asarray(data.nct_g)[:end]) * weight
    # keep the radial points up to the last one where any correction is non-zero
    nonzero = core != 0
    for integrand in integrands.values():
        nonzero |= np.any(integrand != 0, axis=0)
    last = int(np.flatnonzero(nonzero).max(initial=0)) + 1
    # C_{L,q} = Σ_{m1 m2} D_{i1 i2} G_{L1 L2}^{L} (×2 for j1 ≠ j2): as one tensor per l that
    # contracts the whole symmetrised D, ∫ Y_L1 Y_L2 Y_L dΩ in GPAW's real harmonics
    coefficients_lll = gaunt(max(l_j))
    starts = np.cumsum([0, *(2 * ell + 1 for ell in l_j)])
    tensors = {}
    for ell, selected in pairs.items():
        tensor = np.zeros((2 * ell + 1, len(selected), starts[-1], starts[-1]))
        for q, (j1, j2) in enumerate(selected):
            l1, l2 = l_j[j1], l_j[j2]
            block = coefficients_lll[
                l1**2 : (l1 + 1) ** 2, l2**2 : (l2 + 1) ** 2, ell**2 : (ell + 1) ** 2
            ]
            tensor[:, q, starts[j1] : starts[j1 + 1], starts[j2] : starts[j2 + 1]] = np.moveaxis(
                block, 2, 0
            ) * (1 if j1 == j2 else 2)
        tensors[ell] = (tensor + np.swapaxes(tensor, 2, 3)) / 2  # D enters as (D + Dᵀ)/2
    return _Species(
        l_j,
        pairs,
        {ell: integrand[:, :last] for ell, integrand in integrands.items()},
        core[:last],
        rgd.r_g[:last] * Bohr,
        tensors,
    )


def _angular_coefficients(species: _Species, density_matrix: np.ndarray) -> dict[int, np.ndarray]:
    """C_{L,q} = Σ_{m1 m2} D_{i1 i2} G_{L1 L2}^{L} (×2 for j1 ≠ j2, D symmetrised): the weight
    of pair q in Δn_L(r) = Σ_q C_{L,q} Δn_q(r), per l as arrays (2l + 1, len(pairs[l]))."""
    flat = density_matrix.ravel()
    return {
        ell: (tensor.reshape(-1, flat.size) @ flat).reshape(tensor.shape[:2])
        for ell, tensor in species.gaunt.items()
    }


def _radial_table(
    species: _Species,
    pair_transforms: dict[int, np.ndarray],
    pair_largest: dict[int, np.ndarray],
    core_transform: np.ndarray,
    density_matrix: np.ndarray,
) -> tuple[np.ndarray, list[int]]:
    """One atom's F_L(g) = 4π ∫ Δn_L(r) j_l(2πgr) r² dr on the table, times (−i)^l up to a
    factor −i for odd l, for the harmonics L it holds (columns, a transposed C-ordered array,
    and the list of L), from the pairs' transforms and their largest values
    (`_Species.tabulate`). A harmonic whose bound Σ_q |C_{L,q}| max |pair q| is below
    NEGLIGIBLE / 2 is not computed: its transform is below NEGLIGIBLE, and skipped either way."""
    rows, harmonics = [], []
    for ell, block in _angular_coefficients(species, density_matrix).items():
        needed = np.abs(block) @ pair_largest[ell] > NEGLIGIBLE / 2
        needed[0] |= ell == 0
        # (−i)^l = (−1)^(l/2) for even l, −i·(−1)^((l−1)/2) for odd l
        sign = -1 if ell % 4 >= 2 else 1
        rows += [(sign * block[needed], pair_transforms[ell])]
        harmonics += [ell**2 + int(m) for m in np.flatnonzero(needed)]
    table = np.empty((len(harmonics), len(core_transform)))
    start = 0
    for block, transforms in rows:
        np.matmul(block, transforms, out=table[start : start + len(block)])
        start += len(block)
    table[0] += core_transform  # n_c(r) = nc_g(r) Y_00: L = 0
    largest = np.maximum(table.max(axis=1), -table.min(axis=1))
    keep = [0, *(int(row) + 1 for row in np.flatnonzero(largest[1:] > NEGLIGIBLE))]
    return table[keep].T, [harmonics[row] for row in keep]


def _harmonic_polynomials(indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GPAW's real spherical harmonics Y_L, L in ``indices``, as the polynomials in the unit
    vector's components GPAW tabulates (``YL``): the start of each L's monomials (one more
    entry for the end), their coefficients and their powers (n, 3)."""
    from gpaw.sphere.spherical_harmonics import YL

    monomials = [term for L in indices for term in YL[L]]
    starts = np.cumsum([0, *(len(YL[L]) for L in indices)])
    coefficients = np.array([c for c, _ in monomials], dtype=float)
    powers = np.array([p for _, p in monomials], dtype=np.int64).reshape(-1, 3)
    return starts, coefficients, powers


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _add_atoms(
    out,
    class_x,
    member_x,
    sign_x,
    class_y,
    member_y,
    sign_y,
    orders_z,
    reciprocal,
    phase_x,
    phase_y,
    phase_z,
    tables,
    steps,
    column_start,
    column_species,
    column_harmonic,
    column_bin,
    monomial_start,
    monomial_coefficient,
    monomial_power,
    scale,
):  # pragma: no cover - compiled
    """out_G += scale Σ_a e^{−2πi G·R_a} Σ_L (−i)^l Y_L(Ĝ) F_aL(|G|) on the rfft half grid,
    one line of m_z at a time for each class of lines that share |G|; see `_corrections`."""
    n_atoms = phase_x.shape[0]
    n_species = steps.shape[0]
    n_harmonics = monomial_start.shape[0] - 1
    n_z = out.shape[2]
    lmax = 0
    for m in range(monomial_power.shape[0]):
        for v in range(3):
            lmax = max(lmax, monomial_power[m, v])
    power = np.ones((3, lmax + 1, n_z))
    harmonic = np.empty((n_harmonics, n_z))
    index = np.empty((n_species, n_z), dtype=np.uint64)
    fraction = np.empty((n_species, n_z))
    binned = np.empty((8 * n_atoms, n_z))  # per atom: odd l, Y_L's parity in y and in x
    real = np.empty(n_z)
    imaginary = np.empty(n_z)
    for cx in range(class_x.shape[0]):
        for cy in range(class_y.shape[0]):
            # G = m_x b_x + m_y b_y + m_z b_z (reciprocal rows b_i, no 2π) of the class
            base_x = class_x[cx] * reciprocal[0, 0] + class_y[cy] * reciprocal[1, 0]
            base_y = class_x[cx] * reciprocal[0, 1] + class_y[cy] * reciprocal[1, 1]
            base_z = class_x[cx] * reciprocal[0, 2] + class_y[cy] * reciprocal[1, 2]
            for iz in range(n_z):
                gx = base_x + orders_z[iz] * reciprocal[2, 0]
                gy = base_y + orders_z[iz] * reciprocal[2, 1]
                gz = base_z + orders_z[iz] * reciprocal[2, 2]
                g = np.sqrt(gx * gx + gy * gy + gz * gz)
                inverse = 1.0 / g if g > 0 else 0.0  # Y_L(0) = 0 for l > 0
                for k in range(1, lmax + 1):
                    power[0, k, iz] = power[0, k - 1, iz] * gx * inverse
                    power[1, k, iz] = power[1, k - 1, iz] * gy * inverse
                    power[2, k, iz] = power[2, k - 1, iz] * gz * inverse
                for s in range(n_species):
                    position = g / steps[s]
                    index[s, iz] = int(position)
                    fraction[s, iz] = position - int(position)
            for h in range(n_harmonics):
                harmonic[h] = 0.0
                for m in range(monomial_start[h], monomial_start[h + 1]):
                    coefficient = monomial_coefficient[m]
                    px, py, pz = monomial_power[m, 0], monomial_power[m, 1], monomial_power[m, 2]
                    for iz in range(n_z):
                        harmonic[h, iz] += (
                            coefficient * power[0, px, iz] * power[1, py, iz] * power[2, pz, iz]
                        )
            binned[:] = 0.0
            for c in range(column_bin.shape[0]):
                s = column_species[c]
                start = column_start[c]
                row = binned[column_bin[c]]
                weight = harmonic[column_harmonic[c]]
                for iz in range(n_z):
                    # linear interpolation in the table, times Y_L
                    k = start + index[s, iz]
                    below = tables[k]
                    row[iz] += weight[iz] * (below + fraction[s, iz] * (tables[k + 1] - below))
            for mx in range(2):
                ix = member_x[cx, mx]
                if ix < 0:
                    continue
                sx = sign_x[cx, mx]
                for my in range(2):
                    iy = member_y[cy, my]
                    if iy < 0:
                        continue
                    sy = sign_y[cy, my]
                    real[:] = 0.0
                    imaginary[:] = 0.0
                    for a in range(n_atoms):
                        phase = phase_x[a, ix] * phase_y[a, iy]
                        b = 8 * a
                        for iz in range(n_z):
                            # Y_L(±x, ±y, z) = (±1)^{p_x} (±1)^{p_y} Y_L(x, y, z)
                            even = binned[b, iz] + sx * binned[b + 1, iz]
                            even += sy * (binned[b + 2, iz] + sx * binned[b + 3, iz])
                            odd = binned[b + 4, iz] + sx * binned[b + 5, iz]
                            odd += sy * (binned[b + 6, iz] + sx * binned[b + 7, iz])
                            # e^{−2πi G·R_a} (F_even − i F_odd)
                            p = phase * phase_z[a, iz]
                            real[iz] += p.real * even + p.imag * odd
                            imaginary[iz] += p.imag * even - p.real * odd
                    for iz in range(n_z):
                        out[ix, iy, iz] += scale * complex(real[iz], imaginary[iz])


def _line_classes(n: int, mirrored: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The FFT orders of an axis of n points grouped into classes that share |G|: with
    ``mirrored`` (G ↦ G with this component negated is a reflection of the cell) the pairs
    ±m (m > 0) and the orders 0 and −n/2 alone, else every order alone. Returns each class's
    order, its (up to 2) indices (−1: none) and the sign of the order of each."""
    orders = np.fft.fftfreq(n, 1 / n)
    index = np.flatnonzero((orders >= 0) | (orders == -n / 2)) if mirrored else np.arange(n)
    partner = np.where(mirrored & (orders[index] > 0), n - index, -1)
    signs = np.tile([1.0, -1.0], (len(index), 1))
    return orders[index], np.stack([index, partner], axis=1), signs


def _corrections(
    out: np.ndarray,
    cell: np.ndarray,
    scaled: np.ndarray,
    species: Sequence[int],
    atom_tables: Sequence[tuple[np.ndarray, list[int]]],
    steps: Sequence[float],
    scale: float,
) -> None:
    """Add ``scale`` Σ_a e^{−2πi G·R_a} Δn_a(G) to the rfft half spectrum ``out`` (in place).

    Along x and y, where the reciprocal lattice vector lies along the Cartesian axis and the
    others are perpendicular to it (an orthorhombic cell along x, y, z), G and G with that
    component negated share |G| and Y_L(Ĝ) up to the sign (−1)^{p} of the harmonic's power p
    of that component: the radial interpolation and harmonics are computed once for them.

    Parameters
    ----------
    out
        Complex, the rfft half grid (last axis m ≥ 0) of the cell ``cell``.
    cell
        The cell vectors as rows [Å].
    scaled
        The atoms' scaled positions (n_atoms, 3).
    species
        Each atom's species index (into ``steps``).
    atom_tables
        Each atom's `_radial_table` (its columns on its species' table) and harmonics L.
    steps
        Each species' table spacing [1/Å].
    scale
        Factor on the corrections (1/Ω [1/Å³] for coefficients per volume).
    """
    reciprocal = np.linalg.inv(cell).T  # rows b_i with a_i · b_j = δ_ij (no 2π)
    orders = [np.fft.fftfreq(n, 1 / n) for n in out.shape[:2]]
    orders.append(np.arange(out.shape[2], dtype=float))
    # e^{−2πi G·R_a} = e^{−2πi m·s_a}: separable in the integer orders m
    phases = [np.exp(-2j * np.pi * np.outer(scaled[:, v], orders[v])) for v in range(3)]
    off_axis = reciprocal - np.diag(np.diag(reciprocal))
    lines = [
        _line_classes(out.shape[v], not off_axis[v].any() and not off_axis[:, v].any())
        for v in (0, 1)
    ]
    # the columns: each atom's harmonics, their index among all needed, their atom and bin
    counts = [len(harmonics) for _, harmonics in atom_tables]
    needed, harmonic = np.unique(
        np.concatenate([harmonics for _, harmonics in atom_tables]), return_inverse=True
    )
    monomials = _harmonic_polynomials(needed.tolist())
    powers = monomials[2][monomials[0][:-1]]  # every monomial of Y_L has the same parities
    degree = np.array([_degree(L) for L in needed.tolist()])
    bins = 4 * (degree % 2) + powers[:, 0] % 2 + 2 * (powers[:, 1] % 2)
    atom = np.repeat(np.arange(len(atom_tables)), counts)
    # each column with its last point repeated, so that index + 1 stays in the table
    columns = [part for table, _ in atom_tables for row in table.T for part in (row, row[-1:])]
    lengths = np.repeat([len(table) + 1 for table, _ in atom_tables], counts)
    _add_atoms(
        out,
        *lines[0],
        *lines[1],
        orders[2],
        reciprocal,
        *phases,
        np.concatenate(columns),
        np.array(steps, dtype=float),
        (np.cumsum(lengths) - lengths).astype(np.uint64),
        np.asarray(species)[atom],
        harmonic,
        8 * atom + bins[harmonic],
        *monomials,
        float(scale),
    )


def _degree(L: int) -> int:
    """l of the combined harmonic index L = l² + m (0 ≤ m ≤ 2l)."""
    return math.isqrt(L)


def _reciprocal_length_max(cell: np.ndarray, shape: Sequence[int]) -> float:
    """The largest |G| [1/Å] of the rfft half grid ``shape`` of ``cell``: at a corner of its
    box of orders (|G|² is convex in them), −n//2 … (n − 1)//2 and 0 … n//2 on the last axis."""
    bounds = [(-(n // 2), (n - 1) // 2) for n in shape[:2]] + [(0, shape[2] // 2)]
    corners = np.array(list(itertools.product(*bounds)), dtype=float)
    return float(np.linalg.norm(corners @ np.linalg.inv(cell).T, axis=1).max())


def all_electron_half_spectrum(calculator: Any, shape: Sequence[int]) -> np.ndarray:
    """`all_electron_spectrum` on the rfft half grid: its frequencies with m_z ≥ 0, complex,
    shape (shape[0], shape[1], shape[2] // 2 + 1) (the rest is n_{−G} = n_G*)."""
    shape = tuple(int(n) for n in shape)
    densities = _require_new_gpaw(calculator)
    atoms = calculator.get_atoms()
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    pseudo_sR = densities.nt_sR.to_pbc_grid().gather(broadcast=True).data
    matrices = densities.D_asii.gather(broadcast=True)
    spins = pseudo_sR.shape[0] % 3  # 1 or 2 densities (4 components: noncollinear n, m)
    spectrum = _pseudo_half_spectrum(pseudo_sR[:spins].sum(axis=0), shape)
    g_max = _reciprocal_length_max(cell, shape)
    # per species, a |G| table fine for its augmentation sphere that every |G| of the grid
    # falls on (linear interpolation), from the cache for a setup seen before
    species, tables, species_index = {}, [], []
    for setup in densities.setups:
        if id(setup) not in species:
            key, radial = _cached_species(setup)
            species[id(setup)] = (len(tables), radial)
            tables.append(_cached_tables(key, radial, g_max))
        species_index.append(species[id(setup)][0])
    radial_tables = []
    electrons = 0.0  # Σ_a ∫ Δn_a d³r = Σ_a F_a,00(0) Y_00, kept in double precision for n_0
    for a, setup in enumerate(densities.setups):
        s, radial = species[id(setup)]
        table, harmonic_index = _radial_table(
            radial, *tables[s][1:], matrices[a].real[:spins].sum(axis=0)
        )
        electrons += table[0, 0] / np.sqrt(4 * np.pi)
        radial_tables.append((table, harmonic_index))
    pseudo_mean = spectrum[0, 0, 0]
    _corrections(
        spectrum,
        cell,
        atoms.get_scaled_positions(wrap=False),
        species_index,
        radial_tables,
        [step for step, *_ in tables],
        1 / volume,
    )
    spectrum[0, 0, 0] = pseudo_mean + electrons / volume  # the electron count, unrounded
    return spectrum


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
    return _full_spectrum(all_electron_half_spectrum(calculator, shape), int(shape[2]))
