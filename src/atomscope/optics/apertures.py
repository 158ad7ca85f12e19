"""Objective apertures: hard (a step) or soft (a linear edge centred on the cutoff)."""

from __future__ import annotations

from typing import Any

import numpy as np


def aperture(alpha: Any, semiangle_cutoff: float, taper: float = 0.0) -> np.ndarray:
    """Aperture transmission at scattering angles ``alpha`` [rad], float64.

    Parameters
    ----------
    alpha
        Scattering angle α = λk [rad] (array).
    semiangle_cutoff
        Aperture semi-angle α_c [mrad]; ``inf`` means no aperture.
    taper
        Width of the soft edge [mrad]; 0 gives a hard aperture (1 for α ≤ α_c, else 0).
        A soft edge falls linearly from 1 at α_c − taper/2 to 0 at α_c + taper/2, so the
        transmitted solid angle stays π α_c² (the edge model of abTEM, Madsen & Susi 2021).

    Examples
    --------
    >>> aperture(np.array([0.0, 0.0199, 0.02, 0.0201]), semiangle_cutoff=20.0)
    array([1., 1., 1., 0.])
    >>> aperture(np.array([0.0195, 0.02, 0.0205]), semiangle_cutoff=20.0, taper=1.0)
    array([1. , 0.5, 0. ])
    """
    alpha = np.asarray(alpha, dtype=float)
    if np.isinf(semiangle_cutoff):
        return np.ones(alpha.shape)
    cutoff = semiangle_cutoff * 1e-3
    if taper <= 0:
        return (alpha <= cutoff).astype(float)
    width = taper * 1e-3
    # linear soft edge centred on α_c (abTEM soft aperture, Madsen & Susi, Open Res. Europe 2021)
    return np.clip((cutoff - alpha) / width + 0.5, 0.0, 1.0)
