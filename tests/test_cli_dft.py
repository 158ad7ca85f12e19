"""``atomscope dft`` and ``atomscope hrtem --potential`` (issue #17)."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from atomscope.cli import main
from atomscope.potentials.dft import DFTPotential
from atomscope.potentials.stored import StoredPotential


@pytest.fixture(scope="module")
def helium_run(tmp_path_factory):
    """One small DFT run through the command: He in a 4 Å box, plane waves 250 eV."""
    root = tmp_path_factory.mktemp("dft")
    structure = root / "he.xyz"
    write(structure, Atoms("He", positions=[(2, 2, 2)], cell=(4, 4, 4), pbc=True))
    out = root / "out"
    arguments = [str(structure), "--mode", "pw:250", "--sampling", "0.1", "--out", str(out)]
    assert main(["dft", *arguments]) == 0
    return out


def test_dft_writes_the_calculation_and_a_potential_hrtem_simulates(helium_run, tmp_path):
    names = {path.name for path in helium_run.iterdir() if not path.name.startswith(".")}
    assert names == {
        "calculation.gpw",
        "gpaw.txt",
        "potential.npz",
        "dft_minus_iam.png",
        "summary.json",
    }
    summary = json.loads((helium_run / "summary.json").read_text())
    assert summary["scf_iterations"] > 0 and summary["energy_eV"] < 0
    stored = StoredPotential(helium_run / "potential.npz")
    fresh = DFTPotential(helium_run / "calculation.gpw", sampling=0.1, slice_thickness=1.0)
    np.testing.assert_allclose(stored.build(), fresh.build(), atol=1e-4)
    out = tmp_path / "hrtem"
    potential = str(helium_run / "potential.npz")
    assert main(["hrtem", "--potential", potential, "--no-camera", "--out", str(out)]) == 0
    simulated = json.loads((out / "summary.json").read_text())
    assert simulated["potential"] == "gpaw all-electron (grid_refinement 2)"
    assert simulated["grid"]["gpts"] == [40, 40]


@pytest.mark.parametrize(
    "cell, options, message",
    [
        ([[4, 0, 0], [2, 3.46, 0], [0, 0, 4]], [], "orthorhombic"),
        ((4, 4, 4), ["--mode", "pw"], "pw:ECUT"),
        ((4, 4, 4), ["--mode", "pw:10"], "cutoff must be in"),
        ((4, 4, 4), ["--kpts", "0", "1", "1"], "--kpts"),
        ((4, 4, 4), ["--sampling", "-1"], "--sampling"),
    ],
)
def test_bad_dft_input_exits_2_before_gpaw_runs(tmp_path, capsys, cell, options, message):
    structure = tmp_path / "he.xyz"
    write(structure, Atoms("He", positions=[(2, 2, 2)], cell=cell, pbc=True))
    out = tmp_path / "out"
    assert main(["dft", str(structure), *options, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_hrtem_takes_a_structure_or_a_potential(helium_run, tmp_path, capsys):
    potential = str(helium_run / "potential.npz")
    structure = tmp_path / "he.xyz"
    write(structure, Atoms("He", positions=[(2, 2, 2)], cell=(4, 4, 4), pbc=True))
    out = str(tmp_path / "out")
    assert main(["hrtem", str(structure), "--potential", potential, "-o", out]) == 2
    assert "one of them" in capsys.readouterr().err
    assert main(["hrtem", "--potential", potential, "--sampling", "0.05", "-o", out]) == 2
    assert "--sampling" in capsys.readouterr().err
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, array=np.zeros((4, 4)))
    assert main(["hrtem", "--potential", str(foreign), "-o", out]) == 2
    assert "not a stored potential" in capsys.readouterr().err
