"""Local lattices: each point with its N nearest neighbours (seed thesis §3.2.1).

A local lattice ("segment") is stored as the vectors from its central point to its neighbours,
in order of increasing distance (the Euclidean order that partial matching relies on, §3.2.3).
For lattices whose neighbour shells nearly overlap (fcc ⟨110⟩) the shell of a neighbour is judged
from the length of its interface with the central point's Voronoi cell instead (Fig 3.3c).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.spatial import cKDTree


def local_lattices(points: np.ndarray, num_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``num_neighbors`` nearest neighbours of every point (§3.2.1).

    Parameters
    ----------
    points : numpy.ndarray, shape (n, d)
        Finite point coordinates [any length unit], n > ``num_neighbors``.
    num_neighbors : int
        N, the number of neighbours per local lattice.

    Returns
    -------
    vectors : numpy.ndarray, shape (n, N, d)
        Neighbour minus centre, sorted by increasing distance [unit of ``points``].
    indices : numpy.ndarray, shape (n, N)
        Row indices of the neighbours in ``points``.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(3.0), np.arange(3.0), indexing="ij"), -1)
    >>> vectors, _ = local_lattices(grid.reshape(-1, 2), 4)
    >>> np.linalg.norm(vectors[4], axis=1).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    points = np.asarray(points, dtype=float)
    tree = cKDTree(points)
    _, indices = tree.query(points, k=num_neighbors + 1, workers=-1)
    indices = _center_first(indices)
    neighbors = indices[:, 1:]
    return points[neighbors] - points[:, None, :], neighbors


def _center_first(indices: np.ndarray) -> np.ndarray:
    # With duplicate points the query may list a twin before the point itself; put it first.
    own = np.arange(len(indices))
    wrong = indices[:, 0] != own
    if np.any(wrong):
        rows = np.flatnonzero(wrong)
        for row in rows:
            others = indices[row][indices[row] != row][: indices.shape[1] - 1]
            indices[row] = np.concatenate(([row], others))
    return indices


@numba.njit(cache=True)
def _interface_lengths(vectors: np.ndarray) -> np.ndarray:
    # For neighbour p the interface is the part of the bisector x·p = |p|²/2 inside every other
    # half plane x·q ≤ |q|²/2 (the Voronoi cell of the centre); clip its parameter interval.
    n, m = vectors.shape[0], vectors.shape[1]
    out = np.zeros((n, m))
    for k in range(n):
        reach = 0.0
        for i in range(m):
            reach = max(reach, abs(vectors[k, i, 0]) + abs(vectors[k, i, 1]))
        for i in range(m):
            px, py = vectors[k, i, 0], vectors[k, i, 1]
            norm = np.sqrt(px * px + py * py)
            if norm == 0.0:
                continue
            ex, ey = -py / norm, px / norm
            lo, hi = -4.0 * reach, 4.0 * reach
            for j in range(m):
                if j == i:
                    continue
                qx, qy = vectors[k, j, 0], vectors[k, j, 1]
                slope = ex * qx + ey * qy
                room = 0.5 * (qx * qx + qy * qy) - 0.5 * (px * qx + py * qy)
                if slope > 1e-300:
                    hi = min(hi, room / slope)
                elif slope < -1e-300:
                    lo = max(lo, room / slope)
                elif room < 0.0:
                    hi = lo
            out[k, i] = max(hi - lo, 0.0)
    return out


def interface_lengths(vectors: np.ndarray) -> np.ndarray:
    """Length of each neighbour's interface with the central Voronoi cell (Fig 3.3c).

    The cell is that of the origin among the given neighbours only; a neighbour with no shared
    edge gets 0. Unbounded cells are clipped at four times the segment's extent.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, N, 2)
        Neighbour vectors of n local lattices [any length unit].

    Returns
    -------
    numpy.ndarray, shape (n, N)
        Interface lengths [unit of ``vectors``].

    Examples
    --------
    >>> import numpy as np
    >>> square = np.array([[[1.0, 0], [0, 1], [-1, 0], [0, -1], [1, 1]]])
    >>> interface_lengths(square).round(6).tolist()
    [[1.0, 1.0, 1.0, 1.0, 0.0]]
    """
    return _interface_lengths(np.ascontiguousarray(vectors, dtype=float))


def shell_ranks(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Order of the neighbours from the innermost shell outwards, per local lattice.

    ``metric="distance"``: by distance (the vectors are already sorted, so the identity);
    ``"voronoi"``: by decreasing Voronoi interface length, ties by distance (Fig 3.3c).

    Returns
    -------
    numpy.ndarray, shape (n, N)
        ``order[k, r]`` is the neighbour of rank r in local lattice k.

    Examples
    --------
    >>> import numpy as np
    >>> segment = np.array([[[0.9, 0.9], [1.3, 0], [0, 1.3], [-1.3, 0], [0, -1.3]]])
    >>> interface_lengths(segment).round(3).tolist()
    [[0.566, 0.9, 0.9, 1.3, 1.3]]
    >>> shell_ranks(segment, "voronoi").tolist()   # the nearest point has the shortest edge
    [[3, 4, 1, 2, 0]]
    """
    n, m = vectors.shape[:2]
    if metric == "distance":
        return np.broadcast_to(np.arange(m), (n, m))
    lengths = interface_lengths(vectors)
    scale = np.max(lengths, axis=1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    # lexsort: last key is primary; rounding lets near-equal interfaces fall back to distance
    key = -np.round(lengths / scale, 9)
    return np.lexsort((np.broadcast_to(np.arange(m), (n, m)), key), axis=1)
