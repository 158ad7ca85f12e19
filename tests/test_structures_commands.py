"""CLI build / relax / phonons: files and previews written, bad input refused with exit 2."""

import json
import re

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from atomscope.cli import main
from atomscope.summary import CORE_KEYS


def _files(directory):
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith(".atomscope-"))


def test_build_particle_wulff_and_graphene(tmp_path):
    out = tmp_path / "build"
    particle_options = ["--radius", "6", "8", "--rng", "3", "--name", "p.xyz"]
    assert main(["build", "particle", *particle_options, "--out", str(out)]) == 0
    particle = ase.io.read(out / "p.xyz")
    assert set(particle.get_chemical_symbols()) == {"Au"}
    assert np.allclose(particle.positions.min(0), 5.0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "build" and summary["num_atoms"] == len(particle)
    assert summary["outputs"] == ["p.xyz", "p.png", "summary.json"]
    wulff = ["--size", "12.0", "--surfaces", "100", "111", "--energies", "1", "1.1"]
    assert main(["build", "wulff", *wulff, "--name", "w.cif", "-o", str(tmp_path / "w")]) == 0
    assert _files(tmp_path / "w") == ["summary.json", "w.cif", "w.png"]
    random = ["--form", "random", "--extent", "30", "--holes", "2", "2"]
    assert main(["build", "graphene", *random, "-o", str(tmp_path / "g")]) == 0
    sheet = ase.io.read(tmp_path / "g" / "graphene.xyz")
    assert sheet.pbc[:2].all()
    assert json.loads((tmp_path / "g" / "summary.json").read_text())["num_holes"] == 2
    grains = ["--form", "polycrystal", "--extent", "30", "--grains", "3"]
    assert main(["build", "graphene", *grains, "-o", str(tmp_path / "pg")]) == 0
    assert _files(tmp_path / "pg") == ["graphene.png", "graphene.xyz", "summary.json"]


def test_graphene_defaults_to_a_single_crystal_sheet(tmp_path):
    # the old default was the random network of Fig 6.9, and --extent 20 failed on hole_radius
    assert main(["build", "graphene", "--extent", "20", "-o", str(tmp_path)]) == 0
    sheet = ase.io.read(tmp_path / "graphene.xyz")
    distances = sheet.get_all_distances(mic=True)
    np.fill_diagonal(distances, np.inf)
    # every atom has exactly three neighbours at the C–C bond, across the periodic edges too
    assert np.all(np.sum(np.abs(distances - 1.42) < 0.01, axis=1) == 3)
    lx, ly = sheet.cell.lengths()[:2]
    assert abs(lx - 20) < 2.5 and abs(ly - 20) < 4.3
    assert (
        main(["build", "graphene", "--form", "random", "--extent", "20", "-o", str(tmp_path / "r")])
        == 0
    )


def test_relax_and_phonons(tmp_path, capsys):
    assert main(["build", "wulff", "--size", "80", "-o", str(tmp_path / "w")]) == 0
    source = tmp_path / "w" / "wulff.xyz"
    assert main(["relax", str(source), "--fmax", "0.05", "-o", str(tmp_path / "r")]) == 0
    assert "converged=True" in capsys.readouterr().out
    relaxed = tmp_path / "r" / "relaxed.xyz"
    assert main(["phonons", str(relaxed), "--configs", "3", "-o", str(tmp_path / "e")]) == 0
    assert len(ase.io.read(tmp_path / "e" / "snapshots.traj", index=":")) == 3
    md = ["--model", "md", "--configs", "2", "--equilibration", "10", "--interval", "5"]
    assert main(["phonons", str(relaxed), *md, "--name", "m.traj", "-o", str(tmp_path / "e")]) == 0
    snapshots = ase.io.read(tmp_path / "e" / "m.traj", index=":")
    assert len(snapshots) == 2 and snapshots[1].get_momenta().any()
    assert _files(tmp_path / "e") == ["m.png", "m.traj", "summary.json"]  # the run's own set
    assert _files(tmp_path / "r") == ["relaxed.png", "relaxed.xyz", "summary.json"]
    for out, command in (("w", "build"), ("r", "relax"), ("e", "phonons")):
        summary = json.loads((tmp_path / out / "summary.json").read_text())
        assert list(summary)[: len(CORE_KEYS)] == list(CORE_KEYS)
        assert summary["command"] == command and summary["invocation"]["argv"][0] == command


def test_every_command_shows_a_progress_bar(tmp_path, capsys):
    w, r = str(tmp_path / "w" / "wulff.xyz"), str(tmp_path / "r" / "relaxed.xyz")
    md = ["--model", "md", "--configs", "2", "--equilibration", "4", "--interval", "2"]
    commands = [
        (["build", "particle", "--radius", "6", "7", "-o", "p"], "growth"),
        (["build", "wulff", "--size", "40", "-o", "w"], "wulff"),
        (
            ["build", "graphene", "--form", "random", "--extent", "25", "--holes", "0", "0"],
            "graphene",
        ),
        (
            ["build", "graphene", "--form", "polycrystal", "--extent", "25", "--grains", "2"],
            "grains",
        ),
        (["relax", w, "--fmax", "0.05", "-o", "r"], "relax"),
        (["phonons", r, "--configs", "2", "-o", "e"], "snapshots"),
        (["phonons", r, *md, "-o", "m"], "md"),
    ]
    for args, bar in commands:
        out = [str(tmp_path / a) if args[i - 1] == "-o" else a for i, a in enumerate(args)]
        if "-o" not in args:
            out += ["-o", str(tmp_path / bar)]
        assert main(out) == 0
        assert re.search(rf"{bar}: 100%\|", capsys.readouterr().err), args


def test_relax_with_lammps(tmp_path):
    assert main(["build", "wulff", "--size", "50", "-o", str(tmp_path / "w")]) == 0
    source = tmp_path / "w" / "wulff.xyz"
    lammps = ["--pair-style", "eam", "--pair-coeff", "1 1 Au_u3.eam", "--fmax", "0.05"]
    assert main(["relax", str(source), *lammps, "-o", str(tmp_path / "r")]) == 0
    assert len(ase.io.read(tmp_path / "r" / "relaxed.xyz")) == len(ase.io.read(source))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["build", "particle", "--name", "p.unknownsuffix"], "--name"),
        (["build", "particle", "--name", "../p.xyz"], "--name"),
        (["build", "particle", "--element", "Xx"], "symbol"),
        (["build", "particle", "--temperature", "-1"], "temperature"),
        (["build", "wulff", "--surfaces", "10"], "--surfaces"),
        (["build", "wulff", "--size", "0"], "size"),
        (["build", "graphene", "--extent", "-3"], "extent"),
        (["build", "graphene", "--form", "flat"], "--form"),
        (["build", "graphene", "--grains", "3"], "--grains applies to --form polycrystal"),
        (["build", "graphene", "--hole-radius", "1", "2"], "--hole-radius applies"),
        (["relax", "{tmp}/missing.xyz"], "missing.xyz"),
        (["phonons", "{tmp}/a.xyz", "--name", "s.xyz"], r"\.traj"),
        (["phonons", "{tmp}/a.xyz", "--model", "x"], "--model"),
    ],
)
def test_bad_input_exits_2_without_files(args, match, tmp_path, capsys):
    ase.io.write(tmp_path / "a.xyz", bulk("Au", cubic=True))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main([*argv, "-o", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and re.search(match, error[0])
    assert _files(tmp_path) == ["a.xyz"]


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
    code = main(["phonons", str(source), "--model", "md", *option, "-o", str(tmp_path / "s")])
    assert code == 2
    assert re.search(match, capsys.readouterr().err)
    assert _files(tmp_path) == ["a.xyz"]
