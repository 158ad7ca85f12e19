"""`MTF`: modulation transfer function of a scintillator-coupled camera.

Both forms take q = k / k_N, the spatial frequency as a fraction of the camera's Nyquist
frequency k_N = 1/(2δ), so the parameters do not depend on the pixel size:

* ``"rational"`` (seed Eq 2.21): MTF(q) = (1 − c1) / (1 + (q / (2 c2))^c3) + c1
* ``"exp_gauss"`` (the seed's chapter-4 paper, its Eq 1):
  MTF(q) = c1 exp(−c2 q) + (1 − c1) exp(−c3² q²)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.fft import fft2, ifft2
from atomscope.core.validate import check_choice, check_range, check_real

FORMS = ("rational", "exp_gauss")


def nyquist_fraction(shape: tuple[int, int]) -> np.ndarray:
    """q = k/k_N on an array of ``shape`` [x, y] in FFT order (square pixels), float64.

    With k = fftfreq(n, δ) and k_N = 1/(2δ), q = 2·fftfreq(n) independently of δ.
    """
    qx = 2 * np.fft.fftfreq(shape[0])
    qy = 2 * np.fft.fftfreq(shape[1])
    return np.hypot(qx[:, None], qy[None, :])


class MTF:
    """A parametrized camera MTF (``"rational"`` seed Eq 2.21, or ``"exp_gauss"``).

    Parameters
    ----------
    name
        ``"rational"`` or ``"exp_gauss"``.
    c1
        Rational: the MTF's high-frequency floor; exp_gauss: weight of the exponential.
        In [0, 1].
    c2
        Rational: half the q where the rational part has fallen to ½; exp_gauss: decay rate
        of the exponential. > 0.
    c3
        Rational: the power; exp_gauss: Gaussian width parameter. > 0.

    Examples
    --------
    >>> mtf = MTF("rational", c1=0.1, c2=0.5, c3=2.5)
    >>> mtf.evaluate(np.array([0.0, 1.0]))
    array([1.  , 0.55])
    """

    def __init__(self, name: str, c1: float, c2: float, c3: float):
        self.name = check_choice("name", name, FORMS)
        self.c1 = check_range("c1", c1, 0.0, 1.0)
        self.c2 = check_range("c2", c2, 0.0, np.inf, low_open=True)
        self.c3 = check_range("c3", c3, 0.0, np.inf, low_open=True)

    def __repr__(self) -> str:
        return f"MTF({self.name!r}, c1={self.c1!r}, c2={self.c2!r}, c3={self.c3!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MTF) and self.parameters() == other.parameters()

    def __hash__(self) -> int:
        return hash(tuple(self.parameters().items()))

    def parameters(self) -> dict[str, Any]:
        """Name and parameters, e.g. for metadata or a JSON summary."""
        return {"name": self.name, "c1": self.c1, "c2": self.c2, "c3": self.c3}

    def evaluate(self, q: Any) -> np.ndarray:
        """MTF at q = k/k_N (fraction of the Nyquist frequency, ≥ 0), float64.

        Examples
        --------
        >>> float(MTF("exp_gauss", c1=0.5, c2=1.0, c3=1.0).evaluate(0.0))
        1.0
        """
        q = np.asarray(q, dtype=float)
        if not np.all(np.isfinite(q)) or np.any(q < 0):
            raise ValueError(f"q must be finite and >= 0 (fraction of Nyquist), got {q!r}")
        if self.name == "rational":
            # seed Eq 2.21 with q = k/k_N
            return (1 - self.c1) / (1 + (q / (2 * self.c2)) ** self.c3) + self.c1
        # seed ch. 4 paper, Eq 1: a exp(−bq) + (1 − a) exp(−c²q²)
        return self.c1 * np.exp(-self.c2 * q) + (1 - self.c1) * np.exp(-(self.c3**2) * q**2)

    def apply(self, array: Any) -> np.ndarray:
        """Multiply the spectrum of a real image [..., x, y] by the MTF; float32 result.

        The image's own pixels define the Nyquist frequency (q = 2·fftfreq per axis).

        Examples
        --------
        >>> flat = np.full((8, 8), 3.0)
        >>> np.allclose(MTF("rational", 0.1, 0.5, 2.5).apply(flat), 3.0)
        True
        """
        array = np.asarray(array)
        if array.ndim < 2:
            raise ValueError(f"array must have at least 2 dimensions [x, y], got {array.shape}")
        check_real("array (first value)", float(np.ravel(array)[0]))
        mtf = self.evaluate(nyquist_fraction(array.shape[-2:])).astype(np.float32)
        return ifft2(fft2(array) * mtf).real.astype(np.float32)

    def plot(self, ax=None):
        """Plot the MTF from q = 0 to the corner of the spectrum (q = √2).

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> len(MTF("rational", 0.1, 0.5, 2.5).plot().axes)
        1
        """
        from matplotlib.figure import Figure

        if ax is None:
            fig = Figure(figsize=(5, 3.5))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        q = np.linspace(0, np.sqrt(2), 500)
        ax.plot(q, self.evaluate(q), "k-", label="MTF")
        ax.plot(q, self.evaluate(q) ** 2, "k--", label="MTF² (noise spectrum)")
        ax.axvline(1.0, color="0.6", lw=0.8)
        ax.set_xlabel("k / k_Nyquist")
        ax.set_ylabel("transfer")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"MTF {self.name}: c1={self.c1:g}, c2={self.c2:g}, c3={self.c3:g}")
        ax.legend(fontsize=8)
        return fig
