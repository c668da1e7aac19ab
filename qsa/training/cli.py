"""``qsa train``: train from a TOML configuration, or resume a run directory.

qsa train experiments/tfim/config.toml
qsa train experiments/tfim/config.toml --set train.steps=50 --set model.k=3
qsa train experiments/tfim/config.toml --set model.family=kcsa
qsa train --resume runs/tfim-20260101-120000

``--set model.family=F`` resets the config file's ``[model]`` keys that family ``F`` does not use
(QSA's ansatz depth for a softmax baseline, say) to their defaults, as
``qsa.training.with_family`` does, and names them on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qsa.training._cli_args import config_or_resume, run_options

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "train",
        parents=[
            run_options(
                config="TOML configuration file (see experiments/*/config.toml)",
                overrides="override a config key, e.g. --set train.steps=50 (repeatable)",
                out="root of the run directories (default: runs)",
                resume=("RUN_DIR", "continue the run in RUN_DIR from its checkpoint"),
                threads="torch CPU threads (default 1: fastest for these small matrices; recorded in environment.json)",
                progress="no progress bar",
            )
        ],
        help="train a QSA model (or a baseline: model.family) from a TOML config (or resume a run)",
        description="Train a QSA model (or a baseline family, --set model.family=kcsa) as a TOML config says, writing "
        "runs/<name>[-<overrides>]-<stamp>/ "
        "(config, environment, metrics.jsonl, checkpoints, loss.png, summary.json). With --set model.family=F, the "
        "file's [model] keys that F does not use are reset to their defaults (named on stderr), as "
        "qsa.training.with_family does; keys given with --set are never reset.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train or resume; every refusal is raised for the ``qsa`` error boundary (one line, exit 2).

    A new run's memory preflight (:func:`qsa.preflight.training_needs`) runs here before torch is
    loaded, so a config that cannot fit (a 32-qubit circuit, data too large) is refused at once.
    """
    from qsa import preflight
    from qsa.errors import UserError, renamed
    from qsa.runs import check_output_root, run_name
    from qsa.training import load_config_with_family

    if args.threads < 1:
        raise UserError(f"--threads must be >= 1; got {args.threads}", key="--threads")
    config_or_resume(args, "train", "RUN_DIR")
    if args.resume and args.overrides:
        raise UserError(
            "--set must not be given with --resume (a resumed run continues with its own config.json); "
            f"got {' '.join(args.overrides)}",
            key="--set",
        )
    if args.resume:
        _set_threads(args.threads)
        from qsa.training import resume

        with renamed({"run_dir": "--resume"}):
            result = resume(args.resume, progress=not args.no_progress)
    else:
        config, reset = load_config_with_family(args.config, args.overrides)
        check_output_root(args.out, "--out")
        preflight.check(preflight.training_needs(config), limit=config.train.memory_limit, key="train.memory_limit")
        _set_threads(args.threads)
        from qsa.training import train

        if reset:
            print(
                f"qsa train: model.family = {config.model.family!r} does not use "
                + ", ".join(f"{key} = {value!r}" for key, value in reset.items())
                + " of the config file; reset to the defaults (as qsa.training.with_family does)",
                file=sys.stderr,
            )
        name = run_name(config.name, args.overrides)  # runs/<name>-<overrides>-<stamp>
        result = train(config, out=args.out, progress=not args.no_progress, run_name=name)
    _report(result)
    return 0


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)  # an entry point's choice, never the library's


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
    held = {name: by_split["test"] for name, by_split in (s.get("baselines") or {}).items() if "test" in by_split}
    if held:
        names = {"copy_last": "copy last token", "unigram": "unigram", "bigram": "bigram"}
        parts = [
            f"{names.get(name, name)} " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(values.items()))
            for name, values in sorted(held.items())
        ]
        print("untrained baselines on test: " + "; ".join(parts))
    cost = s.get("cost")
    if cost and "error" not in cost:
        from qsa.resources.report import format_block

        print("\n".join(format_block(cost)))
    if s.get("best"):
        b = s["best"]
        print(f"best {b['loss']} on {b['split']}: {b['value']:.4f} at step {b['step']} (best.pt)")
    for name in s["plots"]:
        print(f"plot: {Path(result.run_dir) / name}")
