"""Peng, Ren, Dudarev & Whelan (1996) parametrization: five Gaussians in s = k/2."""

from __future__ import annotations

import numpy as np

from atomscope.potentials.parametrizations.base import A0E, Parametrization


class Peng(Parametrization):
    """L.-M. Peng et al., Acta Cryst. A52 (1996) 257, fit over 0 < s < 6 1/Å, Z = 1..98.

    f_e(s) = Σ a_i exp(−b_i s²), s = k/2, a [Å], b [Å²]. With k: Gaussians exp(−(b/4) k²), so
    V and v_z are Gaussians too (Kirkland 2010, Eq 5.9 termwise) and finite at r = 0.

    Examples
    --------
    >>> from atomscope.potentials.parametrizations import load_parametrization
    >>> load_parametrization("peng").max_z
    98
    """

    name = "peng"

    def _parameters(self, Z: int, entry: dict) -> tuple:
        return np.array(entry["a"]), np.array(entry["b"])

    def _scattering_factor(self, params: tuple, k: np.ndarray) -> np.ndarray:
        result = np.zeros(k.shape)
        for a, b in zip(*params, strict=True):
            # Peng et al. 1996, f_e(s) with s = k/2.
            result += a * np.exp(-b * k**2 / 4)
        return result

    def _potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        amplitudes, exponents = self._gaussians(params)
        result = np.zeros(r.shape)
        for amplitude, alpha in zip(amplitudes, exponents, strict=True):
            result += amplitude * np.exp(-alpha * r**2)
        return result

    def _projected_potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        result = np.zeros(r.shape)
        for a, b in zip(*params, strict=True):
            # 2D transform of a e^{−(b/4)k²}: 2π² a0 e a (4/b) e^{−4π²r²/b}.
            result += 2 * np.pi**2 * A0E * a * 4 / b * np.exp(-4 * np.pi**2 * r**2 / b)
        return result

    def _gaussians(self, params: tuple) -> tuple[np.ndarray, np.ndarray]:
        a, b = params
        # 3D transform of a e^{−(b/4)k²}: 2π^{5/2} a0 e a (4/b)^{3/2} e^{−4π²r²/b}.
        return 2 * np.pi**2.5 * A0E * a * (4 / b) ** 1.5, 4 * np.pi**2 / b
