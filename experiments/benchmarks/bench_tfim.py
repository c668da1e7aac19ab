"""Time to reach training L_1 < 0.1 on the tfim reference task (experiments/tfim/config.toml), analytic path.

The reference task's data, model, seed and optimiser (L-BFGS, strong Wolfe line search, one loss
evaluation per iteration on the full batch: :class:`qsa.training.LBFGS`), one torch thread as
``qsa train`` uses, training steps only (no evaluation or checkpoints): CPU seconds of the process
(``time.process_time``, steadier than wall time on a shared machine) from the first step to the
first step whose training loss is below the target. Cases:

* ``fast``: :class:`qsa.model.QSAModel` as it is now;
* ``reference``: the same model with the previous closed forms and ansatz everywhere
  (:class:`reference.ReferenceModel`).

Both follow the same trajectory (the numbers agree to rounding), so they take the same number of
steps; the JSON records both counts and the loss evaluations.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import reference
import torch
from common import interleaved, row, stats

from qsa.model import QSAModel
from qsa.training import load_config
from qsa.training.data import build_dataset, model_config
from qsa.training.loop import make_optimizer

ROOT = Path(__file__).resolve().parents[2]
TARGET = 0.1


def _train(config, model_class, *, target: float, max_steps: int) -> dict[str, Any]:
    data_seed, model_seed, _ = np.random.SeedSequence(config.seed).spawn(3)
    dataset = build_dataset(config, np.random.default_rng(data_seed))
    mcfg = model_config(config, dataset)
    model = model_class(mcfg, seed=np.random.default_rng(model_seed))
    optimizer = make_optimizer(model, config.train)
    batch = dataset.train
    evaluations = 0

    def closure():
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = model.loss(batch, config.train.loss)
        loss.backward()
        return loss

    start = time.process_time()
    loss = float("inf")
    for step in range(1, max_steps + 1):
        loss = float(optimizer.step(closure, same_closure=True).detach())  # full batch: as `qsa train` steps it
        if loss < target:
            return {
                "steps": step,
                "loss": loss,
                "evaluations": evaluations,
                "seconds": time.process_time() - start,
                "reached": True,
            }
    return {
        "steps": max_steps,
        "loss": loss,
        "evaluations": evaluations,
        "seconds": time.process_time() - start,
        "reached": False,
    }


def run(*, smoke: bool, repeats: int) -> dict[str, Any]:
    path = ROOT / "experiments" / "tfim" / ("smoke.toml" if smoke else "config.toml")
    config = load_config(path)
    target, max_steps = (1.0, 10) if smoke else (TARGET, config.train.steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs: dict[str, list[dict[str, Any]]] = {"fast": [], "reference": []}
        models = {"fast": QSAModel, "reference": reference.ReferenceModel}

        def case(name):
            def go():
                runs[name].append(_train(config, models[name], target=target, max_steps=max_steps))

            return go

        interleaved({name: case(name) for name in models}, repeats=min(repeats, 3), warmup=0)
    finally:
        torch.set_num_threads(threads)
    times = {name: [r["seconds"] for r in rs] for name, rs in runs.items()}  # training steps only
    first = {name: r[0] for name, r in runs.items()}
    name = f"{path.relative_to(ROOT)}: L_1 < {target:g}"
    rows = [
        row(
            "tfim time to target (analytic)",
            name,
            "reference",
            "fast",
            times,
            note=f"{first['fast']['steps']} steps, {first['fast']['evaluations']} loss evaluations",
        )
    ]
    return {
        "config": str(path.relative_to(ROOT)),
        "target": target,
        "max_steps": max_steps,
        "torch_threads": 1,
        "runs": runs,
        "seconds": {n: stats(t) for n, t in times.items()},
        "rows": rows,
    }


def report(result: dict[str, Any]) -> str:
    lines = []
    for name, rs in result["runs"].items():
        r = rs[0]
        lines.append(
            f"  {name}: {'reached' if r['reached'] else 'did NOT reach'} L_1 < {result['target']:g} at step {r['steps']} "
            f"(loss {r['loss']:.4f}, {r['evaluations']} evaluations); median {result['seconds'][name]['median']:.2f} s"
        )
    return "\n".join(lines)
