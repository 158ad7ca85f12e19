"""Training data: exit waves computed once per structure, images formed on the fly (seed §6.3.7).

`generate` simulates random structures (random graphene at 80 kV, random gold particles at
300 kV, relaxed ⟨110⟩ gold particles labelled by atoms per column for counting) and writes an
`ExitWaveDataset` directory: ``waves.npy`` (complex64 [N, nx, ny], memory-mapped when read),
``truth.npz`` (column positions [Å] and class indices) and ``meta.json``. `TrainingImages` is
a torch ``Dataset`` that images a random crop of a random exit wave through a freshly drawn
microscope (`randomize.draw`; a focal series, seed Eq 6.19, through `randomize.FocalSeries`)
and returns it with its truth maps (Eqs 6.7–6.9).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_choice,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)
from atomscope.learning.randomize import FOCAL_JITTER, FOCAL_STEP

#: Atom counting (seed §6.4.2): classes 0 … N − 1 are columns of 1 … N atoms, N = 14; a
#: taller column is labelled N ("≥ 14 atoms"). The ⟨110⟩ columns of the counting particles
#: (radius 6–14 Å) hold at most 12–13 atoms, so the last class is rarely more than 14.
MAX_COLUMN_ATOMS = 14
COUNT_CLASSES = tuple(
    [f"{n} atom{'s' * (n > 1)}" for n in range(1, MAX_COLUMN_ATOMS)]
    + [f"≥{MAX_COLUMN_ATOMS} atoms"]
)
#: Default structures per preset: energy [eV], wave sampling [Å], cell side [Å], classes;
#: a counting preset also gives the atoms of each class.
STRUCTURE_PRESETS: dict[str, dict[str, Any]] = {
    "graphene": {"energy": 80e3, "sampling": 0.08, "extent": 43.2, "classes": ["C"]},
    "gold": {"energy": 300e3, "sampling": 0.08, "extent": 40.0, "classes": ["Au column"]},
    "polycrystalline": {"energy": 80e3, "sampling": 0.08, "extent": 43.2, "classes": ["C"]},
    "gold-counting": {
        "energy": 300e3,
        "sampling": 0.08,
        "extent": 48.0,
        "classes": list(COUNT_CLASSES),
        "atoms_per_class": list(range(1, MAX_COLUMN_ATOMS + 1)),
    },
}
#: Truth Gaussian σ [Å]. The seed writes "σ² = 1 Å (or ∼10 pixels at 0.12 Å/pixel)"; σ = 1 Å
#: would make neighbouring graphene atoms (1.42 Å) sum above 1, so σ² ≈ 10 px² → σ ≈ 0.4 Å.
TRUTH_WIDTH = 0.4
#: Gold particle zone axes (seed §6.4.3 and its paper: ⟨100⟩, ⟨110⟩, ⟨111⟩) and max tilt [deg].
ZONE_AXES = ((1, 0, 0), (1, 1, 0), (1, 1, 1))
MAX_TILT = 5.0
#: Counting particles (seed §6.4.2): ⟨110⟩ only, tilted up to 3° (half of them exactly on axis).
COUNTING_ZONE_AXIS = (1, 1, 0)
COUNTING_MAX_TILT = 3.0
#: Projected distance within which relaxed atoms form one column [Å] (⟨110⟩ Au columns are
#: ≥ 2.5 Å apart in projection).
COLUMN_TOLERANCE = 0.5
#: Au surface energies of the Wulff particles relative to {111}: {100} and {110} drawn from
#: these ranges (EMT and DFT give 1.1–1.2 and 1.2–1.3; atomscope's choice of spread).
WULFF_ENERGIES = {"100": (1.0, 1.3), "110": (1.1, 1.5)}


def graphene_structure(rng, extent: float = 43.2):
    """A random graphene sheet (seed Fig 6.9) with its truth: atoms, positions [Å], classes.

    Every carbon atom is its own column (class 0). Cells of at least the seed's 43.2 Å get
    0–4 holes as in the seed; smaller cells (tests) get none, as the holes would not fit.

    Examples
    --------
    >>> atoms, positions, classes = graphene_structure(0, extent=12.0)
    >>> positions.shape == (len(atoms), 2), set(classes.tolist())
    (True, {0})
    """
    from atomscope.structures import random_graphene

    atoms = random_graphene(extent, rng, num_holes=(0, 4) if extent >= 43.2 else 0)
    positions = atoms.positions[:, :2] % atoms.cell.lengths()[:2]
    return atoms, positions, np.zeros(len(atoms), dtype=np.int64)


def polycrystalline_structure(rng, extent: float = 43.2):
    """Polycrystalline graphene with 2–5 grains (held-out validation, issue #7).

    Examples
    --------
    >>> atoms, positions, classes = polycrystalline_structure(0, extent=15.0)
    >>> len(positions) == len(atoms)
    True
    """
    from atomscope.structures import polycrystalline_graphene

    rng = as_generator(rng)
    atoms = polycrystalline_graphene(extent, int(rng.integers(2, 6)), rng)
    positions = atoms.positions[:, :2] % atoms.cell.lengths()[:2]
    return atoms, positions, np.zeros(len(atoms), dtype=np.int64)


def gold_structure(rng, extent: float = 40.0, radius: tuple[float, float] = (6.0, 12.0)):
    """A random rough Au particle on a random zone axis, rotated, tilted 0–5° and displaced.

    Atoms are grouped into columns along the zone axis before the tilt; a column's position is
    the mean (x, y) of its atoms after the tilt (the "column-mean position" of Eq 6.7).

    Returns
    -------
    atoms, positions [Å] (columns × 2), classes (all 0)

    Examples
    --------
    >>> atoms, positions, classes = gold_structure(0, extent=30.0, radius=(4.0, 5.0))
    >>> 0 < len(positions) < len(atoms)
    True
    """
    from atomscope.structures import center, orient, random_particle

    rng = as_generator(rng)
    particle = random_particle("Au", rng, radius=radius)
    zone = ZONE_AXES[int(rng.integers(len(ZONE_AXES)))]
    in_plane = float(rng.uniform(0, 360))
    magnitude, azimuth = rng.uniform(0, MAX_TILT), rng.uniform(0, 2 * np.pi)
    tilt = (float(magnitude * np.cos(azimuth)), float(magnitude * np.sin(azimuth)))
    aligned = orient(particle, zone, in_plane=in_plane)
    tilted = orient(particle, zone, in_plane=in_plane, tilt=tilt)
    span = np.ptp(tilted.positions, axis=0)
    room = np.maximum(extent - span[:2] - 4.0, 0.0)
    boxed = center(tilted, cell=(extent, extent, span[2] + 4.0))
    boxed.positions[:, :2] += (rng.uniform(-0.5, 0.5, 2) * room)[None]
    # columns: atoms sharing (x, y) along the exact zone axis (lattice sites, 0.1 Å bins)
    _, column = np.unique(np.round(aligned.positions[:, :2] / 0.1), axis=0, return_inverse=True)
    column = column.ravel()
    counts = np.bincount(column)
    positions = np.stack(
        [np.bincount(column, boxed.positions[:, axis]) / counts for axis in (0, 1)], axis=1
    )
    return boxed, positions, np.zeros(len(positions), dtype=np.int64)


def counting_structure(
    rng,
    extent: float = 48.0,
    radius: tuple[float, float] = (6.0, 14.0),
    tilt: float | None = None,
    tilted_fraction: float = 0.5,
    max_atoms: int = MAX_COLUMN_ATOMS,
    fmax: float = 0.05,
):
    """A relaxed Au particle on ⟨110⟩ whose columns are labelled by their atom count (§6.4.2).

    Half the particles are Wulff shapes ({111}, {100}, {110} with energies from
    `WULFF_ENERGIES`, equivalent-sphere radius r), half random rough particles (seed Eq 6.18,
    facet planes at r − 2 … r + 2 Å, 0–30 % grown atoms), r uniform in ``radius``. Each is
    relaxed with EMT (asap3, FIRE to ``fmax``), turned onto ⟨110⟩ with a random in-plane
    rotation, tilted and placed at a random position in the cell. Columns are the atoms
    within `COLUMN_TOLERANCE` of each other in projection along the exact zone axis
    (`projected_columns`, before the tilt); a column's position is the mean (x, y) of its
    atoms after the tilt (Eq 6.7) and its class is ``min(count, max_atoms) − 1``.

    Parameters
    ----------
    rng
        Seed or generator.
    extent
        Cell side [Å] (x and y); the particle must fit with 2 Å to spare on each side.
    radius
        Range (low, high) of the particle radius r [Å].
    tilt
        Tilt away from the zone axis [degrees] in a random direction, or None: 0 for a
        fraction 1 − ``tilted_fraction`` of the particles, else uniform in 0 … 3°.
    tilted_fraction
        Fraction of tilted particles when ``tilt`` is None.
    max_atoms
        Atoms of the last class; taller columns are labelled with it.
    fmax
        Force threshold of the relaxation [eV/Å].

    Returns
    -------
    atoms, positions [Å] (columns × 2), classes (columns,)

    Examples
    --------
    >>> atoms, positions, classes = counting_structure(0, extent=30.0, radius=(4.0, 5.0))
    >>> int((classes + 1).sum()) == len(atoms)  # no column taller than 14 atoms here
    True
    """
    from atomscope.structures import (
        center,
        orient,
        projected_columns,
        random_particle,
        wulff_particle,
    )
    from atomscope.thermal.md import relax

    rng = as_generator(rng)
    extent = check_positive("extent", extent)
    low, high = (check_positive("radius", value) for value in radius)
    if low > high:
        raise ValueError(f"radius must be (low, high) with low <= high, got {radius!r}")
    tilted_fraction = check_range("tilted_fraction", tilted_fraction, 0.0, 1.0)
    max_atoms = check_positive_int("max_atoms", max_atoms)
    size = float(rng.uniform(low, high))
    if rng.random() < 0.5:
        energies = [1.0, *(float(rng.uniform(*WULFF_ENERGIES[f])) for f in ("100", "110"))]
        particle = wulff_particle("Au", [(1, 1, 1), (1, 0, 0), (1, 1, 0)], energies, size=size)
    else:
        planes = (max(size - 2.0, 2.0), size + 2.0)
        particle = random_particle("Au", rng, radius=planes, growth=(0.0, 0.3))
    relaxed = relax(particle, "emt", fmax=check_positive("fmax", fmax))
    in_plane = float(rng.uniform(0, 360))
    if tilt is None:
        tilted = rng.random() < tilted_fraction
        magnitude = float(rng.uniform(0, COUNTING_MAX_TILT)) if tilted else 0.0
    else:
        magnitude = check_range("tilt", tilt, 0.0, MAX_TILT)
    azimuth = rng.uniform(0, 2 * np.pi)
    tilt_xy = (float(magnitude * np.cos(azimuth)), float(magnitude * np.sin(azimuth)))
    aligned = orient(relaxed, COUNTING_ZONE_AXIS, in_plane=in_plane)
    oriented = orient(relaxed, COUNTING_ZONE_AXIS, in_plane=in_plane, tilt=tilt_xy)
    span = np.ptp(oriented.positions, axis=0)
    if np.any(span[:2] + 4.0 > extent):
        raise ValueError(
            f"extent {extent} Å is too small for a particle {span[:2].max():.1f} Å across "
            "(2 Å to spare on each side); use a larger extent or a smaller radius"
        )
    room = extent - span[:2] - 4.0
    boxed = center(oriented, cell=(extent, extent, span[2] + 4.0))
    boxed.positions[:, :2] += (rng.uniform(-0.5, 0.5, 2) * room)[None]
    columns = projected_columns(aligned, (0, 0, 1), COLUMN_TOLERANCE)
    positions = np.array([boxed.positions[members, :2].mean(axis=0) for members in columns.members])
    classes = np.minimum(columns.counts, max_atoms) - 1
    return boxed, positions.reshape(-1, 2), classes.astype(np.int64)


def exit_wave(atoms, energy: float, sampling: float, slice_thickness: float = 1.0):
    """Plane-wave exit wave of ``atoms`` (multislice, Lobato potential), a `Waves`.

    Parameters
    ----------
    atoms
        Structure with an orthorhombic cell.
    energy
        Electron energy [eV].
    sampling
        Pixel size [Å].
    slice_thickness
        Multislice slice thickness [Å] (at most the cell height).

    Examples
    --------
    >>> atoms, _, _ = graphene_structure(0, extent=8.0)
    >>> exit_wave(atoms, 80e3, 0.2).array.shape
    (40, 40)
    """
    from atomscope.potentials.projected import Potential
    from atomscope.waves.plane import PlaneWave

    thickness = min(slice_thickness, float(atoms.cell.lengths()[2]))
    potential = Potential(atoms, sampling=sampling, slice_thickness=thickness)
    return PlaneWave(energy).multislice(potential)


def _simulate(task) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One structure of ``generate``: (exit wave array, column positions, classes)."""
    preset, rng, extent, sampling, options = task
    build = {
        "graphene": graphene_structure,
        "gold": gold_structure,
        "polycrystalline": polycrystalline_structure,
        "gold-counting": counting_structure,
    }[preset]
    atoms, positions, classes = build(rng, extent=extent, **options)
    return exit_wave(atoms, STRUCTURE_PRESETS[preset]["energy"], sampling).array, positions, classes


@dataclass(frozen=True)
class ExitWaveDataset:
    """Exit waves on one grid with the truth column positions and classes.

    Attributes
    ----------
    waves
        Complex64 array [N, nx, ny] (memory-mapped when opened from disk).
    positions
        One (n_i, 2) array [Å] per structure, in the wave's periodic cell.
    classes
        One (n_i,) int array per structure, indices into ``class_names``.
    sampling
        Wave pixel size [Å].
    energy
        Electron energy [eV].
    class_names
        Names of the classes (background is not one of them).
    """

    waves: np.ndarray
    positions: tuple[np.ndarray, ...]
    classes: tuple[np.ndarray, ...]
    sampling: float
    energy: float
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.waves)

    @property
    def extent(self) -> tuple[float, float]:
        """Cell size [Å] along x and y."""
        return (self.waves.shape[1] * self.sampling, self.waves.shape[2] * self.sampling)

    def wave(self, index: int):
        """Structure ``index`` as a `Waves`."""
        from atomscope.waves.waves import Waves

        return Waves(np.asarray(self.waves[index]), self.sampling, self.energy)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the directory ``path`` (through a temporary name, then renamed).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> data = generate("graphene", 1, rng=0, extent=8.0, sampling=0.2)
        >>> path = data.save(pathlib.Path(tempfile.mkdtemp()) / "set")
        >>> ExitWaveDataset.open(path).waves.shape
        (1, 40, 40)
        """
        path = Path(path)
        if path.exists():
            raise ValueError(f"path {str(path)!r} exists; choose a new dataset directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            np.save(tmp / "waves.npy", np.asarray(self.waves, dtype=np.complex64))
            lengths = np.array([len(p) for p in self.positions], dtype=np.int64)
            np.savez(
                tmp / "truth.npz",
                lengths=lengths,
                positions=np.concatenate(self.positions).reshape(-1, 2),
                classes=np.concatenate(self.classes).astype(np.int64),
            )
            meta = {
                "sampling": self.sampling,
                "energy": self.energy,
                "class_names": list(self.class_names),
                "format": 1,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            tmp.chmod(0o755)  # mkdtemp makes it private
            tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def open(cls, path: str | os.PathLike) -> ExitWaveDataset:
        """Read a directory written by `save` / `generate` (waves memory-mapped)."""
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text())
            waves = np.load(path / "waves.npy", mmap_mode="r")
            with np.load(path / "truth.npz") as truth:
                lengths, positions, classes = (
                    truth["lengths"],
                    truth["positions"],
                    truth["classes"],
                )
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"path {str(path)!r} is not an exit-wave dataset: {error}") from error
        splits = np.cumsum(lengths)[:-1]
        return cls(
            waves,
            tuple(np.split(positions, splits)),
            tuple(np.split(classes, splits)),
            float(meta["sampling"]),
            float(meta["energy"]),
            tuple(meta["class_names"]),
        )


def generate(
    preset: str,
    num_structures: int,
    rng: int | np.random.Generator | None,
    path: str | os.PathLike | None = None,
    *,
    extent: float | None = None,
    sampling: float | None = None,
    progress: bool = False,
    client=None,
    structure_options: dict[str, Any] | None = None,
) -> ExitWaveDataset:
    """Simulate ``num_structures`` random structures of ``preset`` and their exit waves.

    Parameters
    ----------
    preset
        ``"graphene"`` (random graphene, 80 kV), ``"gold"`` (random Au particles, 300 kV),
        ``"polycrystalline"`` (polycrystalline graphene, 80 kV, for validation) or
        ``"gold-counting"`` (relaxed ⟨110⟩ Au particles, 300 kV, classes = atoms per column,
        `counting_structure`).
    num_structures
        Number of structures (the seed used 500 for graphene).
    rng
        Seed or generator; structure i uses the i-th spawned child, so the result does not
        depend on how the work is split.
    path
        If given, the dataset is also written there (see `ExitWaveDataset.save`).
    extent
        Cell side [Å]; default from `STRUCTURE_PRESETS`.
    sampling
        Wave pixel size [Å]; default from `STRUCTURE_PRESETS`.
    progress
        Show a progress bar.
    client
        A Dask client (`atomscope.parallel.client`): structures are simulated on its workers
        and gathered in order; ``None`` runs them here.
    structure_options
        Further keyword arguments of the preset's structure builder, e.g. ``{"tilt": 2.0}``
        for `counting_structure`.

    Returns
    -------
    ExitWaveDataset

    Examples
    --------
    >>> data = generate("graphene", 2, rng=0, extent=8.0, sampling=0.2)
    >>> len(data), data.waves.shape[1:], data.class_names
    (2, (40, 40), ('C',))
    """
    preset = check_choice("preset", preset, STRUCTURE_PRESETS)
    num_structures = check_positive_int("num_structures", num_structures)
    settings = STRUCTURE_PRESETS[preset]
    extent = settings["extent"] if extent is None else check_positive("extent", extent)
    sampling = settings["sampling"] if sampling is None else check_positive("sampling", sampling)
    from atomscope.parallel import ordered_map

    options = dict(structure_options or {})
    tasks = [
        (preset, child, extent, sampling, options)
        for child in as_generator(rng).spawn(num_structures)
    ]
    waves, positions, classes = [], [], []
    for wave, column_positions, column_classes in ordered_map(
        _simulate, tasks, client, progress, f"{preset} exit waves"
    ):
        waves.append(wave)
        positions.append(column_positions)
        classes.append(column_classes)
    dataset = ExitWaveDataset(
        np.stack(waves),
        tuple(positions),
        tuple(classes),
        float(extent / waves[0].shape[0]),
        float(settings["energy"]),
        tuple(settings["classes"]),
    )
    if path is not None:
        dataset.save(path)
    return dataset


def truth_maps(
    positions,
    classes,
    num_classes: int,
    origin: tuple[float, float],
    gpts: tuple[int, int],
    sampling: float,
    width: float = TRUTH_WIDTH,
) -> np.ndarray:
    """Per-class sums of Gaussians (Eqs 6.7–6.8) and the background 1 − Σ (Eq 6.9).

    Pixel (i, j) sits at origin + (i, j)·sampling. Where the Gaussians of close columns sum
    above 1 the class maps are scaled to sum to 1 (background 0), so the maps stay in [0, 1].

    Parameters
    ----------
    positions
        Column positions [Å], shape (n, 2).
    classes
        Class index of each column (0 … num_classes − 1).
    num_classes
        Number of classes without the background.
    origin
        Position of pixel (0, 0) [Å].
    gpts
        Map size (nx, ny).
    sampling
        Pixel size [Å].
    width
        σ of the Gaussians [Å].

    Returns
    -------
    numpy.ndarray
        Float32 [num_classes + 1, nx, ny]; channel 0 is the background.

    Examples
    --------
    >>> maps = truth_maps([[1.0, 1.0]], [0], 1, (0.0, 0.0), (21, 21), 0.1)
    >>> maps.shape, float(maps[1, 10, 10]), float(maps.sum(0).min())
    ((2, 21, 21), 1.0, 1.0)
    """
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    classes = np.asarray(classes, dtype=np.int64).ravel()
    x = origin[0] + np.arange(gpts[0]) * sampling
    y = origin[1] + np.arange(gpts[1]) * sampling
    maps = np.zeros((num_classes + 1, *gpts))
    for k in range(num_classes):
        chosen = positions[classes == k]
        # Eq 6.8 is separable: exp(−(dx² + dy²)/2σ²) = exp(−dx²/2σ²) · exp(−dy²/2σ²)
        gx = np.exp(-((x[None] - chosen[:, :1]) ** 2) / (2 * width**2))
        gy = np.exp(-((y[None] - chosen[:, 1:]) ** 2) / (2 * width**2))
        maps[k + 1] = gx.T @ gy  # Eq 6.7
    total = maps[1:].sum(axis=0)
    maps[1:] /= np.maximum(total, 1.0)
    maps[0] = 1 - maps[1:].sum(axis=0)  # Eq 6.9
    return maps.astype(np.float32)


def _periodic_images(positions: np.ndarray, extent: tuple[float, float]) -> np.ndarray:
    shifts = np.array([(i * extent[0], j * extent[1]) for i in (0, 1, 2) for j in (0, 1, 2)])
    return (positions[None] + shifts[:, None]).reshape(-1, 2) - np.array(extent)


def _shifted(wave, positions: np.ndarray, shift: np.ndarray):
    """The periodic exit wave and its atoms moved by ``shift`` [Å] (exact: a phase ramp)."""
    from scipy.ndimage import fourier_shift

    from atomscope.waves.waves import Waves

    spectrum = fourier_shift(np.fft.fft2(wave.array), shift / np.array(wave.sampling))
    moved = Waves(np.fft.ifft2(spectrum).astype(np.complex64), wave.sampling, wave.energy)
    extent = np.array(wave.extent)
    return moved, (positions + shift) % extent


def _dihedral(array: np.ndarray, symmetry: int) -> np.ndarray:
    """``array`` [..., x, y] rotated by symmetry % 4 quarter turns, then transposed if ≥ 4."""
    turned = np.rot90(array, symmetry % 4, axes=(-2, -1))
    return np.ascontiguousarray(np.swapaxes(turned, -2, -1) if symmetry >= 4 else turned)


class TrainingImages:
    """Torch-style dataset: item i is a freshly simulated (image, truth) pair.

    Item i draws, from ``numpy.random.default_rng([seed, i])``, a structure, a microscope
    (`randomize.draw`), the shot noise and ``crops`` crop positions; the full image is locally
    contrast-normalised before cropping (as at inference). Items are independent of the order
    in which they are read, so training resumes bit-identically.

    Parameters
    ----------
    dataset
        The exit waves and their truth.
    ranges
        Microscope ranges (`MicroscopeRanges`).
    crop
        Crop size [px], a multiple of 8 and at most the smallest camera image.
    seed
        Non-negative int.
    width
        σ of the truth Gaussians [Å].
    lcn_sigma
        Window σ of the local contrast normalisation [Å].
    crops
        Crops taken from each simulated image (image formation costs more than a crop).
    num_images
        Images per item: 1, or a focal series with C10 stepped by ``focal_step`` plus a
        uniform ±20 Å jitter from image 0's drawn C10, each at the drawn dose
        (``FocalSeries(num_images, start=None, total_dose=False)``); the network input has
        this many channels.
    focal_step
        Defocus step of a focal series [Å].
    focal_series
        A `randomize.FocalSeries` that replaces ``num_images`` and ``focal_step`` (which must
        then be 1 or its length, and its step), e.g. ``FocalSeries()``: seed Eq 6.19 with
        absolute defoci and the drawn dose the total over the images.
    start_ranges, curriculum
        Curriculum: item i draws from `randomize.blend` (start_ranges → ranges) at
        i / curriculum, and from ``ranges`` from item ``curriculum`` on (0: no curriculum).
    easy_fraction
        Mixture instead: this fraction of the items (chosen by a generator of their own, so
        the other draws do not change) draws from ``start_ranges``.
    augment
        Exact augmentation: the exit wave shifted by a random sub-pixel amount (a Fourier phase
        ramp, the truth moved with it; uniform within one camera pixel) and each crop put through
        one of the eight rotations/flips of the square (image and truth alike).
    normalization
        Network input: ``"lcn"`` (the seed's, Eqs 6.10–6.11) or ``"standard"`` (one mean and
        standard deviation per image; `normalize.normalize_input`).

    Attributes
    ----------
    fraction
        None, or the curriculum position in [0, 1] set by the trainer (`learning.curriculum`):
        items not taken by the mixture then draw from ``blend(start_ranges, ranges, fraction)``.

    Examples
    --------
    >>> from atomscope.learning.randomize import GRAPHENE_80KV
    >>> data = generate("graphene", 1, rng=0, extent=8.0, sampling=0.1)
    >>> image, truth = TrainingImages(data, GRAPHENE_80KV, crop=32, seed=0)[0]
    >>> tuple(image.shape), tuple(truth.shape)
    ((1, 1, 32, 32), (1, 2, 32, 32))
    """

    def __init__(
        self,
        dataset: ExitWaveDataset,
        ranges,
        crop: int,
        seed: int,
        width: float = TRUTH_WIDTH,
        lcn_sigma: float = 10.0,
        crops: int = 1,
        num_images: int = 1,
        focal_step: float = FOCAL_STEP,
        start_ranges=None,
        curriculum: int = 0,
        easy_fraction: float = 0.0,
        focal_series=None,
        augment: bool = False,
        normalization: str = "lcn",
    ):
        from atomscope.learning.normalize import NORMALIZATIONS
        from atomscope.learning.randomize import FocalSeries, MicroscopeRanges, check_ranges

        if not isinstance(dataset, ExitWaveDataset):
            raise TypeError(f"dataset must be an ExitWaveDataset, got {type(dataset).__name__}")
        check_ranges(ranges, dataset.energy)
        self.crop = check_positive_int("crop", crop, minimum=8)
        if self.crop % 8:
            raise ValueError(f"crop must be a multiple of 8 (three 2× poolings), got {crop}")
        smallest = int(min(dataset.extent) / ranges.sampling[1])
        if self.crop > smallest:
            raise ValueError(
                f"crop ({crop} px) must fit the smallest camera image ({smallest} px = cell "
                f"{min(dataset.extent):.1f} Å / {ranges.sampling[1]} Å)"
            )
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.dataset = dataset
        self.ranges = ranges
        self.width = check_positive("width", width)
        self.lcn_sigma = check_positive("lcn_sigma", lcn_sigma)
        self.crops = check_positive_int("crops", crops)
        num_images = check_positive_int("num_images", num_images)
        focal_step = check_real("focal_step", focal_step)
        if focal_series is None:
            focal_series = FocalSeries(num_images, None, focal_step, FOCAL_JITTER, False)
        elif not isinstance(focal_series, FocalSeries):
            raise TypeError(
                f"focal_series must be a FocalSeries or None, got {type(focal_series).__name__}"
            )
        elif num_images not in (1, focal_series.num_images):
            raise ValueError(
                f"num_images ({num_images}) must be 1 or the focal series' "
                f"{focal_series.num_images} images"
            )
        self.focal_series = focal_series
        self.num_images = focal_series.num_images
        self.focal_step = focal_series.step
        self.curriculum = check_positive_int("curriculum", curriculum, minimum=0)
        if start_ranges is not None and not isinstance(start_ranges, MicroscopeRanges):
            raise TypeError(
                f"start_ranges must be MicroscopeRanges or None, got {type(start_ranges).__name__}"
            )
        self.start_ranges = start_ranges
        self.easy_fraction = check_range("easy_fraction", easy_fraction, 0.0, 1.0)
        if (self.curriculum or self.easy_fraction) and start_ranges is None:
            raise ValueError("start_ranges is required with curriculum or easy_fraction")
        if not isinstance(augment, bool):
            raise TypeError(f"augment must be a bool, got {type(augment).__name__}")
        self.augment = augment
        self.normalization = check_choice("normalization", normalization, NORMALIZATIONS)
        self.fraction: float | None = None

    def ranges_at(self, index: int):
        """The microscope ranges item ``index`` draws from (see ``curriculum``)."""
        from atomscope.learning.randomize import blend

        if self.easy_fraction and np.random.default_rng([self.seed, index, 1]).random() < (
            self.easy_fraction
        ):
            return self.start_ranges
        if self.fraction is not None:
            return blend(self.start_ranges, self.ranges, self.fraction)
        if index >= self.curriculum:
            return self.ranges
        return blend(self.start_ranges, self.ranges, index / self.curriculum)

    def __len__(self) -> int:
        return 2**31 - 1

    def _draw(self, index: int):
        """Item ``index``'s random stream, structure and microscope, in the order drawn."""
        from atomscope.learning.randomize import draw

        rng = np.random.default_rng([self.seed, index])
        structure = int(rng.integers(len(self.dataset)))
        return rng, structure, draw(self.ranges_at(index), rng)

    def microscope_at(self, index: int):
        """The `randomize.Microscope` item ``index`` is imaged through."""
        return self._draw(index)[2]

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``index``: images [crops, num_images, c, c], truth [crops, K+1, c, c] (float32)."""
        from atomscope.learning.normalize import normalize_input

        rng, structure, microscope = self._draw(index)
        wave, positions = self.dataset.wave(structure), self.dataset.positions[structure]
        if self.augment:
            wave, positions = _shifted(wave, positions, rng.uniform(0, microscope.camera.sampling))
        # one image, or a focal series (seed Eq 6.19)
        series = self.focal_series.images(wave, microscope, rng)
        image = series[0]
        sampling = image.sampling[0]
        normalised = normalize_input(
            np.stack([frame.array for frame in series]),
            self.normalization,
            self.lcn_sigma,
            sampling,
        )
        positions = _periodic_images(positions, self.dataset.extent)
        classes = np.tile(self.dataset.classes[structure], 9)
        windows, truths = [], []
        for offset in rng.integers(0, np.array(image.shape) - self.crop + 1, (self.crops, 2)):
            origin = offset * sampling
            near = np.all(
                (positions > origin - 5 * self.width)
                & (positions < origin + (self.crop + 5) * sampling + 5 * self.width),
                axis=1,
            )
            windows.append(
                normalised[:, offset[0] : offset[0] + self.crop, offset[1] : offset[1] + self.crop]
            )
            truths.append(
                truth_maps(
                    positions[near],
                    classes[near],
                    len(self.dataset.class_names),
                    tuple(origin),
                    (self.crop, self.crop),
                    sampling,
                    self.width,
                )
            )
        if self.augment:  # one of the eight symmetries of the square per crop, on both alike
            for j, symmetry in enumerate(rng.integers(0, 8, len(windows))):
                windows[j] = _dihedral(windows[j], int(symmetry))
                truths[j] = _dihedral(truths[j], int(symmetry))
        return np.stack(windows), np.stack(truths)

    def __getitem__(self, index: int):
        import torch

        image, truth = self.sample(index)
        return torch.from_numpy(image), torch.from_numpy(truth)
