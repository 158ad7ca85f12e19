"""The independent-column model of the exit wave (seed thesis §4.3.1, Eqs 4.4–4.5, Figs 4.4–4.5).

Along a low-index zone axis of a heavy crystal thinner than ~10 nm, electrons channel along
each atomic column, so the exit wave is nearly the plane wave plus the sum of what each column
scatters on its own:

    ψ_s,i = ψ_i − ψ0                (Eq 4.4, ψ_i the exit wave with only column i kept)
    ψ_full ≈ ψ0 + Σ_i ψ_s,i         (Eq 4.5)

The lens acts linearly on the wave, so the same sum holds at the image plane. How far one
column's image spreads — its radius of influence — sets when neighbouring columns start to
overlap and bias the measured positions (Fig 4.5: flat up to Δf ≈ 8 nm at Cs = −10 µm, then
growing about linearly).

Defocus follows atomscope: ``defocus = −C10`` (positive = underfocus). The seed writes
Δf = C10, so its Δf = 8.5 nm at Cs = −10 µm (overfocus, bright columns) is ``defocus=-85``.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from atomscope.core.validate import (
    check_atoms,
    check_finite_array,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)
from atomscope.structures._elements import check_symbol

__all__ = ["column_intensity_profile", "independent_column_wave", "radius_of_influence"]

#: Atom spacing along a ⟨110⟩ column of gold, a/√2 with ASE's a = 4.08 Å [Å].
AU_110_SPACING = 4.08 / np.sqrt(2)
#: Default grouping tolerance of the fast path [Å]: columns whose atoms agree to this, relative
#: to the column's mean (x, y) and in absolute z, share one simulation.
REUSE_TOLERANCE = 1e-3


def _offsets(atoms: Atoms, columns, index: int) -> np.ndarray:
    # In-plane offsets [Å] of column `index`'s atoms from the column position (minimum image
    # along the periodic axes of the columns' cell).
    offsets = atoms.positions[columns.members[index], :2] - columns.positions[index]
    period = np.asarray(columns.period, float)
    periodic = period > 0
    offsets[:, periodic] -= period[periodic] * np.round(offsets[:, periodic] / period[periodic])
    return offsets


def _column_key(atoms: Atoms, columns, index: int, tolerance: float) -> tuple:
    # Identity of a column up to an in-plane shift: species, absolute z and in-plane offsets
    # of its atoms from the column position, on a grid of `tolerance`.
    members = columns.members[index]
    order = np.argsort(atoms.positions[members, 2], kind="stable")
    values = np.column_stack([_offsets(atoms, columns, index), atoms.positions[members, 2]])
    grid = np.round(values[order] / tolerance).astype(np.int64)
    return (tuple(atoms.numbers[members][order].tolist()), tuple(map(tuple, grid.tolist())))


def independent_column_wave(
    atoms: Atoms,
    columns=None,
    *,
    energy: float = 300e3,
    sampling: float = 0.05,
    slice_thickness: float = 0.5,
    parametrization: str = "lobato",
    reuse: bool = False,
    reuse_tolerance: float = REUSE_TOLERANCE,
    progress: bool = False,
):
    """The exit wave as ψ0 plus the sum of each column's own scattered wave (Eqs 4.4–4.5).

    For each atomic column i, the same multislice simulation as for the whole specimen (same
    cell, grid, slicing and energy) is run with only that column's atoms; its scattered wave
    is ψ_s,i = ψ_i − ψ0 (Eq 4.4) with ψ0 = 1, the plane wave (unchanged by vacuum). The
    result is ψ0 + Σ_i ψ_s,i (Eq 4.5); compare it with ``PlaneWave(energy).multislice(
    Potential(atoms, ...))``. Apply a `CTF` to the result for the image-plane sum (Fig 4.4d–f):
    the lens is linear, so that equals the sum of the lensed column waves.

    Cost: one multislice per column — n_columns times the cost of the full simulation, less
    only the potential of the other atoms (a 201-atom particle, 43 columns: 0.7 s at 0.1 Å,
    240² pixels; 2.9 s at 0.05 Å). Measured against the full simulation of that ideal ⟨110⟩
    Au particle (300 kV, 1.44 Å slices), ‖ψ_model − ψ_full‖ / ‖ψ_full − ψ0‖ = 0.6 % (0.1 Å) and
    0.5 % (0.05 Å); the intensities differ by 5–8 % of ‖I_full − 1‖, the CTF image at the
    seed's Δf = 8.5 nm, Cs = −10 µm by 2–5 % of its contrast.

    Fast path (``reuse=True``): one simulation per *distinct* column — columns with the same
    species, the same absolute z of their atoms and the same in-plane offsets of their atoms
    from the column's mean (to ``reuse_tolerance``) differ only by an in-plane shift, applied
    to the scattered wave as a Fourier phase ramp exp(−2πi k·Δr) (all shifts of one kind
    summed in Fourier space, one inverse FFT per kind). An ideal particle has a few distinct
    columns (5 of 43 above, one per height); a thermal or relaxed model has as many as
    columns, unless ``reuse_tolerance`` is coarsened (e.g. 0.05 Å). The shift is exact for
    whole pixels (1e-5), but multislice is not shift-covariant below a pixel — exp(iσV) of a
    heavy atom is not band-limited — so a column simulated 0.3–0.7 pixel away differs from
    the shifted copy by 2–7 % (Au, 0.1–0.025 Å), and the fast sum is 3.6 % (0.1 Å) to 4.3 %
    (0.05 Å) from the full exit wave instead of 0.6 %.

    Parameters
    ----------
    atoms
        The specimen with the beam along +z and an orthorhombic cell, as for `Potential`
        (e.g. ``center(orient(particle, (1, 1, 0)), vacuum=...)``).
    columns
        Its `Columns` (``projected_columns(atoms)``); computed with the default tolerance when
        None. Atoms in no column are ignored.
    energy
        Electron energy [eV], > 0.
    sampling
        Pixel size of the simulation [Å], > 0.
    slice_thickness
        Multislice slice thickness [Å], > 0.
    parametrization
        Atomic potential parametrization (see `Potential`).
    reuse
        Use the fast path described above (default: one simulation per column).
    reuse_tolerance
        Grouping tolerance of the fast path [Å], in (0, 0.5].
    progress
        Show a progress bar over the simulations.

    Returns
    -------
    Waves
        ψ0 + Σ_i ψ_s,i on the specimen's grid, metadata ``num_simulations`` (how many
        single-column simulations ran) and ``num_columns``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomscope.structures import projected_columns
    >>> crystal = bulk("Au", cubic=True).repeat((2, 2, 2))   # periodic, beam along [001]
    >>> wave = independent_column_wave(crystal, sampling=0.2, slice_thickness=2.04, reuse=True)
    >>> wave.array.shape, wave.metadata["num_simulations"], wave.metadata["num_columns"]
    ((42, 42), 2, 16)
    """
    from atomscope.core.fft import fft2, ifft2
    from atomscope.potentials.projected import Potential
    from atomscope.structures.columns import Columns, projected_columns
    from atomscope.waves.plane import PlaneWave
    from atomscope.waves.waves import Waves

    check_atoms("atoms", atoms)
    energy = check_positive("energy", energy)
    sampling = check_positive("sampling", sampling)
    slice_thickness = check_positive("slice_thickness", slice_thickness)
    reuse_tolerance = check_range("reuse_tolerance", reuse_tolerance, 0.0, 0.5, low_open=True)
    if columns is None:
        columns = projected_columns(atoms)
    elif not isinstance(columns, Columns):
        raise TypeError(f"columns must be a Columns (projected_columns), got {type(columns)}")
    if len(columns) and max(int(m.max()) for m in columns.members) >= len(atoms):
        raise ValueError("columns must be the projected columns of atoms (member index too large)")
    for index in range(len(columns)):
        if np.abs(_offsets(atoms, columns, index)).max(initial=0.0) > 3 * columns.tolerance:
            raise ValueError(
                f"columns must be projected along z from these atoms (projected_columns(atoms)); "
                f"column {index}'s atoms lie far from its position {columns.positions[index]}"
            )
    # checks the cell, sampling and parametrization before any simulation
    full = Potential(
        atoms, sampling=sampling, slice_thickness=slice_thickness, parametrization=parametrization
    )
    grid = full.grid
    plane = PlaneWave(energy)

    groups: dict[tuple, list[int]] = {}
    for index in range(len(columns)):
        key = _column_key(atoms, columns, index, reuse_tolerance) if reuse else (index,)
        groups.setdefault(key, []).append(index)

    kx, ky = grid.frequencies()
    total = np.ones(grid.gpts, np.complex128)  # ψ0
    spectrum = np.zeros(grid.gpts, np.complex128)  # of the shifted copies
    for indices in tqdm(groups.values(), desc="columns", disable=not progress):
        first = columns.members[indices[0]]
        single = Atoms(
            numbers=atoms.numbers[first],
            positions=atoms.positions[first],
            cell=atoms.cell,
            pbc=atoms.pbc,
        )
        exit_wave = plane.multislice(
            Potential(
                single,
                sampling=sampling,
                slice_thickness=slice_thickness,
                parametrization=parametrization,
            )
        )
        scattered = exit_wave.array.astype(np.complex128) - 1.0  # Eq 4.4
        total += scattered
        if len(indices) == 1:
            continue
        shifts = columns.positions[indices[1:]] - columns.positions[indices[0]]
        # Σ_members exp(−2πi k·Δr): the shifted copies of one column, summed in Fourier space
        ramp_x = np.exp(-2j * np.pi * np.outer(shifts[:, 0], kx))  # (members, nx)
        ramp_y = np.exp(-2j * np.pi * np.outer(shifts[:, 1], ky))  # (members, ny)
        spectrum += fft2(scattered) * np.einsum("mi,mj->ij", ramp_x, ramp_y)
    if spectrum.any():
        total += ifft2(spectrum)  # Eq 4.5: ψ0 + Σ_i ψ_s,i
    return Waves(
        total.astype(np.complex64),
        grid.sampling,
        energy,
        metadata={
            "energy": energy,
            "model": "independent columns (seed Eq 4.5)",
            "num_columns": len(columns),
            "num_simulations": len(groups),
        },
    )


def _column_exit_wave(height, symbol, spacing, energy, sampling, extent, slice_thickness):
    # Exit wave of one column of `height` atoms along z at the centre pixel of a square cell.
    from atomscope.potentials.projected import Potential
    from atomscope.waves.plane import PlaneWave

    gpts = 2 * max(8, round(extent / sampling / 2))  # even: the centre is a pixel
    side = gpts * sampling
    z = (np.arange(height) + 0.5) * spacing
    column = Atoms(
        [symbol] * height,
        positions=np.column_stack([np.full(height, side / 2), np.full(height, side / 2), z]),
        cell=[side, side, height * spacing],
    )
    thickness = spacing if slice_thickness is None else slice_thickness
    potential = Potential(column, gpts=gpts, slice_thickness=thickness)
    return PlaneWave(energy).multislice(potential)


def _ring_average(values: np.ndarray, sampling: float) -> tuple[np.ndarray, np.ndarray]:
    # Mean of values [..., x, y] in rings one pixel wide about the centre pixel, out to the
    # inscribed circle; returns the ring radii [Å] and the means [..., rings].
    nx, ny = values.shape[-2:]
    x = (np.arange(nx) - nx // 2) * sampling
    y = (np.arange(ny) - ny // 2) * sampling
    radius = np.hypot(x[:, None], y[None, :])
    ring = np.round(radius / sampling).astype(int)
    rings = min(nx, ny) // 2
    inside = ring < rings
    counts = np.bincount(ring[inside], minlength=rings)
    flat = values.reshape(-1, nx * ny)[:, inside.ravel()]
    sums = np.stack([np.bincount(ring[inside], weights=row, minlength=rings) for row in flat])
    means = sums / counts
    return np.arange(rings) * sampling, means.reshape(*values.shape[:-2], rings)


def column_intensity_profile(
    height: int,
    energy: float,
    Cs: float,
    defocus,
    *,
    focal_spread: float = 29.0,
    semiangle_cutoff: float = 15.0,
    symbol: str = "Au",
    spacing: float = AU_110_SPACING,
    sampling: float = 0.05,
    extent: float = 40.0,
    slice_thickness: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Radial intensity profile of the image of one isolated atomic column (Fig 4.5a).

    A column of ``height`` atoms spaced ``spacing`` along the beam (⟨110⟩ gold: 2.885 Å) at
    the centre of a square cell is simulated once (multislice). Its scattered wave
    ψ_s = ψ − ψ0 (Eq 4.4) is taken through the lens for each defocus (`CTF` with ``Cs``,
    ``focal_spread`` as the quasi-coherent envelope Et and a hard ``semiangle_cutoff``
    aperture), and the profile is its intensity |F⁻¹[F[ψ_s]·T]|², averaged over rings one
    pixel wide about the column and divided by its maximum.

    This is the seed's "intensity distribution due to an individual atomic column": in the
    model of Eq 4.5 the image wave is ψ0 + Σ_i ψ_s,i through the lens, and columns interfere
    where their ψ_s,i overlap. The full image's deviation from the background,
    |I − 1| = |2 Re ψ_s + |ψ_s|²|, was not used: it is linear in the weak tails of ψ_s and
    nearly vanishes at the centre near Gaussian focus, so its 1 % radius jumps between
    rings of the aperture's ringing (6–10 Å at Δf 0–2 nm, 2–3 Å beyond) instead of
    following the delocalisation.

    Parameters
    ----------
    height
        Atoms in the column, ≥ 1.
    energy
        Electron energy [eV], > 0.
    Cs
        Spherical aberration C30 [Å] (−10 µm is ``-1e5``).
    defocus
        One defocus or an array of them [Å], atomscope's sign (= −C10; the seed's Δf = −defocus).
    focal_spread
        Δ, 1/e focal spread [Å], ≥ 0 (seed §4.2.2: 2.9 nm).
    semiangle_cutoff
        Objective aperture [mrad], > 0 (seed §4.2.2: 15 mrad).
    symbol
        Element of the column.
    spacing
        Atom spacing along the column [Å], > 0.
    sampling
        Pixel size [Å], in (0, 0.5].
    extent
        Side of the square cell [Å], ≥ 10; the profile reaches extent/2.
    slice_thickness
        Multislice slice thickness [Å]; default ``spacing`` (one atom per slice).

    Returns
    -------
    radii : numpy.ndarray
        (r,) ring radii [Å], 0 to extent/2 in steps of ``sampling``.
    profiles : numpy.ndarray
        (r,) for one defocus, (d, r) for an array of them; each maximum is 1.

    Examples
    --------
    >>> radii, profile = column_intensity_profile(4, 300e3, -1e5, -45.0, sampling=0.1,
    ...                                           extent=12)
    >>> profile.shape == radii.shape, float(radii[profile.argmax()]), bool(profile[-1] < 1e-3)
    (True, 0.0, True)
    """
    from atomscope.optics.ctf import CTF
    from atomscope.waves.waves import Waves

    height = check_positive_int("height", height)
    energy = check_positive("energy", energy)
    Cs = check_real("Cs", Cs)
    defoci = check_finite_array("defocus", defocus)
    if defoci.ndim > 1:
        raise ValueError(f"defocus must be a number or a 1D array [Å], got shape {defoci.shape}")
    focal_spread = check_nonnegative("focal_spread", focal_spread)
    semiangle_cutoff = check_positive("semiangle_cutoff", semiangle_cutoff)
    spacing = check_positive("spacing", spacing)
    sampling = check_range("sampling", sampling, 0.0, 0.5, low_open=True)
    extent = check_range("extent", extent, 10.0, np.inf)
    if slice_thickness is not None:
        slice_thickness = check_positive("slice_thickness", slice_thickness)
    check_symbol("symbol", symbol)

    wave = _column_exit_wave(height, symbol, spacing, energy, sampling, extent, slice_thickness)
    scattered = Waves(wave.array - np.complex64(1.0), wave.sampling, energy)  # Eq 4.4
    intensities = []
    for value in np.atleast_1d(defoci):
        ctf = CTF(
            energy=energy,
            semiangle_cutoff=semiangle_cutoff,
            focal_spread=focal_spread,
            Cs=Cs,
            defocus=float(value),
        )
        intensities.append(np.abs(scattered.apply_ctf(ctf).array.astype(complex)) ** 2)
    radii, profiles = _ring_average(np.stack(intensities), wave.sampling[0])
    profiles /= profiles.max(axis=1, keepdims=True)
    return radii, (profiles[0] if defoci.ndim == 0 else profiles)


def radius_of_influence(
    height: int,
    energy: float,
    Cs: float,
    defocus,
    *,
    threshold: float = 0.01,
    focal_spread: float = 29.0,
    semiangle_cutoff: float = 15.0,
    symbol: str = "Au",
    spacing: float = AU_110_SPACING,
    sampling: float = 0.05,
    extent: float = 40.0,
    slice_thickness: float | None = None,
) -> np.ndarray | float:
    """Radius of influence of one atomic column: where its image falls to 1 % (Fig 4.5b).

    The outermost radius at which the column's intensity profile (`column_intensity_profile`:
    the image-plane intensity of the column's own scattered wave, averaged over rings) still
    reaches ``threshold`` times its maximum, linearly interpolated between rings — the seed's
    "radial distance where the amplitude of the intensity profile is equal to 1 % of its
    maximum value". NaN (with a warning) where the profile is still above the threshold at
    extent/2: enlarge ``extent``.

    Measured with the defaults (8 Au atoms, 300 kV, Cs −10 µm, Δ 2.9 nm, 15 mrad): 1.08–1.13 Å
    for the seed's Δf = 0–4 nm, 1.40 Å at 8 nm, then about +0.1 Å per nm (2.64 Å at 20 nm).

    Parameters
    ----------
    height, energy, Cs, defocus
        As for `column_intensity_profile` (defocus atomscope's sign, −C10 [Å]).
    threshold
        Fraction of the profile's maximum, in (0, 1).
    focal_spread, semiangle_cutoff, symbol, spacing, sampling, extent, slice_thickness
        As for `column_intensity_profile`.

    Returns
    -------
    float or numpy.ndarray
        The radius [Å], one per defocus.

    Examples
    --------
    >>> radius = radius_of_influence(4, 300e3, -1e5, [-45.0, -150.0], sampling=0.1, extent=16)
    >>> radius.round(1).tolist()      # the seed's Δf = 4.5 and 15 nm [Å]
    [0.9, 2.1]
    """
    import warnings

    threshold = check_range("threshold", threshold, 0.0, 1.0, low_open=True, high_open=True)
    radii, profiles = column_intensity_profile(
        height,
        energy,
        Cs,
        defocus,
        focal_spread=focal_spread,
        semiangle_cutoff=semiangle_cutoff,
        symbol=symbol,
        spacing=spacing,
        sampling=sampling,
        extent=extent,
        slice_thickness=slice_thickness,
    )
    table = np.atleast_2d(profiles)
    out = np.full(len(table), np.nan)
    for row, profile in enumerate(table):
        level = threshold * profile.max()
        above = np.flatnonzero(profile >= level)
        last = above[-1]
        if last == len(profile) - 1:
            warnings.warn(
                f"the column image is still above {threshold:g} of its maximum at r = "
                f"{radii[-1]:.3g} Å; enlarge extent (now {extent:g} Å)",
                stacklevel=2,
            )
            continue
        r0, r1, p0, p1 = radii[last], radii[last + 1], profile[last], profile[last + 1]
        out[row] = r0 + (p0 - level) / (p0 - p1) * (r1 - r0)
    return float(out[0]) if np.ndim(defocus) == 0 else out
