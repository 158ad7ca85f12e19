"""Validation of a recognizer on held-out simulations with known truth (issue #7, seed §6.4.1).

`evaluation_microscope` is the seed's fixed graphene evaluation microscope,
`gold_evaluation_microscope` the 300 kV one for gold particles; `evaluate` images
every exit wave of a dataset through it, recognises the atoms and scores them against the truth
(one-to-one within a radius), split into ideal-lattice and defect atoms, next to the
Gaussian-filter + local-maxima baseline. `evaluate_counting` scores a counting model's atoms
per column on focal series through `counting_evaluation_microscope` (seed Fig 6.30).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from atomscope.core.rng import as_generator
from atomscope.core.validate import check_nonnegative, check_positive
from atomscope.detection.camera import Camera
from atomscope.detection.mtf import MTF
from atomscope.learning.metrics import (
    count_error_fractions,
    count_errors,
    gaussian_peaks,
    ideal_lattice,
    match,
    within,
)
from atomscope.learning.randomize import Microscope, image_from_exit_wave
from atomscope.optics.ctf import CTF


def evaluation_microscope(dose: float = 1e4, sampling: float = 0.12) -> Microscope:
    """The seed's graphene evaluation microscope (issue #7).

    80 kV, Cs = −12 µm, C10 = +84 Å, focal spread 35 Å, deflection 0.25 Å, exp_gauss MTF
    (c1 = 0.05, c2 = 0.48, c3 = 2.45), camera pixel ``sampling`` [Å], ``dose`` [e⁻/Å²].

    Examples
    --------
    >>> evaluation_microscope().ctf.aberrations["C30"]
    -120000.0
    """
    ctf = CTF(energy=80e3, Cs=-12e4, C10=84.0, focal_spread=35.0, deflection=0.25)
    return _with_evaluation_camera(ctf, dose, sampling)


def _with_evaluation_camera(ctf: CTF, dose: float, sampling: float) -> Microscope:
    """``ctf`` with the seed's evaluation camera: exp_gauss MTF (0.05, 0.48, 2.45)."""
    mtf = MTF("exp_gauss", c1=0.05, c2=0.48, c3=2.45)
    return Microscope(ctf, Camera(sampling=sampling, dose=dose, mtf=mtf))


def gold_evaluation_microscope(dose: float = 1e4, sampling: float = 0.1) -> Microscope:
    """Evaluation microscope for gold particles (atomscope's choice after the seed's §4.2.2).

    300 kV, Cs = −10 µm (seed §4.2.2), C10 = the negative-Cs optimum `ncsi_defocus` ≈ +51 Å,
    focal spread 29 Å (seed §4.2.2), deflection 0.25 Å and the exp_gauss MTF of
    `evaluation_microscope`, camera pixel ``sampling`` [Å], ``dose`` [e⁻/Å²].

    Examples
    --------
    >>> round(gold_evaluation_microscope().ctf.aberrations["C10"])
    51
    """
    from atomscope.learning.randomize import ncsi_defocus

    defocus = ncsi_defocus(300e3, -10e4)
    ctf = CTF(energy=300e3, Cs=-10e4, C10=defocus, focal_spread=29.0, deflection=0.25)
    return _with_evaluation_camera(ctf, dose, sampling)


def counting_evaluation_microscope(dose: float = 1e4, sampling: float = 0.1) -> Microscope:
    """Evaluation microscope for atom counting from a focal series (atomscope's choice).

    `gold_evaluation_microscope` with Cs = −15 µm, the middle of the seed's −10…−20 µm for its
    counting network (§6.4.2); ``dose`` [e⁻/Å²] is the total over the focal series, whose
    defoci (seed Eq 6.19) replace the lens's C10.

    Examples
    --------
    >>> counting_evaluation_microscope().ctf.aberrations["C30"]
    -150000.0
    """
    ctf = CTF(energy=300e3, Cs=-15e4, C10=0.0, focal_spread=29.0, deflection=0.25)
    return _with_evaluation_camera(ctf, dose, sampling)


@dataclass
class CountingEvaluation:
    """Atom counts of a counting model against the truth, over a set of structures.

    Attributes
    ----------
    errors
        Predicted minus true atoms of every truth column (−(true atoms) where no column was
        found within the matching radius), all structures concatenated.
    truth_counts
        True atoms of each of those columns.
    false_positives
        Predicted columns matched to no truth column.
    structure
        Index of each column's structure in the dataset.
    """

    errors: np.ndarray
    truth_counts: np.ndarray
    false_positives: int
    structure: np.ndarray

    @property
    def fractions(self) -> np.ndarray:
        """Fractions of columns off by 0, 1, 2, > 2 atoms (seed Fig 6.30)."""
        return count_error_fractions(self.errors)

    @property
    def missed(self) -> int:
        """Truth columns with no predicted column within the matching radius."""
        return int(np.sum(self.errors == -self.truth_counts))


def evaluate_counting(
    recognizer,
    dataset,
    microscope: Microscope | None = None,
    rng: int | np.random.Generator | None = 0,
    radius: float = 0.5,
    margin: float = 2.0,
    threshold: float | None = None,
) -> CountingEvaluation:
    """Count the atoms per column of every structure of ``dataset`` and score them.

    Each exit wave is imaged as the recognizer's focal series (`randomize.FocalSeries`, seed
    Eq 6.19: defocus jitter and shot noise from ``rng``, the microscope's dose the total), the
    columns are found and counted (`Recognizer.predict`) and matched one to one to the truth
    within ``radius`` (`metrics.count_errors`).

    Parameters
    ----------
    recognizer
        A counting `Recognizer` (``atoms_per_class`` in its metadata).
    dataset
        Held-out `ExitWaveDataset` of a counting preset (classes index ``atoms_per_class``).
    microscope
        Fixed lens and camera; default `counting_evaluation_microscope()`.
    rng
        Seed or generator for the defocus jitter and the shot noise.
    radius
        Matching radius [Å].
    margin
        Truth and predicted columns closer than this to the image edge are ignored [Å].
    threshold
        t of Eq 6.16; default the model's.

    Returns
    -------
    CountingEvaluation

    Examples
    --------
    >>> from atomscope.learning import Recognizer, generate
    >>> data = generate("gold-counting", 1, rng=3, extent=30.0, sampling=0.1,
    ...                 structure_options={"radius": (5.0, 6.0)})
    >>> result = evaluate_counting(Recognizer.pretrained("gold-counting"), data,
    ...                            counting_evaluation_microscope(1e6))
    >>> len(result.errors) == len(data.positions[0]), round(float(result.fractions.sum()), 6)
    (True, 1.0)
    """
    from atomscope.learning.infer import Recognizer

    if not isinstance(recognizer, Recognizer):
        raise TypeError(f"recognizer must be a Recognizer, got {type(recognizer).__name__}")
    atoms = recognizer.atoms_per_class
    if atoms is None:
        raise ValueError("recognizer must be a counting model (atoms_per_class in its metadata)")
    if tuple(dataset.class_names) != recognizer.class_names:
        raise ValueError(
            f"dataset classes {tuple(dataset.class_names)} must be the recognizer's "
            f"{recognizer.class_names}"
        )
    from atomscope.learning.randomize import FocalSeries

    series = recognizer.focal_series or FocalSeries(1)
    microscope = counting_evaluation_microscope() if microscope is None else microscope
    radius = check_positive("radius", radius)
    margin = check_nonnegative("margin", margin)
    rng = as_generator(rng)
    errors, truths, structures, false_positives = [], [], [], 0
    for index in range(len(dataset)):
        images = series.images(dataset.wave(index), microscope, rng)
        sampling = images[0].sampling[0]
        extent = np.array(images[0].shape) * sampling
        inside = within(dataset.positions[index], extent, margin)
        truth = dataset.positions[index][inside]
        truth_counts = atoms[dataset.classes[index][inside]]
        found = recognizer.predict(
            np.stack([image.array for image in images]), sampling, threshold=threshold
        )
        keep = within(found.positions, extent, margin)
        column_errors = count_errors(
            found.positions[keep], found.counts[keep], truth, truth_counts, radius
        )
        false_positives += int(keep.sum()) - len(match(found.positions[keep], truth, radius).truth)
        errors.append(column_errors)
        truths.append(truth_counts)
        structures.append(np.full(len(truth), index))
    return CountingEvaluation(
        np.concatenate(errors),
        np.concatenate(truths),
        false_positives,
        np.concatenate(structures),
    )


@dataclass
class Evaluation:
    """Counts per threshold (arrays over ``thresholds``) for one group of truth atoms.

    ``true_positives[i]`` predictions with score ≥ thresholds[i] matched to a truth atom of
    the group; ``false_positives[i]`` unmatched predictions (counted in the "all" group only);
    ``truth`` the number of truth atoms in the group.
    """

    thresholds: np.ndarray
    true_positives: np.ndarray = field(init=False)
    false_positives: np.ndarray = field(init=False)
    truth: int = 0

    def __post_init__(self):
        self.true_positives = np.zeros(len(self.thresholds), dtype=np.int64)
        self.false_positives = np.zeros(len(self.thresholds), dtype=np.int64)

    @property
    def precision(self) -> np.ndarray:
        """TP / (TP + FP) per threshold (Eq 6.17)."""
        positives = self.true_positives + self.false_positives
        return np.where(positives > 0, self.true_positives / np.maximum(positives, 1), 1.0)

    @property
    def recall(self) -> np.ndarray:
        """TP / truth per threshold (Eq 6.17)."""
        return self.true_positives / max(self.truth, 1)


def _score(evaluation: Evaluation, predicted, scores, truth, groups, radius, keep_fp: bool):
    for i, t in enumerate(evaluation.thresholds):
        chosen = predicted[scores >= t]
        pairs = match(chosen, truth, radius)
        evaluation.true_positives[i] += int(groups[pairs.truth].sum())
        if keep_fp:
            evaluation.false_positives[i] += len(chosen) - len(pairs.truth)


def evaluate(
    recognizer,
    dataset,
    microscope: Microscope | None = None,
    rng: int | np.random.Generator | None = 0,
    thresholds=None,
    radius: float = 0.5,
    margin: float = 2.0,
    baseline_sigma: float = 0.3,
) -> dict[str, Evaluation]:
    """Score ``recognizer`` on every exit wave of ``dataset`` imaged through ``microscope``.

    Parameters
    ----------
    recognizer
        A `Recognizer`.
    dataset
        Held-out `ExitWaveDataset` (structures never used in training).
    microscope
        Fixed microscope; default `evaluation_microscope()`.
    rng
        Seed or generator for the shot noise.
    thresholds
        Values of t (Eq 6.16) for the precision–recall curve; default 0…0.95.
    radius
        Matching radius [Å].
    margin
        Truth atoms and predictions closer than this to the image edge are ignored [Å].
    baseline_sigma
        Gaussian filter σ of the baseline [Å] (peaks ≥ 0.4 Å apart); its thresholds are the
        standardised peak heights 4·t − 1 (t over ``thresholds``), bright atoms assumed.

    Returns
    -------
    dict
        `Evaluation` for ``"all"``, ``"ideal"`` and ``"defect"`` truth atoms of the network and
        ``"baseline"`` (all atoms).

    Examples
    --------
    >>> from atomscope.learning.data import generate
    >>> from atomscope.learning.infer import Recognizer
    >>> from atomscope.learning.model import FusionNet
    >>> data = generate("polycrystalline", 1, rng=1, extent=12.0, sampling=0.1)
    >>> recognizer = Recognizer(FusionNet(width=2), ("C",), (0.11, 0.13), 10.0)
    >>> results = evaluate(recognizer, data, thresholds=[0.5])
    >>> sorted(results), results["all"].truth > 0
    (['all', 'baseline', 'defect', 'ideal'], True)
    """
    from atomscope.learning.infer import Recognizer

    if not isinstance(recognizer, Recognizer):
        raise TypeError(f"recognizer must be a Recognizer, got {type(recognizer).__name__}")
    microscope = evaluation_microscope() if microscope is None else microscope
    thresholds = np.linspace(0, 0.95, 20) if thresholds is None else np.asarray(thresholds, float)
    radius = check_positive("radius", radius)
    margin = check_nonnegative("margin", margin)
    rng = as_generator(rng)
    results = {name: Evaluation(thresholds) for name in ("all", "ideal", "defect", "baseline")}
    for index in range(len(dataset)):
        image = image_from_exit_wave(dataset.wave(index), microscope, rng)
        sampling = image.sampling[0]
        extent = np.array(image.shape) * sampling
        truth = dataset.positions[index]
        tiled = np.concatenate(
            [truth + np.array([i, j]) * extent for i in (-1, 0, 1) for j in (-1, 0, 1)]
        )
        ideal = ideal_lattice(tiled)[4 * len(truth) : 5 * len(truth)]
        inside = within(truth, extent, margin)
        truth, ideal = truth[inside], ideal[inside]
        result = recognizer.predict(image.array, sampling, threshold=0.0)
        keep = within(result.positions, extent, margin)
        predicted, scores = result.positions[keep], result.scores[keep]
        for name, group in (
            ("all", np.ones(len(truth), bool)),
            ("ideal", ideal),
            ("defect", ~ideal),
        ):
            results[name].truth += int(group.sum())
            _score(results[name], predicted, scores, truth, group, radius, name == "all")
        peaks, heights = gaussian_peaks(image.array, sampling, baseline_sigma, min_distance=0.4)
        inside_peaks = within(peaks, extent, margin)
        results["baseline"].truth += len(truth)
        _score(
            results["baseline"],
            peaks[inside_peaks],
            (heights[inside_peaks] + 1) / 4,
            truth,
            np.ones(len(truth), bool),
            radius,
            True,
        )
    return results
