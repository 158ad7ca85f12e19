"""`PlaneWave`: the HRTEM illumination, amplitude 1 at every pixel."""

from __future__ import annotations

import numpy as np

from atomscope.core.grid import Grid
from atomscope.core.validate import check_positive
from atomscope.waves.multislice import check_tilt
from atomscope.waves.waves import Waves


class PlaneWave:
    """A plane wave along the beam (z), amplitude 1 per pixel (DESIGN.md).

    Parameters
    ----------
    energy
        Electron energy [eV], e.g. ``300e3``.
    tilt
        Specimen tilt against the beam (θx, θy) [mrad], each within ±100 mrad: the wave
        crosses the slices obliquely (tilted propagator, Kirkland 2010 Eq 6.99); the image is
        still formed along the optic axis.

    Examples
    --------
    >>> from ase import Atoms
    >>> from atomscope.potentials.projected import Potential
    >>> vacuum = Potential(Atoms(cell=[4, 4, 2]), sampling=0.5, slice_thickness=1)
    >>> exit_wave = PlaneWave(energy=300e3).multislice(vacuum)
    >>> bool(np.allclose(exit_wave.array, 1, atol=1e-6))
    True
    """

    def __init__(self, energy: float, tilt: tuple[float, float] = (0.0, 0.0)):
        self.energy = check_positive("energy", energy)
        self.tilt = check_tilt(tilt)

    def build(self, grid: Grid) -> Waves:
        """The plane wave on ``grid``."""
        return Waves(
            np.ones(grid.gpts, dtype=np.complex64),
            grid.sampling,
            self.energy,
            metadata={"energy": self.energy},
        )

    def multislice(
        self, potential, progress: bool = False, projection: np.ndarray | None = None
    ) -> Waves:
        """Exit wave of ``potential`` (a `Potential`) for this illumination.

        ``projection`` (nx, ny), if given, accumulates the projected potential [V·Å] on the way.
        A grid that cannot fit in memory is refused before the wave is made.
        """
        from atomscope.waves.ensemble import configuration_lanes
        from atomscope.waves.multislice import check_multislice_memory

        num_configs = getattr(potential, "num_configs", 1)
        lanes = configuration_lanes(potential) if num_configs > 1 else 1
        check_multislice_memory(potential, num_configs, lanes)
        wave = self.build(potential.grid)
        wave.metadata.update(
            potential=potential.parametrization,
            slice_thickness=float(potential.thickness / potential.num_slices),
            projection=potential.projection,
        )
        return wave.multislice(potential, progress=progress, projection=projection, tilt=self.tilt)
