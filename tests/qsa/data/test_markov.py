"""Markov tokens on the unit sphere."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support import N_SIGMA, TOL_STATE

from qsa.data import markov_sequences


@pytest.mark.parametrize("field", ["complex", "real"])
def test_shapes_unit_rows_and_targets_are_next_tokens(field):
    seqs = markov_sequences(3, 7, 8, rho=0.6, field=field, seed=0)
    assert seqs.X.shape == (3, 7, 8) and seqs.field == field and seqs.dtype == torch.complex128
    torch.testing.assert_close(seqs.X[:, 1:], seqs.Y[:, :-1], rtol=0, atol=0)
    np.testing.assert_allclose(torch.linalg.vector_norm(seqs.Y, dim=-1).numpy(), 1.0, atol=TOL_STATE, rtol=0)
    if field == "real":
        assert not seqs.X.imag.any()
    else:
        assert seqs.X.imag.abs().max() > 0.01


def test_rho_one_repeats_the_first_token():
    seqs = markov_sequences(2, 5, 4, rho=1.0, seed=3)
    torch.testing.assert_close(seqs.Y, seqs.X[:, :1].expand(-1, 5, -1), rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("field", ["complex", "real"])
def test_rho_zero_gives_independent_uniform_steps(field):
    # for independent uniform unit vectors, p = |<x|y>|^2 has mean 1/d in both fields;
    # variance (d-1)/(d^2 (d+1)) (complex, Beta(1, d-1)) or 2(d-1)/(d^2 (d+2)) (real, Beta(1/2, (d-1)/2))
    d, S, T = 4, 400, 10
    seqs = markov_sequences(S, T, d, rho=0.0, field=field, seed=1)
    p = ((seqs.X.conj() * seqs.Y).sum(-1).abs() ** 2).numpy().ravel()
    var = (d - 1) / (d**2 * (d + 1)) if field == "complex" else 2 * (d - 1) / (d**2 * (d + 2))
    assert abs(p.mean() - 1 / d) < N_SIGMA * math.sqrt(var / p.size)


def test_correlation_grows_with_rho():
    overlap = []
    for rho in (0.0, 0.5, 0.9, 0.99):
        s = markov_sequences(200, 4, 8, rho=rho, seed=2)
        overlap.append(float(((s.X.conj() * s.Y).sum(-1).abs() ** 2).mean()))
    assert overlap == sorted(overlap) and overlap[-1] > 0.9


def test_seeding():
    a = markov_sequences(2, 4, 8, rho=0.5, seed=7)
    b = markov_sequences(2, 4, 8, rho=0.5, seed=7)
    c = markov_sequences(2, 4, 8, rho=0.5, seed=8)
    torch.testing.assert_close(a.X, b.X, rtol=0, atol=0)
    assert not torch.equal(a.X, c.X)
    assert a.meta == {"source": "markov", "rho": 0.5, "seed": 7}
    assert markov_sequences(2, 4, 8, rho=0.5, seed=np.random.default_rng(7)).meta["seed"] is None


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(rho=-0.1), ValueError, "rho must be >= 0.0"),
        (dict(rho=1.5), ValueError, "rho must be <= 1.0"),
        (dict(rho=float("nan")), ValueError, "rho must be finite"),
        (dict(rho="0.5"), TypeError, "rho must be a real number"),
        (dict(rho=0.5, d=6), ValueError, "d must be a power of two"),
        (dict(rho=0.5, T=0), ValueError, "T must be >= 1"),
        (dict(rho=0.5, field="quaternion"), ValueError, "field must be one of"),
        (dict(rho=0.5, seed=None), TypeError, "seed must be a non-negative int"),
        (dict(rho=0.5, dtype=torch.float64), ValueError, "dtype must be torch.complex128 or torch.complex64"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = dict(n_sequences=2, T=3, d=4, seed=0) | kwargs
    with pytest.raises(error, match=match):
        markov_sequences(**args)
