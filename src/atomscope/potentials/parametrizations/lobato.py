"""Lobato & Van Dyck (2014) parametrization: five terms a (2 + b k²) / (1 + b k²)²."""

from __future__ import annotations

import numpy as np
from scipy import special

from atomscope.potentials.parametrizations.base import A0E, Parametrization


class Lobato(Parametrization):
    """I. Lobato and D. Van Dyck, Acta Cryst. A70 (2014) 636, Z = 1..103.

    f_e(k) = Σ a_i (2 + b_i k²) / (1 + b_i k²)², with a_i [Å], b_i [Å²], k [1/Å]. Each term is
    (a/b) / (k² + 1/b) + (a/b²) / (k² + 1/b)², whose transforms give the closed forms below.

    Examples
    --------
    >>> from atomscope.potentials.parametrizations import load_parametrization
    >>> load_parametrization("lobato").max_z
    103
    """

    name = "lobato"

    def _parameters(self, Z: int, entry: dict) -> tuple:
        return np.array(entry["a"]), np.array(entry["b"])

    def _scattering_factor(self, params: tuple, k: np.ndarray) -> np.ndarray:
        result = np.zeros(k.shape)
        k2 = k**2
        for a, b in zip(*params, strict=True):
            # Lobato & Van Dyck 2014, f_e(g) with g = k.
            result += a * (2 + b * k2) / (1 + b * k2) ** 2
        return result

    def _potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        result = np.zeros(r.shape)
        for a, b in zip(*params, strict=True):
            root = np.sqrt(b)
            # Lobato & Van Dyck 2014: V = 2π² a0 e Σ (a/b) e^{−2πr/√b} (1/r + π/√b).
            result += (
                2 * np.pi**2 * A0E * a / b * np.exp(-2 * np.pi * r / root) * (1 / r + np.pi / root)
            )
        return result

    def _projected_potential(self, params: tuple, r: np.ndarray) -> np.ndarray:
        result = np.zeros(r.shape)
        for a, b in zip(*params, strict=True):
            x = 2 * np.pi * r / np.sqrt(b)
            x_k1 = np.where(x > 0, x * special.k1(x), 1.0)  # x K1(x) → 1 as x → 0
            # Lobato & Van Dyck 2014: v_z = 4π² a0 e Σ (a/b) [K0(x) + (x/2) K1(x)], x = 2πr/√b.
            result += 4 * np.pi**2 * A0E * a / b * (special.k0(x) + 0.5 * x_k1)
        return result

    def _supports(self, params: tuple) -> np.ndarray:
        # e^{−2πR/√b} < 1e-14 beyond R = 32 √b / (2π).
        return 32 * np.sqrt(params[1]) / (2 * np.pi)

    def _rv_term(self, params: tuple, term: int, radius: np.ndarray) -> np.ndarray:
        a, b = params[0][term], params[1][term]
        root = np.sqrt(b)
        # R·V_i(R) of the Lobato closed form above.
        return (
            2
            * np.pi**2
            * A0E
            * a
            / b
            * np.exp(-2 * np.pi * radius / root)
            * (1 + np.pi * radius / root)
        )
