"""Circuit in the loop: the same training on the analytic tier and through circuits (QSA's torch simulator, PennyLane).

    python experiments/circuit_in_the_loop/run.py            # config.toml on five backends
    python experiments/circuit_in_the_loop/run.py --smoke    # seconds: smoke.toml, four backends

Every run starts from the same seed (same data, same initial angles) and takes the same Adam
steps; with exact simulation the per-step training losses must agree with the analytic run to
1e-6 (in practice ~1e-12: the circuits compute the same numbers, see tests/qsa/test_agreement.py).
Writes ``runs/circuit-in-the-loop-<stamp>/`` with one run per backend, ``results.json`` and
``agreement.png`` (loss curves and per-step |difference| from the analytic run).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from qsa import runs
from qsa.errors import run_command
from qsa.training import config_to_dict, load_config, read_metrics, train
from qsa.training.loop import run_environment
from qsa.training.plots import training_curve

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-6
BACKENDS = [
    ("analytic", "best"),
    ("torch", "best"),
    ("default.qubit", "backprop"),
    ("lightning.qubit", "adjoint"),
    ("default.qubit", "parameter-shift"),
]
SMOKE_BACKENDS = BACKENDS[:4]


def figure(curves: dict[str, tuple[list[int], list[float]]], title: str):
    """Loss curves (left) and per-step |difference| from the analytic run (right), one colour per backend in both.

    ``curves`` maps a backend label to ``(steps, losses)`` of :func:`qsa.training.plots.training_curve`
    (each batch loss drawn at the step whose parameters it was computed at); the analytic run first.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.4, 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    reference = curves["analytic"][1]
    for i, (name, (steps, losses)) in enumerate(curves.items()):
        color = f"C{i}"  # the same colour for a backend in both panels
        left.plot(steps, losses, lw=2.5 if i == 0 else 1.2, ls="-" if i == 0 else "--", color=color, label=name)
        if name != "analytic":
            diff = [max(abs(a - b), 1e-17) for a, b in zip(losses, reference)]
            right.semilogy(steps, diff, marker="o", ms=3, color=color, label=name)
    right.axhline(TOLERANCE, color="k", ls=":", lw=1, label=f"tolerance {TOLERANCE:g}")
    left.set(xlabel="step", ylabel="training loss (batch, at the step's parameters)", title="training loss")
    right.set(xlabel="step", ylabel="|loss - analytic loss|", title="difference from the analytic run")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(curves: dict[str, tuple[list[int], list[float]]], path: Path, title: str) -> None:
    runs.write_png(path, figure(curves, title))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke.toml on four backends (for the tests)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    base = load_config(HERE / ("smoke.toml" if args.smoke else "config.toml"), args.overrides)
    sweep = runs.new_run_dir(args.out, base.name)
    curves, curve_steps, rows = {}, {}, []
    print(f"{'backend':>32} {'final loss':>12} {'max |d loss|':>13} {'seconds':>8}", flush=True)
    for backend, diff_method in SMOKE_BACKENDS if args.smoke else BACKENDS:
        label = {"analytic": "analytic", "torch": "torch (backprop)"}.get(backend, f"{backend} ({diff_method})")
        cfg = replace(
            base,
            name=label.replace(" ", "-").replace("(", "").replace(")", ""),
            model=replace(base.model, backend=backend, diff_method=diff_method),
        )
        result = train(cfg, run_dir=sweep / cfg.name)
        records = read_metrics(result.run_dir)
        steps, losses = training_curve(records)  # each batch loss at the step whose parameters it was taken at
        curves[label], curve_steps[label] = losses, steps
        evals = [r for r in records if r["kind"] == "eval"]
        diff = max(abs(a - b) for a, b in zip(losses, curves["analytic"]))
        rows.append(
            {
                "backend": backend,
                "diff_method": diff_method,
                "final_loss": losses[-1],
                "max_abs_loss_difference": diff,
                "seconds": result.summary["wall_seconds"],
                "evals": evals,
            }
        )
        print(f"{label:>32} {losses[-1]:>12.8f} {diff:>13.2e} {result.summary['wall_seconds']:>8.1f}", flush=True)
    worst = max(r["max_abs_loss_difference"] for r in rows)
    results = {
        "config": config_to_dict(base),
        "environment": run_environment(),
        "tolerance": TOLERANCE,
        "max_abs_loss_difference": worst,
        "agree": worst <= TOLERANCE,
        "rows": rows,
        "curves": curves,
        "curve_steps": curve_steps,
    }
    runs.write_json(sweep / "results.json", results)
    plot(
        {label: (curve_steps[label], losses) for label, losses in curves.items()},
        sweep / "agreement.png",
        f"{base.train.loss} with circuits in the loop: largest per-step difference {worst:.1e}",
    )
    print(
        f"largest per-step |loss - analytic| = {worst:.2e} ({'within' if worst <= TOLERANCE else 'ABOVE'} {TOLERANCE:g})"
    )
    print(f"wrote {sweep / 'results.json'} and {sweep / 'agreement.png'}")
    return results


if __name__ == "__main__":  # exit status 1 when the tiers disagree
    sys.exit(run_command("experiments/circuit_in_the_loop/run.py", lambda: 0 if main(sys.argv[1:])["agree"] else 1))
