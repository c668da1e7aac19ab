"""The NumPy path of small analytic problems (qsa._small) against the torch path it stands in for.

Every field to 1e-10 and every gradient (angles and phases) to 1e-8, for the kernels, phase
modes, unequal ansatz depths and a single sequence; what it declines; a double backward; p_j = 0.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from support import TOL_GRAD, TOL_STATE, random_states

from qsa import _small, analytic
from qsa.evaluators.analytic import AnalyticEvaluator


def _problem(rng, *, S=3, T=5, d=4, L_W=2, L_V=2, single=False):
    n = d.bit_length() - 1
    shape = (T, d) if single else (S, T, d)
    X, Y = (torch.tensor(random_states(rng, *shape)) for _ in range(2))
    theta_W = torch.tensor(rng.uniform(0, 2 * math.pi, (L_W, n, 3)), requires_grad=True)
    theta_V = torch.tensor(rng.uniform(0, 2 * math.pi, (L_V, n, 3)), requires_grad=True)
    return theta_W, theta_V, X, Y


def _both(evaluator, theta_W, theta_V, X, Y, *, k, kernel, phases):
    beta = analytic.resolve_beta(None, X.shape[-1])
    small = evaluator.evaluate(theta_W, theta_V, X, Y, k=k, kernel=kernel, beta=None, phases=phases)
    plain = evaluator._evaluate(theta_W, theta_V, X, Y, k=k, kernel=kernel, beta=beta, phases=phases)
    return small, plain


@pytest.mark.parametrize(
    "k, kernel, phases, L_V, single",
    [
        (2, "mono", "aligned", 2, False),
        (1, "mono", None, 3, False),
        (3, "poly", "trained", 2, False),
        (2, "poly", "per_sequence", 1, False),
        (2, "mono", "aligned", 2, True),
    ],
)
def test_every_field_and_gradient_equals_the_torch_path(rng, k, kernel, phases, L_V, single):
    theta_W, theta_V, X, Y = _problem(rng, L_V=L_V, single=single)
    assert _small.applies(theta_W, theta_V, None, X, Y)
    T = X.shape[-2]
    phi = None
    if phases == "trained":
        phi = torch.tensor(rng.uniform(-np.pi, np.pi, T), requires_grad=True)
    elif phases == "per_sequence":
        phi = torch.tensor(rng.uniform(-np.pi, np.pi, X.shape[:-1]), requires_grad=True)
    mode = "aligned" if phases == "aligned" else phi
    small, plain = _both(AnalyticEvaluator(), theta_W, theta_V, X, Y, k=k, kernel=kernel, phases=mode)
    inputs = [theta_W, theta_V] + ([phi] if phi is not None else [])
    for name in _small.FIELDS:
        a, b = getattr(small, name), getattr(plain, name)
        torch.testing.assert_close(a, b, rtol=0, atol=TOL_STATE, msg=name)
        weights = torch.tensor(rng.normal(size=a.shape))
        grads_small = torch.autograd.grad((weights * a).sum(), inputs, allow_unused=True, retain_graph=True)
        grads_plain = torch.autograd.grad((weights * b).sum(), inputs, allow_unused=True, retain_graph=True)
        for g, h in zip(grads_small, grads_plain):
            if h is None:
                assert g is None or not g.abs().max() > 0, name
            else:
                torch.testing.assert_close(g, h, rtol=0, atol=TOL_GRAD, msg=name)


def test_it_declines_what_it_cannot_do(rng):
    theta_W, theta_V, X, Y = _problem(rng)
    assert _small.applies(theta_W, theta_V, "aligned", X, Y)
    assert not _small.applies(theta_W, theta_V, None, X.to(torch.complex64), Y.to(torch.complex64))
    assert not _small.applies(theta_W, theta_V, None, X.clone().requires_grad_(), Y)  # an embedding's gradient
    assert not _small.applies(theta_W.float(), theta_V, None, X, Y)
    big = torch.tensor(random_states(rng, 4, 128, 4))
    assert not _small.applies(theta_W, theta_V, None, big, big)  # OpenBLAS would thread: the torch path


def test_double_backward_recomputes_through_torch(rng):
    """(Not with aligned phases: detached, they give the exact gradient of L_B but not its Hessian.)"""
    theta_W, theta_V, X, Y = _problem(rng, S=1, T=3, d=2, L_W=1, L_V=1)
    evaluator = AnalyticEvaluator()

    def f(tW, tV):
        return evaluator.evaluate(tW, tV, X, Y, k=2, kernel="mono", beta=None, phases=None).L_B.sum()

    assert torch.autograd.gradgradcheck(f, (theta_W, theta_V), atol=1e-7, rtol=1e-5)


def test_a_zero_probability_gives_infinity_without_warnings_as_torch_does(rng):
    """Zero angles and a target orthogonal to the prediction: p_0 = 0 (issue 11's exact case), no NumPy warning."""
    X = torch.tensor([[[1.0, 0.0], [0.6, 0.8]]], dtype=torch.complex128)
    Y = torch.tensor([[[0.0, 1.0], [0.8, -0.6j]]], dtype=torch.complex128)
    theta = torch.zeros(1, 1, 3, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small, plain = _both(AnalyticEvaluator(), theta, theta, X, Y, k=1, kernel="mono", phases="aligned")
    for name in ("L_1", "L_half", "p"):
        torch.testing.assert_close(getattr(small, name), getattr(plain, name), rtol=0, atol=TOL_STATE, equal_nan=True)
