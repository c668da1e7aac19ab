"""The experiment configurations installed with the library: list them, find them, copy them.

The TOML files of the repository's ``experiments/<study>/`` folders ship as package data
(``qsa.experiments``), so a pip install can run the reference task without a clone::

    qsa configs                                   # list them: name, what runs it, first comment line
    qsa configs --copy my-configs                 # copy them all to my-configs/<study>/<file>.toml
    qsa train my-configs/tfim/config.toml

Names are ``"<study>/<file>.toml"`` (``"tfim/config.toml"``), as under ``experiments/`` in the
repository. Copies keep that layout, so the sweep plans, which name other studies' configs
by relative path (``"../tfim/config.toml"``), still find them. Source: this library.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["BundledConfig", "Kind", "KINDS", "list_configs", "config_path", "copy_configs"]

Kind = Literal["train", "submit", "gates", "sweep"]
#: What runs a config of each kind (``FILE`` stands for its path).
KINDS: dict[str, str] = {
    "train": "qsa train FILE",
    "submit": "qsa submit FILE --backend NAME",
    "gates": "python experiments/gate_counts/run.py --config FILE (repository)",
    "sweep": "qsa sweep FILE",
}


@dataclass(frozen=True)
class BundledConfig:
    """One installed configuration.

    Attributes:
        name: ``"<study>/<file>.toml"``.
        kind: ``"train"`` (a :class:`qsa.training.TrainConfig`), ``"submit"`` (a hardware
            submission), ``"gates"`` (a gate-count sweep) or ``"sweep"`` (a sweep plan: several training
            configs in one ``qsa sweep``, e.g. the comparison of every model family).
        summary: the file's first comment line.
        path: where it is installed (read-only for a system install: copy it to change it).
    """

    name: str
    kind: Kind
    summary: str
    path: Path

    @property
    def command(self) -> str:
        """The command that runs it, e.g. ``"qsa train tfim/config.toml"``."""
        return KINDS[self.kind].replace("FILE", self.name)


def _root() -> Path:
    return Path(str(importlib.resources.files("qsa.experiments")))


def _kind(text: str) -> Kind:
    tables = tomllib.loads(text)
    if isinstance(tables.get("tasks"), dict):
        return "sweep"
    if "sweep" in tables:
        return "gates"
    if "circuit" in tables:
        return "submit"
    return "train"


def _summary(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#") and line.strip("# "):
            return line.lstrip("#").strip()
    return ""


def list_configs() -> list[BundledConfig]:
    """Every installed configuration, sorted by name."""
    out = []
    for path in sorted(_root().glob("*/*.toml")):
        text = path.read_text(encoding="utf-8")
        name = f"{path.parent.name}/{path.name}"
        out.append(BundledConfig(name=name, kind=_kind(text), summary=_summary(text), path=path))
    return out


def config_path(name: str) -> Path:
    """The installed file of the configuration ``name`` (``"tfim/config.toml"``).

    Raises:
        ValueError: if no installed configuration has that name (the message lists them).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as 'tfim/config.toml'; got {type(name).__name__}")
    known = {c.name: c.path for c in list_configs()}
    if name not in known:
        raise ValueError(f"name must be one of the installed configs ({', '.join(known)}); got {name!r}")
    return known[name]


def copy_configs(dest: str | os.PathLike[str], names: Sequence[str] = (), *, overwrite: bool = False) -> list[Path]:
    """Copy configurations to ``dest/<study>/<file>.toml`` and return the paths written.

    Args:
        dest: a directory (created if missing).
        names: which configurations (``"tfim/config.toml"``, or a whole study ``"tfim"``); empty
            for all of them.
        overwrite: replace files that exist; without it an existing file is an error and nothing
            is copied.

    Raises:
        ValueError: for an unknown name, or an existing file without ``overwrite``, before copying anything.
    """
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of names, e.g. ['tfim/config.toml']; got the string {names!r}")
    configs = list_configs()
    studies = {c.name.split("/")[0] for c in configs}
    chosen: list[BundledConfig] = []
    for name in names:
        if name in studies:
            chosen += [c for c in configs if c.name.startswith(name + "/")]
        else:
            path = config_path(name)  # raises for an unknown name
            chosen += [c for c in configs if c.path == path]
    if not names:
        chosen = configs
    dest = Path(dest)
    targets = [(c.path, dest / c.name) for c in dict.fromkeys(chosen)]
    existing = [str(t) for _, t in targets if t.exists()]
    if existing and not overwrite:
        raise ValueError(
            f"dest must not hold these files already (pass overwrite=True to replace them); got {existing}"
        )
    written = []
    for source, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written
