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


@pytest.mark.parametrize("noise", ["standard", "scaled"])
def test_correlation_grows_with_rho(noise):
    overlap = []
    for rho in (0.0, 0.5, 0.9, 0.999):
        s = markov_sequences(200, 4, 8, rho=rho, noise=noise, seed=2)
        overlap.append(float(((s.X.conj() * s.Y).sum(-1).abs() ** 2).mean()))
    assert overlap == sorted(overlap) and overlap[-1] > 0.9


def test_seeding():
    a = markov_sequences(2, 4, 8, rho=0.5, seed=7)
    b = markov_sequences(2, 4, 8, rho=0.5, seed=7)
    c = markov_sequences(2, 4, 8, rho=0.5, seed=8)
    torch.testing.assert_close(a.X, b.X, rtol=0, atol=0)
    assert not torch.equal(a.X, c.X)
    assert a.meta == {"source": "markov", "rho": 0.5, "noise": "standard", "seed": 7}
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


def _overlap_formula(rng: np.random.Generator, rho: float, d: int, variance: float, n: int) -> tuple[float, float]:
    """Mean and standard error of |<x|y>|^2 for y = normalise(rho x + c eps), eps ~ CN(0, variance I_d),
    sampled independently of markov_sequences: eps_par = <x|eps> ~ CN(0, variance), ||eps_perp||^2 ~ variance Gamma(d-1)."""
    c = math.sqrt(1 - rho**2)
    par = (rng.normal(size=n) + 1j * rng.normal(size=n)) * math.sqrt(variance / 2)
    perp2 = variance * rng.gamma(d - 1, size=n)
    a = np.abs(rho + c * par) ** 2
    q = a / (a + c**2 * perp2)
    return float(q.mean()), float(q.std() / math.sqrt(n))


@pytest.mark.parametrize("noise, variance", [("standard", 1.0), ("scaled", 1 / 8)])
def test_noise_scales_match_their_definitions(noise, variance):
    # N(0, I_d) (the QSA authors') and N(0, I_d / d): the mean overlap of consecutive tokens matches
    # an independent sample of the formula, and the two definitions differ (0.27 vs 0.68 at rho = 0.8, d = 8)
    seqs = markov_sequences(500, 8, 8, rho=0.8, noise=noise, seed=4)
    q = ((seqs.X.conj() * seqs.Y).sum(-1).abs() ** 2).numpy().ravel()
    mean, se = _overlap_formula(np.random.default_rng(9), 0.8, 8, variance, 50_000)
    assert abs(q.mean() - mean) < N_SIGMA * math.sqrt((q.std() / math.sqrt(q.size)) ** 2 + se**2)
    assert seqs.meta["noise"] == noise
    other, _ = _overlap_formula(np.random.default_rng(9), 0.8, 8, 9 / 8 - variance, 50_000)
    assert abs(mean - other) > 0.3


def test_default_noise_is_the_authors_definition():
    a = markov_sequences(2, 4, 8, rho=0.5, seed=7)
    b = markov_sequences(2, 4, 8, rho=0.5, noise="standard", seed=7)
    torch.testing.assert_close(a.X, b.X, rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise must be one of"):
        markov_sequences(2, 4, 8, rho=0.5, noise="I/d", seed=7)
