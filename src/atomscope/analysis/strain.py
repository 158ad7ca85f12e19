"""Strain from matched local lattices: affine fit, polar decomposition, strain tensor.

Seed §3.2.4, Eqs 3.12–3.14. Points are pixel coordinates ``[x, y]``; strain is dimensionless and
rotation in radians, counter-clockwise from x towards y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import griddata

from atomscope.core.validate import check_finite_array, check_positive

__all__ = [
    "Strain",
    "affine_transforms",
    "polar_decomposition",
    "strain_from_match",
    "strain_tensor",
]


def affine_transforms(template: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Least-squares linear maps A with segment ≈ A · template, one per local lattice (Eq 3.12).

    Parameters
    ----------
    template
        Template points relative to their centre, (n, N, 2); NaN rows are unmatched and ignored.
    segments
        The matched measured points relative to the centre point, (n, N, 2) [pixels].

    Returns
    -------
    numpy.ndarray
        A, shape (n, 2, 2); NaN where fewer than two non-collinear pairs are matched.

    Examples
    --------
    >>> w = np.array([[[1.0, 0], [0, 1], [-1, 0], [0, -1]]])
    >>> stretch = np.array([[1.02, 0], [0, 0.99]])
    >>> affine_transforms(w, w @ stretch.T).round(6).tolist()
    [[[1.02, 0.0], [0.0, 0.99]]]
    """
    template = np.asarray(template, dtype=float)
    segments = np.asarray(segments, dtype=float)
    if template.shape != segments.shape or template.ndim != 3 or template.shape[-1] != 2:
        raise ValueError(
            f"template and segments must both have shape (n, N, 2), got {template.shape} "
            f"and {segments.shape}"
        )
    matched = np.isfinite(template).all(-1) & np.isfinite(segments).all(-1)
    w = np.where(matched[..., None], template, 0.0)
    v = np.where(matched[..., None], segments, 0.0)
    # normal equations of Eq 3.12: (WᵀW) Aᵀ = WᵀV
    wtw = np.einsum("nki,nkj->nij", w, w)
    wtv = np.einsum("nki,nkj->nij", w, v)
    determinant = np.linalg.det(wtw)
    scale = np.einsum("nii->n", wtw) ** 2
    solvable = determinant > 1e-10 * np.maximum(scale, 1e-300)
    transforms = np.full((template.shape[0], 2, 2), np.nan)
    if solvable.any():
        transforms[solvable] = np.swapaxes(np.linalg.solve(wtw[solvable], wtv[solvable]), 1, 2)
    return transforms


def polar_decomposition(transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left polar decomposition A = P U of 2×2 maps (Eq 3.13).

    U is the rotation by θ = atan2(A₁₀ − A₀₁, A₀₀ + A₁₁) (the rotation maximising tr(UᵀA)) and
    P = A Uᵀ the symmetric deformation. Returns (P, θ) with shapes (n, 2, 2) and (n,) [rad].

    Examples
    --------
    >>> c, s = np.cos(0.1), np.sin(0.1)
    >>> P, theta = polar_decomposition(np.array([[[1.01 * c, -1.01 * s], [1.01 * s, 1.01 * c]]]))
    >>> P.round(6).tolist(), theta.round(6).tolist()
    ([[[1.01, 0.0], [0.0, 1.01]]], [0.1])
    """
    a = np.asarray(transforms, dtype=float)
    theta = np.arctan2(a[:, 1, 0] - a[:, 0, 1], a[:, 0, 0] + a[:, 1, 1])
    cos, sin = np.cos(theta), np.sin(theta)
    rotation_t = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)
    deformation = a @ rotation_t
    return (deformation + np.swapaxes(deformation, 1, 2)) / 2, theta


def strain_tensor(deformation: np.ndarray, scale: float) -> np.ndarray:
    """ε = P / s − I (Eq 3.14), s the template's mean centre distance in the image [pixels].

    Examples
    --------
    >>> strain_tensor(np.array([[[10.2, 0.0], [0.0, 9.9]]]), scale=10.0).round(6).tolist()
    [[[0.02, 0.0], [0.0, -0.01]]]
    """
    scale = check_positive("scale", scale)
    return np.asarray(deformation) / scale - np.eye(2)


@dataclass(frozen=True)
class Strain:
    """Per-point strain from template matching.

    Attributes
    ----------
    points
        Centre points (n, 2) ``[x, y]`` [pixels].
    exx, eyy, exy
        Strain components (n,) (dimensionless); NaN where the point was not matched.
    rotation
        Local lattice rotation θ from the polar decomposition (n,) [rad], relative to the
        template and reduced to (−π/n, π/n] for a template of n-fold symmetry.
    mask
        True where the point was matched and its strain is defined (n,).
    scale
        s of Eq 3.14 [pixels]: the template's mean centre distance in the unstrained image.
    """

    points: np.ndarray
    exx: np.ndarray
    eyy: np.ndarray
    exy: np.ndarray
    rotation: np.ndarray
    mask: np.ndarray
    scale: float

    @property
    def planar(self) -> np.ndarray:
        """Planar strain (εxx + εyy) / 2 (n,)."""
        return (self.exx + self.eyy) / 2

    def normal_strain(self, normal) -> np.ndarray:
        """Strain along a direction, nᵀ ε n (n,), e.g. the surface normal.

        Examples
        --------
        >>> s = Strain(np.zeros((1, 2)), np.array([0.02]), np.array([0.0]), np.array([0.0]),
        ...            np.array([0.0]), np.array([True]), 1.0)
        >>> s.normal_strain([1, 1]).round(6).tolist()
        [0.01]
        """
        n = check_finite_array("normal", normal, ndim=1)
        if n.shape != (2,) or not np.any(n):
            raise ValueError(f"normal must be a non-zero 2-vector [x, y], got {normal!r}")
        n = n / np.linalg.norm(n)
        return n[0] ** 2 * self.exx + 2 * n[0] * n[1] * self.exy + n[1] ** 2 * self.eyy

    def to_grid(self, shape: tuple[int, int], component: str = "exx") -> np.ndarray:
        """Linear interpolation of one component onto the image grid ``shape`` (NaN outside).

        ``component`` is ``"exx"``, ``"eyy"``, ``"exy"``, ``"rotation"`` or ``"planar"``.
        """
        if component not in ("exx", "eyy", "exy", "rotation", "planar"):
            raise ValueError(
                f"component must be exx, eyy, exy, rotation or planar; got {component!r}"
            )
        values = getattr(self, component)
        use = self.mask & np.isfinite(values)
        if use.sum() < 3:
            raise ValueError(f"need at least 3 matched points to interpolate, got {use.sum()}")
        x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
        return griddata(self.points[use], values[use], (x, y), method="linear")


def _modulo_symmetry(theta: np.ndarray, match) -> np.ndarray:
    # a template with n-fold symmetry fixes the lattice rotation only modulo 2π/n
    orders = np.array([template.symmetry for template in match.templates])
    period = 2 * np.pi / orders[np.maximum(match.template_index, 0)]
    return (theta + period / 2) % period - period / 2


def strain_from_match(match, scale: float | None = None, reference=None) -> Strain:
    """Strain tensor and rotation of every matched local lattice (Eqs 3.12–3.14).

    Parameters
    ----------
    match
        A `TemplateMatch` from `match_templates`.
    scale
        s of Eq 3.14 [pixels]: the mean distance from the centre to the full template's points in
        the unstrained image. If omitted, s is fixed by requiring zero mean planar strain over
        ``reference``.
    reference
        Boolean mask (n,) of points whose mean planar strain is zero (default: all matched
        points). Ignored when ``scale`` is given.

    Returns
    -------
    Strain
        Unmatched points keep their place with NaN strain and ``mask`` False.
    """
    transforms = affine_transforms(match.template_points, match.segments)
    deformation, theta = polar_decomposition(transforms)
    mask = np.asarray(match.mask, dtype=bool) & np.isfinite(theta)
    if scale is None:
        reference = mask if reference is None else np.asarray(reference, dtype=bool) & mask
        if reference.shape != mask.shape or not reference.any():
            raise ValueError(
                f"reference must be a boolean mask of shape {mask.shape} selecting matched points"
            )
        # zero mean planar strain: mean((P00 + P11) / 2s) = 1 over the reference
        scale = float(np.mean((deformation[reference, 0, 0] + deformation[reference, 1, 1]) / 2))
    epsilon = strain_tensor(deformation, scale)
    epsilon[~mask] = np.nan
    theta = np.where(mask, _modulo_symmetry(theta, match), np.nan)
    return Strain(
        points=np.asarray(match.points, dtype=float),
        exx=epsilon[:, 0, 0],
        eyy=epsilon[:, 1, 1],
        exy=epsilon[:, 0, 1],
        rotation=theta,
        mask=mask,
        scale=scale,
    )
