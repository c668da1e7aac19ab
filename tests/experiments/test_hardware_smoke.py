"""Smoke configurations of the hardware experiments (in process); the Aer gradient benchmark is in test_benchmarks.py."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: Path, *args: str, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    with pytest.raises(SystemExit) as done:  # the script exits with run_command's status
        runpy.run_path(str(script), run_name="__main__")
    assert done.value.code == 0


def test_noise_smoke(tmp_path, monkeypatch):
    _run(ROOT / "experiments" / "hardware" / "noise.py", "--smoke", "--out", str(tmp_path), monkeypatch=monkeypatch)
    (run,) = tmp_path.glob("hardware-noise-*")
    results = json.loads((run / "results.json").read_text())
    assert {r["circuit"] for r in results["transpiled"]} == {"mu", "zeta", "nu"}
    assert all(r["two_qubit_gates"] > 0 and r["depth"] > 0 for r in results["transpiled"])
    assert [r["backend"] for r in results["noise"]] == ["ideal (control)", "fake_torino"]
    assert (run / "noise_shift.png").stat().st_size > 10_000


def test_shot_training_smoke(tmp_path, monkeypatch):
    """Both runs go through qsa.training; the loss falls along the shot run and its estimates
    lie within 4 standard errors of the exact loss at the same angles."""
    config = ROOT / "experiments" / "shot_training" / "smoke.toml"
    _run(
        ROOT / "experiments" / "shot_training" / "run.py", str(config), "--out", str(tmp_path), monkeypatch=monkeypatch
    )
    (compare,) = tmp_path.glob("shot-training-smoke-compare-*")
    summary = json.loads((compare / "comparison.json").read_text())
    monitor = summary["monitor"]
    assert len(monitor) == 4 and len(summary["exact_run_losses"]) == 4
    assert monitor[-1]["exact"] < monitor[0]["exact"]  # the shot-trained model improves, judged exactly
    assert summary["exact_run_losses"][-1] < summary["exact_run_losses"][0]
    assert monitor[0]["exact"] == summary["exact_run_losses"][0]  # same seed, same start
    z = np.array(summary["z_scores"])
    assert np.all(np.isfinite(z)) and np.all(np.abs(z) < 4), z
    for run in (summary["shot_run"], summary["exact_run"]):
        assert (Path(run) / "metrics.jsonl").exists() and (Path(run) / "checkpoint.pt").exists()
    assert json.loads((Path(summary["shot_run"]) / "config.json").read_text())["model"]["backend"] == "aer"
    assert (compare / "loss.png").stat().st_size > 10_000
    records = _finite_metrics(Path(summary["shot_run"]))
    assert all("L_B_stderr" in r for r in records if r["kind"] == "eval")  # error bars next to the estimates
    assert all("loss_stderr" in r for r in records if r["kind"] == "train")


def _finite_metrics(run: Path) -> list[dict]:
    """The records of ``run/metrics.jsonl``, asserting that no value is inf or NaN (JSON's Infinity, NaN)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in records:
        bad = {k: v for k, v in r.items() if isinstance(v, float) and not np.isfinite(v)}
        assert not bad, (r["kind"], r["step"], bad)
    return records


@pytest.mark.slow
def test_shot_training_shipped_config_has_finite_metrics_at_every_step(tmp_path, monkeypatch):
    """Issue 11's acceptance: the shipped config (which logged test L_B Infinity, L_1 NaN at step 10:
    one test sequence has exact mu ~ 3e-4 at 2000 shots) finishes with finite metrics at every step."""
    _run(ROOT / "experiments" / "shot_training" / "run.py", "--out", str(tmp_path), monkeypatch=monkeypatch)
    (compare,) = tmp_path.glob("shot-training-compare-*")
    summary = json.loads((compare / "comparison.json").read_text())
    records = _finite_metrics(Path(summary["shot_run"]))
    assert sum(r["kind"] == "train" for r in records) == 40
    assert np.all(np.abs(summary["z_scores"]) < 4)


@pytest.mark.slow
def test_mitigation_smoke(tmp_path, monkeypatch):
    """Trains tfim_small.toml, then runs its test split on fake_torino (local mode) without and with mitigation."""
    _run(
        ROOT / "experiments" / "hardware" / "mitigation.py", "--smoke", "--out", str(tmp_path), monkeypatch=monkeypatch
    )
    (run,) = tmp_path.glob("hardware-mitigation-*")
    rows = json.loads((run / "results.json").read_text())["rows"]
    assert [r["mitigation"] for r in rows] == ["none", "dd-XY4+twirl-gates+twirl-measure+trex"]
    assert [r["estimator"] for r in rows] == [False, True]
    for row in rows:
        assert np.isfinite(row["L_B"]["mean"]) and row["L_B"]["mean_stderr"] > 0
        assert row["L_B"]["exact_mean"] == rows[0]["L_B"]["exact_mean"]  # the same trained model and split
