"""The declarative description of a strain-accuracy experiment (seed thesis ch. 4), read from TOML.

A spec names the particles (sizes, relaxation, thermal snapshots), the microscope (§4.2.2) and the
sweep axes (defocus, tilt about Ω1/Ω2, dose, image sampling) with the noise ensemble size K. Every
key is checked when the spec is read: an unknown key, an empty sweep, K < 2, a dose ≤ 0 or a tilt
beyond `MAX_TILT` is a ``ValueError`` naming the key, before any work starts.

Defocus is given in the thesis's sign, Δf = C10 (positive = overfocus; with Cs < 0 the columns
are bright, §4.4.1); atomscope's CTF ``defocus`` is −Δf.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from atomscope.core.validate import (
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_range,
    check_real,
)

#: Largest tilt [mrad] a sweep may ask for: the tilted particle is simulated by rotating its atoms
#: and the plane wave stays paraxial; the seed studies up to 3° (52 mrad), beyond ~100 mrad the
#: columns no longer channel and "error of a column position" loses its meaning.
MAX_TILT = 100.0
#: Tilt axes (Fig 4.1): Ω1 along the in-plane [001], Ω2 along the in-plane [1-10] of a ⟨110⟩ view.
TILT_AXES = ("omega1", "omega2")
RELAXATIONS = ("none", "emt", "comb3-AuPt")


@dataclass(frozen=True)
class Particles:
    """Gold particles of the study (Wulff shapes, §4.2.1).

    Attributes
    ----------
    element
        Chemical symbol of the fcc metal.
    sizes_nm
        Particle diameters [nm] (diameter of the sphere of equal volume).
    surface_energies
        Relative surface energies of the {100} and {111} facet families (Wulff construction).
    relaxation
        ``"none"``: the ideal particle, one snapshot, no thermal motion; ``"emt"``: relaxed with
        asap3's EMT, then Langevin MD at ``temperature_K`` (frozen-phonon snapshots, §4.2.1);
        ``"comb3-AuPt"``: the same with LAMMPS COMB3 and atomscope's fitted Au or Pt entries (the
        seed's choice of potential, §4.2.1; `atomscope.thermal.SHIPPED_COMB3`).
    temperature_K
        MD temperature [K].
    snapshots
        Frozen-phonon snapshots per particle (ignored for ``"none"``).
    equilibration_steps, interval_steps
        MD steps (2 fs) discarded before the first snapshot, and between snapshots.
    """

    element: str = "Au"
    sizes_nm: tuple[float, ...] = (2.5,)
    surface_energies: tuple[float, float] = (1.0, 0.9)
    relaxation: str = "emt"
    temperature_K: float = 300.0
    snapshots: int = 4
    equilibration_steps: int = 500
    interval_steps: int = 50


@dataclass(frozen=True)
class Microscope:
    """The microscope of §4.2.2: an aberration-corrected 300 kV instrument, negative Cs.

    Attributes
    ----------
    energy_eV
        Acceleration energy [eV].
    Cs_A
        Third-order spherical aberration C30 [Å] (−10 µm = −1e5 Å).
    focal_spread_A
        1/e focal spread Δ [Å] (Eq 2.18).
    aperture_mrad
        Objective aperture semi-angle [mrad] (the thesis's "15 mrad").
    mtf
        Rational MTF parameters (c1, c2, c3) of Eq 2.21 (midpoints of Table 6.1's ranges).
    simulation_sampling_A
        Sampling of the multislice grid [Å].
    slice_thickness_A
        Multislice slice thickness [Å].
    vacuum_A
        Vacuum around the particle on every side of the simulation cell [Å].
    """

    energy_eV: float = 300e3
    Cs_A: float = -1e5
    focal_spread_A: float = 29.0
    aperture_mrad: float = 15.0
    mtf: tuple[float, float, float] = (0.05, 0.5, 2.5)
    simulation_sampling_A: float = 0.05
    slice_thickness_A: float = 2.0
    vacuum_A: float = 8.0


@dataclass(frozen=True)
class Sweep:
    """The sweep axes; every combination is one point of the experiment.

    Attributes
    ----------
    defocus_A
        Thesis defocus Δf = C10 [Å] (positive = overfocus, as in §4.4.1).
    tilt_mrad
        Specimen tilts [mrad], each about every axis of ``tilt_axes``; 0 is simulated once.
    tilt_axes
        ``"omega1"`` and/or ``"omega2"`` (Fig 4.1).
    dose
        Electron doses [e⁻/Å²].
    sampling_A
        Image (camera) samplings [Å/px].
    noise_realisations
        K, noisy images per point and dose (Eq 4.6), ≥ 2.
    """

    defocus_A: tuple[float, ...] = (45.0, 85.0, 125.0)
    tilt_mrad: tuple[float, ...] = (0.0,)
    tilt_axes: tuple[str, ...] = ("omega1",)
    dose: tuple[float, ...] = (1e3, 1e4)
    sampling_A: tuple[float, ...] = (0.1,)
    noise_realisations: int = 10


@dataclass(frozen=True)
class Point:
    """One simulated configuration: a particle seen at one tilt and one defocus.

    Doses, samplings and noise realisations are measured from the same noise-free image, so they
    belong to the point rather than defining new ones. A NaN defocus is the exit wave itself,
    before the lens (§4.3, Fig 4.3): one such point per view.
    """

    size_nm: float
    tilt_axis: str
    tilt_mrad: float
    defocus_A: float

    @property
    def key(self) -> str:
        """Stable name of the point, e.g. ``size=2.5,tilt=omega1:0,defocus=85``."""
        defocus = "exit" if self.is_exit_wave else f"{self.defocus_A:g}"
        return f"size={self.size_nm:g},tilt={self.tilt_axis}:{self.tilt_mrad:g},defocus={defocus}"

    @property
    def is_exit_wave(self) -> bool:
        """True for the exit-wave point of a view (no lens, no camera)."""
        return math.isnan(self.defocus_A)

    @property
    def view(self) -> tuple[float, str, float]:
        """(size, tilt axis, tilt): the points sharing one set of exit waves."""
        return (self.size_nm, self.tilt_axis, self.tilt_mrad)


@dataclass(frozen=True)
class ExperimentSpec:
    """A complete experiment: what to simulate, how, over which sweep, with which seed.

    Examples
    --------
    >>> spec = ExperimentSpec.from_dict({"sweep": {"defocus_A": [85], "dose": [1e3]}})
    >>> [point.key for point in spec.points()]
    ['size=2.5,tilt=omega1:0,defocus=exit', 'size=2.5,tilt=omega1:0,defocus=85']
    """

    name: str = "experiment"
    seed: int = 0
    particles: Particles = field(default_factory=Particles)
    microscope: Microscope = field(default_factory=Microscope)
    sweep: Sweep = field(default_factory=Sweep)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentSpec:
        """A checked spec from nested dicts (the TOML tables); unknown keys are refused."""
        if not isinstance(data, dict):
            raise ValueError(f"spec must be a table of keys, got {type(data).__name__}")
        _refuse_unknown("", data, ("name", "seed", "particles", "microscope", "sweep"))
        sections = {}
        for key, kind in (("particles", Particles), ("microscope", Microscope), ("sweep", Sweep)):
            table = data.get(key, {})
            if not isinstance(table, dict):
                raise ValueError(f"[{key}] must be a table, got {table!r}")
            _refuse_unknown(f"{key}.", table, [f.name for f in fields(kind)])
            sections[key] = kind(**{name: _tuple(value) for name, value in table.items()})
        spec = cls(
            name=str(data.get("name", "experiment")),
            seed=check_positive_int("seed", data.get("seed", 0), minimum=0),
            **sections,
        )
        spec.check()
        return spec

    @classmethod
    def read(cls, path: str | Path) -> ExperimentSpec:
        """Read and check a TOML spec file.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "spec.toml"
        >>> _ = path.write_text('[sweep]\\ndose = [1e3, 1e4]\\n')
        >>> ExperimentSpec.read(path).sweep.dose
        (1000.0, 10000.0)
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"spec {path} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"spec {path} is not valid TOML: {error}") from None
        return cls.from_dict(data)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first key outside its allowed range."""
        p, m, s = self.particles, self.microscope, self.sweep
        check_choice("particles.relaxation", p.relaxation, RELAXATIONS)
        if p.element != "Au":
            raise ValueError(
                f"particles.element must be 'Au' (the seed's study), got {p.element!r}"
            )
        _each("particles.sizes_nm", p.sizes_nm, lambda n, v: check_range(n, v, 1.0, 10.0))
        if len(p.surface_energies) != 2:
            raise ValueError("particles.surface_energies must be [E100, E111]")
        _each("particles.surface_energies", p.surface_energies, check_positive)
        check_nonnegative("particles.temperature_K", p.temperature_K)
        check_positive_int("particles.snapshots", p.snapshots)
        check_positive_int("particles.equilibration_steps", p.equilibration_steps, minimum=0)
        check_positive_int("particles.interval_steps", p.interval_steps)
        check_positive("microscope.energy_eV", m.energy_eV)
        check_real("microscope.Cs_A", m.Cs_A)
        check_nonnegative("microscope.focal_spread_A", m.focal_spread_A)
        check_positive("microscope.aperture_mrad", m.aperture_mrad)
        if len(m.mtf) != 3:
            raise ValueError("microscope.mtf must be [c1, c2, c3] of Eq 2.21")
        check_range("microscope.mtf[0]", m.mtf[0], 0.0, 1.0)
        check_positive("microscope.mtf[1]", m.mtf[1])
        check_positive("microscope.mtf[2]", m.mtf[2])
        check_range("microscope.simulation_sampling_A", m.simulation_sampling_A, 0.01, 0.1)
        check_positive("microscope.slice_thickness_A", m.slice_thickness_A)
        check_nonnegative("microscope.vacuum_A", m.vacuum_A)
        _each("sweep.defocus_A", s.defocus_A, check_real)
        _each("sweep.tilt_mrad", s.tilt_mrad, lambda n, v: check_range(n, v, -MAX_TILT, MAX_TILT))
        _each("sweep.tilt_axes", s.tilt_axes, lambda n, v: check_choice(n, v, TILT_AXES))
        _each("sweep.dose", s.dose, check_positive)
        _each(
            "sweep.sampling_A",
            s.sampling_A,
            lambda n, v: check_range(n, v, m.simulation_sampling_A, 0.5),
        )
        check_positive_int("sweep.noise_realisations", s.noise_realisations, minimum=2)

    def points(self) -> list[Point]:
        """Every point, in a fixed order: per view (size, tilt; a zero tilt once, about the first
        axis) the exit wave, then each defocus."""
        views = []
        for size in self.particles.sizes_nm:
            for axis, tilt in itertools.product(self.sweep.tilt_axes, self.sweep.tilt_mrad):
                view = (float(size), self.sweep.tilt_axes[0] if tilt == 0 else axis, float(tilt))
                if view not in views:
                    views.append(view)
        defoci = (math.nan, *(float(defocus) for defocus in self.sweep.defocus_A))
        return [Point(*view, defocus) for view in views for defocus in defoci]

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain nested dicts and lists (JSON-ready)."""
        return json.loads(json.dumps(asdict(self)))

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of the spec: two runs mix only if these agree."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _refuse_unknown(prefix: str, table: dict, known) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(
            f"unknown spec key {prefix}{unknown[0]}; allowed: {', '.join(prefix + k for k in known)}"
        )


def _tuple(value: Any) -> Any:
    # TOML arrays become tuples of floats (the dataclasses are frozen and hashable)
    if isinstance(value, list):
        return tuple(
            float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value
        )
    if isinstance(value, dict):
        raise ValueError(f"a spec value must be a number, string or array, got table {value!r}")
    return value


def _each(name: str, values: Any, check) -> None:
    if not isinstance(values, tuple) or not values:
        raise ValueError(f"{name} must be a non-empty array, got {values!r}")
    for index, value in enumerate(values):
        check(f"{name}[{index}]", value)
