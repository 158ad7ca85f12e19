"""CLI build / relax / phonons: files and previews written, bad input refused with exit 2."""

import re

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from atomscope.cli import main


def _files(directory):
    return sorted(p.name for p in directory.iterdir() if p.name != ".atomscope-build.json")


def test_build_particle_wulff_and_graphene(tmp_path):
    assert (
        main(
            ["build", "particle", "--radius", "6", "8", "--rng", "3", "-o", str(tmp_path / "p.xyz")]
        )
        == 0
    )
    particle = ase.io.read(tmp_path / "p.xyz")
    assert set(particle.get_chemical_symbols()) == {"Au"}
    assert np.allclose(particle.positions.min(0), 5.0)
    assert (
        main(
            [
                "build",
                "wulff",
                "--size",
                "12.0",
                "--surfaces",
                "100",
                "111",
                "--energies",
                "1",
                "1.1",
                "-o",
                str(tmp_path / "w.cif"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "build",
                "graphene",
                "--extent",
                "30",
                "--holes",
                "2",
                "2",
                "-o",
                str(tmp_path / "g.xyz"),
            ]
        )
        == 0
    )
    sheet = ase.io.read(tmp_path / "g.xyz")
    assert sheet.info["num_holes"] == 2 and sheet.pbc[:2].all()
    assert (
        main(
            ["build", "graphene", "--extent", "30", "--grains", "3", "-o", str(tmp_path / "pg.xyz")]
        )
        == 0
    )
    assert _files(tmp_path) == [
        "g.png",
        "g.xyz",
        "p.png",
        "p.xyz",
        "pg.png",
        "pg.xyz",
        "w.cif",
        "w.png",
    ]


def test_relax_and_phonons(tmp_path, capsys):
    source = tmp_path / "p.xyz"
    assert main(["build", "wulff", "--size", "80", "-o", str(source)]) == 0
    assert main(["relax", str(source), "--fmax", "0.05", "-o", str(tmp_path / "r.xyz")]) == 0
    assert "converged=True" in capsys.readouterr().out
    assert (
        main(["phonons", str(tmp_path / "r.xyz"), "--configs", "3", "-o", str(tmp_path / "e.traj")])
        == 0
    )
    assert len(ase.io.read(tmp_path / "e.traj", index=":")) == 3
    assert (
        main(
            [
                "phonons",
                str(tmp_path / "r.xyz"),
                "--model",
                "md",
                "--configs",
                "2",
                "--equilibration",
                "10",
                "--interval",
                "5",
                "-o",
                str(tmp_path / "m.traj"),
            ]
        )
        == 0
    )
    snapshots = ase.io.read(tmp_path / "m.traj", index=":")
    assert len(snapshots) == 2 and snapshots[1].get_momenta().any()
    assert {"e.png", "m.png", "r.png"} <= set(_files(tmp_path))


def test_every_command_shows_a_progress_bar(tmp_path, capsys):
    commands = [
        (["build", "particle", "--radius", "6", "7", "-o", "p.xyz"], "growth"),
        (["build", "wulff", "--size", "40", "-o", "w.xyz"], "wulff"),
        (["build", "graphene", "--extent", "25", "--holes", "0", "0", "-o", "g.xyz"], "graphene"),
        (["build", "graphene", "--extent", "25", "--grains", "2", "-o", "pg.xyz"], "grains"),
        (["relax", "w.xyz", "--fmax", "0.05", "-o", "r.xyz"], "relax"),
        (["phonons", "r.xyz", "--configs", "2", "-o", "e.traj"], "snapshots"),
        (
            [
                "phonons",
                "r.xyz",
                "--model",
                "md",
                "--configs",
                "2",
                "--equilibration",
                "4",
                "--interval",
                "2",
                "-o",
                "m.traj",
            ],
            "md",
        ),
    ]
    for args, bar in commands:
        paths = [str(tmp_path / a) if a.endswith((".xyz", ".traj")) else a for a in args]
        assert main(paths) == 0
        assert re.search(rf"{bar}: 100%\|", capsys.readouterr().err), args


def test_relax_with_lammps(tmp_path):
    source = tmp_path / "p.xyz"
    assert main(["build", "wulff", "--size", "50", "-o", str(source)]) == 0
    assert (
        main(
            [
                "relax",
                str(source),
                "--pair-style",
                "eam",
                "--pair-coeff",
                "1 1 Au_u3.eam",
                "--fmax",
                "0.05",
                "-o",
                str(tmp_path / "r.xyz"),
            ]
        )
        == 0
    )
    assert len(ase.io.read(tmp_path / "r.xyz")) == len(ase.io.read(source))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["build", "particle", "-o", "{tmp}/p.unknownsuffix"], "--output"),
        (["build", "particle", "--element", "Xx", "-o", "{tmp}/p.xyz"], "symbol"),
        (["build", "particle", "--temperature", "-1", "-o", "{tmp}/p.xyz"], "temperature"),
        (["build", "wulff", "--surfaces", "10", "-o", "{tmp}/w.xyz"], "--surfaces"),
        (["build", "wulff", "--size", "0", "-o", "{tmp}/w.xyz"], "size"),
        (["build", "graphene", "--extent", "-3", "-o", "{tmp}/g.xyz"], "extent"),
        (["relax", "{tmp}/missing.xyz", "-o", "{tmp}/r.xyz"], "missing.xyz"),
        (["phonons", "{tmp}/missing.xyz", "-o", "{tmp}/s.xyz"], r"\.traj"),
        (["phonons", "{tmp}/missing.xyz", "--model", "x", "-o", "{tmp}/s.traj"], "--model"),
    ],
)
def test_bad_input_exits_2_without_files(args, match, tmp_path, capsys):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and re.search(match, error[0])
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("option", "match"),
    [
        (["--temperature", "-5"], "temperature"),
        (["--configs", "0"], "num_configs"),
        (["--pair-style", "eam"], "--pair-coeff"),
        (["--calculator", "vasp"], "calculator"),
    ],
)
def test_bad_md_options_name_the_argument(option, match, tmp_path, capsys):
    source = tmp_path / "a.xyz"
    ase.io.write(source, bulk("Au", cubic=True))
    code = main(["phonons", str(source), "--model", "md", *option, "-o", str(tmp_path / "s.traj")])
    assert code == 2
    assert re.search(match, capsys.readouterr().err)
    assert _files(tmp_path) == ["a.xyz"]
