"""Smoke configurations of the hardware experiments (in process); the Aer gradient benchmark is in test_benchmarks.py."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _run(script: Path, *args: str, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    runpy.run_path(str(script), run_name="__main__")


def test_noise_smoke(tmp_path, monkeypatch):
    _run(ROOT / "experiments" / "hardware" / "noise.py", "--smoke", "--out", str(tmp_path), monkeypatch=monkeypatch)
    (run,) = tmp_path.glob("hardware-noise-*")
    results = json.loads((run / "results.json").read_text())
    assert {r["circuit"] for r in results["transpiled"]} == {"mu", "zeta", "nu"}
    assert all(r["two_qubit_gates"] > 0 and r["depth"] > 0 for r in results["transpiled"])
    assert [r["backend"] for r in results["noise"]] == ["ideal (control)", "fake_torino"]
    assert (run / "noise_shift.png").stat().st_size > 10_000


def test_shot_training_smoke(tmp_path, monkeypatch):
    config = ROOT / "experiments" / "shot_training" / "smoke.toml"
    _run(ROOT / "experiments" / "shot_training" / "run.py", str(config), "--out", str(tmp_path), monkeypatch=monkeypatch)
    (run,) = tmp_path.glob("shot-training-*")
    results = json.loads((run / "results.json").read_text())["runs"]
    assert set(results) == {"exact", "aer"}
    for h in results.values():  # the loss falls along both runs (exact loss at the run's angles)
        assert h["final_exact"]["L_B"] < h["loss_exact"][0]
    # the shot run's estimates lie within 4 standard errors of the exact loss at the same angles
    z = (np.array(results["aer"]["loss"]) - results["aer"]["loss_exact"]) / np.array(results["aer"]["loss_stderr"])
    assert np.all(np.abs(z) < 4), z
    assert (run / "loss.png").stat().st_size > 10_000
