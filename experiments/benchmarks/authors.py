"""The paper authors' algorithm (JAX, ``jit(value_and_grad)``, complex128, SciPy L-BFGS-B), reproduced in the project's code.

The authors of arXiv 2602.06699 benchmark QSA with a JAX script: the closed forms in complex128,
``jax.jit(jax.value_and_grad(...))`` and SciPy's L-BFGS-B. The project does not ship their file;
this module reproduces its algorithm: the ansatz layer by layer (``R_Z R_Y R_X`` per qubit, qubit
0 most significant, the CNOT ring as a row permutation), the causal kernel as one masked ``T x T``
product, aligned phases without gradient (``jax.lax.stop_gradient``), the loss summed (``L_B``) or
averaged (``L_1``) over the sequences. It imports neither torch nor ``qsa`` (the ring's row
permutation is passed in), so that run as a script it costs what the authors' process costs:

    python authors.py problem.npz result.npz [--target 0.1] [--max-iterations 400]

``problem.npz`` holds ``X``, ``Y`` (``S x T x d`` complex128 training tokens and targets),
``theta_W``, ``theta_V`` (``L x n x 3`` starting angles), ``rows`` (the ring permutation) and
``coefficients`` (the kernel polynomial's). The script trains ``L_1`` with
``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` on the jitted value and gradient until
the training ``L_1`` falls below ``--target`` (checked at every iterate, as the SciPy callback
sees it) and writes the final angles, the loss evaluations, the iterations, and the process's CPU
seconds (``getrusage``: user + system since the interpreter started) at four points: after the
imports, after the first (compiling) evaluation, and at the end; ``training_cpu`` is the CPU of
the optimisation alone (a compiled function, imports and JIT excluded). Used by
``bench_authors.py`` (P1b) and ``bench_p1.py`` (P1).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys


def cpu_seconds() -> float:
    """User + system CPU seconds of this process since it started (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def single_thread() -> None:
    """Limit JAX's CPU thread pool to one thread (must run before JAX starts)."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


def value_and_grad(rows, coefficients, loss: str = "L_B"):
    """``f(theta_W, theta_V, X, Y) -> (loss, (grad_W, grad_V))``, jitted (the authors' algorithm).

    Args:
        rows: the CNOT ring as a row permutation (``ring @ K = K[rows]``), ``(d,)`` integers.
        coefficients: the kernel polynomial's coefficients, constant term first.
        loss: ``"L_B"`` (summed over the sequences, aligned phases) or ``"L_1"`` (averaged over the
            sequences, as ``QSAModel.loss`` does).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    if loss not in ("L_B", "L_1"):
        raise ValueError(f"loss must be 'L_B' or 'L_1'; got {loss!r}")
    jax.config.update("jax_enable_x64", True)
    rows = np.asarray(rows)
    n = len(rows).bit_length() - 1
    coefficients = tuple(float(c) for c in coefficients)

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

    def objective(theta_W, theta_V, X, Y):
        W, V = unitary(theta_W), unitary(theta_V)
        T = X.shape[-2]
        N = T * (T + 1) / 2
        scores = (X.conj() @ W) @ jnp.swapaxes(X, -1, -2)  # (S, T, T)
        mix = jnp.tril(kernel(scores)) @ X  # (S, T, d)
        A = ((Y.conj() @ V) * mix).sum(-1)  # (S, T)
        z_norm2 = (mix.real**2 + mix.imag**2).sum(-1)
        if loss == "L_1":  # p_j = |A_j|^2 / ||z_j||^2, L_1 = -(1/T) sum_j log p_j, mean over sequences
            return (-jnp.log((A.real**2 + A.imag**2) / z_norm2)).mean()
        phi = jax.lax.stop_gradient(-jnp.angle(A))
        C = (jnp.exp(1j * phi) * A).sum(-1)
        mu = (C.real**2 + C.imag**2) / N**2
        zeta = z_norm2.sum(-1) / (T * N)
        F = (T + 1) / (2 * T) * mu / zeta
        return (-jnp.log(F)).sum()

    return jax.jit(jax.value_and_grad(objective, argnums=(0, 1)))


def train(problem: dict, *, target: float, max_iterations: int) -> dict:
    """L-BFGS-B on the training ``L_1`` from ``problem``'s angles until it falls below ``target`` (see the module)."""
    import jax  # noqa: F401 (imported here so that cpu_imports includes it)
    import numpy as np
    from scipy.optimize import minimize

    imported = cpu_seconds()
    X, Y = problem["X"], problem["Y"]
    shape_W, shape_V = problem["theta_W"].shape, problem["theta_V"].shape
    split = int(np.prod(shape_W))
    f = value_and_grad(problem["rows"], problem["coefficients"], "L_1")
    evaluations = 0

    def fun(x):
        nonlocal evaluations
        evaluations += 1
        value, (g_W, g_V) = f(x[:split].reshape(shape_W), x[split:].reshape(shape_V), X, Y)
        return float(value), np.concatenate([np.asarray(g_W).ravel(), np.asarray(g_V).ravel()])

    x0 = np.concatenate([problem["theta_W"].ravel(), problem["theta_V"].ravel()])
    initial = fun(x0)[0]  # compiles
    compiled = cpu_seconds()
    evaluations = 0
    state = {"iterations": 0, "reached": False, "loss": initial}

    def callback(intermediate_result):
        state["iterations"] += 1
        state["loss"] = float(intermediate_result.fun)
        if state["loss"] < target:
            state["reached"] = True
            raise StopIteration

    result = minimize(fun, x0, jac=True, method="L-BFGS-B", callback=callback, options={"maxiter": max_iterations})
    end = cpu_seconds()
    return {
        "theta_W": result.x[:split].reshape(shape_W),
        "theta_V": result.x[split:].reshape(shape_V),
        "initial_loss": initial,
        "loss": state["loss"],
        "reached": state["reached"],
        "iterations": state["iterations"],
        "evaluations": evaluations,
        "cpu_imports": imported,
        "cpu_compiled": compiled,
        "cpu_end": end,
        "training_cpu": end - compiled,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", help="input .npz (X, Y, theta_W, theta_V, rows, coefficients)")
    parser.add_argument("result", help="output .npz")
    parser.add_argument("--target", type=float, default=0.1, help="stop when the training L_1 is below it")
    parser.add_argument("--max-iterations", type=int, default=400, help="L-BFGS-B iterations at most")
    args = parser.parse_args(argv)
    single_thread()
    import numpy as np

    with np.load(args.problem) as data:
        problem = {key: data[key] for key in data.files}
    out = train(problem, target=args.target, max_iterations=args.max_iterations)
    np.savez(args.result, **out)


if __name__ == "__main__":
    sys.exit(main())
