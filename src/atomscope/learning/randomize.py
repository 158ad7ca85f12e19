"""The randomized microscope of seed Table 6.1: a fresh lens and camera for every training image.

`MicroscopeRanges` is a plain, documented config of parameter ranges; `draw` turns it into one
`Microscope` (a `CTF`, a `Camera` and brightness / contrast / gamma jitter) and
`image_from_exit_wave` images a precomputed exit wave through it; `FocalSeries` images it at
the defoci of a focal series (seed Eq 6.19). All draws take ``rng`` and are bit-reproducible.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from atomscope.core.rng import as_generator
from atomscope.core.validate import (
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_real,
)

if TYPE_CHECKING:  # imaging is imported when a microscope is drawn: the ranges stay light
    from atomscope.detection.camera import Camera
    from atomscope.images import Images
    from atomscope.optics.ctf import CTF


@dataclass(frozen=True)
class MicroscopeRanges:
    """Ranges (low, high) of the randomized microscope; uniform unless said otherwise.

    Defaults are the seed's Table 6.1 for an 80 kV graphene microscope, in atomscope units
    (aberrations in Å). The table's deflection of 0–25 "Å" is read as 0–0.25 Å (DESIGN.md: the
    seed's chapter-4 paper uses σ = 0.25 Å; 25 Å would erase all atomic contrast).

    Attributes
    ----------
    energy
        Electron energy [eV] (fixed, not drawn).
    C10
        Defocus C10 = Δf of the seed [Å] (−200…200; symmetric, so the sign convention of
        ``defocus`` = −C10 does not change the distribution).
    Cs
        C30 [Å] (−20…20 µm).
    C5
        C50 [Å] (0…5 mm).
    astigmatism
        C12 magnitude [Å] (0…100).
    astigmatism_angle
        phi12 [rad] (0…2π).
    deflection
        σ of the image deflection envelope, seed Eq 2.19 [Å] (0…0.25).
    focal_spread
        Δ, 1/e width of the defocus spread, seed Eq 2.18 [Å] (20…40).
    dose
        Electron dose [e⁻/Å²] (10…1e4), drawn log-uniformly (the table's "exponential").
    mtf_c1, mtf_c2, mtf_c3
        Parameters of the ``"exp_gauss"`` MTF (0…0.1, 0.4…0.6, 2…3).
    sampling
        Camera pixel size [Å] (scale jitter by random resampling; 0.108…0.132 around the
        seed's 0.12 Å).
    brightness
        Offset added to the mean-normalised image (−0.1…0.1).
    contrast
        Factor on the deviations from the mean (0.8…1.2).
    gamma
        Power applied to the mean-normalised image (0.8…1.2).

    Examples
    --------
    >>> ranges = MicroscopeRanges()
    >>> ranges.deflection, ranges.energy
    ((0.0, 0.25), 80000.0)
    >>> replace(ranges, dose=(1e4, 1e4)).dose
    (10000.0, 10000.0)
    """

    energy: float = 80e3
    C10: tuple[float, float] = (-200.0, 200.0)
    Cs: tuple[float, float] = (-20e4, 20e4)
    C5: tuple[float, float] = (0.0, 5e7)
    astigmatism: tuple[float, float] = (0.0, 100.0)
    astigmatism_angle: tuple[float, float] = (0.0, 2 * math.pi)
    deflection: tuple[float, float] = (0.0, 0.25)
    focal_spread: tuple[float, float] = (20.0, 40.0)
    dose: tuple[float, float] = (1e1, 1e4)
    mtf_c1: tuple[float, float] = (0.0, 0.1)
    mtf_c2: tuple[float, float] = (0.4, 0.6)
    mtf_c3: tuple[float, float] = (2.0, 3.0)
    sampling: tuple[float, float] = (0.108, 0.132)
    brightness: tuple[float, float] = (-0.1, 0.1)
    contrast: tuple[float, float] = (0.8, 1.2)
    gamma: tuple[float, float] = (0.8, 1.2)

    def __post_init__(self):
        object.__setattr__(self, "energy", check_positive("energy", self.energy))
        for field in fields(self):
            if field.name == "energy":
                continue
            value = getattr(self, field.name)
            if np.ndim(value) != 1 or len(value) != 2:
                raise ValueError(f"{field.name} must be a range (low, high), got {value!r}")
            low, high = (float(v) for v in value)
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise ValueError(
                    f"{field.name} must be finite (low, high) with low <= high, got {value!r}"
                )
            object.__setattr__(self, field.name, (low, high))
        for name in ("dose", "sampling", "mtf_c2", "mtf_c3", "contrast", "gamma"):
            if getattr(self, name)[0] <= 0:
                raise ValueError(f"{name} must be > 0, got range {getattr(self, name)}")
        if self.mtf_c1[0] < 0 or self.mtf_c1[1] > 1:
            raise ValueError(f"mtf_c1 must lie in [0, 1], got range {self.mtf_c1}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON / checkpoint friendly)."""
        return asdict(self)


#: Seed Table 6.1, 80 kV graphene microscope (deflection read as 0–0.25 Å).
GRAPHENE_80KV = MicroscopeRanges()


def check_ranges(ranges, energy: float) -> MicroscopeRanges:
    """``ranges`` if it is a `MicroscopeRanges` at ``energy`` [eV] (that of the exit waves it
    will image), else a `TypeError` / `ValueError` naming it.

    Examples
    --------
    >>> check_ranges(GRAPHENE_80KV, 80e3).energy
    80000.0
    """
    if not isinstance(ranges, MicroscopeRanges):
        raise TypeError(f"ranges must be MicroscopeRanges, got {type(ranges).__name__}")
    if ranges.energy != energy:
        raise ValueError(
            f"ranges.energy ({ranges.energy} eV) must equal the exit waves' energy ({energy} eV)"
        )
    return ranges


def read_ranges(path) -> dict[str, tuple[float, float]]:
    """Overrides of `MicroscopeRanges` from a TOML or JSON file, e.g. ``dose = [3e3, 3e4]``.

    Every key must be a range of `MicroscopeRanges` (``energy`` is the preset's) and every value
    a pair low ≤ high; anything else is a `ValueError` naming the file and the key.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ranges.toml"
    >>> _ = path.write_text("dose = [3e3, 3e4]\\nC10 = [-100, 100]")
    >>> read_ranges(path)
    {'dose': (3000.0, 30000.0), 'C10': (-100.0, 100.0)}
    """
    import json
    import tomllib
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"ranges file {str(path)!r} could not be read: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"ranges file {str(path)!r} must hold a table of ranges")
    names = [f.name for f in fields(MicroscopeRanges) if f.name != "energy"]
    ranges = {}
    for key, value in data.items():
        if key not in names:
            raise ValueError(
                f"ranges file {str(path)!r}: unknown parameter {key!r}; allowed: {', '.join(names)}"
            )
        if np.ndim(value) != 1 or len(value) != 2:
            raise ValueError(f"ranges file {str(path)!r}: {key} must be [low, high], got {value!r}")
        low, high = (check_real(f"{key} (in {path})", v) for v in value)
        if low > high:
            raise ValueError(f"ranges file {str(path)!r}: {key} has low {low:g} > high {high:g}")
        ranges[key] = (low, high)
    MicroscopeRanges(**ranges)  # the remaining checks (positive doses, MTF limits)
    return ranges


#: Gold particles at 300 kV: Table 6.1's lens and camera ranges at 300 kV and a 0.1 Å camera
#: pixel (±10 %); the seed gives no separate table for its gold training.
GOLD_300KV = MicroscopeRanges(energy=300e3, sampling=(0.09, 0.11))
#: Gold atom counting from a focal series (seed §6.4.2): Cs −20…−10 µm as the seed's counting
#: network; C5 and the rest from Table 6.1 as `GOLD_300KV`, except the two-fold astigmatism,
#: kept to 0…10 Å as for the shipped gold model (atomscope's choice), and the dose, 1e3…1e6
#: e⁻/Å² log-uniform, the total over the focal series (the doses of seed Fig 6.30). C10 is not
#: used: the focal series sets each image's defocus (`FocalSeries`, Eq 6.19).
GOLD_COUNTING_300KV = replace(
    GOLD_300KV, Cs=(-20e4, -10e4), astigmatism=(0.0, 10.0), dose=(1e3, 1e6)
)
PRESETS = {"graphene": GRAPHENE_80KV, "gold": GOLD_300KV, "gold-counting": GOLD_COUNTING_300KV}
#: Curriculum start / mixture component (atomscope's choice, not the seed's): high dose and the
#: negative-Cs imaging lens (bright atoms), C10 around `ncsi_defocus` for Cs −14…−10 µm
#: (75…88 Å at 80 kV; the seed's evaluation microscope, Cs −12 µm, C10 +84 Å, lies inside).
EASY_RANGES = {
    "C10": (70.0, 100.0),
    "Cs": (-14e4, -10e4),
    "C5": (0.0, 0.0),
    "astigmatism": (0.0, 10.0),
    "dose": (1e4, 1e6),
}
#: The same for gold at 300 kV: `ncsi_defocus` is 51…61 Å for Cs −10…−14 µm.
GOLD_EASY_RANGES = {**EASY_RANGES, "C10": (40.0, 70.0)}
#: Counting: the gold easy lens (Cs −14…−10 µm; its C10 is not used, the focal series sets the
#: defocus) with little astigmatism and a high total dose (for a curriculum or a mixture).
GOLD_COUNTING_EASY_RANGES = {**GOLD_EASY_RANGES, "astigmatism": (0.0, 2.0), "dose": (1e5, 1e6)}
PRESET_EASY_RANGES = {
    "graphene": EASY_RANGES,
    "gold": GOLD_EASY_RANGES,
    "gold-counting": GOLD_COUNTING_EASY_RANGES,
}
#: Focal series (seed Eq 6.19): Δf_k = Δf_0 + k·step + U(−jitter, jitter) [Å], Δf_0 = −170 Å.
FOCAL_START = -170.0
FOCAL_STEP = 130.0
FOCAL_JITTER = 20.0


def ncsi_defocus(energy: float, Cs: float) -> float:
    """Defocus C10 [Å] of negative spherical-aberration imaging for a given C30 = ``Cs`` < 0 [Å].

    Lentzen's optimum for a transfer limit g (Microsc. Microanal. 12, 191 (2006)):
    Cs = −(64/27)/(λ³ g⁴) and C10 = (16/9)/(λ g²) (positive C10 = overfocus here); g is
    eliminated for the given Cs. The image shows bright atoms on a dark background.

    Examples
    --------
    >>> round(ncsi_defocus(80e3, -12e4))  # the seed's evaluation microscope uses +84 Å
    82
    """
    from atomscope.core.energy import energy2wavelength

    if not Cs < 0:
        raise ValueError(f"Cs must be negative for negative-Cs imaging, got {Cs}")
    wavelength = energy2wavelength(energy)
    # Lentzen 2006: g⁴ = (64/27)/(λ³|Cs|), C10 = (16/9)/(λ g²)
    g_squared = math.sqrt(64 / 27 / (wavelength**3 * abs(Cs)))
    return 16 / 9 / (wavelength * g_squared)


def blend(start: MicroscopeRanges, end: MicroscopeRanges, fraction: float) -> MicroscopeRanges:
    """Ranges whose bounds go linearly from ``start`` (fraction 0) to ``end`` (fraction 1).

    Examples
    --------
    >>> easy = replace(GRAPHENE_80KV, C10=(80.0, 90.0))
    >>> blend(easy, GRAPHENE_80KV, 0.5).C10
    (-60.0, 145.0)
    """
    if start.energy != end.energy:
        raise ValueError(f"start.energy ({start.energy}) must equal end.energy ({end.energy})")
    fraction = min(max(float(fraction), 0.0), 1.0)
    changes = {
        f.name: tuple(
            (1 - fraction) * a + fraction * b
            for a, b in zip(getattr(start, f.name), getattr(end, f.name), strict=True)
        )
        for f in fields(MicroscopeRanges)
        if f.name != "energy"
    }
    return replace(end, **changes)


@dataclass(frozen=True)
class Microscope:
    """One drawn microscope: lens, camera and the image jitter.

    Attributes
    ----------
    ctf
        Objective lens (quasi-coherent, with focal spread and deflection).
    camera
        Camera (pixel size [Å], dose [e⁻/Å²], exp_gauss MTF).
    brightness, contrast, gamma
        Jitter of the mean-normalised image (see `image_from_exit_wave`).
    """

    ctf: CTF
    camera: Camera
    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0

    def parameters(self) -> dict[str, Any]:
        """Every setting, e.g. for a JSON record of a training image."""
        return {
            "ctf": self.ctf.parameters(),
            "camera": self.camera.parameters(),
            "brightness": self.brightness,
            "contrast": self.contrast,
            "gamma": self.gamma,
        }


def draw(
    ranges: MicroscopeRanges = GRAPHENE_80KV, rng: int | np.random.Generator | None = None
) -> Microscope:
    """Draw one random microscope from ``ranges`` (seed §6.3.7, Table 6.1).

    Parameters
    ----------
    ranges
        The parameter ranges; default Table 6.1 (80 kV graphene).
    rng
        Seed or generator; the same seed gives the same microscope.

    Returns
    -------
    Microscope

    Examples
    --------
    >>> microscope = draw(GRAPHENE_80KV, rng=0)
    >>> microscope.ctf.energy, 10 <= microscope.camera.dose <= 1e4
    (80000.0, True)
    >>> draw(rng=0).parameters() == draw(rng=0).parameters()
    True
    """
    if not isinstance(ranges, MicroscopeRanges):
        raise TypeError(f"ranges must be MicroscopeRanges, got {type(ranges).__name__}")
    from atomscope.detection.camera import Camera
    from atomscope.detection.mtf import MTF
    from atomscope.optics.ctf import CTF

    rng = as_generator(rng)

    def uniform(name: str) -> float:
        low, high = getattr(ranges, name)
        return float(rng.uniform(low, high))

    # Table 6.1: every parameter uniform, the dose "exponential" (log-uniform)
    ctf = CTF(
        energy=ranges.energy,
        C10=uniform("C10"),
        Cs=uniform("Cs"),
        C5=uniform("C5"),
        astigmatism=uniform("astigmatism"),
        astigmatism_angle=uniform("astigmatism_angle"),
        deflection=uniform("deflection"),
        focal_spread=uniform("focal_spread"),
    )
    dose = float(np.exp(rng.uniform(*np.log(ranges.dose))))
    mtf = MTF("exp_gauss", uniform("mtf_c1"), uniform("mtf_c2"), uniform("mtf_c3"))
    camera = Camera(sampling=uniform("sampling"), dose=dose, mtf=mtf)
    return Microscope(ctf, camera, uniform("brightness"), uniform("contrast"), uniform("gamma"))


def refocus(microscope: Microscope, C10: float) -> Microscope:
    """The same microscope with defocus C10 [Å] (e.g. one image of a focal series, Eq 6.19).

    Examples
    --------
    >>> refocus(draw(rng=0), 50.0).ctf.aberrations["C10"]
    50.0
    """
    from atomscope.optics.ctf import CTF

    return replace(microscope, ctf=CTF(**{**microscope.ctf.parameters(), "C10": C10}))


@dataclass(frozen=True)
class FocalSeries:
    """How the images of a focal series are taken: defocus per image and the dose split.

    With ``start`` given, image k is taken at (seed Eq 6.19, the seed's Δf = C10)

        C10_k = start + k·step + U(−jitter, jitter) [Å],  k = 0 … num_images − 1,

    each image with its own jitter, and the microscope's dose is the *total* over the series
    (each image gets dose / num_images), as in seed Fig 6.30. The seed's counting series is
    ``FocalSeries()``: C10 = −170, −40, +90 Å ± 20 Å, i.e. ``defocus`` = −C10 = +170, +40,
    −90 Å (underfocus first). With ``start=None`` image 0 keeps the microscope's own C10 and
    image k ≥ 1 is at C10_0 + k·step + U(−jitter, jitter), each image at the full dose
    (atomscope's first focal-series training, kept for the models trained with it).

    Attributes
    ----------
    num_images
        Images in the series (≥ 1).
    start
        C10 of image 0 before its jitter [Å], or None (the microscope's C10).
    step
        C10 step between images [Å].
    jitter
        Half-width of the uniform jitter of each image's C10 [Å] (≥ 0).
    total_dose
        The microscope's dose is the total over the series (True) or per image (False).

    Examples
    --------
    >>> series = FocalSeries()
    >>> [round(c) for c in series.nominal_defoci()]
    [-170, -40, 90]
    >>> all(abs(c - n) <= 20 for c, n in zip(series.defoci(0), series.nominal_defoci()))
    True
    """

    num_images: int = 3
    start: float | None = FOCAL_START
    step: float = FOCAL_STEP
    jitter: float = FOCAL_JITTER
    total_dose: bool = True

    def __post_init__(self):
        object.__setattr__(self, "num_images", check_positive_int("num_images", self.num_images))
        if self.start is not None:
            object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "step", check_real("step", self.step))
        object.__setattr__(self, "jitter", check_nonnegative("jitter", self.jitter))
        object.__setattr__(self, "total_dose", bool(self.total_dose))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON / model-file friendly)."""
        return asdict(self)

    def nominal_defoci(self, first: float = 0.0) -> list[float]:
        """C10 of each image without the jitter [Å] (``first``: image 0's C10 when
        ``start`` is None)."""
        base = first if self.start is None else self.start
        return [base + k * self.step for k in range(self.num_images)]

    def _defocus(self, k: int, first: float, rng: np.random.Generator) -> float:
        # Eq 6.19: Δf_k = Δf_0 + k·step + U(−jitter, jitter); without a start image 0 is the
        # microscope's own C10 and draws no jitter
        if self.start is None and k == 0:
            return first
        return self.nominal_defoci(first)[k] + float(rng.uniform(-self.jitter, self.jitter))

    def defoci(self, rng: int | np.random.Generator | None, first: float = 0.0) -> list[float]:
        """One draw of the images' C10 [Å] (Eq 6.19)."""
        rng = as_generator(rng)
        return [self._defocus(k, first, rng) for k in range(self.num_images)]

    def images(
        self, waves, microscope: Microscope, rng: int | np.random.Generator | None = None
    ) -> list[Images]:
        """The series of an exit wave: image k through ``microscope`` refocused to C10_k.

        Draws, per image, its C10 jitter and then its shot noise from ``rng``.

        Parameters
        ----------
        waves
            Exit wave (`Waves`), one 2D wave [x, y].
        microscope
            From `draw` (its C10 is only used when ``start`` is None).
        rng
            Seed or generator.

        Returns
        -------
        list of Images
            ``num_images`` images, ordered k = 0, 1, …; ``metadata["microscope"]`` holds each
            image's C10 and dose.

        Examples
        --------
        >>> from atomscope.waves.waves import Waves
        >>> wave = Waves(np.ones((64, 64), complex), sampling=0.05, energy=300e3)
        >>> ranges = replace(GOLD_COUNTING_300KV, dose=(3e3, 3e3))
        >>> series = FocalSeries().images(wave, draw(ranges, rng=1), rng=2)
        >>> [round(image.metadata["microscope"]["camera"]["dose"], 6) for image in series]
        [1000.0, 1000.0, 1000.0]
        """
        from atomscope.detection.camera import Camera

        rng = as_generator(rng)
        camera = microscope.camera
        if self.total_dose and self.num_images > 1:
            camera = Camera(
                sampling=camera.sampling,
                dose=camera.dose / self.num_images,
                mtf=camera.mtf,
                resample=camera.resample,
            )
        each = replace(microscope, camera=camera)
        first = float(microscope.ctf.aberrations["C10"])
        series = []
        for k in range(self.num_images):
            C10 = self._defocus(k, first, rng)
            lens = each if self.start is None and k == 0 else refocus(each, C10)
            series.append(image_from_exit_wave(waves, lens, rng))
        return series


#: Presets whose models take a focal series of their own: the seed's counting series (Eq 6.19).
PRESET_FOCAL_SERIES = {"gold-counting": FocalSeries()}


def _fast_camera(camera: Camera, extent: tuple[float, float]) -> Camera:
    """The camera with its pixel adjusted to an FFT-friendly pixel count over ``extent``."""
    from scipy.fft import next_fast_len

    from atomscope.detection.camera import Camera

    counts = [
        next_fast_len(max(2, round(e / s))) for e, s in zip(extent, camera.sampling, strict=True)
    ]
    sampling = tuple(e / n for e, n in zip(extent, counts, strict=True))
    return Camera(sampling=sampling, dose=camera.dose, mtf=camera.mtf, resample=camera.resample)


def image_from_exit_wave(
    waves, microscope: Microscope, rng: int | np.random.Generator | None = None
) -> Images:
    """Image an exit wave through ``microscope``: lens, camera, then brightness/contrast/gamma.

    The camera pixel is nudged (by < 3 %) so that the pixel count has only factors 2, 3, 5, 7
    and 11 (`scipy.fft.next_fast_len`): FFT plans are then reused across draws. The lens step is ``microscope.ctf.image(waves)`` (quasi-coherent focal spread, seed Eq 2.18;
    deflection blur of the intensity, Eq 2.19); the camera resamples to its pixel size, draws
    Poisson counts (Eq 2.22) and applies its MTF. The counts are divided by their mean, then
    I → contrast · (max(I, 0)^gamma − 1) + 1 + brightness.

    Parameters
    ----------
    waves
        Exit wave (`Waves`), one 2D wave [x, y].
    microscope
        From `draw`.
    rng
        Seed or generator for the shot noise.

    Returns
    -------
    Images
        Float32 image at the camera pixel size (mean ≈ 1 + brightness), with
        ``metadata["microscope"]``.

    Examples
    --------
    >>> from atomscope.waves.waves import Waves
    >>> wave = Waves(np.ones((64, 64), complex), sampling=0.05, energy=80e3)
    >>> image = image_from_exit_wave(wave, draw(rng=1), rng=2)
    >>> image.array.dtype, 25 <= image.shape[0] <= 30
    (dtype('float32'), True)
    """
    from atomscope.images import Images
    from atomscope.waves.waves import Waves

    if not isinstance(waves, Waves) or waves.array.ndim != 2:
        raise TypeError(f"waves must be a 2D atomscope Waves, got {type(waves).__name__}")
    if not isinstance(microscope, Microscope):
        raise TypeError(f"microscope must be a Microscope, got {type(microscope).__name__}")
    intensity = microscope.ctf.image(waves)
    detected = _fast_camera(microscope.camera, waves.extent).detect(intensity, rng=rng)
    counts = detected.array.astype(np.float64)
    mean = counts.mean()
    normalised = counts / mean if mean > 0 else np.ones_like(counts)
    jittered = (
        microscope.contrast * (np.clip(normalised, 0, None) ** microscope.gamma - 1)
        + 1
        + microscope.brightness
    )
    return Images(jittered, detected.sampling, {"microscope": microscope.parameters()})
