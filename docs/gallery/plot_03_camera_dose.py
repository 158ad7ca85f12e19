"""
The camera: electron dose, shot noise and the MTF
=================================================

A simulated image is an intensity normalised to the vacuum (= 1). A camera with pixel size δ
at a dose D [e⁻/Å²] counts on average N = D δ² I electrons per pixel (seed Eq 2.22) and
records a Poisson draw of that number; the scintillator then spreads each electron over
neighbouring pixels, which the modulation transfer function describes (seed Eq 2.21,
``"rational"``). The MTF acts on the *noisy* counts, so the noise is coloured as on a real CCD:
its power spectrum is MTF² × the mean count (the seed's noise spectral density, Fig 2.4).

Below, the same noise-free HRTEM image of a gold particle is recorded at four doses, as in the
seed's dose series (its Fig 4.10), and the noise spectrum of an empty image is compared with
the MTF.
"""

import matplotlib.pyplot as plt
import numpy as np
from ase.cluster.cubic import FaceCenteredCubic

import atomscope as ats
from atomscope.plot import show_image

atoms = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [3, 4, 3])
atoms.center(vacuum=2)
potential = ats.Potential(atoms, sampling=0.05, slice_thickness=1.0)
ctf = ats.CTF(
    energy=300e3,
    Cs=6e6,
    defocus=ats.scherzer_defocus(6e6, 300e3),
    focal_spread=30,
    semiangle_cutoff=20,
)
image = ctf.image(ats.PlaneWave(energy=300e3).multislice(potential))
mtf = ats.MTF("rational", c1=0.1, c2=0.5, c3=2.5)

# %%
# A dose series
# -------------
# The same image and the same camera (0.15 Å pixels) at 10² to 10⁵ e⁻/Å². The relative noise
# per pixel is 1/√N: at 10² e⁻/Å² a pixel counts about 2 electrons and the lattice is lost.

doses = [1e2, 1e3, 1e4, 1e5]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), layout="constrained")
for ax, dose in zip(axes, doses, strict=True):
    counts = ats.Camera(sampling=0.15, dose=dose, mtf=mtf).detect(image, rng=0)
    mappable = show_image(ax, counts.array, counts.sampling, f"{dose:.0e} e⁻/Å²", scale_bar=False)
    fig.colorbar(mappable, ax=ax, label="electrons per pixel", shrink=0.8)
    ax.set_axis_on()
    ax.set_xlabel("x [Å]")
    ax.set_ylabel("y [Å]")
    expected = dose * counts.sampling[0] * counts.sampling[1]
    print(f"dose {dose:8.0e} e⁻/Å²: D δ² = {expected:7.1f}, mean counts {counts.array.mean():.1f}")
plt.show()

# %%
# Coloured noise: the MTF in the noise spectrum
# ---------------------------------------------
# An empty (vacuum) image carries no signal, so the power spectrum of its counts, divided by
# the mean count, is the noise spectral density; it follows MTF(q)², with q = k/k_N the
# fraction of the camera's Nyquist frequency.

vacuum = np.ones((512, 512))
camera = ats.Camera(sampling=0.15, dose=1e4, mtf=mtf)
counts = camera.detect(vacuum, sampling=0.15, rng=1).array
power = np.abs(np.fft.fft2(counts - counts.mean())) ** 2 / counts.size / counts.mean()
q = np.hypot(*np.meshgrid(2 * np.fft.fftfreq(512), 2 * np.fft.fftfreq(512), indexing="ij"))
bins = np.linspace(0, 1, 41)
which = np.digitize(q.ravel(), bins)
centres = 0.5 * (bins[1:] + bins[:-1])
density = [power.ravel()[which == i].mean() for i in range(1, len(bins))]

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(centres, density, "o", ms=4, label="noise spectrum of counts / mean count")
fine = np.linspace(0, 1, 200)
ax.plot(fine, mtf.evaluate(fine) ** 2, "k", label="MTF² (rational, c = 0.1, 0.5, 2.5)")
ax.plot(fine, mtf.evaluate(fine), "k--", lw=0.8, label="MTF")
ax.set_xlabel("spatial frequency q = k / k_Nyquist")
ax.set_ylabel("normalised noise power")
ax.set_title("camera noise spectral density (seed Eq 2.21, Fig 2.4)")
ax.legend(fontsize=8)
plt.show()
