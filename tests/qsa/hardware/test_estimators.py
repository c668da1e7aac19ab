"""Counts -> cells (bit order), multinomial covariance, delta-method error bars and the estimator policy
(issue 11, case 1: empty cells give finite, bounded estimates)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit.primitives import BitArray
from support import TOL_STATE, binomial_pairs

import qsa
from qsa import analytic
from qsa.hardware.estimators import cell_covariance, cell_observables, estimate, smoothed, zero_cells


def test_zero_cells_reads_the_index_register_first():
    # two parameter sets, 3 bits (1 index wire, 2 zero wires), bitstrings in wire order
    counts = [{"000": 5, "100": 3, "101": 2}, {"110": 4, "000": 1, "111": 5}]
    arr = BitArray.from_counts(counts, num_bits=3)
    assert arr.shape == (2,)
    np.testing.assert_array_equal(zero_cells(arr, 1, 2), [[5, 3], [1, 0]])
    np.testing.assert_array_equal(zero_cells(arr, 0, 3), [[5], [1]])
    np.testing.assert_array_equal(zero_cells(arr, 2, 1), [[5, 0, 3, 0], [1, 0, 0, 4]])


def test_zero_cells_rejects_a_wrong_width():
    arr = BitArray.from_counts({"01": 3}, num_bits=2)
    with pytest.raises(ValueError, match="must have 3 bits"):
        zero_cells(arr, 1, 2)


def test_cell_covariance_is_multinomial():
    cov = cell_covariance(np.array([0.2, 0.3]), 100)
    np.testing.assert_allclose(cov, [[0.16 / 100, -0.06 / 100], [-0.06 / 100, 0.21 / 100]])


def _cells(rng, S, T):
    X = torch.as_tensor(np.exp(1j * rng.normal(size=(S, T, 2))) / np.sqrt(2))
    Y = torch.as_tensor(np.exp(1j * rng.normal(size=(S, T, 2))) / np.sqrt(2))
    W = torch.linalg.qr(torch.randn(2, 2, dtype=torch.complex128, generator=torch.Generator().manual_seed(1)))[0]
    exact = analytic.observables(X, Y, W, W, k=1)
    N = T * (T + 1) / 2
    A = analytic.branch_amplitudes(X, Y, W, W, k=1)
    z2 = (analytic.predictions(X, W, W, k=1).abs() ** 2).sum(-1)
    zeta_j = (z2 / (T * N)).numpy()
    nu_j = (A.abs() ** 2 / (T * N)).numpy()
    return exact, {"mu": exact.mu.numpy()[:, None], "zeta": zeta_j, "nu": nu_j}


def test_exact_cells_give_the_analytic_observables_and_zero_errors(rng):
    exact, cells = _cells(rng, 3, 4)
    est = estimate(cells, T=4, shots=None)
    for name in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        np.testing.assert_allclose(getattr(est.value, name), getattr(exact, name).numpy(), rtol=0, atol=TOL_STATE)
        assert np.all(getattr(est.stderr, name) == 0)


def test_delta_method_errors_match_the_spread_of_multinomial_estimates(rng):
    """Sample cell counts many times (numpy multinomials): the empirical spread of every derived
    field matches the propagated standard error within 10 %."""
    T, shots, repeats = 3, 200_000, 400
    _, cells = _cells(rng, 1, T)
    sampler = np.random.default_rng(7)
    draws = {"mu": [], "zeta": [], "nu": []}
    for name in draws:
        p = cells[name][0]
        probs = np.append(p, 1 - p.sum())
        draws[name] = sampler.multinomial(shots, probs, size=repeats)[:, :-1] / shots
    est = estimate(draws, T=T, shots=shots)  # the repeats as a batch of sequences
    values = {f: getattr(est.value, f) for f in ("mu", "F", "L_B", "L_A", "L_half", "L_1")}
    reference = estimate(cells, T=T, shots=shots)  # errors at the true cells
    for f, v in values.items():
        spread = np.std(v, ddof=1)
        predicted = getattr(reference.stderr, f)[0]
        assert abs(spread / predicted - 1) < 0.1, (f, spread, predicted)


def test_circuit_b_error_bars():
    shots = 400
    est = estimate({"P0": np.array([[0.25]])}, T=3, shots=shots)
    q = (0.25 * shots + 0.5) / (shots + 1)  # the Jeffreys-smoothed cell
    assert est.value.P0[0] == pytest.approx(q, rel=1e-15)
    assert est.stderr.P0[0] == pytest.approx(shots / (shots + 1) * np.sqrt(q * (1 - q) / shots), rel=1e-12)
    assert est.stderr.L_half_circuit[0] == pytest.approx(est.stderr.P0[0] / q, rel=1e-12)
    assert est.value.mu is None


def test_an_empty_cell_gives_finite_values_and_error_bars():
    """A zero count in one nu_j and one zeta_j: every field and every error bar is finite, with the
    empty cells at their smoothed value 1/2 / (shots + 1)."""
    T, shots = 3, 1000
    cells = {
        "mu": np.array([[0.2, 0.1]]),
        "zeta": np.array([[0.1, 0.0, 0.1, 0.0]]),
        "nu": np.array([[0.05, 0.0, 0.1, 0.0]]),
    }
    est = estimate(cells, T=T, shots=shots)
    for field in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        assert np.all(np.isfinite(getattr(est.value, field))), field
        assert np.all(np.isfinite(getattr(est.stderr, field))) and np.all(getattr(est.stderr, field) > 0), field
    empty = 0.5 / (shots + 1)
    assert est.value.p[0, 1] == pytest.approx(empty / empty, rel=1e-15)  # nu_1 = zeta_1: p_1 = 1, bounded
    q_mu = (0.2 * shots + 0.5) / (shots + 1)
    np.testing.assert_allclose(est.stderr.mu, shots / (shots + 1) * np.sqrt(q_mu * (1 - q_mu) / shots), rtol=1e-12)


def test_smoothing_bias_is_the_stated_one():
    """E[(n + 1/2) / (shots + 1)] - q = (1/2 - q) / (shots + 1) for n ~ Binomial(shots, q), summed exactly."""
    from scipy.special import gammaln

    for shots, q in ((2000, 3e-4), (2000, 0.3), (50, 0.9)):
        n = np.arange(shots + 1)
        pmf = np.exp(
            gammaln(shots + 1) - gammaln(n + 1) - gammaln(shots - n + 1) + n * np.log(q) + (shots - n) * np.log1p(-q)
        )
        mean = float((pmf * smoothed(n / shots, shots)).sum())
        assert mean - q == pytest.approx((0.5 - q) / (shots + 1), rel=0, abs=1e-11)  # the pmf sums to 1 +- 1e-13


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    T=st.integers(1, 5),
    shots=st.integers(1, 5000),
    seed=st.integers(0, 2**32 - 1),
    empty=st.sets(st.integers(0, 10), max_size=6),
)
def test_every_estimate_is_finite_and_in_its_range_with_cells_forced_empty(T, shots, seed, empty):
    """Random frequencies (nu_j > zeta_j and F > 1 allowed, as sampling gives them) with cells forced
    empty: values finite and in range (0 < p_j <= 1, 0 < F <= 1, losses >= 0), error bars finite,
    and the torch path's gradient finite."""
    rng = np.random.default_rng(seed)
    width = 2 ** max(1, (T - 1).bit_length())
    cells = {
        "mu": rng.uniform(0, 1, (2, 1)),
        "zeta": rng.uniform(0, 1 / T, (2, width)),
        "nu": rng.uniform(0, 1 / T, (2, width)),
    }
    names = [("mu", 0)] + [(v, j) for v in ("zeta", "nu") for j in range(T)]
    for e in empty:
        name, j = names[e % len(names)]
        cells[name][:, j] = 0.0
    cells = {k: np.round(v * shots) / shots for k, v in cells.items()}  # frequencies of a whole number of shots
    est = estimate(cells, T=T, shots=shots)
    v = est.value
    for field in ("F", "L_B", "L_A", "L_half", "L_1", "p"):
        assert np.all(np.isfinite(getattr(v, field))) and np.all(np.isfinite(getattr(est.stderr, field))), field
    assert np.all((v.p > 0) & (v.p <= 1 + TOL_STATE)) and np.all((v.F > 0) & (v.F <= 1 + TOL_STATE))  # rounding
    assert all(np.all(getattr(v, f) >= -TOL_STATE) for f in ("L_B", "L_A", "L_half", "L_1"))
    q = {k: torch.tensor(c, requires_grad=True) for k, c in cells.items()}
    obs = cell_observables(q["mu"][:, 0], q["zeta"][:, :T], q["nu"][:, :T], shots=shots)
    grads = torch.autograd.grad((obs.L_B + obs.L_half + obs.L_1).sum(), list(q.values()))
    assert all(bool(torch.isfinite(g).all()) for g in grads)


# --- issue 11, case 1: an instance with exact mu = 5e-5 at 2000 shots -------------------------------

MU = 5e-5
CASE_1 = (  # T = 1, d = 2: x = e_0, W = V = I, y at angle asin(sqrt(MU)) from the prediction: mu = nu = F = MU
    np.array([[1.0, 0.0]]),
    np.array([[np.sqrt(MU), np.sqrt(1 - MU)]]),
)


def test_case_1_an_empty_mu_cell_gives_the_smoothed_value_not_infinity():
    """At 2000 shots the mu and nu cells are empty 90 % of the time (F = 0, L_B = inf and p_0 = 0,
    L_1 = inf before): the estimate is the smoothed cell 1/2 / 2001, every field finite with an error bar."""
    X, Y = CASE_1
    assert float(qsa.observables(X, Y, np.eye(2), np.eye(2)).mu) == pytest.approx(MU, rel=1e-12)
    shots = 2000
    est = qsa.circuit_estimate(X, Y, np.eye(2), np.eye(2), backend="torch", shots=shots, seed=0)
    empty = 0.5 / (shots + 1)
    assert est.value.mu == empty and est.value.nu == empty  # seed 0: both cells empty
    zeta = est.value.zeta
    assert est.value.L_B == pytest.approx(-np.log(empty / zeta), rel=1e-12)  # F = (T+1)/(2T) mu / zeta, T = 1
    assert est.value.L_1 == pytest.approx(-np.log(empty / zeta), rel=1e-12)
    for field in ("mu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        assert np.all(np.isfinite(getattr(est.value, field))) and np.all(getattr(est.stderr, field) > 0), field


def test_case_1_a_zero_count_in_a_training_batch_gives_a_finite_loss_and_gradient():
    """The hardware evaluator on the same instance with ansatz angles 0 (W = V = I): L_B, L_half and L_1
    and their gradients finite, and an Adam step keeps every angle finite."""
    from qsa.hardware import ExactRunner, HardwareEvaluator

    X, Y = (torch.as_tensor(a, dtype=torch.complex128) for a in CASE_1)
    params = {name: torch.zeros(1, 1, 3, dtype=torch.float64, requires_grad=True) for name in ("theta_W", "theta_V")}
    evaluator = HardwareEvaluator(ExactRunner(shots=2000, seed=0))
    obs = evaluator(params, X, Y, k=1)
    assert float(obs.mu) == 0.5 / 2001  # the empty cell, smoothed
    loss = obs.L_B + obs.L_half + obs.L_1
    loss.backward()
    assert bool(torch.isfinite(loss)) and all(bool(torch.isfinite(p.grad).all()) for p in params.values())
    optimizer = torch.optim.Adam(params.values(), lr=0.1)
    optimizer.step()
    assert all(bool(torch.isfinite(p).all()) for p in params.values())


# --- the policy's gradient where the bound is active: p_j near 1 ---------------------------------------
# Exact expectations over every outcome of the counts (weighted by its binomial probability, no sampling),
# against the closed form of the smoothed, unbounded estimator's gradient. A min() that cuts the gradient
# where the sampled nu_j exceeds zeta_j (or mu exceeds 2T/(T+1) zeta) loses a third of it here.

NEAR_1 = {"shots": 40, "mu": 0.285, "zeta": 0.3, "nu": 0.27}  # T = 1: p_0 = 0.9, F = 0.95


def _outcomes(first: str, second: str):
    """Every pair of counts of two of the circuits at NEAR_1 (:func:`support.binomial_pairs`)."""
    a, b, weights, inverse = binomial_pairs(NEAR_1["shots"], NEAR_1[first], NEAR_1[second])
    return {first: a, second: b}, weights, {first: inverse["first"], second: inverse["second"]}


def test_the_mean_shot_gradient_near_p_1_is_that_of_the_unbounded_smoothed_cells():
    """L_1 = -log(nu / zeta) and L_B = -log(mu / zeta) at T = 1, 40 shots, p_0 = 0.9, F = 0.95: the sampled
    nu_0 (mu) exceeds zeta_0 in a third of the draws, where the bounded value is 0. The exact mean of the
    policy's gradient w.r.t. the frequencies is E[d L / d q] = -+ (N / (N + 1)) E[1 / tilde q]."""
    N = NEAR_1["shots"]
    slope = N / (N + 1)  # d tilde q / d (n / N)
    for loss, (first, second), fixed in (("L_1", ("zeta", "nu"), "mu"), ("L_B", ("mu", "zeta"), "nu")):
        freqs, weights, inverse = _outcomes(first, second)
        S = len(weights)
        q = {c: torch.tensor(f, requires_grad=True) for c, f in freqs.items()}
        q[fixed] = torch.full((S,), round(NEAR_1[fixed] * N) / N, dtype=torch.float64, requires_grad=True)
        obs = cell_observables(q["mu"], q["zeta"][:, None], q["nu"][:, None], shots=N)
        value = getattr(obs, loss)
        active = (q["nu"] > q["zeta"]) if loss == "L_1" else (q["mu"] > q["zeta"])
        assert 0.25 < float(weights @ active.numpy()) < 0.5  # the bound is active in a third of the draws
        assert bool((value[active] == 0).all())  # ... where the value is the bounded one
        leaves = [q["mu"], q["zeta"], q["nu"]]
        grads = torch.autograd.grad((torch.as_tensor(weights) * value).sum(), leaves, allow_unused=True)
        got = dict(zip(("mu", "zeta", "nu"), (0.0 if g is None else float(g.sum()) for g in grads)))
        want = {"mu": 0.0, "zeta": slope * inverse["zeta"], "nu": 0.0}
        want["nu" if loss == "L_1" else "mu"] = -slope * inverse["nu" if loss == "L_1" else "mu"]
        for c in got:
            assert got[c] == pytest.approx(want[c], rel=TOL_STATE, abs=TOL_STATE), (loss, c)


def test_error_bars_where_the_bound_is_active_are_those_of_the_unbounded_cells():
    """A sampled nu_0 above zeta_0 gives p_0 = 1 (bounded) with the delta-method error of nu / zeta at the
    smoothed cells, not 0 (a min() has derivative 0 there)."""
    N = 40
    cells = {"mu": np.array([[0.2]]), "zeta": np.array([[0.25, 0.0]]), "nu": np.array([[0.3, 0.0]])}
    est = estimate(cells, T=1, shots=N)
    z, v = smoothed(0.25, N), smoothed(0.3, N)
    assert est.value.p[0, 0] == 1.0 and est.value.L_1[0] == 0.0
    want = N / (N + 1) * (v / z) * np.sqrt((1 - v) / (N * v) + (1 - z) / (N * z))  # binomial cells, T = 1
    assert est.stderr.p[0, 0] == pytest.approx(want, rel=1e-12)
    assert est.stderr.L_1[0] == pytest.approx(want / (v / z), rel=1e-12)
