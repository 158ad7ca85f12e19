"""Output safety: a command replaces or removes only files it wrote itself (issue #12)."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from ase.io import write as ase_write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import atomscope.outputs
from atomscope.io import write_json
from atomscope.outputs import (
    check_output_directory,
    claim_outputs,
    manifest_path,
    owned_outputs,
    staged_outputs,
)


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every path under ``directory`` (relative) with its bytes (None for directories)."""
    return {
        str(path.relative_to(directory)): None if path.is_dir() else path.read_bytes()
        for path in sorted(directory.rglob("*"))
    }


def _run(out, command="hrtem", **files):
    with staged_outputs(out, command) as stage:
        for name, text in files.items():
            (stage / name).write_text(text)


def test_outputs_move_all_or_none(tmp_path):
    out = tmp_path / "out"
    with staged_outputs(out, "stem") as stage:
        (stage / "image.tif").write_text("new image")
        (stage / "store.zarr").mkdir()
        (stage / "store.zarr" / "chunk").write_text("old chunk")
        (stage / "summary.json").write_text("{}")
    visible = sorted(path.name for path in out.iterdir() if not path.name.startswith("."))
    assert visible == ["image.tif", "store.zarr", "summary.json"]
    before = _snapshot(out)
    with pytest.raises(KeyboardInterrupt), staged_outputs(out, "stem") as stage:
        (stage / "image.tif").write_text("half")
        raise KeyboardInterrupt
    assert _snapshot(out) == before
    with staged_outputs(out, "stem") as stage:
        (stage / "store.zarr").mkdir()
        (stage / "store.zarr" / "other").write_text("replaced")
    assert [path.name for path in (out / "store.zarr").iterdir()] == ["other"]
    assert not (out / "image.tif").exists()  # the old run's, not written again: removed


def test_a_set_cut_short_while_moving_has_no_summary_and_stays_owned(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _run(out, **{"image.tif": "old", "summary.json": "old"})
    moves = []
    real_replace = os.replace

    def replace_then_fail(source, target):
        if Path(target).parent == out and not Path(target).name.startswith("."):
            if moves:
                raise KeyboardInterrupt
            moves.append(target)
        real_replace(source, target)

    monkeypatch.setattr(atomscope.outputs.os, "replace", replace_then_fail)
    with pytest.raises(KeyboardInterrupt):
        _run(out, **{"a.tif": "new", "b.tif": "new", "summary.json": "new"})
    monkeypatch.setattr(atomscope.outputs.os, "replace", real_replace)
    assert not (out / "summary.json").exists()
    assert not [path for path in out.iterdir() if "staging" in path.name]
    # the next run may still replace what the interrupted one moved in
    _run(out, **{"a.tif": "newer", "summary.json": "newer"})
    assert (out / "a.tif").read_text() == "newer" and not (out / "b.tif").exists()


def test_a_hostile_summary_deletes_nothing(tmp_path):
    """Finding 1: {"outputs": [".."]} in summary.json made cbed remove the parent of --out."""
    parent = tmp_path / "project"
    out = parent / "run"
    out.mkdir(parents=True)
    (parent / "sibling.txt").write_text("keep")
    (out / "data").mkdir()
    (out / "data" / "raw.dm4").write_text("experiment")
    (out / "summary.json").write_text(json.dumps({"outputs": ["..", "data", "/etc/hostname"]}))
    before = _snapshot(parent)
    with pytest.raises(ValueError, match=r"summary\.json' exists and was not written"):
        _run(out, "cbed", **{"cbed.npz": "x", "summary.json": "{}"})
    assert _snapshot(parent) == before


def test_a_tampered_manifest_cannot_point_outside_out(tmp_path):
    parent = tmp_path / "project"
    out = parent / "run"
    _run(out, **{"image.tif": "ours", "summary.json": "{}"})
    (parent / "sibling.txt").write_text("keep")
    (out / "data").mkdir()
    (out / "data" / "raw.dm4").write_text("experiment")
    listed = ["..", "../sibling.txt", "data", "/etc/hostname", ".", "", "data/raw.dm4"]
    manifest = json.loads(manifest_path(out, "hrtem").read_text())
    manifest["outputs"].update({name: ["tree:0"] for name in listed})
    manifest_path(out, "hrtem").write_text(json.dumps(manifest))
    # "data" is listed and present, but its digest is not the one recorded
    assert set(owned_outputs(out, "hrtem")) == {"image.tif", "summary.json", "data"}
    _run(out, **{"summary.json": "{}"})
    assert (parent / "sibling.txt").read_text() == "keep"
    assert (out / "data" / "raw.dm4").read_text() == "experiment"


def test_commands_sharing_a_directory_never_delete_each_other(tmp_path):
    """Finding 1: cbed after hrtem in the shared default --out deleted all HRTEM outputs."""
    out = tmp_path / "out"
    _run(out, "hrtem", **{"image.tif": "hrtem", "summary.json": "hrtem"})
    before = _snapshot(out)
    with pytest.raises(ValueError, match="was not written by `atomscope cbed`"):
        claim_outputs(out, "cbed", ["cbed.npz", "summary.json"])
    with pytest.raises(ValueError, match="was not written by `atomscope cbed`"):
        _run(out, "cbed", **{"cbed.npz": "cbed", "summary.json": "cbed"})
    assert _snapshot(out) == before


def test_a_file_the_user_edited_is_neither_removed_nor_replaced(tmp_path):
    out = tmp_path / "out"
    _run(out, **{"image.tif": "ours", "detected.tif": "ours", "summary.json": "{}"})
    (out / "detected.tif").write_text("annotated by the user")
    _run(out, **{"image.tif": "again", "summary.json": "{}"})  # detected.tif is stale
    assert (out / "detected.tif").read_text() == "annotated by the user"
    (out / "image.tif").write_text("edited")
    with pytest.raises(ValueError, match=r"'image\.tif' exists"):
        _run(out, **{"image.tif": "third", "summary.json": "{}"})
    assert (out / "image.tif").read_text() == "edited"


def test_a_symlink_named_like_an_output_is_never_followed(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "image.tif").symlink_to(target)
    with pytest.raises(ValueError, match=r"'image\.tif' exists"):
        _run(out, **{"image.tif": "new", "summary.json": "{}"})
    assert target.read_text() == "keep" and (out / "image.tif").is_symlink()


def test_outputs_respect_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        with staged_outputs(tmp_path / "out", "stem") as stage:
            (stage / "store.zarr").mkdir()
            (stage / "store.zarr" / "0").write_text("chunk")
            write_json(stage / "summary.json", {"a": 1})
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "out").rglob("*")}
    assert modes["summary.json"] == 0o644 and modes["0"] == 0o644
    assert modes["store.zarr"] == 0o755


def test_staging_left_by_a_killed_run_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys, atomscope.outputs as o\n"
            f"with o.staged_outputs({str(out)!r}, 'hrtem') as stage:\n"
            "    (stage / 'image.tif').write_text('partial')\n"
            "    os._exit(9)\n",
        ],
        check=False,
    )
    assert killed.returncode == 9
    leftovers = [path.name for path in out.iterdir() if "staging" in path.name]
    assert len(leftovers) == 1
    foreign = out / ".staging-somebody-else"
    foreign.mkdir()
    other_command = out / ".atomscope-stem-staging-abc"
    other_command.mkdir()
    (other_command / ".owner").write_text(json.dumps({"command": "stem", "pid": 1 << 22}))
    _run(out, **{"summary.json": "{}"})
    names = {path.name for path in out.iterdir()}
    assert leftovers[0] not in names
    assert foreign.name in names and other_command.name in names


def test_an_out_that_cannot_be_created_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a writable directory"):
        check_output_directory("/proc/atomscope-test/run", "--out")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        if os.access(read_only, os.W_OK) and os.geteuid() == 0:
            # root ignores permission bits; a file in the way still cannot become a directory
            (read_only / "blocker").write_text("a file")
            bad = read_only / "blocker" / "run"
        else:
            bad = read_only / "run"
        with pytest.raises(ValueError, match="--out"):
            check_output_directory(bad, "--out")
    finally:
        read_only.chmod(0o755)


names = st.sampled_from(["image.tif", "summary.json", "data", "notes.txt", "store.zarr", "..", "."])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    user_files=st.sets(st.sampled_from(["image.tif", "summary.json", "notes.txt", "data"])),
    manifest_names=st.lists(names, max_size=5),
    summary_names=st.lists(names, max_size=5),
    written=st.sets(st.sampled_from(["image.tif", "summary.json", "store.zarr", "new.png"])),
    edit_after_first_run=st.sets(st.sampled_from(["image.tif", "summary.json", "store.zarr"])),
)
def test_staged_outputs_never_touch_a_file_they_did_not_write(
    tmp_path_factory, user_files, manifest_names, summary_names, written, edit_after_first_run
):
    """Property: over directory states, hostile summaries and manifests, every file that no
    run of the command wrote (or that the user changed since) keeps its bytes, and nothing
    outside ``out`` changes."""
    root = tmp_path_factory.mktemp("prop")
    out = root / "out"
    out.mkdir()
    (root / "outside.txt").write_text("outside")
    for name in user_files:
        if name == "data":
            (out / name).mkdir()
            (out / name / "raw.dm4").write_text("user")
        else:
            (out / name).write_text(f"user {name}")
    if "summary.json" not in user_files:
        (out / "summary.json").write_text(json.dumps({"outputs": summary_names}))
    hostile = {"command": "hrtem", "outputs": {n: ["sha256:0"] for n in manifest_names}}
    manifest_path(out, "hrtem").write_text(json.dumps(hostile))
    foreign = _snapshot(out) | {"../outside.txt": b"outside"}

    def attempt(files):
        try:
            with staged_outputs(out, "hrtem") as stage:
                for name in files:
                    if name.endswith(".zarr"):
                        (stage / name).mkdir()
                        (stage / name / "0").write_text("ours")
                    else:
                        (stage / name).write_text(f"ours {name}")
        except ValueError:
            return False
        return True

    ours_first = set(written) if attempt(written) else set()
    edited = {}
    for name in edit_after_first_run & ours_first:
        path = out / name
        (path / "0" if path.is_dir() else path).write_text("edited")
        edited[name] = _snapshot(out)[name if not path.is_dir() else f"{name}/0"]
    attempt({"new.png"} | (set(written) - {"image.tif"}))
    after = _snapshot(out) | {"../outside.txt": (root / "outside.txt").read_bytes()}
    for name, content in foreign.items():
        if name.startswith(".atomscope-"):
            continue
        assert after.get(name) == content, f"{name} was removed or changed"
    for name, content in edited.items():
        inner = f"{name}/0" if (out / name).is_dir() else name
        assert after.get(inner) == content, f"the user's edit of {name} was lost"


def _stem_arguments(tmp_path, *detectors):
    from ase.build import bulk

    structure = tmp_path / "si.xyz"
    if not structure.exists():
        ase_write(structure, bulk("Si", cubic=True), format="extxyz")
    detector_options = [option for d in detectors for option in ("--detector", d)]
    return [
        "stem",
        str(structure),
        "--out",
        str(tmp_path / "stem"),
        "--sampling",
        "0.1",
        "--slice-thickness",
        "2",
        "--scan-sampling",
        "1.0",
        *detector_options,
    ]


def test_an_interrupted_4dstem_scan_keeps_the_previous_complete_store(tmp_path, monkeypatch):
    """Finding 2: the old store was destroyed when a scan started; an interrupt left a partial
    store beside the old summary while the CLI said no partial output was kept."""
    import zarr

    import atomscope.waves.probe as probe_module
    from atomscope.cli import main

    arguments = _stem_arguments(tmp_path, "annular:40:80", "pixelated:30")
    assert main(arguments) == 0
    out = tmp_path / "stem"
    before = _snapshot(out)
    assert zarr.open_array(out / "4dstem.zarr", mode="r").attrs["complete"] is True
    run = probe_module.run_multislice
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return run(*args, **kwargs)

    monkeypatch.setattr(probe_module, "run_multislice", interrupted)
    assert main([*arguments, "--batch-size", "1"]) == 130
    assert calls and _snapshot(out) == before
    monkeypatch.setattr(probe_module, "run_multislice", run)
    assert main(_stem_arguments(tmp_path, "annular:40:80")) == 0
    assert not (out / "4dstem.zarr").exists() and not (out / "4dstem_mean.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert "4dstem.zarr" not in summary["outputs"]


def test_every_command_has_its_own_default_directory():
    from atomscope.cli import build_parser

    parser = build_parser()
    defaults = {
        command: parser.parse_args([command, *extra]).out
        for command, extra in [
            ("hrtem", ["x.xyz"]),
            ("demo", []),
            ("stem", ["x.xyz"]),
            ("cbed", ["x.xyz"]),
            ("strain", ["x.tif", "--template", "square"]),
            ("recognize", ["x.tif"]),
        ]
    }
    assert defaults == {command: f"out/{command}" for command in defaults}


def test_sigterm_during_a_scan_removes_the_staging_and_keeps_the_previous_set(tmp_path):
    import signal
    import time

    arguments = _stem_arguments(tmp_path, "annular:40:80", "pixelated:30")
    assert subprocess.run([sys.executable, "-m", "atomscope.cli", *arguments]).returncode == 0
    out = tmp_path / "stem"
    before = _snapshot(out)
    slow = [*arguments, "--scan-sampling", "0.2", "--batch-size", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "atomscope.cli", *slow], stderr=subprocess.PIPE, text=True
    )

    def scanning() -> bool:
        """The scan has written patterns into the staged store (imports are over: a signal
        that lands in an import's weakref callback is printed and ignored by Python)."""
        stores = [p / "4dstem.zarr" for p in out.iterdir() if "staging" in p.name]
        return any(len(list(store.rglob("*"))) > 4 for store in stores if store.is_dir())

    deadline = time.monotonic() + 60
    while not scanning() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert _snapshot(out) == before


def test_train_never_replaces_files_it_did_not_write(tmp_path):
    from atomscope.learning.train import TrainConfig, train

    out = tmp_path / "training"
    out.mkdir()
    (out / "model.pt").write_bytes(b"the user's model")
    with pytest.raises(ValueError, match=r"'model\.pt' exists and was not written"):
        train(TrainConfig(iterations=1, num_structures=1), out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["model.pt"]
    assert (out / "model.pt").read_bytes() == b"the user's model"


def test_build_relax_and_phonons_replace_only_files_they_wrote(tmp_path):
    from atomscope.cli import main

    mine = tmp_path / "models" / "particle.xyz"
    mine.parent.mkdir()
    mine.write_text("the user's own model")
    arguments = ["build", "particle", "--radius", "4", "5", "-o", str(mine.parent)]
    assert main(arguments) == 2
    assert mine.read_text() == "the user's own model"
    built = tmp_path / "built"
    assert main([*arguments[:-1], str(built)]) == 0
    assert main([*arguments[:-1], str(built), "--rng", "1"]) == 0  # its own files: replaced
    source = str(built / "particle.xyz")
    assert main(["relax", source, "--steps", "2", "-o", str(tmp_path / "relaxed")]) == 0
    # build's summary.json is in the way: relax never replaces another command's file
    assert main(["relax", source, "--steps", "2", "-o", str(built)]) == 2
    assert json.loads((built / "summary.json").read_text())["command"] == "build"
    assert main(["phonons", source, "--configs", "2", "-o", str(built)]) == 2
