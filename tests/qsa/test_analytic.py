"""Analytic tier: hand-derived values, brute-force definitions, batching, gradients, chance levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from support import TOL_F32, TOL_GRAD, TOL_STATE, random_states, random_unitary

import qsa
from qsa import analytic
from qsa.ansatz import ansatz_unitary


def _brute_force(X, Y, W, V, k, kernel, beta, phases):
    """The definitions of docs/method.md sections 2-4, one loop at a time."""
    T, d = X.shape
    c = analytic.lcu_coefficients(k, beta)
    lam = c.sum() if kernel == "poly" else 1.0
    g = (lambda s: sum(c[p] * s**p for p in range(k + 1)) / lam) if kernel == "poly" else (lambda s: s**k)
    A = np.zeros(T, dtype=complex)
    z = np.zeros((T, d), dtype=complex)
    for j in range(T):
        for i in range(j + 1):
            s = X[j].conj() @ W @ X[i]
            a = Y[j].conj() @ V @ X[i]
            A[j] += a * g(s)
            z[j] += g(s) * (V @ X[i])
    N = T * (T + 1) / 2
    zn2 = np.sum(np.abs(z) ** 2, axis=1)
    coherent = abs(np.sum(np.exp(1j * phases) * A)) ** 2
    p = np.abs(A) ** 2 / zn2
    return {
        "mu": coherent / N**2,
        "zeta": zn2.sum() / (T * N),
        "nu": np.sum(np.abs(A) ** 2) / (T * N),
        "F": coherent / (T * zn2.sum()),
        "L_half": -2 * np.log(np.mean(np.sqrt(p))),
        "L_1": -np.mean(np.log(p)),
        "p": p,
    }


@pytest.mark.parametrize(
    "T, d, k, kernel", [(1, 2, 1, "mono"), (4, 4, 2, "mono"), (5, 8, 3, "poly"), (3, 2, 2, "poly")]
)
def test_batched_closed_forms_equal_the_definitions(T, d, k, kernel, rng):
    X, Y = random_states(rng, T, d), random_states(rng, T, d)
    W, V = random_unitary(rng, d), random_unitary(rng, d)
    phases = rng.uniform(-np.pi, np.pi, size=T)
    got = qsa.observables(X, Y, W, V, k=k, kernel=kernel, phases=phases)
    expected = _brute_force(X, Y, W, V, k, kernel, math.sqrt(d), phases)
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(got, name).numpy(), value, rtol=1e-12, atol=TOL_STATE, err_msg=name)
    np.testing.assert_allclose(got.L_B.numpy(), -np.log(expected["F"]), rtol=1e-12)
    np.testing.assert_allclose(got.L_A.numpy(), -np.log(expected["nu"] / expected["zeta"]), rtol=1e-12)


def test_one_step_identity_maps_and_target_equal_to_token_is_perfect(rng):
    x = random_states(rng, 1, 4)
    o = qsa.observables(x, x, np.eye(4), np.eye(4), k=2)
    for name in ("mu", "zeta", "nu", "F", "p"):
        assert float(getattr(o, name).reshape(-1)[0]) == pytest.approx(1.0, abs=TOL_STATE)
    for name in ("L_B", "L_A", "L_half", "L_1"):
        assert float(getattr(o, name)) == pytest.approx(0.0, abs=TOL_STATE)


def test_two_orthogonal_steps_hand_derived():
    """x = (e0, e1), W = V = I, y = x: A = (1, 1), N = 3, mu = 4/9, zeta = 1/3, F = 1."""
    X = np.eye(2)
    o = qsa.observables(X, X, np.eye(2), np.eye(2), k=1)
    assert float(o.mu) == pytest.approx(4 / 9, abs=TOL_STATE)
    assert float(o.zeta) == pytest.approx(1 / 3, abs=TOL_STATE)
    assert float(o.F) == pytest.approx(1.0, abs=TOL_STATE)
    anti = qsa.observables(X, X, np.eye(2), np.eye(2), k=1, phases=[0.0, np.pi])
    assert float(anti.mu) == pytest.approx(0.0, abs=TOL_STATE)


def test_batch_equals_loop(rng):
    X, Y = random_states(rng, 3, 5, 4), random_states(rng, 3, 5, 4)
    W, V = random_unitary(rng, 4), random_unitary(rng, 4)
    batch = qsa.observables(X, Y, W, V, k=2, kernel="poly", phases="aligned")
    for s in range(3):
        one = qsa.observables(X[s], Y[s], W, V, k=2, kernel="poly", phases="aligned")
        for name, value in one.as_dict().items():
            torch.testing.assert_close(getattr(batch, name)[s], value, rtol=0, atol=TOL_STATE)


def test_sequence_of_a_batch_is_that_sequence_evaluated_alone(rng):
    X, Y = random_states(rng, 3, 5, 4), random_states(rng, 3, 5, 4)
    W = torch.tensor(random_unitary(rng, 4), requires_grad=True)
    V = random_unitary(rng, 4)
    batch = qsa.observables(X, Y, W, V, k=2, kernel="poly")
    for s in (0, 2, -1):
        one = qsa.observables(X[s], Y[s], W, V, k=2, kernel="poly")
        got = batch.sequence(s)
        assert set(got.as_dict()) == set(one.as_dict())  # P0, L_half_circuit stay None
        for name, value in one.as_dict().items():
            assert getattr(got, name).shape == value.shape
            torch.testing.assert_close(getattr(got, name), value, rtol=0, atol=TOL_STATE)
    (grad,) = torch.autograd.grad(batch.sequence(1).L_B, W)  # indexing keeps the graph
    assert torch.count_nonzero(grad) > 0
    with pytest.raises(IndexError):
        batch.sequence(3)


def test_aligned_phases_maximise_mu(rng):
    X, Y = random_states(rng, 6, 4), random_states(rng, 6, 4)
    W, V = random_unitary(rng, 4), random_unitary(rng, 4)
    A = analytic.branch_amplitudes(*(torch.as_tensor(a) for a in (X, Y, W, V)), k=2)
    aligned = qsa.observables(X, Y, W, V, k=2, phases="aligned")
    explicit = qsa.observables(X, Y, W, V, k=2, phases=analytic.aligned_phases(A))
    torch.testing.assert_close(aligned.mu, explicit.mu, rtol=1e-12, atol=0)
    for _ in range(20):
        other = qsa.observables(X, Y, W, V, k=2, phases=rng.uniform(-np.pi, np.pi, size=6))
        assert float(other.mu) <= float(aligned.mu) + TOL_STATE


def test_gradients_match_finite_differences_through_ansatz_and_phases(rng):
    X = torch.tensor(random_states(rng, 4, 4))
    Y = torch.tensor(random_states(rng, 4, 4))
    theta = torch.tensor(rng.uniform(-1, 1, size=(2, 2, 2, 3)), requires_grad=True)
    phases = torch.tensor(rng.uniform(-1, 1, size=4), requires_grad=True)

    def loss(theta, phases):
        W, V = ansatz_unitary(theta[0]), ansatz_unitary(theta[1])
        o = analytic.observables(X, Y, W, V, k=2, kernel="poly", phases=phases)
        return o.L_B + o.L_half + o.L_1

    assert torch.autograd.gradcheck(loss, (theta, phases), atol=TOL_GRAD, rtol=1e-6)


def test_gradient_reaches_the_tokens(rng):
    X = torch.tensor(random_states(rng, 3, 2), requires_grad=True)
    Y = torch.tensor(random_states(rng, 3, 2))
    W, V = (torch.tensor(random_unitary(rng, 2)) for _ in range(2))
    analytic.observables(X, Y, W, V, k=2).L_B.backward()
    assert X.grad is not None and X.grad.abs().sum() > 0


def test_complex64_stays_complex64_and_is_close(rng):
    X, Y = random_states(rng, 5, 4), random_states(rng, 5, 4)
    W, V = random_unitary(rng, 4), random_unitary(rng, 4)
    o64 = qsa.observables(*(torch.tensor(a, dtype=torch.complex64) for a in (X, Y, W, V)), k=2)
    o128 = qsa.observables(X, Y, W, V, k=2)
    assert o64.mu.dtype == torch.float32
    torch.testing.assert_close(o64.L_B.double(), o128.L_B, rtol=TOL_F32, atol=TOL_F32)


def test_superposition_norms_are_the_norms_of_the_loaded_states(rng):
    X = random_states(rng, 4, 2)
    for k in (1, 2):
        n = analytic.superposition_norms(torch.tensor(X), k=k).numpy()
        for j in range(4):
            psi = sum(np.kron(X[i], _power(X[i], k)) for i in range(j + 1))
            assert n[j] == pytest.approx(np.linalg.norm(psi), rel=1e-12)


def _power(x, k):
    out = x
    for _ in range(k - 1):
        out = np.kron(out, x)
    return out


@pytest.mark.parametrize("d", [2, 4, 8, 16])
def test_chance_levels_are_the_beta_expectations(d):
    complex_ = qsa.chance_levels(d)
    real = qsa.chance_levels(d, field="real")
    assert complex_.L_1 == pytest.approx(sum(1 / m for m in range(1, d)), rel=1e-12)  # psi(d) - psi(1) = H_{d-1}
    beta_c = lambda p: (d - 1) * (1 - p) ** (d - 2)  # noqa: E731  Beta(1, d-1)
    assert complex_.L_half == pytest.approx(
        -2 * np.log(integrate.quad(lambda p: np.sqrt(p) * beta_c(p), 0, 1)[0]), rel=1e-9
    )
    a, b = 0.5, (d - 1) / 2
    beta_r = lambda p: (  # noqa: E731  Beta(1/2, (d-1)/2)
        p ** (a - 1) * (1 - p) ** (b - 1) / math.exp(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    )
    assert real.L_1 == pytest.approx(integrate.quad(lambda p: -np.log(p) * beta_r(p), 0, 1, limit=200)[0], rel=1e-7)
    assert real.L_half == pytest.approx(
        -2 * np.log(integrate.quad(lambda p: np.sqrt(p) * beta_r(p), 0, 1)[0]), rel=1e-9
    )
    assert qsa.chance_levels(8).L_1 == pytest.approx(2.5929, abs=1e-4)


def test_chance_level_matches_random_predictions(rng):
    """Random unit predictions in C^8 score L_1 = 2.593 on average (Monte Carlo, 4 standard errors)."""
    z, y = random_states(rng, 200_000, 8), random_states(rng, 200_000, 8)
    losses = -np.log(np.abs(np.sum(y.conj() * z, axis=1)) ** 2)
    assert abs(losses.mean() - qsa.chance_levels(8).L_1) < 4 * losses.std() / math.sqrt(len(losses))


# --- p_j = 0 with a finite loss (issue 11, case 2) -------------------------------------------------

CASE_2_X = np.array([[1, 0], [0.6, 0.8]], dtype=complex)
CASE_2_Y = np.array([[0, 1], [0.8, -0.6j]])


def _case_2_loss(theta: torch.Tensor, field: str = "L_half") -> torch.Tensor:
    W, V = ansatz_unitary(theta[:6].reshape(2, 1, 3)), ansatz_unitary(theta[6:].reshape(2, 1, 3))
    return getattr(analytic.observables(CASE_2_X, CASE_2_Y, W, V, k=1), field)


def test_case_2_l_half_at_a_zero_step_probability_has_a_finite_gradient_equal_to_finite_differences():
    """T = 2, d = 2, zero ansatz angles: p_0 = 0 exactly (y_0 = e_1 is orthogonal to z_0 = x_0 = e_0) and
    L_half = 1.977163. Its gradient is finite and equals the symmetric finite differences (Richardson
    extrapolated: the cone |A_0| makes plain central differences converge only as O(h)), i.e. the
    gradient of -log p_1 (L_half = -2 log(sqrt(p_1) / 2))."""
    theta = torch.zeros(12, dtype=torch.float64, requires_grad=True)
    loss = _case_2_loss(theta)
    assert float(loss) == pytest.approx(1.977163, abs=5e-7)
    p = analytic.observables(CASE_2_X, CASE_2_Y, torch.eye(2), torch.eye(2)).p
    assert float(p[0]) == 0.0
    (grad,) = torch.autograd.grad(loss, theta)
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().max()) > 0.1
    (reference,) = torch.autograd.grad(-torch.log(_case_2_loss(theta, "p")[1]), theta)
    np.testing.assert_allclose(grad, reference, rtol=0, atol=TOL_GRAD)

    def central(h: float) -> np.ndarray:
        with torch.no_grad():
            return np.array(
                [
                    float(_case_2_loss(theta + h * e) - _case_2_loss(theta - h * e)) / (2 * h)
                    for e in torch.eye(12, dtype=torch.float64)
                ]
            )

    np.testing.assert_allclose(grad, 2 * central(5e-6) - central(1e-5), rtol=0, atol=TOL_GRAD)
    params = torch.nn.Parameter(theta.detach().clone())
    optimizer = torch.optim.Adam([params], lr=0.1)
    _case_2_loss(params).backward()
    optimizer.step()  # one Adam step used to turn every angle NaN
    assert bool(torch.isfinite(params).all())


def test_case_2_on_the_model_evaluators_fused_path_and_torch_path():
    """The analytic evaluator's fused NumPy node (small complex128 problems) and its torch path give the
    same finite L_half gradient at p_0 = 0 as qsa.analytic (the fused backward used 1 / sqrt(p): NaN)."""
    from qsa.evaluators import AnalyticEvaluator

    theta = torch.zeros(12, dtype=torch.float64, requires_grad=True)
    (want,) = torch.autograd.grad(_case_2_loss(theta), theta)
    X, Y = (torch.as_tensor(a, dtype=torch.complex128)[None] for a in (CASE_2_X, CASE_2_Y))
    evaluator = AnalyticEvaluator()
    for how in ("evaluate", "_evaluate"):
        tW, tV = (theta.detach()[i : i + 6].reshape(2, 1, 3).clone().requires_grad_(True) for i in (0, 6))
        obs = getattr(evaluator, how)(tW, tV, X, Y, k=1, kernel="mono", beta=None, phases=None)
        assert float(obs.p[0, 0]) == 0.0 and float(obs.L_half[0]) == pytest.approx(1.977163, abs=5e-7)
        got = torch.cat([g.reshape(-1) for g in torch.autograd.grad(obs.L_half.sum(), [tW, tV])])
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL_GRAD, err_msg=how)


@settings(max_examples=10, deadline=None)
@given(
    T=st.integers(1, 5),
    n=st.integers(1, 2),
    k=st.integers(1, 3),
    kernel=st.sampled_from(["mono", "poly"]),
    zero=st.integers(0, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_l_half_gradient_is_finite_where_a_step_probability_is_exactly_zero(T, n, k, kernel, zero, seed):
    """Random instances with p_j = 0 exactly at one step (every key x_i, i <= j, is e_0, the target y_j
    is e_1 and V = I, so A_j = <e_1|V z~_j> = 0): the gradient of L_half w.r.t. W, V and the tokens
    is finite and equals that of the loss with the zero step's term left out."""
    d = 2**n
    rng = np.random.default_rng(seed)
    j = zero % T
    X = random_states(rng, T, d)
    Y = random_states(rng, T, d)
    X[: j + 1] = np.eye(d)[0]  # every key of step j is e_0 ...
    Y[j] = np.eye(d)[1]  # ... and its target e_1: A_j = <e_1| V z~_j> = 0 with V = I
    Xt, Yt = torch.tensor(X, requires_grad=True), torch.tensor(Y, requires_grad=True)
    W = torch.tensor(random_unitary(rng, d), requires_grad=True)
    V = torch.eye(d, dtype=torch.complex128, requires_grad=True)
    obs = analytic.observables(Xt, Yt, W, V, k=k, kernel=kernel)
    assert float(obs.p[j]) == 0.0
    leaves = [Xt, Yt, W, V]
    grads = torch.autograd.grad(obs.L_half, leaves, retain_graph=True)
    keep = torch.arange(T) != j
    others = -2 * torch.log(torch.sqrt(obs.p[keep]).sum() / T) if T > 1 else None
    if others is None:  # the only step has p = 0: L_half is infinite, nothing to compare
        return
    reference = torch.autograd.grad(others, leaves)
    for g, r in zip(grads, reference):
        assert bool(torch.isfinite(g).all())
        np.testing.assert_allclose(g.detach().resolve_conj(), r.detach().resolve_conj(), rtol=0, atol=TOL_GRAD)
