"""Every experiment's smoke configuration runs and writes its outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qsa import backends

ROOT = Path(__file__).resolve().parents[2]


def test_tiers_smoke(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "tiers" / "run.py"),
            "--smoke",
            "--repeats",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (run,) = tmp_path.glob("tiers-*")
    results = json.loads((run / "results.json").read_text())
    # one row per case (circuit A and circuit B) and backend
    assert {(r["circuit"], r["backend"]) for r in results["rows"]} == {
        (c, b) for c in ("two_register", "superposition") for b in backends.BACKENDS
    }
    assert results["environment"]["packages"]["qiskit"]
    assert all(row["max_abs_error_vs_analytic"] < 1e-10 for row in results["rows"])
    assert (run / "tiers.png").stat().st_size > 10_000


def test_gate_counts_smoke(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "gate_counts" / "run.py"),
            "--smoke",
            "--jobs",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (run,) = tmp_path.glob("gate_counts-*")
    results = json.loads((run / "results.json").read_text())
    assert results["environment"]["packages"]["qiskit-ibm-runtime"] and results["config"]["seed_transpiler"] == 0
    rows = results["rows"]
    assert len(rows) == len((run / "results.csv").read_text().splitlines()) - 1
    assert any(r["heron_two_qubit"] for r in rows) and any(r["eagle_two_qubit"] for r in rows)
    assert results["summary"]["classical"]["classical_attention"]["joint"][0]["alpha"] > 1.99
    fits = (run / "fits.md").read_text()
    assert "Exponent of T at fixed d" in fits and "Crossover statements: one whole attention evaluation" in fits
    assert all(r["evaluation_cnot_ideal"] > 0 and r["preprocessing"] > 0 for r in rows if r["measured"])
    names = ("evaluation_vs_T.png", "evaluation_vs_d.png", "counts_vs_T.png", "counts_vs_d.png")
    for name in (*names, "counts_vs_k.png", "shots_vs_T.png"):
        assert (run / name).stat().st_size > 10_000, name
    assert list((tmp_path / "cache" / "gate_counts").glob("*.json"))
