"""The kernels sweep's table at an earlier step: median [q25, q75] over seeds of each split's losses at step N.

    python experiments/kernels/at_step.py runs/kernels-sweep-<stamp> --step 400

Reads every trial's ``metrics.jsonl`` (the evaluations ``train.eval_every`` apart) in a sweep
directory written by ``qsa sweep``. With the default constant learning rate, the parameters of a
run at step N do not depend on ``train.steps``, so the figures at step 400 of a 1000-step sweep are
those a 400-step sweep ends with (``tests/experiments/test_training_experiments.py`` checks that on
the smoke config). Writes nothing; prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from qsa.errors import run_command
from qsa.training.sweep import PLAN, TRIALS, SweepPlan

#: The columns: (split, metric) of the evaluations.
COLUMNS = (("train", "nll"), ("test", "nll"), ("train", "L_B"), ("test", "L_B"))


def evaluations_at(run_dir: Path, step: int) -> dict[str, dict[str, float]]:
    """``{split: {metric: value}}`` of the evaluations at ``step`` in ``run_dir/metrics.jsonl``.

    Raises:
        ValueError: if the run has no evaluation at ``step``.
    """
    found = {}
    with (run_dir / "metrics.jsonl").open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record.get("kind") == "eval" and record.get("step") == step:
                found[record["split"]] = record
    if not found:
        raise ValueError(
            f"--step must be a step every trial evaluated (a multiple of train.eval_every, at most train.steps); "
            f"got {step}, which {run_dir.name} did not evaluate"
        )
    return found


def points_at(sweep_dir: str | Path, step: int) -> tuple[list[str], dict[tuple, list[dict[str, dict[str, float]]]]]:
    """The grid keys, and per grid point (its values in key order) each seed's evaluations at ``step``.

    Raises:
        ValueError: if ``sweep_dir`` is not a sweep directory or a trial did not evaluate ``step``.
    """
    path = Path(sweep_dir)
    if not (path / PLAN).is_file():
        raise ValueError(f"SWEEP_DIR must be a sweep directory written by qsa sweep (with {PLAN}); got {str(path)!r}")
    plan = SweepPlan.from_dict(json.loads((path / PLAN).read_text(encoding="utf-8")))
    keys = [key for key, _ in plan.grid]
    points: dict[tuple, list[dict[str, dict[str, float]]]] = {}
    for trial in plan.trials:
        at = evaluations_at(path / TRIALS / trial.name, step)
        points.setdefault(tuple(trial.point[k] for k in keys), []).append(at)
    return keys, points


def table(sweep_dir: str | Path, step: int) -> str:
    """The markdown table of the sweep in ``sweep_dir`` at ``step``: one line per grid point.

    Cells: median [25th, 75th percentile] over the seeds (numpy's linear interpolation, as ``summary.md``).
    """
    keys, points = points_at(sweep_dir, step)
    head = [*keys, "seeds", *(f"{split} {metric} (step {step})" for split, metric in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(keys) + "---:|" * (1 + len(COLUMNS))]
    for point, runs in points.items():
        cells = [str(v) for v in point] + [str(len(runs))]
        for split, metric in COLUMNS:
            q25, median, q75 = np.percentile([run[split][metric] for run in runs], [25, 50, 75])
            cells.append(f"{median:.4f} [{q25:.4f}, {q75:.4f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", metavar="SWEEP_DIR", help="a sweep directory written by qsa sweep")
    parser.add_argument("--step", type=int, required=True, help="the step (a multiple of train.eval_every)")
    args = parser.parse_args(argv)
    text = table(args.sweep_dir, args.step)
    print(text)
    return text


if __name__ == "__main__":
    sys.exit(run_command("experiments/kernels/at_step.py", lambda: main(sys.argv[1:])))
