"""Point-to-point correspondence between local lattices and a template (seed thesis §3.2.3).

Two strategies, both vectorised over all local lattices:

* sorting: neighbours are ordered lexicographically by (neighbour shell, azimuth) and compared
  with the template sorted the same way, once per non-equivalent starting point;
* branch and bound: a depth-first search over partial permutations, the local lattice's points
  taken in Euclidean order and the children of each node visited best first, bounded by the root-sum-square deviation RSSD = √N·RMSD (Eq 3.11),
  which never decreases along a branch. The incumbent is seeded with the sorted permutation, so
  when sorting already found the optimum the search only has to confirm it. Nodes whose RMSD
  exceeds ``rmax`` are not branched; if no complete permutation stays below ``rmax`` the deepest
  acceptable node is returned (partial matching). Beyond the seed's method, the nearest
  neighbour is only tried against one template point per orbit of the template's rotational
  symmetry (the other choices give the same RMSD), which divides the work by up to that order.

A permutation ``perm[k, i] = j`` says that neighbour i of local lattice k (Euclidean order)
corresponds to template point j; −1 marks an unmatched neighbour.
"""

from __future__ import annotations

import numba
import numpy as np

from atomscope.analysis.rmsd import horn_2d, qcp_root, similarity_2d
from atomscope.analysis.segments import shell_ranks
from atomscope.core.threads import limit_numba


def _cut_offset(angles: np.ndarray) -> float:
    # Offset that moves the wrap-around of [0, 2π) into the middle of the widest angular gap of
    # the template, so small distortions cannot carry a point across it.
    ordered = np.sort(np.mod(angles, 2 * np.pi))
    gaps = np.diff(np.concatenate((ordered, [ordered[0] + 2 * np.pi])))
    widest = int(np.argmax(gaps))
    middle = ordered[widest] + gaps[widest] / 2
    return float(np.mod(2 * np.pi - middle, 2 * np.pi))


def _sort_keys(vectors, shells, start, offset, first_shell, num_shells):
    # Lexicographic key (shell counted from the smallest shell with wrap-around, azimuth
    # relative to the starting point); azimuths lie in [0, 2π) so 4π separates shells.
    azimuth = np.arctan2(vectors[..., 1], vectors[..., 0])
    reference = np.take_along_axis(azimuth, start[..., None], axis=-1)
    relative = np.mod(azimuth - reference + offset, 2 * np.pi)
    return np.mod(shells - first_shell, num_shells) * 4 * np.pi + relative


def template_orderings(template) -> tuple[np.ndarray, np.ndarray]:
    """Template point orderings for every non-equivalent starting point (§3.2.3, Sorting).

    Returns
    -------
    orders : numpy.ndarray, shape (smallest shell size / symmetry, N)
        Template indices in (shell, azimuth) order, one row per starting point.
    offsets : numpy.ndarray
        The azimuth offset used with each row (see ``_cut_offset``).

    Examples
    --------
    >>> from atomscope.analysis.templates import Template
    >>> orders, _ = template_orderings(Template.fcc110())   # 2 / 2 = one starting point
    >>> orders.shape
    (1, 8)
    """
    shells = template.shells
    sizes = np.bincount(shells)
    first = int(np.argmin(sizes))
    members = np.flatnonzero(shells == first)
    azimuth = np.arctan2(template.normalized[:, 1], template.normalized[:, 0])
    members = members[np.argsort(np.mod(azimuth[members] - azimuth[members[0]], 2 * np.pi))]
    starts = members[: sizes[first] // template.symmetry]
    orders, offsets = [], []
    for start in starts:
        offset = _cut_offset(azimuth - azimuth[start])
        keys = _sort_keys(template.normalized, shells, np.array(start), offset, first, len(sizes))
        orders.append(np.argsort(keys, kind="stable"))
        offsets.append(offset)
    return np.array(orders), np.array(offsets)


def sorted_permutations(vectors: np.ndarray, template) -> tuple[np.ndarray, np.ndarray]:
    """Best permutation by (shell, azimuth) sorting for every 2D local lattice.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, N, 2)
        Local lattices in Euclidean order [any length unit].
    template : Template
        A 2D template with N points.

    Returns
    -------
    perm : numpy.ndarray of int, shape (n, N)
    rmsd : numpy.ndarray, shape (n,)
        Eq 3.9 for that permutation.

    Examples
    --------
    >>> import numpy as np
    >>> from atomscope.analysis.templates import Template
    >>> square = Template.square(shells=1)
    >>> turned = square.normalized[[2, 0, 3, 1]] @ np.array([[0.0, 1], [-1, 0]])   # 90°
    >>> perm, rmsd = sorted_permutations(5 * turned[None], square)
    >>> bool(rmsd[0] < 1e-12)
    True
    """
    n, m = vectors.shape[:2]
    sizes = np.bincount(template.shells)
    first = int(np.argmin(sizes))
    # shell of each rank: the template's shell sizes filled from the innermost shell (§3.2.3)
    rank_shell = np.repeat(np.arange(len(sizes)), sizes)
    ranks = shell_ranks(vectors, template.shell_metric)
    shells = np.empty((n, m), dtype=int)
    np.put_along_axis(shells, ranks, np.broadcast_to(rank_shell, (n, m)), axis=1)
    start = ranks[:, int(np.flatnonzero(rank_shell == first)[0])]
    best_perm = np.zeros((n, m), dtype=np.int64)
    best_rmsd = np.full(n, np.inf)
    rows = np.arange(n)[:, None]
    for order, offset in zip(*template_orderings(template), strict=True):
        keys = _sort_keys(vectors, shells, start, offset, first, len(sizes))
        segment_order = np.argsort(keys, axis=1, kind="stable")
        perm = np.empty((n, m), dtype=np.int64)
        perm[rows, segment_order] = order
        rmsd = similarity_2d(vectors, template.normalized[perm])[0]
        better = rmsd < best_rmsd
        best_perm[better] = perm[better]
        best_rmsd[better] = rmsd[better]
    return best_perm, best_rmsd


@numba.njit(cache=True)
def _node(sums, level, dim):
    # RSSD² (Eq 3.11 squared) of the node whose running sums are sums[level] (Eq 3.9, Horn).
    svv = sums[level, 0]
    sww = sums[level, 1]
    if dim == 2:
        g2 = sums[level, 2] * sums[level, 2] + sums[level, 3] * sums[level, 3]
    else:
        g = qcp_root(
            sums[level, 2],
            sums[level, 3],
            sums[level, 4],
            sums[level, 5],
            sums[level, 6],
            sums[level, 7],
            sums[level, 8],
            sums[level, 9],
            sums[level, 10],
            np.sqrt(svv * sww),
        )
        g2 = g * g
    if svv <= 0.0:
        return sww
    return max(sww - g2 / svv, 0.0)


@numba.njit(cache=True)
def _push(sums, level, vectors, k, i, w, j, dim):
    # sums[level] = sums[level - 1] + the pair (neighbour i of lattice k, template point j).
    # Arrays are indexed in place: slicing views in this loop would cost reference counting.
    for c in range(sums.shape[1]):
        sums[level, c] = sums[level - 1, c] if level > 0 else 0.0
    for p in range(dim):
        sums[level, 0] += vectors[k, i, p] * vectors[k, i, p]
        sums[level, 1] += w[j, p] * w[j, p]
    if dim == 2:
        vx, vy, wx, wy = vectors[k, i, 0], vectors[k, i, 1], w[j, 0], w[j, 1]
        sums[level, 2] += vx * wx + vy * wy
        sums[level, 3] += wx * vy - wy * vx
    else:
        for p in range(3):
            for q in range(3):
                sums[level, 2 + 3 * p + q] += w[j, p] * vectors[k, i, q]


@numba.njit(cache=True)
def _record(perm, k, assign, level, j, last, m):
    # perm[k] = assign[:level] + [j] (+ [last] if last >= 0), −1 beyond
    for i in range(level):
        perm[k, i] = assign[i]
    perm[k, level] = j
    for i in range(level + 1, m):
        perm[k, i] = -1
    if last >= 0:
        perm[k, level + 1] = last


@numba.njit(cache=True)
def _search_one(
    vectors, k, w, seeds, roots, rmax2, budget, sums, assign, used, kids, values, count, pos, perm
):
    # Branch and bound for one local lattice: depth first, the children of a node visited in
    # order of increasing RSSD (best first). Stops early once ``budget`` evaluations are spent.
    # Returns (rssd², matched, evaluations, finished).
    m, dim = w.shape
    best = np.inf
    matched = 0
    evaluations = 0
    seeded = seeds[k, 0] >= 0
    if seeded:
        for i in range(m):
            _push(sums, i, vectors, k, i, w, seeds[k, i], dim)
        value = _node(sums, m - 1, dim)
        if value <= rmax2 * m:
            best = value
            matched = m
            perm[k] = seeds[k]
    deepest = 0
    deepest_value = np.inf
    used[:] = False
    level = 0  # pairs assigned so far; expand the node assign[:level]
    expand = True
    finished = True
    while level >= 0:
        if expand:
            if evaluations >= budget:
                finished = False
                break
            count[level] = 0
            pos[level] = 0
            lead = seeds[k, level] if seeded else 0
            for c in range(m):
                # the seed's choice first, so that it wins ties
                j = lead if c == 0 else (c - 1 if c - 1 < lead else c)
                if used[j] or (level == 0 and not roots[j]):
                    continue
                _push(sums, level, vectors, k, level, w, j, dim)
                if level == m - 2:
                    # one template point is left: this extension fixes it (§3.2.3)
                    last = 0
                    while used[last] or last == j:
                        last += 1
                    if rmax2 < np.inf and matched < m:
                        value = _node(sums, level, dim)
                        evaluations += 1
                        if value <= rmax2 * (m - 1) and (m - 1 > deepest or value < deepest_value):
                            deepest = m - 1
                            deepest_value = value
                            _record(perm, k, assign, level, j, -1, m)
                    _push(sums, level + 1, vectors, k, level + 1, w, last, dim)
                    value = _node(sums, level + 1, dim)
                    evaluations += 1
                    if value < best and value <= rmax2 * m:
                        best = value
                        matched = m
                        _record(perm, k, assign, level, j, last, m)
                    continue
                if level == 0:
                    value = 0.0  # a single pair matches exactly under rotation and scale
                else:
                    value = _node(sums, level, dim)
                    evaluations += 1
                if value > rmax2 * (level + 1) or value >= best:
                    continue
                if matched < m and (
                    level + 1 > deepest or (level + 1 == deepest and value < deepest_value)
                ):
                    deepest = level + 1
                    deepest_value = value
                    _record(perm, k, assign, level, j, -1, m)
                # insertion into the children sorted by value (stable: the seed's first)
                slot = count[level]
                while slot > 0 and values[level, slot - 1] > value:
                    kids[level, slot] = kids[level, slot - 1]
                    values[level, slot] = values[level, slot - 1]
                    slot -= 1
                kids[level, slot] = j
                values[level, slot] = value
                count[level] += 1
            expand = False
        if pos[level] >= count[level] or values[level, pos[level]] >= best:
            level -= 1
            if level >= 0:
                used[assign[level]] = False
            continue
        j = kids[level, pos[level]]
        pos[level] += 1
        _push(sums, level, vectors, k, level, w, j, dim)
        assign[level] = j
        used[j] = True
        level += 1
        expand = True
    if matched == m:
        return best, m, evaluations, finished
    return deepest_value, deepest, evaluations, finished


@numba.njit(cache=True, parallel=True)
def _search_all(
    vectors, w, seeds, roots, rmax2, budget, chunks, perm, rss, matched, evaluations, finished
):
    n, m = vectors.shape[0], vectors.shape[1]
    dim = w.shape[1]
    for chunk in numba.prange(chunks):
        # scratch space per chunk; chunks run on the available threads
        sums = np.zeros((m, 2 + dim * dim if dim == 3 else 4))
        assign = np.zeros(m, dtype=np.int64)
        used = np.zeros(m, dtype=np.bool_)
        kids = np.zeros((m, m), dtype=np.int64)
        values = np.zeros((m, m))
        count = np.zeros(m, dtype=np.int64)
        pos = np.zeros(m, dtype=np.int64)
        for k in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            value, found, evals, done = _search_one(
                vectors,
                k,
                w,
                seeds,
                roots,
                rmax2,
                budget,
                sums,
                assign,
                used,
                kids,
                values,
                count,
                pos,
                perm,
            )
            rss[k] = value
            matched[k] = found
            evaluations[k] = evals
            finished[k] = done


def branch_and_bound(
    vectors: np.ndarray,
    template_points: np.ndarray,
    seeds: np.ndarray | None = None,
    rmax: float | None = None,
    max_evaluations: int | None = None,
    roots: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Optimal (or partial) permutation per local lattice by branch and bound (§3.2.3).

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, N, d), d = 2 or 3
        Local lattices in Euclidean order [any length unit].
    template_points : numpy.ndarray, shape (N, d)
        Template normalised to mean distance 1 (Eq 3.10).
    seeds : numpy.ndarray of int, shape (n, N), optional
        Permutations giving the initial upper bound (e.g. from sorting); tried first.
    rmax : float, optional
        Maximum RMSD of a node [template units]; enables partial matches.
    max_evaluations : int, optional
        Budget of RSSD evaluations per local lattice; when it runs out the best permutation
        found so far is returned and ``finished`` is False. Default: unlimited.
    roots : numpy.ndarray of bool, shape (N,), optional
        Template points the nearest neighbour may be assigned to: one per orbit of the
        template's rotational symmetry suffices, since assigning it to a symmetric image gives
        the same RMSD (``Template.orbit_roots``). Default: all points, as in the seed.

    Returns
    -------
    perm : numpy.ndarray of int, shape (n, N)
        Template index per neighbour, −1 where unmatched (all −1 if nothing matched).
    rmsd : numpy.ndarray, shape (n,)
        RSSD/√N′ of the returned (partial) permutation; ∞ when N′ = 0.
    num_matched : numpy.ndarray of int, shape (n,)
        N′, the number of matched neighbours.
    evaluations : numpy.ndarray of int, shape (n,)
        RSSD evaluations spent (compare with N! for brute force).
    finished : numpy.ndarray of bool, shape (n,)
        True where the search completed, i.e. the result is the proven optimum.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    >>> perm, rmsd, count, evaluations, _ = branch_and_bound(w[None, [2, 0, 3, 1]] * 3, w)
    >>> bool(rmsd[0] < 1e-12), count.tolist(), bool(evaluations[0] < 24)   # 4! = 24
    (True, [4], True)
    """
    vectors = np.ascontiguousarray(vectors, dtype=float)
    w = np.ascontiguousarray(template_points, dtype=float)
    n, m = vectors.shape[:2]
    seeds = (
        np.full((n, m), -1, dtype=np.int64)
        if seeds is None
        else np.ascontiguousarray(seeds, dtype=np.int64)
    )
    rmax2 = np.inf if rmax is None or rmax > 1e150 else float(rmax) ** 2  # 1e300² overflows
    perm = np.full((n, m), -1, dtype=np.int64)
    rss = np.empty(n)
    matched = np.empty(n, dtype=np.int64)
    evaluations = np.empty(n, dtype=np.int64)
    finished = np.empty(n, dtype=bool)
    budget = np.iinfo(np.int64).max if max_evaluations is None else int(max_evaluations)
    limit_numba()  # the thread policy (atomscope.core.threads)
    chunks = max(min(n, 4 * numba.get_num_threads()), 1)
    roots = np.ones(m, dtype=bool) if roots is None else np.asarray(roots, dtype=bool)
    _search_all(
        vectors, w, seeds, roots, rmax2, budget, chunks, perm, rss, matched, evaluations, finished
    )
    if w.shape[1] == 2 and n:  # the same RSSD² without the search's rounding near 0
        used = perm >= 0
        rss = horn_2d(
            np.where(used[..., None], vectors, 0.0),
            np.where(used[..., None], w[np.maximum(perm, 0)], 0.0),
        )[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rmsd = np.where(matched > 0, np.sqrt(rss / np.maximum(matched, 1)), np.inf)
    return perm, rmsd, matched, evaluations, finished
