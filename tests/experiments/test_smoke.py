"""Every experiment's smoke configuration runs and writes its outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tiers_smoke(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "tiers" / "run.py"), "--smoke", "--repeats", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (run,) = tmp_path.glob("tiers-*")
    results = json.loads((run / "results.json").read_text())
    assert len(results["rows"]) == 6 and results["environment"]["packages"]["qiskit"]
    assert all(row["max_abs_error_vs_analytic"] < 1e-10 for row in results["rows"])
    assert (run / "tiers.png").stat().st_size > 10_000
