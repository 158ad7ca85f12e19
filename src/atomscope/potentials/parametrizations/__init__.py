"""Atomic electron scattering-factor parametrizations and the radial potentials they imply.

Four published tables, each shipped as a JSON data file with its citation and units:

``"lobato"``             Lobato & Van Dyck, Acta Cryst. A70 (2014) 636, Z = 1..103
``"kirkland"``           Kirkland, Advanced Computing in Electron Microscopy (2010), Z = 1..103
``"peng"``               Peng, Ren, Dudarev & Whelan, Acta Cryst. A52 (1996) 257 (0 < s < 6 1/Å),
                         Z = 1..98
``"weickenmeier_kohl"``  Weickenmeier & Kohl, Acta Cryst. A47 (1991) 590, Z = 1..98

Units: spatial frequency k [1/Å] without 2π, f_e [Å], radius [Å], V [V], projected
potential [V·Å]; V and f_e are related by Kirkland (2010) Eq 5.9 with 2π a0 e = 47.88 V·Å².

Examples
--------
>>> from atomscope.potentials.parametrizations import load_parametrization, PARAMETRIZATIONS
>>> PARAMETRIZATIONS
('lobato', 'kirkland', 'peng', 'weickenmeier_kohl')
>>> p = load_parametrization("lobato")
>>> p.check_elements([6, 79])
>>> float(p.projected_potential(6, 1.0)) > 0
True
"""

from __future__ import annotations

from functools import cache

from atomscope.potentials.parametrizations.base import A0E, Parametrization
from atomscope.potentials.parametrizations.kirkland import Kirkland
from atomscope.potentials.parametrizations.lobato import Lobato
from atomscope.potentials.parametrizations.peng import Peng
from atomscope.potentials.parametrizations.weickenmeier_kohl import WeickenmeierKohl

_CLASSES: dict[str, type[Parametrization]] = {
    cls.name: cls for cls in (Lobato, Kirkland, Peng, WeickenmeierKohl)
}

PARAMETRIZATIONS: tuple[str, ...] = tuple(_CLASSES)

__all__ = [
    "A0E",
    "PARAMETRIZATIONS",
    "Kirkland",
    "Lobato",
    "Parametrization",
    "Peng",
    "WeickenmeierKohl",
    "load_parametrization",
]


def load_parametrization(name: str) -> Parametrization:
    """Return the (cached, shared) parametrization called ``name``.

    Parameters
    ----------
    name
        One of ``PARAMETRIZATIONS``: ``"lobato"``, ``"kirkland"``, ``"peng"``,
        ``"weickenmeier_kohl"``.

    Returns
    -------
    Parametrization
        Object with ``name``, ``citation``, ``max_z``, ``check_elements``,
        ``scattering_factor``, ``potential``, ``projected_potential``,
        ``finite_projected_potential`` and ``cutoff``.

    Raises
    ------
    ValueError
        If ``name`` is not one of ``PARAMETRIZATIONS``.

    Examples
    --------
    >>> from atomscope.potentials.parametrizations import load_parametrization
    >>> load_parametrization("kirkland") is load_parametrization("kirkland")
    True
    >>> load_parametrization("doyle")
    Traceback (most recent call last):
    ...
    ValueError: parametrization must be one of 'lobato', 'kirkland', 'peng', 'weickenmeier_kohl'; got 'doyle'
    """
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(
            f"parametrization must be one of {', '.join(map(repr, PARAMETRIZATIONS))}; got {name!r}"
        )
    return _load(name)


@cache
def _load(name: str) -> Parametrization:
    return _CLASSES[name]()
