"""`CTF`: the objective lens — aberrations, aperture and partial-coherence envelopes."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import brentq

from atomscope.core.energy import energy2wavelength
from atomscope.core.grid import Grid
from atomscope.core.validate import (
    check_choice,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)
from atomscope.images import Images
from atomscope.optics.aberrations import Aberrations
from atomscope.optics.apertures import aperture
from atomscope.optics.envelopes import (
    deflect,
    deflection_envelope,
    focal_nodes,
    spatial_envelope,
    temporal_envelope,
)

FOCAL_INTEGRATIONS = ("quasi_coherent", "gauss_hermite")
#: Upper bounds of the partial-coherence parameters: generous physical limits that keep the
#: envelopes (Eqs 2.16, 2.18, 2.19) finite in floating point
MAX_FOCAL_SPREAD = 1e4  # [Å]
MAX_ANGULAR_SPREAD = 100.0  # [mrad]
MAX_DEFLECTION = 100.0  # [Å]


class RadialProfile(NamedTuple):
    """The CTF along a radial line; every field is an array over ``k`` [1/Å].

    ``envelope`` = aperture × Es × Et × Ed; ``sin_chi`` = envelope · sin χ is the phase-contrast
    transfer (a weak phase object's image contrast is −2 σV ∗ F⁻¹{sin χ ...}), ``cos_chi`` =
    envelope · cos χ the amplitude-contrast transfer.
    """

    k: np.ndarray
    chi: np.ndarray
    aperture: np.ndarray
    spatial: np.ndarray
    temporal: np.ndarray
    deflection: np.ndarray
    envelope: np.ndarray
    sin_chi: np.ndarray
    cos_chi: np.ndarray


def _check_cutoff(value: Any) -> float:
    if isinstance(value, (int, float, np.integer, np.floating)) and value == np.inf:
        return float("inf")
    return check_positive("semiangle_cutoff", value)


class CTF:
    """Contrast transfer function of the objective lens (seed Eq 2.20).

    ``evaluate(grid)`` gives the wave transfer aperture × exp(−iχ) × Es × Et in FFT order. The
    deflection envelope Ed is an incoherent blur of the *image*, so it is applied to the
    intensity (`apply_deflection`, or `image` for the whole lens step) rather than to the wave as
    the seed's Eq 2.20 writes it; both agree to first order (weak-phase object) but only the
    intensity blur is right for strong scatterers.

    Parameters
    ----------
    energy
        Electron energy [eV], > 0.
    semiangle_cutoff
        Objective aperture semi-angle [mrad], > 0; ``inf`` (default) means no aperture.
    soft
        Soft aperture edge (linear over ``aperture_taper``) instead of a hard one.
    aperture_taper
        Width of the soft edge [mrad]; default one reciprocal pixel of the grid (λ/extent).
    focal_spread
        Δ, 1/e half-width of the Gaussian defocus distribution exp(−δ²/Δ²) [Å] (seed Eq 2.18),
        0 to `MAX_FOCAL_SPREAD` (1 µm; real instruments have 20–100 Å).
    angular_spread
        β, 1/e semi-angle of the Gaussian illumination-angle distribution [mrad] (Eq 2.16),
        0 to `MAX_ANGULAR_SPREAD` (100 mrad; real illumination is below 1 mrad).
    deflection
        σ, standard deviation per axis of the random image shift [Å] (Eq 2.19 with q = 2πk),
        0 to `MAX_DEFLECTION` (100 Å, far past erasing every lattice fringe).
    focal_integration
        ``"quasi_coherent"`` (envelope Et) or ``"gauss_hermite"`` (exact incoherent sum of
        images over ``focal_nodes`` defocus values; see `evaluate_focal_series`).
    focal_nodes
        Number of Gauss–Hermite nodes for ``"gauss_hermite"``.
    **aberrations
        Polar coefficients [Å] / angles [rad] by symbol or alias (see `Aberrations`), e.g.
        ``Cs=6e6, defocus=412.4``.

    Examples
    --------
    >>> from atomscope.core.grid import Grid
    >>> ctf = CTF(energy=300e3, Cs=6e6, defocus=412.4, semiangle_cutoff=20, focal_spread=30)
    >>> array = ctf.evaluate(Grid(gpts=64, sampling=0.1))
    >>> array.dtype, array.shape, complex(array[0, 0])
    (dtype('complex64'), (64, 64), (1+0j))
    >>> round(ctf.point_resolution(), 3)
    1.679
    """

    def __init__(
        self,
        energy: float,
        semiangle_cutoff: float = float("inf"),
        soft: bool = False,
        aperture_taper: float | None = None,
        focal_spread: float = 0.0,
        angular_spread: float = 0.0,
        deflection: float = 0.0,
        focal_integration: str = "quasi_coherent",
        focal_nodes: int = 9,
        **aberrations: float,
    ):
        self.energy = check_positive("energy", energy)
        self.semiangle_cutoff = _check_cutoff(semiangle_cutoff)
        if not isinstance(soft, (bool, np.bool_)):
            raise TypeError(f"soft must be True or False, got {soft!r}")
        self.soft = bool(soft)
        if aperture_taper is not None:
            if not self.soft:
                raise ValueError(f"aperture_taper={aperture_taper!r} needs soft=True")
            aperture_taper = check_positive("aperture_taper", aperture_taper)
        self.aperture_taper = aperture_taper
        self.focal_spread = check_range("focal_spread", focal_spread, 0, MAX_FOCAL_SPREAD)
        self.angular_spread = check_range("angular_spread", angular_spread, 0, MAX_ANGULAR_SPREAD)
        self.deflection = check_range("deflection", deflection, 0, MAX_DEFLECTION)
        self.focal_integration = check_choice(
            "focal_integration", focal_integration, FOCAL_INTEGRATIONS
        )
        self.focal_nodes = check_positive_int("focal_nodes", focal_nodes)
        self.aberrations = Aberrations(**aberrations)
        self.wavelength = energy2wavelength(self.energy)

    def __repr__(self) -> str:
        parameters = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"CTF({parameters})"

    def parameters(self) -> dict[str, Any]:
        """Every setting (nonzero aberrations by symbol), e.g. for a JSON summary."""
        return {
            "energy": self.energy,
            "semiangle_cutoff": self.semiangle_cutoff,
            "soft": self.soft,
            "aperture_taper": self.aperture_taper,
            "focal_spread": self.focal_spread,
            "angular_spread": self.angular_spread,
            "deflection": self.deflection,
            "focal_integration": self.focal_integration,
            "focal_nodes": self.focal_nodes,
            **self.aberrations.nonzero(),
        }

    def _taper(self, grid: Grid) -> float:
        if not self.soft:
            return 0.0
        if self.aperture_taper is not None:
            return self.aperture_taper
        return self.wavelength * max(grid.reciprocal_sampling) * 1e3  # one pixel [mrad]

    def _lens(self, kx, ky, aberrations: Aberrations, taper: float) -> np.ndarray:
        """aperture × Es × exp(−iχ) for one set of aberrations (complex128)."""
        alpha = self.wavelength * np.hypot(kx, ky)
        amplitude = aperture(alpha, self.semiangle_cutoff, taper)
        amplitude = amplitude * spatial_envelope(
            aberrations, kx, ky, self.wavelength, self.angular_spread
        )
        # seed Eq 2.12: T = exp(−iχ)
        return amplitude * np.exp(-1j * aberrations.chi(kx, ky, self.wavelength))

    def _support(self, grid: Grid, taper: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frequencies kx, ky [1/Å] (1D) where the aperture transmits, and that (nx, ny) mask.

        The lens is evaluated only there: a 20 mrad aperture keeps ~1 % of a 0.05 Å grid.
        """
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an atomscope Grid, got {type(grid).__name__}")
        kx, ky = grid.frequencies()
        k_max = (self.semiangle_cutoff + taper / 2) * 1e-3 / self.wavelength  # α = λk
        support = np.add.outer(kx**2, ky**2) <= k_max**2
        rows, columns = np.nonzero(support)
        return kx[rows], ky[columns], support

    def evaluate(self, grid: Grid) -> np.ndarray:
        """Quasi-coherent wave transfer A · exp(−iχ) · Es · Et on ``grid``, complex64, FFT order.

        Examples
        --------
        >>> from atomscope.core.grid import Grid
        >>> ctf = CTF(energy=300e3, C10=-100.0)
        >>> ctf.evaluate(Grid(gpts=(8, 4), sampling=0.5)).shape
        (8, 4)
        """
        taper = self._taper(grid)
        kx, ky, support = self._support(grid, taper)
        transfer = self._lens(kx, ky, self.aberrations, taper)
        # seed Eq 2.20 (Ed is applied to the intensity, see apply_deflection)
        transfer *= temporal_envelope(kx**2 + ky**2, self.wavelength, self.focal_spread)
        out = np.zeros(grid.gpts, dtype=np.complex64)
        out[support] = transfer
        return out

    def focal_series(self, num_nodes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Gauss–Hermite defocus offsets [Å] (positive = more underfocus) and weights.

        Summing the image intensities over the nodes with these weights is the exact incoherent
        focal-spread average over exp(−δ²/Δ²) (weights sum to 1); ``num_nodes`` defaults to
        ``focal_nodes``. Without focal spread there is one node at 0 with weight 1.

        Examples
        --------
        >>> offsets, weights = CTF(energy=300e3, focal_spread=30).focal_series(5)
        >>> len(offsets), round(float(weights.sum()), 12)
        (5, 1.0)
        """
        num_nodes = self.focal_nodes if num_nodes is None else num_nodes
        num_nodes = check_positive_int("num_nodes", num_nodes)
        if self.focal_spread == 0:
            return np.zeros(1), np.ones(1)
        return focal_nodes(self.focal_spread, num_nodes)

    def evaluate_focal_series(
        self, grid: Grid, num_nodes: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Wave transfers at each focal node (no Et), complex64 (num_nodes, nx, ny), and weights.

        The image is Σ_i w_i |F⁻¹{ψ₀ T_i}|² (then `apply_deflection`).

        Examples
        --------
        >>> from atomscope.core.grid import Grid
        >>> ctf = CTF(energy=300e3, Cs=6e6, focal_spread=30)
        >>> arrays, weights = ctf.evaluate_focal_series(Grid(gpts=16, sampling=0.2), 4)
        >>> arrays.shape, arrays.dtype
        ((4, 16, 16), dtype('complex64'))
        """
        offsets, weights = self.focal_series(num_nodes)
        taper = self._taper(grid)
        kx, ky, support = self._support(grid, taper)
        arrays = np.zeros((len(offsets), *grid.gpts), dtype=np.complex64)
        for i, offset in enumerate(offsets):
            shifted = self.aberrations.replace(C10=self.aberrations["C10"] - offset)
            arrays[i][support] = self._lens(kx, ky, shifted, taper)
        return arrays, weights

    def apply_deflection(self, images: Images) -> Images:
        """Blur the image intensity by the deflection envelope Ed (seed Eq 2.19), new `Images`.

        Examples
        --------
        >>> from atomscope.images import Images
        >>> flat = Images(np.ones((8, 8)), sampling=0.1)
        >>> float(CTF(energy=300e3, deflection=0.25).apply_deflection(flat).array.mean())
        1.0
        """
        return deflect(images, self.deflection)

    def image(self, waves) -> Images:
        """The whole lens step, ``waves.apply_ctf(self).intensity()``.

        The image wave remembers this lens, so its ``intensity()`` includes the deflection blur
        Ed and, for ``"gauss_hermite"``, the weighted sum over the focal nodes.
        """
        return waves.apply_ctf(self).intensity()

    def radial_profile(self, k: Any, angle: float = 0.0) -> RadialProfile:
        """The CTF and its envelopes along a radial line at azimuth ``angle`` [rad].

        Parameters
        ----------
        k
            Spatial frequencies [1/Å] (1D array, ≥ 0).
        angle
            Azimuth of the line [rad] (matters only with non-round aberrations).

        Notes
        -----
        A soft aperture without ``aperture_taper`` is drawn hard here (its default taper is
        one pixel of a grid, and a profile has no grid).

        Examples
        --------
        >>> ctf = CTF(energy=300e3, Cs=6e6, defocus=412.4, focal_spread=30)
        >>> profile = ctf.radial_profile(np.linspace(0, 1, 5))
        >>> bool(profile.sin_chi[1] < 0), float(profile.temporal[0])
        (True, 1.0)
        """
        k = _check_k(k)
        angle = check_real("angle", angle)
        kx, ky = k * np.cos(angle), k * np.sin(angle)
        chi = self.aberrations.chi(kx, ky, self.wavelength)
        taper = self.aperture_taper if self.aperture_taper is not None else 0.0
        parts = {
            "aperture": aperture(self.wavelength * k, self.semiangle_cutoff, taper),
            "spatial": spatial_envelope(
                self.aberrations, kx, ky, self.wavelength, self.angular_spread
            ),
            "temporal": temporal_envelope(k**2, self.wavelength, self.focal_spread),
            "deflection": deflection_envelope(k**2, self.deflection),
        }
        envelope = parts["aperture"] * parts["spatial"] * parts["temporal"] * parts["deflection"]
        return RadialProfile(
            k=k,
            chi=chi,
            envelope=envelope,
            sin_chi=envelope * np.sin(chi),
            cos_chi=envelope * np.cos(chi),
            **parts,
        )

    def point_resolution(self, angle: float = 0.0, max_k: float = 10.0) -> float:
        """1/k_p [Å], k_p the first zero of sin χ (k > 0) along azimuth ``angle`` [rad].

        Envelopes and aperture are ignored (a property of the aberrations alone); returns
        ``inf`` if sin χ has no zero below ``max_k`` [1/Å]. At Scherzer defocus this equals
        `scherzer_point_resolution`.

        Examples
        --------
        >>> round(CTF(energy=300e3, Cs=6e6, defocus=412.4).point_resolution(), 3)
        1.679
        """
        angle = check_real("angle", angle)
        max_k = check_positive("max_k", max_k)

        def sin_chi(k):
            return np.sin(
                self.aberrations.chi(k * np.cos(angle), k * np.sin(angle), self.wavelength)
            )

        k = np.linspace(0, max_k, 200_001)[1:]
        values = sin_chi(k)
        crossings = np.flatnonzero(np.sign(values[1:]) != np.sign(values[:-1]))
        if len(crossings) == 0:
            return float("inf")
        i = crossings[0]
        return float(1 / brentq(sin_chi, k[i], k[i + 1], xtol=1e-14))

    def plot(self, max_k: float | None = None, ax=None):
        """Radial profile figure: damped sin χ, envelopes, point resolution marked.

        Parameters
        ----------
        max_k
            Upper frequency [1/Å]; default 1.2 × the aperture (or 2 × 1/point resolution).
        ax
            A matplotlib Axes to draw into; a new figure is made if None.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> fig = CTF(energy=300e3, Cs=6e6, defocus=412.4, focal_spread=30).plot(max_k=1.0)
        >>> len(fig.axes)
        1
        """
        from matplotlib.figure import Figure

        resolution = self.point_resolution()
        if max_k is None:
            if np.isfinite(self.semiangle_cutoff):
                max_k = 1.2 * self.semiangle_cutoff * 1e-3 / self.wavelength
            else:
                max_k = 2 / resolution if np.isfinite(resolution) else 2.0
        max_k = check_positive("max_k", max_k)
        if ax is None:
            fig = Figure(figsize=(6, 4))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        profile = self.radial_profile(np.linspace(0, max_k, 2000))
        ax.plot(profile.k, profile.sin_chi, "k-", label="envelope · sin χ")
        ax.plot(profile.k, profile.envelope, "k:", label="envelope")
        for name, label in (
            ("spatial", "Es"),
            ("temporal", "Et"),
            ("deflection", "Ed (intensity)"),
            ("aperture", "aperture"),
        ):
            values = getattr(profile, name)
            if np.any(values < 1):
                ax.plot(profile.k, values, "--", label=label)
        if np.isfinite(resolution) and 1 / resolution <= max_k:
            ax.axvline(1 / resolution, color="C3", lw=0.8)
            ax.annotate(
                f" point resolution {resolution:.2f} Å",
                (1 / resolution, -1.0),
                color="C3",
                fontsize=8,
            )
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xlim(0, max_k)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("spatial frequency k [1/Å]")
        ax.set_ylabel("transfer")
        ax.set_title(f"CTF, {self.energy / 1e3:g} keV")
        ax.legend(loc="upper right", fontsize=7)
        return fig


def _check_k(k: Any) -> np.ndarray:
    """Return ``k`` as a 1D float array of finite values ≥ 0 [1/Å], or raise naming ``k``."""
    array = np.atleast_1d(np.asarray(k, dtype=float))
    if array.ndim != 1 or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"k must be a 1D array of finite frequencies >= 0 [1/Å], got {k!r}")
    return array
