"""The analytic fast path (qsa._causal, analytic.key_mixtures) against the dense closed forms.

The dense forms (``kernel_weights(scores(X, W))`` times the tokens; the value amplitudes
``a_ji``) are the previous implementation of ``qsa.observables``: the fast path must give the
same numbers (1e-10 in complex128), batches must equal loops, and its hand-written backward
must match finite differences (float64), also for tiles smaller than the sequence.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support import TOL_F32, TOL_GRAD, TOL_STATE, random_states, random_unitary

import qsa
from qsa import _causal, analytic
from qsa.ansatz import ansatz_unitary


def _dense_observables(X, Y, W, V, *, k, kernel, phases):
    """``qsa.observables`` as it was: three T x T products, value amplitudes and V applied."""
    beta = math.sqrt(X.shape[-1])
    G = analytic.kernel_weights(analytic.scores(X, W), k=k, kernel=kernel, beta=beta)  # (..., T, T)
    A = (analytic.value_amplitudes(X, Y, V) * G).sum(-1)
    z = G @ (X @ V.transpose(-1, -2))
    return analytic.observables_from_amplitudes(A, (z.abs() ** 2).sum(-1), phases=phases)


def _tensors(rng, *shape):
    X, Y = (torch.tensor(random_states(rng, *shape)) for _ in range(2))
    d = shape[-1]
    W, V = (torch.tensor(random_unitary(rng, d)) for _ in range(2))
    return X, Y, W, V


@pytest.mark.parametrize(
    "T, d, k, kernel, block",
    [
        (1, 2, 1, "mono", 512),
        (7, 4, 2, "mono", 3),
        (37, 4, 3, "poly", 8),
        (16, 8, 2, "poly", 16),
        (20, 2, 1, "mono", 1),
    ],
)
def test_key_mixtures_equal_the_dense_kernel_weights_times_tokens(rng, T, d, k, kernel, block):
    X, _, W, _ = _tensors(rng, 2, T, d)
    beta = math.sqrt(d)
    dense = analytic.kernel_weights(analytic.scores(X, W), k=k, kernel=kernel, beta=beta) @ X
    fast = analytic.key_mixtures(X, W, k=k, kernel=kernel, beta=beta, block=block)
    torch.testing.assert_close(fast, dense, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("kernel", ["mono", "poly"])
@pytest.mark.parametrize("phases", [None, "aligned", "random"])
def test_observables_equal_the_dense_closed_forms(rng, kernel, phases):
    X, Y, W, V = _tensors(rng, 3, 9, 4)
    phases = torch.tensor(rng.uniform(-np.pi, np.pi, (3, 9))) if phases == "random" else phases
    fast = qsa.observables(X, Y, W, V, k=2, kernel=kernel, phases=phases)
    dense = _dense_observables(X, Y, W, V, k=2, kernel=kernel, phases=phases)
    for name, value in dense.as_dict().items():
        torch.testing.assert_close(getattr(fast, name), value, rtol=0, atol=TOL_STATE, msg=name)
    torch.testing.assert_close(
        analytic.predictions(X, W, V, k=2, kernel=kernel, beta=2.0),
        analytic.kernel_weights(analytic.scores(X, W), k=2, kernel=kernel, beta=2.0) @ X @ V.T,
        rtol=0,
        atol=TOL_STATE,
    )


def test_tiled_batch_equals_loop_and_chunked_batches(rng, monkeypatch):
    X, _, W, _ = _tensors(rng, 5, 11, 4)
    batch = analytic.key_mixtures(X, W, k=2, block=4)
    for s in range(5):
        torch.testing.assert_close(batch[s], analytic.key_mixtures(X[s], W, k=2, block=4), rtol=0, atol=TOL_STATE)
    monkeypatch.setattr(_causal, "_MAX_TILE_ENTRIES", 2 * 4 * 4)  # two sequences per chunk
    torch.testing.assert_close(analytic.key_mixtures(X, W, k=2, block=4), batch, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("coefficients", [(0.0, 0.0, 1.0), (0.0, 1.0), (0.2, 0.5, 0.3), (0.1, 0.2, 0.3, 0.4)])
def test_backward_matches_finite_differences_with_several_tiles(rng, coefficients):
    Q = torch.tensor(random_states(rng, 1, 5, 2), requires_grad=True)
    K = torch.tensor(random_states(rng, 1, 5, 2), requires_grad=True)

    def f(Q, K):
        return _causal.causal_kernel_mix(Q, K, coefficients, block=2)

    assert torch.autograd.gradcheck(f, (Q, K), atol=TOL_GRAD, rtol=1e-6)


def test_double_backward_matches_finite_differences(rng):
    Q = torch.tensor(random_states(rng, 1, 3, 2), requires_grad=True)
    K = torch.tensor(random_states(rng, 1, 3, 2), requires_grad=True)
    f = lambda Q, K: _causal.causal_kernel_mix(Q, K, (0.2, 0.5, 0.3), block=2)  # noqa: E731
    assert torch.autograd.gradgradcheck(f, (Q, K), atol=1e-7, rtol=1e-5)


def test_gradients_of_L_B_through_the_ansatz_and_the_tokens(rng):
    """The training gradient (angles and tokens, i.e. an embedding) equals the dense closed form's."""
    X = torch.tensor(random_states(rng, 2, 13, 4), requires_grad=True)
    Y = torch.tensor(random_states(rng, 2, 13, 4))
    theta = torch.tensor(rng.uniform(-1, 1, size=(2, 2, 2, 3)), requires_grad=True)

    def loss(fast: bool):
        W, V = ansatz_unitary(theta[0]), ansatz_unitary(theta[1])
        if fast:
            mix = analytic.key_mixtures(X, W, k=2, block=5)
            A, z2 = ((Y.conj() @ V) * mix).sum(-1), (mix.abs() ** 2).sum(-1)
            o = analytic.observables_from_amplitudes(A, z2, phases="aligned")
        else:
            o = _dense_observables(X, Y, W, V, k=2, kernel="mono", phases="aligned")
        return (o.L_B + o.L_1).sum()

    g_fast = torch.autograd.grad(loss(True), (theta, X))
    g_dense = torch.autograd.grad(loss(False), (theta, X))
    for a, b in zip(g_fast, g_dense):
        torch.testing.assert_close(a, b, rtol=0, atol=TOL_GRAD)


def test_complex64_fast_path_is_close_to_complex128(rng):
    X, Y, W, V = _tensors(rng, 40, 8)
    o128 = qsa.observables(X, Y, W, V, k=2, phases="aligned")
    o64 = qsa.observables(*(t.to(torch.complex64) for t in (X, Y, W, V)), k=2, phases="aligned")
    assert o64.L_B.dtype == torch.float32
    torch.testing.assert_close(o64.L_B.double(), o128.L_B, rtol=TOL_F32, atol=TOL_F32)


def test_torch_func_grad_works_through_the_custom_backward(rng):
    X, _, W, _ = _tensors(rng, 6, 2)

    def f(W):
        return analytic.key_mixtures(X, W, k=2, block=4).abs().pow(2).sum()

    W1 = W.clone().requires_grad_()
    torch.testing.assert_close(torch.func.grad(f)(W), torch.autograd.grad(f(W1), W1)[0], rtol=0, atol=TOL_GRAD)


def test_block_must_be_a_positive_integer(rng):
    X, _, W, _ = _tensors(rng, 3, 2)
    for bad, error in ((0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)):
        with pytest.raises(error, match="block must be a positive integer"):  # TypeError: not an integer at all
            analytic.key_mixtures(X, W, block=bad)


@pytest.mark.parametrize(
    "coefficients", [(0.0, 1.0), (0.0, 0.0, 1.0), (0.2, 0.5, 0.3), (0.0, 0.0, 0.0, 2.0), (0.0, 0.4, 1.5), (0.7,)]
)
@pytest.mark.parametrize("shape", [(7, 4), (3, 9, 2)])
@pytest.mark.parametrize("row_block", [2, 128])  # several blocks of rows (the last one shorter), or one
def test_fused_amplitudes_equal_the_tiled_walk_in_value_and_gradient(rng, coefficients, shape, row_block, monkeypatch):
    """causal_amplitudes' one-tile kernel (scores kept, hand-written backward) against the tiled walk."""
    monkeypatch.setattr(_causal, "_ROW_BLOCK", row_block)
    X, Y = (torch.tensor(random_states(rng, *shape), requires_grad=True) for _ in range(2))
    d = shape[-1]
    W, V = (torch.tensor(random_unitary(rng, d), requires_grad=True) for _ in range(2))
    w_A, w_z = (torch.tensor(rng.normal(size=shape[:-1])) for _ in range(2))
    for inputs in ((X, Y, W, V), (X.detach(), Y.detach(), W, V)):  # every gradient; the unitaries' only (training)
        fused = _causal.causal_amplitudes(*inputs, coefficients)
        tiled = _causal._amplitudes_tiled(*inputs, coefficients, 3)
        grads = []
        for A, z in (fused, tiled):
            torch.testing.assert_close(A, tiled[0], rtol=0, atol=TOL_STATE)
            torch.testing.assert_close(z, tiled[1], rtol=0, atol=TOL_STATE)
            loss = (w_A * A.real + w_A.flip(-1) * A.imag + w_z * z).sum()
            grads.append(torch.autograd.grad(loss, [t for t in inputs if t.requires_grad]))
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b, rtol=0, atol=TOL_GRAD)


def test_fused_amplitudes_double_backward_and_torch_func(rng, monkeypatch):
    X, Y = (torch.tensor(random_states(rng, 2, 4, 2), requires_grad=True) for _ in range(2))
    W, V = (torch.tensor(random_unitary(rng, 2), requires_grad=True) for _ in range(2))

    def f(X, Y, W, V):
        A, z = _causal.causal_amplitudes(X, Y, W, V, (0.2, 0.5, 0.3))
        return A.real, A.imag, z

    assert torch.autograd.gradgradcheck(f, (X, Y, W, V), atol=1e-7, rtol=1e-5)

    monkeypatch.setattr(_causal, "_ROW_BLOCK", 3)  # torch.func through two blocks of rows

    def g(W):
        return _causal.causal_amplitudes(X.detach(), Y.detach(), W, V.detach(), (0.0, 0.0, 1.0))[1].sum()

    torch.testing.assert_close(torch.func.grad(g)(W.detach()), torch.autograd.grad(g(W), W)[0], rtol=0, atol=TOL_GRAD)


def test_large_problems_take_the_tiled_walk(rng, monkeypatch):
    X, Y = (torch.tensor(random_states(rng, 2, 6, 2)) for _ in range(2))
    W, V = (torch.tensor(random_unitary(rng, 2)) for _ in range(2))
    fused = _causal.causal_amplitudes(X, Y, W, V, (0.0, 0.0, 1.0))
    monkeypatch.setattr(_causal, "_MAX_SAVED_ENTRIES", 2 * 6 * 6 - 1)
    calls = []
    monkeypatch.setattr(_causal, "_amplitudes_tiled", lambda *a: calls.append(1) or fused)
    _causal.causal_amplitudes(X, Y, W, V, (0.0, 0.0, 1.0))
    _causal.causal_amplitudes(X[:, :1], Y[:, :1], W, V, (0.0, 0.0, 1.0), block=1)  # T = 1 fits one tile
    assert calls == [1]
