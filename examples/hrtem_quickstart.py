"""HRTEM of a small gold particle in a few seconds: potential → exit wave → CTF → camera.

Run: python examples/hrtem_quickstart.py [OUTPUT_DIR]
"""

import sys
from pathlib import Path

from ase.cluster.cubic import FaceCenteredCubic

import atomscope as ats
from atomscope import io, plot

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/quickstart")
atoms = FaceCenteredCubic("Au", [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [3, 4, 3])
atoms.center(vacuum=2)

potential = ats.Potential(atoms, sampling=0.1, slice_thickness=1.0)
exit_wave = ats.PlaneWave(energy=300e3).multislice(potential)
ctf = ats.CTF(
    energy=300e3,
    Cs=6e6,
    defocus=ats.scherzer_defocus(6e6, 300e3),
    focal_spread=30,
    semiangle_cutoff=20,
)
image = ctf.image(exit_wave)
camera = ats.Camera(sampling=0.2, dose=1e4, mtf=ats.MTF("rational", c1=0.1, c2=0.5, c3=2.5))
counts = camera.detect(image, rng=0)

io.write_tiff(out / "counts.tif", counts)
plot.image_png(out / "counts.png", counts, "Au particle, 1e4 e⁻/Å²")
print(
    f"{len(atoms)} atoms, image contrast {image.array.std() / image.array.mean():.3f}, "
    f"mean counts {counts.array.mean():.1f} per pixel -> {out}/"
)
