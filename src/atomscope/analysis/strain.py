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
    "MAX_RESIDUAL",
    "RMSD_FLOOR",
    "ROBUST_CUT",
    "Strain",
    "affine_transforms",
    "default_reference",
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


def strain_tensor(deformation: np.ndarray, scale) -> np.ndarray:
    """ε = P / s − I (Eq 3.14), s the template's mean centre distance in the image [pixels].

    ``scale`` is one s for all, or one per deformation (n,).

    Examples
    --------
    >>> strain_tensor(np.array([[[10.2, 0.0], [0.0, 9.9]]]), scale=10.0).round(6).tolist()
    [[[0.02, 0.0], [0.0, -0.01]]]
    """
    scale = check_finite_array("scale", scale)
    if np.any(scale <= 0):
        raise ValueError(f"scale must be positive, got {scale.tolist()}")
    deformation = np.asarray(deformation)
    return deformation / np.reshape(scale, (-1, 1, 1) if scale.ndim else ()) - np.eye(2)  # Eq 3.14


MAX_RESIDUAL = 0.25
"""A neighbour counts as present when it lies within this fraction of the local mean neighbour
distance of where the matched template puts it (default reference)."""

ROBUST_CUT = 3.0
"""k of the default reference's RMSD cut: median + k·σ, σ = 1.4826·MAD (≥ `RMSD_FLOOR`)."""

RMSD_FLOOR = 1e-3
"""Smallest σ of the RMSD cut [template units]: a perfect lattice (MAD 0) keeps all its exact
points."""


@dataclass(frozen=True)
class Strain:
    """Per-point strain from template matching.

    Attributes
    ----------
    points
        Centre points (n, 2) ``[x, y]`` [pixels, or the unit of the matched points].
    exx, eyy, exy
        Strain components (n,) (dimensionless); NaN where the point was not matched.
    rotation
        Local lattice rotation θ from the polar decomposition (n,) [rad], relative to the
        template and reduced to (−π/n, π/n] for a template of n-fold symmetry.
    mask
        True where the point was matched and its strain is defined (n,).
    scale
        s of Eq 3.14 per template (K,) [pixels]: the template's mean centre distance in the
        unstrained image; NaN for a template no point matched.
    template_index
        Template of each point (n,), index into ``scale``; −1 if unmatched.
    lattice_scale
        ``scale / templates[k].mean_distance`` (K,) [pixels per template unit]: the measured
        spacing over the template's spacing. Points in Å and a template in Å (e.g.
        `Template.from_atoms`) make it dimensionless (1 for the template's own lattice
        parameter); points in pixels give pixels per Å.
    reference
        The points whose mean planar strain is zero (n,), per template; all False when the
        scale was given.
    reference_rule
        How ``reference`` was chosen, in words, with its count.
    """

    points: np.ndarray
    exx: np.ndarray
    eyy: np.ndarray
    exy: np.ndarray
    rotation: np.ndarray
    mask: np.ndarray
    scale: np.ndarray
    template_index: np.ndarray
    lattice_scale: np.ndarray
    reference: np.ndarray
    reference_rule: str

    @property
    def planar(self) -> np.ndarray:
        """Planar strain (εxx + εyy) / 2 (n,)."""
        return (self.exx + self.eyy) / 2

    def normal_strain(self, normal) -> np.ndarray:
        """Strain along a direction, nᵀ ε n (n,), e.g. the surface normal.

        Examples
        --------
        >>> one = np.array([True])
        >>> s = Strain(np.zeros((1, 2)), np.array([0.02]), np.array([0.0]), np.array([0.0]),
        ...            np.array([0.0]), one, np.array([1.0]), np.array([0]), np.array([1.0]),
        ...            one, "given")
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


def default_reference(match) -> tuple[np.ndarray, str]:
    """The points trusted as unstrained by default, and the rule in words.

    A point qualifies when its whole neighbourhood is there: every neighbour of its template
    matched (no partial match) and each within `MAX_RESIDUAL` (a quarter of the local mean
    neighbour distance) of where the rotated, scaled template puts it. With ``rmax=None`` the
    points near an edge are force-matched to wrong neighbours; this drops them however many
    they are. Among the qualified points of each template, those with RMSD above
    median + k·σ are dropped too (defects, misfits): σ = 1.4826·MAD, the standard deviation of
    normally distributed RMSD, at least `RMSD_FLOOR`; k = `ROBUST_CUT` = 3.

    Parameters
    ----------
    match
        A 2D `TemplateMatch`.

    Returns
    -------
    reference : numpy.ndarray of bool, shape (n,)
    rule : str

    Examples
    --------
    >>> from atomscope.analysis.templates import Template, match_templates
    >>> grid = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0), indexing="ij"), -1)
    >>> reference, rule = default_reference(match_templates(grid.reshape(-1, 2), "square"))
    >>> int(reference.sum()), rule[:34]     # the 4 × 4 interior: full, exact neighbourhoods
    (16, 'default: 16 of 36 matched points, ')
    """
    sizes = np.array([t.num_points for t in match.templates])
    index = np.asarray(match.template_index)
    mask = np.asarray(match.mask, dtype=bool)
    full = mask & (match.num_matched == sizes[np.maximum(index, 0)])
    # where the similarity transform of the match (Eq 3.9) puts each template point
    cos, sin = np.cos(match.rotation), np.sin(match.rotation)
    turn = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    placed = match.scale[:, None, None] * np.einsum("nij,nkj->nki", turn, match.template_points)
    with np.errstate(invalid="ignore"):
        residual = np.linalg.norm(match.segments - placed, axis=-1) / match.scale[:, None]
        present = np.all(np.isnan(residual) | (residual <= MAX_RESIDUAL), axis=1)
    reference = np.zeros(len(index), dtype=bool)
    for k in range(len(sizes)):
        members = full & present & (index == k)
        if members.any():
            rmsd = match.rmsd[members]
            median = np.median(rmsd)
            sigma = max(1.4826 * np.median(np.abs(rmsd - median)), RMSD_FLOOR)
            reference[members] = rmsd <= median + ROBUST_CUT * sigma
    rule = (
        f"default: {int(reference.sum())} of {int(mask.sum())} matched points, those with every "
        f"neighbour of their template within {MAX_RESIDUAL:g} spacing of its place and RMSD "
        f"<= median + {ROBUST_CUT:g} sigma (sigma = 1.4826 MAD >= {RMSD_FLOOR:g}) per template"
    )
    return reference, rule


def _per_template(values, matched: np.ndarray, name: str) -> np.ndarray:
    # one positive value per template (NaN allowed for templates no point matched)
    try:
        values = np.array(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be numbers, got {values!r}") from error
    if values.ndim == 0 and len(matched) == 1:
        values = values.reshape(1)
    if values.shape != matched.shape:
        raise ValueError(
            f"{name} must be one value per template ({len(matched)}), got {values.tolist()}"
        )
    if not np.all(values[matched] > 0) or not np.all(np.isfinite(values[matched])):
        raise ValueError(
            f"{name} must be positive and finite for every matched template, got {values.tolist()}"
        )
    return values


def strain_from_match(
    match, scale=None, reference=None, lattice_scale: float | None = None
) -> Strain:
    """Strain tensor and rotation of every matched local lattice (Eqs 3.12–3.14).

    Each template k has its own s_k of Eq 3.14 (templates are normalised separately, Eq 3.10),
    fixed by zero mean planar strain over the reference points matched to it. A template
    without reference points but with matched points takes the mean lattice scale of all
    reference points (s_k = that × its mean distance), which assumes the templates share a
    length unit (as those of one `Template.from_atoms` call do).

    Parameters
    ----------
    match
        A `TemplateMatch` from `match_templates`.
    scale
        s_k of Eq 3.14 [pixels]: per template (K,), the mean distance from the centre to the
        full template's points in the unstrained image; a number for a single template.
        Overrides ``reference``.
    reference
        Boolean mask (n,) of points whose mean planar strain is zero, per template. Default
        (`default_reference`): points matched to all neighbours of their template with an
        RMSD inside a robust cut (median + 3σ, σ from the MAD).
    lattice_scale
        Points per template unit (e.g. 1 for points and templates both in Å, 1/sampling for
        points in pixels and templates in Å): s_k = lattice_scale · templates[k].mean_distance,
        so the strain is relative to the template's own lattice. Overrides ``reference``.

    Returns
    -------
    Strain
        Unmatched points keep their place with NaN strain and ``mask`` False; ``scale``,
        ``lattice_scale``, ``reference`` and ``reference_rule`` say what fixed the scale.

    Raises
    ------
    ValueError
        If no point is matched (nothing to fit), if ``reference`` selects no matched point,
        or if both ``scale`` and ``lattice_scale`` are given.

    Examples
    --------
    >>> from atomscope.analysis.templates import Template, match_templates
    >>> grid = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij"), -1)
    >>> match = match_templates(grid.reshape(-1, 2) * 5.0, [Template.square()])
    >>> strain = strain_from_match(match)   # edge points are not in the reference
    >>> float(np.abs(strain.exx[strain.reference]).max()) < 1e-12, strain.lattice_scale.round(6)
    (True, array([5.]))
    """
    templates = match.templates
    sizes = np.array([t.mean_distance for t in templates])  # S(W_k), Eq 3.10
    index = np.asarray(match.template_index)
    transforms = affine_transforms(match.template_points, match.segments)  # Eq 3.12
    deformation, theta = polar_decomposition(transforms)  # Eq 3.13
    mask = np.asarray(match.mask, dtype=bool) & np.isfinite(theta)
    if not mask.any():
        raise ValueError(
            "match has no matched point with a defined strain: no local lattice fits the "
            "templates (check the templates, rmax and min_matched)"
        )
    # per point, (P00 + P11) / 2 = s (1 + planar strain) of Eq 3.14 [pixels]
    planar = (deformation[:, 0, 0] + deformation[:, 1, 1]) / 2
    used = np.zeros(len(index), dtype=bool)
    if scale is not None and lattice_scale is not None:
        raise ValueError("give scale or lattice_scale, not both")
    if scale is not None:
        matched = np.array([(mask & (index == k)).any() for k in range(len(templates))])
        scale = _per_template(scale, matched, "scale")
        rule = "scale given"
    elif lattice_scale is not None:
        lattice_scale = check_positive("lattice_scale", lattice_scale)
        scale = lattice_scale * sizes
        rule = f"lattice_scale given: {lattice_scale:g} per template unit"
    else:
        if reference is None:
            used, rule = default_reference(match)
            used &= mask
            if not used.any():
                used = mask.copy()
                rule = f"all {int(mask.sum())} matched points (none passed the default rule)"
        else:
            used = np.asarray(reference, dtype=bool)
            if used.shape != mask.shape:
                raise ValueError(
                    f"reference must be a boolean mask of shape {mask.shape}, got {used.shape}"
                )
            used = used & mask
            if not used.any():
                raise ValueError("reference selects no matched point")
            rule = f"given: {int(used.sum())} of {int(mask.sum())} matched points"
        # zero mean planar strain over each template's reference points: mean(P/s) = 1
        shared = np.mean(planar[used] / sizes[index[used]])
        scale = shared * sizes
        for k in range(len(templates)):
            mine = used & (index == k)
            if mine.any():
                scale[k] = np.mean(planar[mine])
            elif (mask & (index == k)).any():
                rule += f"; {templates[k].name}: no reference point, mean lattice scale"
            else:
                scale[k] = np.nan
    epsilon = np.full((len(index), 2, 2), np.nan)
    epsilon[mask] = strain_tensor(deformation[mask], scale[index[mask]])  # Eq 3.14
    theta = np.where(mask, _modulo_symmetry(theta, match), np.nan)
    return Strain(
        points=np.asarray(match.points, dtype=float),
        exx=epsilon[:, 0, 0],
        eyy=epsilon[:, 1, 1],
        exy=epsilon[:, 0, 1],
        rotation=theta,
        mask=mask,
        scale=scale,
        template_index=np.where(mask, index, -1),
        lattice_scale=scale / sizes,
        reference=used,
        reference_rule=rule,
    )
