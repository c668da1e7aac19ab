"""L-BFGS history (``train.lbfgs_history``) on the reference task: cost and outcome of 10, 20 and 100 pairs.

    python experiments/benchmarks/lbfgs_history.py                       # seeds 0-9, histories 10 20 100
    python experiments/benchmarks/lbfgs_history.py --seeds 2 --histories 10 100 --config experiments/tfim/smoke.toml

Trains ``experiments/tfim/config.toml`` (400 steps of ``qsa.training.LBFGS``, full batch) with
``qsa.training.train(config, plots=False)`` in this one process, on one torch thread (as
``qsa train``), for every seed and history: for a seed, every history starts from the same data
and the same angles (the config's ``seed`` draws both; only ``train.lbfgs_history`` differs). The
histories of a seed run in a rotating order after one unrecorded warm-up run. Per run:

* the first step whose training record (the loss before the step) is below ``--target`` (0.1),
  the loss evaluations (calls of ``QSAModel.loss``: the training closure's) and the CPU of the
  ``train()`` call (``time.process_time``) up to it;
* CPU per step: the median over steps of the process CPU between consecutive training records
  (``time.process_time``; steps with a periodic evaluation or checkpoint are the slower tail);
* CPU of the whole ``train()`` call (data, model, evaluations, checkpoints, all 400 steps);
* the final train, test and held-out ``L_1`` (``summary.json``'s ``final``, after all steps).

Prints one line per run and a table per history (median and min-max over seeds); ``--out``
writes everything as JSON. Not a test; nothing asserts a speed. Used for the table in
``experiments/benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from qsa.errors import run_command
from qsa.model import QSAModel
from qsa.training import load_config, train

ROOT = Path(__file__).resolve().parents[2]


def one_run(path: str, seed: int, history: int, target: float, run_dir: Path) -> dict[str, Any]:
    """Train ``path`` with ``seed`` and ``train.lbfgs_history = history``; what the module docstring lists."""
    config = load_config(path, [f"seed={seed}", f"train.lbfgs_history={history}"])
    counts = {"evaluations": 0}
    loss = QSAModel.loss

    def counting_loss(self: QSAModel, *args: Any, **kwargs: Any) -> Any:
        counts["evaluations"] += 1
        return loss(self, *args, **kwargs)

    marks: list[float] = []
    reached: dict[str, float] = {}

    def watch(event: Any) -> None:
        if event.record["kind"] != "train":
            return
        marks.append(time.process_time())
        if event.record["loss"] < target and not reached:
            reached.update(step=event.step, evaluations=counts["evaluations"], cpu=marks[-1] - start)

    QSAModel.loss = counting_loss  # type: ignore[method-assign]
    try:
        start = time.process_time()
        result = train(config, run_dir=run_dir, plots=False, callbacks=[watch])
        cpu = time.process_time() - start
    finally:
        QSAModel.loss = loss  # type: ignore[method-assign]
    steps = [b - a for a, b in zip(marks, marks[1:])]
    return {
        "seed": seed,
        "history": history,
        "steps": config.train.steps,
        "reached_step": reached.get("step"),
        "reached_evaluations": reached.get("evaluations"),
        "reached_cpu": reached.get("cpu"),
        "evaluations": counts["evaluations"],
        "cpu_per_step": statistics.median(steps),
        "train_cpu": cpu,
        "final": {split: values["L_1"] for split, values in result.summary["final"].items()},
    }


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def table(runs: list[dict[str, Any]], histories: list[int], target: float) -> str:
    splits = list(runs[0]["final"])
    head = ["history", f"reached L_1 < {target:g}", "steps to it", "evaluations to it", "CPU to it (s)"]
    head += ["CPU per step (ms)"]
    head += ["train() CPU (s)"] + [f"final {s} L_1" for s in splits]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for h in histories:
        rs = [r for r in runs if r["history"] == h]
        hit = [r for r in rs if r["reached_step"] is not None]
        row = [
            str(h),
            f"{len(hit)}/{len(rs)}",
            _spread([r["reached_step"] for r in hit], ".0f"),
            _spread([r["reached_evaluations"] for r in hit], ".0f"),
            _spread([r["reached_cpu"] for r in hit], ".2f"),
            _spread([1e3 * r["cpu_per_step"] for r in rs], ".2f"),
            _spread([r["train_cpu"] for r in rs], ".2f"),
        ]
        row += [_spread([r["final"][s] for r in rs], ".3f") for s in splits]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "experiments" / "tfim" / "config.toml"))
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1")
    parser.add_argument("--histories", type=int, nargs="+", default=[10, 20, 100])
    parser.add_argument("--target", type=float, default=0.1)
    parser.add_argument("--out", default=None, help="write the runs and the machine's load as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as `qsa train` does
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        one_run(args.config, 0, args.histories[0], args.target, Path(tmp) / "warm-up")  # first-call costs
        for seed in range(args.seeds):
            order = args.histories[seed % len(args.histories) :] + args.histories[: seed % len(args.histories)]
            for history in order:
                r = one_run(args.config, seed, history, args.target, Path(tmp) / f"run-{seed}-{history}")
                runs.append(r)
                finals = ", ".join(f"{k} {v:.4f}" for k, v in r["final"].items())
                print(
                    f"seed {seed} history {history}: reached at step {r['reached_step']} after {r['reached_cpu']} s CPU "
                    f"({r['reached_evaluations']} evaluations); {1e3 * r['cpu_per_step']:.2f} ms CPU per step, "
                    f"train() {r['train_cpu']:.2f} s CPU; final L_1 {finals}",
                    flush=True,
                )
    load_after = os.getloadavg()
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} cores)")
    print(table(runs, args.histories, args.target))
    result = {"config": args.config, "target": args.target, "load": [load_before, load_after], "runs": runs}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    sys.exit(run_command("experiments/benchmarks/lbfgs_history.py", lambda: main(sys.argv[1:])))
