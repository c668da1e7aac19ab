r"""Shots: how often a QSA circuit must run for one estimate, and the advantage criterion.

Each QSA circuit is read as the probability ``p`` of one outcome (``mu`` for circuit A, ``zeta``
and ``nu`` for its normalisation, ``P0`` for circuit B). ``S`` shots estimate it with relative
standard error ``sqrt((1 - p) / (S p))``, so a relative precision ``eps`` takes

.. math::

    S(p, \varepsilon) = \Bigl\lceil \frac{1 - p}{p\,\varepsilon^2} \Bigr\rceil
    \approx \frac{1}{p\,\varepsilon^2}

(``~ 1/p`` shots per estimate at ``eps = 1``). The advantage criterion of docs/method.md section 7:
``mu >= k / min(T, m_k)`` with ``m_k = C(d+k-1, k)``, the dimension of the symmetric subspace of
``k`` copies of ``C^d``.

:func:`reference_probability` evaluates ``p`` on seeded instances through the analytic tier:
``"random"`` (Haar tokens and targets, uniformly random ansatz angles, aligned phases: an
untrained model on structureless data) or ``"ideal"`` (targets ``y_j = z_j / ||z_j||``, the
best any model reaches on those tokens).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import torch

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.circuits import Shape
from qsa.circuits._checks import integer, real_number
from qsa.random import random_states

__all__ = [
    "INSTANCES",
    "shots_for_precision",
    "advantage_threshold",
    "meets_advantage",
    "ProbabilityEstimate",
    "reference_probability",
    "reference_probabilities",
]

INSTANCES: tuple[Literal["random", "ideal"], ...] = ("random", "ideal")


def _probability(p: float, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 < p <= 1:
        raise ValueError(f"{name} must be a probability in (0, 1]; got {p!r}")
    return float(p)


def shots_for_precision(p: float, *, rel_error: float = 0.1) -> int:
    """Shots to estimate a probability ``p`` with relative standard error ``rel_error`` (module docstring)."""
    p = _probability(p, "p")
    rel_error = real_number(rel_error, "rel_error", positive=True)
    return max(1, math.ceil((1 - p) / (p * rel_error**2)))


def advantage_threshold(T: int, d: int, k: int) -> float:
    """``k / min(T, m_k)`` with ``m_k = C(d+k-1, k)``: the smallest ``mu`` that keeps the advantage."""
    for value, name in ((T, "T"), (d, "d"), (k, "k")):
        integer(value, name, minimum=1, describe="a positive integer")
    return k / min(T, math.comb(d + k - 1, k))


def meets_advantage(mu: float, T: int, d: int, k: int) -> bool:
    """Whether ``mu >= k / min(T, m_k)``."""
    return _probability(mu, "mu") >= advantage_threshold(T, d, k)


class ProbabilityEstimate(NamedTuple):
    """The measured probability of a shape's circuit on seeded instances: mean, min, max over samples."""

    instance: str
    mean: float
    min: float
    max: float
    n_samples: int
    seed: int


def reference_probability(
    shape: Shape,
    *,
    variant: str | None = None,
    instance: Literal["random", "ideal"] = "random",
    n_samples: int = 8,
    seed: int = 0,
) -> ProbabilityEstimate:
    """``mu``/``zeta``/``nu``/``P0`` of ``shape``'s ``variant`` circuit (default: the measured one) on seeded instances.

    Analytic tier, ``n_samples`` instances; ``W`` and ``V`` are the shape's ansatz circuits.

    Sample ``s`` draws tokens, targets and the ansatz angles of ``W`` and ``V`` from
    ``numpy.random.default_rng([seed, s])``; query phases are aligned (``phi_j = -arg A_j``), the
    maximiser of ``mu`` and ``P0``. :func:`reference_probabilities` gives every variant at once.
    """
    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    variant = shape.build(variant).variant
    return reference_probabilities(shape, instance=instance, n_samples=n_samples, seed=seed)[variant]


def reference_probabilities(
    shape: Shape,
    *,
    instance: Literal["random", "ideal"] = "random",
    n_samples: int = 8,
    seed: int = 0,
) -> dict[str, ProbabilityEstimate]:
    """:func:`reference_probability` of every variant of ``shape`` (``mu``, ``zeta``, ``nu``; or ``P0``), on the same instances.

    One analytic pass gives all three probabilities of circuit A, so a whole evaluation's shots
    (every variant at its own probability) cost one evaluation here.
    """
    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    if shape.w_layers is None or shape.v_layers is None:
        raise ValueError(f"shape must have ansatz depths for W and V (w_layers, v_layers); got {shape}")
    if instance not in INSTANCES:
        raise ValueError(f"instance must be one of {INSTANCES}; got {instance!r}")
    integer(n_samples, "n_samples", minimum=1, describe="a positive integer")
    T, d, k, S = shape.T, shape.d, shape.k, n_samples
    n = d.bit_length() - 1
    kernel = shape.kernel
    beta = analytic.resolve_beta(shape.beta, d)
    draws = []
    for s in range(S):
        rng = np.random.default_rng([seed, s])
        X, Y = random_states(T, d, seed=rng), random_states(T, d, seed=rng)
        angles = [rng.uniform(0, 2 * np.pi, (L, n, 3)) for L in (shape.w_layers, shape.v_layers)]
        draws.append((X, Y, *angles))
    X, Y = (torch.as_tensor(np.stack([draw[i] for draw in draws])) for i in (0, 1))  # (S, T, d)
    W, V = (ansatz_unitary(torch.as_tensor(np.stack([draw[i] for draw in draws]))) for i in (2, 3))  # (S, d, d)
    if instance == "ideal":
        Z = analytic.predictions(X, W, V, k=k, kernel=kernel, beta=beta)  # (S, T, d): z_j
        Y = Z / torch.linalg.vector_norm(Z, dim=-1, keepdim=True)
    if shape.circuit == "B":  # P0 with aligned phases (analytic.superposition_P0, batched over W and V)
        A = analytic.branch_amplitudes(X, Y, W, V, k=k)  # (S, T)
        probabilities = {"P0": (torch.abs(A) / analytic.superposition_norms(X, k=k)).mean(-1) ** 2}
    else:  # analytic.observables, batched over W and V
        A, z_norm2 = analytic.amplitudes_and_norms(X, Y, W, V, k=k, kernel=kernel, beta=beta)  # (S, T) each
        obs = analytic.observables_from_amplitudes(A, z_norm2, phases="aligned")
        probabilities = {v: getattr(obs, v) for v in shape.variants}
    out = {}
    for variant, p in probabilities.items():
        values = p.detach().cpu().numpy()
        out[variant] = ProbabilityEstimate(
            instance, float(values.mean()), float(values.min()), float(values.max()), S, seed
        )
    return out
