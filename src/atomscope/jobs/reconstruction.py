"""What ``atomscope ewr`` runs: a focal series in, the exit wave and its record out."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

EWR_OUTPUTS = (
    "exit_wave.npz",
    "amplitude.tif",
    "phase.tif",
    "ewr.png",
    "residuals.csv",
    "summary.json",
)
#: Peak bytes the reconstruction and its outputs add per pixel of every image, measured with
#: ``/usr/bin/time -v atomscope ewr`` (20–60 images of 256²–512², 10 iterations: 20–32 B): the
#: normalised float64 series, the full-grid wave and its spectra, the figure.
EWR_BYTES_PER_PIXEL = 40


def normalised_series(images, dose: float | None) -> tuple[np.ndarray, str]:
    """The series in units of the incident beam, and how that was done.

    With ``dose`` [e⁻/Å²] counts N become I = N / (D δx δy) (seed Eq 2.22); without it the
    series is divided by its mean, so the mean image intensity is 1 (the wave's absolute scale
    is then unknown, and the summary says so).
    """
    from atomscope.core.validate import check_finite_array, check_positive

    array = check_finite_array("images", images.array).astype(np.float32)
    if array.min() < 0:
        raise ValueError(
            f"images must be counts or intensities ≥ 0, got a minimum of {array.min():g}"
        )
    if dose is not None:
        dose = check_positive("dose", dose)
        pixel = images.sampling[0] * images.sampling[1]
        return array / np.float32(dose * pixel), f"counts / (dose × pixel area), dose {dose:g} e/Å²"
    mean = float(array.mean())
    if mean <= 0:
        raise ValueError("images must have a positive mean intensity, they are all zero")
    return array / np.float32(mean), "divided by the series mean (no --dose given)"


def _write_residuals(path: Path, result) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iteration", "misfit", "change"])
        for i, (misfit, change) in enumerate(
            zip(result.residuals, result.changes, strict=True), start=1
        ):
            writer.writerow([i, f"{misfit:.6e}", f"{change:.6e}"])


def run_ewr(
    images,
    out: str | Path,
    defoci: Any,
    ctf,
    dose: float | None = None,
    max_iter: int = 200,
    tolerance: float = 1e-5,
    refine_defocus: bool = False,
    align: bool = False,
    method: str = "lbfgs",
    working_grid: str = "band",
    name: str = "images",
    progress: bool = False,
) -> dict:
    """Exit-wave reconstruction of a focal series (`focal_series_ewr`) written into ``out``:
    exit_wave.npz (complex wave, sampling [Å], energy [eV], refined defoci [Å], drifts [Å],
    misfit per iteration), amplitude.tif and phase.tif (phase relative to the mean wave [rad],
    wrapped to (−π, π]), ewr.png, residuals.csv and summary.json.

    Parameters
    ----------
    images
        `Images` stack [n, x, y] with its pixel size [Å] (counts or intensities).
    out
        Output directory; only files an earlier ``ewr`` run wrote are replaced.
    defoci
        Nominal defocus of each image [Å] (positive = underfocus).
    ctf
        The lens (`CTF`): energy, Cs and other aberrations, aperture, envelopes.
    dose
        Dose per image [e⁻/Å²] that turns counts into intensity; without it the series is
        normalised to mean 1.
    max_iter, tolerance, refine_defocus, align, method, working_grid
        As `focal_series_ewr`.
    name
        The series' name for the summary.
    progress
        Progress bar over the iterations.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    started = time.perf_counter()
    arguments = {
        key: value for key, value in locals().items() if key not in ("images", "started", "ctf")
    }
    arguments["defoci"] = np.asarray(defoci, dtype=float).tolist()
    arguments["ctf"] = ctf.parameters()
    from atomscope import io, plot
    from atomscope.core.memory import check_and_report
    from atomscope.images import Images
    from atomscope.outputs import check_output_directory, claim_outputs, staged_outputs
    from atomscope.reconstruction.focal_series import focal_series_ewr
    from atomscope.summary import write_summary

    if images.array.ndim != 3:
        raise ValueError(
            f"images must be a focal series [n, x, y], got shape {images.shape}: give a stack "
            "file or several image files"
        )
    intensity, normalisation = normalised_series(images, dose)
    out = check_output_directory(out)
    claim_outputs(out, "ewr", EWR_OUTPUTS)
    check_and_report(
        EWR_BYTES_PER_PIXEL * images.array.size,
        f"a focal series of {len(images.array)} images of {images.shape[1]}×{images.shape[2]}",
        "reconstruct from fewer images or a cropped region",
    )
    result = focal_series_ewr(
        intensity,
        defoci,
        ctf,
        images.sampling,
        max_iter=max_iter,
        tolerance=tolerance,
        refine_defocus=refine_defocus,
        align=align,
        method=method,
        working_grid=working_grid,
        progress=progress,
    )
    wave = result.exit_wave
    mean = wave.array.mean()
    relative = wave.array * (np.conj(mean) / abs(mean)) if abs(mean) > 0 else wave.array
    with staged_outputs(out, "ewr") as stage:
        io.write_npz(
            stage / "exit_wave.npz",
            array=wave.array,
            sampling=wave.sampling,
            energy=wave.energy,
            defoci=result.defoci,
            shifts=result.shifts,
            residuals=result.residuals,
            changes=result.changes,
        )
        io.write_tiff(stage / "amplitude.tif", Images(np.abs(relative), wave.sampling))
        io.write_tiff(stage / "phase.tif", Images(np.angle(relative), wave.sampling))
        plot.reconstruction_png(stage / "ewr.png", wave, result.residuals, title=name)
        _write_residuals(stage / "residuals.csv", result)
        results = {
            "series": name,
            "num_images": len(result.defoci),
            "gpts": list(wave.gpts),
            "sampling_A": wave.sampling,
            "sampling_source": getattr(images, "sampling_source", None),
            "normalisation": normalisation,
            "iterations": result.iterations,
            "converged": result.converged,
            "stopped": result.message,
            "final_misfit": float(result.residuals[-1]),
            "defoci_A": result.defoci.tolist(),
            "defocus_corrections_A": (result.defoci - np.asarray(defoci, float)).tolist(),
            "shifts_A": result.shifts.tolist(),
            "working_gpts": result.settings["working_gpts"],
            "mean_amplitude": float(np.abs(wave.array).mean()),
        }
        summary = write_summary(
            stage / "summary.json", "ewr", arguments, EWR_OUTPUTS, started, results
        )
    return summary
