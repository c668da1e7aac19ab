"""Counts -> cells (bit order), multinomial covariance and delta-method error bars."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.primitives import BitArray
from support import TOL_STATE

from qsa import analytic
from qsa.hardware.estimators import cell_covariance, estimate, zero_cells


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
    est = estimate({"P0": np.array([[0.25]])}, T=3, shots=400)
    assert est.value.P0[0] == 0.25 and est.stderr.P0[0] == pytest.approx(np.sqrt(0.25 * 0.75 / 400))
    assert est.stderr.L_half_circuit[0] == pytest.approx(est.stderr.P0[0] / 0.25)
    assert est.value.mu is None


def test_an_empty_cell_leaves_the_other_error_bars_finite():
    """A zero count in one nu_j (p_j = 0, L_1 infinite) must not turn mu, F or L_B's errors into NaN."""
    T = 3
    cells = {
        "mu": np.array([[0.2, 0.1]]),
        "zeta": np.array([[0.1, 0.2, 0.1, 0.0]]),
        "nu": np.array([[0.05, 0.0, 0.1, 0.0]]),
    }
    est = estimate(cells, T=T, shots=1000)
    for field in ("mu", "zeta", "nu", "F", "L_B", "L_A"):
        assert np.all(np.isfinite(getattr(est.stderr, field))), field
    np.testing.assert_allclose(est.stderr.mu, np.sqrt(0.2 * 0.8 / 1000), rtol=1e-12)
    assert np.isinf(est.value.L_1[0])  # the empty cell itself is reported honestly
