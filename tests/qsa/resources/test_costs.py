"""Classical attention cost, shots for a precision, the advantage criterion, reference probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.random import random_states
from qsa.resources import (
    advantage_threshold,
    classical_attention_cost,
    meets_advantage,
    preprocessing_cost,
    reference_probability,
    shape,
    shots_for_precision,
)


@pytest.mark.parametrize("T, d", [(1, 1), (4, 2), (64, 16)])
def test_classical_cost(T, d):
    cost = classical_attention_cost(T, d)
    assert (cost.scores, cost.values, cost.attention) == (T * T * d, T * T * d, 2 * T * T * d)
    assert cost.projections == 4 * T * d * d and cost.total == 2 * T * T * d + 4 * T * d * d
    assert cost.causal_scores == sum(j + 1 for j in range(T)) * d


@pytest.mark.parametrize("T, d, k", [(4, 2, 1), (8, 4, 2), (3, 8, 3)])
def test_preprocessing_counts_the_loads_circuit_b_builds(T, d, k):
    b = shape("B", T, d, k)
    (steps, width) = b.parameter_shapes()["psi"]  # the loads circuit B's builder takes: (T, d^(k+1))
    assert (steps, width) == (T, d ** (k + 1))
    cost = preprocessing_cost(b)
    assert cost.tensor_powers == T * sum(d**m for m in range(2, k + 2))  # x, x(x)x, ..., x^(x)(k+1) per token
    assert cost.prefix_sums == cost.norms == steps * width
    assert cost.load_angles == 2 * T * d + steps * width  # tokens, targets, and the T superposition loads
    assert cost.total == cost.tensor_powers + 2 * steps * width + cost.load_angles
    for label in ("A-mono", "A-poly"):  # circuit A loads tokens and targets only
        assert preprocessing_cost(shape(label, T, d, k)) == (0, 0, 0, 2 * T * d)
    with pytest.raises(TypeError, match="shape must be a Shape"):
        preprocessing_cost((T, d, k))


def test_shots_for_precision():
    assert shots_for_precision(0.5, rel_error=0.1) == 100  # (1 - p) / (p eps^2)
    assert shots_for_precision(1e-3, rel_error=1.0) == 999  # ~ 1/p at eps = 1
    assert shots_for_precision(1.0) == 1
    for p in (0.0, 1.5, -0.1, True):
        with pytest.raises(ValueError, match="must be a probability"):
            shots_for_precision(p)
    with pytest.raises(ValueError, match="rel_error must be positive"):
        shots_for_precision(0.5, rel_error=0)


@pytest.mark.parametrize("T, d, k", [(16, 8, 2), (4, 2, 1), (64, 16, 1), (100, 2, 3)])
def test_advantage_threshold_is_k_over_min_T_and_symmetric_dimension(T, d, k):
    m_k = math.comb(d + k - 1, k)
    assert advantage_threshold(T, d, k) == k / min(T, m_k)
    assert meets_advantage(k / min(T, m_k), T, d, k) and not meets_advantage(0.99 * k / min(T, m_k), T, d, k)


def test_advantage_threshold_bad_input():
    with pytest.raises(ValueError, match="d must be a positive integer"):
        advantage_threshold(4, 0, 1)


@pytest.mark.parametrize(
    "s, variant",
    [
        (shape("A-mono", 5, 4, 2, n_layers=2), "mu"),
        (shape("A-poly", 4, 2, 2, n_layers=1), "zeta"),
        (shape("B", 6, 4, 2, n_layers=3), "P0"),
    ],
    ids=str,
)
@pytest.mark.parametrize("instance", ["random", "ideal"])
def test_reference_probability_is_the_analytic_observable_of_each_seeded_instance(s, variant, instance):
    """The batched evaluation equals qsa.analytic's public functions, sample by sample."""
    got = reference_probability(s, variant=variant, instance=instance, n_samples=3, seed=3)
    expected = []
    for sample in range(3):
        rng = np.random.default_rng([3, sample])
        X, Y = (torch.as_tensor(random_states(s.T, s.d, seed=rng)) for _ in range(2))
        n = s.d.bit_length() - 1
        W, V = (ansatz_unitary(torch.as_tensor(rng.uniform(0, 2 * np.pi, (s.w_layers, n, 3)))) for _ in range(2))
        if instance == "ideal":
            Z = analytic.predictions(X, W, V, k=s.k, kernel=s.kernel, beta=analytic.resolve_beta(None, s.d))
            Y = Z / torch.linalg.vector_norm(Z, dim=-1, keepdim=True)
        if s.circuit == "B":
            expected.append(float(analytic.superposition_P0(X, Y, W, V, k=s.k, phases="aligned")))
        else:
            obs = analytic.observables(X, Y, W, V, k=s.k, kernel=s.kernel, phases="aligned")
            expected.append(float(getattr(obs, variant)))
    assert (got.mean, got.min, got.max) == pytest.approx((np.mean(expected), min(expected), max(expected)), rel=1e-10)


@pytest.mark.parametrize("label", ["A-mono", "A-poly", "B"])
def test_ideal_targets_never_lower_the_probability(label):
    """``y_j = z_j / ||z_j||`` maximises every ``|A_j|`` for the same tokens and maps."""
    for seed in range(3):
        s = shape(label, 6, 4, 2, n_layers=2)
        random, ideal = (reference_probability(s, instance=i, n_samples=2, seed=seed) for i in ("random", "ideal"))
        assert 0 < random.min <= random.mean <= random.max <= 1
        assert ideal.mean >= random.mean and ideal.max <= 1 + 1e-12


def test_reference_probability_bad_input():
    with pytest.raises(ValueError, match="instance must be one of"):
        reference_probability(shape("B", 4, 2), instance="best")
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        reference_probability(shape("B", 4, 2), n_samples=0)
