r"""Every model family on the same tasks, data, losses and budget: the comparison's statistics, from a sweep.

The comparison's runs are the trials of one ``qsa sweep`` of a sweep plan
(``experiments/comparison/sweep.toml``: a ``task`` axis of training configs and a ``model.family``
axis, :func:`qsa.training.sweep.plan_sweep`), so the same seed gives every family the same data
and the same embedding. :func:`sweep_results` reads the finished sweep directory and builds:

- a *row* per run (:func:`run_row`): the final losses on the training, test and held-out splits,
  parameter count, seconds;
- the untrained *baselines* of each task (:func:`task_baselines`, from
  :func:`qsa.training.data.trivial_baselines`: copy-last token and unigram for tokens, unigram and
  bigram for text) and its chance levels;
- *statistics over seeds* per (task, family) (:func:`aggregate`): mean, sample standard deviation,
  median, minimum and maximum of every metric, and *paired differences* between two families at
  the same seeds (:func:`paired`);
- the *tables* (:func:`markdown`), the Koopman spectra (:func:`koopman_spectrum`) and, for text
  tasks, a generated sample per family (:func:`text_sample`), from the trained models read back
  from the trials' run directories (:func:`qsa.training.load.load_run`).

Why mean and spread, not one number: runs driven by L-BFGS amplify rounding differences between
machines (a different BLAS or summation order gives another trajectory from the same seed), so a
single seed's figure, or a median that falls in a gap between seeds, does not reproduce on another
machine; the mean over enough seeds and its spread do, and a claim should rest on them.

Example:
    >>> import tempfile
    >>> from qsa.configs import config_path
    >>> from qsa.training.sweep import plan_sweep, run_sweep
    >>> plan = plan_sweep(config_path("tfim/smoke.toml"), ["model.family=qsa,kcsa"], "0-1", overrides=["train.steps=2"])
    >>> with tempfile.TemporaryDirectory() as out:
    ...     sweep = run_sweep(plan, out=out, engine="local")
    ...     results = sweep_results(sweep.sweep_dir)
    >>> [(a["family"], a["n_seeds"]) for a in results["aggregates"]]
    [('qsa', 2), ('kcsa', 2)]
"""

from __future__ import annotations

import json
import logging
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qsa.errors import UserError
from qsa.model import QSAModel
from qsa.training.config import TrainConfig
from qsa.training.families import FamilyModel
from qsa.training.loop import run_dataset

logger = logging.getLogger(__name__)

__all__ = [
    "SPECTRUM_TOL",
    "FAMILY",
    "task_metrics",
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
    "sweep_results",
]

#: Relative neutral band of the Koopman spectra: ``|lambda| / |det K|^(1/d)`` within ``1 +- SPECTRUM_TOL``.
SPECTRUM_TOL = 1e-3
SPLITS = ("train", "test", "heldout")
#: Metrics recorded per split: tokens score p_j with L_1 and L_half; text adds the next-word nll and accuracy.
TOKEN_METRICS = ("L_1", "L_half")
TEXT_METRICS = ("nll", "next_token_accuracy", "L_1")
#: The grid axis of a comparison sweep: the model families.
FAMILY = "model.family"


def task_metrics(config: TrainConfig) -> tuple[str, ...]:
    """The metrics a task records per split: ``L_1``, ``L_half`` for tokens; ``nll``, accuracy, ``L_1`` for text."""
    return TEXT_METRICS if config.data.source == "text" else TOKEN_METRICS


def _split_values(final: dict[str, dict[str, float]], metrics: Sequence[str]) -> dict[str, float | None]:
    held = [m for name, m in final.items() if name.startswith("heldout")]
    row: dict[str, float | None] = {}
    for metric in metrics:
        row[f"train_{metric}"] = final["train"][metric]
        row[f"test_{metric}"] = final["test"][metric]
        row[f"heldout_{metric}"] = statistics.fmean(m[metric] for m in held) if held else None
    return row


def run_row(summary: dict[str, Any], task: str, seed: int, metrics: Sequence[str]) -> dict[str, Any]:
    """One run's row from its ``summary.json``: task, family, seed, parameters, seconds, steps and
    ``<split>_<metric>`` of the final evaluation (``heldout``: the mean over the held-out
    Hamiltonians, ``None`` without any)."""
    return {
        "task": task,
        "family": summary["family"],
        "seed": seed,
        "parameters": summary["parameters"],
        "seconds": summary["wall_seconds"],
        "cpu_seconds": summary.get("cpu_seconds"),
        "steps": summary["steps"],
        **_split_values(summary["final"], metrics),
    }


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


def text_sample(
    model: QSAModel | FamilyModel, config: TrainConfig, *, n_tokens: int = 16, seed: int = 0
) -> dict[str, Any]:
    """A sample of a trained text model: ``n_tokens`` words drawn after the first three words of the
    first test window (:func:`qsa.training.generate.generate`, temperature 1, ``seed``)."""
    from qsa.training.generate import generate

    dataset = run_dataset(config)
    test, vocabulary = dataset.splits["test"], dataset.vocabulary
    if not isinstance(test, torch.Tensor) or vocabulary is None:
        raise ValueError(f"config must be a text task (data.source = 'text'); got {config.data.source!r}")
    prompt = test[0, :3].tolist()
    sample = generate(model, vocabulary, prompt, n_tokens, seed=seed)
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
    """One result from several :func:`sweep_results` results (a comparison run in pieces, e.g.
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
                raise ValueError(
                    f"parts must not repeat a (task, family, seed) without replace_rows (run.py: --replace); got {key} again"
                )
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


def _base(config: dict[str, Any]) -> dict[str, Any]:
    """What every family of a task shares: its data and its ``[train]`` section (the budget)."""
    return {"data": config["data"], "train": config["train"]}


def sweep_results(sweep_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The comparison's results from a finished ``qsa sweep`` whose axes are ``task`` and ``model.family``.

    Each trial is a (task, family, seed) run; its row comes from its ``summary.json``, the Koopman
    spectra and the text samples from its trained model (the last checkpoint, i.e. the final
    weights), and the untrained baselines from each seed's data, checked against the trials' data
    fingerprints. A sweep of one training config (no ``task`` axis) is one task named after the sweep.

    Args:
        sweep_dir: a sweep directory of :func:`qsa.training.sweep.run_sweep` (``sweep.json``, ``trials/``).

    Returns:
        ``{"families", "seeds", "tasks", "metrics", "base_configs", "family_overrides", "rows",
        "aggregates", "baselines", "baselines_per_seed", "spectra", "samples", "spectrum_tol",
        "wall_seconds", "plan"}`` (JSON-friendly): rows in the order task, seed, family;
        ``baselines[task]`` holds the chance levels and the untrained baselines (mean ± spread over
        the seeds' data draws), ``spectra`` the Koopman spectra per run, ``samples`` a generated
        text per text run at the first seed, ``wall_seconds`` the trials' wall seconds summed.

    Raises:
        UserError: ``sweep_dir`` is not a sweep directory, has axes other than ``task`` and
            ``model.family``, or has unfinished trials (``qsa sweep --resume`` finishes them).
    """
    from qsa.training.load import load_run
    from qsa.training.sweep import PLAN, TASK, TRIALS, SweepPlan, _assignment, _finished

    path = Path(sweep_dir)
    try:
        plan = SweepPlan.from_dict(json.loads((path / PLAN).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(
            f"sweep_dir must be a qsa sweep directory (with a readable {PLAN}); got {str(path)!r}", key="SWEEP_DIR"
        ) from None
    labels = dict(plan.labels())
    if FAMILY not in labels or set(labels) - {TASK, FAMILY}:
        raise UserError(
            f"sweep_dir must hold a sweep over {FAMILY} (and task) only; got the axes {list(labels)} in {str(path)!r}",
            key="SWEEP_DIR",
        )
    unfinished = [t.name for t in plan.trials if _finished(path / TRIALS / t.name, t.train_config()) is None]
    if unfinished:
        raise UserError(
            f"sweep_dir must hold a finished sweep; got {len(unfinished)} unfinished trials of "
            f"{len(plan.trials)} ({unfinished[0]}, ...): qsa sweep --resume {path} finishes them",
            key="SWEEP_DIR",
        )
    families, seeds = [str(f) for f in labels[FAMILY]], list(plan.seeds)
    tasks = [str(t) for t in labels.get(TASK, [plan.name])]
    trials = {(t.point.get(TASK, plan.name), t.point[FAMILY], t.seed): t for t in plan.trials}
    rows: list[dict[str, Any]] = []
    spectra: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    baselines_per_seed: dict[str, list[dict[str, Any]]] = {}
    metrics: dict[str, list[str]] = {}
    bases: dict[str, dict[str, Any]] = {}
    for task in tasks:
        per_seed = []
        for seed in seeds:
            for family in families:
                trial = trials[task, family, seed]
                run_dir = path / TRIALS / trial.name
                config = trial.train_config()
                metrics.setdefault(task, list(task_metrics(config)))
                bases.setdefault(task, _base(trial.config))
                summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
                rows.append(
                    {**run_row(summary, task, seed, metrics[task]), "run_dir": f"{path.name}/{TRIALS}/{trial.name}"}
                )
                koopman = family.startswith("koopman")
                sample = seed == seeds[0] and config.data.source == "text"
                if koopman or sample:
                    model = load_run(run_dir, checkpoint="last").model
                    if koopman and isinstance(model, FamilyModel):
                        spectra.append({"task": task, "family": family, "seed": seed, **koopman_spectrum(model)})
                    if sample:
                        samples.append({"task": task, "family": family, "seed": seed, **text_sample(model, config)})
            reference = task_baselines(config)  # the data of this seed, as every family saw it
            recorded = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))["fingerprint"]
            if reference["fingerprint"] != recorded:
                raise RuntimeError(
                    f"the baselines must be scored on the runs' very data (fingerprint {recorded}); "
                    f"got {reference['fingerprint']}"
                )
            per_seed.append({"seed": seed, **reference})
        baselines_per_seed[task] = per_seed
    overrides = {
        str(v[FAMILY]): [_assignment(k, x) for k, x in v.items() if k != FAMILY]
        for key, values in plan.grid
        if key == FAMILY
        for v in values
        if isinstance(v, dict)
    }
    return {
        "families": families,
        "seeds": seeds,
        "tasks": [
            {"name": t, "config": plan.tasks.get(t, plan.source), "overrides": list(plan.overrides)} for t in tasks
        ],
        "metrics": metrics,
        "base_configs": bases,
        "family_overrides": overrides,
        "rows": rows,
        "aggregates": aggregate(rows),
        "baselines": baseline_statistics(baselines_per_seed),
        "baselines_per_seed": baselines_per_seed,
        "spectra": spectra,
        "samples": samples,
        "spectrum_tol": SPECTRUM_TOL,
        "wall_seconds": sum(r["seconds"] for r in rows),
        "plan": {"name": plan.name, "source": plan.source, "sweep_dir": path.name},
    }
