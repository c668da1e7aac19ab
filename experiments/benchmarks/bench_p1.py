"""P1: whole process to training L_1 < 0.1 on the reference task, QSA against the paper authors' algorithm.

Each case is a fresh Python process, timed in CPU seconds (user + system from ``getrusage``, all
threads, from the interpreter's start), one thread each (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
= 1, torch one thread as ``qsa train`` sets it, JAX's pool limited by ``XLA_FLAGS``), on identical
data and starting angles for every seed:

* ``authors (JAX + L-BFGS-B)``: ``python authors.py``: imports JAX, NumPy and SciPy, loads the
  training tokens and starting angles (written by this benchmark from QSA's own data and model for
  the seed: its data generation is not in its time, so the ratio favours it), compiles
  ``jit(value_and_grad(L_1))`` and runs ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``
  until an iterate's training ``L_1`` is below the target;
* ``QSA``: ``qsa.training.train(config)`` on ``experiments/tfim/config.toml`` with ``seed = s``
  (``plots=False``: the plot is optional, ``qsa train`` draws it after training), a callback
  stopping the run at the first training record below the target. Everything ``qsa train`` does
  is in its time: imports, data generation, model, the periodic evaluations of every split, the
  metrics file, checkpoints.

Rows (ratio = authors / QSA per seed; median and min-max over the seeds):

* whole process: CPU at the end of each process (goal >= 10x);
* imports and JIT excluded: the authors' optimisation with a compiled function against QSA's
  ``train(...)`` call (data, model, evaluations, checkpoints and training; goal >= 2x);
* start-up to the first evaluation: the authors' imports + first (compiling) evaluation against
  QSA's CPU from the interpreter's start to its first evaluation record (no goal; the issue asks
  for the figure);
* the floors of the goals, measured in the same run: the 10x budget (the authors' whole process
  / 10) against a fresh process that only imports NumPy + ``scipy.optimize`` + ``scipy.linalg``
  (what any SciPy L-BFGS-B driver with TFIM data needs), one that only imports torch, and the bare
  interpreter (``pass``); and the 2x budget (the authors' optimisation / 2) against the fixed
  costs of QSA's ``train()`` that are no training step, timed in the QSA process as they happen
  (CPU of every call): the environment record (``run_environment``: git commit, package
  versions), the data (``build_dataset``: the TFIM propagators' ``expm`` and the sequences), the
  evaluations of every split (every ``eval_every`` steps and the final one) and the checkpoints
  (``torch.save``, fsync). A ratio below 1 means that cost alone exceeds the budget.

Both start from the same loss (checked: ``initial_loss`` of both agree), train the same objective
(the mean ``L_1`` over the training sequences), and their final angles are evaluated by
:func:`qsa.training.loop.evaluate` on every split (train, test, held-out Hamiltonians), recorded
side by side (the issue asks for the same or better final losses). Needs ``jax``
(``pip install "jax[cpu]"``); without it only QSA's figures are recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import stats

from qsa import analytic
from qsa.ansatz import ring_permutation
from qsa.training import load_config
from qsa.training.families import build_model
from qsa.training.loop import evaluate, run_dataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGET = 0.1
GOALS = {"whole process": 10.0, "imports and JIT excluded": 2.0}

#: The QSA process: argv = config, seed, target, output .npz, run directory.
_QSA_CHILD = r"""
import resource, sys
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
import numpy as np
import torch
from qsa.model import QSAModel
from qsa.training import load_config, train
torch.set_num_threads(1)  # as `qsa train` does
imported = cpu()
path, seed, target, out, run_dir = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
state = {"evaluations": 0, "reached": False}
loss = QSAModel.loss
def counting_loss(self, *args, **kwargs):
    state["evaluations"] += 1
    return loss(self, *args, **kwargs)
QSAModel.loss = counting_loss
def stop(event):
    state.setdefault("cpu_first_evaluation", cpu())
    r = event.record
    if r["kind"] == "train":
        state.setdefault("initial_loss", r["loss"])
        state["loss"], state["steps"] = r["loss"], event.step
        if r["loss"] < target:
            state["reached"] = True
            return True
    return None
# train()'s fixed costs, timed as they happen in this run (CPU of every call, first calls included)
import qsa.training.loop as loop
def timed(name, function):
    def wrapper(*args, **kwargs):
        begin = cpu()
        try:
            return function(*args, **kwargs)
        finally:
            state[f"fixed {name}"] = state.get(f"fixed {name}", 0.0) + cpu() - begin
    return wrapper
loop.run_environment = timed("environment record", loop.run_environment)
loop.build_dataset = timed("data", loop.build_dataset)
loop.evaluate = timed("evaluations", loop.evaluate)
loop._Run.save_checkpoint = timed("checkpoints", loop._Run.save_checkpoint)
config = load_config(path, [f"seed={seed}"])
result = train(config, run_dir=run_dir, plots=False, callbacks=[stop])
end = cpu()
np.savez(out, theta_W=result.model.theta_W.detach().numpy(), theta_V=result.model.theta_V.detach().numpy(),
         cpu_imports=imported, cpu_end=end, training_cpu=end - imported, **state)
"""

#: Fresh processes that only import (the floors of the whole-process goal); argv[1] is the code.
_FLOOR_CHILD = r"""
import resource, sys
exec(sys.argv[1])
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime)
"""
FLOORS = {
    "NumPy + SciPy": "import numpy, scipy.optimize, scipy.linalg",
    "torch": "import torch",
    "interpreter": "pass",
}


def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def _child(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed ({args[0]}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def _floor(code: str) -> float:
    """CPU seconds of a fresh one-thread process that only runs ``code`` (an import)."""
    done = subprocess.run(
        [sys.executable, "-c", _FLOOR_CHILD, code], env=_env(), capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"floor process failed ({code}):\n{done.stderr[-3000:]}")
    return float(done.stdout.split()[-1])


def _load(path: Path) -> dict[str, Any]:
    with np.load(path) as data:
        return {k: (data[k] if data[k].ndim else data[k].item()) for k in data.files}


def _final_losses(config, dataset, angles: dict[str, Any]) -> dict[str, float]:
    model = build_model(config, dataset, seed=0)
    with torch.no_grad():
        model.theta_W.copy_(torch.as_tensor(angles["theta_W"]))
        model.theta_V.copy_(torch.as_tensor(angles["theta_V"]))
    return {name: evaluate(model, split)["L_1"] for name, split in dataset.splits.items()}


def _problem(config, path: Path) -> tuple[Any, dict[str, float]]:
    """Write the seed's training data and starting angles (those ``train(config)`` builds) for ``authors.py``."""
    dataset = run_dataset(config)
    model_seed = np.random.SeedSequence(config.seed).spawn(2)[1]  # the run's model stream (qsa.training.loop)
    model = build_model(config, dataset, seed=np.random.default_rng(model_seed))
    m = model.config
    np.savez(
        path,
        X=dataset.train.X.numpy(),
        Y=dataset.train.Y.numpy(),
        theta_W=model.theta_W.detach().numpy(),
        theta_V=model.theta_V.detach().numpy(),
        rows=np.asarray(ring_permutation(m.d.bit_length() - 1).argmax(1)),
        coefficients=np.asarray(analytic.kernel_coefficients(m.k, m.kernel, analytic.resolve_beta(m.beta, m.d))),
    )
    initial = {
        "theta_W": model.theta_W.detach().numpy().copy(),
        "theta_V": model.theta_V.detach().numpy().copy(),
    }
    return dataset, _final_losses(config, dataset, initial)


def run(*, smoke: bool, repeats: int) -> dict[str, Any]:
    path = ROOT / "experiments" / "tfim" / ("smoke.toml" if smoke else "config.toml")
    target = 1.0 if smoke else TARGET
    seeds = list(range(1 if smoke else min(max(repeats, 3), 5)))
    try:
        import jax  # noqa: F401
    except ImportError:
        jax_present = False
    else:
        jax_present = True
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            config = load_config(path, [f"seed={seed}"])
            problem = Path(tmp) / f"problem-{seed}.npz"
            dataset, start_losses = _problem(config, problem)
            record: dict[str, Any] = {"seed": seed, "start_losses": start_losses}
            cases = ["QSA", "authors"] if jax_present else ["QSA"]
            for name in cases if seed % 2 == 0 else cases[::-1]:  # alternate the order
                out = Path(tmp) / f"{name}-{seed}.npz"
                if name == "QSA":
                    run_dir = Path(tmp) / f"run-{seed}"
                    args = ["-c", _QSA_CHILD, str(path), str(seed), str(target), str(out), str(run_dir)]
                else:
                    args = [str(HERE / "authors.py"), str(problem), str(out), "--target", str(target)]
                    args += ["--max-iterations", str(config.train.steps)]
                wall = _child(args, HERE)
                result = _load(out)
                record[name] = {
                    **{k: v for k, v in result.items() if not k.startswith("theta")},
                    "wall": wall,
                    "final_losses": _final_losses(config, dataset, result),
                }
            floors = list(FLOORS.items())
            record["floors"] = {name: _floor(code) for name, code in (floors if seed % 2 else floors[::-1])}
            runs.append(record)
    return _summarise(runs, str(path.relative_to(ROOT)), target, jax_present)


def _summarise(runs: list[dict[str, Any]], config: str, target: float, jax_present: bool) -> dict[str, Any]:
    figures: dict[str, dict[str, list[float]]] = {
        "whole process": {"QSA": [r["QSA"]["cpu_end"] for r in runs]},
        "imports and JIT excluded": {"QSA": [r["QSA"]["training_cpu"] for r in runs]},
        "start-up to the first evaluation": {"QSA": [r["QSA"]["cpu_first_evaluation"] for r in runs]},
    }
    rows = []
    if jax_present:
        figures["whole process"]["authors"] = [r["authors"]["cpu_end"] for r in runs]
        figures["imports and JIT excluded"]["authors"] = [r["authors"]["training_cpu"] for r in runs]
        figures["start-up to the first evaluation"]["authors"] = [r["authors"]["cpu_compiled"] for r in runs]
        seeds = f"seeds {runs[0]['seed']}-{runs[-1]['seed']}"
        for name, times in figures.items():
            ratios = [a / q for a, q in zip(times["authors"], times["QSA"])]
            goal = GOALS.get(name)
            rows.append(
                {
                    "benchmark": f"P1 {name} (CPU s)",
                    "case": f"{config}: L_1 < {target:g}, {seeds}",
                    "baseline": "authors (JAX + L-BFGS-B)",
                    "fast": "QSA",
                    "baseline_seconds": stats(times["authors"]),
                    "fast_seconds": stats(times["QSA"]),
                    "ratio": stats(ratios),
                    "goal": None if goal is None else f">= {goal:g}x",
                    "met": None if goal is None else bool(stats(ratios)["median"] >= goal),
                    "note": "one process per case and seed; CPU seconds",
                }
            )
        budget = [a / GOALS["whole process"] for a in figures["whole process"]["authors"]]
        for name, code in FLOORS.items():
            floor = [r["floors"][name] for r in runs]
            rows.append(
                {
                    "benchmark": f"P1 floor: {name} (CPU s)",
                    "case": f"the 10x budget vs a process doing only `{code}`, {seeds}",
                    "baseline": "authors' whole process / 10",
                    "fast": "that process",
                    "baseline_seconds": stats(budget),
                    "fast_seconds": stats(floor),
                    "ratio": stats([b / f for b, f in zip(budget, floor)]),
                    "goal": None,
                    "met": None,
                    "note": "ratio < 1: this process alone exceeds the budget of the whole-process goal",
                }
            )
        half = [a / GOALS["imports and JIT excluded"] for a in figures["imports and JIT excluded"]["authors"]]
        fixed = [sum(v for k, v in r["QSA"].items() if k.startswith("fixed ")) for r in runs]
        rows.append(
            {
                "benchmark": "P1 floor: train()'s fixed costs (CPU s)",
                "case": f"the 2x budget vs environment record + data + evaluations + checkpoints, {seeds}",
                "baseline": "authors' optimisation / 2",
                "fast": "QSA fixed costs",
                "baseline_seconds": stats(half),
                "fast_seconds": stats(fixed),
                "ratio": stats([b / f for b, f in zip(half, fixed)]),
                "goal": None,
                "met": None,
                "note": "timed inside QSA's train() as they happen; no training step",
            }
        )
    return {
        "config": config,
        "target": target,
        "jax": jax_present,
        "runs": runs,
        "cpu_seconds": {name: {case: stats(v) for case, v in t.items()} for name, t in figures.items()},
        "rows": rows,
    }


def report(result: dict[str, Any]) -> str:
    lines = []
    for r in result["runs"]:
        for name in ("QSA", "authors"):
            if name not in r:
                continue
            c = r[name]
            reached = "reached" if c["reached"] else "did NOT reach"
            count = f"{c['steps']} steps" if name == "QSA" else f"{c['iterations']} iterations"
            losses = ", ".join(f"{k} {v:.4f}" for k, v in c["final_losses"].items())
            lines.append(
                f"  seed {r['seed']} {name}: {reached} L_1 < {result['target']:g} ({count}, {c['evaluations']} "
                f"evaluations; start {c['initial_loss']:.4f}), CPU {c['cpu_end']:.2f} s (imports "
                f"{c['cpu_imports']:.2f} s), wall {c['wall']:.2f} s; final L_1: {losses}"
            )
        floors = ", ".join(f"{k} {v:.2f} s" for k, v in r.get("floors", {}).items())
        fixed = ", ".join(f"{k[6:]} {1e3 * v:.0f} ms" for k, v in r["QSA"].items() if k.startswith("fixed "))
        lines.append(f"  seed {r['seed']} floors (fresh process, CPU): {floors}; QSA train()'s fixed costs: {fixed}")
    if not result["jax"]:
        lines.append("  authors: skipped (jax is not installed: pip install 'jax[cpu]')")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - run.py is the entry point
    print(json.dumps(run(smoke="--smoke" in sys.argv, repeats=3), default=str)[:2000])
