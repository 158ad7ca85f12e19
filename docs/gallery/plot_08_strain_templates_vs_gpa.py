"""
Strain by structural templates and by GPA, against the known truth
==================================================================

The seed's test (its §3.2.5, Fig 3.9): a square lattice of Gaussians is displaced by the
smooth strain field of seed Eq 3.15,

    εxx = A (x + y) exp(−a (x² + y²)),   εyy = A (x − y) exp(−a (x² + y²)),

in coordinates normalised to ±1 at the image edges, and Gaussian noise of variance 0.05 is
added to every pixel. Two methods then measure εxx:

* **structural templates** (seed ch. 3): Wiener filter, peak positions refined by a
  polynomial fit (Eq 3.4), each point's neighbours matched to a square template by the
  rotation- and scale-invariant RMSD (Eqs 3.7–3.11), strain from the affine fit and its polar
  decomposition (Eqs 3.12–3.14) — one value per atomic column;
* **geometric phase analysis** (GPA, Eqs 3.1–3.3): the phases of two Bragg-filtered lattice
  fringes, differentiated — a map whose resolution is the Bragg mask's width.

Because the field is known exactly, both are scored against the truth.
"""

import matplotlib.pyplot as plt
import numpy as np

from atomscope.analysis import (
    Template,
    add_gaussian_noise,
    eq315_field,
    find_peaks,
    gpa_strain,
    lattice_image,
    match_templates,
    refine_peaks,
    square_lattice,
    strain_from_match,
    wiener_filter,
)

shape, spacing = (384, 384), 12.0  # pixels
field = eq315_field(shape, amplitude=0.05)
reference = square_lattice(shape, spacing, margin=-2 * spacing)
image = lattice_image(reference + field.displacement(reference), shape, width=2.0)
noisy = add_gaussian_noise(image, variance=0.05, rng=0)

# %%
# Both measurements
# -----------------

filtered = wiener_filter(noisy)
points = refine_peaks(filtered, find_peaks(filtered, min_distance=4, threshold=0.2))
match = match_templates(points, [Template.square()], rmax=0.15)
strain = strain_from_match(match)
gpa = gpa_strain(noisy, g_vectors=[[1 / spacing, 0], [0, 1 / spacing]], sigma=0.15 / spacing)
print(f"{len(points)} peaks, {int(match.mask.sum())} matched to the square template")

# the truth at the measured points and on every pixel (the field is defined on the undeformed
# positions, so each point is first mapped back)
truth_points = field.strain(field.undeformed(points))["exx"]
x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
pixels = np.stack([x, y], -1).astype(float)
truth_map = field.strain(field.undeformed(pixels))["exx"]

# %%
# Maps of εxx and of the error
# ----------------------------
# Top: the noisy image, the true εxx and the templates' εxx, one value per atomic column.
# Bottom: GPA's εxx map (its resolution is set by the Bragg mask) and both errors. The RMS
# errors are taken two lattice spacings away from the image edge, where GPA's Fourier filter
# and the templates' incomplete neighbourhoods both fail.

inner = 2 * int(spacing)
bulk = np.all((points > inner) & (points < np.array(shape) - inner), axis=1)
template_error = strain.exx - truth_points
gpa_error = gpa.exx - truth_map
rms_templates = np.sqrt(np.nanmean(template_error[bulk] ** 2))
rms_gpa = np.sqrt(np.mean(gpa_error[inner:-inner, inner:-inner] ** 2))
print(f"RMS εxx error: templates {100 * rms_templates:.2f} %, GPA {100 * rms_gpa:.2f} %")

fig, axes = plt.subplots(2, 3, figsize=(13, 8), layout="constrained")
limits = {"vmin": -2, "vmax": 2, "cmap": "RdBu_r"}  # percent
errors = {"vmin": -1, "vmax": 1, "cmap": "PuOr_r"}
image_extent = (-0.5, shape[0] - 0.5, -0.5, shape[1] - 0.5)  # pixel (i, j) centred at (i, j)


def finish(ax, mappable, title, label):
    fig.colorbar(mappable, ax=ax, label=label, shrink=0.85)
    ax.set_title(title)
    ax.set_xlabel("x [pixels]")
    ax.set_ylabel("y [pixels]")
    ax.set_aspect("equal")


m = axes[0, 0].imshow(noisy.T, origin="lower", extent=image_extent, cmap="gray")
finish(axes[0, 0], m, "image with noise (variance 0.05)", "intensity")
m = axes[0, 1].imshow(100 * truth_map.T, origin="lower", extent=image_extent, **limits)
finish(axes[0, 1], m, "truth εxx (Eq 3.15)", "εxx [%]")
m = axes[1, 0].imshow(100 * gpa.exx.T, origin="lower", extent=image_extent, **limits)
finish(axes[1, 0], m, "GPA εxx (a map)", "εxx [%]")
m = axes[0, 2].scatter(*points.T, c=100 * strain.exx, s=6, **limits)
finish(axes[0, 2], m, "templates εxx (one per column)", "εxx [%]")
m = axes[1, 2].scatter(*points.T, c=100 * template_error, s=6, **errors)
finish(axes[1, 2], m, f"templates − truth, RMS {100 * rms_templates:.2f} %", "error [%]")
m = axes[1, 1].imshow(100 * gpa_error.T, origin="lower", extent=image_extent, **errors)
finish(axes[1, 1], m, f"GPA − truth, RMS {100 * rms_gpa:.2f} %", "error [%]")
for ax in (axes[0, 2], axes[1, 2]):
    ax.set_xlim(image_extent[:2])
    ax.set_ylim(image_extent[2:])
plt.show()
