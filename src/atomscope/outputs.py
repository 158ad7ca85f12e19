"""Where a command's files go, and the rules that keep the user's own files safe.

Every file is written under a temporary name and renamed into place only when complete
(:func:`atomic_output`). A command with several outputs writes them into a staging directory
inside ``--out`` and moves them in together (:func:`staged_outputs`), its summary last.

Ownership: a command records the files it wrote in ``--out`` in a manifest of its own,
``.atomscope-COMMAND.json``: names only (never a path separator or ``..``) with a digest of
their content. A later run of the same command may replace or remove a file only if the
manifest lists it and its content is unchanged since; any other file in ``--out`` — the user's,
another command's, one the user edited — is never replaced or removed: the run is refused
instead, before any work when the output names are known up front (:func:`claim_outputs`).
Nothing is read from a summary.json to decide what to delete.

Files are created with the permissions the process umask allows (0644 under the usual 022).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

_COMMAND = re.compile(r"[a-z][a-z0-9_-]*")
#: Set by the command line's SIGTERM handler. Python prints and drops an exception raised in a
#: signal handler that interrupts a finalizer or weakref callback, so a staged set checks this
#: before it moves in: a terminated job never replaces the previous set.
termination_requested = threading.Event()
_STAGING = "staging"
_OWNER = ".owner"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _respect_umask(path: Path) -> None:
    """Give ``path`` (and a directory's contents) the permissions a plain ``open`` would."""
    mask = _umask()
    if path.is_dir() and not path.is_symlink():
        os.chmod(path, 0o777 & ~mask)
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(Path(root) / name, 0o777 & ~mask)
            for name in files:
                os.chmod(Path(root) / name, 0o666 & ~mask)
    else:
        os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success.

    The file gets the permissions the umask allows (``mkstemp`` alone would make it 0600).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "result.txt"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        _respect_umask(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_output_directory(out: str | os.PathLike, name: str = "out", create: bool = False) -> Path:
    """``out`` as a Path once it is proven a writable directory; a ``ValueError`` if it is not.

    Missing directories are created and a probe file is created and removed inside, so a
    directory that looks writable but is not (a read-only mount, ``/proc``) is refused before a
    job starts. Unless ``create``, the directories made for the probe are removed again, so a
    job refused later leaves no trace.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> check_output_directory(pathlib.Path(tempfile.mkdtemp()) / "new" / "run").name
    'run'
    """
    path = Path(out)
    if path.is_symlink() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a broken symbolic link, not a directory")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a file, not a directory")
    created = []
    missing = path.absolute()
    while not missing.exists() and missing != missing.parent:
        created.append(missing)
        missing = missing.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".atomscope-probe-", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        _remove_empty(created)
        reason = error.strerror or type(error).__name__
        raise ValueError(f"{name} {str(path)!r} is not a writable directory: {reason}") from None
    if not create:
        _remove_empty(created)
    return path


def _remove_empty(directories: list[Path]) -> None:
    """Remove ``directories`` (innermost first) that are still empty."""
    for directory in directories:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _check_command(command: str) -> str:
    if not isinstance(command, str) or not _COMMAND.fullmatch(command):
        raise ValueError(f"command must be a lower-case name like 'hrtem', got {command!r}")
    return command


def manifest_path(out: str | os.PathLike, command: str) -> Path:
    """The manifest in which ``command`` records the files it wrote in ``out``."""
    return Path(out) / f".atomscope-{_check_command(command)}.json"


def _plain_name(name: object) -> bool:
    """True for a file name with no directory part, nothing hidden and no ``.``/``..``."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


def digest(path: Path) -> str:
    """Content digest of a file; for a directory (a zarr store), of its file names, sizes and
    modification times (reading a multi-GB store twice per run would cost more than it saves).
    """
    if path.is_symlink():
        return "symlink"
    if path.is_dir():
        listing = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                file = Path(root) / name
                info = file.lstat()
                listing.update(f"{file.relative_to(path)}\0{info.st_size}\0".encode())
                listing.update(f"{info.st_mtime_ns}\n".encode())
        return "tree:" + listing.hexdigest()
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def owned_outputs(out: str | os.PathLike, command: str) -> dict[str, list[str]]:
    """Names ``command`` wrote in ``out`` (per its manifest) with their accepted digests.

    Entries that are not plain names, and names not present in the directory listing, are
    dropped: a tampered manifest can never point outside ``out``.
    """
    out = Path(out)
    try:
        recorded = json.loads(manifest_path(out, command).read_text()).get("outputs", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    try:
        present = set(os.listdir(out))
    except OSError:
        return {}
    owned = {}
    for name, digests in recorded.items():
        accepted = [digests] if isinstance(digests, str) else digests
        if _plain_name(name) and name in present and isinstance(accepted, list):
            owned[name] = [value for value in accepted if isinstance(value, str)]
    return owned


def _replaceable(target: Path, owned: dict[str, list[str]]) -> bool:
    if not target.exists() and not target.is_symlink():
        return True
    return target.name in owned and digest(target) in owned[target.name]


def claim_outputs(out: str | os.PathLike, command: str, names: Iterable[str]) -> None:
    """Refuse (``ValueError``) before any work if writing ``names`` would replace a file in
    ``out`` that ``command`` did not write, or that was changed since it wrote it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (out / "image.tif").write_text("the user's own file")
    >>> claim_outputs(out, "hrtem", ["image.tif"])
    Traceback (most recent call last):
    ...
    ValueError: --out ...: 'image.tif' exists and was not written by `atomscope hrtem` ...
    """
    out = Path(out)
    owned = owned_outputs(out, command)
    for name in names:
        if not _plain_name(name):
            raise ValueError(f"output name {name!r} must be a plain file name")
        if not _replaceable(out / name, owned):
            raise ValueError(
                f"--out {str(out)!r}: {name!r} exists and was not written by `atomscope "
                f"{command}` (or was changed since); move it away or choose another --out"
            )


def record_outputs(out: str | os.PathLike, command: str, names: Iterable[str]) -> None:
    """Record ``names`` in ``out`` (as they are now) as written by ``command``.

    For a job that updates its outputs in place over a long run (``train``'s checkpoints):
    call `claim_outputs` before the first write and this after each. Other entries of the
    manifest are kept.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (out / "model.pt").write_bytes(b"weights")
    >>> record_outputs(out, "train", ["model.pt"])
    >>> list(owned_outputs(out, "train"))
    ['model.pt']
    """
    out = Path(out)
    owned = owned_outputs(out, command)
    for name in names:
        if not _plain_name(name):
            raise ValueError(f"output name {name!r} must be a plain file name")
        owned[name] = [digest(out / name)]
    _write_manifest(out, command, owned)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out: str | os.PathLike, command: str) -> list[str]:
    """Remove staging directories that a killed run of ``command`` left in ``out``.

    Only directories named ``.atomscope-COMMAND-staging-*`` whose owner file names this command
    and a process that no longer runs are removed. Returns their names.
    """
    out = Path(out)
    prefix = f".atomscope-{_check_command(command)}-{_STAGING}-"
    removed = []
    with contextlib.suppress(OSError):
        for entry in out.iterdir():
            if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_dir():
                continue
            try:
                owner = json.loads((entry / _OWNER).read_text())
                pid = int(owner["pid"])
                if owner["command"] != command:
                    continue
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not _pid_alive(pid):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
    return removed


def _write_manifest(out: Path, command: str, outputs: dict[str, list[str]]) -> None:
    text = json.dumps({"command": command, "outputs": outputs}, indent=1, sort_keys=True)
    with atomic_output(manifest_path(out, command)) as tmp:
        tmp.write_text(text + "\n")


@contextlib.contextmanager
def staged_outputs(
    out: str | os.PathLike, command: str, last: str = "summary.json", keep_others: bool = False
) -> Iterator[Path]:
    """Yield a staging directory inside ``out``; move its entries into ``out`` on success.

    A job writes all its outputs (files, or directories such as a zarr store) into the staging
    directory. Only when the ``with`` block ends without an exception are they moved into
    ``out``, ``last`` (the summary) after every other entry, so a present summary means a
    complete set. Outputs of the previous run of ``command`` (its manifest) that this run did
    not write are removed if unchanged, unless ``keep_others`` (a command whose runs add files
    named after their inputs, like ``recognize``). Replacing a file ``command`` does not own is refused
    with a ``ValueError`` and changes nothing. On an error or an interrupt the staging directory
    is deleted and ``out`` keeps what it held. Staging directories of killed runs of the same
    command are removed on entry.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with staged_outputs(out, "demo") as stage:
    ...     _ = (stage / "image.txt").write_text("pixels")
    ...     _ = (stage / "summary.json").write_text("{}")
    >>> sorted(path.name for path in out.iterdir())
    ['.atomscope-demo.json', 'image.txt', 'summary.json']
    """
    out = check_output_directory(out, "--out", create=True)
    remove_stale_staging(out, command)
    stage = Path(tempfile.mkdtemp(prefix=f".atomscope-{command}-{_STAGING}-", dir=out))
    try:
        (stage / _OWNER).write_text(json.dumps({"command": command, "pid": os.getpid()}))
        yield stage
        (stage / _OWNER).unlink()
        if termination_requested.is_set():
            raise KeyboardInterrupt
        _commit(stage, out, command, last, keep_others)
    except BaseException:
        _remove_staging(stage, settle=True)
        raise
    _remove_staging(stage)


_SETTLE = 0.3  # [s] an interrupted job's staging directory must stay gone this long
_SETTLE_LIMIT = 3.0  # [s] at most this long is spent removing it


def _remove_staging(stage: Path, settle: bool = False) -> None:
    """Remove the staging directory. After an error or an interrupt, an interrupted writer's
    threads (zarr's chunk writes in flight) can still add files while it is being removed, so
    with ``settle`` it is removed until it has stayed gone for `_SETTLE` seconds."""
    deadline = time.monotonic() + _SETTLE_LIMIT
    gone_since = None
    while time.monotonic() < deadline:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
            gone_since = None
        elif not settle:
            return
        elif gone_since is None:
            gone_since = time.monotonic()
        elif time.monotonic() - gone_since >= _SETTLE:
            return
        time.sleep(0.02)


def _commit(stage: Path, out: Path, command: str, last: str, keep_others: bool) -> None:
    entries = sorted(stage.iterdir(), key=lambda path: (path.name == last, path.name))
    for entry in entries:
        if not _plain_name(entry.name):
            raise ValueError(f"output name {entry.name!r} must be a plain file name")
        _respect_umask(entry)
    claim_outputs(out, command, [entry.name for entry in entries])
    owned = owned_outputs(out, command)
    new = {entry.name: [digest(entry)] for entry in entries}
    kept = {name: digests for name, digests in owned.items() if name not in new}
    stale = [] if keep_others else [n for n, d in kept.items() if digest(out / n) in d]
    # while moving, the manifest accepts old and new content, so a run cut short here still
    # owns every file it may have left
    _write_manifest(out, command, {**owned, **{n: owned.get(n, []) + d for n, d in new.items()}})
    if last in owned and digest(out / last) in owned[last]:
        (out / last).unlink()  # the old summary goes first: a set cut short never looks complete
    for name in stale:
        _remove(out / name)
    for entry in entries:
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():  # a directory cannot be replaced by rename
            os.replace(target, stage / f".replaced-{entry.name}")
        os.replace(entry, target)
    _write_manifest(out, command, {**(kept if keep_others else {}), **new})


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
