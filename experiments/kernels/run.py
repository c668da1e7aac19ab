"""Mono vs poly kernel for k = 1..4 on the same data and budget: final training and held-out losses.

    python experiments/kernels/run.py                  # config.toml, k = 1..4, both kernels
    python experiments/kernels/run.py --smoke          # seconds: smoke.toml, k = 1, 2
    python experiments/kernels/run.py --seeds 0 1 2    # three seeds per point (mean and spread)
    python experiments/kernels/run.py --set train.steps=800

Writes ``runs/kernels-<stamp>/`` with one training run per (kernel, k), ``results.json`` (rows,
config, environment) and ``kernels.png`` (the objective and ``L_B`` against k, training and
held-out, with the baselines).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from qsa import runs
from qsa.training import config_to_dict, load_config, train
from qsa.training.loop import run_environment

HERE = Path(__file__).resolve().parent


def plot(rows: list[dict], loss: str, baselines: dict[str, float], path: Path, title: str) -> None:
    """Final ``loss`` (left) and the circuit loss ``L_B`` the same runs record (right) against k, mean and min-max."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fields = [loss] + (["L_B"] if loss != "L_B" and "test_L_B" in rows[0] else [])
    fig = Figure(figsize=(6.4 * len(fields), 4.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(fields), squeeze=False)[0]
    ks = sorted({r["k"] for r in rows})
    for ax, field in zip(axes, fields):
        for kernel, color in (("mono", "C0"), ("poly", "C1")):
            for split, marker, style in (("train", "o", "-"), ("test", "s", "--")):
                values = [[r[f"{split}_{field}"] for r in rows if r["kernel"] == kernel and r["k"] == k] for k in ks]
                mean = [sum(v) / len(v) for v in values]
                spread = [[m - min(v) for m, v in zip(mean, values)], [max(v) - m for m, v in zip(mean, values)]]
                name = "training" if split == "train" else "held-out"
                ax.errorbar(
                    ks, mean, yerr=spread, marker=marker, ls=style, color=color, capsize=3, label=f"{kernel}: {name}"
                )
        if field == loss:
            for (name, value), style in zip(baselines.items(), (":", "-.", (0, (5, 1)))):
                ax.axhline(value, color="k", ls=style, lw=1, label=f"{name} {value:.3f}")
        ax.set(xlabel="k (key copies / polynomial degree)", ylabel=f"final {field}", title=f"{field}: {title}")
        ax.title.set_fontsize(9)
        ax.set_xticks(ks)
        ax.legend(fontsize=8)
    fig.tight_layout()
    runs.write_png(path, fig)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="base TOML config (default: config.toml here)")
    parser.add_argument("--smoke", action="store_true", help="smoke.toml, k = 1, 2 (for the tests)")
    parser.add_argument("--ks", type=int, nargs="+", default=None, help="values of k (default 1 2 3 4; smoke: 1 2)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds (default: the config's); several give the mean and min-max spread per point",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    parser.add_argument("--progress", action="store_true", help="a progress bar per run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config_path = args.config or HERE / ("smoke.toml" if args.smoke else "config.toml")
    ks = args.ks or ([1, 2] if args.smoke else [1, 2, 3, 4])
    base = load_config(config_path, args.overrides)
    sweep = runs.new_run_dir(args.out, base.name)
    rows = []
    loss = base.train.loss
    seeds = args.seeds or [base.seed]
    print(
        f"{'kernel':>6} {'k':>2} {'seed':>4} {'train ' + loss:>12} {'test ' + loss:>12} {'train L_1':>10} {'test L_1':>9} "
        f"{'test acc':>9} {'seconds':>8}",
        flush=True,
    )
    for kernel, k, seed in ((kernel, k, seed) for kernel in ("mono", "poly") for k in ks for seed in seeds):
        run_name = f"{kernel}-k{k}" + (f"-seed{seed}" if len(seeds) > 1 else "")
        cfg = replace(base, name=run_name, seed=seed, model=replace(base.model, kernel=kernel, k=k))
        result = train(cfg, run_dir=sweep / run_name, progress=args.progress)
        final = result.summary["final"]
        row = {
            "kernel": kernel,
            "k": k,
            "seed": seed,
            "seconds": result.summary["wall_seconds"],
            "run_dir": run_name,
            "test_accuracy": final["test"].get("next_token_accuracy"),
        }
        for split in ("train", "test"):
            for field in dict.fromkeys((loss, "L_1", "L_half", "L_B")):
                row[f"{split}_{field}"] = final[split][field]
        rows.append(row)
        acc = "" if row["test_accuracy"] is None else f"{row['test_accuracy']:.4f}"
        print(
            f"{kernel:>6} {k:>2} {seed:>4} {row['train_' + loss]:>12.4f} {row['test_' + loss]:>12.4f} {row['train_L_1']:>10.4f} "
            f"{row['test_L_1']:>9.4f} {acc:>9} {row['seconds']:>8.1f}",
            flush=True,
        )
    s = result.summary
    baselines = (
        {f"{n} guess": v for n, v in s["nll_baselines"].items()}
        if loss == "nll"
        else {f"chance {loss}": s["chance"][loss]}
        if loss in s["chance"]
        else {}
    )
    if loss == "nll" and "bigram" in s["baselines"]:
        baselines["bigram (test)"] = s["baselines"]["bigram"]["test"]["nll"]
    runs.write_json(
        sweep / "results.json",
        {
            "base_config": config_to_dict(base),
            "ks": ks,
            "seeds": seeds,
            "loss": loss,
            "chance": s["chance"],
            "nll_baselines": s["nll_baselines"],
            "majority_accuracy": s["majority_accuracy"],
            "environment": run_environment(),
            "rows": rows,
        },
    )
    m = base.model
    plot(
        rows,
        loss,
        baselines,
        sweep / "kernels.png",
        f"{base.data.source}, T={base.data.T}, d={m.d}, L={m.w_layers}, {base.train.steps} steps, "
        f"lr {base.train.lr:g}, {len(seeds)} seed{'s' if len(seeds) > 1 else ''}",
    )
    print(f"wrote {sweep / 'results.json'} and {sweep / 'kernels.png'}")
    return sweep


if __name__ == "__main__":
    main(sys.argv[1:])
