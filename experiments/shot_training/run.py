"""Train circuit A through the batched shot-based parameter-shift gradient, next to the exact run.

    python experiments/shot_training/run.py                                        # config.toml, about 4 CPU minutes
    python experiments/shot_training/run.py experiments/shot_training/smoke.toml   # seconds (tests)

Two runs of the project's training loop (``qsa.training.train``) from the same seed:

* the configured one, ``model.backend = "aer"`` with shots: :class:`qsa.hardware.HardwareEvaluator`,
  one SamplerV2 job per step holding every parameter-shift point of every sequence;
* the exact one, the same config with ``model.backend = "analytic"`` (torch autograd).

During the shot run a thin monitor also evaluates the exact loss at the angles of every training
step (without gradient; the run itself is unchanged). Writes both run directories and
``<out>/shot-training-compare-<stamp>/comparison.json`` and ``loss.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from qsa import runs
from qsa.errors import run_command
from qsa.evaluators import AnalyticEvaluator, make_evaluator
from qsa.training import load_config, read_metrics, train

HERE = Path(__file__).resolve().parent


class ExactMonitor:
    """The configured Aer evaluator, also recording the exact loss at the angles of each training step."""

    def __init__(self, inner, loss: str):
        self.inner, self.loss, self.exact, self.steps = inner, loss, AnalyticEvaluator(), []

    def __call__(self, params, X, Y, *, k, kernel, beta):
        obs = self.inner(params, X, Y, k=k, kernel=kernel, beta=beta)
        if torch.is_grad_enabled() and any(p.requires_grad for p in params.values()):  # a training step
            with torch.no_grad():
                exact = self.exact(params, X, Y, k=k, kernel=kernel, beta=beta)
            stderr = np.asarray(getattr(self.inner.last_estimate.stderr, self.loss))
            self.steps.append(
                {
                    "estimate": float(getattr(obs, self.loss).detach().mean()),
                    "stderr": float(np.sqrt((stderr**2).sum()) / stderr.size),  # of the mean over sequences
                    "exact": float(getattr(exact, self.loss).mean()),
                }
            )
        return obs

    def sampling_key(self, key):  # the training loop's per-step streams reach the inner evaluator
        self.inner.sampling_key(key)

    @property
    def last_estimate(self):
        return self.inner.last_estimate

    def __repr__(self) -> str:
        return f"ExactMonitor({self.inner!r})"


def plot(exact_losses: list[float], monitor: list[dict], loss: str, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    steps = np.arange(1, len(exact_losses) + 1)
    ax.plot(steps, exact_losses, "k-", lw=2, label="exact run (analytic gradient)")
    estimate = np.array([m["estimate"] for m in monitor])
    line = ax.errorbar(
        steps[: len(estimate)],
        estimate,
        yerr=[m["stderr"] for m in monitor],
        fmt="o",
        ms=3,
        capsize=2,
        label="shot run: loss estimated from counts",
    )
    ax.plot(
        steps[: len(estimate)],
        [m["exact"] for m in monitor],
        "--",
        color=line[0].get_color(),
        label="shot run: exact loss at its angles",
    )
    ax.set_xlabel("training step (one primitive job each in the shot run)")
    ax.set_ylabel(f"mean {loss} over the training sequences")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    runs.write_png(path, fig)
    plt.close(fig)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(HERE / "config.toml"))
    parser.add_argument("--out", default="runs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    m = config.model
    if m.backend != "aer" or m.shots is None:
        raise SystemExit(
            f"the config must train with model.backend = 'aer' and shots; got {m.backend!r}, shots {m.shots!r}"
        )
    loss = config.train.loss
    torch.set_num_threads(1)  # as `qsa train` does: fastest for these small matrices, and reproducible

    monitor = ExactMonitor(make_evaluator("aer", shots=m.shots, shot_seed=m.shot_seed, noise=m.noise), loss)
    shot = train(config, out=args.out, evaluator=monitor)
    exact_config = load_config(
        args.config,
        [
            *args.overrides,
            "model.backend=analytic",
            "model.shots=none",
            "model.shot_seed=none",
            "model.noise=none",
            f"name={config.name}-exact",
        ],
    )
    exact = train(exact_config, out=args.out)
    exact_losses = [r["loss"] for r in read_metrics(exact.run_dir) if r["kind"] == "train"]

    out = runs.new_run_dir(args.out, f"{config.name}-compare")
    summary = {
        "shot_run": str(shot.run_dir),
        "exact_run": str(exact.run_dir),
        "loss": loss,
        "shots": m.shots,
        "noise": m.noise,
        "monitor": monitor.steps,
        "exact_run_losses": exact_losses,
        "z_scores": [(s["estimate"] - s["exact"]) / s["stderr"] for s in monitor.steps],
        "final": {"shot_run": shot.summary["final"], "exact_run": exact.summary["final"]},
        "environment": runs.environment(HERE),
    }
    runs.write_json(out / "comparison.json", summary)
    noise = f", noise {m.noise}" if m.noise else ""
    plot(
        exact_losses,
        monitor.steps,
        loss,
        out / "loss.png",
        f"Circuit A trained from {m.shots} shots per circuit{noise} vs exact",
    )
    first, last = monitor.steps[0], monitor.steps[-1]
    print(
        f"shot run : exact {loss} {first['exact']:.4f} -> {last['exact']:.4f} along the run; "
        f"held-out (test) {loss} {shot.summary['final']['test'][loss]:.4f} (from counts)"
    )
    print(
        f"exact run: {loss} {exact_losses[0]:.4f} -> {exact_losses[-1]:.4f}; held-out (test) {exact.summary['final']['test'][loss]:.4f}"
    )
    print(f"largest |estimate - exact| / stderr along the shot run: {max(abs(z) for z in summary['z_scores']):.2f}")
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    sys.exit(run_command("experiments/shot_training/run.py", lambda: main(sys.argv[1:])))
