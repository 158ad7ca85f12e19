"""Running a strain-accuracy experiment: particles → exit waves → images → strain errors (ch. 4).

The work of a spec splits in three stages, each cached where it is expensive:

1. **Particle** per size: a Wulff particle (§4.2.1), relaxed with EMT and sampled by Langevin MD
   at the spec's temperature (frozen-phonon snapshots); saved as ``DIR/models/size=S.traj`` and
   read back on a resumed run.
2. **View** per (size, tilt axis, tilt): the snapshots oriented along ⟨110⟩ (Ω1 = in-plane
   [001] along x, Ω2 = in-plane [1-10] along y, Fig 4.1) and tilted, their exit waves, and the
   truth: the projected position of every column — the mean (x, y) of its atoms in the
   time-averaged structure, in the tilted frame (Fig 4.2) — its strain (`column_strain`, Eq 4.1)
   and its facet and outward normal (`column_facets`, for Eq 4.2).
3. **Point** per (view, defocus): the frozen-phonon image through the lens, then for every image
   sampling and dose the noise-free camera image (k = −1) and K noisy ones, the columns measured
   at the intensity maxima, their strain, and the errors against the truth (Eq 4.3). Its rows
   are stored as one finished unit (`ResultStore`), so a resumed run skips it.

Measured maxima are kept only where they pair one-to-one with a true column within
`PAIR_DISTANCE` × spacing (a column's own extremum, as the seed measures it); spurious maxima in
the vacuum or between columns are dropped before the strain, and a true column with no maximum
near it gets NaN errors.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from atomscope.experiments.spec import ExperimentSpec, Point
from atomscope.experiments.store import COMMAND, ResultStore
from atomscope.outputs import atomic_output, record_outputs

ZONE_AXIS = (1, 1, 0)
#: Au lattice constant of `wulff_particle` (ASE's reference) [Å]; the zero of strain is a/√2.
LATTICE_CONSTANT = 4.08
#: A measured maximum belongs to a true column closer than this many nearest-column distances.
PAIR_DISTANCE = 0.35
#: Width of the patch an image maximum is refined over, in nearest-column distances: the lens
#: and camera blur a column to ~1 Å, and half a column distance (1.44 Å) gave 0.31 % noise-free
#: error RMS at Δf 8.5 nm on the quick spec against 0.53 % with 0.6 Å.
IMAGE_WINDOW = 0.5
#: Width of the patch an exit-wave maximum is refined over [Å]: |ψ − ψ0| peaks sharply on a
#: column, and a 1.44 Å patch moved the maxima of an ideal 4 nm particle by up to 0.01 Å (0.23 %
#: RMS strain against 0.03 % with 0.6 Å; benchmarks/strain_accuracy.py).
EXIT_WAVE_WINDOW = 0.6
#: Atoms closer than this in projection form one column [Å] (`projected_columns`).
COLUMN_TOLERANCE = 0.6


def in_plane_angle() -> float:
    """The `orient` in-plane rotation [degrees] that puts the crystal's [001] along +x (Ω1).

    Examples
    --------
    >>> from atomscope.structures.facets import crystal_rotation
    >>> rotation = crystal_rotation(ZONE_AXIS, in_plane_angle())
    >>> (rotation @ [0, 0, 1]).round(6).tolist() == [1.0, 0.0, 0.0]
    True
    """
    from atomscope.structures.facets import crystal_rotation

    x, y, _ = crystal_rotation(ZONE_AXIS) @ np.array([0.0, 0.0, 1.0])
    return -float(np.degrees(np.arctan2(y, x)))


def tilt_degrees(axis: str, tilt_mrad: float) -> tuple[float, float]:
    """`orient`'s (about x, about y) tilt [degrees] for a tilt about Ω1 or Ω2 [mrad]."""
    angle = float(np.degrees(tilt_mrad * 1e-3))
    return (angle, 0.0) if axis == "omega1" else (0.0, angle)


def particle_snapshots(spec: ExperimentSpec, size_nm: float) -> list[Atoms]:
    """The frozen-phonon snapshots of one particle in its crystal frame (no cell).

    ``"none"``: the ideal Wulff particle, one snapshot. ``"emt"``: relaxed (FIRE, asap3 EMT),
    then `MDPhonons` at the spec's temperature; ``"comb3-AuPt"``: the same with LAMMPS COMB3 and
    the fitted Au entries. The MD seed is fixed by the spec's seed and the size, so every run
    (and every worker) gets the same snapshots.
    """
    from atomscope.structures.nanoparticles import wulff_particle
    from atomscope.thermal.md import MDPhonons, relax

    p = spec.particles
    atoms = wulff_particle(
        p.element, [(1, 0, 0), (1, 1, 1)], p.surface_energies, size=float(size_nm) * 5.0
    )
    if p.relaxation == "none":
        return [atoms]
    relaxed = relax(atoms, p.relaxation)
    phonons = MDPhonons(
        relaxed,
        p.relaxation,
        temperature=p.temperature_K,
        equilibration=p.equilibration_steps,
        num_configs=p.snapshots,
        interval=p.interval_steps,
        rng=np.random.default_rng([spec.seed, round(size_nm * 1000)]),
    )
    return [phonons[i] for i in range(len(phonons))]


@dataclass(frozen=True)
class View:
    """A particle seen at one tilt: its exit waves and the truth of its columns.

    Attributes
    ----------
    waves
        (snapshots, nx, ny) complex64 exit waves (amplitude 1 in vacuum).
    sampling
        (2,) sampling of the waves [Å].
    positions
        (n, 2) true projected column positions [Å] in the frame of the waves.
    planar, tensor
        (n,) true planar strain (Eq 4.1) and (n, 2, 2) strain tensors; NaN where undefined.
    labels, normals
        (n,) facet labels ("" for bulk) and (n, 2) outward normals (NaN for bulk).
    """

    waves: np.ndarray
    sampling: tuple[float, float]
    positions: np.ndarray
    planar: np.ndarray
    tensor: np.ndarray
    labels: np.ndarray
    normals: np.ndarray


def _rotate(atoms: Atoms, rotation: np.ndarray, centre: np.ndarray) -> Atoms:
    turned = atoms.copy()
    turned.positions = (atoms.positions - centre) @ rotation.T + centre
    return turned


def make_view(spec: ExperimentSpec, snapshots: list[Atoms], axis: str, tilt_mrad: float) -> View:
    """Exit waves and column truth of ``snapshots`` tilted by ``tilt_mrad`` about ``axis``."""
    from atomscope.experiments.measures import column_strain
    from atomscope.potentials.projected import Potential
    from atomscope.structures.columns import projected_columns
    from atomscope.structures.facets import column_facets, crystal_rotation
    from atomscope.waves.plane import PlaneWave

    m = spec.microscope
    in_plane = in_plane_angle()
    mean = snapshots[0].copy()
    mean.positions = np.mean([s.positions for s in snapshots], axis=0)
    centre = mean.positions.mean(axis=0)
    straight = crystal_rotation(ZONE_AXIS, in_plane)
    tilted = crystal_rotation(ZONE_AXIS, in_plane, tilt_degrees(axis, tilt_mrad))
    columns = projected_columns(_rotate(mean, straight, centre), tolerance=COLUMN_TOLERANCE)
    facets = column_facets(columns, ZONE_AXIS, in_plane=in_plane)
    seen = _rotate(mean, tilted, centre).positions
    positions = np.array([seen[members, :2].mean(axis=0) for members in columns.members])

    low = seen.min(axis=0) - m.vacuum_A
    size = seen.max(axis=0) - seen.min(axis=0) + 2 * m.vacuum_A
    waves = []
    for snapshot in snapshots:
        placed = _rotate(snapshot, tilted, centre)
        placed.positions -= low
        placed.cell = size
        potential = Potential(
            placed, sampling=m.simulation_sampling_A, slice_thickness=m.slice_thickness_A
        )
        wave = PlaneWave(energy=m.energy_eV).multislice(potential)
        waves.append(wave.array)
    truth = column_strain(positions - low[:2], spacing=LATTICE_CONSTANT / np.sqrt(2))
    return View(
        waves=np.stack(waves),
        sampling=tuple(float(s) for s in wave.sampling),
        positions=positions - low[:2],
        planar=truth.planar,
        tensor=truth.tensor,
        labels=np.asarray(facets.labels, dtype=str),
        normals=facets.normals,
    )


def noise_rng(spec: ExperimentSpec, point: Point, sampling: float, dose: float, k: int):
    """The generator of noise realisation ``k``: a function of the spec's seed and the point only."""
    label = f"{point.key}|{sampling:g}|{dose:g}".encode()
    return np.random.default_rng([spec.seed, zlib.crc32(label), k])


def measured_errors(
    view: View, image, window: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Planar-strain and surface-relaxation errors (Eq 4.3) of the columns found in ``image``.

    Columns are measured at the intensity maxima (`measure_positions`) and paired with the
    true ones within `PAIR_DISTANCE` × spacing; unpaired maxima are dropped before the strain.

    Parameters
    ----------
    view
        The truth (`make_view`).
    image
        `Images` in the frame of the view [x, y] (any sampling).
    window
        Width of the refinement patch [Å]; default `IMAGE_WINDOW` nearest-column distances.

    Returns
    -------
    tuple of numpy.ndarray
        (n,) planar errors and (n,) surface-relaxation errors per true column; NaN where a
        column has no maximum or no defined strain.
    """
    from atomscope.experiments.measures import (
        column_strain,
        measure_positions,
        pair_points,
        strain_errors,
    )

    spacing = LATTICE_CONSTANT / np.sqrt(2)
    n = len(view.positions)
    window = IMAGE_WINDOW * spacing if window is None else window
    found = measure_positions(image, min_distance=0.4 * spacing, window=window)
    if len(found) == 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    index = np.asarray(pair_points(view.positions, found, PAIR_DISTANCE * spacing).index)
    kept = index[index >= 0]
    if len(kept) <= 7:  # the template's six neighbours and the column itself
        return np.full(n, np.nan), np.full(n, np.nan)
    rows = np.full(n, -1)
    rows[index >= 0] = np.arange(len(kept))
    measured = column_strain(found[kept], spacing=spacing)
    errors = strain_errors(view.tensor, measured.tensor, index=rows, normals=view.normals)
    return errors.planar, errors.surface


def exit_wave_errors(view: View) -> tuple[np.ndarray, np.ndarray]:
    """Strain errors of the exit wave itself, before any lens (§4.3, Fig 4.3).

    Columns are located at the maxima of the scattered-wave amplitude |ψ − ψ0| (Eq 4.4, ψ0 = 1),
    averaged over the snapshots: a channelling column's scattered wave peaks on the column at
    every thickness, while |ψ|² turns from maximum to minimum as the column gets thicker.

    Examples
    --------
    >>> from atomscope.structures.nanoparticles import wulff_particle
    >>> spec = ExperimentSpec.from_dict({"microscope": {"vacuum_A": 5.0}})
    >>> particle = wulff_particle("Au", [(1, 0, 0), (1, 1, 1)], [1.0, 0.9], size=9.0)
    >>> planar, _ = exit_wave_errors(make_view(spec, [particle], "omega1", 0.0))
    >>> bool(np.sqrt(np.nanmean(planar**2)) < 0.002)   # ideal particle: no error
    True
    """
    from atomscope.images import Images

    scattered = np.mean(np.abs(view.waves - 1), axis=0)  # Eq 4.4
    return measured_errors(view, Images(scattered, view.sampling), window=EXIT_WAVE_WINDOW)


def spec_lens(spec: ExperimentSpec, defocus_A: float):
    """The spec's objective lens (`CTF`) at the thesis defocus ``defocus_A`` = Δf = C10 [Å]
    (§4.2.2: Cs, the focal spread as the quasi-coherent envelope, a hard aperture)."""
    from atomscope.optics.ctf import CTF

    m = spec.microscope
    return CTF(
        energy=m.energy_eV,
        Cs=m.Cs_A,
        defocus=-defocus_A,  # thesis Δf = C10; atomscope's defocus = −C10
        focal_spread=m.focal_spread_A,
        semiangle_cutoff=m.aperture_mrad,
    )


def zone_axis_model(spec: ExperimentSpec, atoms: Atoms) -> Atoms:
    """``atoms`` turned to the zone axis, untilted, in a cell with the spec's vacuum on every
    side (as `make_view` places a particle)."""
    from atomscope.structures.facets import crystal_rotation

    turned = _rotate(atoms, crystal_rotation(ZONE_AXIS, in_plane_angle()), np.zeros(3))
    low = turned.positions.min(axis=0) - spec.microscope.vacuum_A
    turned.positions -= low
    turned.cell = turned.positions.max(axis=0) + spec.microscope.vacuum_A
    turned.pbc = False
    return turned


def measure_point(spec: ExperimentSpec, view: View, point: Point) -> dict[str, np.ndarray]:
    """The results rows of one point: every sampling, dose and noise realisation (k = −1 clean);
    for the exit-wave point one set of rows (k = −1, dose NaN, the simulation's sampling)."""
    from atomscope.detection.camera import Camera
    from atomscope.detection.mtf import MTF
    from atomscope.experiments.measures import surface_relaxation
    from atomscope.images import Images
    from atomscope.waves.waves import Waves

    m, s = spec.microscope, spec.sweep
    true_surface = surface_relaxation(view.tensor, view.normals)
    n = len(view.positions)
    parts: dict[str, list] = {}

    def add(sampling: float, dose: float, k: int, planar: np.ndarray, surface: np.ndarray):
        columns = {
            "size_nm": np.full(n, point.size_nm),
            "defocus_A": np.full(n, point.defocus_A),
            "tilt_axis": np.full(n, point.tilt_axis),
            "tilt_mrad": np.full(n, point.tilt_mrad),
            "sampling_A": np.full(n, sampling),
            "dose": np.full(n, dose),
            "k": np.full(n, k),
            "point": np.arange(n),
            "x_A": view.positions[:, 0],
            "y_A": view.positions[:, 1],
            "facet": view.labels,
            "true_planar": view.planar,
            "true_surface": true_surface,
            "error_planar": planar,
            "error_surface": surface,
        }
        for name, values in columns.items():
            parts.setdefault(name, []).append(values)

    if point.is_exit_wave:  # §4.3: the exit wave, no lens, no camera, no noise
        add(view.sampling[0], np.nan, -1, *exit_wave_errors(view))
        return {name: np.concatenate(values) for name, values in parts.items()}
    ctf = spec_lens(spec, point.defocus_A)
    images = ctf.image(Waves(view.waves, view.sampling, m.energy_eV)).array
    image = Images(images.mean(axis=0), view.sampling)  # frozen-phonon average
    mtf = MTF("rational", *m.mtf)
    for sampling in s.sampling_A:
        # resampled once; the cameras below have its exact pixel size, so they only add noise
        resampled = Camera(sampling, None).detect(image)
        pixel = resampled.sampling
        clean = measured_errors(view, Camera(pixel, None, mtf).detect(resampled))
        for dose in s.dose:
            add(sampling, dose, -1, *clean)
            camera = Camera(pixel, dose, mtf)
            for k in range(s.noise_realisations):
                noisy = camera.detect(resampled, rng=noise_rng(spec, point, sampling, dose, k))
                add(sampling, dose, k, *measured_errors(view, noisy))
    return {name: np.concatenate(values) for name, values in parts.items()}


def _models(spec: ExperimentSpec, directory: Path, sizes) -> dict[float, list[Atoms]]:
    from ase.io import read, write

    models = {}
    for size in sizes:
        path = directory / "models" / f"size={size:g}.traj"
        if path.is_file():
            models[size] = read(path, index=":")
            continue
        snapshots = particle_snapshots(spec, size)
        with atomic_output(path) as tmp:
            write(tmp, snapshots, format="traj")
        models[size] = snapshots
    return models


#: Largest extent of a Wulff particle over the diameter of the sphere of equal volume (a
#: cuboctahedron's vertex-to-vertex width is 1.15× it; tilts add little).
PARTICLE_EXTENT = 1.2
#: Volume per atom of fcc gold [Å³] (a = 4.08 Å).
AU_ATOM_VOLUME = 4.08**3 / 4


def memory_estimate(spec: ExperimentSpec) -> tuple[int, tuple[int, int]]:
    """Peak bytes [B] of the largest view and point, and that view's simulation grid.

    A view keeps one exit wave per snapshot (complex64) while one snapshot runs through the
    multislice (`estimate("multislice")` plus the structure factors of the fullest slice); a
    point then holds the lens's image waves and intensities of every snapshot (two more stacks).

    Examples
    --------
    >>> nbytes, gpts = memory_estimate(ExperimentSpec())
    >>> gpts, round(nbytes / 2**20)
    ((920, 920), 172)
    """
    from atomscope.core.memory import estimate

    m, p = spec.microscope, spec.particles
    diameter = 10.0 * max(p.sizes_nm)  # [Å]
    extent = PARTICLE_EXTENT * diameter + 2 * m.vacuum_A
    side = int(np.ceil(extent / m.simulation_sampling_A))
    gpts = (side, side)
    snapshots = 1 if p.relaxation == "none" else p.snapshots
    atoms = np.pi / 6 * diameter**3 / AU_ATOM_VOLUME
    per_slice = int(np.ceil(atoms * m.slice_thickness_A / diameter))
    nbytes = (
        3 * estimate("waves", gpts=gpts, count=snapshots)
        + estimate("multislice", gpts=gpts)
        + estimate("structure_factor", gpts=gpts, num_atoms=per_slice)
    )
    return nbytes, gpts


def _import_stages() -> None:
    """Import every stage a run uses (MD, multislice, lens, camera, template matching, zarr):
    they hold ~140 MiB once loaded, which the memory estimate must see."""
    import importlib

    for module in (
        "atomscope.thermal.md",
        "atomscope.potentials.projected",
        "atomscope.waves.plane",
        "atomscope.optics.ctf",
        "atomscope.detection.camera",
        "atomscope.structures.facets",
        "atomscope.experiments.measures",
        "atomscope.analysis.templates",
        "zarr",
    ):
        importlib.import_module(module)


def run_experiment(
    spec: ExperimentSpec, out: str | Path, client=None, progress: bool = True
) -> ResultStore:
    """Run every unfinished point of ``spec`` into ``out`` and write ``out/results.csv``.

    Points already finished in ``out`` (same spec) are skipped; a directory holding another
    spec, or a run that would not fit in memory (`memory_estimate`, printed with ``progress``),
    is refused before any work. With a Dask ``client`` the views and points are tasks on
    its workers; the rows are written here as they arrive, and the table is the same as a
    local run's (every random draw is seeded by the spec and the point).

    Examples
    --------
    >>> import tempfile
    >>> spec = ExperimentSpec.from_dict({
    ...     "particles": {"sizes_nm": [1.2], "relaxation": "none"},
    ...     "microscope": {"simulation_sampling_A": 0.1, "vacuum_A": 4.0},
    ...     "sweep": {"defocus_A": [85], "dose": [1e4], "sampling_A": [0.15],
    ...               "noise_realisations": 2}})
    >>> store = run_experiment(spec, tempfile.mkdtemp(), progress=False)
    >>> sorted(store.finished())
    ['size=1.2,tilt=omega1:0,defocus=85', 'size=1.2,tilt=omega1:0,defocus=exit']
    """
    from atomscope.core.memory import check_and_report, check_memory

    _import_stages()  # so that the estimate below counts what the process really holds
    nbytes, gpts = memory_estimate(spec)
    (check_and_report if progress else check_memory)(
        nbytes,
        f"an experiment view on the {gpts[0]}×{gpts[1]} grid of particles.sizes_nm "
        f"{max(spec.particles.sizes_nm):g} at microscope.simulation_sampling_A "
        f"{spec.microscope.simulation_sampling_A:g}",
        "use smaller particles, a coarser simulation sampling or fewer snapshots",
    )
    store = ResultStore(out, spec)
    done = store.finished()
    todo = [point for point in spec.points() if point.key not in done]
    groups: dict[tuple, list[Point]] = {}
    for point in todo:
        groups.setdefault(point.view, []).append(point)
    models = _models(spec, store.directory, sorted({view[0] for view in groups}))
    bar = tqdm(total=len(todo), desc="experiment points", unit="point", disable=not progress)
    with bar:
        if client is None:
            for (size, axis, tilt), points in groups.items():
                view = make_view(spec, models[size], axis, tilt)
                for point in points:
                    store.write(point.key, measure_point(spec, view, point))
                    bar.update()
        else:
            from distributed import as_completed

            futures = {}
            for (size, axis, tilt), points in groups.items():
                view = client.submit(make_view, spec, models[size], axis, tilt, pure=False)
                for point in points:
                    futures[client.submit(measure_point, spec, view, point, pure=False)] = point
            for future in as_completed(list(futures), loop=client.loop):
                store.write(futures[future].key, future.result())
                future.release()
                bar.update()
    store.write_csv()
    record_outputs(store.directory, COMMAND, ["results.zarr", "models"])
    return store
