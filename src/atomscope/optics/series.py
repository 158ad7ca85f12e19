"""Through-focus series: one exit wave imaged at many defoci, each defocus an independent task."""

from __future__ import annotations

from typing import Any

import numpy as np

from atomscope.core.fft import import_wisdom, plan_and_export
from atomscope.core.validate import check_finite_array
from atomscope.images import Images
from atomscope.optics.ctf import CTF
from atomscope.parallel import ordered_map

__all__ = ["defocus_series"]


def _image(task) -> np.ndarray:
    waves, lens, wisdom = task
    import_wisdom(wisdom)
    return lens.image(waves).array


def defocus_series(waves, ctf: CTF, defoci: Any, client=None, progress: bool = False) -> Images:
    """Images of ``waves`` through ``ctf`` with its defocus replaced by each of ``defoci``.

    Parameters
    ----------
    waves
        An exit wave (`Waves`, 2D, or a frozen-phonon stack: each image is then averaged).
    ctf
        The lens; every setting except the defocus is kept.
    defoci
        Defocus values [Å] (positive = underfocus, ``defocus = −C10``).
    client
        Optional Dask client: each defocus is a task; the stack equals the local one bit for bit.
    progress
        Show a progress bar over the defoci.

    Returns
    -------
    Images
        Stack indexed ``[defocus, x, y]``; ``metadata["defoci"]`` lists the values [Å].

    Examples
    --------
    >>> from atomscope import CTF, Waves
    >>> wave = Waves(np.ones((16, 16), dtype=np.complex64), sampling=0.2, energy=300e3)
    >>> lens = CTF(energy=300e3, Cs=1e6, semiangle_cutoff=20)
    >>> defocus_series(wave, lens, [0.0, 100.0, 200.0]).shape
    (3, 16, 16)
    """
    defoci = check_finite_array("defoci", defoci, ndim=1)
    if defoci.size == 0:
        raise ValueError("defoci must hold at least one defocus [Å], got an empty list")
    lenses = [CTF(**{**ctf.parameters(), "C10": -float(value)}) for value in defoci]
    wisdom = None if client is None else plan_and_export(waves.array.shape)
    tasks = ((waves, lens, wisdom) for lens in lenses)
    images = list(ordered_map(_image, tasks, client, progress, "defocus series"))
    return Images(np.stack(images), waves.sampling, metadata={"defoci": defoci.tolist()})
