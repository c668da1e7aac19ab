"""CUDA against the CPU in one run: analytic L_B forward+backward at d = 64, and the torch statevector step.

    python experiments/benchmarks/gpu.py                       # T = 256 .. 65536, 16 .. 26 qubits, 600 s limit
    python experiments/benchmarks/gpu.py --time-limit 120 --out runs
    python experiments/benchmarks/gpu.py --smoke               # seconds: small sizes (the tests run it)

Two measurements, each on every device present (``cpu`` always, ``cuda`` when torch sees one), the
devices alternating size by size so that both see the same machine load:

* ``analytic``: one sequence of ``T`` tokens, ``d = 64``, ``k = 2`` mono kernel, aligned phases, W and
  V from the ansatz with 8 layers; ``qsa.observables(...).L_B`` and its gradient with respect to both
  angle arrays (complex128), ``T`` = 256, 1024, 4096, 16384, 65536.
* ``statevector``: the ansatz circuit (2 layers) on ``n`` = 16, 18, ..., 26 qubits on QSA's torch
  simulator (:func:`qsa.backends.statevector.simulate`, complex64), the probability of ``|0...0>``
  and its gradient with respect to the angles: one circuit-in-the-loop training step's work.

A size is skipped (and recorded as skipped, with the reason) when its estimated memory exceeds what
the device has free, or when the time left under ``--time-limit`` is less than four times the
previous size's time on that device (each size is about four times the work of the one before).
Every figure is the median of ``--repeats`` timed calls after one untimed warm-up (CUDA timings end
with ``torch.cuda.synchronize()``). Without a CUDA device the script says so on stderr ("no CUDA
device is visible: measuring the CPU only") and measures the CPU alone.

Writes ``<out>/gpu-<stamp>.json`` (machine, packages, every timing, the cuda/cpu ratios) and prints
a table. Nothing about speed is asserted anywhere: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import qsa
from qsa.ansatz import ansatz_unitary
from qsa.backends.statevector import simulate
from qsa.circuits.builders import ansatz
from qsa.errors import run_command
from qsa.preflight import available_memory
from qsa.random import random_states

FULL = {"T": [256, 1024, 4096, 16384, 65536], "qubits": [16, 18, 20, 22, 24, 26]}
SMOKE = {"T": [16, 32], "qubits": [3, 4]}
D, K, L_ANSATZ, L_CIRCUIT = 64, 2, 8, 2


def devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when torch sees a CUDA device."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _free_bytes(device: str) -> int | None:
    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info()[0])
    found = available_memory()
    return None if found is None else found[0]


def _time(step: Callable[[], Any], device: str, repeats: int) -> list[float]:
    step()  # warm-up: kernels compiled, caches filled
    _sync(device)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


def analytic_case(T: int, device: str, *, d: int = D, seed: int = 0) -> tuple[Callable[[], float], int]:
    """The analytic step at ``T`` on ``device`` and its estimated memory (bytes: the tiled mixtures, a few ``T x d``)."""
    rng = np.random.default_rng(seed)
    n = d.bit_length() - 1
    X = torch.as_tensor(random_states(T, d, seed=rng), device=device)  # (T, d)
    Y = torch.as_tensor(random_states(T, d, seed=rng), device=device)  # (T, d)
    thetas = [
        torch.tensor(rng.uniform(0, 2 * math.pi, (L_ANSATZ, n, 3)), device=device, requires_grad=True) for _ in range(2)
    ]

    def step() -> float:
        for t in thetas:
            t.grad = None
        W, V = (ansatz_unitary(t) for t in thetas)  # (d, d) each
        L_B = qsa.observables(X, Y, W, V, k=K, phases="aligned").L_B
        L_B.backward()
        return float(L_B.detach())

    return step, 64 * T * d * 16  # complex128 activations kept for the backward pass, with margin


def statevector_case(n: int, device: str, *, seed: int = 0) -> tuple[Callable[[], float], int]:
    """The simulator step on ``n`` qubits on ``device`` and its estimated memory (bytes: ~24 complex64 states)."""
    circuit = ansatz(n, L_CIRCUIT)
    rng = np.random.default_rng(seed)
    theta = torch.tensor(rng.uniform(0, 2 * math.pi, (L_CIRCUIT, n, 3)), device=device, requires_grad=True)

    def step() -> float:
        theta.grad = None
        psi = simulate(circuit, {"theta": theta}, dtype=torch.complex64)  # (1, 2, ..., 2)
        p0 = psi.reshape(-1)[0].abs() ** 2
        p0.backward()
        return float(p0.detach())

    return step, 24 * 2**n * 8


def run(
    *, smoke: bool = False, time_limit: float = 600.0, repeats: int = 3, sizes: dict[str, list[int]] | None = None
) -> dict[str, Any]:
    """Measure every case on every device within ``time_limit`` seconds; return the record (see the module docstring)."""
    if time_limit <= 0:
        raise ValueError(f"time_limit must be > 0 seconds; got {time_limit}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    sizes = sizes or (SMOKE if smoke else FULL)
    found = devices()
    note = None if "cuda" in found else "no CUDA device is visible: measuring the CPU only"
    if note:
        print(f"gpu.py: {note}", file=sys.stderr)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for bench, key, make in (
        ("analytic L_B fwd+bwd (d=64, k=2)", "T", analytic_case),
        ("statevector step (ansatz, complex64)", "qubits", statevector_case),
    ):
        last: dict[str, float] = {}
        for size in sizes[key]:
            for device in found:
                row: dict[str, Any] = {"benchmark": bench, key: size, "device": device}
                left = time_limit - (time.perf_counter() - started)
                step, need = make(size, device)
                free = _free_bytes(device)
                if free is not None and need > free:
                    row["skipped"] = f"needs ~{need / 2**30:.1f} GiB; {free / 2**30:.1f} GiB free on {device}"
                elif device in last and 4 * last[device] * (repeats + 1) > left:
                    row["skipped"] = f"time limit: {left:.0f} s left, the previous size took {last[device]:.2f} s"
                else:
                    times = _time(step, device, repeats)
                    last[device] = statistics.median(times)
                    row.update(seconds=statistics.median(times), all_seconds=times)
                del step
                rows.append(row)
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
    for row in rows:  # cuda against cpu at the same size
        if row["device"] == "cuda" and "seconds" in row:
            key = "T" if "T" in row else "qubits"
            cpu = next(
                (r for r in rows if r["benchmark"] == row["benchmark"] and r[key] == row[key] and r["device"] == "cpu"),
                None,
            )
            if cpu is not None and "seconds" in cpu:
                row["speedup_over_cpu"] = cpu["seconds"] / row["seconds"]
    return {
        "devices": found,
        "note": note,
        "cuda_device": torch.cuda.get_device_name(0) if "cuda" in found else None,
        "torch": torch.__version__,
        "qsa": qsa.__version__,
        "cpu_threads": torch.get_num_threads(),
        "time_limit_seconds": time_limit,
        "repeats": repeats,
        "smoke": smoke,
        "wall_seconds": time.perf_counter() - started,
        "rows": rows,
    }


def table(record: dict[str, Any]) -> str:
    lines = ["| benchmark | size | device | seconds (median) | cuda speed-up |", "|---|---:|---|---:|---:|"]
    for r in record["rows"]:
        size = f"T={r['T']}" if "T" in r else f"{r['qubits']} qubits"
        seconds = f"{r['seconds']:.4f}" if "seconds" in r else f"skipped ({r['skipped']})"
        speedup = f"{r['speedup_over_cpu']:.1f}x" if "speedup_over_cpu" in r else ""
        lines.append(f"| {r['benchmark']} | {size} | {r['device']} | {seconds} | {speedup} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds for the whole run (default 600)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (default 3)")
    parser.add_argument("--smoke", action="store_true", help="small sizes, seconds (for the tests)")
    parser.add_argument("--out", default="runs", help="directory of the JSON (default: runs)")
    args = parser.parse_args(argv)
    record = run(smoke=args.smoke, time_limit=args.time_limit, repeats=args.repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gpu-{_dt.datetime.now(_dt.UTC).strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(table(record))
    print(f"wrote: {path}")
    return path


if __name__ == "__main__":
    sys.exit(run_command("experiments/benchmarks/gpu.py", main))
