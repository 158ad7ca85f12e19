"""`Camera`: resample → Poisson shot noise → MTF, in that fixed order (seed §2.6)."""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.rng import as_generator
from atomscope.core.validate import check_choice, check_pair, check_real
from atomscope.detection.mtf import MTF
from atomscope.detection.resample import METHODS, resample
from atomscope.images import Images

#: Largest count numpy's Poisson sampler draws (λ below 2⁶³ − 10·2^31.5 ≈ 9.2e18).
POISSON_LIMIT = 9.2e18
#: Largest expected count per pixel at unit intensity (vacuum), dose × pixel area [e⁻]: it
#: leaves pixels 9000 × brighter than vacuum within `POISSON_LIMIT`.
MAX_COUNTS_PER_PIXEL = 1e15


def _check_dose(dose: Any) -> float | None:
    if dose is None:
        return None
    if isinstance(dose, (int, float, np.integer, np.floating)) and dose == np.inf:
        return None
    dose = check_real("dose", dose)
    if dose <= 0:
        raise ValueError(f"dose must be > 0 [e/Å²] (or None / inf for no noise), got {dose}")
    return dose


class Camera:
    """A pixelated camera: resampling, shot noise N = D δ² I (seed Eq 2.22), then the MTF.

    The MTF acts on the noisy counts, so the noise is coloured as on a scintillator-coupled
    CCD: its power spectrum is MTF² × mean counts (the seed's NSD, Fig 2.4).

    Parameters
    ----------
    sampling
        Camera pixel size δ referred to the specimen [Å] (scalar or (x, y)); the pixel count is
        rounded so the field of view is kept, and the exact δ is in the output.
    dose
        Electron dose D [e⁻/Å²], > 0 and at most `MAX_COUNTS_PER_PIXEL` / δ² (so the counts
        fit numpy's Poisson sampler); ``None`` or ``inf`` gives the noise-free image in units
        of the normalised intensity (vacuum = 1) instead of counts.
    mtf
        An `MTF`, or None for an ideal detector.
    resample
        ``"fourier"`` (crop / pad the spectrum) or ``"bilinear"`` (band-limit, interpolate).

    Examples
    --------
    >>> camera = Camera(sampling=0.2, dose=1e4)
    >>> counts = camera.detect(np.ones((64, 64)), sampling=0.05, rng=0)
    >>> counts.shape, counts.sampling, round(float(counts.array.mean()), -1)
    ((16, 16), (0.2, 0.2), 400.0)
    """

    def __init__(
        self,
        sampling: float | tuple[float, float],
        dose: float | None,
        mtf: MTF | None = None,
        resample: str = "fourier",
    ):
        self.sampling = check_pair("sampling", sampling)
        self.dose = _check_dose(dose)
        pixel_area = self.sampling[0] * self.sampling[1]
        if self.dose is not None and self.dose * pixel_area > MAX_COUNTS_PER_PIXEL * (1 + 1e-9):
            raise ValueError(
                f"dose={self.dose:g} e⁻/Å² gives {self.dose * pixel_area:.3g} counts per "
                f"{self.sampling[0]:g}×{self.sampling[1]:g} Å pixel at vacuum intensity; allowed: "
                f"0 < dose ≤ {MAX_COUNTS_PER_PIXEL / pixel_area:.3g} e⁻/Å² (at most "
                f"{MAX_COUNTS_PER_PIXEL:g} counts per pixel, for numpy's Poisson sampler)"
            )
        if mtf is not None and not isinstance(mtf, MTF):
            raise TypeError(f"mtf must be an atomscope MTF or None, got {type(mtf).__name__}")
        self.mtf = mtf
        self.resample = check_choice("resample", resample, METHODS)

    def __repr__(self) -> str:
        return (
            f"Camera(sampling={self.sampling}, dose={self.dose}, mtf={self.mtf!r}, "
            f"resample={self.resample!r})"
        )

    def parameters(self) -> dict[str, Any]:
        """Every setting, e.g. for metadata or a JSON summary."""
        return {
            "sampling": self.sampling,
            "dose": self.dose,
            "mtf": None if self.mtf is None else self.mtf.parameters(),
            "resample": self.resample,
        }

    def detect(
        self,
        image: Images | np.ndarray,
        rng: int | np.random.Generator | None = None,
        sampling: float | tuple[float, float] | None = None,
    ) -> Images:
        """Record ``image`` (normalised intensity, vacuum = 1) on this camera.

        Parameters
        ----------
        image
            `Images`, or a real array [..., x, y] together with ``sampling``.
        rng
            Seed or generator for the shot noise (same seed → bit-identical counts).
        sampling
            Pixel size of a plain array [Å]; not allowed with `Images`.

        Returns
        -------
        Images
            Counts (float32; non-integer after the MTF) at the camera's pixel size, metadata
            extended with ``camera`` (all settings), ``dose``, ``mtf`` and ``units``.
            Negative intensities (resampling ringing) are clipped to 0 before the noise.

        Examples
        --------
        >>> from atomscope.images import Images
        >>> camera = Camera(sampling=0.1, dose=None, mtf=MTF("rational", 0.1, 0.5, 2.5))
        >>> out = camera.detect(Images(np.ones((20, 20)), sampling=0.1))
        >>> out.metadata["units"], bool(np.allclose(out.array, 1.0))
        ('normalised intensity', True)
        """
        if isinstance(image, Images):
            if sampling is not None:
                raise ValueError("sampling must not be given with Images (they carry their own)")
            array, image_sampling, metadata = image.array, image.sampling, image.metadata
        else:
            if sampling is None:
                raise ValueError("sampling [Å] is required when image is a plain array")
            array, image_sampling, metadata = image, check_pair("sampling", sampling), {}
        generator = as_generator(rng)
        # 1. resample to the camera pixel size (anti-aliased)
        intensity, pixel = resample(array, image_sampling, self.sampling, self.resample)
        if self.dose is None:
            signal, units = intensity, "normalised intensity"
        else:
            # 2. shot noise, seed Eq 2.22: N_i = D δ² I_i, Poisson distributed
            expected = self.dose * pixel[0] * pixel[1] * np.clip(intensity, 0, None)
            if expected.max() > POISSON_LIMIT:
                raise ValueError(
                    f"dose={self.dose:g} e⁻/Å² on an image of intensity up to "
                    f"{np.max(intensity):.3g} expects up to {expected.max():.3g} counts per "
                    f"pixel, above the {POISSON_LIMIT:g} numpy's Poisson sampler draws: use a "
                    "lower dose"
                )
            signal, units = generator.poisson(expected).astype(np.float64), "counts"
        # 3. MTF on the noisy counts (seed §2.6, Eq 2.21)
        if self.mtf is not None:
            signal = self.mtf.apply(signal)
        return Images(
            signal,
            pixel,
            {
                **metadata,
                "camera": self.parameters(),
                "dose": self.dose,
                "mtf": None if self.mtf is None else self.mtf.parameters(),
                "units": units,
            },
        )
