"""P1b: steady-state loss + gradient against the paper authors' algorithm (JAX, jitted, complex128).

The authors of arXiv 2602.06699 benchmark QSA with a JAX script (closed forms in complex128,
``jax.jit(jax.value_and_grad(...))``, SciPy's L-BFGS-B); :mod:`authors` reproduces its algorithm
in the project's own code. Cases, one steady-state loss + gradient each, timed in CPU seconds of
the process (the JIT compilation happens in the untimed warm-up and is recorded apart):

* ``authors (JAX jit)``: :func:`authors.value_and_grad` (``L_B`` summed over the sequences);
* ``QSA``: :meth:`qsa.evaluators.AnalyticEvaluator.evaluate` with aligned phases, ``L_B.sum()``,
  ``backward()``.

Problem (the issue's P1b): ``T = 256``, ``d = 16``, ``k = 2`` mono kernel, ``L = 8`` layers for
``W`` and ``V``, 4 sequences of Haar-random tokens. Goal: QSA no slower (ratio >= 1). Both are
checked to agree (loss and gradient) in the same run. Needs ``jax`` (``pip install "jax[cpu]"``);
without it the benchmark records that it was skipped. JAX's CPU thread pool is limited to one
thread when torch runs on one (``XLA_FLAGS``, set before JAX starts), so the threads match.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import authors as authors_algorithm
import numpy as np
import torch
from common import interleaved, row, stats

from qsa import analytic
from qsa.ansatz import ring_permutation
from qsa.evaluators import AnalyticEvaluator
from qsa.random import random_states

GOAL = 1.0


def _problem(T: int, d: int, S: int, L: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = d.bit_length() - 1
    X = random_states(S, T, d, seed=rng)
    Y = random_states(S, T, d, seed=rng)
    thetas = [rng.uniform(0, 2 * math.pi, (L, n, 3)) for _ in range(2)]
    return X, Y, thetas


def _qsa_step(evaluator, thetas, X, Y, k):
    for t in thetas:
        t.grad = None
    L_B = evaluator.evaluate(*thetas, X, Y, k=k, kernel="mono", beta=None, phases="aligned").L_B.sum()
    L_B.backward()
    return float(L_B.detach()), [t.grad.numpy().copy() for t in thetas]


def run(*, smoke: bool, repeats: int) -> dict[str, Any]:
    T, d, S, L, k = (16, 4, 2, 2, 2) if smoke else (256, 16, 4, 8, 2)
    setup = {"T": T, "d": d, "S": S, "L": L, "k": k, "kernel": "mono", "phases": "aligned", "loss": "sum of L_B"}
    threads = torch.get_num_threads()
    if threads == 1:  # must precede JAX's start to take effect
        authors_algorithm.single_thread()
    try:
        import jax  # noqa: F401
    except ImportError:
        return {"skipped": "jax is not installed (pip install 'jax[cpu]')", "setup": setup, "rows": []}
    X_np, Y_np, thetas_np = _problem(T, d, S, L)
    X, Y = torch.as_tensor(X_np), torch.as_tensor(Y_np)
    thetas = [torch.tensor(t, requires_grad=True) for t in thetas_np]
    coefficients = analytic.kernel_coefficients(k, "mono", 1.0)
    rows = np.asarray(ring_permutation(d.bit_length() - 1).argmax(1))  # ring @ K = K[rows]
    f = authors_algorithm.value_and_grad(rows, coefficients, "L_B")
    start = time.process_time()
    value, grads = f(*thetas_np, X_np, Y_np)
    value.block_until_ready()
    compile_cpu = time.process_time() - start
    evaluator = AnalyticEvaluator()
    ours, our_grads = _qsa_step(evaluator, thetas, X, Y, k)
    agreement = {
        "loss_abs": abs(float(value) - ours),
        "grad_abs": max(float(np.abs(np.asarray(g) - h).max()) for g, h in zip(grads, our_grads)),
    }

    def authors():
        v, _ = f(*thetas_np, X_np, Y_np)
        v.block_until_ready()

    times = interleaved(
        {"authors (JAX jit)": authors, "QSA": lambda: _qsa_step(evaluator, thetas, X, Y, k)},
        repeats=repeats if smoke else 4 * repeats,
        warmup=2,
        clock=time.process_time,
    )
    name = f"T={T} d={d} k={k} L={L} S={S}, complex128"
    rows = [
        row(
            "P1b loss+gradient vs authors' JAX",
            name,
            "authors (JAX jit)",
            "QSA",
            times,
            goal=GOAL,
            note=f"JIT compile {compile_cpu:.2f} s CPU (excluded); |dL| {agreement['loss_abs']:.1e}",
        )
    ]
    return {
        "setup": setup,
        "torch_threads": threads,
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "jax_compile_cpu_seconds": compile_cpu,
        "agreement": agreement,
        "seconds": {n: stats(t) for n, t in times.items()},
        "rows": rows,
    }


def report(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"  skipped: {result['skipped']}"
    s, a = result["seconds"], result["agreement"]
    return (
        f"  authors (JAX jit) {s['authors (JAX jit)']['median'] * 1e3:.2f} ms, QSA {s['QSA']['median'] * 1e3:.2f} ms "
        f"CPU per loss+gradient; JIT compile {result['jax_compile_cpu_seconds']:.2f} s CPU; "
        f"agreement |dL| {a['loss_abs']:.1e}, |dgrad| {a['grad_abs']:.1e}"
    )
