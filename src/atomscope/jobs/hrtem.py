"""The HRTEM job: structure → potential → exit wave → lens → camera, with every output written.

`HRTEMSettings` holds every parameter; `run_hrtem` validates them all (by building the
potential, lens and camera objects) before any slice is computed, then writes TIFF, PNG and a
JSON summary of every parameter used. Each file is written atomically.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the physics is imported when a job runs, so `atomscope --help` stays quick
    from ase import Atoms

    from atomscope.detection import Camera
    from atomscope.optics import CTF
    from atomscope.potentials.projected import Potential


@dataclass
class HRTEMSettings:
    """All parameters of an HRTEM simulation (units: eV, Å, mrad, e⁻/Å²).

    ``defocus=None`` means Scherzer defocus for ``Cs`` (positive = underfocus).
    ``aberrations`` holds further polar coefficients by name (C12, phi12, C5, ...).
    ``camera_sampling=None`` skips the camera (no resampling, noise or MTF).
    """

    energy: float = 300e3
    sampling: float = 0.05
    slice_thickness: float = 0.5
    parametrization: str = "lobato"
    projection: str = "infinite"
    Cs: float = 6e6
    defocus: float | None = None
    aberrations: dict[str, float] = field(default_factory=dict)
    semiangle_cutoff: float = 20.0
    focal_spread: float = 30.0
    angular_spread: float = 0.0
    deflection: float = 0.0
    camera_sampling: float | None = 0.18
    dose: float = 1e4
    mtf: tuple[str, float, float, float] | None = ("rational", 0.1, 0.5, 2.5)
    rng: int = 0


#: Named microscopes: the evaluation microscopes of the shipped recognition models' model cards
#: (`atomscope.learning.validate`), so `atomscope hrtem --preset NAME` images as they were scored.
PRESETS = {
    "graphene-80kv": "evaluation_microscope",
    "gold-300kv": "gold_evaluation_microscope",
}
_PRESET_POTENTIAL = {"sampling": 0.08, "slice_thickness": 1.0}  # the models' training exit waves


def preset_settings(name: str) -> HRTEMSettings:
    """`HRTEMSettings` of a named microscope (`PRESETS`): energy, lens, envelopes and camera
    of a shipped model's evaluation microscope, the potential as its training data used.

    Examples
    --------
    >>> preset = preset_settings("graphene-80kv")
    >>> preset.energy, preset.Cs, preset.defocus, preset.camera_sampling
    (80000.0, -120000.0, -84.0, 0.12)
    """
    from atomscope.learning import validate

    if name not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    microscope = getattr(validate, PRESETS[name])()
    ctf, camera = microscope.ctf, microscope.camera
    aberrations = {k: v for k, v in ctf.aberrations.nonzero().items() if k not in ("C10", "C30")}
    return HRTEMSettings(
        energy=ctf.energy,
        Cs=ctf.aberrations["C30"],
        defocus=ctf.aberrations.defocus,
        aberrations=aberrations,
        semiangle_cutoff=ctf.semiangle_cutoff,
        focal_spread=ctf.focal_spread,
        angular_spread=ctf.angular_spread,
        deflection=ctf.deflection,
        camera_sampling=float(camera.sampling[0]),
        dose=camera.dose,
        mtf=None
        if camera.mtf is None
        else (camera.mtf.name, camera.mtf.c1, camera.mtf.c2, camera.mtf.c3),
        **_PRESET_POTENTIAL,
    )


def demo_structure() -> Atoms:
    """The seed's flagship specimen (thesis §2.7.1): an Au FCC particle with (100) 6, (110) 9 and
    (111) 5 layers, rotated π/4 about y, 2 Å vacuum."""
    from ase.cluster.cubic import FaceCenteredCubic

    particle = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [6, 9, 5])
    particle.rotate(45, "y")
    particle.center(vacuum=2)
    return particle


def prepare(atoms: Atoms | Sequence[Atoms] | Potential, settings: HRTEMSettings):
    """Build and validate the potential, lens and camera; nothing heavy is computed yet.

    ``atoms`` may be a ready `Potential` (a `DFTPotential`, a `StoredPotential`): it is used as
    it is, and the settings' potential fields (sampling, slice thickness, parametrization,
    projection) do not apply. Refuses (``ValueError``) a job whose `memory_estimate` does not
    fit (`atomscope.core.memory.check_memory`), before any array of the grid is allocated.
    """
    from atomscope.core.memory import check_memory
    from atomscope.detection import MTF, Camera
    from atomscope.optics import CTF, scherzer_defocus
    from atomscope.potentials.projected import Potential

    if isinstance(atoms, Potential):
        potential = atoms
    else:
        potential = Potential(
            atoms,
            sampling=settings.sampling,
            slice_thickness=settings.slice_thickness,
            parametrization=settings.parametrization,
            projection=settings.projection,
        )
    defocus = (
        scherzer_defocus(settings.Cs, settings.energy)
        if settings.defocus is None
        else settings.defocus
    )
    ctf = CTF(
        energy=settings.energy,
        Cs=settings.Cs,
        defocus=defocus,
        semiangle_cutoff=settings.semiangle_cutoff,
        focal_spread=settings.focal_spread,
        angular_spread=settings.angular_spread,
        deflection=settings.deflection,
        **settings.aberrations,
    )
    camera = None
    if settings.camera_sampling is not None:
        mtf = MTF(*settings.mtf) if settings.mtf is not None else None
        camera = Camera(sampling=settings.camera_sampling, dose=settings.dose, mtf=mtf)
    (nx, ny), camera_gpts = potential.gpts, _camera_gpts(potential, camera)
    job = (
        f"an HRTEM run on the {nx}×{ny} grid of the given potential"
        if isinstance(atoms, Potential)
        else f"an HRTEM run on the {nx}×{ny} grid of --sampling {settings.sampling:g} Å"
    )
    hint = "use a coarser --sampling or a smaller structure"
    if camera_gpts[0] * camera_gpts[1] > nx * ny:
        job += (
            f" with a {camera_gpts[0]}×{camera_gpts[1]} camera image of --camera-sampling "
            f"{settings.camera_sampling:g} Å"
        )
        hint = "use a coarser --camera-sampling or --sampling"
    check_memory(memory_estimate(potential, camera), job, hint)
    return potential, ctf, camera, defocus


#: Bytes per pixel of the potential grid, by what holds them during `run_hrtem`.
_PROJECTION = 8  # the projected potential summed during the multislice (float64)
_SUMS = 40  # frozen-phonon running sums: complex128 wave, float64 intensity, image, potential
_AVERAGES = 32  # the averages written out: complex64 exit wave, float64 intensity, image, potential
_RESAMPLE = 48  # the camera's resampling: complex128 copy, its spectrum and the FFT plan's scratch
_FIGURE = 80  # per pixel of the largest PNG: imshow's float64 copies, RGBA, Agg resampling buffers
#: Bytes per camera pixel: at the MTF step the resampled image (complex128), the expected counts
#: and the counts (float64), and the MTF's spectrum, product and inverse (complex128).
_CAMERA = 80
_CAMERA_HELD = 8  # per camera pixel while the outputs are written: the counts
#: Resident memory of the libraries `run_hrtem` imports on first use (measured, fresh process).
_LIBRARIES = {"matplotlib": 28 * 2**20, "pyfftw.pyfftw": 16 * 2**20}  # pyFFTW imports dask.array
_FIGURE_BASE = 28 * 2**20  # figure canvases, fonts and the small modules of the outputs
_NUMBA_KERNEL = 32 * 2**20  # the finite projection loads (or compiles) its numba kernel


def _camera_gpts(potential: Potential, camera: Camera | None) -> tuple[int, int]:
    from atomscope.detection.resample import resampled_gpts

    if camera is None:
        return (0, 0)
    return resampled_gpts(potential.gpts, potential.sampling, camera.sampling)[0]


def memory_estimate(potential: Potential, camera: Camera | None = None) -> int:
    """Peak bytes `run_hrtem` adds to this process for ``potential`` and ``camera`` [B].

    The largest of its stages: the multislice of one configuration (FFT plans, wave, stepper,
    one streamed slice and the structure-factor matrices of the fullest slice, the projected
    potential, and for frozen phonons the running sums), the camera (resampling, noise, MTF)
    and the outputs (the averages and the largest figure); plus the libraries the outputs load
    and, for every configuration, the copy of its atoms. It counts a local run: with a Dask
    client each worker needs the multislice stage for its configuration, and this process
    needs less than estimated.

    Parameters
    ----------
    potential
        The `Potential` (one or many configurations).
    camera
        The `Camera`, or None.

    Returns
    -------
    int
        Bytes [B].

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomscope.potentials.projected import Potential
    >>> potential = Potential(bulk("Si", cubic=True), gpts=512, slice_thickness=1.0)
    >>> 60 * 2**20 < memory_estimate(potential) < 200 * 2**20
    True
    """
    from atomscope.core.memory import estimate
    from atomscope.waves.ensemble import configuration_lanes
    from atomscope.waves.multislice import multislice_memory

    gpts = potential.gpts
    pixels = gpts[0] * gpts[1]
    camera_gpts = _camera_gpts(potential, camera)
    camera_pixels = camera_gpts[0] * camera_gpts[1]
    sums = _SUMS * pixels if potential.num_configs > 1 else 0
    lanes = configuration_lanes(potential)  # configurations in flight at once
    # (the lens stage, ctf.image of one exit wave, holds less than the multislice before it)
    stages = [lanes * (multislice_memory(potential) + _PROJECTION * pixels) + sums]
    held = estimate("fft_plans", gpts=gpts) + _AVERAGES * pixels
    if camera is not None:
        stages.append(held + _RESAMPLE * pixels + _CAMERA * camera_pixels)
        held += _CAMERA_HELD * camera_pixels
    stages.append(held + _FIGURE * max(pixels, camera_pixels))
    # Potential.configurations copies the atoms of every configuration
    arrays = potential.atoms.arrays.values()
    atom_copies = potential.num_configs * sum(array.nbytes for array in arrays)
    libraries = sum(size for name, size in _LIBRARIES.items() if name not in sys.modules)
    overhead = libraries + _FIGURE_BASE
    if potential.projection == "finite":
        overhead += _NUMBA_KERNEL
    return int(max(stages) + atom_copies + overhead)


def output_names(camera: bool) -> list[str]:
    """The files `run_hrtem` writes (``detected.*`` only with a camera)."""
    names = ["potential.tif", "potential.png", "exit_wave.npz", "exit_wave.png", "ctf.png"]
    names += ["image.tif", "image.png", "summary.json"]
    return names + (["detected.tif", "detected.png"] if camera else [])


def _ctf_plot_limit(ctf: CTF, potential: Potential) -> float:
    """Spatial frequency [1/Å] the CTF figure reaches: 1.2 × the aperture, or without one twice
    the point resolution's frequency, never beyond the simulated (antialiased) limit."""
    from atomscope.waves.diffraction import max_simulated_angle

    simulated = max_simulated_angle(potential.grid, ctf.energy) * 1e-3 / ctf.wavelength
    if np.isfinite(ctf.semiangle_cutoff):
        return min(1.2 * ctf.semiangle_cutoff * 1e-3 / ctf.wavelength, simulated)
    resolution = ctf.point_resolution()
    return min(2 / resolution, simulated) if np.isfinite(resolution) else simulated


def run_hrtem(
    atoms: Atoms | Sequence[Atoms] | Potential,
    settings: HRTEMSettings,
    out: str | Path,
    progress: bool = True,
    name: str = "structure",
    client=None,
    command: str = "hrtem",
) -> dict:
    """Simulate and write the HRTEM outputs of ``atoms`` into directory ``out``.

    ``atoms`` may be a ready `Potential` (a DFT or stored one, see `prepare`) or a sequence of
    frozen-phonon snapshots (e.g. `atomscope.thermal.MDPhonons` or the frames of a trajectory): configurations are streamed one at a time (on ``client``,
    a Dask client, if given) and the images are their incoherent average; ``exit_wave`` is then
    the mean (coherent) exit wave.

    Writes ``potential.tif/png`` (projected potential), ``exit_wave.npz/png``, ``ctf.png``,
    ``image.tif/png`` (noise-free image), ``detected.tif/png`` (camera counts, if a camera is
    set) and ``summary.json``. Returns the summary. Files in ``out`` that an earlier run of
    ``command`` did not write are never replaced (`atomscope.outputs`).
    """
    from atomscope import io, plot
    from atomscope.core.memory import describe
    from atomscope.images import Images
    from atomscope.outputs import check_output_directory, claim_outputs, staged_outputs
    from atomscope.summary import write_summary

    started = time.perf_counter()
    from atomscope.waves.ensemble import frozen_phonon_average
    from atomscope.waves.plane import PlaneWave

    out = check_output_directory(out)
    potential, ctf, camera, defocus = prepare(atoms, settings)
    claim_outputs(out, command, output_names(camera is not None))
    nbytes = memory_estimate(potential, camera)
    if progress:
        print(describe(nbytes))
    start = time.perf_counter()
    average = frozen_phonon_average(
        PlaneWave(settings.energy), potential, ctf, client=client, progress=progress
    )
    multislice_seconds = time.perf_counter() - start
    exit_wave, image = average.exit_wave, average.image
    detected = camera.detect(image, rng=settings.rng) if camera is not None else None

    with staged_outputs(out, command) as stage:
        projected = average.projected_potential.array
        io.write_tiff(stage / "potential.tif", projected, sampling=potential.sampling)
        plot.image_png(
            stage / "potential.png",
            Images(projected, potential.sampling),
            "projected potential",
            cmap="viridis",
            colorbar_label="V·Å",
        )
        io.write_npz(
            stage / "exit_wave.npz",
            array=exit_wave.array,
            sampling=exit_wave.sampling,
            energy=exit_wave.energy,
        )
        plot.exit_wave_png(stage / "exit_wave.png", exit_wave)
        plot.save_figure(
            ctf.plot(max_k=_ctf_plot_limit(ctf, potential)),
            stage / "ctf.png",
        )
        io.write_tiff(stage / "image.tif", image)
        plot.image_png(stage / "image.png", image, "image (noise-free)")
        results = {
            "structure": name,
            "num_atoms": len(potential.atoms),
            "num_configs": potential.num_configs,
            "symbols": sorted(set(potential.atoms.get_chemical_symbols())),
            "defocus_used": defocus,
            "potential": potential.parametrization,
            "grid": {
                "gpts": potential.gpts,
                "sampling": potential.sampling,
                "extent": potential.extent,
                "num_slices": potential.num_slices,
            },
            "multislice_seconds": multislice_seconds,
            "memory_estimate_bytes": nbytes,
            "image_mean": float(image.array.mean()),
            "image_contrast": float(image.array.std() / image.array.mean()),
        }
        if detected is not None:
            io.write_tiff(stage / "detected.tif", detected)
            plot.image_png(
                stage / "detected.png",
                detected,
                f"detected ({settings.dose:g} e⁻/Å², {settings.camera_sampling} Å/px)",
            )
            results["detected_mean_counts"] = float(np.mean(detected.array))
        summary = write_summary(
            stage / "summary.json",
            command,
            {"structure": name, "settings": asdict(settings)},
            output_names(detected is not None),
            started,
            results,
        )
    return summary
