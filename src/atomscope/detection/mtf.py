"""`MTF`: modulation transfer function of a scintillator-coupled camera.

Every form takes q = k / k_N, the spatial frequency as a fraction of the camera's Nyquist
frequency k_N = 1/(2δ), so the parameters do not depend on the pixel size:

* ``"rational"`` (seed Eq 2.21): MTF(q) = (1 − c1) / (1 + (q / (2 c2))^c3) + c1
* ``"exp_gauss"`` (the seed's chapter-4 paper, its Eq 1):
  MTF(q) = c1 exp(−c2 q) + (1 − c1) exp(−c3² q²)
* ``"table"`` (`MTF.from_table`): a measured curve, linearly interpolated in q and constant
  beyond its last point (e.g. from `atomscope.detection.estimate_mtf` or `mtf_from_edge`).

Any of them can be multiplied by the aperture of square pixels, ``pixel_sinc=True``:
sinc(q_x/2)·sinc(q_y/2), the transfer of averaging over one pixel (the "presampling" MTF of a
slanted-edge measurement, ISO 12233, is scintillator × pixel aperture).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from atomscope.core.fft import fft2, ifft2
from atomscope.core.validate import check_choice, check_finite_array, check_range, check_real

FORMS = ("rational", "exp_gauss")
#: Every kind of MTF: the parametric `FORMS` and the measured ``"table"``.
KINDS = (*FORMS, "table")
#: How far a table's value at q = 0 may be from 1 (it is normalised there).
TABLE_ZERO_TOLERANCE = 0.05
#: Largest value a table may hold: an MTF is ≤ 1, and a measured one scatters about it.
TABLE_MAX_VALUE = 1.5


def nyquist_fraction(shape: tuple[int, int]) -> np.ndarray:
    """q = k/k_N on an array of ``shape`` [x, y] in FFT order (square pixels), float64.

    With k = fftfreq(n, δ) and k_N = 1/(2δ), q = 2·fftfreq(n) independently of δ.
    """
    qx = 2 * np.fft.fftfreq(shape[0])
    qy = 2 * np.fft.fftfreq(shape[1])
    return np.hypot(qx[:, None], qy[None, :])


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_q(q: Any) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError(f"q must be finite and >= 0 (fraction of Nyquist), got {q!r}")
    return q


class MTF:
    """A camera MTF: parametrized (``"rational"`` seed Eq 2.21, or ``"exp_gauss"``) or a table.

    Parameters
    ----------
    name
        ``"rational"`` or ``"exp_gauss"``; a measured curve is made with `MTF.from_table`.
    c1
        Rational: the MTF's high-frequency floor; exp_gauss: weight of the exponential.
        In [0, 1].
    c2
        Rational: half the q where the rational part has fallen to ½; exp_gauss: decay rate
        of the exponential. > 0.
    c3
        Rational: the power; exp_gauss: Gaussian width parameter. > 0.
    pixel_sinc
        Multiply by the aperture of square pixels, sinc(q_x/2)·sinc(q_y/2) (the transfer of
        averaging over one pixel; 0.64 at Nyquist along an axis): the two-component
        "scintillator × pixel" MTF a slanted edge measures. `Camera` applies the whole MTF to
        the noisy counts, so with ``pixel_sinc`` it colours the noise by sinc² as well, whereas
        on a real counting camera the pixel aperture leaves the noise white (its aliases add
        up to a flat spectrum: Σ_m sinc²(f + m) = 1).

    Examples
    --------
    >>> mtf = MTF("rational", c1=0.1, c2=0.5, c3=2.5)
    >>> mtf.evaluate(np.array([0.0, 1.0]))
    array([1.  , 0.55])
    >>> MTF("rational", 0.1, 0.5, 2.5, pixel_sinc=True).evaluate(1.0).round(3)
    np.float64(0.35)
    """

    def __init__(self, name: str, c1: float, c2: float, c3: float, *, pixel_sinc: bool = False):
        self.name = check_choice("name", name, FORMS)
        self.c1 = check_range("c1", c1, 0.0, 1.0)
        self.c2 = check_range("c2", c2, 0.0, np.inf, low_open=True)
        self.c3 = check_range("c3", c3, 0.0, np.inf, low_open=True)
        self.pixel_sinc = _check_bool("pixel_sinc", pixel_sinc)
        self.q: np.ndarray | None = None
        self.values: np.ndarray | None = None

    @classmethod
    def from_table(cls, q: Any, values: Any, *, pixel_sinc: bool = False) -> MTF:
        """A measured MTF: ``values`` at ``q``, linearly interpolated, constant past the end.

        Parameters
        ----------
        q
            Spatial frequencies as fractions of the Nyquist frequency, 1D, strictly
            increasing, starting at 0, at least 2 points.
        values
            The MTF at ``q``: finite, in [0, 1.5] (an MTF is ≤ 1; a measured one scatters
            about its value), and 1 within 0.05 at q = 0.
        pixel_sinc
            Multiply by the pixel aperture sinc(q_x/2)·sinc(q_y/2) (see `MTF`); the table is
            then the scintillator part only.

        Returns
        -------
        MTF
            ``name == "table"``, with ``.q`` and ``.values``; ``c1``, ``c2``, ``c3`` are None.

        Examples
        --------
        >>> mtf = MTF.from_table([0.0, 0.5, 1.0], [1.0, 0.8, 0.4])
        >>> mtf.evaluate([0.25, 1.2])
        array([0.9, 0.4])
        """
        q = check_finite_array("q", q, ndim=1)
        values = check_finite_array("values", values, ndim=1)
        if q.size < 2 or values.size != q.size:
            raise ValueError(
                f"q and values must have one length, at least 2; got {q.size} and {values.size}"
            )
        if q[0] != 0:
            raise ValueError(f"q must start at 0 (where the MTF is 1), got q[0] = {q[0]}")
        steps = np.diff(q)
        if np.any(steps <= 0):
            first = int(np.argmax(steps <= 0))
            raise ValueError(
                f"q must be strictly increasing, got q[{first}] = {q[first]} then "
                f"q[{first + 1}] = {q[first + 1]}"
            )
        if np.any(values < 0) or np.any(values > TABLE_MAX_VALUE):
            first = int(np.argmax((values < 0) | (values > TABLE_MAX_VALUE)))
            raise ValueError(
                f"values must be in [0, {TABLE_MAX_VALUE}], got values[{first}] = {values[first]}"
            )
        if abs(values[0] - 1) > TABLE_ZERO_TOLERANCE:
            raise ValueError(
                f"values[0] (the MTF at q = 0) must be 1 within {TABLE_ZERO_TOLERANCE}, "
                f"got {values[0]}"
            )
        mtf = cls.__new__(cls)
        mtf.name, mtf.c1, mtf.c2, mtf.c3 = "table", None, None, None
        mtf.pixel_sinc = _check_bool("pixel_sinc", pixel_sinc)
        mtf.q, mtf.values = q.copy(), values.copy()  # never share the caller's arrays
        mtf.q.flags.writeable = mtf.values.flags.writeable = False
        return mtf

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MTF:
        """The MTF whose `parameters` are ``parameters`` (e.g. read back from JSON).

        Examples
        --------
        >>> mtf = MTF.from_table([0.0, 1.0], [1.0, 0.5], pixel_sinc=True)
        >>> MTF.from_parameters(mtf.parameters()) == mtf
        True
        """
        if not isinstance(parameters, dict) or "name" not in parameters:
            raise ValueError(f"parameters must be a dict with a 'name', got {parameters!r}")
        name = check_choice("parameters['name']", parameters["name"], KINDS)
        keys = ("q", "values") if name == "table" else ("c1", "c2", "c3")
        unknown = set(parameters) - {"name", "pixel_sinc", *keys}
        missing = [key for key in keys if key not in parameters]
        if unknown or missing:
            raise ValueError(
                f"parameters of a {name!r} MTF take {', '.join(keys)} (and pixel_sinc); "
                f"missing {missing}, unknown {sorted(unknown)}"
            )
        pixel_sinc = parameters.get("pixel_sinc", False)
        if name == "table":
            return cls.from_table(parameters["q"], parameters["values"], pixel_sinc=pixel_sinc)
        return cls(name, *(parameters[key] for key in keys), pixel_sinc=pixel_sinc)

    def __repr__(self) -> str:
        sinc = ", pixel_sinc=True" if self.pixel_sinc else ""
        if self.name == "table":
            return f"MTF.from_table(<{self.q.size} points, q ≤ {self.q[-1]:g}>{sinc})"
        return f"MTF({self.name!r}, c1={self.c1!r}, c2={self.c2!r}, c3={self.c3!r}{sinc})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MTF) and self.parameters() == other.parameters()

    def __hash__(self) -> int:
        return hash(json.dumps(self.parameters(), sort_keys=True))

    def parameters(self) -> dict[str, Any]:
        """Name and parameters (JSON-serialisable), e.g. for metadata or a JSON summary.

        A parametric MTF gives ``{"name", "c1", "c2", "c3"}``, a table ``{"name": "table",
        "q", "values"}`` (lists); ``"pixel_sinc": True`` is added when set.

        Examples
        --------
        >>> MTF.from_table([0.0, 1.0], [1.0, 0.5]).parameters()
        {'name': 'table', 'q': [0.0, 1.0], 'values': [1.0, 0.5]}
        """
        if self.name == "table":
            out = {"name": "table", "q": self.q.tolist(), "values": self.values.tolist()}
        else:
            out = {"name": self.name, "c1": self.c1, "c2": self.c2, "c3": self.c3}
        if self.pixel_sinc:
            out["pixel_sinc"] = True
        return out

    def _radial(self, q: np.ndarray) -> np.ndarray:
        if self.name == "table":
            # linear interpolation, constant beyond the last point (np.interp's ends)
            return np.interp(q, self.q, self.values)
        if self.name == "rational":
            # seed Eq 2.21 with q = k/k_N
            with np.errstate(over="ignore"):
                return (1 - self.c1) / (1 + (q / (2 * self.c2)) ** self.c3) + self.c1
        # seed ch. 4 paper, Eq 1: a exp(−bq) + (1 − a) exp(−c²q²)
        return self.c1 * np.exp(-self.c2 * q) + (1 - self.c1) * np.exp(-(self.c3**2) * q**2)

    def evaluate(self, q: Any) -> np.ndarray:
        """MTF at q = k/k_N (fraction of the Nyquist frequency, ≥ 0), float64.

        With ``pixel_sinc`` this is the MTF along a pixel axis (q_y = 0); `evaluate_xy` gives
        it in any direction.

        Examples
        --------
        >>> float(MTF("exp_gauss", c1=0.5, c2=1.0, c3=1.0).evaluate(0.0))
        1.0
        """
        q = _check_q(q)
        out = self._radial(q)
        if self.pixel_sinc:
            # pixel aperture: a box of one pixel δ has transfer sinc(k δ) = sinc(q/2)
            out = out * np.sinc(q / 2)
        return out

    def evaluate_xy(self, qx: Any, qy: Any) -> np.ndarray:
        """MTF at the frequency (q_x, q_y) [fractions of Nyquist, either sign], float64.

        Examples
        --------
        >>> mtf = MTF("rational", 0.1, 0.5, 2.5, pixel_sinc=True)
        >>> bool(np.isclose(mtf.evaluate_xy(0.0, -1.0), mtf.evaluate(1.0)))
        True
        """
        qx, qy = np.asarray(qx, dtype=float), np.asarray(qy, dtype=float)
        if not (np.all(np.isfinite(qx)) and np.all(np.isfinite(qy))):
            raise ValueError(f"qx and qy must be finite (fractions of Nyquist), got {qx}, {qy}")
        out = self._radial(np.hypot(qx, qy))
        if self.pixel_sinc:
            # square pixel aperture: sinc(q_x/2)·sinc(q_y/2) (a box of one pixel per axis)
            out = out * np.sinc(qx / 2) * np.sinc(qy / 2)
        return out

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
        shape = array.shape[-2:]
        qx = 2 * np.fft.fftfreq(shape[0])
        qy = 2 * np.fft.fftfreq(shape[1])
        mtf = self.evaluate_xy(qx[:, None], qy[None, :]).astype(np.float32)
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
        if self.name == "table":
            ax.plot(self.q, self.values, "k.", ms=3, label="table")
        ax.axvline(1.0, color="0.6", lw=0.8)
        ax.set_xlabel("k / k_Nyquist")
        ax.set_ylabel("transfer")
        ax.set_ylim(0, 1.05)
        if self.name == "table":
            title = f"MTF table: {self.q.size} points, q ≤ {self.q[-1]:g}"
        else:
            title = f"MTF {self.name}: c1={self.c1:g}, c2={self.c2:g}, c3={self.c3:g}"
        ax.set_title(title + (" × pixel sinc" if self.pixel_sinc else ""))
        ax.legend(fontsize=8)
        return fig
