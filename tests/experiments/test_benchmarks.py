"""The benchmark suite's smoke mode completes and writes its JSON (nothing about speed is asserted)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import torch
from support import TOL_GRAD, TOL_STATE

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_suite_smoke_writes_every_ratio(tmp_path):
    main = runpy.run_path(str(ROOT / "experiments" / "benchmarks" / "run.py"), run_name="benchmarks")["main"]
    threads = torch.get_num_threads()
    main(["--smoke", "--out", str(tmp_path), "--threads", "1"])
    assert torch.get_num_threads() == threads  # restored
    (path,) = tmp_path.glob("benchmarks-*.json")
    record = json.loads(path.read_text())
    assert record["smoke"] is True
    assert record["torch_threads"] == 1 and isinstance(record["busy"], bool)
    for result in record["benchmarks"].values():
        assert len(result["load_average"]["before"]) == len(result["load_average"]["after"]) == 3
    assert set(record["benchmarks"]) == {"analytic", "circuit_step", "aer_gradient", "tfim", "authors", "p1"}
    assert record["environment"]["packages"]["torch"] and record["machine_before"]["cores"] >= 1
    assert {r["benchmark"] for r in record["rows"]} >= {
        "analytic L_B fwd+bwd",
        "circuit step (L_B fwd+bwd)",
        "Aer parameter-shift gradient",
        "tfim time to target (analytic)",
    }
    for r in record["rows"]:
        q = r["ratio"]
        assert q["min"] <= q["median"] <= q["max"] and len(q["all"]) >= 1
        assert (r["goal"] is None) == (r["met"] is None)
    step = record["benchmarks"]["circuit_step"]["configs"][0]["agreement"]
    assert all(a["loss_abs"] < 1e-10 for name, a in step.items() if name != "torch complex64")
    assert record["benchmarks"]["aer_gradient"]["jobs"]["batched exact+sampling"] == 1
    assert record["benchmarks"]["analytic"]["memory_bytes"][0]["fast"] > 0
    authors = record["benchmarks"]["authors"]
    if "skipped" not in authors:  # jax installed: the reproduction computes QSA's L_B and gradient
        assert authors["agreement"]["loss_abs"] < TOL_STATE and authors["agreement"]["grad_abs"] < TOL_GRAD
    (p1,) = record["benchmarks"]["p1"]["runs"]  # smoke: one seed, one process per case
    qsa = p1["QSA"]
    assert qsa["reached"] and qsa["evaluations"] >= qsa["steps"] >= 1
    assert 0 < qsa["cpu_imports"] < qsa["cpu_first_evaluation"] < qsa["cpu_end"]
    assert set(qsa["final_losses"]) == set(p1["start_losses"])
    floors = p1["floors"]  # fresh processes that only import: the floor of the whole-process goal
    assert set(floors) == {"NumPy + SciPy", "torch", "interpreter"}
    assert 0 < floors["interpreter"] < min(floors["NumPy + SciPy"], floors["torch"])
    assert all(qsa[f"fixed {name}"] > 0 for name in ("environment record", "data", "evaluations", "checkpoints"))
    assert sum(qsa[f"fixed {name}"] for name in ("environment record", "data", "evaluations")) < qsa["training_cpu"]
    if record["benchmarks"]["p1"]["jax"]:  # both start from the same data and angles
        assert abs(p1["authors"]["initial_loss"] - qsa["initial_loss"]) < TOL_STATE
        assert abs(p1["start_losses"]["train"] - qsa["initial_loss"]) < TOL_STATE
        assert {r["benchmark"] for r in record["rows"]} >= {
            "P1 whole process (CPU s)",
            "P1 floor: NumPy + SciPy (CPU s)",
            "P1 floor: torch (CPU s)",
            "P1 floor: train()'s fixed costs (CPU s)",
            "P1b loss+gradient vs authors' JAX",
        }


def test_gpu_benchmark_smoke_measures_every_device_present_and_says_when_cuda_is_missing(tmp_path, capsys):
    import torch

    main = runpy.run_path(str(ROOT / "experiments" / "benchmarks" / "gpu.py"), run_name="gpu")["main"]
    path = main(["--smoke", "--repeats", "1", "--out", str(tmp_path)])
    record = json.loads(path.read_text())
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    assert record["devices"] == devices
    assert [(r.get("T", r.get("qubits")), r["device"]) for r in record["rows"]] == [
        (size, device) for size in (16, 32, 3, 4) for device in devices
    ]
    assert all(r["seconds"] > 0 for r in record["rows"])
    if not torch.cuda.is_available():
        assert record["note"] == "no CUDA device is visible: measuring the CPU only"
        assert "gpu.py: no CUDA device is visible" in capsys.readouterr().err
