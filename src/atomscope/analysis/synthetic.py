"""Synthetic truth for the strain methods: lattices of Gaussians with known displacement fields.

Every image here is built from points whose exact strain is known, so peak finding, template
matching and GPA can be scored against the truth (seed thesis §3.2.5, Figs 3.6, 3.7 and 3.9).
Coordinates are pixel coordinates ``[x, y]`` (array axis 0 is x) unless a sampling is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import erf

from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_finite_array,
    check_nonnegative,
    check_positive,
    check_real,
)

__all__ = [
    "StrainField",
    "add_gaussian_noise",
    "eq315_field",
    "lattice_image",
    "projected_atoms",
    "square_lattice",
    "zone_axis_image",
]


@numba.njit(cache=True, nogil=True)
def _splat_gaussians(image, points, width, radius):  # pragma: no cover - compiled
    nx, ny = image.shape
    inv = 1.0 / (2.0 * width * width)
    for n in range(points.shape[0]):
        px = points[n, 0]
        py = points[n, 1]
        x0 = max(int(np.floor(px - radius)), 0)
        x1 = min(int(np.ceil(px + radius)) + 1, nx)
        y0 = max(int(np.floor(py - radius)), 0)
        y1 = min(int(np.ceil(py + radius)) + 1, ny)
        for i in range(x0, x1):
            gx = np.exp(-((i - px) ** 2) * inv)
            for j in range(y0, y1):
                image[i, j] += gx * np.exp(-((j - py) ** 2) * inv)


def lattice_image(
    points: np.ndarray,
    shape: tuple[int, int],
    sampling: float = 1.0,
    width: float = 1.0,
    amplitude: float = 1.0,
) -> np.ndarray:
    """Sum of isotropic Gaussians of height ``amplitude`` centred on ``points``.

    Parameters
    ----------
    points
        Centres, shape (n, 2), ``[x, y]`` [Å]; pixel ``(i, j)`` sits at ``(i, j) · sampling``.
    shape
        Image shape (nx, ny) [pixels].
    sampling
        Pixel size [Å].
    width
        Standard deviation σ of each Gaussian [Å]; each is truncated at 6σ.
    amplitude
        Peak height of each Gaussian.

    Returns
    -------
    numpy.ndarray
        float64 image indexed ``[x, y]``.

    Examples
    --------
    >>> image = lattice_image([[5.0, 5.0]], (11, 11), width=1.5)
    >>> float(image[5, 5]), float(image[5, 8].round(4))
    (1.0, 0.1353)
    """
    points = check_finite_array("points", points, ndim=2)
    if points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    sampling = check_positive("sampling", sampling)
    width = check_positive("width", width)
    nx, ny = (int(n) for n in shape)
    if nx < 1 or ny < 1:
        raise ValueError(f"shape must be two positive integers, got {shape}")
    image = np.zeros((nx, ny))
    width_px = width / sampling
    _splat_gaussians(image, points / sampling, width_px, 6.0 * width_px)
    return amplitude * image


def square_lattice(shape: tuple[int, int], spacing: float, margin: float = 0.0) -> np.ndarray:
    """Points of a square lattice filling ``shape`` [pixels], ``margin`` pixels from the edges.

    A negative ``margin`` extends the lattice beyond the image, so that a displacement field
    cannot pull empty space into view at the edges.

    Examples
    --------
    >>> square_lattice((20, 20), spacing=8.0, margin=2.0).tolist()
    [[2.0, 2.0], [2.0, 10.0], [10.0, 2.0], [10.0, 10.0]]
    """
    spacing = check_positive("spacing", spacing)
    margin = check_real("margin", margin)
    xs = np.arange(margin, shape[0] - 1 - margin + 1e-9, spacing)
    ys = np.arange(margin, shape[1] - 1 - margin + 1e-9, spacing)
    if len(xs) == 0 or len(ys) == 0:
        raise ValueError(f"spacing {spacing} with margin {margin} leaves no point in {shape}")
    x, y = np.meshgrid(xs, ys, indexing="ij")
    return np.stack([x.ravel(), y.ravel()], axis=1)


@dataclass(frozen=True)
class StrainField:
    """The seed's test field (Eq 3.15) on normalised coordinates, with exact displacements.

    Coordinates are normalised as ``x̃ = (x − centre_x) / half_size`` so the field looks the same
    on any image size. In those units

    εxx = A (x̃ + ỹ) exp(−a (x̃² + ỹ²)),   εyy = A (x̃ − ỹ) exp(−a (x̃² + ỹ²))   (seed Eq 3.15)

    and the displacements are their integrals from the axes, so ∂ux/∂x = εxx and ∂uy/∂y = εyy
    exactly; εxy follows from u. Strain is dimensionless and the same in pixel units.

    Parameters
    ----------
    centre
        Field origin (x, y) [pixels].
    half_size
        Length [pixels] that maps to x̃ = 1.
    amplitude
        A, the strain scale (0.05 gives peaks of about 2 %).
    decay
        a, the Gaussian decay of the field.
    """

    centre: tuple[float, float]
    half_size: float
    amplitude: float = 0.05
    decay: float = 2.0

    def _normalised(self, points):
        points = np.asarray(points, dtype=float)
        return (
            (points[..., 0] - self.centre[0]) / self.half_size,
            (points[..., 1] - self.centre[1]) / self.half_size,
        )

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """Displacement u [pixels] at reference positions ``points`` (…, 2) [pixels]."""
        x, y = self._normalised(points)
        a = self.decay
        root = np.sqrt(np.pi / a) / 2
        # ux = ∫0^x εxx dx', uy = ∫0^y εyy dy' (Eq 3.15 integrated in closed form)
        ux = np.exp(-a * y**2) * (
            (1 - np.exp(-a * x**2)) / (2 * a) + y * root * erf(np.sqrt(a) * x)
        )
        uy = np.exp(-a * x**2) * (
            x * root * erf(np.sqrt(a) * y) - (1 - np.exp(-a * y**2)) / (2 * a)
        )
        return self.amplitude * self.half_size * np.stack([ux, uy], axis=-1)

    def undeformed(self, positions: np.ndarray, iterations: int = 30) -> np.ndarray:
        """Reference positions X with X + u(X) = ``positions`` (fixed-point iteration) [pixels].

        Needed to score Eulerian maps (GPA measures strain at the deformed pixel) against the
        field, which is defined on the reference lattice.
        """
        positions = np.asarray(positions, dtype=float)
        reference = positions.copy()
        for _ in range(iterations):
            reference = positions - self.displacement(reference)
        return reference

    def strain(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Exact εxx, εyy (Eq 3.15), εxy = (∂ux/∂y + ∂uy/∂x)/2 and rotation at ``points``."""
        x, y = self._normalised(points)
        a = self.decay
        envelope = self.amplitude * np.exp(-a * (x**2 + y**2))
        root = np.sqrt(np.pi / a) / 2
        # derivatives of the closed-form displacements above
        dux_dy = self.amplitude * (
            -2 * a * y * np.exp(-a * y**2) * (1 - np.exp(-a * x**2)) / (2 * a)
            + np.exp(-a * y**2) * (1 - 2 * a * y**2) * root * erf(np.sqrt(a) * x)
        )
        duy_dx = self.amplitude * (
            np.exp(-a * x**2) * (1 - 2 * a * x**2) * root * erf(np.sqrt(a) * y)
            + 2 * a * x * np.exp(-a * x**2) * (1 - np.exp(-a * y**2)) / (2 * a)
        )
        return {
            "exx": (x + y) * envelope,
            "eyy": (x - y) * envelope,
            "exy": (dux_dy + duy_dx) / 2,
            "rotation": (duy_dx - dux_dy) / 2,
        }


def eq315_field(shape: tuple[int, int], amplitude: float = 0.05, decay: float = 2.0) -> StrainField:
    """The Eq 3.15 field centred on an image of ``shape``, x̃ = ±1 at the edges.

    Examples
    --------
    >>> field = eq315_field((101, 101))
    >>> field.strain(np.array([50.0, 50.0]))["exx"].item()
    0.0
    """
    return StrainField(
        centre=((shape[0] - 1) / 2, (shape[1] - 1) / 2),
        half_size=(min(shape) - 1) / 2,
        amplitude=amplitude,
        decay=decay,
    )


def add_gaussian_noise(image: np.ndarray, variance: float = 0.05, rng=None) -> np.ndarray:
    """Return ``image`` plus independent Gaussian noise of ``variance`` per pixel (seed §3.2.5).

    Examples
    --------
    >>> noisy = add_gaussian_noise(np.zeros((200, 200)), variance=0.05, rng=0)
    >>> round(float(noisy.var()), 2)
    0.05
    """
    variance = check_nonnegative("variance", variance)
    generator = as_generator(rng)
    image = np.asarray(image, dtype=float)
    return image + generator.normal(0.0, np.sqrt(variance), image.shape)


def projected_atoms(
    atoms, zone_axis, extent: tuple[float, float], thickness: float = 40.0
) -> tuple[np.ndarray, np.ndarray]:
    """Every atom of a periodic crystal seen along ``zone_axis``, in a field of ``extent``.

    The unit cell is repeated into a block that covers the field ``extent`` (x, y) [Å] and
    ``thickness`` [Å] along the beam, turned so that ``zone_axis`` [uvw] (in the basis of the
    cell vectors) points along z (`atomscope.structures.orient`, in-plane rotation 0) and
    shifted so the field starts at x = y = 0. Atoms of one column project onto one point.

    Returns
    -------
    positions, numbers
        Projected positions (n, 2) [Å] inside the field, and atomic numbers (n,).

    Examples
    --------
    >>> from ase.build import bulk
    >>> positions, numbers = projected_atoms(bulk("Au", cubic=True), (0, 0, 1), (8.0, 8.0))
    >>> sorted(set(numbers.tolist()))
    [79]
    """
    from atomscope.core.validate import check_atoms
    from atomscope.structures.orient import orient

    atoms = check_atoms("atoms", atoms)
    if not atoms.pbc.all() or atoms.cell.rank != 3:
        raise ValueError("atoms must be a periodic crystal with a 3D cell (e.g. from a CIF)")
    extent = (check_positive("extent x", extent[0]), check_positive("extent y", extent[1]))
    thickness = check_positive("thickness", thickness)
    # enough repeats that the turned block covers the field's diagonal and the thickness
    reach = np.hypot(*extent) + thickness
    repeats = [int(np.ceil(reach / h)) + 1 for h in atoms.cell.cellpar()[:3]]
    block = atoms.repeat(repeats)
    block.pbc = False
    turned = orient(block, zone_axis, lattice=np.asarray(atoms.cell))
    positions = turned.positions
    centre = positions.mean(axis=0)
    inside_z = np.abs(positions[:, 2] - centre[2]) <= thickness / 2
    origin = centre[:2] - np.asarray(extent) / 2
    planar = positions[:, :2] - origin
    inside = inside_z & np.all((planar >= 0) & (planar < np.asarray(extent)), axis=1)
    return planar[inside], turned.numbers[inside]


def zone_axis_image(
    atoms,
    zone_axis,
    shape: tuple[int, int],
    sampling: float,
    width: float = 0.4,
    exponent: float = 1.7,
    thickness: float = 40.0,
) -> np.ndarray:
    """An ADF-like image of a crystal along a zone axis: a Gaussian per atom of height Z^exponent.

    Atoms of a column add up, so the column intensity grows with its atoms' Z^exponent (the
    incoherent Z-contrast of annular dark field, exponent 1.6–2). No lens, no channelling:
    a truth with known column positions for the analysis, not a simulation.

    Parameters
    ----------
    atoms
        A periodic crystal (`ase.Atoms` with a 3D cell).
    zone_axis
        [uvw] in the basis of the cell vectors.
    shape
        Image (nx, ny) [pixels].
    sampling
        Pixel size [Å].
    width
        Standard deviation of each column [Å].
    exponent
        Z-contrast exponent.
    thickness
        Specimen thickness along the beam [Å].

    Returns
    -------
    numpy.ndarray
        float64 image indexed ``[x, y]``, normalised so the brightest column peaks near 1.

    Examples
    --------
    >>> from ase.build import bulk
    >>> image = zone_axis_image(bulk("Si", cubic=True), (1, 1, 0), (64, 64), sampling=0.1)
    >>> image.shape, round(float(image.max()), 1)
    ((64, 64), 1.0)
    """
    sampling = check_positive("sampling", sampling)
    exponent = check_real("exponent", exponent)
    extent = (shape[0] * sampling, shape[1] * sampling)
    positions, numbers = projected_atoms(atoms, zone_axis, extent, thickness)
    # atoms of one column (same projected position to 1e-3 Å) become one Gaussian
    keys, column = np.unique(
        np.round(positions / 1e-3).astype(np.int64), axis=0, return_inverse=True
    )
    weights = np.bincount(column.ravel(), weights=numbers.astype(float) ** exponent)
    image = np.zeros((int(shape[0]), int(shape[1])))
    for weight in np.unique(weights):
        points = keys[weights == weight] * 1e-3
        image += lattice_image(points, shape, sampling, width, weight)
    return image / image.max()
