"""Polar (Krivanek) aberration coefficients of the objective lens and the phase error χ.

χ(α, φ) = 2π/λ Σ_nm 1/(n+1) C_nm α^(n+1) cos(m (φ − φ_nm)) with α = λk the scattering angle
[rad] (seed Eq 2.10 in polar form; Krivanek et al., Ultramicroscopy 78, 1 (1999)).
Coefficients are in Å, angles φ_nm in rad. ``defocus`` is an alias for −C10 (positive =
underfocus, as abTEM and Kirkland), ``Cs`` for C30, ``C5`` for C50, ``astigmatism`` /
``astigmatism_angle`` for C12 / phi12 and ``coma`` / ``coma_angle`` for C21 / phi21.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from atomscope.core.validate import check_real

#: (n, m) orders up to 5th order; m ≡ n + 1 (mod 2), 0 ≤ m ≤ n + 1.
ORDERS: tuple[tuple[int, int], ...] = (
    (1, 0), (1, 2),
    (2, 1), (2, 3),
    (3, 0), (3, 2), (3, 4),
    (4, 1), (4, 3), (4, 5),
    (5, 0), (5, 2), (5, 4), (5, 6),
)  # fmt: skip
COEFFICIENTS: tuple[str, ...] = tuple(f"C{n}{m}" for n, m in ORDERS)
ANGLES: tuple[str, ...] = tuple(f"phi{n}{m}" for n, m in ORDERS if m > 0)
SYMBOLS: tuple[str, ...] = COEFFICIENTS + ANGLES
#: alias -> (symbol, sign): the symbol's value is sign × alias value.
ALIASES: dict[str, tuple[str, float]] = {
    "defocus": ("C10", -1.0),
    "Cs": ("C30", 1.0),
    "C5": ("C50", 1.0),
    "astigmatism": ("C12", 1.0),
    "astigmatism_angle": ("phi12", 1.0),
    "coma": ("C21", 1.0),
    "coma_angle": ("phi21", 1.0),
}
NAMES: tuple[str, ...] = SYMBOLS + tuple(ALIASES)


def resolve_aberrations(parameters: Mapping[str, Any]) -> dict[str, float]:
    """Map names (symbols or aliases) to symbols, checking every name and value.

    Raises ``ValueError`` for an unknown name (listing the allowed names) or when an alias and
    its symbol are both given, ``TypeError``/``ValueError`` for a non-real or non-finite value.
    """
    resolved: dict[str, float] = {}
    given_as: dict[str, str] = {}
    for name, value in parameters.items():
        if name in ALIASES:
            symbol, sign = ALIASES[name]
        elif name in SYMBOLS:
            symbol, sign = name, 1.0
        else:
            raise ValueError(f"unknown aberration {name!r}; allowed names are {', '.join(NAMES)}")
        if symbol in resolved:
            raise ValueError(
                f"aberration {name!r} and {given_as[symbol]!r} both set {symbol}; give only one"
            )
        resolved[symbol] = sign * check_real(name, value)
        given_as[symbol] = name
    return resolved


class Aberrations:
    """Immutable set of polar aberration coefficients (unset ones are zero).

    Parameters
    ----------
    **parameters
        Coefficients C_nm [Å] and angles phi_nm [rad] by symbol (``C10``, ``C12``, ``phi12``,
        ... ``C56``, ``phi56``) or alias (``defocus`` = −C10, ``Cs`` = C30, ``C5`` = C50,
        ``astigmatism``, ``astigmatism_angle``, ``coma``, ``coma_angle``).

    Examples
    --------
    >>> aberrations = Aberrations(defocus=100.0, Cs=1e6)
    >>> aberrations["C10"], aberrations.defocus
    (-100.0, 100.0)
    >>> round(float(aberrations.chi(0.5, 0.0, wavelength=0.02)), 4)
    -0.7854
    """

    __slots__ = ("_values",)

    def __init__(self, **parameters: float):
        values = dict.fromkeys(SYMBOLS, 0.0)
        values.update(resolve_aberrations(parameters))
        object.__setattr__(self, "_values", values)

    def __setattr__(self, name, value):
        raise AttributeError("Aberrations is immutable; use .replace(...) for a modified copy")

    def __reduce__(self):
        # pickled by value (for Dask workers), rebuilt through the checked constructor
        return (Aberrations._from_symbols, (dict(self._values),))

    @staticmethod
    def _from_symbols(values: dict[str, float]) -> Aberrations:
        return Aberrations(**values)

    def __getitem__(self, symbol: str) -> float:
        if symbol in ALIASES:
            name, sign = ALIASES[symbol]
            return sign * self._values[name]
        if symbol not in self._values:
            raise KeyError(f"unknown aberration {symbol!r}; allowed names are {', '.join(NAMES)}")
        return self._values[symbol]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Aberrations) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.nonzero().items())
        return f"Aberrations({items})"

    @property
    def defocus(self) -> float:
        """Defocus −C10 [Å] (positive = underfocus)."""
        return -self._values["C10"]

    @property
    def Cs(self) -> float:
        """Third-order spherical aberration C30 [Å]."""
        return self._values["C30"]

    def nonzero(self) -> dict[str, float]:
        """Symbols whose value is not zero, in canonical order."""
        return {k: v for k, v in self._values.items() if v != 0.0}

    def to_dict(self) -> dict[str, float]:
        """All 25 symbols and their values (a copy)."""
        return dict(self._values)

    def replace(self, **parameters: float) -> Aberrations:
        """A copy with the given coefficients (symbols or aliases) replaced."""
        new = resolve_aberrations(parameters)
        return Aberrations(**{**self._values, **new})

    def rotated(self, angle: float) -> Aberrations:
        """Aberrations rotated by ``angle`` [rad]: every φ_nm increases by ``angle``.

        Then χ_rotated(R(angle) k) = χ(k) for the rotation R in the (kx, ky) plane.
        """
        angle = check_real("angle", angle)
        return Aberrations(**{**self._values, **{a: self._values[a] + angle for a in ANGLES}})

    def _terms(self):
        for (n, m), symbol in zip(ORDERS, COEFFICIENTS, strict=True):
            value = self._values[symbol]
            if value != 0.0:
                yield n, m, value, self._values.get(f"phi{n}{m}", 0.0)

    def chi(self, kx: Any, ky: Any, wavelength: float) -> np.ndarray:
        """Phase error χ [rad] at spatial frequencies (kx, ky) [1/Å] (broadcasting).

        χ = 2π/λ Σ 1/(n+1) C_nm α^(n+1) cos(m(φ − φ_nm)), α = λk (seed Eq 2.10, polar form).

        Examples
        --------
        >>> chi = Aberrations(C10=10.0).chi([0.0, 1.0], 0.0, wavelength=0.02)
        >>> np.allclose(chi, np.pi * 0.02 * 10.0 * np.array([0.0, 1.0]))
        True
        """
        kx, ky = np.broadcast_arrays(np.asarray(kx, float), np.asarray(ky, float))
        alpha = wavelength * np.hypot(kx, ky)
        phi = np.arctan2(ky, kx)
        chi = np.zeros(alpha.shape)
        for n, m, c, angle in self._terms():
            # seed Eq 2.10 (Krivanek polar): 1/(n+1) C_nm α^(n+1) cos(m(φ−φ_nm))
            chi += c / (n + 1) * alpha ** (n + 1) * np.cos(m * (phi - angle))
        return 2 * np.pi / wavelength * chi

    def chi_gradient(self, kx: Any, ky: Any, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
        """Analytic gradient (∂χ/∂kx, ∂χ/∂ky) [rad·Å] at (kx, ky) [1/Å] (broadcasting).

        In polar form ∂χ/∂k = 2π Σ C_nm α^n cos(m(φ−φ_nm)) and
        (1/k) ∂χ/∂φ = −2π Σ m/(n+1) C_nm α^n sin(m(φ−φ_nm)), with α = λk; the Cartesian
        components follow by rotating (radial, tangential) by φ. Needed for Es (seed Eq 2.16).

        Examples
        --------
        >>> gx, gy = Aberrations(C10=10.0).chi_gradient(0.5, 0.0, wavelength=0.02)
        >>> bool(np.isclose(gx, 2 * np.pi * 0.02 * 10.0 * 0.5)), float(gy)
        (True, 0.0)
        """
        kx, ky = np.broadcast_arrays(np.asarray(kx, float), np.asarray(ky, float))
        alpha = wavelength * np.hypot(kx, ky)
        phi = np.arctan2(ky, kx)
        radial = np.zeros(alpha.shape)
        tangential = np.zeros(alpha.shape)
        for n, m, c, angle in self._terms():
            # d/dk of seed Eq 2.10: radial 2π C α^n cos(m(φ−φ_nm)), tangential from ∂/∂φ
            radial += c * alpha**n * np.cos(m * (phi - angle))
            tangential -= m / (n + 1) * c * alpha**n * np.sin(m * (phi - angle))
        radial *= 2 * np.pi
        tangential *= 2 * np.pi
        cos, sin = np.cos(phi), np.sin(phi)
        return radial * cos - tangential * sin, radial * sin + tangential * cos
