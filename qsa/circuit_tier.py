"""The circuit tier: the QSA observables obtained by building the circuits and running them.

Same fields as :func:`qsa.analytic.observables`, from circuit A's three circuits (``mu``,
``zeta``, ``nu``, the last two read out per query index ``j`` so that the per-step
probabilities ``p_j = nu_j / zeta_j`` and hence ``L_half`` and ``L_1`` are measured too) or
from circuit B (``P0``). ``W`` and ``V`` enter as unitary gates, so any matrix can be checked.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from qsa import _validate, analytic, backends, preflight, random
from qsa.circuits import QSACircuit, Shape, linalg
from qsa.hardware import estimators
from qsa.hardware.estimators import Estimate

__all__ = ["CIRCUITS", "circuit_observables", "circuit_estimate", "superposition_states", "build_circuits"]

#: ``circuit=`` values: circuit A (``"A"``, also called ``"two_register"``) and circuit B
#: (``"B"``, also called ``"superposition"``).
CIRCUITS = ("two_register", "superposition", "A", "B")
_CIRCUIT = {"two_register": "A", "superposition": "B", "A": "A", "B": "B"}


def superposition_states(X: Any, *, k: int = 1) -> Any:
    r"""``psi_j = sum_{i<=j} x_i (x) x_i^{(x)k} / n_j`` for sequences ``X`` ``(..., T, d)``: shape ``(..., T, d^{k+1})``.

    numpy arrays give numpy; torch tensors give torch (differentiable in ``X``, so gradients of
    circuit B reach the tokens).
    """
    if isinstance(X, torch.Tensor):
        power = X
        for _ in range(k):
            power = torch.einsum("...ta,...tb->...tab", power, X).reshape(*X.shape[:-1], -1)  # (..., T, d^{c+1})
        cumulative = torch.cumsum(power, dim=-2)
        return cumulative / torch.linalg.vector_norm(cumulative, dim=-1, keepdim=True)
    Xn = np.asarray(X)
    power_n = Xn
    for _ in range(k):
        power_n = np.einsum("...ta,...tb->...tab", power_n, Xn).reshape(*Xn.shape[:-1], -1)  # (..., T, d^{c+1})
    cumulative_n = np.cumsum(power_n, axis=-2)
    return cumulative_n / np.linalg.norm(cumulative_n, axis=-1, keepdims=True)


def build_circuits(
    T: int, d: int, *, k: int, kernel: str, beta: float | None, circuit: str, phases: bool
) -> dict[str, QSACircuit]:
    """The circuits ``circuit_observables`` runs, by variant name (``W`` and ``V`` enter as matrices)."""
    if _CIRCUIT[circuit] == "B":
        return Shape("B", T, d, k, phases=phases).build_all()
    return Shape("A", T, d, k, kernel, beta, phases=phases).build_all()


def circuit_observables(
    X,
    Y,
    W,
    V,
    *,
    k: int = 1,
    kernel: Literal["mono", "poly"] = "mono",
    beta: float | None = None,
    phases: Any = None,
    circuit: Literal["two_register", "superposition", "A", "B"] = "two_register",
    backend: str = "default.qubit",
    shots: int | None = None,
    seed: int | None = None,
) -> analytic.Observables:
    """The QSA observables from circuit simulation (exact, or sampled with ``shots``).

    The values of :func:`circuit_estimate` (which also gives their standard errors).

    Args:
        X, Y, W, V, k, kernel, beta, phases: as in :func:`qsa.observables`. ``phases="aligned"``
            uses ``phi_j = -arg A_j`` computed classically. Every dtype :func:`qsa.observables`
            accepts runs here, on every backend: inputs are validated with QSA's tolerances, then
            the circuits run the nearest valid input in complex128 (rows normalised, ``W`` and
            ``V`` projected on the nearest unitary: :mod:`qsa.circuits.linalg`).
        circuit: ``"two_register"`` or ``"A"`` (circuit A: ``mu``, ``zeta``, ``nu`` and all derived
            fields) or ``"superposition"`` or ``"B"`` (circuit B, mono kernel: ``P0`` and
            ``L_half_circuit = -log P0``; the circuit-A fields are ``None``).
        backend: ``"default.qubit"``, ``"lightning.qubit"``, ``"aer"`` or ``"torch"`` (QSA's
            batched torch statevector simulator, :mod:`qsa.backends.statevector`).
        shots: ``None`` for exact probabilities, else the number of samples per circuit and
            sequence; the estimates follow the shot tier's estimator policy
            (:mod:`qsa.hardware.estimators`: Jeffreys-smoothed cells bounded to their valid range,
            so every field is finite).
        seed: seed of the sampling (shots only). The circuits (``mu``, ``zeta``, ``nu``) sample
            independent streams derived from it (:func:`qsa.random.stream_seeds`); the same seed
            gives the same result.

    Returns:
        :class:`qsa.analytic.Observables` with numpy arrays (scalars for one sequence, ``(S,)`` for a batch).

    Raises:
        ValueError, TypeError: for malformed input or a circuit wider than the backend takes,
            before anything is built or run.
        qsa.preflight.ResourceError: (a ``ValueError``) if the circuits cannot fit in this machine's
            available memory (:func:`qsa.preflight.circuit_needs`), before anything is built.

    Example:
        >>> import qsa
        >>> from qsa.random import random_states, random_unitary
        >>> X, Y = random_states(3, 2, seed=0), random_states(3, 2, seed=1)  # T = 3 tokens in C^2
        >>> W, V = random_unitary(2, seed=2), random_unitary(2, seed=3)
        >>> circuit = qsa.circuit_observables(X, Y, W, V, k=1, backend="torch")
        >>> exact = qsa.observables(X, Y, W, V, k=1)
        >>> bool(abs(circuit.L_B - float(exact.L_B)) < 1e-10)
        True
    """
    return circuit_estimate(
        X,
        Y,
        W,
        V,
        k=k,
        kernel=kernel,
        beta=beta,
        phases=phases,
        circuit=circuit,
        backend=backend,
        shots=shots,
        seed=seed,
    ).value


def circuit_estimate(
    X: Any,
    Y: Any,
    W: Any,
    V: Any,
    *,
    k: int = 1,
    kernel: Literal["mono", "poly"] = "mono",
    beta: float | None = None,
    phases: Any = None,
    circuit: Literal["two_register", "superposition", "A", "B"] = "two_register",
    backend: str = "default.qubit",
    shots: int | None = None,
    seed: int | None = None,
) -> Estimate:
    """:func:`circuit_observables` with a standard error next to every field.

    Same arguments and checks. Returns a :class:`qsa.hardware.estimators.Estimate`: ``value`` and
    ``stderr`` (numpy :class:`~qsa.analytic.Observables`; errors zero when ``shots`` is ``None``,
    else the delta method through the estimator policy) and ``shots``.

    Example::

        est = qsa.circuit_estimate(X, Y, W, V, k=2, backend="torch", shots=4000, seed=0)
        print(est.value.L_B, "+-", est.stderr.L_B)
    """
    X, Y, W, V = _validate.tokens_and_unitaries(X, Y, W, V)
    _validate.kernel_options(k, kernel, beta)
    phases = _validate.phases(phases, X.shape[:-1])
    if not isinstance(circuit, str) or circuit not in CIRCUITS:
        raise ValueError(f"circuit must be one of {CIRCUITS}; got {circuit!r}")
    family = _CIRCUIT[circuit]
    if family == "B" and kernel != "mono":
        raise ValueError(f"kernel must be 'mono' for the superposition circuit; got {kernel!r}")
    backends.check_backend(backend)
    backends.check_shots(shots, seed)
    single = X.ndim == 2
    X, Y = (X[None], Y[None]) if single else (X, Y)  # (S, T, d)
    S, T, d = X.shape
    backends.check_backend(backend, preflight.circuit_qubits(family, T, d, k, kernel=kernel))
    preflight.check(  # before anything is built: the index states of a large T alone can exceed memory
        preflight.circuit_needs(
            family,
            T,
            d,
            k,
            kernel=kernel,
            backend=backend,
            batch=S if backend == "torch" else 1,
            amplitude_bytes=16,  # the circuits run in complex128 (module docstring of qsa.circuits.linalg)
        )
    )
    circuits = build_circuits(T, d, k=k, kernel=kernel, beta=beta, circuit=circuit, phases=phases is not None)
    for qc in circuits.values():
        backends.check_backend(backend, qc.n_qubits)

    # the tolerance policy: validated above, now the nearest valid input in complex128
    Xn, Yn = linalg.unit_rows(X), linalg.unit_rows(Y)  # (S, T, d)
    Wn, Vn = linalg.nearest_unitary(W), linalg.nearest_unitary(V)
    if isinstance(phases, str):
        t = torch.as_tensor
        A = analytic.branch_amplitudes(
            t(Xn), t(Yn), t(Wn), t(Vn), k=k, kernel=kernel, beta=analytic.resolve_beta(beta, d)
        )
        phases = analytic.aligned_phases(A)
    phi = None if phases is None else torch.broadcast_to(phases, (S, T)).detach().cpu().numpy()
    instances = []
    for s in range(S):
        params = {"x": Xn[s], "y": Yn[s], "W": Wn, "V": Vn}
        if phi is not None:
            params["phi"] = phi[s]
        if family == "B":
            params["psi"] = superposition_states(Xn[s], k=k)
        instances.append(params)

    seeds = random.stream_seeds(seed, len(circuits))  # one independent stream per circuit
    probs = {
        name: backends.run(qc, instances, backend=backend, shots=shots, seed=circuit_seed)
        for (name, qc), circuit_seed in zip(circuits.items(), seeds)
    }
    est = estimators.estimate(probs, T=T, shots=shots)
    if single:
        est = Estimate(est.value.sequence(0), est.stderr.sequence(0), est.shots)
    return est
