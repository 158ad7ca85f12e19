"""Weickenmeier & Kohl (1991) parametrization: Mott–Bethe on a six-Gaussian X-ray form factor."""

from __future__ import annotations

import numpy as np
from scipy import special

from atomscope.potentials.parametrizations.base import A0E, BOHR, Parametrization


def _one_minus_exp_over(x: np.ndarray) -> np.ndarray:
    """(1 − e^{−x}) / x, equal to 1 at x = 0."""
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, -np.expm1(-safe) / safe, 1.0)


class WeickenmeierKohl(Parametrization):
    """A. Weickenmeier and H. Kohl, Acta Cryst. A47 (1991) 590 (QSTEM's default), Z = 1..98.

    The X-ray form factor is f_x(s) = Z Σ α_i exp(−B_i s²) with α_1..3 = 1/(3(1+v)) and
    α_4..6 = v/(3(1+v)); Mott–Bethe gives f_e(s) = Σ A_i (1 − exp(−B_i s²)) / s² with
    A_i = Z α_i / (8π² a0) [1/Å], s = k/2. Hydrogen comes from Barthel's fit to Kirkland's
    table (it is not in the 1991 paper).

    Examples
    --------
    >>> from atomscope.potentials.parametrizations import load_parametrization
    >>> load_parametrization("weickenmeier_kohl").max_z
    98
    """

    name = "weickenmeier_kohl"

    def _parameters(self, Z: int, entry: dict) -> tuple:
        v = entry["v"]
        alpha = np.repeat([1 / (3 * (1 + v)), v / (3 * (1 + v))], 3)
        # Weickenmeier & Kohl 1991: A_i = Z α_i / (8π² a0) (Mott–Bethe constant).
        return Z * alpha / (8 * np.pi**2 * BOHR), np.array(entry["B"])

    def _scattering_factor(self, params: tuple, k: np.ndarray) -> np.ndarray:
        s2 = k**2 / 4
        result = np.zeros(k.shape)
        for a, b in zip(*params, strict=True):
            # Weickenmeier & Kohl 1991, Mott–Bethe: A (1 − e^{−B s²}) / s² = A B (1 − e^{−x}) / x.
            result += a * b * _one_minus_exp_over(b * s2)
        return result

    def _potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        result = np.zeros(r.shape)
        for a, b in zip(*params, strict=True):
            # Weickenmeier & Kohl 1991: V = 8π² a0 e Σ A erfc(2πr/√B) / r.
            result += 8 * np.pi**2 * A0E * a * special.erfc(2 * np.pi * r / np.sqrt(b)) / r
        return result

    def _projected_potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        result = np.zeros(r.shape)
        for a, b in zip(*params, strict=True):
            # 2D transform of A (1 − e^{−B k²/4}) / (k²/4): 8π² a0 e A E1(4π² r² / B).
            result += 8 * np.pi**2 * A0E * a * special.exp1(4 * np.pi**2 * r**2 / b)
        return result

    def _supports(self, params: tuple) -> np.ndarray:
        # erfc(2πR/√B) < 1e-16 beyond R = 6 √B / (2π).
        return 6 * np.sqrt(params[1]) / (2 * np.pi)

    def _rv_term(self, params: tuple, term: int, radius: np.ndarray) -> np.ndarray:
        a, b = params[0][term], params[1][term]
        # R·V_i(R) of the Weickenmeier–Kohl V above.
        return 8 * np.pi**2 * A0E * a * special.erfc(2 * np.pi * radius / np.sqrt(b))
