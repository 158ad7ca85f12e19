"""
The contrast transfer function and its envelopes
================================================

The objective lens multiplies the exit wave's spectrum by exp(−iχ(k)); a weak phase object's
image contrast is then transferred by sin χ (seed Eqs 2.11–2.12). Partial coherence damps the
high frequencies by two envelopes (quasi-coherent approximation, seed Eq 2.20):

* the **temporal** envelope of a focal spread Δ (1/e width), Et = exp(−(½ π λ Δ k²)²)
  (seed Eq 2.18), from chromatic aberration with energy and lens-current spread;
* the **spatial** envelope of an illumination semi-angle β (1/e),
  ``Es = exp(−β²/(4λ²) |∂χ/∂k|²)`` (seed Eq 2.16), which depends on the aberrations: it
  does not damp where χ is flat.

The settings are the seed's Fig 2.3(b): 300 keV, Cs = 0.6 mm at Scherzer defocus
(``scherzer_defocus`` = 1.2 √(Cs λ) = 412.4 Å underfocus, i.e. C10 = −41.24 nm).
"""

import matplotlib.pyplot as plt
import numpy as np

import atomscope as ats

energy, Cs = 300e3, 6e6  # eV, Å (0.6 mm)
defocus = ats.scherzer_defocus(Cs, energy)
k = np.linspace(0, 1.0, 1000)  # spatial frequency [1/Å]

# %%
# The CTF at Scherzer defocus
# ---------------------------
# ``CTF.radial_profile`` returns χ, the aperture, every envelope and their product along a
# radial line; ``CTF.plot`` draws it with the point resolution (the first zero of sin χ).

ctf = ats.CTF(energy=energy, Cs=Cs, defocus=defocus, focal_spread=30, angular_spread=0.3)
profile = ctf.radial_profile(k)
print(f"Scherzer defocus {defocus:.1f} Å, point resolution {ctf.point_resolution():.3f} Å")

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
ax.plot(k, np.sin(profile.chi), color="0.75", lw=0.8, label="sin χ (coherent)")
ax.plot(k, profile.sin_chi, "k", label="Es · Et · sin χ")
ax.plot(k, profile.envelope, "k:", label="Es · Et")
ax.plot(k, -profile.envelope, "k:")
ax.axvline(1 / ctf.point_resolution(), color="C3", lw=0.8, label="point resolution")
ax.set_xlabel("spatial frequency k [1/Å]")
ax.set_ylabel("phase-contrast transfer")
ax.set_title("CTF, 300 keV, Cs 0.6 mm, Scherzer defocus, Δ = 30 Å, β = 0.3 mrad")
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %%
# Temporal envelope: focal spread
# -------------------------------
# Et depends only on k (through k² λ Δ): a larger focal spread moves the information limit,
# where Et falls to 1/e², to lower frequencies. The limit is k = √(2√2 / (π λ Δ)) here.

wavelength = ats.energy2wavelength(energy)
k = np.linspace(0, 1.6, 1000)  # wider range [1/Å]: the information limits
fig, ax1 = plt.subplots(figsize=(6, 4), layout="constrained")
for focal_spread in (20, 40, 80):
    lens = ats.CTF(energy=energy, Cs=Cs, defocus=defocus, focal_spread=focal_spread)
    envelope = lens.radial_profile(k).temporal
    (line,) = ax1.plot(k, envelope, label=f"Δ = {focal_spread} Å")
    limit = np.sqrt(2 * np.sqrt(2) / (np.pi * wavelength * focal_spread))
    ax1.axvline(limit, color=line.get_color(), lw=0.6, ls="--")
ax1.set_xlabel("spatial frequency k [1/Å]")
ax1.set_ylabel("Et")
ax1.set_title("temporal envelope (seed Eq 2.18)")
ax1.legend()
plt.show()

# %%
# Spatial envelope: illumination convergence
# ------------------------------------------
# Es is damped where the phase gradient ∂χ/∂k is large. At Scherzer defocus the defocus and
# Cs terms of ∂χ/∂k cancel near k ≈ 0.45 /Å, where Es recovers towards 1.

fig, ax2 = plt.subplots(figsize=(6, 4), layout="constrained")
for beta in (0.1, 0.3, 0.6):
    lens = ats.CTF(energy=energy, Cs=Cs, defocus=defocus, angular_spread=beta)
    ax2.plot(k, lens.radial_profile(k).spatial, label=f"β = {beta} mrad")
ax2.set_xlabel("spatial frequency k [1/Å]")
ax2.set_ylabel("Es")
ax2.set_title("spatial envelope (seed Eq 2.16)")
ax2.legend()
plt.show()
