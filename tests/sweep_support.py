"""What the sweep tests share (tests/qsa/training/test_sweep.py, the local engine, and test_sweep_ray.py, Ray):
the smoke config, the per-trial overrides and the CSV rows the two engines must agree on.

Imported as ``sweep_support`` (pytest puts tests/ on the path, see pyproject.toml)."""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The training config every sweep test sweeps (seconds per trial).
TFIM_SMOKE = ROOT / "experiments" / "tfim" / "smoke.toml"
#: Two steps, an evaluation and a checkpoint after each: seconds per trial.
FAST = ["train.steps=2", "train.eval_every=1", "train.checkpoint_every=1"]
#: The only columns that differ between two runs of the same trial.
WALL = "wall_seconds"


def rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows without the wall-time columns (the only figures that differ between runs)."""
    with path.open(newline="") as f:
        return [{k: v for k, v in row.items() if WALL not in k} for row in csv.DictReader(f)]
