"""Scale- and rotation-invariant RMSD between point sets with known correspondence.

The similarity of a local lattice V (vectors from its central point) and a template W is the seed
thesis' Eq 3.9: min over rotation U and scale s of sqrt(1/N Σ ‖s vᵢ − U wᵢ / S(W)‖²), with
S(W) the mean distance of the template points from the centre (Eq 3.10). Horn (1987) showed that
U does not depend on s; with G = max_U Σ vᵢ·U wᵢ the optimal s = G / Σ‖vᵢ‖² and

    RSSD² = Σ‖wᵢ‖² − G² / Σ‖vᵢ‖²,          RMSD = RSSD / √N              (Eqs 3.9, 3.11).

In 2D, G = √(D² + C²) with D = Σ vᵢ·wᵢ and C = Σ wᵢ × vᵢ, and the rotation angle is atan2(C, D).
In 3D, G is the largest eigenvalue of Horn's 4 × 4 quaternion matrix, found as the largest root of
its characteristic polynomial by Newton's method (Theobald's QCP, Acta Cryst. A 61, 478, 2005).
"""

from __future__ import annotations

import numba
import numpy as np

from atomscope.core.validate import check_finite_array


@numba.njit(cache=True, fastmath=False)
def qcp_largest_eigenvalue(m: np.ndarray, upper: float) -> float:
    """Largest eigenvalue of Horn's quaternion matrix built from M = Σ wᵢ vᵢᵀ (3 × 3).

    This equals max over proper rotations U of Σ vᵢ·U wᵢ. Newton's method on the characteristic
    polynomial λ⁴ + c₂λ² + c₁λ + c₀ starts from ``upper`` (any upper bound, e.g. √(Σ‖v‖² Σ‖w‖²))
    and descends monotonically to the largest root (Theobald 2005, Eqs 8–12).

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 0, 0], [0, 2, 0]])
    >>> round(qcp_largest_eigenvalue(w.T @ w, 10.0), 9)   # v = w: G = Σ‖w‖² = 5
    5.0
    """
    return qcp_root(
        m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2], m[2, 0], m[2, 1], m[2, 2], upper
    )


@numba.njit(cache=True)
def qcp_root(sxx, sxy, sxz, syx, syy, syz, szx, szy, szz, upper):
    """``qcp_largest_eigenvalue`` from the nine entries of M (row-major), for numba callers.

    Examples
    --------
    >>> round(qcp_root(1.0, 0, 0, 0, 4.0, 0, 0, 0, 0, 10.0), 9)
    5.0
    """
    # Horn's symmetric, traceless matrix N (Horn 1987, Eq. 4.4 ff.)
    n00 = sxx + syy + szz
    n01 = syz - szy
    n02 = szx - sxz
    n03 = sxy - syx
    n11 = sxx - syy - szz
    n12 = sxy + syx
    n13 = szx + sxz
    n22 = -sxx + syy - szz
    n23 = syz + szy
    n33 = -sxx - syy + szz
    c2 = -2.0 * (
        sxx * sxx
        + sxy * sxy
        + sxz * sxz
        + syx * syx
        + syy * syy
        + syz * syz
        + szx * szx
        + szy * szy
        + szz * szz
    )
    c1 = -8.0 * (
        sxx * (syy * szz - syz * szy)
        - sxy * (syx * szz - syz * szx)
        + sxz * (syx * szy - syy * szx)
    )
    # det(N) by 2 × 2 minors of the first two and last two rows (Laplace expansion)
    a0 = n00 * n11 - n01 * n01
    a1 = n00 * n12 - n02 * n01
    a2 = n00 * n13 - n03 * n01
    a3 = n01 * n12 - n02 * n11
    a4 = n01 * n13 - n03 * n11
    a5 = n02 * n13 - n03 * n12
    b0 = n02 * n13 - n03 * n12
    b1 = n02 * n23 - n03 * n22
    b2 = n02 * n33 - n03 * n23
    b3 = n12 * n23 - n13 * n22
    b4 = n12 * n33 - n13 * n23
    b5 = n22 * n33 - n23 * n23
    c0 = a0 * b5 - a1 * b4 + a2 * b3 + a3 * b2 - a4 * b1 + a5 * b0
    lam = upper
    for _ in range(100):
        lam2 = lam * lam
        p = lam2 * lam2 + c2 * lam2 + c1 * lam + c0
        dp = 4.0 * lam2 * lam + 2.0 * c2 * lam + c1
        if dp == 0.0:
            break
        step = p / dp
        lam -= step
        if abs(step) <= 1e-13 * abs(lam) + 1e-300:
            break
    return lam


@numba.njit(cache=True)
def _qcp_batch(a: np.ndarray, b: np.ndarray, scaled: bool) -> np.ndarray:
    out = np.empty(a.shape[0])
    m = np.empty((3, 3))
    for k in range(a.shape[0]):
        m[:] = 0.0
        saa = 0.0
        sbb = 0.0
        for i in range(a.shape[1]):
            for p in range(3):
                saa += a[k, i, p] * a[k, i, p]
                sbb += b[k, i, p] * b[k, i, p]
                for q in range(3):
                    m[p, q] += b[k, i, p] * a[k, i, q]
        g = qcp_largest_eigenvalue(m, np.sqrt(saa * sbb))
        if scaled:
            rss = sbb - g * g / saa if saa > 0.0 else sbb
        else:
            rss = saa + sbb - 2.0 * g
        out[k] = np.sqrt(max(rss, 0.0) / a.shape[1])
    return out


def _pair(a, b, dim: int | None) -> tuple[np.ndarray, np.ndarray]:
    a = check_finite_array("a", a)
    b = check_finite_array("b", b)
    if a.ndim < 2 or (dim is not None and a.shape[-1] != dim) or a.shape[-1] not in (2, 3):
        allowed = f"{dim}" if dim else "2 or 3"
        raise ValueError(f"a must have shape (..., N, {allowed}), got {a.shape}")
    if b.shape != a.shape:
        raise ValueError(f"b must have the same shape as a {a.shape}, got {b.shape}")
    if a.shape[-2] < 1:
        raise ValueError(f"a must hold at least one point, got shape {a.shape}")
    return a, b


def rmsd_qcp(a, b, scale: bool = False) -> np.ndarray:
    """RMSD of 3D point sets after the optimal rotation, by Theobald's QCP method.

    The sets are taken as vectors from a common centre (the central atom of a local structure,
    as in Eq 3.8), so translation is not optimised.

    Parameters
    ----------
    a, b : array_like, shape (..., N, 3)
        Corresponding points [any length unit]; ``b`` is rotated onto ``a``.
    scale : bool
        False: min_U √(1/N Σ‖aᵢ − U bᵢ‖²) (Eq 3.8). True: the scale-invariant RMSD of Eq 3.9,
        min_{U,s} √(1/N Σ‖s aᵢ − U bᵢ‖²), in the units of ``b`` (normalise ``b`` first).

    Returns
    -------
    numpy.ndarray, shape (...)
        RMSD per set [unit of the inputs].

    Examples
    --------
    >>> import numpy as np
    >>> b = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    >>> turn = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])   # 90° about z
    >>> float(rmsd_qcp(b @ turn.T, b)) < 1e-7
    True
    """
    a, b = _pair(a, b, 3)
    shape = a.shape[:-2]
    flat_a = np.ascontiguousarray(a.reshape(-1, *a.shape[-2:]))
    flat_b = np.ascontiguousarray(b.reshape(-1, *b.shape[-2:]))
    return _qcp_batch(flat_a, flat_b, bool(scale)).reshape(shape)


def similarity_2d(v, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale- and rotation-invariant RMSD of corresponding 2D point sets (Eqs 3.9–3.10).

    Parameters
    ----------
    v : array_like, shape (..., N, 2)
        Local lattice: vectors from the central point to its neighbours [any length unit].
    w : array_like, shape (..., N, 2)
        Corresponding template vectors, normalised so their mean length is 1 (Eq 3.10).

    Returns
    -------
    rmsd : numpy.ndarray, shape (...)
        Eq 3.9 [template units, i.e. fractions of the mean neighbour distance].
    rotation : numpy.ndarray, shape (...)
        Angle of the rotation that best maps ``w`` onto ``v`` [rad], atan2(Σ w×v, Σ w·v).
    scale : numpy.ndarray, shape (...)
        Least-squares factor σ with v ≈ σ U w (Horn 1987) [unit of ``v``].

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    >>> c, s = np.cos(0.3), np.sin(0.3)
    >>> r, angle, scale = similarity_2d(2.5 * w @ np.array([[c, s], [-s, c]]), w)
    >>> bool(r < 1e-12), round(float(angle), 6), round(float(scale), 6)
    (True, 0.3, 2.5)
    """
    v, w = _pair(v, w, 2)
    rss, rotation, g, sww = horn_2d(v, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = g / sww
    return np.sqrt(rss / v.shape[-2]), rotation, scale


def horn_2d(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """RSSD², rotation angle [rad], G = max_U Σ v·Uw and Σ‖w‖² for stacks of 2D sets.

    Rows of zeros in both ``v`` and ``w`` do not contribute (used to pad partial matches).

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 0], [0, 1], [0, 0]])
    >>> rss, angle, g, sww = horn_2d(2 * w @ np.array([[0.0, 1], [-1, 0]]), w)
    >>> float(rss), round(float(angle), 6), float(g), float(sww)
    (0.0, 1.570796, 4.0, 2.0)
    """
    dot = np.einsum("...ij,...ij->...", v, w)
    cross = np.sum(w[..., 0] * v[..., 1] - w[..., 1] * v[..., 0], axis=-1)
    sww = np.einsum("...ij,...ij->...", w, w)
    svv = np.einsum("...ij,...ij->...", v, v)
    flat_v = np.ascontiguousarray(v, dtype=float).reshape(-1, *v.shape[-2:])
    flat_w = np.ascontiguousarray(w, dtype=float).reshape(-1, *w.shape[-2:])
    deficit = _lagrange_deficit(flat_v, flat_w).reshape(dot.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        rss = np.where(svv > 0, deficit / svv, sww)  # Eq 3.9 at Horn's optimal scale
    return rss, np.arctan2(cross, dot), np.hypot(dot, cross), sww


@numba.njit(cache=True)
def _lagrange_deficit(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Σ‖v‖² Σ‖w‖² − G² by Lagrange's identity for complex numbers a = v, b = w:
    # Σ|a|² Σ|b|² − |Σ a b̄|² = Σ_{i<j} |a_i b_j − a_j b_i|², a sum of squares that is exactly 0
    # for congruent sets instead of the difference of two large numbers.
    out = np.zeros(v.shape[0])
    for k in range(v.shape[0]):
        total = 0.0
        for i in range(v.shape[1]):
            for j in range(i + 1, v.shape[1]):
                re = (
                    v[k, i, 0] * w[k, j, 0]
                    - v[k, i, 1] * w[k, j, 1]
                    - v[k, j, 0] * w[k, i, 0]
                    + v[k, j, 1] * w[k, i, 1]
                )
                im = (
                    v[k, i, 0] * w[k, j, 1]
                    + v[k, i, 1] * w[k, j, 0]
                    - v[k, j, 0] * w[k, i, 1]
                    - v[k, j, 1] * w[k, i, 0]
                )
                total += re * re + im * im
        out[k] = total
    return out


def kabsch_rotation(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Proper rotation U maximising Σ vᵢ·U wᵢ for stacks of 3D sets (SVD; Kabsch 1976).

    Parameters
    ----------
    v, w : numpy.ndarray, shape (..., N, 3)
        Corresponding vectors; rows of NaN are ignored.

    Returns
    -------
    numpy.ndarray, shape (..., 3, 3)

    Examples
    --------
    >>> import numpy as np
    >>> w = np.eye(3)
    >>> turn = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    >>> bool(np.allclose(kabsch_rotation(w @ turn.T, w), turn))
    True
    """
    v = np.nan_to_num(np.asarray(v, dtype=float))
    w = np.nan_to_num(np.asarray(w, dtype=float))
    h = np.einsum("...ip,...iq->...pq", v, w)
    left, _, right = np.linalg.svd(h)
    sign = np.sign(np.linalg.det(left @ right))
    sign = np.where(sign == 0, 1.0, sign)
    fix = np.ones(h.shape[:-1])
    fix[..., -1] = sign
    return (left * fix[..., None, :]) @ right
