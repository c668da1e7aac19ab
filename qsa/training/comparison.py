r"""Every model family on the same tasks, data, losses and budget: the comparison as library code.

A comparison *plan* (a TOML file, ``experiments/comparison/config.toml``) names families, seeds and
tasks; a task is a training config (with overrides). Each (task, family, seed) is one ordinary
training run (:func:`qsa.training.train`) of ``with_family(task config, family)`` at that seed, so
the same seed gives every family the same data and the same embedding. From the runs this module
builds:

- a *row* per run (:func:`run_row`): the final losses on the training, test and held-out splits,
  parameter count, seconds;
- the untrained *baselines* of each task (:func:`task_baselines`, from
  :func:`qsa.training.data.trivial_baselines`: copy-last token and unigram for tokens, unigram and
  bigram for text) and its chance levels;
- *statistics over seeds* per (task, family) (:func:`aggregate`): mean, sample standard deviation,
  median, minimum and maximum of every metric, and *paired differences* between two families at
  the same seeds (:func:`paired`);
- the *tables* (:func:`markdown`), the Koopman spectra (:func:`koopman_spectrum`) and, for text
  tasks, a generated sample per family (:func:`text_sample`).

Why mean and spread, not one number: runs driven by L-BFGS amplify rounding differences between
machines (a different BLAS or summation order gives another trajectory from the same seed), so a
single seed's figure, or a median that falls in a gap between seeds, does not reproduce on another
machine; the mean over enough seeds and its spread do, and a claim should rest on them.

:func:`run_comparison` runs a plan in this process, one run after another; a sweep engine (Ray
Tune, ``qsa sweep``) can instead run :func:`task_config` per trial and hand the rows to
:func:`aggregate` and :func:`markdown`.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qsa import _validate
from qsa.training.config import (
    FAMILIES,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    with_family,
)
from qsa.training.families import FamilyModel
from qsa.training.loop import TrainResult, run_dataset, train

logger = logging.getLogger(__name__)

__all__ = [
    "SPECTRUM_TOL",
    "Task",
    "Plan",
    "read_plan",
    "task_metrics",
    "task_config",
    "run_row",
    "task_baselines",
    "aggregate",
    "paired",
    "markdown",
    "strongest_baseline",
    "beats_baseline",
    "baseline_statistics",
    "merge_results",
    "koopman_spectrum",
    "text_sample",
    "run_comparison",
]

#: Relative neutral band of the Koopman spectra: ``|lambda| / |det K|^(1/d)`` within ``1 +- SPECTRUM_TOL``.
SPECTRUM_TOL = 1e-3
SPLITS = ("train", "test", "heldout")
#: Metrics recorded per split: tokens score p_j with L_1 and L_half; text adds the next-word nll and accuracy.
TOKEN_METRICS = ("L_1", "L_half")
TEXT_METRICS = ("nll", "next_token_accuracy", "L_1")


@dataclass(frozen=True)
class Task:
    """One task of a plan: a training config file and overrides applied to it."""

    name: str
    config: Path
    overrides: tuple[str, ...] = ()

    def load(self, extra: Sequence[str] = ()) -> TrainConfig:
        """The task's training config with its overrides, then ``extra`` (e.g. a runner's ``--set``)."""
        return load_config(self.config, [*self.overrides, *extra])


@dataclass(frozen=True)
class Plan:
    """A comparison: ``name`` (of the output folder), families, seeds, tasks, and per-family
    overrides (``{family: ("model.heads=2", ...)}``, applied after :func:`with_family` in every task:
    the sizes of a baseline that the tasks' QSA configs cannot name)."""

    name: str
    families: tuple[str, ...]
    seeds: tuple[int, ...]
    tasks: tuple[Task, ...]
    family_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)


def read_plan(path: str | Path) -> Plan:
    """Read a comparison plan: keys ``name``, ``families``, ``seeds``, ``[[tasks]]`` (``name``,
    ``config`` relative to the plan's folder, ``overrides``) and ``[family_overrides]`` (family =
    list of ``"model.key=value"``); every family, task config and override checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"plan must name an existing TOML file; got {str(path)!r}")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(raw) - {"name", "families", "seeds", "tasks", "family_overrides"}
    if unknown:
        raise ValueError(
            f"{path} must have only the keys name, families, seeds, tasks, family_overrides; got {sorted(unknown)}"
        )
    extra = raw.get("family_overrides", {})
    if not isinstance(extra, dict) or any(
        f not in FAMILIES or not isinstance(v, list) or not all(isinstance(o, str) for o in v) for f, v in extra.items()
    ):
        raise ValueError(f"family_overrides must map families to lists of KEY=VALUE strings; got {extra!r}")
    families = raw.get("families", list(FAMILIES))
    if not isinstance(families, list) or not families or any(f not in FAMILIES for f in families):
        raise ValueError(f"families must be a non-empty list of {FAMILIES}; got {families!r}")
    seeds = raw.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds)
    ):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0; got {seeds!r}")
    tasks = raw.get("tasks", [])
    if (
        not isinstance(tasks, list)
        or not tasks
        or any(
            not isinstance(t, dict) or set(t) - {"name", "config", "overrides"} or "name" not in t or "config" not in t
            for t in tasks
        )
    ):
        raise ValueError(f"tasks must be a non-empty list of tables with name, config (and overrides); got {tasks!r}")
    plan = Plan(
        name=str(raw.get("name", "comparison")),
        families=tuple(families),
        seeds=tuple(seeds),
        tasks=tuple(
            Task(t["name"], (path.parent / t["config"]).resolve(), tuple(t.get("overrides", []))) for t in tasks
        ),
        family_overrides={f: tuple(v) for f, v in extra.items()},
    )
    for task in plan.tasks:  # a config that does not load is an error now, not after an hour of runs
        base = task.load()
        for family in plan.families:
            task_config(base, task.name, family, 0, plan.family_overrides.get(family, ()))
    return plan


def task_metrics(config: TrainConfig) -> tuple[str, ...]:
    """The metrics a task records per split: ``L_1``, ``L_half`` for tokens; ``nll``, accuracy, ``L_1`` for text."""
    return TEXT_METRICS if config.data.source == "text" else TOKEN_METRICS


def task_config(base: TrainConfig, task: str, family: str, seed: int, overrides: Sequence[str] = ()) -> TrainConfig:
    """The training config of one run: ``base`` moved to ``family`` (:func:`with_family`), then the
    family's ``overrides`` (e.g. ``"model.heads=2"``), at ``seed``, named ``<task>-<family>-seed<seed>``."""
    _validate.integer(seed, "seed", minimum=0)
    config = with_family(base, family)
    if overrides:
        config = config_from_dict(apply_overrides(config_to_dict(config), overrides))
    return replace(config, name=f"{task}-{family}-seed{seed}", seed=seed)


def _split_values(final: dict[str, dict[str, float]], metrics: Sequence[str]) -> dict[str, float | None]:
    held = [m for name, m in final.items() if name.startswith("heldout")]
    row: dict[str, float | None] = {}
    for metric in metrics:
        row[f"train_{metric}"] = final["train"][metric]
        row[f"test_{metric}"] = final["test"][metric]
        row[f"heldout_{metric}"] = statistics.fmean(m[metric] for m in held) if held else None
    return row


def run_row(result: TrainResult, task: str, metrics: Sequence[str]) -> dict[str, Any]:
    """One run's row: task, family, seed, parameters, seconds, steps and ``<split>_<metric>`` of the
    final evaluation (``heldout``: the mean over the held-out Hamiltonians, ``None`` without any)."""
    s = result.summary
    config = json_config(result)
    return {
        "task": task,
        "family": s["family"],
        "seed": config["seed"],
        "parameters": s["parameters"],
        "seconds": s["wall_seconds"],
        "cpu_seconds": s.get("cpu_seconds"),
        "steps": s["steps"],
        **_split_values(s["final"], metrics),
    }


def json_config(result: TrainResult) -> dict[str, Any]:
    """The resolved config of a run, as written to its ``config.json``."""
    config: dict[str, Any] = json.loads((Path(result.run_dir) / "config.json").read_text(encoding="utf-8"))
    return config


_BASELINE_METRIC = {"accuracy": "next_token_accuracy"}


def task_baselines(config: TrainConfig) -> dict[str, Any]:
    """The untrained baselines and chance levels of a task's data at ``config.seed``.

    Returns ``{"fingerprint", "chance": {metric: value}, "baselines": {name: {"<split>_<metric>": value}}}``
    with ``heldout`` the mean over the held-out Hamiltonians; text tasks add the uniform guess to
    ``chance`` as its ``nll``.
    """
    dataset = run_dataset(config)
    chance = dict(dataset.chance._asdict())
    if dataset.nll_baselines is not None:
        chance["nll"] = dataset.nll_baselines["uniform"]
    out: dict[str, dict[str, float | None]] = {}
    for name, by_split in dataset.baselines.items():
        final = {
            split: {_BASELINE_METRIC.get(k, k): v for k, v in values.items()} for split, values in by_split.items()
        }
        metrics = sorted({k for values in final.values() for k in values})
        out[name] = _split_values(final, metrics)
    return {"fingerprint": dataset.info["fingerprint"], "chance": chance, "baselines": out}


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statistics over seeds per (task, family), in the rows' order: for every metric column of the
    rows, ``{"mean", "sd", "median", "min", "max"}`` (``sd`` the sample standard deviation; 0 for
    one seed; ``None`` for a split the task does not have), plus ``parameters``, ``n_seeds``,
    ``seconds`` and ``cpu_seconds`` (medians per run; wall time depends on the machine's load, CPU
    time much less)."""
    out = []
    for task, family in dict.fromkeys((r["task"], r["family"]) for r in rows):
        group = [r for r in rows if r["task"] == task and r["family"] == family]
        agg: dict[str, Any] = {
            "task": task,
            "family": family,
            "parameters": group[0]["parameters"],
            "n_seeds": len(group),
            "seeds": [r["seed"] for r in group],
            "seconds": statistics.median(r["seconds"] for r in group),
            "cpu_seconds": statistics.median(r.get("cpu_seconds") or 0.0 for r in group),
        }
        for key in group[0]:
            if key.split("_", 1)[0] in SPLITS:
                values = [r[key] for r in group]
                agg[key] = None if any(v is None for v in values) else _stats(values)
        out.append(agg)
    return out


def paired(rows: Sequence[dict[str, Any]], task: str, a: str, b: str, key: str) -> dict[str, Any] | None:
    """Paired differences ``b - a`` of the column ``key`` (e.g. ``"test_L_1"``) over the seeds both
    families ran on ``task``: statistics of the differences and how often ``b`` is larger (worse,
    for a loss). ``None`` if they share no seed or the column is empty."""
    by_seed = {(r["family"], r["seed"]): r[key] for r in rows if r["task"] == task}
    seeds = sorted({s for f, s in by_seed if f == a} & {s for f, s in by_seed if f == b})
    diffs = [by_seed[b, s] - by_seed[a, s] for s in seeds if by_seed[a, s] is not None and by_seed[b, s] is not None]
    if not diffs:
        return None
    return {"a": a, "b": b, "key": key, "n": len(diffs), **_stats(diffs), "b_larger": sum(d > 0 for d in diffs)}


def _fmt(stats: dict[str, float] | None, digits: int = 3) -> str:
    if stats is None:
        return ""
    return f"{stats['mean']:.{digits}f} ± {stats['sd']:.{digits}f}"


def _range(stats: dict[str, float] | None, digits: int = 3) -> str:
    return "" if stats is None else f"{stats['min']:.{digits}f}–{stats['max']:.{digits}f}"


_LABELS = {"L_1": "L_1", "L_half": "L_½", "nll": "nll", "next_token_accuracy": "accuracy"}
_BASELINE_SHORT = {"copy_last": "copy last", "unigram": "unigram", "bigram": "bigram"}
_BASELINE_LABELS = {
    "copy_last": "copy last token (z_j = x_j, untrained)",
    "unigram": "unigram (untrained, no context)",
    "bigram": "bigram counts (untrained)",
}


def strongest_baseline(baselines: dict[str, Any], task: str, key: str) -> str | None:
    """The untrained baseline with the lowest mean of the column ``key`` (a loss, e.g. ``"test_L_1"``) on ``task``."""
    candidates = {
        name: values[key]["mean"]
        for name, values in baselines[task]["baselines"].items()
        if values.get(key) is not None
    }
    return min(candidates, key=lambda name: candidates[name]) if candidates else None


def beats_baseline(
    rows: Sequence[dict[str, Any]],
    per_seed: dict[str, list[dict[str, Any]]],
    task: str,
    family: str,
    name: str,
    key: str,
) -> tuple[int, int]:
    """In how many of its seeds ``family`` has a lower ``key`` (a loss) than the untrained baseline
    ``name`` on the same seed's data; returns ``(wins, seeds)``."""
    reference = {rec["seed"]: rec["baselines"][name][key] for rec in per_seed[task]}
    mine = [(r["seed"], r[key]) for r in rows if r["task"] == task and r["family"] == family]
    return sum(v < reference[s] for s, v in mine), len(mine)


def markdown(
    aggregates: Sequence[dict[str, Any]],
    baselines: dict[str, Any],
    task: str,
    metrics: Sequence[str],
    *,
    rows: Sequence[dict[str, Any]] | None = None,
    per_seed: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    """One task's table: per family the mean ± standard deviation over seeds of the main metric on
    every split, its test range, the second metric on the test split, parameters and CPU seconds per
    run (median); the untrained baselines (mean ± standard deviation over the seeds' data draws) and
    the chance level below. With the ``rows`` and the ``per_seed`` baselines, a column counts the
    seeds in which a family's test loss is below the strongest untrained baseline's on that seed's data."""
    rows_of_task = rows
    rows = [a for a in aggregates if a["task"] == task]
    main, second = metrics[0], metrics[1]
    has_h = rows[0][f"heldout_{main}"] is not None
    m, s2 = _LABELS[main], _LABELS[second]
    best = strongest_baseline(baselines, task, f"test_{main}") if rows_of_task and per_seed else None
    cols = [f"train {m}", f"test {m}", f"test {m} range"] + ([f"held-out H {m}"] if has_h else [])
    cols += [f"test {s2}"] + ([f"held-out H {s2}"] if has_h else [])
    cols += ([f"test {m} < {_BASELINE_SHORT.get(best, best)}"] if best else []) + ["params", "CPU s/run"]
    n = rows[0]["n_seeds"]
    lines = [
        f"**{task}** (mean ± standard deviation over {n} seed{'s' if n > 1 else ''}; range = min–max)",
        "",
        "| family | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for a in rows:
        cells = [_fmt(a[f"train_{main}"]), _fmt(a[f"test_{main}"]), _range(a[f"test_{main}"])]
        cells += [_fmt(a[f"heldout_{main}"])] if has_h else []
        cells += [_fmt(a[f"test_{second}"])] + ([_fmt(a[f"heldout_{second}"])] if has_h else [])
        if best and rows_of_task is not None and per_seed is not None:
            wins, n_runs = beats_baseline(rows_of_task, per_seed, task, a["family"], best, f"test_{main}")
            cells += [f"{wins}/{n_runs}"]
        cells += [str(a["parameters"]), f"{a['cpu_seconds']:.1f}"]
        lines.append(f"| {a['family']} | " + " | ".join(cells) + " |")
    ref = baselines[task]
    for name, values in ref["baselines"].items():
        if f"test_{main}" not in values and f"test_{second}" not in values:
            continue
        cells = [_fmt(values.get(f"train_{main}")), _fmt(values.get(f"test_{main}")), ""]
        cells += [_fmt(values.get(f"heldout_{main}"))] if has_h else []
        cells += [_fmt(values.get(f"test_{second}"))] + ([_fmt(values.get(f"heldout_{second}"))] if has_h else [])
        lines.append(
            f"| {_BASELINE_LABELS.get(name, name)} | " + " | ".join(cells + [""] * bool(best) + ["0", ""]) + " |"
        )
    chance = ref["chance"]
    if main in chance:
        c = f"{chance[main]:.3f}"
        c2 = f"{chance[second]:.3f}" if second in chance else ""
        cells = [c, c, ""] + ([c] if has_h else []) + [c2] + ([c2] if has_h else []) + [""] * bool(best) + ["", ""]
        label = "uniform guess (log M)" if main == "nll" else "chance (random direction)"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def koopman_spectrum(model: FamilyModel) -> dict[str, Any]:
    """Eigenvalues of every layer's Koopman operator ``K`` of a trained Koopman family, raw and
    relative to ``|det K|^(1/d)``, with the decay / neutral / growth counts (``SPECTRUM_TOL``) and ``alpha``."""
    from qsa.baselines.koopman import KoopmanAttention, spectral_split

    core = model.core
    if not isinstance(core, KoopmanAttention):
        raise TypeError(f"model.core must be a KoopmanAttention (a Koopman family); got {type(core).__name__}")
    layers = []
    for K in core.koopman().detach():
        raw, rel = spectral_split(K, tol=SPECTRUM_TOL), spectral_split(K, tol=SPECTRUM_TOL, relative=True)
        layers.append(
            {
                "eigenvalues": [[float(z.real), float(z.imag)] for z in raw.eigenvalues],
                "relative_eigenvalues": [[float(z.real), float(z.imag)] for z in rel.eigenvalues],
                "relative_counts": {"decay": len(rel.decay), "neutral": len(rel.neutral), "growth": len(rel.growth)},
                "relative_spread": float(np.abs(rel.eigenvalues).max() - np.abs(rel.eigenvalues).min()),
                "spectral_radius": float(np.abs(raw.eigenvalues).max()),
                "net_rate": raw.net_rate,
            }
        )
    alpha = core.alpha.detach().tolist() if core.config.attention else None
    return {"alpha": alpha, "layers": layers}


def text_sample(result: TrainResult, config: TrainConfig, *, n_tokens: int = 16, seed: int = 0) -> dict[str, Any]:
    """A sample of a trained text model: ``n_tokens`` words drawn after the first three words of the
    first test window (:func:`qsa.training.generate.generate`, temperature 1, ``seed``)."""
    from qsa.training.generate import generate

    dataset = run_dataset(config)
    test, vocabulary = dataset.splits["test"], dataset.vocabulary
    if not isinstance(test, torch.Tensor) or vocabulary is None:
        raise ValueError(f"config must be a text task (data.source = 'text'); got {config.data.source!r}")
    prompt = test[0, :3].tolist()
    sample = generate(result.model, vocabulary, prompt, n_tokens, seed=seed)
    return {
        "prompt": " ".join(vocabulary.decode(prompt)),
        "text": sample.text,
        "log_probability": sample.log_probability,
    }


def baseline_statistics(per_seed: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per task, the chance levels and the untrained baselines' statistics over the seeds' data draws
    (``{task: {"chance", "baselines": {name: {"<split>_<metric>": stats}}}}``) from the per-seed
    records of :func:`task_baselines`."""
    out = {}
    for task, records in per_seed.items():
        merged: dict[str, dict[str, Any]] = {}
        for name in records[0]["baselines"]:
            merged[name] = {}
            for key in records[0]["baselines"][name]:
                values = [r["baselines"][name][key] for r in records]
                merged[name][key] = None if any(v is None for v in values) else _stats(values)
        out[task] = {"chance": records[0]["chance"], "baselines": merged}
    return out


def merge_results(parts: Sequence[dict[str, Any]], *, replace_rows: bool = False) -> dict[str, Any]:
    """One result from several :func:`run_comparison` results (a comparison run in pieces, e.g.
    over disjoint seeds): rows, spectra, samples and per-seed baselines joined, statistics recomputed.

    Args:
        parts: the results, in order.
        replace_rows: a (task, family, seed) run in a later part replaces the earlier run (its row,
            spectrum and sample), e.g. after changing a family's sizes in ``family_overrides``; the
            merged result lists the replaced runs under ``"replaced"``. Without it a repeat is an error.

    Raises:
        ValueError: parts whose tasks or base configs differ, or that repeat a (task, family, seed)
            without ``replace_rows``.
    """
    if not parts:
        raise ValueError("parts must hold at least one result; got none")
    first = parts[0]
    for part in parts[1:]:
        if part["base_configs"] != first["base_configs"] or part["metrics"] != first["metrics"]:
            raise ValueError("parts must run the same tasks with the same base configs; got different ones")
    latest: dict[tuple[str, str, int], int] = {}
    for i, part in enumerate(parts):
        for r in part["rows"]:
            key = (r["task"], r["family"], r["seed"])
            if key in latest and not replace_rows:
                raise ValueError(f"parts must not repeat a (task, family, seed) without replace_rows; got {key} again")
            latest[key] = i

    def kept(i: int, item: dict[str, Any]) -> bool:
        return latest.get((item["task"], item["family"], item["seed"]), i) == i

    replaced = sorted(
        {(r["task"], r["family"], r["seed"]) for i, part in enumerate(parts) for r in part["rows"] if not kept(i, r)}
    )
    tasks = [t["name"] for t in first["tasks"]]
    families = list(dict.fromkeys(f for part in parts for f in part["families"]))
    rows = [r for i, part in enumerate(parts) for r in part["rows"] if kept(i, r)]
    rows.sort(key=lambda r: (tasks.index(r["task"]), r["seed"], families.index(r["family"])))
    per_seed = {
        task: sorted(
            {rec["seed"]: rec for part in parts for rec in part["baselines_per_seed"][task]}.values(),
            key=lambda rec: rec["seed"],
        )
        for task in first["baselines_per_seed"]
    }
    samples = [x for i, part in enumerate(parts) for x in part["samples"] if kept(i, x)]
    first_seed = min((x["seed"] for x in samples), default=None)
    overrides: dict[str, Any] = {}
    for part in parts:
        overrides.update(part.get("family_overrides", {}))
    return {
        **first,
        "families": families,
        "seeds": sorted({s for part in parts for s in part["seeds"]}),
        "family_overrides": overrides,
        "rows": rows,
        "aggregates": aggregate(rows),
        "baselines": baseline_statistics(per_seed),
        "baselines_per_seed": per_seed,
        "spectra": [x for i, part in enumerate(parts) for x in part["spectra"] if kept(i, x)],
        "samples": [x for x in samples if x["seed"] == first_seed],
        "wall_seconds": sum(part["wall_seconds"] for part in parts),
        "merged_from": len(parts),
        "replaced": [list(k) for k in replaced],
    }


def run_comparison(
    plan: Plan,
    out_dir: str | Path,
    *,
    families: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    tasks: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    progress: bool = False,
    run_plots: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``plan`` (or the subsets named) in this process, one training run after another, under ``out_dir``.

    Each run lives in ``out_dir/<task>/<family>-seed<seed>/`` (with ``run_plots``, ``loss.png``, and
    for the Koopman families ``monitor.png`` and ``spectrum.png`` of the first layer, at the first seed). ``on_row`` is called with each row
    as it is done.

    Returns:
        ``{"families", "seeds", "tasks", "metrics", "base_configs", "rows", "aggregates",
        "baselines", "spectra", "samples", "wall_seconds"}`` (JSON-friendly): ``baselines[task]``
        holds the chance levels and the untrained baselines (mean ± spread over the seeds' data
        draws), ``spectra`` the Koopman spectra per run, ``samples`` a generated text per text run
        at the first seed.
    """
    out_dir = Path(out_dir)
    families = tuple(plan.families if families is None else families)
    seeds = tuple(plan.seeds if seeds is None else seeds)
    chosen = [t for t in plan.tasks if tasks is None or t.name in tasks]
    if any(f not in FAMILIES for f in families) or not families:
        raise ValueError(f"families must be a non-empty list of {FAMILIES}; got {list(families)}")
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0; got {list(seeds)}")
    if not chosen:
        raise ValueError(f"tasks must name tasks of the plan {[t.name for t in plan.tasks]}; got {list(tasks or [])}")
    started = time.perf_counter()
    bases = {t.name: t.load(overrides) for t in chosen}  # every config checked before the first run
    rows: list[dict[str, Any]] = []
    spectra: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    baselines_per_seed: dict[str, list[dict[str, Any]]] = {}
    for task in chosen:
        base, metrics = bases[task.name], task_metrics(bases[task.name])
        per_seed = []
        for seed in seeds:
            for family in families:
                cfg = task_config(base, task.name, family, seed, plan.family_overrides.get(family, ()))
                run_dir = out_dir / task.name / f"{family}-seed{seed}"
                result = train(cfg, run_dir=run_dir, progress=progress, plots=run_plots and seed == seeds[0])
                row = {**run_row(result, task.name, metrics), "run_dir": f"{task.name}/{family}-seed{seed}"}
                rows.append(row)
                if family.startswith("koopman") and isinstance(result.model, FamilyModel):
                    spectra.append(
                        {"task": task.name, "family": family, "seed": seed, **koopman_spectrum(result.model)}
                    )
                if seed == seeds[0] and cfg.data.source == "text":
                    samples.append({"task": task.name, "family": family, "seed": seed, **text_sample(result, cfg)})
                if on_row is not None:
                    on_row(row)
            reference = task_baselines(cfg)  # the data of this seed, as every family saw it
            recorded = json.loads((Path(result.run_dir) / "data.json").read_text(encoding="utf-8"))["fingerprint"]
            if reference["fingerprint"] != recorded:
                raise RuntimeError(
                    f"the baselines must be scored on the runs' very data (fingerprint {recorded}); "
                    f"got {reference['fingerprint']}"
                )
            per_seed.append({"seed": seed, **reference})
        baselines_per_seed[task.name] = per_seed
    return {
        "families": list(families),
        "seeds": list(seeds),
        "tasks": [{"name": t.name, "config": str(t.config), "overrides": list(t.overrides)} for t in chosen],
        "metrics": {t.name: list(task_metrics(bases[t.name])) for t in chosen},
        "base_configs": {name: config_to_dict(c) for name, c in bases.items()},
        "family_overrides": {f: list(v) for f, v in plan.family_overrides.items() if f in families},
        "rows": rows,
        "aggregates": aggregate(rows),
        "baselines": baseline_statistics(baselines_per_seed),
        "baselines_per_seed": baselines_per_seed,
        "spectra": spectra,
        "samples": samples,
        "spectrum_tol": SPECTRUM_TOL,
        "wall_seconds": time.perf_counter() - started,
    }
