"""Recognition through an unknown lens: fit the aberrations, re-image to the model's own lens.

A network trained on one narrow lens range recognises an image taken through any lens once the
image is re-imaged to the lens it knows (its *home* microscope, the model card's evaluation
microscope): the weak-phase image term σ v̂ H is Wiener-divided by the image's own transfer H
and multiplied by the home transfer (`lens_oracle.reimage`). Knowing H is then all it takes;
`search_lens` finds it from the image in two steps.

1. *Thon rings.* The power spectrum |Î(k)|² is modulated by sin²χ(k) (the weak-phase transfer
   2 sin χ, Kirkland, Advanced Computing in Electron Microscopy, Eq 6.22). Candidate aberrations
   (C10, C12, φ12, C30, C50) are scored by the correlation of sin²χ with the spectrum within
   thin frequency shells, so that envelopes, MTF and the atoms' form factor, all radial, drop
   out (the normalised cross-correlation of CTFFIND4, Rohou & Grigorieff, J. Struct. Biol. 192
   (2015) 216, Eq 8, taken per shell); a Sobol scan of the ranges, then Nelder–Mead from the
   best, gives the candidates.
2. *Consistency.* sin²χ cannot tell χ from −χ, a crystal's few rings leave other near ties,
   and a lens whose sin χ keeps one sign over the band draws no rings. For each candidate and
   its negative, the model's home lens and a grid of round lenses, the network finds the atoms
   in the re-imaged image; the atoms, imaged back through the candidate transfer with one
   non-negative amplitude per frequency shell (the unknown envelopes and form factor), must
   explain the recorded spectrum. The candidate leaving the least power unexplained is the lens.

Issue #21's benchmark (`benchmarks/recognition_generalisation.py --unknown-lens`) measures it
on held-out images through the whole of seed Table 6.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from atomscope.core.rng import as_generator
from atomscope.core.validate import check_finite_array, check_positive, check_positive_int

__all__ = ["LensEstimate", "home_microscope", "search_lens", "thon_candidates"]

#: frequencies the lens is fitted in [1/Å]: above the lowest lattice ring of the presets'
#: materials (graphene 0.47, gold (111) 0.42 1/Å) and below where Table 6.1's envelopes leave
#: no transfer
FIT_BAND = (0.25, 1.2)
#: frequency shells of the Thon-ring correlation and of the consistency's amplitudes
THON_SHELLS = 24
CONSISTENCY_SHELLS = 10
#: two candidates closer than this in every parameter (relative to its range) are one
DISTINCT = 0.05
#: Sobol points of the Thon scan, and Nelder–Mead runs started from the best of them
SCAN_POINTS = 32768
SCAN_STARTS = 64
#: memory for the lenses the Thon scan scores at once [B]
SCAN_BYTES = 32 * 2**20
#: Wiener regularisation α of the re-imaging
REGULARIZATION = 0.05
#: round lenses tried besides the Thon optima, as fractions of the C10 and C30 limits: a lens
#: whose sin χ keeps one sign over the fit band (Scherzer-like, the lenses microscopists use)
#: draws no Thon rings there
ROUND_LENS_C10 = (-0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8)
ROUND_LENS_C30 = (-0.6, 0.0, 0.6)


@dataclass(frozen=True)
class LensEstimate:
    """The lens `search_lens` found, and the atoms seen through it.

    Attributes
    ----------
    aberrations
        ``C10``, ``C12``, ``C30``, ``C50`` [Å] and ``phi12`` [rad] (seed Eq 2.10 convention).
    unexplained
        Fraction of the image's power in the fit band that the atoms, imaged back through the
        lens, leave unexplained (lower is better; it includes the shot noise).
    thon
        Shell-wise correlation of sin²χ with the power spectrum (−1…1).
    recognition
        `Recognition` of the image re-imaged to the model's home lens (positions in the
        image's frame [Å]).
    candidates
        Every candidate tried: its aberrations and unexplained fraction.
    """

    aberrations: dict[str, float]
    unexplained: float
    thon: float
    recognition: Any
    candidates: list[dict[str, Any]] = field(default_factory=list)


def home_microscope(recognizer, sampling: float):
    """The microscope ``recognizer`` was validated through (its model card), at ``sampling``.

    Examples
    --------
    >>> from atomscope.learning.infer import Recognizer
    >>> home_microscope(Recognizer.pretrained("graphene"), 0.12).ctf.energy
    80000.0
    """
    from atomscope.learning.validate import evaluation_microscope, gold_evaluation_microscope

    preset = _preset(recognizer)
    homes = {"graphene": evaluation_microscope, "gold": gold_evaluation_microscope}
    if preset not in homes:
        raise ValueError(
            f"recognizer must be a single-image model of the graphene or gold preset for a lens "
            f"search, got preset {preset!r}"
        )
    return homes[preset](1e4, check_positive("sampling", sampling))


def _preset(recognizer) -> str | None:
    name = recognizer.metadata.get("name")
    if name in ("graphene", "gold"):
        return name
    stages = recognizer.metadata.get("training") or []
    stages = stages if isinstance(stages, list) else [stages]
    return stages[-1].get("preset") if stages and isinstance(stages[-1], dict) else None


class _Spectrum:
    """The image's spectrum on the fit band, with each pixel's k², cos 2φ and sin 2φ."""

    def __init__(self, image: np.ndarray, sampling: float, wavelength: float):
        kx = np.fft.fftfreq(image.shape[0], sampling)[:, None]
        ky = np.fft.fftfreq(image.shape[1], sampling)[None, :]
        k = np.hypot(kx, ky)
        low, high = FIT_BAND
        self.band = (k > low) & (k < high)
        phi = np.arctan2(ky, kx)
        self.k2 = (k**2)[self.band]
        self.cos2 = np.broadcast_to(np.cos(2 * phi), k.shape)[self.band]
        self.sin2 = np.broadcast_to(np.sin(2 * phi), k.shape)[self.band]
        self.wavelength = wavelength
        self.values = np.fft.fft2(image - image.mean())[self.band]
        self.shape = image.shape
        relative = (k[self.band] - low) / (high - low)
        self.thon_shell = np.minimum((relative * THON_SHELLS).astype(int), THON_SHELLS - 1)
        self.amplitude_shell = np.minimum(
            (relative * CONSISTENCY_SHELLS).astype(int), CONSISTENCY_SHELLS - 1
        )
        power = np.abs(self.values) ** 2
        self._thon_count = np.bincount(self.thon_shell, minlength=THON_SHELLS)
        # each shell's power relative to its mean: the radial fall-off (envelopes) drops out
        means = np.bincount(self.thon_shell, power, THON_SHELLS) / np.maximum(self._thon_count, 1)
        self._power = power / np.maximum(means[self.thon_shell], 1e-300) - 1
        self._power_norm = np.sqrt(np.sum(self._power**2))
        # the power and a shell indicator side by side: one matrix product scores many lenses
        self._against = np.zeros((len(power), THON_SHELLS + 1))
        self._against[:, 0] = self._power
        self._against[np.arange(len(power)), 1 + self.thon_shell] = 1.0

    def chi(self, params: np.ndarray) -> np.ndarray:
        """χ [rad] of each row (C10, C12·cos 2φ12, C12·sin 2φ12, C30, C50) on the band."""
        params = np.atleast_2d(params)
        lam, k2 = self.wavelength, self.k2
        defocus = params[:, :1] + params[:, 1:2] * self.cos2 + params[:, 2:3] * self.sin2
        # seed Eq 2.10: π λ k² (C10 + C12 cos 2(φ−φ12)) + π/2 C30 λ³ k⁴ + π/3 C50 λ⁵ k⁶
        return (
            np.pi * lam * k2 * defocus
            + 0.5 * np.pi * params[:, 3:4] * lam**3 * k2**2
            + np.pi / 3 * params[:, 4:5] * lam**5 * k2**3
        )

    def thon(self, params: np.ndarray) -> np.ndarray:
        """Shell-wise correlation of sin²χ with |Î|² for each row of ``params``.

        Each shell's power is centred (mean 0), so Σ (r − r̄_shell) p = Σ r p, and
        Σ (r − r̄_shell)² = Σ r² − Σ_shell (Σ r)² / n_shell: all from one matrix product.
        """
        ring = np.sin(self.chi(params)) ** 2
        products = ring @ self._against
        sums = products[:, 1:]
        centred_squares = np.sum(ring**2, axis=1) - np.sum(
            sums**2 / np.maximum(self._thon_count, 1), axis=1
        )
        norm = np.sqrt(np.clip(centred_squares, 0.0, None)) * self._power_norm
        return np.divide(products[:, 0], norm, out=np.zeros(len(ring)), where=norm > 0)

    def unexplained(self, positions: np.ndarray, sampling: float, params: np.ndarray) -> float:
        """Power fraction the atoms at ``positions`` [Å] leave, imaged through ``params``."""
        model = np.fft.fft2(_splat(positions / sampling, self.shape))[self.band]
        model *= np.sin(self.chi(params)[0])
        shell = self.amplitude_shell
        # per shell the least-squares amplitude g ≥ 0 of |Î − g · model|² (envelopes, form factor)
        cross = np.bincount(shell, (np.conj(model) * self.values).real, CONSISTENCY_SHELLS)
        norm = np.bincount(shell, np.abs(model) ** 2, CONSISTENCY_SHELLS)
        gain = np.clip(cross / np.maximum(norm, 1e-30), 0.0, None)
        residual = self.values - gain[shell] * model
        return float(np.sum(np.abs(residual) ** 2) / np.sum(np.abs(self.values) ** 2))


def _splat(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Unit points at fractional pixel positions, spread bilinearly (periodic)."""
    out = np.zeros(shape)
    if len(pixels) == 0:
        return out
    corner = np.floor(pixels).astype(int)
    fraction = pixels - corner
    for dx in (0, 1):
        for dy in (0, 1):
            weight = (fraction[:, 0] if dx else 1 - fraction[:, 0]) * (
                fraction[:, 1] if dy else 1 - fraction[:, 1]
            )
            np.add.at(out, ((corner[:, 0] + dx) % shape[0], (corner[:, 1] + dy) % shape[1]), weight)
    return out


def _limits(ranges) -> np.ndarray:
    """Largest |C10|, C12, |C12|, |C30|, |C50| of ``ranges`` (the box is searched ± each)."""
    largest = [
        max(abs(v) for v in ranges.C10),
        max(abs(v) for v in ranges.astigmatism),
        max(abs(v) for v in ranges.astigmatism),
        max(abs(v) for v in ranges.Cs),
        max(abs(v) for v in ranges.C5),
    ]
    return np.maximum(np.array(largest, float), 1e-6)


def thon_candidates(
    image,
    sampling: float,
    energy: float,
    ranges=None,
    candidates: int = 8,
    scan: int = SCAN_POINTS,
    starts: int = SCAN_STARTS,
    rng: int | np.random.Generator | None = 0,
) -> list[tuple[float, np.ndarray]]:
    """Aberrations whose Thon rings best match the image's power spectrum.

    Parameters
    ----------
    image
        2D image [x, y].
    sampling
        Pixel size [Å].
    energy
        Electron energy [eV].
    ranges
        `MicroscopeRanges` whose C10, Cs, C5 and astigmatism bound the search (± each largest
        magnitude, C12 within a disc); default seed Table 6.1 (`GRAPHENE_80KV`).
    candidates
        Distinct local optima returned.
    scan, starts
        Sobol points scanned, and Nelder–Mead runs started from the best of them.
    rng
        Seed or generator of the Sobol scrambling.

    Returns
    -------
    list of (score, params)
        Best first; score the shell-wise correlation, params (C10, C12 cos 2φ12, C12 sin 2φ12,
        C30, C50) [Å]. Each is as good as its negative (sin²χ is even in χ).

    Examples
    --------
    >>> from atomscope.learning.lens_oracle import linear_transfer
    >>> from atomscope.learning.randomize import draw
    >>> microscope = draw(rng=3)
    >>> rng = np.random.default_rng(0)
    >>> noise = np.fft.fft2(rng.normal(size=(160, 160)))  # a white object: rings everywhere
    >>> image = 1 + 0.1 * np.fft.ifft2(noise * linear_transfer(microscope, (160, 160), 0.12)).real
    >>> found = thon_candidates(image, 0.12, 80e3, candidates=2)
    >>> true, fitted = microscope.ctf.aberrations["C10"], found[0][1][0]
    >>> round(true), bool(abs(abs(fitted) - abs(true)) < 10)  # the defocus of χ or of −χ
    (-166, True)
    """
    array = check_finite_array("image", image, ndim=2)
    candidates = check_positive_int("candidates", candidates)
    scan = check_positive_int("scan", scan)
    starts = check_positive_int("starts", starts)
    spectrum, ranges = _fit_spectrum(array, sampling, energy, ranges)
    return _thon_fit(spectrum, ranges, candidates, scan, starts, rng)


def _fit_spectrum(array: np.ndarray, sampling, energy, ranges) -> tuple[_Spectrum, Any]:
    """The checked `_Spectrum` of ``array`` and the `MicroscopeRanges` (default Table 6.1)."""
    from atomscope.core.energy import energy2wavelength
    from atomscope.learning.randomize import GRAPHENE_80KV, MicroscopeRanges

    sampling = check_positive("sampling", sampling)
    energy = check_positive("energy", energy)
    ranges = GRAPHENE_80KV if ranges is None else ranges
    if not isinstance(ranges, MicroscopeRanges):
        raise TypeError(f"ranges must be MicroscopeRanges, got {type(ranges).__name__}")
    spectrum = _Spectrum(np.asarray(array, np.float64), sampling, energy2wavelength(energy))
    if not np.any(spectrum.band):
        raise ValueError(
            f"image of {array.shape} px at {sampling} Å/px holds no frequency in "
            f"{FIT_BAND} 1/Å to fit the lens in"
        )
    return spectrum, ranges


def _thon_fit(
    spectrum: _Spectrum, ranges, candidates: int, scan: int, starts: int, rng
) -> list[tuple[float, np.ndarray]]:
    """`thon_candidates` on an image's checked `_Spectrum`."""
    from scipy.optimize import minimize
    from scipy.stats import qmc

    limits = _limits(ranges)
    rows = max(1, SCAN_BYTES // (8 * int(np.sum(spectrum.band))))  # lenses scored at once
    seed = int(as_generator(rng).integers(2**31))
    points = qmc.Sobol(5, seed=seed).random(scan) * 2 - 1
    points = points[np.hypot(points[:, 1], points[:, 2]) <= 1] * limits  # C12 within a disc
    scores = np.concatenate(
        [spectrum.thon(points[i : i + rows]) for i in range(0, len(points), rows)]
    )

    def inside(x: np.ndarray) -> np.ndarray:
        """``x`` (relative to the limits) moved into the box, C12 into its disc."""
        x = np.clip(x, -1, 1)
        x[1:3] /= max(1.0, float(np.hypot(x[1], x[2])))
        return x

    def cost(x: np.ndarray) -> float:
        return -spectrum.thon(inside(x) * limits)[0]

    optima = []
    for index in np.argsort(-scores)[:starts]:
        result = minimize(
            cost,
            points[index] / limits,
            method="Nelder-Mead",
            options={"xatol": 2e-3, "fatol": 1e-4, "maxiter": 600},
        )
        optima.append((-float(result.fun), inside(result.x) * limits))
    optima.sort(key=lambda pair: -pair[0])
    distinct: list[tuple[float, np.ndarray]] = []
    for score, params in optima:
        if all(np.max(np.abs(params - other) / limits) > DISTINCT for _, other in distinct):
            distinct.append((score, params))
    return distinct[:candidates]


def _aberrations(params: np.ndarray) -> dict[str, float]:
    C10, c12_cos, c12_sin, C30, C50 = (float(v) for v in params)
    return {
        "C10": C10,
        "C12": float(np.hypot(c12_cos, c12_sin)),
        "phi12": float(np.arctan2(c12_sin, c12_cos) / 2 % np.pi),
        "C30": C30,
        "C50": C50,
    }


def _params_of(microscope) -> np.ndarray:
    """(C10, C12 cos 2φ12, C12 sin 2φ12, C30, C50) [Å] of ``microscope``'s lens."""
    lens = microscope.ctf.aberrations
    c12, angle = lens["C12"], lens["phi12"]
    return np.array(
        [lens["C10"], c12 * np.cos(2 * angle), c12 * np.sin(2 * angle), lens["C30"], lens["C50"]]
    )


def _through(home, params: np.ndarray):
    """``home`` with the aberrations ``params`` (its envelopes and camera kept)."""
    from atomscope.optics.ctf import CTF

    lens = _aberrations(params)
    ctf = CTF(
        energy=home.ctf.energy,
        C10=lens["C10"],
        Cs=lens["C30"],
        C5=lens["C50"],
        astigmatism=lens["C12"],
        astigmatism_angle=lens["phi12"],
        deflection=home.ctf.deflection,
        focal_spread=home.ctf.focal_spread,
    )
    return replace(home, ctf=ctf)


def search_lens(
    recognizer,
    image,
    sampling: float,
    threshold: float | None = None,
    ranges=None,
    candidates: int = 8,
    rng: int | np.random.Generator | None = 0,
    progress: bool = False,
    confidence: bool = False,
) -> LensEstimate:
    """Find the lens of ``image`` and the atoms seen through it (see the module).

    Parameters
    ----------
    recognizer
        A single-image graphene or gold `Recognizer` (its home lens is its model card's).
    image
        2D image [x, y] (HRTEM, weak-phase-like contrast).
    sampling
        Pixel size [Å].
    threshold
        t of Eq 6.16 for the returned atoms (default the model's; candidates are always
        compared at the model's own threshold).
    ranges
        `MicroscopeRanges` bounding the search (default the model preset's, seed Table 6.1).
    candidates
        Thon-ring optima tried; with the home lens and the round lenses of `ROUND_LENS_C10` ×
        `ROUND_LENS_C30` (the fits and the home lens with both signs: 2 × (``candidates`` + 1)
        + 26 recognitions).
    rng
        Seed or generator of the scan.
    progress
        Show a progress bar over the candidates.
    confidence
        Also measure the mirror agreement of the returned atoms (`Recognizer.predict`).

    Returns
    -------
    LensEstimate

    Examples
    --------
    >>> from atomscope.learning.data import generate
    >>> from atomscope.learning.infer import Recognizer
    >>> from atomscope.learning.randomize import draw, image_from_exit_wave
    >>> sheet = generate("polycrystalline", 1, rng=5, extent=20.0, sampling=0.1)
    >>> image = image_from_exit_wave(sheet.wave(0), draw(rng=8), rng=0)
    >>> found = search_lens(Recognizer.pretrained("graphene"), image.array, image.sampling[0],
    ...                     candidates=2)
    >>> sorted(found.aberrations), len(found.candidates)  # 2 × (2 fits + home) + 26 round
    (['C10', 'C12', 'C30', 'C50', 'phi12'], 32)
    """
    from tqdm.auto import tqdm

    from atomscope.core.validate import check_range
    from atomscope.learning.infer import Recognizer
    from atomscope.learning.lens_oracle import linear_transfer, reimage
    from atomscope.learning.randomize import PRESETS

    if not isinstance(recognizer, Recognizer):
        raise TypeError(f"recognizer must be a Recognizer, got {type(recognizer).__name__}")
    if recognizer.in_channels != 1:
        raise ValueError(
            f"recognizer must take one image for a lens search, it takes {recognizer.in_channels}"
        )
    array = check_finite_array("image", image, ndim=2).astype(np.float64)
    sampling = check_positive("sampling", sampling)
    if threshold is not None:
        threshold = check_range("threshold", threshold, 0.0, 1.0)
    home = home_microscope(recognizer, sampling)
    ranges = PRESETS[_preset(recognizer)] if ranges is None else ranges
    candidates = check_positive_int("candidates", candidates)
    spectrum, ranges = _fit_spectrum(array, sampling, home.ctf.energy, ranges)
    found = _thon_fit(spectrum, ranges, candidates, SCAN_POINTS, SCAN_STARTS, rng)
    target = linear_transfer(home, array.shape, sampling)
    limits = _limits(ranges)
    own = _params_of(home)
    fits = [p for _, p in found] + [own]
    # the round grid holds each lens's negative already (both axes symmetric about 0)
    round_lenses = [
        np.array([c10 * limits[0], 0.0, 0.0, c30 * limits[3], 0.0])
        for c10 in ROUND_LENS_C10
        for c30 in ROUND_LENS_C30
        if c10 or c30  # no lens at all transfers no phase
    ]
    tried, best = [], None
    for params in tqdm(
        [p for fit in fits for p in (fit, -fit)] + round_lenses,
        desc="lens candidates",
        disable=not progress,
    ):
        score = float(spectrum.thon(params)[0])
        if params is own:  # the home lens itself: the image as it is, not a regularised copy
            seen = array
        else:
            transfer = linear_transfer(_through(home, params), array.shape, sampling)
            seen = reimage(array, transfer, target, REGULARIZATION)
        recognition = recognizer.predict(seen.astype(np.float32), sampling)
        unexplained = spectrum.unexplained(recognition.positions, sampling, params)
        tried.append({**_aberrations(params), "unexplained": unexplained, "thon": score})
        if best is None or unexplained < best[0]:  # only the best image and atoms are kept
            best = (unexplained, score, params, seen, recognition)
    unexplained, score, params, seen, recognition = best
    if threshold is not None or confidence:
        recognition = recognizer.predict(
            seen.astype(np.float32), sampling, threshold=threshold, confidence=confidence
        )
    return LensEstimate(
        _aberrations(params),
        unexplained,
        score,
        recognition,
        tried,
    )
