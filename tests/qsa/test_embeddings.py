"""Isometric vocabulary embedding and the projector for large spin systems."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import polygamma
from support import N_SIGMA, TOL_GRAD, TOL_STATE, random_states

from qsa.analytic import chance_levels
from qsa.data import Sequences, tfim_sequences, transverse_ising
from qsa.embeddings import (
    IsometricEmbedding,
    Projector,
    orthonormal_columns,
    sinusoidal_encoding,
    skew_rotation,
)

I8 = torch.eye(8, dtype=torch.float64)


def _gradcheck(fn, *inputs):
    return torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=TOL_GRAD, rtol=0)


# --- building blocks -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_orthonormal_columns_is_the_positive_diagonal_qr_factor(dtype):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(10, 4, dtype=dtype, generator=g)
    Q = orthonormal_columns(A)
    torch.testing.assert_close(Q.conj().T @ Q, torch.eye(4, dtype=dtype), rtol=0, atol=TOL_STATE)
    R = Q.conj().T @ A  # A = Q R with R upper triangular, positive real diagonal
    torch.testing.assert_close(R.tril(-1), torch.zeros_like(R), rtol=0, atol=TOL_STATE)
    diag = torch.diagonal(R)
    assert bool((diag.real > 0).all())
    if dtype.is_complex:
        assert float(diag.imag.abs().max()) < TOL_STATE
    torch.testing.assert_close(Q @ R, A, rtol=0, atol=TOL_STATE)
    assert _gradcheck(orthonormal_columns, A.clone().requires_grad_())


def test_skew_rotation_hand_value_and_group():
    a = 0.7
    R = skew_rotation(torch.tensor([a], dtype=torch.float64), 2)
    torch.testing.assert_close(
        R,
        torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=torch.float64),
        rtol=0,
        atol=TOL_STATE,
    )
    theta = torch.randn(28, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    R = skew_rotation(theta, 8)
    torch.testing.assert_close(R.T @ R, I8, rtol=0, atol=TOL_STATE)
    assert abs(float(torch.linalg.det(R)) - 1.0) < TOL_STATE
    assert _gradcheck(lambda t: skew_rotation(t, 8), theta.clone().requires_grad_())


def test_sinusoidal_encoding_hand_values():
    pe = sinusoidal_encoding(3, 4)
    s = math.sqrt(2)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1, 0, 1], dtype=torch.float64) / s, rtol=0, atol=0)
    # w = (1, 10000^(-1/2)) for d = 4
    want = torch.tensor([math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)], dtype=torch.float64) / s
    torch.testing.assert_close(pe[1], want, rtol=0, atol=1e-15)
    torch.testing.assert_close(
        torch.linalg.vector_norm(sinusoidal_encoding(50, 16), dim=-1),
        torch.ones(50, dtype=torch.float64),
        rtol=0,
        atol=TOL_STATE,
    )


# --- IsometricEmbedding ----------------------------------------------------------------------------


def _ids(M, S, T, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, M, size=(S, T + 1)))


def test_parameters_are_registered_and_init_is_seeded():
    emb = IsometricEmbedding(20, 8, seed=3)
    assert set(emb.state_dict()) == {"embedding_raw", "rotation_raw", "pe_scale"}
    assert {n for n, _ in emb.named_parameters()} == {"embedding_raw", "rotation_raw"}
    assert emb.rotation_raw.shape == (28,)
    same = IsometricEmbedding(20, 8, seed=3)
    torch.testing.assert_close(same.E, emb.E, rtol=0, atol=0)
    assert not torch.equal(IsometricEmbedding(20, 8, seed=4).E, emb.E)
    torch.testing.assert_close(emb.R, I8, rtol=0, atol=0)  # F = E at init
    frozen = IsometricEmbedding(20, 8, seed=3, train_rotation=False)
    assert not frozen.rotation_raw.requires_grad and "rotation_raw" in frozen.state_dict()


def test_isometry_and_rotation_survive_gradient_steps():
    emb = IsometricEmbedding(30, 8, seed=0, positional=True)
    ids = _ids(30, 4, 6)
    opt = torch.optim.Adam(emb.parameters(), lr=0.3)
    E0 = emb.E.detach().clone()
    for _ in range(25):
        X, Y = emb(ids)
        loss = -((X.conj() * Y).sum(-1).abs() ** 2).mean()  # align each token with its next word
        opt.zero_grad()
        loss.backward()
        opt.step()
    E, R, F = emb.E.detach(), emb.R.detach(), emb.F.detach()
    assert float((E - E0).abs().max()) > 0.1 and float((R - I8).abs().max()) > 0.1  # it did move
    torch.testing.assert_close(E.T @ E, I8, rtol=0, atol=1e-12)
    torch.testing.assert_close(F.T @ F, I8, rtol=0, atol=1e-12)
    torch.testing.assert_close(R.T @ R, I8, rtol=0, atol=1e-12)
    assert abs(float(torch.linalg.det(R)) - 1) < 1e-12


def test_forward_tokens_and_targets_by_definition():
    M, d = 16, 4
    emb = IsometricEmbedding(M, d, seed=1)
    with torch.no_grad():
        emb.rotation_raw.copy_(torch.linspace(-1, 1, 6, dtype=torch.float64))
    ids = _ids(M, 3, 5)
    X, Y = emb(ids)
    assert X.shape == Y.shape == (3, 5, d) and X.dtype == Y.dtype == torch.complex128
    assert not X.imag.any() and not Y.imag.any()
    E, F = emb.E.detach(), emb.F.detach()
    for s in range(3):
        for t in range(5):
            e, f = E[ids[s, t]], F[ids[s, t + 1]]
            torch.testing.assert_close(X[s, t].real, e / e.norm(), rtol=0, atol=TOL_STATE)
            torch.testing.assert_close(Y[s, t].real, f / f.norm(), rtol=0, atol=TOL_STATE)
    Sequences(X.detach(), Y.detach(), field="real")  # passes every check of the shared container


def test_positional_encoding_is_added_before_normalising():
    M, d = 12, 8
    emb = IsometricEmbedding(M, d, seed=2, positional=True)
    assert float(emb.pe_scale) == math.sqrt(d / M)
    ids = _ids(M, 2, 6)
    X, _ = emb(ids)
    pe = sinusoidal_encoding(6, d)
    v = emb.E.detach()[ids[:, :-1]] + math.sqrt(d / M) * pe  # (S, T, d)
    torch.testing.assert_close(X.real, v / v.norm(dim=-1, keepdim=True), rtol=0, atol=TOL_STATE)
    X2, _ = IsometricEmbedding(M, d, seed=2, positional=True, pe_scale=0.5)(ids)
    assert not torch.allclose(X2, X)


def test_rows_form_a_parseval_frame_and_probabilities_sum_to_one():
    emb = IsometricEmbedding(50, 8, seed=5)
    with torch.no_grad():
        emb.rotation_raw.normal_(generator=torch.Generator().manual_seed(0))
    F = emb.F.detach()
    frame = sum(torch.outer(f, f) for f in F)  # sum_l f_l f_l^T
    torch.testing.assert_close(frame, I8, rtol=0, atol=TOL_STATE)
    rng = np.random.default_rng(0)
    z = torch.as_tensor(3.0 * random_states(rng, 4, 6, 8))  # complex, not unit: p divides by ||z||^2
    p = emb.next_token_probabilities(z)
    assert p.shape == (4, 6, 50) and bool((p >= 0).all())
    torch.testing.assert_close(p.sum(-1), torch.ones(4, 6, dtype=torch.float64), rtol=0, atol=TOL_STATE)
    zr = torch.as_tensor(random_states(rng, 7, 8, real=True))
    torch.testing.assert_close(
        emb.next_token_probabilities(zr).sum(-1), torch.ones(7, dtype=torch.float64), rtol=0, atol=TOL_STATE
    )


def test_square_vocabulary_scores_targets_perfectly():
    # M = d: F is orthogonal, its rows orthonormal, so p(l | f_w) = delta_lw
    d = 8
    emb = IsometricEmbedding(d, d, seed=6)
    ids = _ids(d, 3, 4)
    _, Y = emb(ids)
    assert float(emb.next_token_accuracy(Y, ids)) == 1.0
    torch.testing.assert_close(
        emb.next_token_nll(Y.detach(), ids), torch.tensor(0.0, dtype=torch.float64), rtol=0, atol=TOL_STATE
    )
    torch.testing.assert_close(emb.targets(ids[:, 1:]), Y, rtol=0, atol=0)
    torch.testing.assert_close(emb.tokens(ids[:, :-1]), emb(ids).X, rtol=0, atol=0)
    wrong = emb.targets((ids[:, 1:] + 1) % d)  # the next word's neighbour: probability 0 for the truth
    z = torch.cat([Y[:, :2], wrong[:, 2:]], dim=1)  # right on 2 of 4 steps
    assert float(emb.next_token_accuracy(z, ids)) == 0.5


def test_random_real_predictions_score_the_real_chance_level():
    # p = <y|z>^2 for a random real unit z is Beta(1/2, (d-1)/2): E[-log p] is the real chance level
    d, n = 8, 20000
    emb = IsometricEmbedding(40, d, seed=7)
    ids = _ids(40, n, 1, seed=1)
    with torch.no_grad():
        _, Y = emb(ids)
    z = torch.as_tensor(random_states(np.random.default_rng(2), n, 1, d, real=True))
    L = -torch.log((Y.conj() * z).sum(-1).abs() ** 2).numpy().ravel()
    sd = math.sqrt(float(polygamma(1, 0.5) - polygamma(1, d / 2)))  # Var log p = psi1(a) - psi1(a+b)
    assert abs(L.mean() - chance_levels(d, field="real").L_1) < N_SIGMA * sd / math.sqrt(n)


class _NextTokenNLL(torch.nn.Module):
    """Exposes next_token_nll as forward, so torch.func.functional_call can swap the parameters."""

    def __init__(self, emb: IsometricEmbedding) -> None:
        super().__init__()
        self.emb = emb

    def forward(self, z, ids):
        return self.emb.next_token_nll(z, ids)


@pytest.mark.parametrize("positional", [False, True])
def test_gradients_match_finite_differences(positional):
    M, d = 10, 4
    ids = _ids(M, 2, 3)
    emb = IsometricEmbedding(M, d, seed=8, positional=positional)
    A = emb.embedding_raw.detach().clone().requires_grad_()
    theta = torch.tensor([0.3, -0.2, 0.5, 0.1, -0.4, 0.2], dtype=torch.float64, requires_grad=True)

    def tokens(A, theta):
        return tuple(torch.func.functional_call(emb, {"embedding_raw": A, "rotation_raw": theta}, (ids,)))

    assert _gradcheck(tokens, A, theta)
    z = torch.as_tensor(random_states(np.random.default_rng(3), 2, 3, d)).requires_grad_()
    nll = _NextTokenNLL(emb)

    def loss(z, A, theta):
        return torch.func.functional_call(nll, {"emb.embedding_raw": A, "emb.rotation_raw": theta}, (z, ids))

    assert _gradcheck(loss, z, A, theta)


def test_float32_parameters_give_complex64_tokens():
    emb = IsometricEmbedding(16, 4, seed=0, dtype=torch.float32)
    X, Y = emb(_ids(16, 2, 3))
    assert X.dtype == Y.dtype == torch.complex64


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: IsometricEmbedding(4, 8, seed=0), ValueError, r"M must be >= d .*got M=4, d=8"),
        (lambda: IsometricEmbedding(10, 6, seed=0), ValueError, "d must be a power of two"),
        (lambda: IsometricEmbedding(10, 4, seed=None), TypeError, "seed must be a non-negative int"),
        (lambda: IsometricEmbedding(10, 4, seed=0, pe_scale=0.0), ValueError, "pe_scale must be positive"),
        (lambda: IsometricEmbedding(10, 4, seed=0, positional=1), TypeError, "positional must be a bool"),
        (
            lambda: IsometricEmbedding(10, 4, seed=0, dtype=torch.complex128),
            ValueError,
            "dtype must be torch.float64 or torch.float32",
        ),
        (lambda: IsometricEmbedding(10, 4, seed=0)(torch.zeros(2, 3)), TypeError, "ids must have an integer dtype"),
        (lambda: IsometricEmbedding(10, 4, seed=0)([[0, 1]]), TypeError, "ids must be an integer tensor"),
        (lambda: IsometricEmbedding(10, 4, seed=0)(torch.arange(5)), ValueError, r"ids must have shape \(S, T\+1\)"),
        (lambda: IsometricEmbedding(10, 4, seed=0)(torch.tensor([[0, 10]])), ValueError, r"ids must lie in \[0, 10\)"),
        (
            lambda: IsometricEmbedding(10, 4, seed=0).tokens(torch.tensor([[11]])),
            ValueError,
            r"ids must lie in \[0, 10\)",
        ),
        (
            lambda: IsometricEmbedding(10, 4, seed=0).targets(torch.zeros(2, 0, dtype=torch.long)),
            ValueError,
            r"ids must have shape \(S, L\) with L >= 1",
        ),
        (
            lambda: IsometricEmbedding(10, 4, seed=0).next_token_probabilities(torch.ones(3, 8)),
            ValueError,
            r"z must have shape \(\.\.\., 4\)",
        ),
        (
            lambda: IsometricEmbedding(10, 4, seed=0).next_token_probabilities(np.ones(4)),
            TypeError,
            "z must be a torch.Tensor",
        ),
        (
            lambda: IsometricEmbedding(10, 4, seed=0).next_token_accuracy(
                torch.ones(2, 2, 4), torch.zeros(2, 4, dtype=torch.long)
            ),
            ValueError,
            r"z must have shape \(S, T, d\) = \(2, 3, 4\)",
        ),
    ],
)
def test_embedding_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- Projector -------------------------------------------------------------------------------------


def test_projector_is_isometric_and_maps_unit_states_to_unit_tokens():
    proj = Projector(5, 8, seed=0)
    assert set(proj.state_dict()) == {"isometry_raw"} and proj.isometry_raw.shape == (32, 8, 2)
    psi = torch.as_tensor(random_states(np.random.default_rng(0), 6, 32))
    Q = proj.isometry.detach()
    torch.testing.assert_close(Q.conj().T @ Q, torch.eye(8, dtype=torch.complex128), rtol=0, atol=TOL_STATE)
    x = proj(psi)
    u = psi @ Q.conj()  # rows: Q^dagger psi
    torch.testing.assert_close(x, u / u.norm(dim=-1, keepdim=True), rtol=0, atol=TOL_STATE)
    torch.testing.assert_close(proj.projection_norms(psi), u.norm(dim=-1), rtol=0, atol=TOL_STATE)
    assert bool((proj.projection_norms(psi) <= 1 + TOL_STATE).all())
    torch.testing.assert_close(Projector(5, 8, seed=0).isometry, proj.isometry, rtol=0, atol=0)
    assert not torch.equal(Projector(5, 8, seed=1).isometry, proj.isometry)


def test_square_projector_is_unitary_and_keeps_norms():
    proj = Projector(3, 8, seed=2)
    psi = torch.as_tensor(random_states(np.random.default_rng(1), 5, 8))
    torch.testing.assert_close(proj.projection_norms(psi), torch.ones(5, dtype=torch.float64), rtol=0, atol=TOL_STATE)


def test_projector_stays_isometric_under_training_and_has_correct_gradients():
    proj = Projector(4, 4, seed=3)
    psi = torch.as_tensor(random_states(np.random.default_rng(2), 8, 16))
    target = torch.as_tensor(random_states(np.random.default_rng(3), 8, 4))
    opt = torch.optim.Adam(proj.parameters(), lr=0.2)
    for _ in range(20):
        loss = -((target.conj() * proj(psi)).sum(-1).abs() ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    Q = proj.isometry.detach()
    torch.testing.assert_close(Q.conj().T @ Q, torch.eye(4, dtype=torch.complex128), rtol=0, atol=1e-12)
    raw = proj.isometry_raw.detach().clone().requires_grad_()
    assert _gradcheck(lambda r: torch.func.functional_call(proj, {"isometry_raw": r}, (psi[:3],)), raw)


def test_projector_maps_tfim_sequences_to_smaller_tokens():
    seqs = tfim_sequences(transverse_ising(4), dt=0.35, T=5, n_sequences=2, seed=0)
    small = Projector(4, 4, seed=0).project(seqs)
    assert isinstance(small, Sequences) and small.X.shape == (2, 5, 4) and small.d == 4
    assert small.meta["projected_from_qubits"] == 4 and small.meta["source"] == "tfim"
    assert not small.X.requires_grad


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: Projector(2, 8, seed=0), ValueError, r"n_qubits must give 2\^n_qubits >= d = 8; got n_qubits=2"),
        (lambda: Projector(0, 2, seed=0), ValueError, "n_qubits must be >= 1"),
        (lambda: Projector(3, 3, seed=0), ValueError, "d must be a power of two"),
        (lambda: Projector(3, 4, seed=0, dtype=torch.float64), ValueError, "dtype must be torch.complex128"),
        (
            lambda: Projector(3, 4, seed=0)(torch.ones(2, 4, dtype=torch.complex128) / 2),
            ValueError,
            r"states must have shape \(\.\.\., 8\)",
        ),
        (
            lambda: Projector(3, 4, seed=0)(torch.ones(2, 8, dtype=torch.complex128)),
            ValueError,
            "states must have unit-norm rows",
        ),
        (
            lambda: Projector(3, 4, seed=0)(torch.ones(2, 8, dtype=torch.complex64) / 8**0.5),
            ValueError,
            "states must have dtype torch.complex128",
        ),
        (lambda: Projector(3, 4, seed=0)([1.0] * 8), TypeError, "states must be a torch.Tensor"),
        (lambda: Projector(3, 4, seed=0).project(torch.zeros(1)), TypeError, "seqs must be a Sequences"),
    ],
)
def test_projector_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()
