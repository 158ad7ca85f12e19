"""Partial-coherence envelopes Es, Et (quasi-coherent) and the image-deflection envelope Ed.

Conventions (all widths are of Gaussians in the stated form; frequencies k in 1/Å, no 2π):

* Spatial coherence, seed Eqs 2.13–2.16: incident directions k_β distributed as
  p(k_β) = exp(−k_β²/k_s²) / (π k_s²) with k_s = β/λ, β the 1/e semi-angle. Linearising
  χ(k + k_β) ≈ χ(k) + ∇χ·k_β, each Cartesian component of k_β has variance k_s²/2, so
  ⟨exp(−i∇χ·k_β)⟩ = exp(−k_s² |∇χ|²/4) = exp(−β²/(4λ²) |∂χ/∂k|²). With ∂χ/∂k in rad·Å this
  is dimensionless and equals Kirkland's form exp(−(πβ/λ)² (Cs λ³k³ − Δf λ k)²) for
  defocus + Cs (Kirkland, Advanced Computing in Electron Microscopy, 2nd ed. 2010, ch. 3).
* Temporal coherence, seed Eqs 2.17–2.18: defocus offsets δ distributed as
  p(δ) = exp(−δ²/Δ²) / (√π Δ), Δ the 1/e half-width (rms Δ/√2). Since χ depends linearly on
  C10 with ∂χ/∂C10 = πλk², ⟨exp(−iπλk²δ)⟩ = exp(−Δ²(πλk²)²/4) = exp(−(½πλΔk²)²) exactly.
  (Kirkland's exp(−½(πλΔ_rms)²k⁴) is the same for Δ_rms = Δ/√2; abTEM's focal_spread is Δ.)
* Image deflection (vibration, drift, magnetic noise), seed Eq 2.19: the recorded intensity is
  the image averaged over random in-plane shifts s. For a Gaussian of standard deviation σ per
  axis, p(s) = exp(−|s|²/(2σ²)) / (2πσ²), the intensity spectrum is multiplied by
  ∫p(s) exp(−2πi k·s) d²s = exp(−2π²σ²k²). That is seed Eq 2.19 exp(−σ²q²/2) with q = 2πk
  (angular wavenumber) — the only reading in which Eq 2.19 is the Fourier transform of a
  normalised Gaussian; the seed's chapter-4 paper also calls σ "the standard deviation"
  (σ = 0.25 Å). It multiplies the *intensity* spectrum, not the wave.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.fft import fft2, ifft2
from atomscope.images import Images
from atomscope.optics.aberrations import Aberrations


def spatial_envelope(
    aberrations: Aberrations, kx: Any, ky: Any, wavelength: float, angular_spread: float
) -> np.ndarray:
    """Spatial-coherence envelope Es (seed Eq 2.16), float64.

    Parameters
    ----------
    aberrations
        The lens aberrations (their gradient sets the damping).
    kx, ky
        Spatial frequencies [1/Å] (broadcasting).
    wavelength
        Electron wavelength [Å].
    angular_spread
        β, the 1/e semi-angle of the illumination-angle distribution [mrad].

    Examples
    --------
    >>> es = spatial_envelope(Aberrations(defocus=500.0), 0.5, 0.0, 0.02, angular_spread=1.0)
    >>> bool(np.isclose(es, np.exp(-(np.pi * 1e-3 / 0.02 * 500 * 0.02 * 0.5) ** 2)))
    True
    """
    if angular_spread == 0:
        return np.ones(np.broadcast_shapes(np.shape(kx), np.shape(ky)))
    beta = angular_spread * 1e-3
    gx, gy = aberrations.chi_gradient(kx, ky, wavelength)
    # seed Eq 2.16: Es = exp(−β²/(4λ²) |∂χ/∂k|²)
    return np.exp(-(beta**2) / (4 * wavelength**2) * (gx**2 + gy**2))


def temporal_envelope(k2: Any, wavelength: float, focal_spread: float) -> np.ndarray:
    """Temporal-coherence envelope Et = exp(−(½ π λ Δ k²)²) (seed Eq 2.18), float64.

    Parameters
    ----------
    k2
        Squared spatial frequency k² [1/Å²].
    wavelength
        Electron wavelength [Å].
    focal_spread
        Δ, the 1/e half-width of the defocus distribution exp(−δ²/Δ²) [Å].

    Examples
    --------
    >>> float(temporal_envelope(1.0, 0.02, focal_spread=0.0))
    1.0
    """
    # seed Eq 2.18 with ∂χ/∂C10 = πλk²: Et = exp(−Δ²/4 (πλk²)²)
    return np.exp(-((0.5 * np.pi * wavelength * focal_spread * np.asarray(k2, float)) ** 2))


def deflection_envelope(k2: Any, deflection: float) -> np.ndarray:
    """Image-deflection envelope Ed = exp(−2π²σ²k²) on the intensity spectrum, float64.

    Seed Eq 2.19, exp(−σ²q²/2) with q = 2πk; σ = ``deflection`` is the standard deviation of
    the random image shift per axis [Å]. (For a 1/e radius r of exp(−s²/r²), pass r/√2.)

    Parameters
    ----------
    k2
        Squared spatial frequency k² [1/Å²].
    deflection
        σ [Å]. The seed's tables list 0–25 "Å", which would erase atomic contrast; they are
        read as 0–0.25 Å (its chapter-4 paper uses σ = 0.25 Å).

    Examples
    --------
    >>> round(float(deflection_envelope(1.0, deflection=0.25)), 4)
    0.2912
    """
    # seed Eq 2.19 with q = 2πk: Ed = exp(−σ²(2πk)²/2)
    return np.exp(-2 * np.pi**2 * deflection**2 * np.asarray(k2, float))


def deflect(images: Images, deflection: float) -> Images:
    """Blur an image intensity by the deflection envelope Ed (seed Eq 2.19), a new `Images`.

    Parameters
    ----------
    images
        Image intensity [..., x, y].
    deflection
        Standard deviation σ of the random image shift per axis [Å] (see `deflection_envelope`).

    Examples
    --------
    >>> flat = Images(np.ones((8, 8)), sampling=0.1)
    >>> float(deflect(flat, 0.25).array.mean())
    1.0
    """
    if not isinstance(images, Images):
        raise TypeError(f"images must be atomscope Images, got {type(images).__name__}")
    if deflection == 0:
        return images.with_array(images.array)
    envelope = deflection_envelope(images.grid.frequency_squared(), deflection)
    blurred = ifft2(fft2(images.array) * envelope.astype(np.float32)).real
    return images.with_array(blurred, deflection=deflection)


def focal_nodes(focal_spread: float, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite defocus offsets [Å] and weights for the focal-spread average.

    ∫ f(δ) exp(−δ²/Δ²)/(√π Δ) dδ ≈ Σ w_i f(δ_i) with δ_i = Δ x_i, w_i = ω_i/√π from the
    Gauss–Hermite rule (x_i, ω_i) for weight e^(−x²) (Abramowitz & Stegun 25.4.46); exact for
    polynomials of degree < 2·num_nodes. The weights sum to 1.

    Examples
    --------
    >>> offsets, weights = focal_nodes(30.0, 3)
    >>> np.round(offsets, 3), round(float(weights.sum()), 12)
    (array([-36.742,   0.   ,  36.742]), 1.0)
    """
    x, w = np.polynomial.hermite.hermgauss(num_nodes)
    # A&S 25.4.46 with δ = Δ x for p(δ) = exp(−δ²/Δ²)/(√π Δ)
    return focal_spread * x, w / np.sqrt(np.pi)
