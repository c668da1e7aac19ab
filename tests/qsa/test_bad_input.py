"""Every malformed input gets a clear ValueError/TypeError before anything is built or run."""

from __future__ import annotations

import numpy as np
import pytest
from support import random_states, random_unitary

import qsa
from qsa import backends


@pytest.fixture
def good(rng):
    X, Y = random_states(rng, 3, 4), random_states(rng, 3, 4)
    return {"X": X, "Y": Y, "W": random_unitary(rng, 4), "V": random_unitary(rng, 4)}


@pytest.fixture(autouse=True)
def nothing_runs(monkeypatch):
    """Fail loudly if a bad input reaches a backend."""

    def refuse(*args, **kwargs):
        raise AssertionError("a backend ran before the input was checked")

    monkeypatch.setattr(backends, "run", refuse)


def _nan(a):
    a = a.copy()
    a[1, 2] = np.nan
    return a


CASES = [
    ("non-unit token", dict(X=lambda g: g["X"] * 1.01), ValueError, "X must have unit-norm rows"),
    ("NaN token", dict(Y=lambda g: _nan(g["Y"])), ValueError, "Y must be finite"),
    (
        "d not a power of two",
        dict(X=lambda g: random_states(np.random.default_rng(0), 3, 6)),
        ValueError,
        "power of two",
    ),
    ("d = 1", dict(X=lambda g: np.ones((3, 1))), ValueError, "power of two >= 2"),
    ("one-dimensional X", dict(X=lambda g: g["X"][0]), ValueError, "X must have shape \\(T, d\\) or \\(S, T, d\\)"),
    ("X and Y shapes differ", dict(Y=lambda g: g["Y"][:2]), ValueError, "Y must have the shape of X"),
    ("W of the wrong size", dict(W=lambda g: np.eye(2)), ValueError, "W must have shape \\(4, 4\\)"),
    ("non-unitary V", dict(V=lambda g: g["V"] * 1.1), ValueError, "V must be unitary"),
    ("string tokens", dict(X=lambda g: "tokens"), TypeError, "X must be a numeric array"),
    ("k = 0", dict(k=0), ValueError, "k must be >= 1"),
    ("fractional k", dict(k=1.5), TypeError, "k must be an integer"),
    ("boolean k", dict(k=True), TypeError, "k must be an integer"),
    ("unknown kernel", dict(kernel="softmax"), ValueError, "kernel must be one of"),
    ("negative beta", dict(beta=-1.0), ValueError, "beta must be positive"),
    ("poly beta whose coefficients overflow", dict(kernel="poly", beta=1e308), ValueError, "beta must be at most"),
    (
        "empty batch (S = 0)",
        dict(X=lambda g: g["X"][None][:0], Y=lambda g: g["Y"][None][:0]),
        ValueError,
        "X must hold at least one sequence \\(S >= 1\\); got shape \\(0, 3, 4\\)",
    ),
    ("phases of the wrong length", dict(phases=np.zeros(4)), ValueError, "phases must have shape \\(3,\\)"),
    ("complex phases", dict(phases=np.zeros(3, dtype=complex)), TypeError, "phases must be real"),
    ("unknown phase rule", dict(phases="random"), ValueError, "phases must be None, 'aligned'"),
]


def _call(fn, good, change):
    kwargs = dict(good)
    for key, value in change.items():
        kwargs[key] = value(good) if callable(value) else value
    X, Y, W, V = (kwargs.pop(name) for name in ("X", "Y", "W", "V"))
    return fn(X, Y, W, V, **kwargs)


@pytest.mark.parametrize("name, change, error, message", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("fn", [qsa.observables, qsa.circuit_observables], ids=["analytic", "circuit"])
def test_bad_input_is_refused_with_a_clear_message(fn, name, change, error, message, good):
    with pytest.raises(error, match=message):
        _call(fn, good, change)


CIRCUIT_CASES = [
    ("unknown backend", dict(backend="ibm_torino"), ValueError, "backend must be one of"),
    ("unknown circuit", dict(circuit="three_register"), ValueError, "circuit must be one of"),
    (
        "poly kernel on circuit B",
        dict(circuit="superposition", kernel="poly"),
        ValueError,
        "kernel must be 'mono' for the superposition",
    ),
    ("zero shots", dict(shots=0), ValueError, "shots must be None or a positive integer"),
    ("fractional shots", dict(shots=10.5), TypeError, "shots must be None or a positive integer"),
    ("negative seed", dict(shots=10, seed=-1), ValueError, "seed must be None or a non-negative integer"),
]


@pytest.mark.parametrize("name, change, error, message", CIRCUIT_CASES, ids=[c[0] for c in CIRCUIT_CASES])
def test_bad_circuit_options_are_refused(name, change, error, message, good):
    with pytest.raises(error, match=message):
        _call(qsa.circuit_observables, good, change)


@pytest.mark.parametrize("backend, limit", sorted(backends.MAX_QUBITS.items()))
def test_a_circuit_wider_than_the_backend_is_refused_before_running(backend, limit, rng):
    """T = 64, d = 64, k = 4: 2*6 + 5*6 = 42 qubits, wider than every backend here."""
    X, Y = random_states(rng, 64, 64), random_states(rng, 64, 64)
    W = V = np.eye(64)
    with pytest.raises(ValueError, match=f"{backend} takes at most {limit} qubits here; got a circuit of 42 qubits"):
        qsa.circuit_observables(X, Y, W, V, k=4, backend=backend)


def test_a_model_refuses_an_empty_batch_and_an_overflowing_beta():
    """Issue 17: these reached the user as a torch reduction error and a bare OverflowError."""
    from qsa.data import markov_sequences
    from qsa.model import ModelConfig, QSAModel

    batch = markov_sequences(2, T=4, d=4, rho=0.9, seed=0)
    with pytest.raises(ValueError, match=r"must hold at least one sequence \(S >= 1\); got shape \(0, 4, 4\)"):
        QSAModel(ModelConfig(d=4, T=4), seed=0).loss(batch[:0])
    for k, beta in ((1, 1e308), (2, 1e200)):  # k = 2: beta^2 overflowed as a bare OverflowError
        with pytest.raises(
            ValueError, match=rf"beta must be at most .* for k = {k} .*; got {beta!r}".replace("+", "\\+")
        ):
            QSAModel(ModelConfig(d=4, T=4, k=k, kernel="poly", beta=beta), seed=0).loss(batch)
