"""experiments/comparison: every family on both tasks in one command; table, CSV/JSON, plots and spectra."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from qsa.training import FAMILIES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_torch_threads():
    threads = torch.get_num_threads()  # the entry point sets one thread
    yield
    torch.set_num_threads(threads)


def _runner():
    spec = importlib.util.spec_from_file_location(
        "experiment_comparison", ROOT / "experiments" / "comparison" / "run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_comparison_smoke_trains_every_family_on_both_tasks_and_writes_table_and_plots(tmp_path, capsys):
    results = _runner().main(["--smoke", "--out", str(tmp_path)])
    sweep = results["sweep"]
    rows = results["rows"]
    assert [(r["task"], r["family"]) for r in rows] == [(t, f) for t in ("tfim", "markov") for f in FAMILIES]
    assert {r["run_dir"] for r in rows} == {f"{r['task']}/{r['family']}-seed0" for r in rows}
    for r in rows:  # each a complete run directory of qsa train
        summary = json.loads((sweep / r["run_dir"] / "summary.json").read_text())
        assert summary["family"] == r["family"] and summary["final"]["test"]["L_1"] == r["test_L_1"]
        assert r["parameters"] == summary["parameters"] > 0
    chance = results["chance"]
    assert abs(chance["tfim"]["L_1"] - 2.5929) < 1e-4 and abs(chance["markov"]["L_1"] - 1.8333) < 1e-4
    params = {(r["task"], r["family"]): r["parameters"] for r in rows}
    assert params["tfim", "kcsa"] == 2 * 8**2 and params["markov", "softmax_general"] == 4 * 4**2
    # the same data for every family of a task
    fingerprints = {r["task"]: set() for r in rows}
    for r in rows:
        fingerprints[r["task"]].add(json.loads((sweep / r["run_dir"] / "data.json").read_text())["fingerprint"])
    assert all(len(f) == 1 for f in fingerprints.values())
    # table printed and written; CSV one line per run
    out = capsys.readouterr().out
    assert results["table"] in out and (sweep / "table.md").read_text() == results["table"]
    for family in FAMILIES:
        assert f"| {family} |" in results["table"]
    assert "| chance (random direction) | 2.5929 |" in results["table"] and "copy last token" in results["table"]
    with open(sweep / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert json.loads((sweep / "results.json").read_text())["aggregates"] == results["aggregates"]
    # Koopman spectra: unitary variant all neutral; a spectrum plot per Koopman run and the combined figures
    spectra = {(s["task"], s["family"]): s for s in results["spectra"]}
    assert set(spectra) == {(t, f) for t in ("tfim", "markov") for f in ("koopman", "koopman_unitary")}
    for task, d in (("tfim", 8), ("markov", 4)):
        unitary = spectra[task, "koopman_unitary"]["layers"][0]
        assert (
            unitary["relative_counts"] == {"decay": 0, "neutral": d, "growth": 0} and abs(unitary["net_rate"]) < 1e-10
        )
        assert (sweep / task / "koopman-seed0" / "spectrum.png").stat().st_size > 10_000
    for name in ("losses.png", "spectra.png"):
        assert (sweep / name).stat().st_size > 30_000


def test_aggregate_takes_median_and_range_over_seeds():
    run = _runner()
    rows = [
        {"task": "t", "family": "f", "seed": s, "parameters": 3, "seconds": float(s), **dict.fromkeys(run.METRICS, v)}
        for s, v in ((0, 1.0), (1, 5.0), (2, 2.0))
    ]
    (agg,) = run.aggregate(rows)
    assert (agg["test_L_1"], agg["test_L_1_min"], agg["test_L_1_max"], agg["n_seeds"], agg["seconds_median"]) == (
        2.0,
        1.0,
        5.0,
        3,
        1.0,
    )
