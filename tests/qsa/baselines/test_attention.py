"""Classical attention baselines (qsa.baselines.attention): formulas by hand, causality, unitarity after
training, gradients against finite differences, kCSA = QSA with the ansatz unitaries, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from support import TOL_GRAD, TOL_STATE, random_states, random_unitary

from qsa import analytic
from qsa.baselines import attention as at
from qsa.baselines.koopman import KoopmanAttention, KoopmanConfig
from qsa.model import ModelConfig, QSAModel

TOL_UNITARY = 1e-12


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices: one torch thread is fastest and keeps the busy 2-core machine free."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tokens(rng, *shape):
    return torch.as_tensor(random_states(rng, *shape))


MODELS = {
    "kcsa-mono": lambda d, T, seed: at.KCSA(d, T, k=2, seed=seed),
    "kcsa-poly": lambda d, T, seed: at.KCSA(d, T, k=2, kernel="poly", seed=seed),
    "softmax_isometric": lambda d, T, seed: at.SoftmaxAttention(d, value="isometric", seed=seed),
    "softmax_general": lambda d, T, seed: at.SoftmaxAttention(d, value="general", seed=seed),
    "linear": lambda d, T, seed: at.LinearAttention(d, seed=seed),
    "koopman": lambda d, T, seed: KoopmanAttention(
        KoopmanConfig(d=d, n_layers=2, alpha_init=0.3, init_scale=0.5), seed=seed
    ),
    "koopman_unitary": lambda d, T, seed: KoopmanAttention(
        KoopmanConfig(d=d, n_layers=2, dynamics="unitary", alpha_init=0.3, init_scale=0.5), seed=seed
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_causality_prediction_j_ignores_later_tokens(rng, name):
    S, T, d = 2, 6, 4
    model = MODELS[name](d, T, 5)
    X = tokens(rng, S, T, d)
    with torch.no_grad():
        Z = model(X)
        assert Z.shape == (S, T, d) and Z.dtype == torch.complex128
        assert_allclose(model(X[1]).numpy(), Z[1].numpy(), rtol=0, atol=TOL_STATE)  # (T, d) equals its batch row
        for j in range(T - 1):
            changed = X.clone()
            changed[:, j + 1 :] = tokens(rng, S, T - j - 1, d)  # new future tokens
            Z2 = model(changed)
            assert_allclose(Z2[:, : j + 1].numpy(), Z[:, : j + 1].numpy(), rtol=0, atol=TOL_STATE)
            assert float((Z2[:, j + 1 :] - Z[:, j + 1 :]).abs().max()) > 1e-3  # the later ones do move


def test_softmax_and_linear_attention_by_hand(rng):
    T, d = 5, 4
    X = tokens(rng, T, d)
    for value in at.VALUE_MAPS:
        model = at.SoftmaxAttention(d, value=value, seed=1)
        with torch.no_grad():
            W, V = model.W(), model.V()
            Z = model(X)
        for j in range(T):
            logits = [math.sqrt(d) * complex(torch.vdot(X[j], W @ X[i])).real for i in range(j + 1)]
            w = np.exp(np.array(logits) - max(logits))
            z = sum(w[i] / w.sum() * (V @ X[i]).numpy() for i in range(j + 1))
            assert_allclose(Z[j].numpy(), z, rtol=0, atol=TOL_STATE)
    model = at.LinearAttention(d, d_k=3, seed=2)
    with torch.no_grad():
        Q, K, V = model.W_Q(), model.W_K(), model.V()
        Z = model(X)
    for j in range(T):
        w = [float(((Q @ X[j]).abs() ** 2 * (K @ X[i]).abs() ** 2).sum()) for i in range(j + 1)]
        z = sum(w[i] * (V @ X[i]).numpy() for i in range(j + 1)) / sum(w)
        assert_allclose(Z[j].numpy(), z, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("name", ["softmax_isometric", "softmax_general", "linear"])
def test_observables_score_predictions_like_qsa(rng, name):
    model = MODELS[name](4, 5, 3)
    X, Y = tokens(rng, 3, 5, 4), tokens(rng, 3, 5, 4)
    obs = model.observables(X, Y)
    with torch.no_grad():
        p = analytic.step_probabilities(model(X), Y)
    assert_allclose(obs.p.detach().numpy(), p.numpy(), rtol=0, atol=TOL_STATE)
    assert_allclose(obs.L_1.detach().numpy(), analytic.loss_L1(p).numpy(), rtol=0, atol=TOL_STATE)
    assert_allclose(obs.L_half.detach().numpy(), analytic.loss_L_half(p).numpy(), rtol=0, atol=TOL_STATE)
    assert obs.L_B is None and obs.F is None and obs.mu is None


@pytest.mark.parametrize("kernel", ["mono", "poly"])
@pytest.mark.parametrize("phases", ["aligned", "trained", "none"])
def test_kcsa_with_the_ansatz_unitaries_gives_qsas_analytic_observables(rng, kernel, phases):
    T, d = 7, 8
    qsa = QSAModel(ModelConfig(d=d, T=T, k=2, kernel=kernel, w_layers=3, v_layers=3, phases=phases), seed=4)
    kcsa = at.KCSA(d, T, k=2, kernel=kernel, phases=phases, seed=9)
    W, V = (U.detach() for U in qsa.unitaries())
    kcsa.W.set_unitary(W)
    kcsa.V.set_unitary(V)
    if phases == "trained":
        with torch.no_grad():
            qsa.phi.copy_(torch.as_tensor(rng.uniform(0, 2 * np.pi, T)))
            kcsa.phi.copy_(qsa.phi)
    assert_allclose(kcsa.W().detach().numpy(), W.numpy(), rtol=0, atol=TOL_STATE)
    X, Y = tokens(rng, 3, T, d), tokens(rng, 3, T, d)
    got = kcsa.observables(X, Y)
    expected = qsa.evaluator(qsa.circuit_params(X, Y), X, Y, k=2, kernel=kernel, beta=None)
    for field in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        assert_allclose(
            getattr(got, field).detach().numpy(), getattr(expected, field).detach().numpy(), rtol=0, atol=TOL_STATE
        )
    with torch.no_grad():  # and its predictions are QSA's closed-form z_j
        beta = analytic.resolve_beta(None, d)
        assert_allclose(
            kcsa(X).numpy(),
            analytic.predictions(X, W, V, k=2, kernel=kernel, beta=beta).numpy(),
            rtol=0,
            atol=TOL_STATE,
        )


def test_free_unitary_round_trips_through_its_logarithm(rng):
    U = random_unitary(rng, 8)
    free = at.FreeUnitary(8, seed=0)
    free.set_unitary(U)
    with torch.no_grad():
        assert_allclose(free().numpy(), U, rtol=0, atol=TOL_STATE)
        H = free.hermitian()
        assert_allclose(H.numpy(), H.conj().T.resolve_conj().numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["kcsa-mono", "softmax_isometric"])
def test_isometric_maps_stay_unitary_to_1e_12_after_training_steps(rng, name):
    T, d = 6, 8
    model = MODELS[name](d, T, 0)
    X, Y = tokens(rng, 4, T, d), tokens(rng, 4, T, d)
    maps = [m for m in model.modules() if isinstance(m, at.FreeUnitary)]
    before = [m().detach().clone() for m in maps]
    opt = torch.optim.Adam(model.parameters(), lr=0.2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = model.observables(X, Y).L_1.mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    for m, U0 in zip(maps, before):
        with torch.no_grad():
            U = m()
        assert float((U - U0).abs().max()) > 0.1  # it moved
        assert float((U.conj().T @ U - torch.eye(d, dtype=U.dtype)).abs().max()) < TOL_UNITARY


@pytest.mark.parametrize("name", ["kcsa-mono", "kcsa-poly", "softmax_isometric", "softmax_general", "linear"])
@pytest.mark.parametrize("loss_name", ["L_1", "L_half"])
def test_gradients_match_finite_differences(rng, name, loss_name):
    T, d = 4, 4
    model = MODELS[name](d, T, 7)
    X, Y = tokens(rng, 2, T, d), tokens(rng, 2, T, d)
    params = list(model.parameters())

    def loss() -> torch.Tensor:
        return getattr(model.observables(X, Y), loss_name).mean()

    grads = torch.autograd.grad(loss(), params)

    def central(direction, eps: float) -> float:
        with torch.no_grad():
            for p, v in zip(params, direction):
                p += eps * v
            up = float(loss())
            for p, v in zip(params, direction):
                p -= 2 * eps * v
            down = float(loss())
            for p, v in zip(params, direction):
                p += eps * v
        return (up - down) / (2 * eps)

    for _ in range(3):
        direction = [torch.as_tensor(rng.normal(size=p.shape)) for p in params]
        norm = math.sqrt(sum(float((v**2).sum()) for v in direction))
        direction = [v / norm for v in direction]
        exact = sum(float((g * v).sum()) for g, v in zip(grads, direction))
        eps = 1e-4  # Richardson-extrapolated central differences: error O(eps^4) + rounding O(1e-16 / eps)
        fd = (4 * central(direction, eps / 2) - central(direction, eps)) / 3
        assert_allclose(fd, exact, rtol=0, atol=TOL_GRAD)


def test_parameter_counts_and_seeds():
    d, T = 8, 16
    assert at.count_parameters(at.KCSA(d, T, seed=0)) == 2 * d * d
    assert at.count_parameters(at.KCSA(d, T, phases="trained", seed=0)) == 2 * d * d + T
    assert at.count_parameters(at.SoftmaxAttention(d, value="isometric", seed=0)) == 3 * d * d
    assert at.count_parameters(at.SoftmaxAttention(d, value="general", seed=0)) == 4 * d * d
    assert at.count_parameters(at.LinearAttention(d, seed=0)) == 6 * d * d
    a, b, c = (at.SoftmaxAttention(d, seed=s) for s in (3, 3, 4))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.W.re, c.W.re)
    assert torch.equal(at.LinearAttention(d, seed=np.random.default_rng(1)).V.re, at.LinearAttention(d, seed=1).V.re)


def test_bad_inputs_raise_clear_errors(rng):
    with pytest.raises(ValueError, match="value must be one of"):
        at.SoftmaxAttention(4, value="orthogonal", seed=0)
    with pytest.raises(ValueError, match="kernel must be one of"):
        at.KCSA(4, 3, kernel="exp", seed=0)
    with pytest.raises(ValueError, match="phases must be one of"):
        at.KCSA(4, 3, phases="random", seed=0)
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        at.LinearAttention(4, seed=None)
    with pytest.raises(ValueError, match="d must be >= 1"):
        at.FreeUnitary(0, seed=0)
    model = at.SoftmaxAttention(4, seed=0)
    with pytest.raises(ValueError, match=r"X must have token width d = 4 \(the model's\); got shape \(3, 8\)"):
        model(tokens(rng, 3, 8))
    with pytest.raises(ValueError, match="X must have unit-norm rows"):
        model(2 * tokens(rng, 3, 4))
    with pytest.raises(ValueError, match=r"Y must have the shape and dtype of X"):
        model.observables(tokens(rng, 3, 4), tokens(rng, 2, 4))
    with pytest.raises(TypeError, match="X must be complex128"):
        model(tokens(rng, 3, 4).to(torch.complex64))
    with pytest.raises(ValueError, match=r"X must have T = 3 steps"):
        at.KCSA(4, 3, phases="trained", seed=0).observables(tokens(rng, 5, 4), tokens(rng, 5, 4))
    with pytest.raises(ValueError, match="U must be unitary"):
        at.FreeUnitary(4, seed=0).set_unitary(2 * np.eye(4))
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        at.count_parameters([torch.zeros(3)])
