"""Synthetic truth for image series: sites that hop at known rates, imaged frame by frame
through the full image model (multislice, lens, drift, camera), so `analyse_series` can be
scored against the occupancy, event rates and drift that made the frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from atomscope.analysis.series import shift_frames
from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_finite_array,
    check_positive,
    check_positive_int,
    check_range,
)

__all__ = [
    "HoppingScene",
    "hopping_edge",
    "hopping_occupancy",
    "hopping_particle",
    "simulate_series",
]


def hopping_occupancy(
    num_frames: int,
    appear: Any,
    vanish: Any,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Occupancy (t, m) of m independent two-state sites (a Markov chain per site).

    Parameters
    ----------
    num_frames
        Number of frames t ≥ 2.
    appear, vanish
        Per-frame probabilities (scalars or (m,)) that an empty site fills / an occupied site
        empties, in [0, 1]. The stationary occupancy is a/(a + v) and the expected fraction of
        frame pairs with a flip 2av/(a + v); the first frame is drawn from the stationary state.
    rng
        Seed or generator.

    Examples
    --------
    >>> occupancy = hopping_occupancy(20000, [0.1, 0.0], [0.1, 0.0], rng=0)
    >>> occupancy.shape, round(float(occupancy[:, 0].mean()), 1), bool(occupancy[:, 1].any())
    ((20000, 2), 0.5, False)
    """
    if int(num_frames) < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    appear = np.atleast_1d(check_finite_array("appear", appear))
    vanish = np.atleast_1d(check_finite_array("vanish", vanish))
    appear, vanish = np.broadcast_arrays(appear, vanish)
    for name, values in (("appear", appear), ("vanish", vanish)):
        if np.any(values < 0) or np.any(values > 1):
            raise ValueError(f"{name} must be probabilities per frame in [0, 1], got {values}")
    generator = as_generator(rng)
    total = appear + vanish
    stationary = np.divide(appear, total, out=np.zeros_like(appear, dtype=float), where=total > 0)
    state = generator.random(appear.shape) < stationary
    occupancy = np.empty((int(num_frames), appear.size), dtype=bool)
    for t in range(int(num_frames)):
        occupancy[t] = state
        draw = generator.random(appear.shape)
        state = np.where(state, draw >= vanish, draw < appear)
    return occupancy


@dataclass(frozen=True)
class HoppingScene:
    """Truth of a hopping series: the hopping columns (m, 2) [Å], their occupancy (t, m), one
    `Atoms` per frame, and the drift (t, 2) [Å] (frame t shows the scene moved by +drift[t])."""

    columns: np.ndarray
    occupancy: np.ndarray
    trajectory: list
    drift: np.ndarray


def hopping_edge(
    frames: int,
    size: int = 6,
    step: float = 0.4,
    island: bool = False,
    rng: int | np.random.Generator | None = None,
) -> HoppingScene:
    """A two-layer Au(100) block over half a periodic ``size`` × ``size`` cell (or, with
    ``island``, over a quarter of it: finite in x and y like a particle) whose columns along its
    x edge (two atoms each) hop with per-frame probabilities drawn from U(0.05, 0.3), and a
    random-walk drift with steps U(−``step``, ``step``) [Å] per axis.

    Examples
    --------
    >>> scene = hopping_edge(frames=5, rng=0)
    >>> scene.columns.shape, scene.occupancy.shape, len(scene.trajectory), scene.drift.shape
    ((12, 2), (5, 12), 5, (5, 2))
    """
    from ase.build import fcc100

    generator = as_generator(rng)
    slab = fcc100("Au", size=(size, size, 2), vacuum=2.0, orthogonal=True)
    half = slab.cell.lengths()[0] / 2
    inside = slab.positions[:, 0] < half
    if island:
        inside &= slab.positions[:, 1] < half
    block, outside = slab[inside], slab[~inside]
    near = outside.positions[:, 0] < half + 2.0
    if island:
        near &= outside.positions[:, 1] < half
    edge = outside[near]
    columns = np.unique(np.round(edge.positions[:, :2], 3), axis=0)
    members = [
        np.flatnonzero(np.all(np.abs(edge.positions[:, :2] - c) < 1e-3, axis=1)) for c in columns
    ]
    appear = generator.uniform(0.05, 0.3, len(columns))
    vanish = generator.uniform(0.05, 0.3, len(columns))
    occupancy = hopping_occupancy(frames, appear, vanish, generator)
    trajectory = []
    for state in occupancy:
        atoms = block.copy()
        for j in np.flatnonzero(state):
            atoms += edge[members[j]]
        trajectory.append(atoms)
    drift = np.cumsum(generator.uniform(-step, step, (frames, 2)), axis=0)
    return HoppingScene(columns, occupancy, trajectory, drift - drift[0])


def hopping_particle(
    frames: int,
    size: int = 400,
    hopping: int = 8,
    step: float = 0.3,
    extent: float = 36.0,
    rng: int | np.random.Generator | None = None,
) -> HoppingScene:
    """A Wulff Au particle of about ``size`` atoms on ⟨110⟩ (surface energies {111} : {100} :
    {110} = 1 : 1.1 : 1.3) in a periodic ``extent`` × ``extent`` [Å] cell, whose ``hopping``
    outermost columns (all their atoms at once) come and go with per-frame probabilities drawn
    from U(0.05, 0.3), and a random-walk drift with steps U(−``step``, ``step``) [Å] per axis:
    the seed's scene of a particle's surface seen in a video (§6.4.3).

    Examples
    --------
    >>> scene = hopping_particle(frames=4, size=100, hopping=3, rng=0)
    >>> scene.columns.shape, scene.occupancy.shape, len(scene.trajectory)
    ((3, 2), (4, 3), 4)
    """
    from atomscope.structures import center, orient, projected_columns, wulff_particle

    generator = as_generator(rng)
    particle = wulff_particle("Au", [(1, 1, 1), (1, 0, 0), (1, 1, 0)], [1.0, 1.1, 1.3], size)
    particle = orient(particle, (1, 1, 0), in_plane=float(generator.uniform(0, 360)))
    thickness = float(np.ptp(particle.positions[:, 2])) + 4.0
    atoms = center(particle, cell=(extent, extent, thickness))
    columns = projected_columns(atoms, (0, 0, 1), tolerance=0.5)
    radius = np.linalg.norm(columns.positions - columns.positions.mean(axis=0), axis=1)
    chosen = np.argsort(-radius)[: check_positive_int("hopping", hopping)]
    appear = generator.uniform(0.05, 0.3, len(chosen))
    vanish = generator.uniform(0.05, 0.3, len(chosen))
    occupancy = hopping_occupancy(frames, appear, vanish, generator)
    trajectory = []
    for state in occupancy:
        gone = [columns.members[j] for j, on in zip(chosen, state, strict=True) if not on]
        keep = np.setdiff1d(np.arange(len(atoms)), np.concatenate([[], *gone]).astype(int))
        trajectory.append(atoms[keep])
    drift = np.cumsum(generator.uniform(-step, step, (frames, 2)), axis=0)
    return HoppingScene(columns.positions[chosen], occupancy, trajectory, drift - drift[0])


def _camera_window(field_of_view, cell: np.ndarray, pixel) -> tuple[int, int] | None:
    """Pixels (nx, ny) of ``field_of_view`` [Å] on a camera of ``pixel`` (x, y) [Å] (checked
    against the cell's sides [Å]), or None for the whole cell."""
    if field_of_view is None:
        return None
    extent = check_finite_array("field_of_view", field_of_view)
    if extent.shape != (2,) or np.any(extent <= 0) or np.any(extent > cell + 1e-9):
        raise ValueError(
            f"field_of_view must be (fx, fy) [Å] in (0, {cell[0]:.4g}] × (0, {cell[1]:.4g}] "
            f"(the cell), got {field_of_view}"
        )
    return round(float(extent[0] / pixel[0])), round(float(extent[1] / pixel[1]))


def simulate_series(
    trajectory: Sequence[Atoms],
    ctf,
    dose_rate: float,
    exposure: float,
    drift: Any = None,
    sampling: float = 0.05,
    camera_sampling: float | None = None,
    slice_thickness: float = 1.0,
    field_of_view: tuple[float, float] | None = None,
    rng: int | np.random.Generator | None = None,
    progress: bool = False,
):
    """HRTEM frames of a trajectory (one `Atoms` per frame, one cell) with drift and shot noise.

    Each frame: projected potential → multislice exit wave → ``ctf`` image (identical
    configurations are simulated once) → moved by ``drift[t]`` (frame t shows the scene moved
    by +drift[t], Fourier interpolation on the periodic cell) → Poisson counts at
    ``dose_rate × exposure`` e⁻/Å² on a camera of ``camera_sampling`` (seed Eq 2.22) → with
    ``field_of_view``, only the camera's window [0, fx) × [0, fy) of the cell: frames that are
    not periodic, where the drift brings new specimen in at one edge and takes it out at the
    other, as on a real camera.

    Parameters
    ----------
    trajectory
        The atoms of every frame (orthorhombic, same cell).
    ctf
        The objective lens (`CTF`; its energy is the beam's).
    dose_rate
        Electrons per Å² per second [e⁻/Å²/s] (the seed's study: 2.7e3–49e3).
    exposure
        Frame time [s].
    drift
        (t, 2) [Å] scene displacement per frame, or None for none.
    sampling
        Potential pixel size [Å].
    camera_sampling
        Camera pixel size [Å]; default ``sampling``.
    slice_thickness
        Slice thickness [Å].
    field_of_view
        (fx, fy) [Å] of the cell the camera sees (each at most the cell's side), or None for
        the whole periodic cell.
    rng
        Seed or generator of the shot noise.
    progress
        Progress bar over the frames.

    Returns
    -------
    Images
        Counts [t, x, y], metadata with ``dose_per_frame`` [e⁻/Å²] and ``drift`` [Å].
    """
    from atomscope.detection.camera import Camera
    from atomscope.images import Images
    from atomscope.potentials.projected import Potential
    from atomscope.waves.plane import PlaneWave

    frames = list(trajectory)
    if len(frames) < 2:
        raise ValueError(f"trajectory must hold at least 2 frames, got {len(frames)}")
    dose = check_positive("dose_rate", dose_rate) * check_positive("exposure", exposure)
    drift = np.zeros((len(frames), 2)) if drift is None else check_finite_array("drift", drift)
    if drift.shape != (len(frames), 2):
        raise ValueError(f"drift must be (t, 2) = ({len(frames)}, 2) [Å], got {drift.shape}")
    check_range("sampling", sampling, 0, 1.0, low_open=True)
    camera = Camera(sampling=camera_sampling or sampling, dose=dose)
    window = _camera_window(field_of_view, frames[0].cell.lengths()[:2], camera.sampling)
    generator = as_generator(rng)
    images: dict[bytes, Any] = {}
    counts = []
    for atoms, shift in tqdm(
        zip(frames, drift, strict=True), total=len(frames), desc="series", disable=not progress
    ):
        key = atoms.numbers.tobytes() + np.round(atoms.positions, 6).tobytes()
        if key not in images:
            potential = Potential(atoms, sampling=sampling, slice_thickness=slice_thickness)
            images[key] = ctf.image(PlaneWave(ctf.energy).multislice(potential))
        image = images[key]
        moved = shift_frames(image.array[None], shift[None], image.sampling)[0]
        counts.append(camera.detect(Images(moved, image.sampling), rng=generator))
    stack = np.stack([c.array for c in counts])
    if window is not None:
        stack = np.ascontiguousarray(stack[:, : window[0], : window[1]])
    return Images(
        stack,
        counts[0].sampling,
        {"dose_per_frame": dose, "drift": drift.tolist(), "camera": camera.parameters()},
    )
