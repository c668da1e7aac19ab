"""Measure the bias of the shot tier's estimator policy at a config's shot count (default: the shipped config).

    python experiments/shot_training/bias.py                          # config.toml, 2000 shots, 1000 repeats
    python experiments/shot_training/bias.py CONFIG --repeats 4000

The policy (``qsa.hardware.estimators``: Jeffreys-smoothed cells bounded to their valid range) is
applied to ``--repeats`` independent draws of ``model.shots`` shots per circuit from the exact
probabilities (``ExactRunner(shots=...)``: the distribution of ideal Aer sampling), for every
sequence of the test and train splits, at two sets of angles: the model's initial ones and those
after the config's exact (analytic) training run. Printed per split and field: the exact mean,
the mean estimate, their difference (the bias, with its Monte Carlo standard error) and the
typical standard error of one estimate -- for the split mean the training loop logs, and for the
sequence with the smallest exact ``mu``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from qsa.errors import run_command

HERE = Path(__file__).resolve().parent
FIELDS = ("L_B", "L_half", "L_1")


def measure(model, batch, *, shots: int, repeats: int, seed: int) -> dict:
    """Exact values and ``repeats`` estimates of every field for the sequences of ``batch``."""
    from qsa.hardware import ExactRunner, HardwareEvaluator

    X, Y = model.tokens(batch)  # (S, T, d)
    with torch.no_grad():
        params = model.circuit_params(X, Y)
        exact = model(batch)
    S = X.shape[0]
    rep = lambda a: a.repeat(repeats, *([1] * (a.ndim - 1)))  # noqa: E731 - (repeats * S, ...)
    params = {n: (rep(v) if n == "phi" and v.ndim == 2 else v).detach() for n, v in params.items()}
    evaluator = HardwareEvaluator(ExactRunner(shots=shots, seed=seed))
    est = evaluator.estimate(params, rep(X.detach()), rep(Y.detach()), k=model.config.k, kernel=model.config.kernel)
    out = {"mu": exact.mu.numpy()}
    for f in FIELDS:
        out[f] = {
            "exact": getattr(exact, f).numpy(),  # (S,)
            "draws": getattr(est.value, f).reshape(repeats, S),
            "stderr": getattr(est.stderr, f).reshape(repeats, S),
        }
    return out


def report(name: str, m: dict) -> list[str]:
    lines = []
    worst = int(np.argmin(m["mu"]))
    for f in FIELDS:
        r = m[f]
        means = r["draws"].mean(1)  # the split mean the training loop logs, per repeat
        bias = means.mean() - r["exact"].mean()
        mc = means.std(ddof=1) / np.sqrt(len(means))
        se = np.sqrt((r["stderr"] ** 2).sum(1)).mean() / r["exact"].size
        one = r["draws"][:, worst]
        b1, mc1 = one.mean() - r["exact"][worst], one.std(ddof=1) / np.sqrt(len(one))
        lines.append(
            f"{name:>22} {f:>6}  exact {r['exact'].mean():8.4f}  bias {bias:+.4f} +- {mc:.4f}  (stderr {se:.4f})"
            f"   | smallest mu {m['mu'][worst]:.1e}: bias {b1:+.4f} +- {mc1:.4f} (stderr {r['stderr'][:, worst].mean():.4f})"
        )
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    from qsa.training import load_config, train
    from qsa.training.data import build_dataset
    from qsa.training.families import build_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(HERE / "config.toml"))
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the shot draws")
    parser.add_argument("--out", default="runs", help="where the exact training run is written")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = load_config(args.config)
    if config.model.shots is None:
        raise SystemExit(f"the config must set model.shots; got none in {args.config}")
    shots = config.model.shots
    exact_config = load_config(
        args.config, ["model.backend=analytic", "model.shots=none", "model.shot_seed=none", "model.noise=none"]
    )
    data_seed, model_seed, _ = np.random.SeedSequence(exact_config.seed).spawn(3)  # as qsa.training does
    dataset = build_dataset(exact_config, np.random.default_rng(data_seed))
    initial = build_model(exact_config, dataset, seed=np.random.default_rng(model_seed))
    trained = train(exact_config, out=args.out, plots=False).model
    lines = [f"{shots} shots per circuit, {args.repeats} repeats, config {args.config}"]
    for label, model in (("initial", initial), ("after exact training", trained)):
        for split in ("test", "train"):
            m = measure(model, dataset.splits[split], shots=shots, repeats=args.repeats, seed=args.seed)
            lines += report(f"{label}, {split}", m)
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    sys.exit(run_command("experiments/shot_training/bias.py", lambda: main(sys.argv[1:])))
