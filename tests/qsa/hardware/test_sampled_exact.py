"""ExactRunner with shots: multinomial counts drawn from Aer's exact probabilities, in one job.

The fast sampled path of a batched parameter-shift gradient (experiments/benchmarks): its
estimates must lie within their standard errors of the analytic values, repeat with a seed, and
its gradient must be an unbiased, noisy estimate of the exact one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import N_SIGMA, random_states

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.hardware import ExactRunner, HardwareEvaluator


def _instance(rng, S=3, T=3, d=2, L=1):
    n = d.bit_length() - 1
    X, Y = (torch.as_tensor(random_states(rng, S, T, d)) for _ in range(2))
    params = {
        "theta_W": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
        "theta_V": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
        "phi": torch.tensor(rng.uniform(-np.pi, np.pi, size=T), requires_grad=True),
    }
    return X, Y, params


def test_estimates_lie_within_their_standard_errors_and_repeat_with_a_seed(rng):
    X, Y, params = _instance(rng)
    est = HardwareEvaluator(ExactRunner(shots=20_000, seed=3)).estimate(params, X, Y, k=2)
    W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
    exact = analytic.observables(X, Y, W, V, k=2, phases=params["phi"])
    for field, z in est.z_scores(exact, ("mu", "zeta", "nu", "L_B")).items():
        assert np.all(np.abs(z) < N_SIGMA), (field, z)
    again = HardwareEvaluator(ExactRunner(shots=20_000, seed=3)).estimate(params, X, Y, k=2)
    np.testing.assert_array_equal(est.value.mu, again.value.mu)
    assert est.shots == 20_000 and np.all(est.stderr.mu > 0)


def test_sampled_gradient_is_noisy_around_the_exact_gradient(rng):
    X, Y, params = _instance(rng, S=2)
    leaves = list(params.values())
    exact = torch.autograd.grad(HardwareEvaluator(ExactRunner())(params, X, Y, k=1).L_B.sum(), leaves)
    sampled = torch.autograd.grad(
        HardwareEvaluator(ExactRunner(shots=200_000, seed=0))(params, X, Y, k=1).L_B.sum(), leaves
    )
    for a, b in zip(sampled, exact):
        assert not torch.equal(a, b)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0.1, atol=0.05)


@pytest.mark.parametrize("shots, seed, error", [(0, None, ValueError), (1.5, None, TypeError), (10, -1, ValueError)])
def test_bad_shots_and_seeds_are_refused(shots, seed, error):
    with pytest.raises(error):
        ExactRunner(shots=shots, seed=seed)
