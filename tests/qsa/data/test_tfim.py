"""TFIM Hamiltonian, exact and Trotter evolution, initial states, trajectories and data sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from support import TOL_STATE

import qsa.data.tfim as tf
from qsa.data.tfim import (
    TFIMConfig,
    chain_bonds,
    exact_unitary,
    initial_states,
    random_tfim,
    reference_tfim_config,
    tfim_data,
    tfim_sequences,
    trajectories,
    transverse_ising,
    trotter_unitary,
)

X = np.array([[0, 1], [1, 0]], dtype=complex)
Z = np.diag([1.0, -1.0]).astype(complex)
I2 = np.eye(2)


def kron(*ops):
    out = np.eye(1)
    for op in ops:
        out = np.kron(out, op)
    return out


# --- Hamiltonian ---------------------------------------------------------------------------------


def test_one_qubit_hamiltonian_and_unitary_closed_form():
    h, dt = 0.8, 0.35
    model = transverse_ising(1, h=h)
    np.testing.assert_allclose(model.matrix(), [[0, -h], [-h, 0]], atol=0, rtol=0)
    # exp(i h dt X) = cos(h dt) I + i sin(h dt) X
    U = exact_unitary(model, dt)
    expected = math.cos(h * dt) * I2 + 1j * math.sin(h * dt) * X
    np.testing.assert_allclose(U, expected, atol=TOL_STATE, rtol=0)


def test_two_site_chain_spectrum():
    # symmetric sector block [[-J, -2h], [-2h, J]] gives +-sqrt(J^2 + 4h^2); |00>-|11> gives -J;
    # the singlet (|01>-|10>) gives +J.
    h, J = 0.7, 1.3
    E = np.linalg.eigvalsh(transverse_ising(2, h=h, J=J).matrix())
    r = math.sqrt(J**2 + 4 * h**2)
    np.testing.assert_allclose(E, sorted([-r, -J, J, r]), atol=TOL_STATE, rtol=0)


def test_qubit_zero_is_the_most_significant_bit():
    h = 0.9
    H = transverse_ising(2, h=[h, 0.0], J=0.0).matrix()
    np.testing.assert_allclose(H, -h * kron(X, I2), atol=0, rtol=0)
    # J on bond (0, 1) of 3 qubits: -J z0 z1, z0 z1 = +1 iff bits 0 and 1 (the two leading bits) agree
    J = 1.7
    d = transverse_ising(3, h=0.0, J=[J, 0.0]).zz_diagonal()
    np.testing.assert_allclose(d, -J * np.array([1, 1, -1, -1, -1, -1, 1, 1]), atol=0, rtol=0)


def test_matrix_equals_sum_of_kronecker_terms_with_per_site_and_per_bond_values():
    h = np.array([0.3, -0.5, 1.1])
    J = np.array([0.7, -1.2, 0.4])
    model = transverse_ising(3, h=h, J=J, topology="periodic")
    assert model.bonds == ((0, 1), (1, 2), (2, 0))
    ops = lambda q, P: kron(*[P if k == q else I2 for k in range(3)])  # noqa: E731
    expected = -sum(h[q] * ops(q, X) for q in range(3))
    expected = expected - sum(Jb * ops(q, Z) @ ops(r, Z) for Jb, (q, r) in zip(J, model.bonds))
    np.testing.assert_allclose(model.matrix(), expected, atol=1e-15, rtol=0)


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_bond_counts(n):
    assert len(chain_bonds(n, "open")) == n - 1
    assert len(chain_bonds(n, "periodic")) == n
    assert len(chain_bonds(n, "all")) == n * (n - 1) // 2
    assert set(chain_bonds(n, "periodic")) - set(chain_bonds(n, "open")) == {(n - 1, 0)}


def test_limits_ferromagnet_and_free_spins():
    rng = np.random.default_rng(3)
    J = rng.uniform(0.2, 2.0, size=6)
    E = np.linalg.eigvalsh(transverse_ising(4, h=0.0, J=J, topology="all").matrix())
    np.testing.assert_allclose(E[:2], [-J.sum()] * 2, atol=TOL_STATE, rtol=0)  # all up / all down
    h = rng.uniform(-2.0, 2.0, size=4)
    E = np.linalg.eigvalsh(transverse_ising(4, h=h, J=0.0).matrix())
    np.testing.assert_allclose(E[0], -np.abs(h).sum(), atol=TOL_STATE, rtol=0)


def test_explicit_bonds_and_random_couplings():
    model = transverse_ising(4, J=[1.0, 2.0], topology=[(0, 3), (1, 2)])
    assert model.topology == "custom" and model.bonds == ((0, 3), (1, 2))
    a = random_tfim(4, topology="all", seed=5, h_range=(0.2, 0.4), J_range=(1.0, 3.0))
    b = random_tfim(4, topology="all", seed=5, h_range=(0.2, 0.4), J_range=(1.0, 3.0))
    c = random_tfim(4, topology="all", seed=6, h_range=(0.2, 0.4), J_range=(1.0, 3.0))
    np.testing.assert_array_equal(a.h, b.h)
    np.testing.assert_array_equal(a.J, b.J)
    assert not np.array_equal(a.J, c.J)
    assert a.J.shape == (6,) and np.all((a.h >= 0.2) & (a.h <= 0.4)) and np.all((a.J >= 1.0) & (a.J <= 3.0))
    assert a.as_dict()["bonds"][0] == [0, 1]
    with pytest.raises(ValueError, match="read-only"):
        a.h[0] = 5.0


def test_exact_unitary_is_unitary_and_matches_spectral_exponential():
    model = random_tfim(4, topology="periodic", seed=2)
    U = exact_unitary(model, 0.35)
    np.testing.assert_allclose(U.conj().T @ U, np.eye(16), atol=TOL_STATE, rtol=0)
    E, V = np.linalg.eigh(model.matrix())
    np.testing.assert_allclose(U, (V * np.exp(-0.35j * E)) @ V.conj().T, atol=TOL_STATE, rtol=0)


# --- Trotter ---------------------------------------------------------------------------------------


def _comm(a, b):
    return a @ b - b @ a


def test_trotter_single_step_errors_match_bch_leading_terms():
    model = random_tfim(3, topology="periodic", seed=1)
    A, B = model.parts()  # H_X, H_ZZ
    c1 = np.linalg.norm(_comm(B, A), 2) / 2
    c2 = np.linalg.norm(_comm(A, _comm(A, B)) / 24 - _comm(B, _comm(B, A)) / 12, 2)
    for tau in (0.02, 0.01):
        exact = scipy.linalg.expm(-1j * tau * (A + B))
        e1 = np.linalg.norm(trotter_unitary((A, B), tau, order=1) - exact, 2)
        e2 = np.linalg.norm(trotter_unitary((A, B), tau, order=2) - exact, 2)
        # relative corrections are O(tau^2) (about 1e-3 at tau = 0.1 here)
        np.testing.assert_allclose(e1 / (c1 * tau**2), 1.0, atol=1e-3, rtol=0)
        np.testing.assert_allclose(e2 / (c2 * tau**3), 1.0, atol=1e-3, rtol=0)


def test_trotter_global_error_falls_as_one_over_steps_and_its_square():
    model = transverse_ising(3, h=1.0, J=1.0)
    exact = exact_unitary(model, 0.35)
    err = {
        (order, n): np.linalg.norm(trotter_unitary(model.parts(), 0.35, n, order=order) - exact, 2)
        for order in (1, 2)
        for n in (8, 16)
    }
    np.testing.assert_allclose(err[1, 8] / err[1, 16], 2.0, rtol=0.02)
    np.testing.assert_allclose(err[2, 8] / err[2, 16], 4.0, rtol=0.02)


def test_trotter_is_exact_when_parts_commute():
    model = transverse_ising(3, h=0.0, J=[0.4, 1.3])
    U = trotter_unitary(model.parts(), 0.7, 1, order=1)
    np.testing.assert_allclose(U, exact_unitary(model, 0.7), atol=TOL_STATE, rtol=0)


# --- states and trajectories -----------------------------------------------------------------------


def test_one_qubit_trajectory_closed_form():
    h, dt, T = 1.0, 0.35, 6
    states = trajectories(exact_unitary(transverse_ising(1, h=h), dt), np.array([1.0, 0.0]), T)
    j = np.arange(T + 1)
    expected = np.stack([np.cos(j * h * dt), 1j * np.sin(j * h * dt)], axis=-1)
    np.testing.assert_allclose(states[0], expected, atol=TOL_STATE, rtol=0)


def test_trajectories_are_powers_of_U_and_keep_the_norm():
    model = random_tfim(3, seed=4)
    U = exact_unitary(model, 0.35)
    psi0 = initial_states(2, 3, seed=1)
    states = trajectories(U, psi0, 16)
    assert states.shape == (2, 17, 8)
    for j in (0, 1, 7, 16):
        np.testing.assert_allclose(states[:, j], psi0 @ np.linalg.matrix_power(U, j).T, atol=TOL_STATE, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(states, axis=-1), 1.0, atol=TOL_STATE, rtol=0)


@pytest.mark.parametrize("kind", ["haar", "basis", "product"])
def test_initial_states_are_unit_seeded_and_of_their_kind(kind):
    psi = initial_states(50, 3, kind=kind, seed=7)
    assert psi.shape == (50, 8) and psi.dtype == np.complex128
    np.testing.assert_allclose(np.linalg.norm(psi, axis=-1), 1.0, atol=TOL_STATE, rtol=0)
    np.testing.assert_array_equal(psi, initial_states(50, 3, kind=kind, seed=7))
    assert not np.array_equal(psi, initial_states(50, 3, kind=kind, seed=8))
    if kind == "basis":
        assert np.all(np.sort(np.abs(psi), axis=-1)[:, -1] == 1.0) and np.all(np.count_nonzero(psi, axis=-1) == 1)
    if kind == "product":
        # a product state has Schmidt rank 1 across every cut
        for cut in (2, 4):
            s = np.linalg.svd(psi.reshape(50, cut, 8 // cut), compute_uv=False)
            np.testing.assert_allclose(s[:, 1:], 0.0, atol=TOL_STATE, rtol=0)


def test_haar_states_have_uniform_mean_weights():
    psi = initial_states(4000, 2, kind="haar", seed=0)
    w = np.abs(psi) ** 2  # each weight ~ Beta(1, 3): mean 1/4, variance 3/80
    se = math.sqrt(3 / 80 / 4000)
    assert np.all(np.abs(w.mean(0) - 0.25) < 4 * se)


def test_tfim_sequences_targets_are_next_tokens_and_meta_records_the_model():
    model = transverse_ising(3, h=1.0, J=1.0)
    seqs = tfim_sequences(model, dt=0.35, T=5, n_sequences=3, seed=9)
    assert seqs.X.shape == (3, 5, 8) and seqs.field == "complex" and seqs.dtype == torch.complex128
    torch.testing.assert_close(seqs.X[:, 1:], seqs.Y[:, :-1], rtol=0, atol=0)
    U = torch.as_tensor(exact_unitary(model, 0.35))
    torch.testing.assert_close(seqs.Y, seqs.X @ U.T, rtol=0, atol=TOL_STATE)
    assert seqs.meta["hamiltonian"]["h"] == [1.0, 1.0, 1.0] and seqs.meta["dt"] == 0.35 and seqs.meta["seed"] == 9
    assert tfim_sequences(model, dt=0.35, T=5, n_sequences=3, seed=9, dtype=torch.complex64).dtype == torch.complex64


def test_reference_config_and_data_set():
    cfg = reference_tfim_config()
    assert (cfg.n_qubits, cfg.h, cfg.J, cfg.dt, cfg.T, cfg.n_train, cfg.n_test, cfg.initial, cfg.topology) == (
        3,
        1.0,
        1.0,
        0.35,
        16,
        4,
        4,
        "haar",
        "open",
    )
    data = tfim_data(cfg, seed=0)
    assert data.train.X.shape == (4, 16, 8) and data.test.X.shape == (4, 16, 8)
    assert not torch.equal(data.train.X[:, 0], data.test.X[:, 0])
    U = torch.as_tensor(exact_unitary(transverse_ising(3), 0.35))
    torch.testing.assert_close(data.test.Y, data.test.X @ U.T, rtol=0, atol=TOL_STATE)
    assert len(data.heldout_hamiltonians) == cfg.n_heldout_hamiltonians
    for held in data.heldout_hamiltonians:
        ham = held.meta["hamiltonian"]
        assert ham["h"] != [1.0, 1.0, 1.0]
        other = transverse_ising(3, h=ham["h"], J=ham["J"])
        torch.testing.assert_close(
            held.Y, held.X @ torch.as_tensor(exact_unitary(other, 0.35)).T, rtol=0, atol=TOL_STATE
        )
    again = tfim_data(cfg, seed=0)
    torch.testing.assert_close(again.train.X, data.train.X, rtol=0, atol=0)
    assert not torch.equal(tfim_data(cfg, seed=1).train.X, data.train.X)
    fewer = tfim_data(TFIMConfig(n_heldout_hamiltonians=0), seed=0)
    torch.testing.assert_close(fewer.train.X, data.train.X, rtol=0, atol=0)
    torch.testing.assert_close(fewer.test.X, data.test.X, rtol=0, atol=0)


def _evolves_under(seqs, hamiltonian: dict, dt: float) -> None:
    model = transverse_ising(
        hamiltonian["n_qubits"],
        h=hamiltonian["h"],
        J=hamiltonian["J"],
        topology=[tuple(b) for b in hamiltonian["bonds"]],
    )
    U = torch.as_tensor(exact_unitary(model, dt))
    torch.testing.assert_close(seqs.Y, seqs.X @ U.T, rtol=0, atol=TOL_STATE)


def test_random_couplings_draw_a_new_hamiltonian_every_few_sequences():
    # the QSA authors' first version: all-to-all J_ij ~ U[0, 1], redrawn every 10 sequences (here 3), h fixed
    cfg = TFIMConfig(
        n_qubits=3,
        T=4,
        n_train=7,
        n_test=3,
        topology="all",
        couplings="random",
        sequences_per_hamiltonian=3,
        n_heldout_hamiltonians=1,
        heldout_J_range=(1.0, 2.0),
    )
    data = tfim_data(cfg, seed=0)
    hams = data.train.meta["hamiltonians"]
    assert len(data.train) == 7 and len(hams) == 3 and data.train.meta["sequences_per_hamiltonian"] == 3
    for g, ham in enumerate(hams):  # sequences 0-2, 3-5, 6 under their own draw
        assert ham["h"] == [1.0, 1.0, 1.0] and len(ham["J"]) == 3 and all(0.0 <= J <= 1.0 for J in ham["J"])
        _evolves_under(data.train[g * 3 : g * 3 + 3], ham, cfg.dt)
    assert len({tuple(h["J"]) for h in hams}) == 3
    (test_ham,) = data.test.meta["hamiltonians"]
    assert test_ham["J"] not in [h["J"] for h in hams]
    (held,) = data.heldout_hamiltonians
    assert all(1.0 <= J <= 2.0 for J in held.meta["hamiltonian"]["J"]) and held.meta["hamiltonian"]["h"] == [1.0] * 3
    _evolves_under(held, held.meta["hamiltonian"], cfg.dt)
    again = tfim_data(cfg, seed=0)
    torch.testing.assert_close(again.train.X, data.train.X, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs, h_range, J_range",
    [
        ({}, (0.5, 1.5), (0.5, 1.5)),  # the reference: unchanged
        ({"h": 2.0, "J": -1.0}, (1.0, 3.0), (-1.5, -0.5)),  # follows the training couplings and their sign
        ({"heldout_J_range": (-1.0, 0.0)}, (0.5, 1.5), (-1.0, 0.0)),
        ({"couplings": "random", "J_range": (0.0, 1.0)}, (1.0, 1.0), (0.0, 1.0)),  # new draws of the training law
        ({"couplings": "random", "h_range": (0.2, 0.4)}, (0.2, 0.4), (0.0, 1.0)),
    ],
)
def test_heldout_ranges_follow_the_training_couplings_unless_given(kwargs, h_range, J_range):
    cfg = TFIMConfig(**kwargs)
    assert cfg.heldout_ranges() == (h_range, J_range)
    if not kwargs:
        ham = tfim_data(TFIMConfig(n_qubits=2, T=2, n_train=1, n_test=1, n_heldout_hamiltonians=1), seed=3)
        assert all(0.5 <= v <= 1.5 for v in ham.heldout_hamiltonians[0].meta["hamiltonian"]["J"])


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: transverse_ising(0), ValueError, "n_qubits must be >= 1; got 0"),
        (lambda: transverse_ising(tf.MAX_QUBITS + 1), ValueError, f"n_qubits must be <= {tf.MAX_QUBITS}"),
        (lambda: transverse_ising(2.0), TypeError, "n_qubits must be an integer"),
        (lambda: transverse_ising(3, h=[1.0, 2.0]), ValueError, r"h must be a real number or an array of shape \(3,\)"),
        (
            lambda: transverse_ising(3, J=[1.0, 2.0, 3.0]),
            ValueError,
            r"J must be a real number or an array of shape \(2,\)",
        ),
        (lambda: transverse_ising(3, h=float("nan")), ValueError, "h must be finite"),
        (lambda: transverse_ising(3, J=[1j, 1.0]), TypeError, "J must be a real number or a real array"),
        (lambda: transverse_ising(3, h=True), TypeError, "h must be a real number"),
        (lambda: transverse_ising(3, topology="ring"), ValueError, "topology must be one of"),
        (lambda: transverse_ising(2, topology="periodic"), ValueError, "n_qubits must be >= 3 for a periodic chain"),
        (lambda: transverse_ising(3, topology=[(0, 0)]), ValueError, "must join two different qubits"),
        (lambda: transverse_ising(3, topology=[(0, 1), (1, 0)]), ValueError, "must not repeat a pair"),
        (lambda: transverse_ising(3, topology=[(0, 3)]), ValueError, "must be < n_qubits = 3"),
        (lambda: transverse_ising(3, topology=[(0, 1, 2)]), ValueError, r"each bond must be a pair"),
        (lambda: transverse_ising(3, topology=5), TypeError, "topology must be one of"),
        (lambda: random_tfim(3, seed=None), TypeError, "seed must be a non-negative int"),
        (lambda: random_tfim(3, seed=-1), ValueError, "seed must be a non-negative int"),
        (lambda: random_tfim(3, seed=0, h_range=(2.0, 1.0)), ValueError, "h_range must have low <= high"),
        (lambda: random_tfim(3, seed=0, J_range=1.0), ValueError, r"J_range must be a pair"),
        (lambda: exact_unitary(transverse_ising(2), 0.0), ValueError, "dt must be positive"),
        (lambda: exact_unitary(transverse_ising(2), float("inf")), ValueError, "dt must be finite"),
        (lambda: exact_unitary(np.eye(4), 0.1), TypeError, "model must be a TFIM"),
        (lambda: trotter_unitary(transverse_ising(2).parts(), 0.1, order=3), ValueError, "order must be 1 or 2; got 3"),
        (lambda: trotter_unitary(transverse_ising(2).parts(), 0.1, 0), ValueError, "n_steps must be >= 1"),
        (
            lambda: trotter_unitary((np.eye(4), np.triu(np.ones((4, 4)))), 0.1),
            ValueError,
            r"parts\[1\] must be Hermitian",
        ),
        (lambda: trotter_unitary((np.eye(4), np.eye(2)), 0.1), ValueError, r"parts\[1\] must be shape \(4, 4\)"),
        (lambda: trotter_unitary([np.eye(2), np.eye(2)], 0.1), TypeError, "parts must be a pair"),
        (lambda: initial_states(2, 3, kind="ghz", seed=0), ValueError, "kind must be one of"),
        (lambda: initial_states(0, 3, seed=0), ValueError, "n_states must be >= 1"),
        (lambda: trajectories(2 * np.eye(2), np.array([1.0, 0.0]), 3), ValueError, "U must be unitary"),
        (lambda: trajectories(np.eye(2), np.array([1.0, 1.0]), 3), ValueError, "psi0 must have finite unit-norm rows"),
        (lambda: trajectories(np.eye(2), np.ones((1, 4)) / 2, 3), ValueError, r"psi0 must have shape \(S, 2\)"),
        (lambda: trajectories(np.eye(2), np.array([1.0, 0.0]), 0), ValueError, "T must be >= 1"),
        (
            lambda: tfim_sequences(transverse_ising(2), dt=0.1, T=3, n_sequences=2, seed=0, dtype=torch.float64),
            ValueError,
            "dtype must be",
        ),
        (lambda: tfim_data({"n_qubits": 3}, seed=0), TypeError, "config must be a TFIMConfig"),
        (
            lambda: tfim_data(TFIMConfig(couplings="random", J_range=(1.0, 0.0)), seed=0),
            ValueError,
            "J_range must have low <= high",
        ),
        (
            lambda: tfim_data(TFIMConfig(couplings="mixed"), seed=0),
            ValueError,
            "couplings must be one of",
        ),
        (
            lambda: tfim_data(TFIMConfig(couplings="random", sequences_per_hamiltonian=0), seed=0),
            ValueError,
            "sequences_per_hamiltonian must be >= 1",
        ),
        (
            lambda: tfim_data(TFIMConfig(n_heldout_hamiltonians=-1), seed=0),
            ValueError,
            "n_heldout_hamiltonians must be >= 0",
        ),
    ],
)
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()
