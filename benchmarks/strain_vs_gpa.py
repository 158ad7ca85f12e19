"""Template-matching strain vs GPA on the same synthetic truth (seed §3.2.5, Figs 3.6, 3.7, 3.9).

Cases: the Eq 3.15 field on a square lattice, noise-free and with Gaussian noise of variance
0.05 (Wiener-filtered before peak finding); step strain with free surfaces and a vacancy
(Fig 3.6); three honeycomb grains of different orientation (Fig 3.7). Both methods are scored at
the atom positions (GPA maps are sampled there), as RMS error of εxx and εyy in per cent, split
into bulk and "near" (within two lattice spacings of a surface, step, vacancy or boundary).
Several averaging sizes are run: template shells for ours, Bragg-mask widths for GPA.
Writes figures like Fig 3.9 under out/benchmarks/.

    python benchmarks/strain_vs_gpa.py
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from contention import run
from scipy import ndimage
from scipy.spatial import cKDTree

from atomscope.analysis import (
    add_gaussian_noise,
    eq315_field,
    find_peaks,
    gpa_strain,
    lattice_image,
    refine_peaks,
    square_lattice,
    strain_from_match,
    wiener_filter,
)
from atomscope.analysis.templates import Template, match_templates
from atomscope.plot import save_figure, show_image, show_points

OUT = Path("out/benchmarks")
SHAPE = (512, 512)
SPACING = 12.0
WIDTH = 2.0


def eq315_case():
    field = eq315_field(SHAPE, amplitude=0.05)
    reference = square_lattice(SHAPE, SPACING, margin=-2 * SPACING)
    positions = reference + field.displacement(reference)
    truth = field.strain(reference)
    near = np.zeros(len(positions), dtype=bool)  # the image edge is cut, not a surface
    return positions, truth["exx"], truth["eyy"], near


def step_case():
    """Fig 3.6: a finite square crystal; the middle band is compressed 3 % along x; a vacancy."""
    axis = np.arange(96.0, 416.0 + 1e-9, SPACING)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    reference = np.stack([x.ravel(), y.ravel()], axis=1)
    band = (reference[:, 1] > 200) & (reference[:, 1] < 320)
    exx = np.where(band, -0.03, 0.0)
    positions = reference.copy()
    positions[:, 0] = 256 + (reference[:, 0] - 256) * (1 + exx)
    vacancy = np.argmin(np.linalg.norm(reference - [180.0, 150.0], axis=1))
    keep = np.arange(len(positions)) != vacancy
    step_distance = np.minimum(np.abs(reference[:, 1] - 200), np.abs(reference[:, 1] - 320))
    surface_distance = np.min(np.abs(reference[:, :, None] - [96.0, 416.0]), axis=(1, 2))
    vacancy_distance = np.linalg.norm(reference - reference[vacancy], axis=1)
    near = np.min([step_distance, surface_distance, vacancy_distance], axis=0) <= 2 * SPACING
    return positions[keep], exx[keep], np.zeros(keep.sum()), near[keep]


def grains_case(rng=0):
    """Fig 3.7: three ideal honeycomb grains rotated 0°, 17°, 38° meeting at Voronoi borders."""
    generator = np.random.default_rng(rng)
    bond = SPACING / np.sqrt(3)
    centres = np.array([[150.0, 150.0], [380.0, 200.0], [240.0, 400.0]])
    cell = bond * np.sqrt(3) * np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    basis = np.array([[0.0, 0.0], [0.0, bond]])
    n = np.arange(-40, 41)
    i, j = np.meshgrid(n, n, indexing="ij")
    lattice = (np.stack([i.ravel(), j.ravel()], 1) @ cell)[:, None, :] + basis
    lattice = lattice.reshape(-1, 2)
    positions, labels = [], []
    owner = cKDTree(centres)
    for k, angle in enumerate(np.radians([0.0, 17.0, 38.0])):
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = lattice @ rotation.T + centres[k] + generator.uniform(-1, 1, 2)
        inside = (points >= -10).all(1) & (points < np.array(SHAPE) + 10).all(1)
        points = points[inside & (owner.query(points)[1] == k)]
        positions.append(points)
        labels.append(np.full(len(points), k))
    positions, labels = np.concatenate(positions), np.concatenate(labels)
    distance, nearest = cKDTree(positions).query(positions, k=2)
    crowded = (distance[:, 1] < 0.6 * bond) & (np.arange(len(positions)) > nearest[:, 1])
    positions, labels = positions[~crowded], labels[~crowded]
    other = np.array(
        [
            cKDTree(positions[labels != k]).query(p)[0]
            for k, p in zip(labels, positions, strict=True)
        ]
    )
    near = other <= 2 * SPACING
    zeros = np.zeros(len(positions))
    return positions, zeros, zeros, near, labels


def in_box(points, box):
    (x0, x1), (y0, y1) = box
    return (
        (points[..., 0] >= x0)
        & (points[..., 0] < x1)
        & (points[..., 1] >= y0)
        & (points[..., 1] < y1)
    )


def pixel_box(box):
    x, y = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    return in_box(np.stack([x, y], axis=-1), box)


def measure_templates(image, truth_positions, template, noisy, box):
    array = wiener_filter(image) if noisy else image
    peaks = refine_peaks(array, find_peaks(array, min_distance=int(SPACING / 3), threshold=0.2))
    match = match_templates(peaks, [template], rmax=0.15)
    strain = strain_from_match(match, reference=in_box(peaks, box))
    distance, index = cKDTree(peaks).query(truth_positions)
    found = distance < SPACING / 4
    exx = np.where(found, strain.exx[index], np.nan)
    eyy = np.where(found, strain.eyy[index], np.nan)
    return exx, eyy, strain, match


def measure_gpa(image, truth_positions, sigma, g_vectors, box):
    result = gpa_strain(image, g_vectors=g_vectors, sigma=sigma, reference=pixel_box(box))
    coordinates = truth_positions.T
    sample = lambda m: ndimage.map_coordinates(m, coordinates, order=1, mode="nearest")  # noqa: E731
    return sample(result.exx), sample(result.eyy), result


def rms_percent(error, mask):
    values = error[mask & np.isfinite(error)]
    return f"{100 * float(np.sqrt(np.mean(values**2))):6.3f}" if values.size else "     —"


def report(name, method, exx, eyy, truth_exx, truth_eyy, near, inside):
    bulk, edge = inside & ~near, inside & near
    missing = int(np.sum(inside & ~np.isfinite(exx)))
    print(
        f"{name:<16} {method:<22} bulk εxx {rms_percent(exx - truth_exx, bulk)} % "
        f"εyy {rms_percent(eyy - truth_eyy, bulk)} %   near εxx "
        f"{rms_percent(exx - truth_exx, edge)} % εyy {rms_percent(eyy - truth_eyy, edge)} %"
        f"   unmatched {missing}"
    )


def error_figure(name, image, positions, errors):
    fig, axes = plt.subplots(1, len(errors) + 1, figsize=(4 * (len(errors) + 1), 4))
    show_image(axes[0], image, 1.0, name, scale_bar=False)  # synthetic: pixel units
    for ax, (label, error) in zip(axes[1:], errors.items(), strict=True):
        show_points(
            ax,
            image,
            1.0,
            positions,
            error,
            f"εxx error: {label}",
            limit=0.01,
            colorbar_label="error",
            scale_bar=False,
        )
    OUT.mkdir(parents=True, exist_ok=True)
    save_figure(fig, OUT / f"strain_vs_gpa_{name}.png")


def run_case(name, positions, truth_exx, truth_eyy, near, templates, g_vectors, box, noisy=False):
    inside = (positions >= 2 * SPACING).all(1) & (positions < np.array(SHAPE) - 2 * SPACING).all(1)
    image = lattice_image(positions, SHAPE, width=WIDTH)
    if noisy:
        image = add_gaussian_noise(image, variance=0.05, rng=1)
    errors = {}
    for label, template in templates.items():
        exx, eyy, _, _ = measure_templates(image, positions, template, noisy, box)
        report(name, f"templates {label}", exx, eyy, truth_exx, truth_eyy, near, inside)
        errors[f"templates {label}"] = exx - truth_exx
    for sigma in (0.25 / SPACING, 0.15 / SPACING):
        exx, eyy, _ = measure_gpa(image, positions, sigma, g_vectors, box)
        report(name, f"GPA σ={sigma:.4f}/px", exx, eyy, truth_exx, truth_eyy, near, inside)
        errors[f"GPA σ={sigma:.4f}"] = exx - truth_exx
    error_figure(name, image, positions, errors)


def main():
    start = time.perf_counter()
    square = {"1 shell": Template.square(shells=1), "2 shells": Template.square(shells=2)}
    g_square = [[1 / SPACING, 0.0], [0.0, 1 / SPACING]]
    print(
        "RMS strain error [% strain] at the atom positions; 'near' = ≤ 2 spacings from a "
        "surface, step, vacancy or grain boundary"
    )
    whole = ((0, SHAPE[0]), (0, SHAPE[1]))
    positions, exx, eyy, near = eq315_case()
    run_case("eq3.15", positions, exx, eyy, near, square, g_square, whole)
    run_case("eq3.15+noise", positions, exx, eyy, near, square, g_square, whole, noisy=True)
    positions, exx, eyy, near = step_case()
    below_band = ((120, 390), (120, 180))  # unstrained crystal, away from surfaces and vacancy
    run_case("step+vacancy", positions, exx, eyy, near, square, g_square, below_band)
    positions, exx, eyy, near, labels = grains_case()
    honeycomb = {"honeycomb": Template.honeycomb()}
    image = lattice_image(positions, SHAPE, width=WIDTH * 0.8)
    inside = (positions >= 2 * SPACING).all(1) & (positions < np.array(SHAPE) - 2 * SPACING).all(1)
    grain0_box = ((60, 220), (60, 220))  # both methods take grain 0's interior as reference
    template = honeycomb["honeycomb"]
    t_exx, t_eyy, _, _ = measure_templates(image, positions, template, False, grain0_box)
    # GPA needs one pair of g: grain 0's (honeycomb reciprocal lattice, rotation 0°)
    g_grain0 = [[1 / SPACING, -1 / (SPACING * np.sqrt(3))], [0.0, 2 / (SPACING * np.sqrt(3))]]
    g_exx, g_eyy, _ = measure_gpa(image, positions, 0.25 / SPACING, g_grain0, grain0_box)
    for k in range(3):
        grain = inside & (labels == k) & ~near
        print(
            f"grain {k}: templates (honeycomb) εxx {rms_percent(t_exx, grain)} % εyy "
            f"{rms_percent(t_eyy, grain)} %   GPA (grain 0's g) εxx {rms_percent(g_exx, grain)} % "
            f"εyy {rms_percent(g_eyy, grain)} %   ({grain.sum()} atoms, truth 0)"
        )
    error_figure("three_grains", image, positions, {"templates": t_exx, "GPA": g_exx})
    print(f"figures in {OUT}/ ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    run(main)
