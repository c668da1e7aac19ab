"""Circuits A and B on every backend against the analytic tier: qubits, wall time, largest error.

    python experiments/tiers/run.py                 # (T, d, k) = (8, 4, 2) and (16, 8, 2)
    python experiments/tiers/run.py --smoke         # seconds: (3, 2, 1) only

Writes ``runs/tiers-<stamp>/results.json`` (config, environment, one row per case) and ``tiers.png``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import qsa
from qsa import analytic, backends, runs
from qsa.circuit_tier import build_circuits
from qsa.errors import run_command
from qsa.random import random_states, random_unitary

FIELDS_A = ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1")


def measure(T: int, d: int, k: int, circuit: str, backend: str, repeats: int, seed: int) -> dict:
    X, Y = random_states(T, d, seed=seed), random_states(T, d, seed=seed + 1)
    W, V = random_unitary(d, seed=seed + 2), random_unitary(d, seed=seed + 3)
    if circuit == "superposition":
        expected = {"P0": float(analytic.superposition_P0(X, Y, W, V, k=k))}
    else:
        expected = {f: float(getattr(qsa.observables(X, Y, W, V, k=k), f)) for f in FIELDS_A}
    qsa.circuit_observables(X, Y, W, V, k=k, circuit=circuit, backend=backend)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        got = qsa.circuit_observables(X, Y, W, V, k=k, circuit=circuit, backend=backend)
        times.append(time.perf_counter() - start)
    error = max(abs(float(getattr(got, f)) - v) for f, v in expected.items())
    widths = [
        qc.n_qubits
        for qc in build_circuits(T, d, k=k, kernel="mono", beta=None, circuit=circuit, phases=False).values()
    ]
    return {
        "T": T,
        "d": d,
        "k": k,
        "circuit": circuit,
        "backend": backend,
        "qubits": max(widths),
        "n_circuits": len(widths),
        "seconds_median": statistics.median(times),
        "seconds_min": min(times),
        "seconds_max": max(times),
        "max_abs_error_vs_analytic": error,
    }


def plot(rows: list[dict], path: Path) -> None:
    cases = sorted({(r["T"], r["d"], r["k"], r["circuit"]) for r in rows})
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(backends.BACKENDS)
    for b, backend in enumerate(backends.BACKENDS):
        values = [
            next(
                r["seconds_median"]
                for r in rows
                if (r["T"], r["d"], r["k"], r["circuit"]) == c and r["backend"] == backend
            )
            for c in cases
        ]
        ax.bar(np.arange(len(cases)) + b * width, values, width, label=backend)
    labels = [
        f"{'A' if c[3] == 'two_register' else 'B'} T={c[0]} d={c[1]} k={c[2]}\n"
        f"{next(r['qubits'] for r in rows if (r['T'], r['d'], r['k'], r['circuit']) == c)} qubits"
        for c in cases
    ]
    ax.set_xticks(np.arange(len(cases)) + width * (len(backends.BACKENDS) - 1) / 2, labels)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per evaluation (median)")
    worst = max(r["max_abs_error_vs_analytic"] for r in rows)
    ax.set_title(f"Exact circuit evaluation on each backend (largest |circuit - analytic| = {worst:.1e})")
    ax.legend()
    fig.tight_layout()
    runs.write_png(path, fig)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="one tiny case, for the tests")
    args = parser.parse_args()
    cases = [(3, 2, 1)] if args.smoke else [(8, 4, 2), (16, 8, 2)]
    run_dir = runs.new_run_dir(args.out, "tiers")
    config = {"cases": cases, "repeats": args.repeats, "seed": args.seed, "backends": backends.BACKENDS}
    rows = []
    print(f"{'circuit':>13} {'T':>3} {'d':>3} {'k':>2} {'qubits':>6} {'backend':>16} {'median s':>9} {'max err':>8}")
    for T, d, k in cases:
        for circuit in ("two_register", "superposition"):
            for backend in backends.BACKENDS:
                row = measure(T, d, k, circuit, backend, args.repeats, args.seed)
                rows.append(row)
                print(
                    f"{circuit:>13} {T:>3} {d:>3} {k:>2} {row['qubits']:>6} {backend:>16} "
                    f"{row['seconds_median']:>9.3f} {row['max_abs_error_vs_analytic']:>8.1e}",
                    flush=True,
                )
    runs.write_json(run_dir / "results.json", {"config": config, "environment": runs.environment(), "rows": rows})
    plot(rows, run_dir / "tiers.png")
    print(f"wrote {run_dir / 'results.json'} and {run_dir / 'tiers.png'}")


if __name__ == "__main__":
    sys.exit(run_command("experiments/tiers/run.py", main))
