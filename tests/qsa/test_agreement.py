"""The three tiers give the same numbers (docs/method.md section 6).

For a grid of (T, d, k, kernel) with random complex tokens, Haar-random W and V and random query
phases, the analytic closed forms, default.qubit, lightning.qubit, Aer statevector and QSA's torch
statevector simulator agree to 1e-10; Aer with shots (SamplerV2 counts) agrees within a few standard errors at a fixed seed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from support import N_SIGMA, TOL_STATE, random_states, random_unitary

import qsa
from qsa import analytic
from qsa.circuit_tier import build_circuits

FIELDS = ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p")
BACKENDS = ("default.qubit", "lightning.qubit", "aer", "torch")
MAX_GRID_QUBITS = 20


def _instance(seed: int, T: int, d: int, S: int | None = None):
    rng = np.random.default_rng(seed)
    shape = (T, d) if S is None else (S, T, d)
    X, Y = random_states(rng, *shape), random_states(rng, *shape)
    W, V = random_unitary(rng, d), random_unitary(rng, d)
    phases = rng.uniform(-np.pi, np.pi, size=shape[:-1])
    return X, Y, W, V, phases


def _grid():
    """Every grid point that fits in 20 qubits; the widest ones (>= 17 qubits) are marked slow."""
    points = []
    for T, d, k, kernel in itertools.product((1, 2, 3, 4, 5, 8), (2, 4, 8), (1, 2, 3), ("mono", "poly")):
        n = build_circuits(T, d, k=k, kernel=kernel, beta=None, circuit="two_register", phases=True)["mu"].n_qubits
        if n > MAX_GRID_QUBITS:
            continue
        marks = [pytest.mark.slow] if n >= 17 else []
        points.append(pytest.param(T, d, k, kernel, id=f"T{T}-d{d}-k{k}-{kernel}-{n}q", marks=marks))
    return points


@pytest.mark.parametrize("T, d, k, kernel", _grid())
def test_circuit_a_agrees_with_analytic_on_every_backend(T, d, k, kernel):
    X, Y, W, V, phases = _instance(1000 * T + 10 * d + k, T, d)
    expected = analytic.observables(X, Y, W, V, k=k, kernel=kernel, phases=phases)
    for backend in BACKENDS:
        got = qsa.circuit_observables(X, Y, W, V, k=k, kernel=kernel, phases=phases, backend=backend)
        for field in FIELDS:
            np.testing.assert_allclose(
                getattr(got, field),
                getattr(expected, field).numpy(),
                rtol=0,
                atol=TOL_STATE,
                err_msg=f"{field} on {backend}",
            )


@pytest.mark.parametrize("T, d, k", [(1, 2, 1), (3, 2, 2), (4, 4, 1), (5, 4, 2), (8, 2, 3), (5, 8, 1)])
@pytest.mark.parametrize("phases", [None, "aligned", "random"])
def test_circuit_b_agrees_with_analytic_on_every_backend(T, d, k, phases):
    X, Y, W, V, random_phases = _instance(7 * T + d + k, T, d)
    phases = random_phases if phases == "random" else phases
    expected = analytic.superposition_P0(X, Y, W, V, k=k, phases=phases).numpy()
    for backend in BACKENDS:
        got = qsa.circuit_observables(X, Y, W, V, k=k, phases=phases, circuit="superposition", backend=backend)
        np.testing.assert_allclose(got.P0, expected, rtol=0, atol=TOL_STATE, err_msg=backend)
        np.testing.assert_allclose(got.L_half_circuit, -np.log(expected), rtol=1e-9, err_msg=backend)
        assert got.mu is None and got.L_B is None


def test_circuit_b_with_aligned_phases_is_renyi_half_of_post_selected_probabilities():
    """-log P0 = -2 log mean_j |A_j| / n_j (docs/method.md section 5)."""
    X, Y, W, V, _ = _instance(3, 5, 4)
    got = qsa.circuit_observables(X, Y, W, V, k=2, phases="aligned", circuit="superposition", backend="lightning.qubit")
    A = analytic.branch_amplitudes(*(torch.as_tensor(a) for a in (X, Y, W, V)), k=2)
    sqrt_p = (A.abs() / analytic.superposition_norms(torch.as_tensor(X), k=2)).numpy()
    np.testing.assert_allclose(got.L_half_circuit, -2 * np.log(sqrt_p.mean()), rtol=0, atol=TOL_STATE)


def test_batch_of_sequences_equals_one_by_one():
    X, Y, W, V, phases = _instance(11, 3, 4, S=3)
    batch = qsa.circuit_observables(X, Y, W, V, k=2, phases=phases, backend="aer")
    for s in range(3):
        one = qsa.circuit_observables(X[s], Y[s], W, V, k=2, phases=phases[s], backend="default.qubit")
        for field in FIELDS:
            np.testing.assert_allclose(getattr(batch, field)[s], getattr(one, field), rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("kernel", ["mono", "poly"])
def test_aer_shots_agree_within_standard_errors(kernel):
    """SamplerV2 counts: mu, zeta, nu within N_SIGMA binomial standard errors of the exact values."""
    shots = 20_000
    X, Y, W, V, phases = _instance(5, 4, 4, S=3)
    exact = analytic.observables(X, Y, W, V, k=2, kernel=kernel, phases=phases)
    got = qsa.circuit_observables(X, Y, W, V, k=2, kernel=kernel, phases=phases, backend="aer", shots=shots, seed=42)
    for field in ("mu", "zeta", "nu"):
        p = getattr(exact, field).numpy()
        stderr = np.sqrt(p * (1 - p) / shots)
        z = (getattr(got, field) - p) / stderr
        assert np.all(np.abs(z) < N_SIGMA), f"{field}: z-scores {z}"
    again = qsa.circuit_observables(X, Y, W, V, k=2, kernel=kernel, phases=phases, backend="aer", shots=shots, seed=42)
    np.testing.assert_array_equal(got.mu, again.mu)  # a fixed seed repeats


def test_shots_on_pennylane_device_agree_within_standard_errors():
    shots = 20_000
    X, Y, W, V, _ = _instance(6, 3, 2)
    exact = analytic.observables(X, Y, W, V, k=1)
    got = qsa.circuit_observables(X, Y, W, V, k=1, backend="default.qubit", shots=shots, seed=3)
    for field in ("mu", "zeta", "nu"):
        p = float(getattr(exact, field))
        assert abs(getattr(got, field) - p) < N_SIGMA * np.sqrt(p * (1 - p) / shots), field
