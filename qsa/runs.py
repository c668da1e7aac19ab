"""Run directories: where an experiment writes its config, environment, metrics and plots.

Every write is atomic (a temporary file renamed into place), so an interrupted run never leaves a
half-written file behind. Files get the permissions the process's umask gives a new file
(``0644`` under the usual ``022``: readable by the user's group), not the owner-only ``0600``
of a temporary file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
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

__all__ = [
    "PACKAGES",
    "environment",
    "git_commit",
    "new_run_dir",
    "run_name",
    "write_json",
    "write_bytes",
    "write_png",
]

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


def _umask() -> int:
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with the permissions of a new file under the umask (``0666 & ~umask``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
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


def write_png(path: str | os.PathLike, fig: Any, *, dpi: int = 120) -> None:
    """Render the matplotlib figure ``fig`` as PNG and write it to ``path`` atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_bytes(path, buffer.getvalue())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())
