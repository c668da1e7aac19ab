"""Run directories: where an experiment writes its config, environment, metrics and plots.

Every write is atomic (a temporary file ``.<name>.<random>.tmp`` renamed into place), so an
interrupted run never leaves a half-written file behind; the temporary file a kill inside a write
leaves is removed by :func:`remove_temporary_files` the next time a process takes the directory's
:class:`RunLock` (one process at a time trains, resumes or fetches into a run directory).
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import io
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from qsa.errors import UserError

__all__ = [
    "PACKAGES",
    "LOCK",
    "RunLock",
    "RunDirectoryInUse",
    "check_output_file",
    "check_output_root",
    "environment",
    "git_commit",
    "new_run_dir",
    "run_name",
    "remove_temporary_files",
    "write_json",
    "write_bytes",
    "write_png",
]

logger = logging.getLogger(__name__)

#: Distributions whose versions every run records.
PACKAGES = (
    "qsa",
    "numpy",
    "scipy",
    "torch",
    "pennylane",
    "pennylane_lightning",
    "qiskit",
    "qiskit-aer",
    "qiskit-ibm-runtime",
    "matplotlib",
)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(path: str | os.PathLike = ".") -> str | None:
    """The commit checked out at ``path`` (with ``+dirty`` if the work tree has changes), or ``None``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def environment(path: str | os.PathLike = ".") -> dict[str, Any]:
    """Python, platform, CPU count, package versions and git commit, for a run's record."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git_commit": git_commit(path),
    }


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """A new, empty directory ``root/<name>-<UTC timestamp>`` (suffixed ``-1``, ``-2``, ... if taken)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        path = root / (f"{name}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a fresh run directory under {root}")


def check_output_root(root: str | os.PathLike, name: str = "out") -> Path:
    """``root`` as a ``Path`` if run directories can be made under it: an existing directory, or a path
    whose first existing ancestor is a directory; else :class:`~qsa.errors.UserError` naming ``name``."""
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{name} must be a directory (or a path to create); got {str(path)!r}, which is a file",
            key=name,
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(
                    f"{name} must be a path whose folders can be created; got {str(path)!r}, under the file {str(parent)!r}",
                    key=name,
                )
            break
    return path


def check_output_file(path: str | os.PathLike, name: str = "path") -> Path:
    """``path`` as a ``Path`` if a file can be written there: its folder exists and it is not a directory;
    else :class:`~qsa.errors.UserError` naming ``name``."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{name} must name a file to write; got {str(path)!r}, which is a directory", key=name)
    if not path.parent.is_dir():
        what = "does not exist" if not path.parent.exists() else "is not a folder"
        raise UserError(
            f"{name} must name a file in an existing folder; got {str(path)!r}, whose folder {str(path.parent)!r} {what}",
            key=name,
        )
    return path


_TMP_SUFFIX = ".tmp"
#: Temporary files of :func:`write_bytes`: ``.<name>.<8 random>.tmp`` (``.<name>.<8 random>`` in older versions).
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<suffix>\.tmp)?$")


def is_directory_name(name: str) -> bool:
    """Whether ``name`` names one directory inside its parent: non-empty, no slash, not starting with ``.``."""
    return bool(name) and not any(c in name for c in "/\\") and not name.startswith(".")


def run_name(name: str, overrides: Sequence[str] = ()) -> str:
    """``name`` followed by the ``--set`` overrides, as a directory name: ``tfim-model.k=3-train.steps=50``.

    Spaces, slashes and quotes become ``_``; a name longer than 120 characters is cut and ends in
    a hash of the whole, so different overrides give different names.
    """
    parts = [name] + [re.sub(r"[\s/\\'\"]+", "_", item.strip()) for item in overrides]
    text = "-".join(p for p in parts if p)
    if len(text) > 120:
        text = text[:111] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return text


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file ``.<name>.<random>.tmp``, fsynced, renamed into place).

    The file gets the permissions of a new file under the process's umask (``0666 & ~umask``:
    ``0644``, readable by the user's group, under the usual ``022``), not the temporary file's ``0600``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would give this
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temporary_files(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of :func:`write_bytes` a kill inside a write left in ``directory``.

    Call it only while holding the directory's :class:`RunLock` (no other write can be under way).
    Returns the removed paths (each is logged).
    """
    directory = Path(directory)
    removed = []
    for path in directory.glob(".*"):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and (match["suffix"] or (path.parent / match["name"]).exists()):
            path.unlink(missing_ok=True)
            logger.warning("removed %s, a temporary file left by a process killed while writing", path)
            removed.append(path)
    return removed


#: The lock file of a run directory.
LOCK = ".lock"


class RunDirectoryInUse(UserError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """An exclusive lock on a run directory while one process trains, resumes or fetches into it.

    ``fcntl.flock`` on ``<dir>/.lock``, which holds the owner's pid: the kernel releases the lock
    when its process dies, so the lock of a killed process is simply taken over by the next one
    (the stale pid in the file is overwritten). A second live process is refused with
    :class:`RunDirectoryInUse` naming the holder's pid. The file is removed on release (after
    checking it is still the locked one). Use as a context manager, or :meth:`acquire` /
    :meth:`release`.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):  # pragma: no cover - no flock here
                    raise
                raise RunDirectoryInUse(
                    f"the run directory {str(self.directory)!r} must not be in use by another process; got process "
                    f"{holder} holding {LOCK} (wait for it to finish, or stop it)",
                    key="RUN_DIR",
                ) from None
            try:  # the file may have been removed by its previous holder between our open and flock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # still ours: nobody else can lock it while we hold it
        finally:
            os.close(self._fd)  # releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def write_png(path: str | os.PathLike, fig: Any, *, dpi: int = 120) -> None:
    """Render the matplotlib figure ``fig`` as PNG and write it to ``path`` atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_bytes(path, buffer.getvalue())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())
