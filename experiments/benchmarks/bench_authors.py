"""P1b: steady-state loss + gradient against the paper authors' algorithm (JAX, jitted, complex128).

The authors of arXiv 2602.06699 benchmark QSA with a JAX script: the closed forms in complex128,
``jax.jit(jax.value_and_grad(...))`` and SciPy's L-BFGS-B. The project does not ship their file;
:func:`jax_value_and_grad` reproduces its algorithm in the project's own code: the ansatz layer by
layer (``R_Z R_Y R_X`` per qubit, qubit 0 most significant, the CNOT ring as a row permutation),
the causal kernel as one masked ``T x T`` product, aligned phases without gradient
(``jax.lax.stop_gradient``), ``L_B`` summed over the sequences. Cases, one steady-state
loss + gradient each (the JIT compilation happens in the untimed warm-up and is recorded apart):

* ``authors (JAX jit)``: that function, jitted;
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


def jax_value_and_grad(n: int, coefficients: tuple[float, ...]):
    """``f(theta_W, theta_V, X, Y) -> (sum L_B, (grad_W, grad_V))``, jitted (the authors' algorithm)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rows = np.asarray(ring_permutation(n).argmax(1))  # ring @ K = K[rows]

    def gates(theta):  # (L, n, 3) -> (L, n, 2, 2): R_Z(c) R_Y(b) R_X(a)
        a, b, c = theta[..., 0], theta[..., 1], theta[..., 2]
        ca, sa, cb, sb = jnp.cos(a / 2), jnp.sin(a / 2), jnp.cos(b / 2), jnp.sin(b / 2)
        ez = jnp.exp(-0.5j * c)
        rx = jnp.stack([jnp.stack([ca + 0j, -1j * sa], -1), jnp.stack([-1j * sa, ca + 0j], -1)], -2)
        ry = jnp.stack([jnp.stack([cb, -sb], -1), jnp.stack([sb, cb], -1)], -2) + 0j
        rz = jnp.stack([jnp.stack([ez, 0 * ez], -1), jnp.stack([0 * ez, ez.conj()], -1)], -2)
        return rz @ ry @ rx

    def unitary(theta):
        g = gates(theta)
        U = jnp.eye(2**n, dtype=jnp.complex128)
        for layer in range(theta.shape[0]):
            K = g[layer, 0]
            for q in range(1, n):
                K = jnp.kron(K, g[layer, q])
            U = K[rows] @ U
        return U

    def kernel(s):
        out = jnp.zeros_like(s)
        for p in range(len(coefficients) - 1, -1, -1):
            out = out * s + coefficients[p]
        return out

    def loss(theta_W, theta_V, X, Y):
        W, V = unitary(theta_W), unitary(theta_V)
        T = X.shape[-2]
        N = T * (T + 1) / 2
        scores = (X.conj() @ W) @ jnp.swapaxes(X, -1, -2)  # (S, T, T)
        mix = jnp.tril(kernel(scores)) @ X  # (S, T, d)
        A = ((Y.conj() @ V) * mix).sum(-1)  # (S, T)
        z_norm2 = (mix.real**2 + mix.imag**2).sum(-1)
        phi = jax.lax.stop_gradient(-jnp.angle(A))
        C = (jnp.exp(1j * phi) * A).sum(-1)
        mu = (C.real**2 + C.imag**2) / N**2
        zeta = z_norm2.sum(-1) / (T * N)
        F = (T + 1) / (2 * T) * mu / zeta
        return (-jnp.log(F)).sum()

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))


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
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    try:
        import jax  # noqa: F401
    except ImportError:
        return {"skipped": "jax is not installed (pip install 'jax[cpu]')", "setup": setup, "rows": []}
    X_np, Y_np, thetas_np = _problem(T, d, S, L)
    X, Y = torch.as_tensor(X_np), torch.as_tensor(Y_np)
    thetas = [torch.tensor(t, requires_grad=True) for t in thetas_np]
    coefficients = analytic.kernel_coefficients(k, "mono", 1.0)
    f = jax_value_and_grad(d.bit_length() - 1, coefficients)
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
        f"per loss+gradient; JIT compile {result['jax_compile_cpu_seconds']:.2f} s CPU; "
        f"agreement |dL| {a['loss_abs']:.1e}, |dgrad| {a['grad_abs']:.1e}"
    )
