"""``qsa train``: train from a TOML configuration, or resume a run directory.

qsa train experiments/tfim/config.toml
qsa train experiments/tfim/config.toml --set train.steps=50 --set model.k=3
qsa train --resume runs/tfim-20260101-120000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a QSA model (or a baseline: model.family) from a TOML config (or resume a run)",
        description="Train a QSA model (or a baseline family, --set model.family=kcsa) as a TOML config says, writing runs/<name>-<stamp>/ "
        "(config, environment, metrics.jsonl, checkpoints, loss.png, summary.json).",
    )
    p.add_argument("config", nargs="?", help="TOML configuration file (see experiments/*/config.toml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.steps=50 (repeatable)",
    )
    p.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: fastest for these small matrices; recorded in environment.json)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from qsa.training import ConfigError, load_config, resume, train

    if args.threads < 1:
        print(f"qsa train: --threads must be >= 1; got {args.threads}", file=sys.stderr)
        return 2
    if (args.config is None) == (args.resume is None):
        print("qsa train: give either CONFIG or --resume RUN_DIR", file=sys.stderr)
        return 2
    if args.resume and args.overrides:
        print(
            "qsa train: --set cannot change a run being resumed (it continues with its own config.json)",
            file=sys.stderr,
        )
        return 2
    torch.set_num_threads(args.threads)  # an entry point's choice, never the library's
    try:
        if args.resume:
            result = resume(args.resume, progress=not args.no_progress)
        else:
            config = load_config(args.config, args.overrides)
            result = train(config, out=args.out, progress=not args.no_progress)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"qsa train: {exc}", file=sys.stderr)
        return 2
    _report(result)
    return 0


def _report(result) -> None:
    s = result.summary
    chance = s["chance"]
    text = "next_token_accuracy" in s["final"].get("train", {})
    print(f"run: {result.run_dir}  ({s['steps']} steps, {s['wall_seconds']:.1f} s)")
    print(f"model: family {s['family']}, {s['parameters']} trainable parameters")
    print(f"{'split':>12} {'L_1':>9} {'L_half':>9} {'L_B':>9}" + (f" {'nll':>9} {'accuracy':>9}" if text else ""))
    for split, m in s["final"].items():
        extra = f" {m['nll']:>9.4f} {m['next_token_accuracy']:>9.4f}" if text else ""
        print(f"{split:>12} {m['L_1']:>9.4f} {m['L_half']:>9.4f} {m.get('L_B', float('nan')):>9.4f}{extra}")
    print(f"{'chance':>12} {chance['L_1']:>9.4f} {chance['L_half']:>9.4f}")
    if text:
        b = s["nll_baselines"]
        print(
            f"baselines: nll of the uniform guess {b['uniform']:.4f}, of unigram frequencies {b['unigram']:.4f}; "
            f"accuracy of the most frequent word {s['majority_accuracy']:.4f}"
        )
    if s.get("best"):
        b = s["best"]
        print(f"best {b['loss']} on {b['split']}: {b['value']:.4f} at step {b['step']} (best.pt)")
    for name in s["plots"]:
        print(f"plot: {Path(result.run_dir) / name}")
