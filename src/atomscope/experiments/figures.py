"""The chapter-4 figures drawn from an experiment's results table (`ResultStore.read`).

Each function takes the table (a dict of columns) of image rows — `error_maps` also the
exit-wave rows (defocus NaN) — and returns a matplotlib ``Figure``;
`write_figures` draws every figure the table has data for into a directory:

- ``strain_histograms.png`` — distribution of the true planar strain per size (Fig 4.2c);
- ``error_maps.png`` — planar-strain error at every column, noise-free, untilted: per size one
  panel for the exit wave and one per defocus (Figs 4.3b, 4.6);
- ``tilt_error_maps.png`` — the same for the largest particle per tilt at Δf ≈ 8.5 nm (Fig 4.8);
- ``surface_vs_defocus.png`` — surface-relaxation error per facet type vs defocus, mean and
  standard deviation across the facet's columns, per size (Fig 4.7);
- ``surface_vs_tilt.png`` — the same vs tilt about Ω1 and Ω2 (Fig 4.9);
- ``mae_vs_dose.png`` — MAE of the planar strain over the noise realisations (Eq 4.6) vs dose
  with the fitted c/√D (Eq 4.7) for three columns: centre, a facet, a corner (Fig 4.11b);
- ``mae_maps.png`` — the MAE at every column per size at the defocus nearest 8.5 nm and the dose
  nearest 1e3 e⁻/Å², untilted (Fig 4.11a);
- ``mae_vs_defocus.png`` — the centre column's MAE vs defocus per dose (Fig 4.12).

Two figures need the spec's microscope and a particle, not the table (`column_model_figures`):

- ``independent_columns.png`` — the exit wave and the image of the particle as simulated and
  as ψ0 plus the sum of each column's own scattered wave (Eqs 4.4–4.5, Fig 4.4);
- ``radius_of_influence.png`` — one column's image profile per defocus and its radius of
  influence vs defocus for three Cs (Fig 4.5);
- ``images_vs_dose.png`` — the particle's image at the defocus nearest 8.5 nm through the spec's
  camera at each of its doses and samplings, one noise realisation each (Fig 4.10a).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from matplotlib.figure import Figure

from atomscope.experiments.spec import ExperimentSpec

Table = dict[str, np.ndarray]
FIGURE_NAMES = (
    "strain_histograms.png",
    "error_maps.png",
    "surface_vs_defocus.png",
    "surface_vs_tilt.png",
    "tilt_error_maps.png",
    "mae_vs_dose.png",
    "mae_maps.png",
    "mae_vs_defocus.png",
    "independent_columns.png",
    "radius_of_influence.png",
    "images_vs_dose.png",
)
#: The name under which the figures are recorded as written (`atomscope.outputs` manifests).
FIGURES_COMMAND = "experiment-figures"


def _select(table: Table, **equal) -> np.ndarray:
    mask = np.ones(len(table["k"]), bool)
    for name, value in equal.items():
        mask &= table[name] == value
    return mask


def _first(table: Table, name: str):
    return np.unique(table[name])[0]


def strain_histograms(table: Table) -> Figure:
    """Histograms of the true planar strain (Eq 4.1 of the projected positions) per size."""
    table = _images(table)
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    base = _select(table, k=-1, dose=_first(table, "dose"), sampling_A=_first(table, "sampling_A"))
    base &= table["tilt_mrad"] == 0
    for size in np.unique(table["size_nm"]):
        rows = (
            base & (table["size_nm"] == size) & (table["defocus_A"] == _first(table, "defocus_A"))
        )
        values = table["true_planar"][rows]
        values = values[np.isfinite(values)] * 100
        ax.hist(values, bins=30, histtype="step", label=f"{size:g} nm")
    ax.set_xlabel("true planar strain εp [%]")
    ax.set_ylabel("columns")
    ax.legend()
    return fig


def _exit_wave(table: Table) -> np.ndarray:
    return np.isnan(table["defocus_A"])


def _images(table: Table) -> Table:
    """The rows measured from images (the exit-wave rows left out); ``table`` itself if it has
    none (no copy of a large table)."""
    keep = ~_exit_wave(table)
    if keep.all():
        return table
    return {name: values[keep] for name, values in table.items()}


def _error_panels(table: Table, rows: np.ndarray, keys: list[tuple]) -> Figure:
    """One scatter panel of the planar-strain error per (size, axis, tilt, defocus) of ``keys``
    (defocus −inf: the exit wave), in rows of at most 7 panels, one shared colour scale."""
    columns = min(len(keys), 7)
    lines = -(-len(keys) // columns)
    fig = Figure(figsize=(2.6 * columns + 0.8, 2.6 * lines))
    errors = np.abs(table["error_planar"][rows])
    errors = errors[np.isfinite(errors)]
    # the colour range follows the bulk of the errors (a few failed columns saturate)
    limit = max(float(np.percentile(errors, 95)) * 100 if len(errors) else 0.0, 0.5)
    image = None
    for index, (size, axis, tilt, defocus) in enumerate(keys):
        ax = fig.add_subplot(lines, columns, index + 1)
        panel = rows & _select(table, size_nm=size, tilt_axis=axis, tilt_mrad=tilt)
        exit_wave = defocus == -np.inf
        panel &= _exit_wave(table) if exit_wave else table["defocus_A"] == defocus
        image = ax.scatter(
            table["x_A"][panel],
            table["y_A"][panel],
            c=table["error_planar"][panel] * 100,
            cmap="RdBu_r",
            vmin=-limit,
            vmax=limit,
            s=10,
        )
        missing = panel & np.isnan(table["error_planar"])
        if missing.any():  # columns with no maximum or no strain
            ax.plot(table["x_A"][missing], table["y_A"][missing], "x", color="0.5", ms=3)
        lens = "exit wave" if exit_wave else f"Δf {defocus / 10:g} nm"
        tilted = f", {axis} {np.degrees(tilt * 1e-3):.1f}°" if tilt else ""
        _column_map_panel(ax, f"{size:g} nm, {lens}{tilted}")
    return _with_colorbar(fig, image, "planar-strain error [%]")


def _column_map_panel(ax, title: str) -> None:
    """A panel of values at column positions: equal axes, no ticks, a small title."""
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _with_colorbar(fig: Figure, image, label: str) -> Figure:
    """``fig`` with one colour bar for all its panels (none when nothing was drawn)."""
    if image is not None:
        fig.colorbar(image, ax=fig.axes, label=label, shrink=0.8)
    return fig


def _clean_rows(table: Table) -> np.ndarray:
    # the noise-free images at the first dose and sampling, and the exit waves
    images = _select(
        table, k=-1, dose=_first(table, "dose"), sampling_A=_first(_images(table), "sampling_A")
    )
    return images | _exit_wave(table)


def error_maps(table: Table) -> Figure:
    """Noise-free planar-strain error at each column of the untilted particles: per size the
    exit wave, then each defocus (Figs 4.3b, 4.6)."""
    rows = _clean_rows(table) & (table["tilt_mrad"] == 0)
    keys = sorted({
        (s, a, 0.0, -np.inf if np.isnan(d) else d)
        for s, a, d in zip(
            table["size_nm"][rows], table["tilt_axis"][rows], table["defocus_A"][rows],
            strict=True,
        )
    })  # fmt: skip
    return _error_panels(table, rows, keys)


def tilt_error_maps(table: Table) -> Figure:
    """Noise-free planar-strain error of the largest particle at the defocus nearest the seed's
    Δf = 8.5 nm, per tilt about Ω1 and Ω2 (Fig 4.8)."""
    images = _images(table)
    size = np.max(images["size_nm"])
    defoci = np.unique(images["defocus_A"])
    defocus = defoci[np.argmin(np.abs(defoci - 85.0))]
    rows = _clean_rows(table) & (table["size_nm"] == size) & (table["defocus_A"] == defocus)
    keys = sorted({
        (size, a, t, defocus)
        for a, t in zip(table["tilt_axis"][rows], table["tilt_mrad"][rows], strict=True)
    }, key=lambda key: (key[2] != 0, key[1], key[2]))  # fmt: skip
    return _error_panels(table, rows, keys)


def _facet_statistics(table: Table, rows: np.ndarray, axis_name: str, facet: str):
    values = np.unique(table[axis_name][rows])
    mean, spread = [], []
    for value in values:
        errors = table["error_surface"][rows & (table[axis_name] == value)]
        errors = errors[
            np.isfinite(errors) & (table["facet"][rows & (table[axis_name] == value)] == facet)
        ]
        mean.append(errors.mean() * 100 if len(errors) else np.nan)
        spread.append(errors.std() * 100 if len(errors) else np.nan)
    return values, np.array(mean), np.array(spread)


def surface_vs_defocus(table: Table) -> Figure:
    """Surface-relaxation error on {111} and {100} facets vs defocus, per size (Fig 4.7)."""
    table = _images(table)
    fig = Figure(figsize=(8, 3.5))
    rows = _select(table, k=-1, dose=_first(table, "dose"), sampling_A=_first(table, "sampling_A"))
    rows &= table["tilt_mrad"] == 0
    for index, facet in enumerate(("{111}", "{100}")):
        ax = fig.add_subplot(1, 2, index + 1)
        for shift, size in enumerate(np.unique(table["size_nm"][rows])):
            values, mean, spread = _facet_statistics(
                table, rows & (table["size_nm"] == size), "defocus_A", facet
            )
            ax.errorbar(values / 10 + 0.1 * shift, mean, spread, marker="o", capsize=3,
                        label=f"{size:g} nm")  # fmt: skip
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("defocus Δf [nm]")
        ax.set_ylabel("surface-relaxation error [%]")
        ax.set_title(f"{facet} facets")
        ax.legend(fontsize=8)
    return fig


def surface_vs_tilt(table: Table) -> Figure:
    """Surface-relaxation error per facet type vs tilt about Ω1 and Ω2 (Fig 4.9)."""
    table = _images(table)
    fig = Figure(figsize=(8, 3.5))
    base = _select(table, k=-1, dose=_first(table, "dose"), sampling_A=_first(table, "sampling_A"))
    base &= table["size_nm"] == _first(table, "size_nm")
    for index, axis in enumerate(("omega1", "omega2")):
        ax = fig.add_subplot(1, 2, index + 1)
        for defocus in np.unique(table["defocus_A"][base]):
            rows = base & (table["defocus_A"] == defocus)
            rows &= (table["tilt_axis"] == axis) | (table["tilt_mrad"] == 0)
            for facet, marker in (("{111}", "o"), ("{100}", "s")):
                values, mean, spread = _facet_statistics(table, rows, "tilt_mrad", facet)
                ax.errorbar(values, mean, spread, marker=marker, capsize=3,
                            label=f"{facet}, Δf {defocus / 10:g} nm")  # fmt: skip
        ax.set_xlabel(f"tilt about {axis} [mrad]")
        ax.set_ylabel("surface-relaxation error [%]")
        ax.legend(fontsize=7)
    return fig


def reference_columns(table: Table) -> dict[str, int]:
    """Three columns to follow (Fig 4.11): ``"centre"`` (nearest the centroid), ``"facet"`` (a
    {111} or {100} column), ``"corner"``; each as its ``point`` index in the first view."""
    table = _images(table)
    rows = _select(table, k=-1, dose=_first(table, "dose"), sampling_A=_first(table, "sampling_A"))
    first = rows & _select(
        table,
        size_nm=_first(table, "size_nm"),
        defocus_A=_first(table, "defocus_A"),
        tilt_mrad=_first(table, "tilt_mrad"),
    )
    points = table["point"][first]
    xy = np.stack([table["x_A"][first], table["y_A"][first]], axis=1)
    facets = table["facet"][first]
    distance = np.linalg.norm(xy - xy.mean(axis=0), axis=1)
    chosen = {"centre": int(points[np.argmin(distance)])}
    for name, labels in (("facet", ("{111}", "{100}")), ("corner", ("corner",))):
        candidates = np.flatnonzero(np.isin(facets, labels))
        if len(candidates):
            chosen[name] = int(points[candidates[np.argmin(distance[candidates])]])
    return chosen


def mae_table(table: Table) -> dict[tuple, tuple[float, int]]:
    """MAE of the planar strain (Eq 4.6, outliers removed) per (size, tilt axis, tilt, defocus,
    sampling, dose, point): {key: (MAE, outliers dropped)}."""
    from atomscope.experiments.measures import mean_absolute_error

    keys = ("size_nm", "tilt_axis", "tilt_mrad", "defocus_A", "sampling_A", "dose")
    table = _images(table)  # the exit wave has no noise
    result = {}
    clean = table["k"] == -1
    combos = {tuple(row) for row in zip(*(table[k][clean] for k in keys), strict=True)}
    for combo in sorted(combos):
        rows = _select(table, **dict(zip(keys, combo, strict=True)))
        reference = table["error_planar"][rows & clean]
        noisy_rows = rows & ~clean
        count = int(noisy_rows.sum() // len(reference))
        noisy = table["error_planar"][noisy_rows].reshape(count, len(reference))
        # Eq 4.6 compares noisy with noise-free measurements; the truth cancels in the difference
        mae = mean_absolute_error(noisy, reference)
        for point, (value, dropped) in enumerate(zip(mae.mae, mae.dropped, strict=True)):
            result[(*combo, point)] = (float(value), int(dropped))
    return result


def mae_vs_dose(table: Table, maes: dict | None = None) -> tuple[Figure, dict[str, tuple]]:
    """MAE vs dose for the `reference_columns` with the c/√D fit (Eq 4.7); also returns
    {column: (c, R²)}."""
    table = _images(table)
    from atomscope.experiments.measures import fit_inverse_sqrt_dose

    maes = mae_table(table) if maes is None else maes
    chosen = reference_columns(table)
    size, axis, tilt = (
        _first(table, "size_nm"), _first(table, "tilt_axis"), _first(table, "tilt_mrad")
    )  # fmt: skip
    defoci = np.unique(table["defocus_A"])
    defocus = defoci[np.argmin(np.abs(defoci - 85.0))]  # the seed's Δf = 8.5 nm
    sampling = _first(table, "sampling_A")
    doses = np.unique(table["dose"])
    fig = Figure(figsize=(5, 3.8))
    ax = fig.add_subplot()
    fits = {}
    for name, point in chosen.items():
        values = np.array(
            [
                maes.get((size, axis, tilt, defocus, sampling, d, point), (np.nan, 0))[0]
                for d in doses
            ]
        )
        ax.loglog(doses, values * 100, "o", label=name)
        finite = np.isfinite(values) & (values > 0)
        if finite.sum() >= 2:
            fit = fit_inverse_sqrt_dose(doses[finite], values[finite])
            fits[name] = (fit.c, fit.r_squared)
            grid = np.geomspace(doses.min(), doses.max(), 50)
            ax.loglog(grid, fit.c / np.sqrt(grid) * 100, "-", color=ax.lines[-1].get_color())
    ax.set_xlabel("dose [e⁻/Å²]")
    ax.set_ylabel("MAE of εp [%]")
    ax.set_title(f"{size:g} nm, Δf {defocus / 10:g} nm, {sampling:g} Å/px", fontsize=9)
    ax.legend()
    return fig, fits


def mae_maps(table: Table, maes: dict | None = None, dose: float = 1e3) -> Figure:
    """MAE of the planar strain at every column of each untilted particle at the defocus nearest
    the seed's Δf = 8.5 nm and the table's dose nearest ``dose`` [e⁻/Å²] (Fig 4.11a)."""
    table = _images(table)
    maes = mae_table(table) if maes is None else maes
    doses = np.unique(table["dose"])
    dose = doses[np.argmin(np.abs(np.log(doses / dose)))]
    defoci = np.unique(table["defocus_A"])
    defocus = defoci[np.argmin(np.abs(defoci - 85.0))]
    sampling, axis = _first(table, "sampling_A"), _first(table, "tilt_axis")
    sizes = np.unique(table["size_nm"])
    fig = Figure(figsize=(3.2 * len(sizes) + 0.8, 3.2))
    panels = []
    for size in sizes:
        rows = _select(
            table, size_nm=size, tilt_axis=axis, tilt_mrad=0.0, defocus_A=defocus,
            sampling_A=sampling, dose=dose, k=-1,
        )  # fmt: skip
        values = np.array(
            [
                maes.get((size, axis, 0.0, defocus, sampling, dose, point), (np.nan, 0))[0]
                for point in table["point"][rows]
            ]
        )
        panels.append((size, table["x_A"][rows], table["y_A"][rows], values * 100))
    finite = np.concatenate([v[np.isfinite(v)] for *_, v in panels])
    limit = float(np.percentile(finite, 95)) if len(finite) else 1.0  # a few failures saturate
    image = None
    for index, (size, x, y, values) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), index + 1)
        image = ax.scatter(x, y, c=values, cmap="viridis", vmin=0, vmax=limit, s=10)
        _column_map_panel(ax, f"{size:g} nm, Δf {defocus / 10:g} nm, {dose:g} e⁻/Å²")
    return _with_colorbar(fig, image, "MAE of εp [%]")


def mae_vs_defocus(table: Table, maes: dict | None = None) -> Figure:
    """MAE of the centre column vs defocus, one curve per dose (Fig 4.12)."""
    table = _images(table)
    maes = mae_table(table) if maes is None else maes
    centre = reference_columns(table)["centre"]
    size, axis, tilt = (
        _first(table, "size_nm"), _first(table, "tilt_axis"), _first(table, "tilt_mrad")
    )  # fmt: skip
    sampling = _first(table, "sampling_A")
    defoci = np.unique(table["defocus_A"])
    fig = Figure(figsize=(5, 3.8))
    ax = fig.add_subplot()
    for dose in np.unique(table["dose"]):
        values = [
            maes.get((size, axis, tilt, d, sampling, dose, centre), (np.nan, 0))[0] for d in defoci
        ]
        ax.semilogy(defoci / 10, np.array(values) * 100, "o-", label=f"{dose:g} e⁻/Å²")
    ax.set_xlabel("defocus Δf [nm]")
    ax.set_ylabel("MAE of εp, centre column [%]")
    ax.legend()
    return fig


def _nearest_defocus(spec: ExperimentSpec, target: float = 85.0) -> float:
    """The spec's thesis defocus closest to ``target`` [Å] (the chapter's optimum, 8.5 nm)."""
    defoci = np.asarray(spec.sweep.defocus_A, dtype=float)
    return float(defoci[np.argmin(np.abs(defoci - target))])


def _settings(spec: ExperimentSpec) -> dict[str, float]:
    """The spec's simulation grid: sampling and slice thickness [Å]."""
    m = spec.microscope
    return {"sampling": m.simulation_sampling_A, "slice_thickness": m.slice_thickness_A}


def _particle_exit_wave(spec: ExperimentSpec, atoms: Atoms):
    """The multislice exit wave of ``atoms`` on the spec's grid at its energy (`Waves`)."""
    from atomscope.potentials.projected import Potential
    from atomscope.waves.plane import PlaneWave

    return PlaneWave(spec.microscope.energy_eV).multislice(Potential(atoms, **_settings(spec)))


def independent_columns(spec: ExperimentSpec, atoms: Atoms, columns, full) -> Figure:
    """Fig 4.4: ``atoms`` (at the zone axis, `run.zone_axis_model`) simulated whole (``full``,
    its `_particle_exit_wave`) and as the independent-column sum ψ0 + Σ_i ψ_s,i (Eq 4.5) over
    its ``columns``: exit-wave phase and the image at the spec's defocus nearest 8.5 nm, each
    with the difference and its relative size."""
    from atomscope.experiments.column_model import independent_column_wave
    from atomscope.experiments.run import spec_lens
    from atomscope.images import pixel_extent

    m = spec.microscope
    alone = len(atoms) - sum(len(members) for members in columns.members)
    summed = independent_column_wave(atoms, columns, energy=m.energy_eV, **_settings(spec))
    defocus = _nearest_defocus(spec)
    lens = spec_lens(spec, defocus)
    phase = np.angle(full.array)
    rows = {
        # the model's phase unwrapped about the full one: phase + arg(ψ_model / ψ_full)
        "exit-wave phase [rad]": (phase, phase + np.angle(summed.array * np.conj(full.array))),
        f"image, Δf = {defocus / 10:g} nm": (lens.image(full).array, lens.image(summed).array),
    }
    fig = Figure(figsize=(11, 7))
    axes = fig.subplots(2, 3)
    extent = pixel_extent(full.array.shape, full.sampling[0])
    for row, (name, (whole, model)) in zip(axes, rows.items(), strict=True):
        background = np.median(whole)
        relative = np.linalg.norm(model - whole) / np.linalg.norm(whole - background)
        low, high = np.percentile(np.concatenate([whole, model]), [0.5, 99.5])
        for ax, values, title, limits in (
            (row[0], whole, f"{name}: multislice", (low, high)),
            (row[1], model, "independent columns (Eq 4.5)", (low, high)),
            (row[2], model - whole, f"difference: {relative:.1%} of the contrast", None),
        ):
            shown = ax.imshow(
                values.T,
                origin="lower",
                extent=extent,
                cmap="gray" if limits else "RdBu_r",
                vmin=limits[0] if limits else None,
                vmax=limits[1] if limits else None,
            )
            fig.colorbar(shown, ax=ax, shrink=0.8)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("x [Å]")
    outside = f"; {alone} atom(s) in no column, left out of the sum" if alone else ""
    fig.suptitle(
        f"{len(atoms)}-atom particle along [110], {len(columns.members)} columns, "
        f"{m.energy_eV / 1e3:g} kV{outside} (Fig 4.4)"
    )
    fig.tight_layout()
    return fig


def column_influence(spec: ExperimentSpec, height: int) -> Figure:
    """Fig 4.5: (a) the radial image profile of one column of ``height`` atoms at the spec's
    defoci; (b) its radius of influence (1 % of the maximum) vs defocus for Cs × ½, 1, 2."""
    from atomscope.experiments.column_model import column_intensity_profile, radius_of_influence

    m = spec.microscope
    lens = {"focal_spread": m.focal_spread_A, "semiangle_cutoff": m.aperture_mrad}
    defoci = np.asarray(spec.sweep.defocus_A, dtype=float)
    fig = Figure(figsize=(10, 4))
    profile_ax, radius_ax = fig.subplots(1, 2)
    # thesis Δf = C10; atomscope's defocus = −C10
    radii, profiles = column_intensity_profile(height, m.energy_eV, m.Cs_A, -defoci, **lens)
    for defocus, profile in zip(defoci, np.atleast_2d(profiles), strict=True):
        profile_ax.semilogy(radii, profile, label=f"Δf {defocus / 10:g} nm")
    profile_ax.axhline(0.01, color="gray", lw=0.8, ls="--")
    profile_ax.set_xlim(0, 6)
    profile_ax.set_ylim(1e-4, 1.5)
    profile_ax.set_xlabel("distance from the column [Å]")
    profile_ax.set_ylabel("intensity / maximum")
    profile_ax.set_title(f"(a) one column of {height} atoms", fontsize=10)
    profile_ax.legend(fontsize=8)
    sweep = np.linspace(0.0, max(150.0, float(np.max(np.abs(defoci)))), 11)
    for factor in (0.5, 1.0, 2.0):
        cs = factor * m.Cs_A
        radius = radius_of_influence(height, m.energy_eV, cs, -sweep, **lens)
        radius_ax.plot(sweep / 10, radius, "o-", ms=3, label=f"Cs {cs / 1e4:g} µm")
    radius_ax.set_xlabel("Δf [nm]")
    radius_ax.set_ylabel("radius of influence [Å]")
    radius_ax.set_title("(b) where the column's image falls to 1 %", fontsize=10)
    radius_ax.legend(fontsize=8)
    fig.suptitle(f"{m.energy_eV / 1e3:g} kV, Δ {m.focal_spread_A / 10:g} nm, "
                 f"{m.aperture_mrad:g} mrad (Fig 4.5)")  # fmt: skip
    fig.tight_layout()
    return fig


def images_vs_dose(spec: ExperimentSpec, wave) -> Figure:
    """Fig 4.10a: a particle's exit ``wave`` (`_particle_exit_wave`) imaged at the spec's defocus
    nearest 8.5 nm through its camera (MTF, Poisson noise) at each of the spec's samplings
    (rows) and doses (columns), one noise realisation each, all on the grey levels of the
    noise-free image."""
    from atomscope.detection.camera import Camera
    from atomscope.detection.mtf import MTF
    from atomscope.experiments.run import spec_lens
    from atomscope.images import pixel_extent

    m, sweep = spec.microscope, spec.sweep
    defocus = _nearest_defocus(spec)
    image = spec_lens(spec, defocus).image(wave)
    mtf = MTF("rational", *m.mtf)
    rng = np.random.default_rng(spec.seed)
    samplings, doses = list(sweep.sampling_A), list(sweep.dose)
    fig = Figure(figsize=(2.4 * len(doses) + 0.4, 2.5 * len(samplings) + 0.3))
    axes = fig.subplots(len(samplings), len(doses), squeeze=False)
    for row, sampling in zip(axes, samplings, strict=True):
        clean = Camera(sampling, None, mtf).detect(image)
        low, high = np.percentile(clean.array, [0.5, 99.5])
        extent = pixel_extent(clean.array.shape, clean.sampling[0])
        for ax, dose in zip(row, doses, strict=True):
            counts = Camera(sampling, dose, mtf).detect(image, rng=rng)
            # counts per pixel back to the noise-free image's scale: N = D δ² I (Eq 2.22)
            shown = counts.array / (dose * np.prod(counts.sampling))
            ax.imshow(shown.T, origin="lower", extent=extent, cmap="gray", vmin=low, vmax=high)
            _column_map_panel(ax, f"{dose:g} e⁻/Å², {sampling:g} Å/px")
    fig.suptitle(f"Δf {defocus / 10:g} nm (Fig 4.10a)", fontsize=9)
    return fig


def column_model_figures(spec: ExperimentSpec, particle: Atoms) -> dict[str, Figure]:
    """Figs 4.4–4.5 for the spec's microscope: `independent_columns` of ``particle`` at the
    zone axis and `column_influence` of a column as high as its median column (its columns
    found once, as the experiment's truth finds them)."""
    from atomscope.experiments.run import COLUMN_TOLERANCE, zone_axis_model
    from atomscope.structures.columns import projected_columns

    atoms = zone_axis_model(spec, particle)
    columns = projected_columns(atoms, tolerance=COLUMN_TOLERANCE)
    height = int(np.median([len(members) for members in columns.members]))
    wave = _particle_exit_wave(spec, atoms)  # simulated once for Figs 4.4 and 4.10
    return {
        "independent_columns.png": independent_columns(spec, atoms, columns, wave),
        "radius_of_influence.png": column_influence(spec, height),
        "images_vs_dose.png": images_vs_dose(spec, wave),
    }


def write_figures(
    table: Table,
    out: str | Path,
    spec: ExperimentSpec | None = None,
    particle: Atoms | None = None,
) -> dict[str, object]:
    """Draw every figure the table has data for into ``out``, and with a ``spec`` and a
    ``particle`` the column-model figures (`column_model_figures`); returns the names written
    and the Eq 4.7 fits {column: (c, R²)}."""
    from atomscope.outputs import check_output_directory, claim_outputs, record_outputs
    from atomscope.plot import save_figure

    if len(table["k"]) == 0:
        raise ValueError("the experiment has no finished point yet; nothing to draw")
    if _exit_wave(table).all():
        raise ValueError("the experiment has only exit-wave points finished; nothing to draw")
    out = check_output_directory(out, "out", create=True)
    claim_outputs(out, FIGURES_COMMAND, FIGURE_NAMES)  # the user's own files stay untouched
    maps = error_maps(table)  # the exit waves too
    table = _images(table)  # once; every figure below uses the image rows only
    maes = mae_table(table)
    figures = {
        "strain_histograms.png": strain_histograms(table),
        "error_maps.png": maps,
        "surface_vs_defocus.png": surface_vs_defocus(table),
        "mae_vs_defocus.png": mae_vs_defocus(table, maes),
        "mae_maps.png": mae_maps(table, maes),
    }
    dose_figure, fits = mae_vs_dose(table, maes)
    figures["mae_vs_dose.png"] = dose_figure
    if np.any(table["tilt_mrad"] != 0):
        figures["surface_vs_tilt.png"] = surface_vs_tilt(table)
        figures["tilt_error_maps.png"] = tilt_error_maps(table)
    if spec is not None and particle is not None:
        figures.update(column_model_figures(spec, particle))
    for name, fig in figures.items():
        save_figure(fig, out / name)
    record_outputs(out, FIGURES_COMMAND, figures)
    return {"figures": sorted(figures), "dose_fits": fits}
