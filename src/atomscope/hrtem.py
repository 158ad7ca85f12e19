"""The HRTEM job: structure → potential → exit wave → lens → camera, with every output written.

`HRTEMSettings` holds every parameter; `run_hrtem` validates them all (by building the
potential, lens and camera objects) before any slice is computed, then writes TIFF, PNG and a
JSON summary of every parameter used. Each file is written atomically.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the physics is imported when a job runs, so `atomscope --help` stays quick
    from ase import Atoms

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


def demo_structure() -> Atoms:
    """The seed's flagship specimen (thesis §2.7.1): an Au FCC particle with (100) 6, (110) 9 and
    (111) 5 layers, rotated π/4 about y, 2 Å vacuum."""
    from ase.cluster.cubic import FaceCenteredCubic

    particle = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [6, 9, 5])
    particle.rotate(45, "y")
    particle.center(vacuum=2)
    return particle


def prepare(atoms: Atoms | Sequence[Atoms], settings: HRTEMSettings):
    """Build and validate the potential, lens and camera; nothing heavy is computed yet."""
    from atomscope.detection import MTF, Camera
    from atomscope.optics import CTF, scherzer_defocus
    from atomscope.potentials.projected import Potential

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
    return potential, ctf, camera, defocus


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
    atoms: Atoms | Sequence[Atoms],
    settings: HRTEMSettings,
    out: str | Path,
    progress: bool = True,
    name: str = "structure",
    client=None,
    command: str = "hrtem",
) -> dict:
    """Simulate and write the HRTEM outputs of ``atoms`` into directory ``out``.

    ``atoms`` may be a sequence of frozen-phonon snapshots (e.g. `atomscope.thermal.MDPhonons`
    or the frames of a trajectory): configurations are streamed one at a time (on ``client``,
    a Dask client, if given) and the images are their incoherent average; ``exit_wave`` is then
    the mean (coherent) exit wave.

    Writes ``potential.tif/png`` (projected potential), ``exit_wave.npz/png``, ``ctf.png``,
    ``image.tif/png`` (noise-free image), ``detected.tif/png`` (camera counts, if a camera is
    set) and ``summary.json``. Returns the summary. Files in ``out`` that an earlier run of
    ``command`` did not write are never replaced (`atomscope.outputs`).
    """
    from atomscope import io, plot
    from atomscope.images import Images
    from atomscope.outputs import check_output_directory, claim_outputs, staged_outputs
    from atomscope.waves.ensemble import frozen_phonon_average
    from atomscope.waves.plane import PlaneWave

    out = check_output_directory(out)
    potential, ctf, camera, defocus = prepare(atoms, settings)
    claim_outputs(out, command, output_names(camera is not None))
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
        summary = {
            "structure": name,
            "num_atoms": len(potential.atoms),
            "num_configs": potential.num_configs,
            "symbols": sorted(set(potential.atoms.get_chemical_symbols())),
            "settings": asdict(settings),
            "defocus_used": defocus,
            "grid": {
                "gpts": potential.gpts,
                "sampling": potential.sampling,
                "extent": potential.extent,
                "num_slices": potential.num_slices,
            },
            "multislice_seconds": multislice_seconds,
            # ru_maxrss is in KiB on Linux: the whole process's peak, potential and outputs included
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
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
            summary["detected_mean_counts"] = float(np.mean(detected.array))
        summary["outputs"] = output_names(detected is not None)
        io.write_json(stage / "summary.json", summary)
    return summary
