r"""Closed forms of the QSA observables (docs/method.md sections 2-5) as batched torch operations.

Everything here is exact and differentiable; it is the fast training path and the oracle every
circuit backend is tested against. Shapes: a sequence has ``T`` steps of width ``d``; a leading
batch axis ``S`` (sequences) is optional everywhere. Complex128 is the default dtype; a complex64
input stays complex64.

Notation (query ``j``, key ``i``, causal ``i <= j``):

.. math::

    s_{ji} = \langle x_j|W|x_i\rangle,\quad a_{ji} = \langle y_j|V|x_i\rangle,\quad
    A_j = \sum_{i\le j} a_{ji}\, g(s_{ji}),\quad z_j = \sum_{i\le j} g(s_{ji})\, V|x_i\rangle,

with ``g(s) = s^k`` (mono) or ``g(s) = sum_{p<=k} beta^p s^p / p!`` (poly, the LCU kernel).
In this module ``g`` is divided by ``lambda = sum_p c_p`` (``lambda = 1`` for mono), as the
circuits produce it; ``F``, ``L_*`` and ``p`` do not depend on that factor.

**Fast path.** :func:`observables`, :func:`branch_amplitudes` and :func:`predictions` never form
a ``T x T`` matrix. Since ``V`` is unitary, ``z_j = V tilde z_j`` with the *key mixture*
``tilde z_j = sum_{i<=j} g(s_ji) x_i`` (:func:`key_mixtures`), so ``A_j = <y_j|V tilde z_j>`` and
``||z_j|| = ||tilde z_j||``: two ``T^2 d`` products (scores, mixture) instead of three (the value
amplitudes ``a_ji`` drop out). The causal sum is walked in square tiles of the lower triangle
(``qsa._causal``: about half the work, ``O(T d + block^2)`` memory, scores recomputed in the
backward pass). :func:`scores`, :func:`value_amplitudes` and :func:`kernel_weights` still give
the dense ``T x T`` quantities; the tests check the two forms against each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal, NamedTuple

import numpy as np
import torch
from scipy.special import digamma, gammaln

from qsa import _validate
from qsa._causal import DEFAULT_BLOCK, causal_amplitudes, causal_kernel_mix

Kernel = Literal["mono", "poly"]

__all__ = [
    "Observables",
    "ChanceLevels",
    "lcu_coefficients",
    "resolve_beta",
    "scores",
    "value_amplitudes",
    "kernel_weights",
    "kernel_coefficients",
    "key_mixtures",
    "branch_amplitudes",
    "amplitudes_and_norms",
    "predictions",
    "aligned_phases",
    "step_probabilities",
    "loss_L1",
    "loss_L_half",
    "renyi_half_divergence",
    "sqrt0",
    "observables",
    "observables_from_amplitudes",
    "observables_from_probabilities",
    "superposition_norms",
    "superposition_P0",
    "chance_levels",
]


@dataclass(frozen=True)
class Observables:
    r"""The QSA observables of one sequence, or of a batch (every scalar field then has shape ``(S,)``).

    ``mu``, ``zeta``, ``nu`` are the all-zeros probabilities of circuit A and its two
    normalisation variants; ``F = (T+1)/(2T) mu/zeta``; ``L_B = -log F``; ``L_A = -log(nu/zeta)``;
    ``p`` (shape ``(..., T)``) are the per-step model probabilities ``|A_j|^2/||z_j||^2`` and
    ``L_half``, ``L_1`` their Renyi-1/2 and Shannon cross-entropies. ``P0`` and
    ``L_half_circuit = -log P0`` belong to circuit B (superposition loading) and are ``None``
    where it was not evaluated (circuit B then leaves ``mu``, ``zeta``, ``nu`` ``None``).

    The analytic tier returns torch tensors (differentiable); the circuit tier returns numpy arrays.
    """

    mu: torch.Tensor | np.ndarray | None
    zeta: torch.Tensor | np.ndarray | None
    nu: torch.Tensor | np.ndarray | None
    F: torch.Tensor | np.ndarray | None
    L_B: torch.Tensor | np.ndarray | None
    L_A: torch.Tensor | np.ndarray | None
    L_half: torch.Tensor | np.ndarray | None
    L_1: torch.Tensor | np.ndarray | None
    p: torch.Tensor | np.ndarray | None
    P0: torch.Tensor | np.ndarray | None = None
    L_half_circuit: torch.Tensor | np.ndarray | None = None

    def as_dict(self) -> dict[str, object]:
        """The fields that were computed (``None`` fields left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def sequence(self, index: int) -> Observables:
        """The observables of sequence ``index`` of a batch: every computed field indexed along its first axis.

        Scalar fields go from shape ``(S,)`` to ``()``, ``p`` from ``(S, T)`` to ``(T,)``; ``None``
        fields stay ``None``. Torch fields keep their autograd graph (indexing is differentiable).
        Raises ``IndexError`` when ``index`` is outside ``[-S, S)``.

        >>> obs = Observables(*(np.array([0.1, 0.2]),) * 8, p=np.ones((2, 3)))
        >>> obs.sequence(1).mu, obs.sequence(1).p.shape
        (np.float64(0.2), (3,))
        """
        return Observables(
            **{f.name: (None if (v := getattr(self, f.name)) is None else v[index]) for f in fields(self)}
        )


class ChanceLevels(NamedTuple):
    """Expected losses of a uniformly random unit prediction in ``C^d`` (or ``R^d``)."""

    L_1: float
    L_half: float


def lcu_coefficients(k: int, beta: float) -> np.ndarray:
    r"""Poly-kernel coefficients ``c_p = beta^p / p!`` for ``p = 0..k`` (truncated ``exp(beta s)``)."""
    return np.array([beta**p / math.factorial(p) for p in range(k + 1)], dtype=np.float64)


def resolve_beta(beta: float | None, d: int) -> float:
    """``beta``, defaulting to ``sqrt(d)``."""
    return math.sqrt(d) if beta is None else float(beta)


def scores(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    r"""``s[..., j, i] = <x_j|W|x_i>`` for all pairs (no causal mask). ``X``: (..., T, d)."""
    return X.conj() @ W @ X.transpose(-1, -2)  # (..., T, T)


def value_amplitudes(X: torch.Tensor, Y: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r"""``a[..., j, i] = <y_j|V|x_i>`` for all pairs (no causal mask)."""
    return Y.conj() @ V @ X.transpose(-1, -2)  # (..., T, T)


def kernel_weights(s: torch.Tensor, *, k: int, kernel: Kernel = "mono", beta: float = 1.0) -> torch.Tensor:
    r"""Causal weights ``G[..., j, i] = g(s_ji) / lambda`` for ``i <= j``, zero above the diagonal.

    ``beta`` is used by the poly kernel only (callers resolve its ``sqrt(d)`` default).
    """
    T = s.shape[-1]
    if kernel == "mono":
        g = s**k
    else:
        c = lcu_coefficients(k, beta)
        c = c / c.sum()
        g = torch.zeros_like(s)
        for p in range(k, -1, -1):  # Horner: g = c_0 + s (c_1 + s (c_2 + ...))
            g = g * s + float(c[p])
    causal = torch.ones(T, T, dtype=torch.bool, device=s.device).tril()
    return torch.where(causal, g, torch.zeros((), dtype=s.dtype, device=s.device))  # (..., T, T)


def kernel_coefficients(k: int, kernel: Kernel = "mono", beta: float = 1.0) -> tuple[float, ...]:
    r"""Coefficients of ``g(s) / lambda`` as a polynomial in ``s``, constant term first.

    Mono: ``s^k`` (``(0, ..., 0, 1)``); poly: ``c_p / lambda`` with ``c_p = beta^p / p!``.
    """
    if kernel == "mono":
        return (0.0,) * k + (1.0,)
    c = lcu_coefficients(k, beta)
    return tuple(float(v) for v in c / c.sum())


def key_mixtures(
    X, W, *, k: int = 1, kernel: Kernel = "mono", beta: float = 1.0, block: int = DEFAULT_BLOCK
) -> torch.Tensor:
    r"""``tilde z[..., j, :] = sum_{i<=j} g(s_ji) x_i / lambda``, so that ``z_j = V tilde z_j``: ``(..., T, d)``.

    Computed tile by tile over the causal triangle (``block`` rows and columns per tile) without
    a ``T x T`` matrix, in the dtype of ``X``; differentiable in ``X`` and ``W`` (twice).
    """
    return causal_kernel_mix(X.conj() @ W, X, kernel_coefficients(k, kernel, beta), block=block)  # (..., T, d)


def branch_amplitudes(X, Y, W, V, *, k: int = 1, kernel: Kernel = "mono", beta: float = 1.0) -> torch.Tensor:
    r"""``A[..., j] = sum_{i<=j} a_ji g(s_ji) / lambda = <y_j|V tilde z_j>`` (:func:`key_mixtures`)."""
    return ((Y.conj() @ V) * key_mixtures(X, W, k=k, kernel=kernel, beta=beta)).sum(-1)  # (..., T)


def amplitudes_and_norms(
    X, Y, W, V, *, k: int = 1, kernel: Kernel = "mono", beta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(A, ||z||^2)``, each ``(..., T)``, from one pass over the key mixtures (``V`` unitary).

    ``A_j = <y_j|V tilde z_j>`` and ``||z_j||^2 = ||tilde z_j||^2`` (:func:`key_mixtures`), computed
    by ``qsa._causal.causal_amplitudes`` (private: one fused kernel with a hand-written backward where the
    causal triangle fits in one tile, the tiled walk otherwise). Inputs are not checked.
    """
    return causal_amplitudes(X, Y, W, V, kernel_coefficients(k, kernel, beta))


def predictions(X, W, V, *, k: int = 1, kernel: Kernel = "mono", beta: float = 1.0) -> torch.Tensor:
    r"""``z[..., j, :] = sum_{i<=j} g(s_ji) V x_i / lambda`` (unnormalised prediction of step ``j``)."""
    return key_mixtures(X, W, k=k, kernel=kernel, beta=beta) @ V.transpose(-1, -2)  # (..., T, d)


def aligned_phases(A: torch.Tensor) -> torch.Tensor:
    r"""``phi*_j = -arg A_j``, the phases that maximise ``mu`` (and ``P0``)."""
    return -torch.angle(A)


def step_probabilities(Z: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    r"""``p[..., j] = |<y_j|z_j>|^2 / ||z_j||^2`` for predictions ``Z`` and unit targets ``Y``, (..., T, d)."""
    A = (Y.conj() * Z).sum(-1)
    return _abs2(A) / _abs2(Z).sum(-1)


def loss_L1(p: torch.Tensor) -> torch.Tensor:
    r"""Shannon cross-entropy ``-(1/T) sum_j log p_j`` over the last axis."""
    return -torch.log(p).mean(-1)


def loss_L_half(p: torch.Tensor) -> torch.Tensor:
    r"""Renyi-1/2 cross-entropy ``-2 log((1/T) sum_j sqrt(p_j))`` over the last axis.

    Finite with a finite gradient when some ``p_j = 0`` (and another is positive): see :func:`sqrt0`.
    """
    return -2.0 * torch.log(sqrt0(p).mean(-1))


def renyi_half_divergence(P: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    r"""``D_1/2(P || Q) = -2 log sum_j sqrt(P_j Q_j)`` over the last axis (distributions, summing to 1)."""
    return -2.0 * torch.log(sqrt0(P * Q).sum(-1))


def sqrt0(p: torch.Tensor) -> torch.Tensor:
    r"""``sqrt(p)`` for ``p >= 0`` whose gradient at ``p = 0`` is 0 instead of infinite.

    ``sqrt(p_j) = |A_j| / ||z_j||`` has a cone at ``A_j = 0``: no derivative there, and its symmetric
    (central finite-difference) derivative is 0, which is what this returns. ``torch.sqrt`` would
    give ``inf * 0 = NaN`` through ``p_j = |A_j|^2 / ||z_j||^2`` and turn every parameter NaN
    after one optimiser step.
    """
    positive = p > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, p, torch.ones_like(p))), torch.zeros_like(p))


def _abs2(z: torch.Tensor) -> torch.Tensor:
    return z.real**2 + z.imag**2


def observables(
    X,
    Y,
    W,
    V,
    *,
    k: int = 1,
    kernel: Kernel = "mono",
    beta: float | None = None,
    phases=None,
) -> Observables:
    r"""Every QSA observable of circuit A in closed form (docs/method.md section 4).

    Args:
        X: query/key tokens, ``(T, d)`` or ``(S, T, d)``, unit rows, numpy or torch.
        Y: targets, same shape as ``X``.
        W: key/query unitary ``(d, d)``; V: value unitary ``(d, d)``.
        k: number of key copies (mono: power of the overlap; poly: degree of the polynomial), ``>= 1``.
        kernel: ``"mono"`` (``g = s^k``) or ``"poly"`` (``g = sum_p beta^p s^p / p!``).
        beta: poly-kernel scale; defaults to ``sqrt(d)``.
        phases: ``None`` (no phases), ``"aligned"`` (``phi_j = -arg A_j``, maximising ``mu``), or
            real phases of shape ``(T,)`` or ``(S, T)``.

    Returns:
        :class:`Observables` with torch tensors; scalars for one sequence, shape ``(S,)`` for a batch.

    Raises:
        ValueError, TypeError: for malformed input, before any computation.

    Example:
        >>> import qsa
        >>> from qsa.random import random_states, random_unitary
        >>> X, Y = random_states(5, 4, seed=0), random_states(5, 4, seed=1)  # T = 5 tokens in C^4
        >>> W, V = random_unitary(4, seed=2), random_unitary(4, seed=3)
        >>> obs = qsa.observables(X, Y, W, V, k=2, phases="aligned")
        >>> bool(obs.L_half <= obs.L_1), bool(0 <= obs.F <= 1), tuple(obs.p.shape)
        (True, True, (5,))
    """
    X, Y, W, V = _validate.tokens_and_unitaries(X, Y, W, V)
    _validate.kernel_options(k, kernel, beta)
    phases = _validate.phases(phases, X.shape[:-1])
    beta = resolve_beta(beta, X.shape[-1])
    A, z_norm2 = amplitudes_and_norms(X, Y, W, V, k=k, kernel=kernel, beta=beta)
    return observables_from_amplitudes(A, z_norm2, phases=phases)


def observables_from_amplitudes(A: torch.Tensor, z_norm2: torch.Tensor, *, phases=None) -> Observables:
    r"""The observables from branch amplitudes ``A`` (..., T) and ``||z_j||^2`` (..., T).

    ``phases`` as in :func:`observables`, already a tensor (or ``None``/``"aligned"``).
    """
    T = A.shape[-1]
    N = T * (T + 1) / 2
    if isinstance(phases, str):  # "aligned": |sum_j e^{i phi_j} A_j| = sum_j |A_j|
        coherent2 = torch.abs(A).sum(-1) ** 2
    elif phases is None:
        coherent2 = _abs2(A.sum(-1))
    else:
        coherent2 = _abs2((torch.exp(1j * phases.to(A.real.dtype)) * A).sum(-1))
    return observables_from_probabilities(coherent2 / N**2, z_norm2 / (T * N), _abs2(A) / (T * N))


def observables_from_probabilities(mu: torch.Tensor, zeta_j: torch.Tensor, nu_j: torch.Tensor) -> Observables:
    r"""The observables from what circuit A measures: ``mu`` (...,) and, per query index ``j``,
    ``zeta_j = ||z_j||^2 / (lambda^2 T N)`` and ``nu_j = |A_j|^2 / (lambda^2 T N)`` (..., T).

    ``F = (T+1)/(2T) mu/zeta``, ``p_j = nu_j / zeta_j``. Shared by the analytic tier, the circuit
    tier and the shot estimators, so that every tier derives the losses the same way.
    """
    T = zeta_j.shape[-1]
    zeta, nu = zeta_j.sum(-1), nu_j.sum(-1)
    F = (T + 1) / (2 * T) * mu / zeta
    p = nu_j / zeta_j
    return Observables(
        mu=mu,
        zeta=zeta,
        nu=nu,
        F=F,
        L_B=-torch.log(F),
        L_A=-torch.log(nu / zeta),
        L_half=loss_L_half(p),
        L_1=loss_L1(p),
        p=p,
    )


def superposition_norms(X, *, k: int = 1) -> torch.Tensor:
    r"""``n_j = || sum_{i<=j} x_i (x) x_i^{(x)k} ||`` from the Gram matrix (circuit B, docs/method.md section 5).

    ``n_j^2 = sum_{i,i'<=j} <x_i|x_i'>^{k+1}``; shape ``(..., T)``.
    """
    K = (X.conj() @ X.transpose(-1, -2)) ** (k + 1)  # (..., T, T)
    n2 = K.cumsum(-1).cumsum(-2).diagonal(dim1=-2, dim2=-1).real  # (..., T)
    return torch.sqrt(n2)


def superposition_P0(X, Y, W, V, *, k: int = 1, phases=None) -> torch.Tensor:
    r"""All-zeros probability of circuit B: ``P0 = |(1/T) sum_j e^{i phi_j} A_j / n_j|^2`` (mono kernel).

    With aligned phases, ``-log P0 = -2 log((1/T) sum_j sqrt(p_j))`` for ``sqrt(p_j) = |A_j| / n_j``.
    """
    X, Y, W, V = _validate.tokens_and_unitaries(X, Y, W, V)
    _validate.kernel_options(k, "mono", None)
    phases = _validate.phases(phases, X.shape[:-1])
    A = branch_amplitudes(X, Y, W, V, k=k)  # (..., T)
    ratio = A / superposition_norms(X, k=k)
    if isinstance(phases, str):
        return torch.abs(ratio).mean(-1) ** 2
    if phases is not None:
        ratio = torch.exp(1j * phases.to(ratio.real.dtype)) * ratio
    return _abs2(ratio.mean(-1))


def chance_levels(d: int, *, field: Literal["complex", "real"] = "complex") -> ChanceLevels:
    r"""Expected losses of a uniformly random unit prediction, per step.

    For complex tokens ``p = |<y|z>|^2 ~ Beta(1, d-1)``: ``E[-log p] = psi(d) - psi(1)`` (2.593 at
    ``d = 8``) and ``-2 log E[sqrt p] = -2 log(Gamma(3/2) Gamma(d) / Gamma(d + 1/2))``. For real
    tokens ``p ~ Beta(1/2, (d-1)/2)``: ``psi(d/2) - psi(1/2)`` and
    ``-2 log(Gamma(d/2) / (Gamma(1/2) Gamma((d+1)/2)))``.
    """
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d must be a positive integer; got {d!r}")
    if field == "complex":
        L_1 = digamma(d) - digamma(1)
        log_e_sqrt = gammaln(1.5) + gammaln(d) - gammaln(d + 0.5)
    elif field == "real":
        L_1 = digamma(d / 2) - digamma(0.5)
        log_e_sqrt = gammaln(d / 2) - gammaln(0.5) - gammaln((d + 1) / 2)
    else:
        raise ValueError(f"field must be 'complex' or 'real'; got {field!r}")
    return ChanceLevels(L_1=float(L_1), L_half=float(-2.0 * log_e_sqrt))
