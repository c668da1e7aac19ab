r"""Sweeps: grid points x seeds, each an ordinary training run, on Ray Tune or one after another here.

``qsa sweep CONFIG --grid model.k=1,2,3,4 --grid model.kernel=mono,poly --seeds 0-4`` runs the
Cartesian product of the grid points and the seeds. Each (point, seed) is one *trial*: the training
config ``CONFIG`` with the point's keys and the seed set (as ``--set`` would set them; a
``model.family`` in the grid resets the file's keys that family does not use, as ``qsa train --set
model.family=F`` does), trained by :func:`qsa.training.loop.train` into its own run directory (config,
environment, metrics, checkpoints, plot, summary). Two engines run the same trials:

- ``"ray"``: one Ray Tune trial per (point, seed) (``ray.tune.Tuner`` over a grid search of
  the trial indices, resources ``cpus_per_trial`` / ``gpus_per_trial`` per trial). The run's
  checkpoints are handed to Tune (``tune.report(..., checkpoint=...)``; the first, then at most one
  every :data:`TUNE_CHECKPOINT_SECONDS`, while the run directory keeps each one), a failed
  trial is retried up to ``max_failures`` times (``FailureConfig``) and resumed from its last
  checkpoint (:func:`qsa.training.loop.resume`: it ends with the metrics of an uninterrupted run), and
  :func:`resume_sweep` finishes an interrupted sweep with ``Tuner.restore`` without rerunning
  finished trials. Ray starts on this machine unless ``address`` names a running cluster
  (``ray start --head`` on a node, or Ray's Slurm recipe: ``experiments/scaling/README.md``).
  The run directories live in the sweep directory, which on a cluster must be on a file system
  every node sees (the checkpoints reach Tune's storage either way).
- ``"local"``: the same trials in this process, one after another (no Ray needed), retried and
  resumed the same way.

A sweep directory (``<out>/<name>-sweep-<stamp>/``) holds::

    sweep.json    the plan: grid, seeds, engine options and every trial's resolved configuration
    trials/       one qsa run directory per trial, ``<name>-<key>=<value>...-seed=<s>``
    tune/         Ray Tune's experiment state (engine "ray"): what Tuner.restore reads
    trials.csv    one line per trial: point, seed, final losses per split, wall seconds
    summary.csv   one line per grid point: median and interquartile range over the seeds
    summary.md    the same as a table (what ``qsa sweep`` prints)
    summary.png   the headline metric (held-out value of the training objective) against the first grid key

Both engines produce the same run directories, so the same ``trials.csv`` and ``summary.csv``
number for number (apart from the wall times): every figure is read from the runs'
``summary.json``, and every trial trains with the same torch thread count (``threads``).
Nothing is written, and no trial starts, until every trial's configuration, the engine, the
devices and the cluster address have been checked.

Example:
    >>> import tempfile
    >>> from qsa.configs import config_path
    >>> from qsa.training.sweep import plan_sweep, run_sweep
    >>> plan = plan_sweep(config_path("tfim/smoke.toml"), ["model.k=1,2"], "0", overrides=["train.steps=2"])
    >>> [t.name for t in plan.trials]
    ['tfim-smoke-model.k=1-seed=0', 'tfim-smoke-model.k=2-seed=0']
    >>> with tempfile.TemporaryDirectory() as out:
    ...     result = run_sweep(plan, out=out, engine="local")
    >>> [(p["model.k"], p["n_seeds"]) for p in result.points]
    [(1, 1), (2, 1)]
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import logging
import math
import os
import shutil
import socket
import statistics
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsa import runs
from qsa.errors import UserError
from qsa.training.config import (
    TrainConfig,
    _parse_value,
    config_from_dict,
    config_to_dict,
    load_config_with_family,
    parse_overrides,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ENGINES",
    "SPLITS",
    "Trial",
    "SweepPlan",
    "SweepResult",
    "SweepFailed",
    "Progress",
    "parse_grid",
    "parse_seeds",
    "plan_sweep",
    "run_sweep",
    "resume_sweep",
    "run_trial",
    "summarise",
    "check_ray",
]

#: Engines that run the trials of a sweep.
ENGINES = ("local", "ray")
#: Splits of the summary: the training set, the test set and the held-out Hamiltonians (their mean).
SPLITS = ("train", "test", "heldout")
PLAN, TRIALS, TUNE = "sweep.json", "trials", "tune"
#: Keys a grid must not set: the seed has ``--seeds``; the name names the sweep.
_NOT_GRID = ("seed", "name")


# --- the plan --------------------------------------------------------------------------------------


def _split_values(text: str) -> list[str]:
    """``"1,2,[0.5,1]"`` -> ``["1", "2", "[0.5,1]"]``: commas inside brackets or quotes do not split."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["model.k=1,2", "model.kernel=mono,poly"]`` -> ``[("model.k", [1, 2]), ("model.kernel", ["mono", "poly"])]``.

    Values are read as TOML values (``1``, ``0.5``, ``true``, ``[0, 1]``), else as bare strings, as
    ``--set`` reads them. Whether a key exists is checked by :func:`plan_sweep` (against the config).

    Raises:
        UserError: for an item that is not ``KEY=V1,V2,...``, an empty value, a key given twice, or
            ``seed``/``name`` (the seeds have their own option).
    """
    if isinstance(items, str):
        raise TypeError(f"grid must be a sequence of 'KEY=V1,V2,...' strings; got the string {items!r}")
    grid: list[tuple[str, list[Any]]] = []
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise UserError(f"--grid must read KEY=V1,V2,... (e.g. model.k=1,2,3); got {item!r}", key="--grid")
        key, text = (part.strip() for part in item.split("=", 1))
        path = key.split(".")
        if not key or not all(path) or len(path) > 2:
            raise UserError(f"--grid key must be 'section.key' (e.g. model.k); got {key!r} in {item!r}", key="--grid")
        if key in _NOT_GRID:
            raise UserError(
                f"--grid key must not be {key!r} ({'use --seeds' if key == 'seed' else 'the sweep names it'}); got {item!r}",
                key="--grid",
            )
        values = _split_values(text)
        if not text or any(not v for v in values):
            raise UserError(
                f"--grid {key} must list at least one value, separated by commas (e.g. {key}=1,2); got {item!r}",
                key="--grid",
            )
        if any(k == key for k, _ in grid):
            raise UserError(f"--grid key must appear once; got {key!r} twice", key="--grid")
        parsed = [_parse_value(v) for v in values]
        if len({json.dumps(v, sort_keys=True) for v in parsed}) != len(parsed):
            raise UserError(f"--grid {key} must list each value once; got {item!r}", key="--grid")
        grid.append((key, parsed))
    return grid


def parse_seeds(text: str | Sequence[int]) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,3,7"``, ``"2"`` and ``"0-2,9"`` likewise; a list of ints is checked.

    Raises:
        UserError: for anything else: empty, negative, a range whose end is below its start, a seed twice.
    """
    if isinstance(text, str):
        seeds: list[int] = []
        for part in text.split(","):
            part = part.strip()
            lo, sep, hi = part.partition("-")
            try:
                if not part or (sep and not hi):
                    raise ValueError
                a, b = int(lo), int(hi) if sep else int(lo)
            except ValueError:
                raise UserError(
                    f"--seeds must be seeds >= 0 or ranges such as 0-4, separated by commas; got {text!r}",
                    key="--seeds",
                ) from None
            if a < 0 or b < a:
                raise UserError(
                    f"--seeds ranges must read LOW-HIGH with 0 <= LOW <= HIGH; got {part!r} in {text!r}", key="--seeds"
                )
            seeds.extend(range(a, b + 1))
    else:
        seeds = list(text)
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
            raise UserError(f"--seeds must be integers >= 0; got {text!r}", key="--seeds")
    if not seeds:
        raise UserError(f"--seeds must name at least one seed; got {text!r}", key="--seeds")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds must name each seed once; got {text!r}", key="--seeds")
    return seeds


@dataclass(frozen=True)
class Trial:
    """One (grid point, seed) of a sweep: an ordinary training run.

    Attributes:
        index: position in the sweep (points in grid order, seeds innermost).
        point: the grid point, ``{"model.k": 2, ...}`` in grid-key order.
        seed: the run's seed.
        name: its run directory's name, ``<config name>-<key>=<value>...-seed=<seed>``.
        config: the resolved configuration (:func:`~qsa.training.config.config_to_dict`).
    """

    index: int
    point: dict[str, Any]
    seed: int
    name: str
    config: dict[str, Any]

    def train_config(self) -> TrainConfig:
        return config_from_dict(self.config)


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep runs: the grid, the seeds and every trial's configuration (checked).

    Attributes:
        name: the sweep's name (the config's ``name``, or a sweep plan's).
        source: the training config file or sweep plan file as given.
        overrides: the ``--set`` overrides applied to every trial.
        grid: ``[(key, [values...]), ...]`` in the order given; the first key other than ``task`` is
            the plot's x axis. A value may be a *bundle*: a dict of settings that includes ``key``
            (``{"model.family": "chen", "model.heads": 2}``); the grid point shows its ``key`` value.
        seeds: the seeds, innermost.
        trials: every (point, seed), points in grid order.
        loss: the training objective (``train.loss`` of the first trial): the headline metric.
        reset: keys of the file reset by a ``model.family`` grid value, per family (for the record).
        tasks: a sweep plan's tasks, ``{task: training config path}`` (the values of its ``task``
            axis); empty for a sweep of one training config.
    """

    name: str
    source: str
    overrides: tuple[str, ...]
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    seeds: tuple[int, ...]
    trials: tuple[Trial, ...]
    loss: str
    reset: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "overrides": list(self.overrides),
            "tasks": self.tasks,
            "grid": [[key, list(values)] for key, values in self.grid],
            "seeds": list(self.seeds),
            "loss": self.loss,
            "reset": self.reset,
            "trials": [
                {"index": t.index, "point": t.point, "seed": t.seed, "name": t.name, "config": t.config}
                for t in self.trials
            ],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SweepPlan:
        return cls(
            name=raw["name"],
            source=raw["source"],
            overrides=tuple(raw["overrides"]),
            grid=tuple((key, tuple(values)) for key, values in raw["grid"]),
            seeds=tuple(raw["seeds"]),
            trials=tuple(Trial(**t) for t in raw["trials"]),
            loss=raw["loss"],
            reset=dict(raw.get("reset", {})),
            tasks=dict(raw.get("tasks", {})),
        )

    def labels(self) -> list[tuple[str, list[Any]]]:
        """The grid with each bundle replaced by its value of the axis key: the values grid points show."""
        return [(key, [_label(key, v) for v in values]) for key, values in self.grid]


def _assignment(key: str, value: Any) -> str:
    """``key=value`` as ``--set`` reads it back (TOML for non-strings)."""
    if isinstance(value, str):
        return f"{key}={value}"
    return f"{key}={json.dumps(value)}" if not isinstance(value, bool) else f"{key}={str(value).lower()}"


def _label(key: str, value: Any) -> Any:
    """What a grid point shows for ``value`` on the axis ``key``: a bundle's own ``key`` value."""
    return value[key] if isinstance(value, dict) else value


def _settings(key: str, value: Any) -> dict[str, Any]:
    """The config keys a grid value sets: ``{key: value}``, or the bundle itself."""
    return dict(value) if isinstance(value, dict) else {key: value}


def _flatten(table: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model": {"family": x}, "train.lr": y}`` -> ``{"model.family": x, "train.lr": y}`` (TOML's dotted keys)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            for inner, v in value.items():
                out[f"{key}.{inner}"] = v
        else:
            out[key] = value
    return out


def _check_key(key: str, where: str) -> None:
    path = key.split(".")
    if not key or not all(path) or len(path) != 2:
        raise UserError(f"{where} key must be 'section.key' (e.g. model.k); got {key!r}", key=where)
    if key in _NOT_GRID:
        raise UserError(f"{where} key must not be {key!r} (the sweep sets it); got it", key=where)


def _check_axis(key: str, values: Sequence[Any], where: str) -> list[Any]:
    """Check one grid axis whose values may be bundles (dicts of settings that include ``key``)."""
    _check_key(key, where)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise UserError(f"{where} {key} must be a non-empty list of values; got {values!r}", key=where)
    checked = []
    for value in values:
        if isinstance(value, Mapping):
            bundle = _flatten(value)
            if key not in bundle:
                raise UserError(
                    f"{where} {key}: a table of settings must set {key} itself (its value names the grid point); "
                    f"got {dict(value)!r}",
                    key=where,
                )
            for k in bundle:
                _check_key(k, where)
            value = bundle
        checked.append(value)
    labels = [json.dumps(_label(key, v), sort_keys=True) for v in checked]
    if len(set(labels)) != len(labels):
        raise UserError(
            f"{where} {key} must list each value once; got {[_label(key, v) for v in checked]!r}", key=where
        )
    return checked


#: The axis of a sweep plan that chooses the training config; its values are the plan's task names.
TASK = "task"
#: Top-level keys of a sweep plan file.
_PLAN_KEYS = ("name", "seeds", "tasks", "grid")


@dataclass(frozen=True)
class _PlanFile:
    name: str
    tasks: dict[str, Path]
    grid: list[tuple[str, list[Any]]]
    seeds: list[int]


def _read_toml(path: Path) -> dict[str, Any] | None:
    """The TOML table of ``path``; ``None`` if it is not a readable TOML file (``load_config`` says why)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def is_sweep_plan(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a sweep plan (a TOML file with a ``[tasks]`` table) rather than a training config."""
    raw = _read_toml(Path(path))
    return raw is not None and isinstance(raw.get("tasks"), dict)


def _check_dir_name(what: str, name: str) -> None:
    """Refuse ``name`` unless it is a directory name of its own (as a training config's ``name``)."""
    if not runs.is_directory_name(name):
        raise UserError(
            f"{what} must be a non-empty directory name (no slashes, not starting with '.'); got {name!r}", key=what
        )


def read_sweep_plan(path: str | os.PathLike[str]) -> _PlanFile:
    """Read and check a sweep plan file (format: :func:`plan_sweep`); every path relative to the file's folder.

    Raises:
        UserError: an unknown key, a task whose training config does not exist, an empty task list
            or grid axis, a malformed seed list or grid value.
    """
    path = Path(path)
    raw = _read_toml(path)
    if raw is None or not isinstance(raw.get("tasks"), dict):
        raise UserError(f"sweep plan must be a TOML file with a [tasks] table; got {str(path)!r}", key="CONFIG")
    unknown = sorted(set(raw) - set(_PLAN_KEYS))
    if unknown:
        raise UserError(f"sweep plan keys must be among {', '.join(_PLAN_KEYS)}; got {unknown} in {path}", key="CONFIG")
    tasks: dict[str, Path] = {}
    if not raw["tasks"]:
        raise UserError(f"tasks must name at least one training config; got an empty [tasks] in {path}", key="tasks")
    for task, file in raw["tasks"].items():
        _check_dir_name(f"tasks key {task!r}", task)  # it starts its trials' run directory names under trials/
        target = path.parent / file if isinstance(file, str) else None
        if target is None or not target.is_file():
            raise UserError(
                f"tasks.{task} must be the path of a training config relative to the plan; got {file!r} "
                f"(no such file next to {path})",
                key="tasks",
            )
        tasks[task] = target
    grid_table = raw.get("grid", {})
    if not isinstance(grid_table, dict):
        raise UserError(f"grid must be a table of KEY = [values]; got {grid_table!r}", key="grid")
    # a 'task' key is refused there too: it is not a section.key
    grid = [(key, _check_axis(key, values, "grid")) for key, values in _flatten(grid_table).items()]
    seeds = raw.get("seeds", "0")
    try:
        seed_list = parse_seeds(
            seeds if isinstance(seeds, str) else list(seeds) if isinstance(seeds, list) else [seeds]
        )
    except UserError as exc:
        raise UserError(str(exc).replace("--seeds", "seeds", 1), key="seeds") from None
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise UserError(f"name must be a non-empty string; got {name!r}", key="name")
    _check_dir_name("name", name)  # it names the sweep directory under --out
    return _PlanFile(name, tasks, grid, seed_list)


def _select(axis: tuple[str, list[Any]], wanted: list[Any]) -> tuple[str, list[Any]]:
    """The plan axis ``axis`` cut to the values ``wanted`` (``--grid KEY=...`` on a sweep plan), in that order."""
    key, values = axis
    by_label = {json.dumps(_label(key, v), sort_keys=True): v for v in values}
    chosen = []
    for w in wanted:
        text = json.dumps(w, sort_keys=True)
        if text not in by_label:
            raise UserError(
                f"--grid {key} must list values of the plan's {key} axis ({', '.join(str(_label(key, v)) for v in values)}); "
                f"got {w!r}",
                key="--grid",
            )
        chosen.append(by_label[text])
    return key, chosen


def plan_sweep(
    config: str | os.PathLike[str],
    grid: Sequence[str] | Sequence[tuple[str, Sequence[Any]]] = (),
    seeds: str | Sequence[int] | None = None,
    *,
    overrides: Sequence[str] = (),
) -> SweepPlan:
    """Check and resolve every trial of a sweep of a training config file, or of a sweep plan file.

    A *sweep plan* (``experiments/comparison/sweep.toml``) runs several training configs in one
    sweep, and grid values that are bundles of settings (Ray Tune's grid search over dicts)::

        name = "comparison"
        seeds = "0-9"                               # as --seeds
        [tasks]                                     # the task axis: task = training config (relative to this file)
        tfim = "../tfim/config.toml"
        markov = "../classical/markov.toml"
        [grid]                                      # further axes, as --grid; a value may be a table of settings
        model.family = ["qsa", "kcsa", { model.family = "chen", model.heads = 2 }]

    Its trials are the product task x grid points x seeds, task outermost; a trial's point holds
    ``task`` and, for a bundle, the value of the axis key (``model.family = "chen"``) while its
    config gets every setting of the bundle. On a plan, ``grid`` items naming a plan axis
    (``task=tfim``, ``model.family=qsa,chen``) keep only those values; other keys add an axis;
    ``seeds`` replaces the plan's.

    Args:
        config: a training config (TOML; ``experiments/*/config.toml``) or a sweep plan.
        grid: ``["model.k=1,2,3", ...]`` (as ``--grid``) or ``[("model.k", [1, 2, 3]), ...]``; may be empty
            (one point: the config itself).
        seeds: ``"0-4"``, ``"0,3"`` or a list of ints (:func:`parse_seeds`); ``None``: the plan's, or 0.
        overrides: ``--set`` overrides applied to every trial (before the grid point and seed).

    Returns:
        the :class:`SweepPlan`; every trial's configuration has been checked as ``qsa train`` checks one.

    Raises:
        UserError: for a malformed plan, grid or seed list, a key that is not a config key, a value a key
            does not take, a grid key also given in ``overrides``: before anything runs.
    """
    path = Path(config)
    plan_file = read_sweep_plan(path) if is_sweep_plan(path) else None
    items = list(grid)
    task_items = [i for i in items if isinstance(i, str) and i.split("=", 1)[0].strip() == TASK]
    if task_items and plan_file is None:
        raise UserError(f"--grid task must only be given with a sweep plan (a [tasks] table); got {task_items[0]!r}")
    items = [i for i in items if i not in task_items]
    if items and isinstance(items[0], str):
        parsed = parse_grid(items)  # type: ignore[arg-type]
    else:
        parsed = [(key, list(values)) for key, values in items]  # type: ignore[misc,str-unpack,unused-ignore]
        parsed = [(key, _check_axis(key, values, "--grid")) for key, values in parsed]
    tasks: dict[str, Path] = {}
    if plan_file is not None:
        tasks = plan_file.tasks
        axes: list[tuple[str, list[Any]]] = [(TASK, list(tasks)), *plan_file.grid]
        for item in task_items:
            names = _split_values(item.split("=", 1)[1])
            if not all(names):
                raise UserError(f"--grid task must list task names, separated by commas; got {item!r}", key="--grid")
            axes[0] = _select(axes[0], names)
        keys = [k for k, _ in axes]
        for key, values in parsed:
            if key in keys:
                axes[keys.index(key)] = _select(axes[keys.index(key)], values)
            else:
                axes.append((key, values))
        seed_list = parse_seeds(seeds) if seeds is not None else plan_file.seeds
    else:
        axes = parsed
        seed_list = parse_seeds("0" if seeds is None else seeds)
    overrides = list(overrides)
    given = {".".join(p) for p, _ in parse_overrides(overrides)}
    set_by: dict[str, str] = {}
    for key, values in axes:
        for value in values:
            for k in _settings(key, value) if key != TASK else ():
                if k in given:
                    raise UserError(f"--grid {k} must not also be given with --set; got both", key="--grid")
                if set_by.setdefault(k, key) != key:
                    raise UserError(
                        f"grid key {k} must be set by one axis; got it in {set_by[k]} and {key}", key="--grid"
                    )
    if "seed" in given:
        raise UserError("--set seed must not be given to a sweep (use --seeds); got it", key="--set")
    trials: list[Trial] = []
    resets: dict[str, dict[str, Any]] = {}
    keys = [key for key, _ in axes]
    for combination in itertools.product(*(v for _, v in axes)):
        point = {k: _label(k, v) for k, v in zip(keys, combination)}
        settings = [
            _assignment(k2, v2) for k, v in zip(keys, combination) if k != TASK for k2, v2 in _settings(k, v).items()
        ]
        shown = [_assignment(k, point[k]) for k in keys if k != TASK]
        source = tasks[point[TASK]] if tasks else path
        for seed in seed_list:
            loaded = load_config_with_family(source, [*overrides, *settings, f"seed={seed}"])
            if loaded.reset:
                resets[str(loaded.config.model.family)] = loaded.reset
            base = loaded.config
            name = runs.run_name(point[TASK] if tasks else base.name, [*shown, f"seed={seed}"])
            trials.append(Trial(len(trials), point, seed, name, config_to_dict(base)))
    names = [t.name for t in trials]
    if len(set(names)) != len(names):  # run_name shortens long names with a hash: a clash is a real duplicate
        raise UserError(
            f"--grid must give every trial its own run directory; got {len(names) - len(set(names))} clashes"
        )
    return SweepPlan(
        name=plan_file.name if plan_file is not None else str(trials[0].config["name"]),
        source=str(config),
        overrides=tuple(overrides),
        grid=tuple((k, tuple(v)) for k, v in axes),
        seeds=tuple(seed_list),
        trials=tuple(trials),
        loss=str(trials[0].config["train"]["loss"]),
        reset=resets,
        tasks={task: str(p) for task, p in tasks.items()},
    )


# --- one trial -------------------------------------------------------------------------------------


def _finished(run_dir: Path, config: TrainConfig) -> dict[str, Any] | None:
    """The run's summary if ``run_dir`` holds a run that trained all its steps, else ``None``."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if summary.get("steps") == config.train.steps else None


def run_trial(
    trial: Trial,
    run_dir: str | os.PathLike[str],
    *,
    threads: int = 1,
    checkpoint: str | os.PathLike[str] | None = None,
    on_checkpoint: Callable[[int, Path], None] | None = None,
) -> dict[str, Any]:
    """Train ``trial`` in ``run_dir``, or finish it there: the engines' one way of running a trial.

    A run directory that already holds the finished run is left alone (its summary is returned); one
    with a checkpoint (or only the configuration: killed before its first checkpoint) is resumed
    (:func:`qsa.training.loop.resume`); an empty or missing one is trained from step 0. ``checkpoint``
    (a ``checkpoint.pt`` kept elsewhere, e.g. Tune's copy) is copied in first when the run
    directory has none or an older one.

    Returns:
        the run's ``summary.json`` content.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # the same in every engine, so the same numbers; restored after
    try:
        return _run_trial(trial, Path(run_dir), checkpoint, on_checkpoint)
    finally:
        torch.set_num_threads(previous)


def _run_trial(
    trial: Trial,
    path: Path,
    checkpoint: str | os.PathLike[str] | None,
    on_checkpoint: Callable[[int, Path], None] | None,
) -> dict[str, Any]:
    from qsa.training.loop import CHECKPOINT, CONFIG, resume, train

    config = trial.train_config()
    done = _finished(path, config)
    if done is not None:
        logger.info("trial %s is finished in %s: not rerun", trial.name, path)
        return done
    if checkpoint is not None:
        _adopt_checkpoint(Path(checkpoint), path)
    if path.is_dir() and ((path / CHECKPOINT).exists() or (path / CONFIG).exists()):
        result = resume(path, plots=True, on_checkpoint=on_checkpoint)
    else:
        if path.is_dir():  # killed before anything the run can resume from was written
            shutil.rmtree(path)
        result = train(config, run_dir=path, plots=True, on_checkpoint=on_checkpoint)
    return result.summary


def _checkpoint_step(path: Path) -> int:
    import torch

    try:
        return int(torch.load(path, weights_only=True)["step"])
    except Exception:  # noqa: BLE001 - an unreadable checkpoint counts as none
        return -1


def _adopt_checkpoint(source: Path, run_dir: Path) -> None:
    """Copy the checkpoint ``source`` into ``run_dir`` if the run there has none or an older one."""
    from qsa.training.loop import CHECKPOINT

    if not source.is_file():
        return
    target = run_dir / CHECKPOINT
    if target.exists() and _checkpoint_step(target) >= _checkpoint_step(source):
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_bytes(target, source.read_bytes())
    logger.info("copied the checkpoint %s into %s", source, run_dir)


def _held_out(final: Mapping[str, Mapping[str, float]], metric: str) -> float | None:
    held = [m[metric] for name, m in final.items() if name.startswith("heldout") and metric in m]
    return statistics.fmean(held) if held else None


def _row(trial: Trial, summary: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, Any]:
    """One line of ``trials.csv``: the point, the seed, the final losses per split, the chance level, wall seconds."""
    final = summary["final"]
    row: dict[str, Any] = {**trial.point, "seed": trial.seed, "run": trial.name}
    for split in SPLITS:
        for metric in metrics:
            row[f"{split}_{metric}"] = (
                _held_out(final, metric) if split == "heldout" else final.get(split, {}).get(metric)
            )
    chance = summary.get("chance", {})
    row["chance_L_1"], row["chance_L_half"] = chance.get("L_1"), chance.get("L_half")
    row["wall_seconds"] = summary["wall_seconds"]
    return row


# --- the engines -----------------------------------------------------------------------------------

#: Progress callback: ``progress(done, running, failed, total)``.
Progress = Callable[[int, int, int, int], None]


def check_ray() -> Any:
    """Import Ray Tune, or raise :class:`~qsa.errors.UserError` saying how to install it."""
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError:
        raise UserError(
            "--engine must be 'local' when Ray is not installed: pip install \"qsa[ray]\" (Ray Tune) to use "
            "--engine ray; got 'ray'",
            key="--engine",
        ) from None
    return ray


def _check_address(address: str) -> None:
    """Refuse an address no Ray head answers on before Ray tries (it would wait a minute, then fail)."""
    if address in ("auto", "local"):
        return
    text = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(
            f"--address must be HOST:PORT of a Ray head node (e.g. 10.0.0.1:6379), ray://HOST:PORT or 'auto'; got {address!r}",
            key="--address",
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as exc:
        raise UserError(
            f"--address must be a reachable Ray cluster (the head node's HOST:PORT, from `ray start --head`); got "
            f"{address!r}: {exc.strerror or exc}",
            key="--address",
        ) from None


def _check_devices(plan: SweepPlan, engine: str, gpus_per_trial: float) -> None:
    """Every trial's ``model.device`` must exist where it will run: here (local), or on a GPU of the cluster (Ray)."""
    from qsa.devices import resolve_device

    for device in sorted({str(t.config["model"].get("device", "cpu")) for t in plan.trials}):
        if engine == "local" or not device.startswith("cuda"):
            resolve_device(device, key="model.device")
        elif gpus_per_trial <= 0:
            raise UserError(
                f"--gpus-per-trial must be > 0 for model.device = {device!r} (Ray shows a trial only the GPUs it "
                "reserves); got 0",
                key="--gpus-per-trial",
            )


def _check_local_gpus(gpus_per_trial: float) -> None:
    """A Ray instance started here has the GPUs torch sees here: a trial asking for more never starts (Ray
    waits for resources that never come), so it is refused before anything is written. A cluster joined
    by ``--address`` may autoscale and is not checked."""
    import torch

    available = torch.cuda.device_count()
    if gpus_per_trial > available:
        raise UserError(
            f"--gpus-per-trial must be at most the GPUs of the Ray instance started on this machine ({available}); "
            f"got {gpus_per_trial!r}",
            key="--gpus-per-trial",
        )


class SweepFailed(RuntimeError):
    """Trials failed after their retries; ``result`` holds the summary of the others (already written)."""

    def __init__(self, message: str, result: SweepResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class SweepResult:
    """A finished sweep: its directory, one row per trial and per grid point, and the files written."""

    sweep_dir: Path
    trials: list[dict[str, Any]]
    points: list[dict[str, Any]]
    table: str
    files: list[Path]
    wall_seconds: float
    failed: list[str]


def _options(
    engine: str,
    address: str | None,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_failures: int,
    threads: int,
    num_cpus: int | None,
) -> dict[str, Any]:
    if engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}", key="--engine")
    for name, value, low in (("--cpus-per-trial", cpus_per_trial, 0), ("--gpus-per-trial", gpus_per_trial, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
            raise UserError(f"{name} must be a number >= {low}; got {value!r}", key=name)
    if cpus_per_trial <= 0:
        raise UserError(f"--cpus-per-trial must be > 0; got {cpus_per_trial!r}", key="--cpus-per-trial")
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
        raise UserError(f"--max-failures must be an integer >= 0; got {max_failures!r}", key="--max-failures")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UserError(f"--threads must be an integer >= 1; got {threads!r}", key="--threads")
    if engine == "local":
        checks: tuple[tuple[str, Any, Any], ...] = (
            ("--address", address, None),
            ("--gpus-per-trial", gpus_per_trial, 0),
            ("--num-cpus", num_cpus, None),
        )
        for name, value, default in checks:
            if value != default:
                raise UserError(
                    f"{name} must not be given with --engine local (it configures Ray); got {value!r}", key=name
                )
    if num_cpus is not None and address is not None:
        raise UserError(
            "--num-cpus must not be given with --address (the cluster has its own); got both", key="--num-cpus"
        )
    if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
        raise UserError(f"--num-cpus must be an integer >= 1; got {num_cpus!r}", key="--num-cpus")
    return {
        "engine": engine,
        "address": address,
        "cpus_per_trial": cpus_per_trial,
        "gpus_per_trial": gpus_per_trial,
        "max_failures": max_failures,
        "threads": threads,
        "num_cpus": num_cpus,
    }


def run_sweep(
    plan: SweepPlan,
    *,
    out: str | os.PathLike[str] = "runs",
    engine: str = "local",
    address: str | None = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float = 0,
    max_failures: int = 3,
    threads: int = 1,
    num_cpus: int | None = None,
    progress: Progress | None = None,
    sweep_dir: str | os.PathLike[str] | None = None,
) -> SweepResult:
    """Run every trial of ``plan`` on ``engine`` in a new sweep directory under ``out``, then summarise.

    Args:
        plan: from :func:`plan_sweep`.
        out: where ``<name>-sweep-<stamp>/`` is created (or ``sweep_dir``: a new or empty directory).
        engine: ``"ray"`` (Ray Tune; a local Ray instance unless ``address``) or ``"local"`` (this process).
        address: a running Ray cluster's head, ``HOST:PORT`` (``ray start --head``), ``ray://HOST:PORT``
            or ``"auto"``; ``None`` starts Ray here with ``num_cpus`` CPUs (default: all).
        cpus_per_trial, gpus_per_trial: Ray resources reserved per trial (fractions allowed).
        max_failures: retries of a failed trial, each resumed from its last checkpoint.
        threads: torch threads per trial (the same on both engines, so the same numbers).
        progress: ``progress(done, running, failed, total)``, called as trials start and end.

    Returns:
        :class:`SweepResult`; the summary files are written in the sweep directory.

    Raises:
        UserError: for engine options that cannot work (unknown engine, Ray missing, an address no
            head answers on, a CUDA device that is not there), before anything is written.
        SweepFailed: (a ``RuntimeError``) if trials still failed after their retries (the summary of
            the others is written first).
    """
    options = _options(engine, address, cpus_per_trial, gpus_per_trial, max_failures, threads, num_cpus)
    _prepare_engine(plan, options)
    if sweep_dir is None:
        runs.check_output_root(out, "--out")
        path = runs.new_run_dir(out, f"{plan.name}-sweep")
    else:
        path = Path(sweep_dir)
        if path.exists() and any(path.iterdir()):
            raise UserError(f"sweep_dir must be a new or empty directory; got {str(path)!r}", key="sweep_dir")
        path.mkdir(parents=True, exist_ok=True)
    runs.write_json(path / PLAN, {**plan.as_dict(), "options": options})
    (path / TRIALS).mkdir(exist_ok=True)
    return _execute(plan, path, options, progress, restore=False)


def resume_sweep(
    sweep_dir: str | os.PathLike[str],
    *,
    engine: str | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Finish the interrupted sweep in ``sweep_dir``: finished trials are kept, the others resumed.

    With Ray, the Tune experiment is restored (``Tuner.restore``, errored trials resumed from their
    checkpoints); locally, each unfinished trial is resumed from its run directory. ``engine``
    (default: the sweep's own) and ``address`` may change, e.g. to finish on a cluster.
    """
    path = Path(sweep_dir)
    try:
        raw = json.loads((path / PLAN).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # nothing there, or a file (e.g. the plan's TOML)
        raise UserError(
            f"--resume must name a sweep directory (with {PLAN}); got {str(path)!r}", key="--resume"
        ) from None
    except ValueError as exc:
        raise UserError(f"--resume {PLAN} must be a sweep plan; got a damaged file ({exc})", key="--resume") from None
    plan = SweepPlan.from_dict(raw)
    saved = raw["options"]
    engine = engine or saved["engine"]
    options = _options(
        engine,
        address,
        saved["cpus_per_trial"],
        saved["gpus_per_trial"] if engine == "ray" else 0,
        saved["max_failures"],
        saved["threads"],
        num_cpus,
    )
    _prepare_engine(plan, options)
    (path / TRIALS).mkdir(exist_ok=True)
    return _execute(plan, path, options, progress, restore=True)


def _prepare_engine(plan: SweepPlan, options: Mapping[str, Any]) -> None:
    if options["engine"] == "ray":
        check_ray()
        if options["address"] is not None:
            _check_address(options["address"])
    _check_devices(plan, options["engine"], options["gpus_per_trial"])
    if options["engine"] == "ray" and options["address"] is None:
        _check_local_gpus(options["gpus_per_trial"])


def _execute(
    plan: SweepPlan, path: Path, options: Mapping[str, Any], progress: Progress | None, *, restore: bool
) -> SweepResult:
    started = time.perf_counter()
    if options["engine"] == "local":
        failed = _run_local(plan, path, options, progress)
    else:
        failed = _run_ray(plan, path, options, progress, restore=restore)
    return _write_summary(plan, path, time.perf_counter() - started, failed)


def _run_local(plan: SweepPlan, path: Path, options: Mapping[str, Any], progress: Progress | None) -> list[str]:
    total, failed = len(plan.trials), list[str]()
    done = sum(_finished(path / TRIALS / t.name, t.train_config()) is not None for t in plan.trials)
    for trial in plan.trials:
        run_dir = path / TRIALS / trial.name
        if _finished(run_dir, trial.train_config()) is not None:
            continue
        if progress:
            progress(done, 1, len(failed), total)
        for attempt in range(options["max_failures"] + 1):
            try:
                run_trial(trial, run_dir, threads=options["threads"])
                break
            except (KeyboardInterrupt, UserError):
                raise
            except Exception:
                logger.exception("trial %s failed (attempt %d)", trial.name, attempt + 1)
        else:
            failed.append(trial.name)
            continue
        done += 1
    if progress:
        progress(done, 0, len(failed), total)
    return failed


def _trial_dirname(trial: Any) -> str:
    return f"trial-{trial.config['index']:05d}"


#: Least seconds between two checkpoints a trial hands to Ray Tune (the run directory keeps every one).
#: Tune snapshots its experiment state on its own every 10 s or more; with ``CheckpointConfig(num_to_keep=2)``
#: it also forces a snapshot when a trial hands it two checkpoints between snapshots, so handing one at
#: most every 30 s forces none (handing each of a run's checkpoints forced one per checkpoint: Tune's
#: "snapshotting ... may become a bottleneck" warning, hundreds of times per sweep).
TUNE_CHECKPOINT_SECONDS = 30.0


def _every(
    seconds: float, hook: Callable[[int, Path], None], clock: Callable[[], float] = time.monotonic
) -> Callable[[int, Path], None]:
    """``hook`` called for the first checkpoint and then at most once every ``seconds`` (later ones are skipped)."""
    last = -math.inf

    def throttled(step: int, path: Path) -> None:
        nonlocal last
        now = clock()
        if now - last >= seconds:
            last = now
            hook(step, path)

    return throttled


def _ray_trial(
    params: dict[str, Any], *, trials: list[dict[str, Any]], sweep_dir: str, threads: int
) -> None:  # pragma: no cover - the ray-marked tests
    """The Ray Tune trainable: run one trial, handing each checkpoint to Tune and the final losses at the end."""
    from ray import tune

    logging.getLogger("ray.train").setLevel(logging.WARNING)  # not a line per checkpoint on the driver's stderr
    trial = Trial(**trials[params["index"]])
    run_dir = Path(sweep_dir) / TRIALS / trial.name
    checkpoint = tune.get_checkpoint()

    def hand_to_tune(step: int, checkpoint_pt: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy2(checkpoint_pt, Path(tmp) / checkpoint_pt.name)
            tune.report({"step": step}, checkpoint=tune.Checkpoint.from_directory(tmp))

    report = _every(TUNE_CHECKPOINT_SECONDS, hand_to_tune)

    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            summary = run_trial(
                trial, run_dir, threads=threads, checkpoint=Path(directory) / "checkpoint.pt", on_checkpoint=report
            )
    else:
        summary = run_trial(trial, run_dir, threads=threads, on_checkpoint=report)
    tune.report({"step": summary["steps"], "done_trial": 1})


def _tune_progress(progress: Progress | None) -> Any:  # pragma: no cover - the ray-marked tests
    from ray import tune

    # counts trial states each step; works after Tuner.restore too
    class _Progress(tune.Callback):  # type: ignore[misc,unused-ignore]  # untyped without ray
        def __init__(self) -> None:
            self.last: tuple[int, ...] | None = None

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            done = sum(t.status == "TERMINATED" for t in trials)
            running = sum(t.status == "RUNNING" for t in trials)
            failed = sum(t.status == "ERROR" for t in trials)
            state = (done, running, failed, len(trials))
            if state != self.last and progress is not None:
                self.last = state
                progress(*state)

    return _Progress()


#: Ray's documented switch between Tune's output engines ("RAY_AIR_NEW_OUTPUT=0": the legacy one).
_TUNE_OUTPUT_ENGINE = "RAY_AIR_NEW_OUTPUT"


@contextlib.contextmanager
def _quiet_tune_output() -> Iterator[None]:
    """Tune's legacy output engine while a sweep runs, unless the user chose one: at ``verbose=0`` it prints
    nothing, while the new engine still prints its "Configuration for experiment" box and "View detailed
    results here" lines on stdout before ``qsa sweep``'s own table (our progress lines are a Tune callback)."""
    if _TUNE_OUTPUT_ENGINE in os.environ:
        yield
        return
    os.environ[_TUNE_OUTPUT_ENGINE] = "0"
    try:
        yield
    finally:
        os.environ.pop(_TUNE_OUTPUT_ENGINE, None)


def _run_ray(  # pragma: no cover - the ray-marked tests (tests/qsa/training/test_sweep_ray.py)
    plan: SweepPlan, path: Path, options: Mapping[str, Any], progress: Progress | None, *, restore: bool
) -> list[str]:
    ray = check_ray()
    from ray import tune

    started_here = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if options["address"] is not None:
            kwargs["address"] = options["address"]
        else:
            kwargs["num_cpus"] = options["num_cpus"]
        ray.init(**kwargs)
        started_here = True
    try:
        trials = [
            {"index": t.index, "point": t.point, "seed": t.seed, "name": t.name, "config": t.config}
            for t in plan.trials
        ]
        trainable = tune.with_resources(
            tune.with_parameters(_ray_trial, trials=trials, sweep_dir=str(path.resolve()), threads=options["threads"]),
            {"cpu": options["cpus_per_trial"], "gpu": options["gpus_per_trial"]},
        )
        experiment = path.resolve() / TUNE
        if restore and tune.Tuner.can_restore(str(experiment)):
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_errored=True)
        else:
            if (
                experiment.exists()
            ):  # interrupted before Tune saved its state: start Tune afresh (finished runs are kept)
                shutil.rmtree(experiment)
            tuner = tune.Tuner(
                trainable,
                param_space={"index": tune.grid_search([t.index for t in plan.trials])},
                tune_config=tune.TuneConfig(
                    trial_dirname_creator=_trial_dirname,
                    reuse_actors=True,  # a worker imports torch and qsa once, not once per trial
                ),
                run_config=tune.RunConfig(
                    name=TUNE,
                    storage_path=str(path.resolve()),
                    failure_config=tune.FailureConfig(max_failures=options["max_failures"]),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),  # see TUNE_CHECKPOINT_SECONDS
                    verbose=0,
                    callbacks=[_tune_progress(progress)],
                ),
            )
        with _quiet_tune_output():
            results = tuner.fit()
        errored = [results[i] for i in range(len(results)) if results[i].error is not None]
        failed = [plan.trials[(r.config or {})["index"]].name for r in errored]
        if any(  # Tune's fit returns on Ctrl-C (its state saved) with trials neither finished nor failed
            t.name not in failed and _finished(path / TRIALS / t.name, t.train_config()) is None for t in plan.trials
        ):
            raise KeyboardInterrupt  # as the local engine: interrupted, no summary; --resume finishes the sweep
    finally:
        if started_here:
            ray.shutdown()
    return failed


# --- the summary -----------------------------------------------------------------------------------


def _metrics(plan: SweepPlan) -> list[str]:
    losses = [str(t.config["train"]["loss"]) for t in plan.trials]
    return list(dict.fromkeys([plan.loss, *losses, "L_1", "L_half", "L_B"]))


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """Median and the 25th and 75th percentiles (numpy's linear interpolation)."""
    import numpy as np

    q25, median, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(median), float(q25), float(q75)


def summarise(plan: SweepPlan, sweep_dir: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows per trial (from each run's ``summary.json``) and per grid point (median, quartiles, IQR over seeds).

    Trials without a finished run are left out (their point's ``n_seeds`` is smaller).
    """
    path = Path(sweep_dir)
    metrics = _metrics(plan)
    rows = []
    for trial in plan.trials:
        summary = _finished(path / TRIALS / trial.name, trial.train_config())
        if summary is not None:
            rows.append(_row(trial, summary, metrics))
    labels = plan.labels()
    keys = [key for key, _ in labels]
    points = []
    for values in itertools.product(*(v for _, v in labels)):
        point = dict(zip(keys, values))
        group = [r for r in rows if all(r[k] == v for k, v in point.items())]
        if not group:
            continue
        agg: dict[str, Any] = {**point, "n_seeds": len(group)}
        columns = [f"{s}_{m}" for s in SPLITS for m in metrics] + ["chance_L_1", "chance_L_half", "wall_seconds"]
        for column in columns:
            values_ = [r[column] for r in group if r[column] is not None]
            if not values_:
                continue
            median, q25, q75 = _quartiles(values_)
            agg[f"{column}_median"], agg[f"{column}_q25"], agg[f"{column}_q75"] = median, q25, q75
            agg[f"{column}_iqr"] = q75 - q25
        points.append(agg)
    return rows, points


def _csv(rows: list[dict[str, Any]]) -> bytes:
    names = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows
    )
    return buffer.getvalue().encode()


def markdown(plan: SweepPlan, points: list[dict[str, Any]]) -> str:
    """The per-point table: median [q25, q75] over seeds of each split's metrics, chance level, wall seconds."""
    keys = [key for key, _ in plan.grid]
    metrics = _metrics(plan)
    columns = [f"{s}_{m}" for s in SPLITS for m in metrics if any(f"{s}_{m}_median" in p for p in points)] + [
        "chance_L_1",
        "wall_seconds",
    ]
    head = keys + ["seeds"] + [c.replace("heldout", "held-out").replace("_", " ", 1) for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(keys) + "---:|" * (1 + len(columns))]
    for p in points:
        cells = [str(p[k]) for k in keys] + [str(p["n_seeds"])]
        for c in columns:
            if f"{c}_median" not in p:
                cells.append("")
            elif c in ("chance_L_1",):
                cells.append(f"{p[f'{c}_median']:.4f}")
            elif c == "wall_seconds":
                cells.append(f"{p[f'{c}_median']:.1f}")
            else:
                cells.append(f"{p[f'{c}_median']:.4f} [{p[f'{c}_q25']:.4f}, {p[f'{c}_q75']:.4f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot_panel(ax: Any, grid: list[tuple[str, list[Any]]], points: list[dict[str, Any]], loss: str) -> None:
    """One panel of ``summary.png``: ``loss``'s headline against the first key of ``grid`` (labels), a line per other values."""
    headline = f"test_{loss}" if any(f"test_{loss}_median" in p for p in points) else f"train_{loss}"
    keys = [key for key, _ in grid]
    if keys:
        first, rest = keys[0], keys[1:]
        xs = list(grid[0][1])
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
        positions = xs if numeric else list(range(len(xs)))
        groups = list(dict.fromkeys(tuple(p[k] for k in rest) for p in points))
        for group in groups:
            chosen = [
                (positions[xs.index(p[first])], p)
                for p in points
                if tuple(p[k] for k in rest) == group and f"{headline}_median" in p
            ]
            if not chosen:
                continue
            x = [c[0] for c in chosen]
            mid = [c[1][f"{headline}_median"] for c in chosen]
            err = [
                [m - c[1][f"{headline}_q25"] for m, c in zip(mid, chosen)],
                [c[1][f"{headline}_q75"] - m for m, c in zip(mid, chosen)],
            ]
            label = ", ".join(f"{k}={v}" for k, v in zip(rest, group)) or headline
            # categories (families, kernels) are not joined by lines: no order between them
            ax.errorbar(x, mid, yerr=err, marker="o", capsize=3, label=label, ls="-" if numeric else "none")
        if numeric:
            ax.set_xticks(positions, [str(v) for v in xs])
        else:
            ax.set_xticks(positions, [str(v) for v in xs], rotation=40, ha="right")
        ax.set_xlabel(first)
    else:
        ax.errorbar([0], [points[0][f"{headline}_median"]], marker="o")
    chance = [p.get("chance_L_1_median") for p in points if p.get("chance_L_1_median") is not None]
    if loss in ("L_1", "L_half") and chance:
        column = "chance_L_1_median" if loss == "L_1" else "chance_L_half_median"
        ax.axhline(points[0][column], color="k", ls="--", lw=1, label=f"chance {points[0][column]:.3f}")
    n = max(p["n_seeds"] for p in points)
    ax.set(ylabel=f"{headline.replace('_', ' ')} (median, IQR over {n} seed{'s' if n > 1 else ''})")
    ax.legend(fontsize=8)


def plot_summary(plan: SweepPlan, points: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """``summary.png``: the headline metric (median, IQR bars) against the first grid key, one line per other
    key values; a sweep plan with several tasks gets a panel per task (each with its own training objective)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = plan.labels()
    grid = [(k, v) for k, v in labels if k != TASK]
    tasks = dict(labels).get(TASK, [None])
    panels = [(task, [p for p in points if task is None or p[TASK] == task]) for task in tasks]
    panels = [(task, chosen) for task, chosen in panels if chosen]
    fig = Figure(figsize=(6.4 * len(panels), 4.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (task, chosen) in zip(axes, panels):
        loss = (
            plan.loss
            if task is None
            else next(str(t.config["train"]["loss"]) for t in plan.trials if t.point[TASK] == task)
        )
        _plot_panel(ax, grid, chosen, loss)
        ax.set_title(plan.name if task is None else f"{plan.name}: {task}")
    fig.tight_layout()
    out = Path(path)
    runs.write_png(out, fig)
    return out


def _write_summary(plan: SweepPlan, path: Path, wall: float, failed: list[str]) -> SweepResult:
    rows, points = summarise(plan, path)
    files = []
    if rows:
        runs.write_bytes(path / "trials.csv", _csv(rows))
        runs.write_bytes(path / "summary.csv", _csv(points))
        table = markdown(plan, points)
        runs.write_bytes(path / "summary.md", (table + "\n").encode())
        files = [
            path / "trials.csv",
            path / "summary.csv",
            path / "summary.md",
            plot_summary(plan, points, path / "summary.png"),
        ]
    else:
        table = ""
    result = SweepResult(path, rows, points, table, files, wall, failed)
    if failed:
        raise SweepFailed(
            f"{len(failed)} of {len(plan.trials)} trials failed after their retries ({', '.join(failed)}); "
            f"their run directories are in {path / TRIALS}; qsa sweep --resume {path} retries them",
            result,
        )
    return result
