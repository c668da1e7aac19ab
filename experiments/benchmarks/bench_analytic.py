"""Analytic tier: forward + backward of L_B for one sequence at growing T and d, time and peak memory.

Cases (one sequence, k = 2 mono kernel, aligned phases, W and V from the ansatz with L = 8, the
gradient with respect to both ansatz angle arrays):

* ``reference``: the previous closed forms (:mod:`reference`: three dense T x T products);
* ``fast``: ``qsa.observables`` now (tiled causal key mixtures, complex128);
* ``fast complex64``: the same in single precision (inputs cast to complex64).

Ratios reference / fast are paired per repeat; peak memory is measured once per case in a fresh
interpreter; growth exponents are least-squares slopes on log-log axes. The accuracy of complex64
is the relative error of L_B and of the gradient against complex128.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import reference
import torch
from common import fit_exponent, interleaved, peak_memory, row, stats

import qsa
from qsa.ansatz import ansatz_unitary
from qsa.random import random_states

GOAL_SECONDS = 1.0
GOAL_POINT = (4096, 64)


def _problem(T: int, d: int, *, L: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = d.bit_length() - 1
    X = torch.as_tensor(random_states(T, d, seed=rng))
    Y = torch.as_tensor(random_states(T, d, seed=rng))
    thetas = [torch.tensor(rng.uniform(0, 2 * math.pi, (L, n, 3)), requires_grad=True) for _ in range(2)]
    return X, Y, thetas


def _step(kind: str, X, Y, thetas, *, k: int) -> tuple[float, list[torch.Tensor]]:
    for t in thetas:
        t.grad = None
    if kind == "reference":
        W, V = (reference.ansatz_unitary(t) for t in thetas)
        L_B = reference.observables(X, Y, W, V, k=k, phases="aligned").L_B
    else:
        dtype = torch.complex64 if kind == "fast complex64" else torch.complex128
        W, V = (ansatz_unitary(t).to(dtype) for t in thetas)
        L_B = qsa.observables(X.to(dtype), Y.to(dtype), W, V, k=k, phases="aligned").L_B
    L_B.backward()
    return float(L_B.detach()), [t.grad.clone() for t in thetas]


_PROBE = """
import math, numpy as np, torch
import qsa, reference
from qsa.ansatz import ansatz_unitary
from qsa.random import random_states
from bench_analytic import _problem, _step
X, Y, thetas = _problem({T}, {d}, L={L})
# --- measure
_step({kind!r}, X, Y, thetas, k={k})
"""


def run(*, smoke: bool, repeats: int) -> dict[str, Any]:
    k, L = 2, 8
    if smoke:
        T_sweep, d_fixed, d_sweep, T_fixed, L, memory_T = [32, 64], 4, [2, 4], 64, 1, [64]
    else:
        T_sweep, d_fixed, d_sweep, T_fixed, memory_T = (
            [512, 1024, 2048, 4096],
            64,
            [8, 16, 32, 64],
            2048,
            [512, 1024, 2048, 4096],
        )
    kinds = ("reference", "fast", "fast complex64")
    points = [(T, d_fixed) for T in T_sweep]
    points += [(T_fixed, d) for d in d_sweep if (T_fixed, d) not in points]
    results, rows = [], []
    for T, d in points:
        X, Y, thetas = _problem(T, d, L=L)
        times = interleaved(
            {kind: (lambda kind=kind, X=X, Y=Y, thetas=thetas: _step(kind, X, Y, thetas, k=k)) for kind in kinds},
            repeats=repeats,
            warmup=1,
        )
        value = {kind: _step(kind, X, Y, thetas, k=k) for kind in kinds}
        exact, exact_grad = value["fast"]
        single, single_grad = value["fast complex64"]
        ref, ref_grad = value["reference"]
        g_exact = torch.cat([g.reshape(-1) for g in exact_grad])
        accuracy = {
            "fast_vs_reference_L_B_abs": abs(exact - ref),
            "fast_vs_reference_grad_max_abs": float(max((a - b).abs().max() for a, b in zip(exact_grad, ref_grad))),
            "complex64_L_B_rel": abs(single - exact) / abs(exact),
            "complex64_grad_rel": float(
                torch.linalg.norm(torch.cat([g.reshape(-1) for g in single_grad]).double() - g_exact)
                / torch.linalg.norm(g_exact)
            ),
        }
        results.append(
            {
                "T": T,
                "d": d,
                "k": k,
                "layers": L,
                "seconds": {kind: stats(times[kind]) for kind in kinds},
                "L_B": exact,
                "accuracy": accuracy,
            }
        )
        case = f"T={T} d={d}"
        goal = GOAL_POINT == (T, d)
        rows.append(
            row(
                "analytic L_B fwd+bwd",
                case,
                "reference",
                "fast",
                times,
                note=f"goal: fast < {GOAL_SECONDS:g} s" if goal else "",
            )
        )
        rows.append(row("analytic L_B fwd+bwd", case + " c64", "reference", "fast complex64", times))

    memory = []
    for T in memory_T:  # smoke: one probe of the fast path only (a fresh interpreter each)
        entry = {"T": T, "d": d_fixed}
        for kind in ("fast",) if smoke else kinds:
            entry[kind] = peak_memory(_PROBE.format(T=T, d=d_fixed, L=L, k=k, kind=kind))
        memory.append(entry)

    by_T = [r for r in results if r["d"] == d_fixed]
    by_d = sorted((r for r in results if r["T"] == T_fixed and r["d"] in d_sweep), key=lambda r: r["d"])
    exponents = {
        kind: {
            "time_vs_T": fit_exponent([r["T"] for r in by_T], [r["seconds"][kind]["median"] for r in by_T]),
            "time_vs_d": fit_exponent([r["d"] for r in by_d], [r["seconds"][kind]["median"] for r in by_d])
            if len(by_d) > 1
            else None,
            "memory_vs_T": fit_exponent([m["T"] for m in memory], [max(m[kind], 1) for m in memory])
            if len(memory) > 1 and kind in memory[0]
            else None,
        }
        for kind in kinds
    }
    goal_entry = next((r for r in results if (r["T"], r["d"]) == GOAL_POINT), None)
    goal = None
    if goal_entry is not None:
        s = goal_entry["seconds"]["fast"]
        goal = {
            "point": {"T": GOAL_POINT[0], "d": GOAL_POINT[1]},
            "limit_seconds": GOAL_SECONDS,
            "median_seconds": s["median"],
            "max_seconds": s["max"],
            "met": s["median"] < GOAL_SECONDS,
            "complex64_median_seconds": goal_entry["seconds"]["fast complex64"]["median"],
        }
    return {
        "points": results,
        "memory_bytes": memory,
        "exponents": exponents,
        "goal": goal,
        "rows": rows,
        "setup": {
            "k": k,
            "kernel": "mono",
            "layers": L,
            "phases": "aligned",
            "loss": "L_B",
            "sequences": 1,
            "torch_threads": torch.get_num_threads(),
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = []
    for m in result["memory_bytes"]:
        if "reference" not in m:
            lines.append(f"  peak memory T={m['T']} d={m['d']}: fast {m['fast'] / 2**20:.0f} MiB")
            continue
        ref, fast, single = (m[k] / 2**20 for k in ("reference", "fast", "fast complex64"))
        lines.append(
            f"  peak memory T={m['T']} d={m['d']}: reference {ref:.0f} MiB, fast {fast:.0f} MiB "
            f"({ref / max(fast, 1e-9):.1f}x less), complex64 {single:.0f} MiB"
        )
    for kind, e in result["exponents"].items():
        parts = [f"{name} {v:.2f}" for name, v in e.items() if v is not None]
        lines.append(f"  growth exponents, {kind}: " + ", ".join(parts))
    g = result["goal"]
    if g is not None:
        lines.append(
            f"  goal T={g['point']['T']} d={g['point']['d']} fast fwd+bwd < {g['limit_seconds']:g} s: median "
            f"{g['median_seconds']:.3f} s (max {g['max_seconds']:.3f} s) -> {'met' if g['met'] else 'NOT met'}; "
            f"complex64 {g['complex64_median_seconds']:.3f} s"
        )
    last = max(result["points"], key=lambda p: (p["T"] * p["d"], p["T"]))
    a = last["accuracy"]
    lines.append(
        f"  complex64 accuracy at T={last['T']} d={last['d']}: L_B rel {a['complex64_L_B_rel']:.1e}, "
        f"gradient rel {a['complex64_grad_rel']:.1e}; fast vs reference |dL_B| {a['fast_vs_reference_L_B_abs']:.1e}"
    )
    return "\n".join(lines)
