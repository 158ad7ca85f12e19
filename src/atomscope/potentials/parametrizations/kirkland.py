"""Kirkland (2010) parametrization: three Lorentzians plus three Gaussians."""

from __future__ import annotations

import numpy as np
from scipy import special

from atomscope.potentials.parametrizations.base import A0E, Parametrization


class Kirkland(Parametrization):
    """E. J. Kirkland, Advanced Computing in Electron Microscopy, 2nd ed. (2010), App. C.

    f_e(k) = Σ a_i / (k² + b_i) + Σ c_i exp(−d_i k²), i = 1..3, with a [1/Å], b [1/Å²],
    c [Å], d [Å²], k [1/Å]; Z = 1..103.

    Examples
    --------
    >>> from atomscope.potentials.parametrizations import load_parametrization
    >>> load_parametrization("kirkland").max_z
    103
    """

    name = "kirkland"

    def _parameters(self, Z: int, entry: dict) -> tuple:
        return tuple(np.array(entry[key]) for key in ("a", "b", "c", "d"))

    def _scattering_factor(self, params: tuple, k: np.ndarray) -> np.ndarray:
        a, b, c, d = params
        k2 = k**2
        result = np.zeros(k.shape)
        for i in range(3):
            # Kirkland 2010, App. C, f_e(k).
            result += a[i] / (k2 + b[i]) + c[i] * np.exp(-d[i] * k2)
        return result

    def _potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        a, b, c, d = params
        result = np.zeros(r.shape)
        for i in range(3):
            # Kirkland 2010, App. C: 2π² a0 e Σ a e^{−2πr√b}/r + 2π^{5/2} a0 e Σ c d^{−3/2} e^{−π²r²/d}.
            result += 2 * np.pi**2 * A0E * a[i] * np.exp(-2 * np.pi * r * np.sqrt(b[i])) / r
            result += 2 * np.pi**2.5 * A0E * c[i] * d[i] ** -1.5 * np.exp(-(np.pi**2) * r**2 / d[i])
        return result

    def _projected_potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        a, b, c, d = params
        result = np.zeros(r.shape)
        for i in range(3):
            # Kirkland 2010, App. C: 4π² a0 e Σ a K0(2πr√b) + 2π² a0 e Σ (c/d) e^{−π²r²/d}.
            result += 4 * np.pi**2 * A0E * a[i] * special.k0(2 * np.pi * r * np.sqrt(b[i]))
            result += 2 * np.pi**2 * A0E * c[i] / d[i] * np.exp(-(np.pi**2) * r**2 / d[i])
        return result

    def _gaussians(self, params: tuple) -> tuple[np.ndarray, np.ndarray]:
        _, _, c, d = params
        return 2 * np.pi**2.5 * A0E * c * d**-1.5, np.pi**2 / d

    def _supports(self, params: tuple) -> np.ndarray:
        # e^{−2πR√b} < 1e-14 beyond R = 32 / (2π√b).
        return 32 / (2 * np.pi * np.sqrt(params[1]))

    def _rv_term(self, params: tuple, term: int, radius: np.ndarray) -> np.ndarray:
        a, b = params[0][term], params[1][term]
        # R·V_i(R) of the Lorentzian (Yukawa) terms of V above (Kirkland 2010, App. C).
        return 2 * np.pi**2 * A0E * a * np.exp(-2 * np.pi * radius * np.sqrt(b))
