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

from qsa import _validate, analytic, backends, preflight
from qsa.circuits import QSACircuit, Shape

__all__ = ["CIRCUITS", "circuit_observables", "superposition_states", "build_circuits"]

#: ``circuit=`` values: circuit A (``"A"``, also called ``"two_register"``) and circuit B
#: (``"B"``, also called ``"superposition"``).
CIRCUITS = ("two_register", "superposition", "A", "B")
_CIRCUIT = {"two_register": "A", "superposition": "B", "A": "A", "B": "B"}


def superposition_states(X: np.ndarray, *, k: int = 1) -> np.ndarray:
    r"""``psi_j = sum_{i<=j} x_i (x) x_i^{(x)k} / n_j`` for one sequence ``X`` ``(T, d)``: shape ``(T, d^{k+1})``."""
    X = np.asarray(X)
    T = X.shape[0]
    power = X
    for _ in range(k):
        power = np.einsum("ta,tb->tab", power, X).reshape(T, -1)  # (T, d^{c+1})
    cumulative = np.cumsum(power, axis=0)
    return cumulative / np.linalg.norm(cumulative, axis=1, keepdims=True)


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

    Args:
        X, Y, W, V, k, kernel, beta, phases: as in :func:`qsa.observables`. ``phases="aligned"``
            uses ``phi_j = -arg A_j`` computed classically.
        circuit: ``"two_register"`` or ``"A"`` (circuit A: ``mu``, ``zeta``, ``nu`` and all derived
            fields) or ``"superposition"`` or ``"B"`` (circuit B, mono kernel: ``P0`` and
            ``L_half_circuit = -log P0``; the circuit-A fields are ``None``).
        backend: ``"default.qubit"``, ``"lightning.qubit"``, ``"aer"`` or ``"torch"`` (QSA's
            batched torch statevector simulator, :mod:`qsa.backends.statevector`).
        shots: ``None`` for exact probabilities, else the number of samples per circuit.
        seed: seed of the sampler (shots only).

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
    X, Y, W, V = _validate.tokens_and_unitaries(X, Y, W, V)
    _validate.kernel_options(k, kernel, beta)
    phases = _validate.phases(phases, X.shape[:-1])
    if not isinstance(circuit, str) or circuit not in CIRCUITS:
        raise ValueError(f"circuit must be one of {CIRCUITS}; got {circuit!r}")
    if _CIRCUIT[circuit] == "B" and kernel != "mono":
        raise ValueError(f"kernel must be 'mono' for the superposition circuit; got {kernel!r}")
    backends.check_backend(backend)
    backends.check_shots(shots, seed)
    single = X.ndim == 2
    X, Y = (X[None], Y[None]) if single else (X, Y)  # (S, T, d)
    S, T, d = X.shape
    family = "B" if circuit == "superposition" else "A"
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
            amplitude_bytes=X.element_size(),
        )
    )
    circuits = build_circuits(T, d, k=k, kernel=kernel, beta=beta, circuit=circuit, phases=phases is not None)
    for qc in circuits.values():
        backends.check_backend(backend, qc.n_qubits)

    if isinstance(phases, str):
        A = analytic.branch_amplitudes(X, Y, W, V, k=k, kernel=kernel, beta=analytic.resolve_beta(beta, d))
        phases = analytic.aligned_phases(A)
    phi = None if phases is None else torch.broadcast_to(phases, (S, T)).detach().cpu().numpy()
    Xn, Yn = X.detach().cpu().numpy(), Y.detach().cpu().numpy()
    Wn, Vn = W.detach().cpu().numpy(), V.detach().cpu().numpy()
    instances = []
    for s in range(S):
        params = {"x": Xn[s], "y": Yn[s], "W": Wn, "V": Vn}
        if phi is not None:
            params["phi"] = phi[s]
        if _CIRCUIT[circuit] == "B":
            params["psi"] = superposition_states(Xn[s], k=k)
        instances.append(params)

    probs = {
        name: backends.run(qc, instances, backend=backend, shots=shots, seed=seed) for name, qc in circuits.items()
    }
    result = _assemble(probs, T) if _CIRCUIT[circuit] == "A" else _assemble_b(probs["P0"])
    if single:
        result = analytic.Observables(**{name: _squeeze(v) for name, v in vars(result).items()})
    return result


def _squeeze(v: Any) -> Any:
    return None if v is None else v[0]


def _assemble(probs: dict[str, np.ndarray], T: int) -> analytic.Observables:
    """Circuit A's measured probabilities -> observables (sampled zeros give inf/nan, honestly).

    Only query values ``j < T`` enter: the triangular state gives the idle values ``j >= T`` no
    amplitude, so their (exactly zero) probabilities are left out rather than summed in.
    """
    mu = torch.as_tensor(probs["mu"][:, 0])
    zeta_j, nu_j = (torch.as_tensor(probs[v][:, :T]) for v in ("zeta", "nu"))  # C1 = j, rest projected on 0
    result = analytic.observables_from_probabilities(mu, zeta_j, nu_j)
    return analytic.Observables(**{name: value.numpy() for name, value in result.as_dict().items()})


def _assemble_b(P0: np.ndarray) -> analytic.Observables:
    P0 = P0[:, 0]
    with np.errstate(divide="ignore"):
        L = -np.log(P0)
    return analytic.Observables(
        mu=None, zeta=None, nu=None, F=None, L_B=None, L_A=None, L_half=None, L_1=None, p=None, P0=P0, L_half_circuit=L
    )
