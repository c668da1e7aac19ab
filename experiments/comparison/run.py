"""Every model family (QSA, kCSA, softmax, linear, Koopman) on the same data, losses and budget: table and plots.

    python experiments/comparison/run.py                       # config.toml: TFIM and Markov, 7 families, 10 seeds
    python experiments/comparison/run.py --smoke               # seconds: smoke.toml (run by the tests)
    python experiments/comparison/run.py --families qsa kcsa --tasks tfim --seeds 0
    python experiments/comparison/run.py --set train.steps=800 # applied to every task

Writes ``runs/comparison-<stamp>/`` with one training run per (task, family, seed) in
``<task>/<family>-seed<seed>/`` (the run directories of ``qsa train``), ``results.json`` (every
row, medians, chance levels, Koopman spectra, environment), ``results.csv`` (one line per run),
``table.md`` (the printed table), ``losses.png`` and ``spectra.png`` (drawn by ``plot.py``).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import statistics
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from qsa import analytic, runs
from qsa.baselines.koopman import plot_spectrum, spectral_split
from qsa.training import FAMILIES, build_dataset, config_to_dict, load_config, train, with_family
from qsa.training.loop import run_environment

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "comparison_plot", HERE / "plot.py"
)  # a unique name: other experiments have a plot.py
plot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot)

#: Relative neutral band of the Koopman spectra: |lambda| / |det K|^(1/d) within 1 +- SPECTRUM_TOL.
SPECTRUM_TOL = 1e-3
METRICS = ("train_L_1", "test_L_1", "heldout_L_1", "train_L_half", "test_L_half", "heldout_L_half")


def read_plan(path: Path) -> dict:
    """The comparison config: name, families, seeds and tasks (each a training config and overrides)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(raw) - {"name", "families", "seeds", "tasks"}
    if unknown:
        raise ValueError(f"{path} must have only the keys name, families, seeds, tasks; got {sorted(unknown)}")
    families = raw.get("families", list(FAMILIES))
    if not families or any(f not in FAMILIES for f in families):
        raise ValueError(f"families must be a non-empty list of {FAMILIES}; got {families!r}")
    seeds = raw.get("seeds", [0])
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0; got {seeds!r}")
    tasks = raw.get("tasks", [])
    if not tasks or any(
        set(t) - {"name", "config", "overrides"} or "name" not in t or "config" not in t for t in tasks
    ):
        raise ValueError(f"tasks must be a non-empty list of tables with name, config (and overrides); got {tasks!r}")
    return {
        "name": raw.get("name", "comparison"),
        "families": families,
        "seeds": seeds,
        "tasks": [
            {
                "name": t["name"],
                "config": (path.parent / t["config"]).resolve(),
                "overrides": list(t.get("overrides", [])),
            }
            for t in tasks
        ],
    }


def copy_last_losses(config) -> dict[str, float]:
    """Losses of the untrained reference z_j = x_j (predict the last token) on every split of the run's data."""
    data_seed = np.random.SeedSequence(config.seed).spawn(3)[0]  # the data stream of qsa.training.loop
    dataset = build_dataset(config, np.random.default_rng(data_seed))
    out = {}
    for name, split in dataset.splits.items():
        p = analytic.step_probabilities(split.X, split.Y)  # (S, T)
        out[name] = {"L_1": float(analytic.loss_L1(p).mean()), "L_half": float(analytic.loss_L_half(p).mean())}
    return {"fingerprint": dataset.info["fingerprint"], "splits": out}


def split_losses(final: dict[str, dict]) -> dict[str, float]:
    """train / test / held-out (mean over the held-out Hamiltonians; ``None`` without any) L_1 and L_half of a run's final metrics."""
    held = [m for name, m in final.items() if name.startswith("heldout")]
    row = {}
    for field in ("L_1", "L_half"):
        row[f"train_{field}"] = final["train"][field]
        row[f"test_{field}"] = final["test"][field]
        row[f"heldout_{field}"] = statistics.fmean(m[field] for m in held) if held else None
    return row


def koopman_spectrum(model) -> dict:
    """Eigenvalues of every layer's K, raw and relative to |det K|^(1/d), with the decay/neutral/growth counts."""
    layers = []
    for K in model.core.koopman().detach():
        raw, rel = spectral_split(K, tol=SPECTRUM_TOL), spectral_split(K, tol=SPECTRUM_TOL, relative=True)
        layers.append(
            {
                "eigenvalues": [[float(z.real), float(z.imag)] for z in raw.eigenvalues],
                "relative_eigenvalues": [[float(z.real), float(z.imag)] for z in rel.eigenvalues],
                "relative_counts": {"decay": len(rel.decay), "neutral": len(rel.neutral), "growth": len(rel.growth)},
                "relative_spread": float(np.abs(rel.eigenvalues).max() - np.abs(rel.eigenvalues).min()),
                "net_rate": raw.net_rate,
            }
        )
    return {"alpha": model.core.alpha.detach().tolist(), "layers": layers}


def aggregate(rows: list[dict]) -> list[dict]:
    """Median, min and max over seeds of every metric, per (task, family)."""
    out = []
    keys = list(dict.fromkeys((r["task"], r["family"]) for r in rows))
    for task, family in keys:
        group = [r for r in rows if r["task"] == task and r["family"] == family]
        agg = {
            "task": task,
            "family": family,
            "parameters": group[0]["parameters"],
            "n_seeds": len(group),
            "seconds_median": statistics.median(r["seconds"] for r in group),
        }
        for m in METRICS:
            values = [r[m] for r in group]
            if None in values:  # a split this task does not have
                agg[m] = agg[f"{m}_min"] = agg[f"{m}_max"] = None
                continue
            agg[m] = statistics.median(values)
            agg[f"{m}_min"], agg[f"{m}_max"] = min(values), max(values)
        out.append(agg)
    return out


def markdown(aggregates: list[dict], references: dict, chance: dict, task: str) -> str:
    """One task's table: medians over seeds; the range of the held-out (test) L_1; chance and copy-last rows."""
    rows = [a for a in aggregates if a["task"] == task]
    has_h = rows[0]["heldout_L_1"] is not None
    cols = (
        ["train L_1", "test L_1", "test L_1 range"]
        + (["held-out H L_1"] if has_h else [])
        + ["train L_½", "test L_½"]
        + (["held-out H L_½"] if has_h else [])
        + ["params", "s/run"]
    )
    lines = [
        f"**{task}** (median over {rows[0]['n_seeds']} seed{'s' if rows[0]['n_seeds'] > 1 else ''})",
        "",
        "| family | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for a in rows:
        cells = [f"{a['train_L_1']:.4f}", f"{a['test_L_1']:.4f}", f"{a['test_L_1_min']:.3f}–{a['test_L_1_max']:.3f}"]
        cells += [f"{a['heldout_L_1']:.4f}"] if has_h else []
        cells += [f"{a['train_L_half']:.4f}", f"{a['test_L_half']:.4f}"] + (
            [f"{a['heldout_L_half']:.4f}"] if has_h else []
        )
        cells += [str(a["parameters"]), f"{a['seconds_median']:.1f}"]
        lines.append(f"| {a['family']} | " + " | ".join(cells) + " |")
    ref = references[task]
    cells = (
        [f"{ref['train_L_1']:.4f}", f"{ref['test_L_1']:.4f}", ""]
        + ([f"{ref['heldout_L_1']:.4f}"] if has_h else [])
        + [f"{ref['train_L_half']:.4f}", f"{ref['test_L_half']:.4f}"]
        + ([f"{ref['heldout_L_half']:.4f}"] if has_h else [])
        + ["0", ""]
    )
    lines.append("| copy last token (z_j = x_j, untrained) | " + " | ".join(cells) + " |")
    c = chance[task]
    cells = (
        [f"{c['L_1']:.4f}"] * 2
        + [""]
        + ([f"{c['L_1']:.4f}"] if has_h else [])
        + [f"{c['L_half']:.4f}"] * 2
        + ([f"{c['L_half']:.4f}"] if has_h else [])
        + ["", ""]
    )
    lines.append("| chance (random direction) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="comparison config (default: config.toml here)")
    parser.add_argument("--smoke", action="store_true", help="smoke.toml (for the tests)")
    parser.add_argument("--families", nargs="+", default=None, choices=FAMILIES, help="subset of the config's families")
    parser.add_argument("--tasks", nargs="+", default=None, help="subset of the config's task names")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the config's)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override applied to every task's training config (repeatable)",
    )
    parser.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    parser.add_argument("--progress", action="store_true", help="a progress bar per run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest (as qsa train)
    plan = read_plan(Path(args.config) if args.config else HERE / ("smoke.toml" if args.smoke else "config.toml"))
    families = args.families or plan["families"]
    seeds = args.seeds or plan["seeds"]
    tasks = [t for t in plan["tasks"] if args.tasks is None or t["name"] in args.tasks]
    if not tasks:
        parser.error(f"--tasks must name tasks of the config ({[t['name'] for t in plan['tasks']]}); got {args.tasks}")
    sweep = runs.new_run_dir(args.out, plan["name"])
    started = time.perf_counter()
    rows, spectra, chance, references, bases = [], [], {}, {}, {}
    print(
        f"{'task':>6} {'family':>17} {'seed':>4} {'params':>6} {'train L_1':>9} {'test L_1':>9} {'held-out L_1':>12} "
        f"{'seconds':>7}",
        flush=True,
    )
    for task in tasks:
        base = load_config(task["config"], task["overrides"] + args.overrides)
        bases[task["name"]] = config_to_dict(base)
        ref_rows = []
        for seed in seeds:
            for family in families:
                cfg = replace(with_family(base, family), name=f"{task['name']}-{family}-seed{seed}", seed=seed)
                run_dir = sweep / task["name"] / f"{family}-seed{seed}"
                result = train(cfg, run_dir=run_dir, progress=args.progress, plots=seed == seeds[0])
                s = result.summary
                row = {
                    "task": task["name"],
                    "family": family,
                    "seed": seed,
                    "parameters": s["parameters"],
                    "seconds": s["wall_seconds"],
                    "steps": s["steps"],
                    "run_dir": str(run_dir.relative_to(sweep)),
                    **split_losses(s["final"]),
                }
                rows.append(row)
                chance[task["name"]] = s["chance"]
                if family.startswith("koopman"):
                    spectrum = {"task": task["name"], "family": family, "seed": seed, **koopman_spectrum(result.model)}
                    spectra.append(spectrum)
                    if seed == seeds[0]:
                        K = result.model.core.koopman()[0].detach()
                        plot_spectrum(
                            spectral_split(K, tol=SPECTRUM_TOL, relative=True),
                            run_dir / "spectrum.png",
                            tol=SPECTRUM_TOL,
                            title=f"{task['name']} {family}: K / |det K|^(1/d)",
                        )
                held = "" if row["heldout_L_1"] is None else f"{row['heldout_L_1']:.4f}"
                print(
                    f"{task['name']:>6} {family:>17} {seed:>4} {row['parameters']:>6} {row['train_L_1']:>9.4f} "
                    f"{row['test_L_1']:>9.4f} {held:>12} {row['seconds']:>7.1f}",
                    flush=True,
                )
            ref = copy_last_losses(cfg)
            recorded = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))["fingerprint"]
            if ref["fingerprint"] != recorded:  # the reference must be scored on the runs' very data
                raise RuntimeError(
                    f"copy-last data must equal the runs' data (fingerprint {recorded}); got {ref['fingerprint']}"
                )
            ref_rows.append(split_losses(ref["splits"]))
        references[task["name"]] = {
            m: None if ref_rows[0][m] is None else statistics.median(r[m] for r in ref_rows) for m in METRICS
        }
    aggregates = aggregate(rows)
    wall = time.perf_counter() - started
    tables = [markdown(aggregates, references, chance, t["name"]) for t in tasks]
    text = (
        "\n\n".join(tables) + f"\n\nWall time {wall:.0f} s for {len(rows)} runs on one torch thread; "
        "every family of a task has the same optimiser, learning rate, steps and batches.\n"
    )
    print("\n" + text, flush=True)
    results = {
        "plan": {**plan, "tasks": [{**t, "config": str(t["config"])} for t in tasks]},
        "families": families,
        "seeds": seeds,
        "base_configs": bases,
        "chance": chance,
        "copy_last": references,
        "rows": rows,
        "aggregates": aggregates,
        "spectra": spectra,
        "spectrum_tol": SPECTRUM_TOL,
        "wall_seconds": wall,
        "environment": run_environment(),
    }
    runs.write_json(sweep / "results.json", results)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    runs.write_bytes(sweep / "results.csv", buffer.getvalue().encode())
    runs.write_bytes(sweep / "table.md", text.encode())
    written = plot.plot_all(sweep)
    print(
        "wrote "
        + ", ".join(str(p) for p in [sweep / "results.json", sweep / "results.csv", sweep / "table.md", *written])
    )
    return {**results, "sweep": sweep, "table": text}


if __name__ == "__main__":
    main(sys.argv[1:])
