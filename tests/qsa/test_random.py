"""Seeded randomness: independent, reproducible sampling streams (issue 11, case 3)."""

from __future__ import annotations

import numpy as np
import pytest
from support import N_SIGMA

import qsa
from qsa.random import SEED_BITS, random_states, random_unitary, stream, stream_seeds


def test_stream_seeds_are_reproducible_distinct_and_keyed():
    a = stream_seeds(7, 3)
    assert a == stream_seeds(7, 3) and len(set(a)) == 3 and all(0 <= s < 2**SEED_BITS for s in a)
    assert stream_seeds(7, 3, (0, 5)) != a and stream_seeds(7, 3, (0, 5)) == stream_seeds(stream(7, (0,)), 3, (5,))
    assert stream_seeds(8, 3) != a
    assert stream_seeds(None, 2) == [None, None] and stream(None) is None
    with pytest.raises(ValueError, match="every entry of key must be >= 0"):
        stream_seeds(7, 1, (-1,))


def _instance():
    """T = 1, d = 2 as in the issue; cells far from 0 and 1, so the estimates are near normal."""
    return (
        random_states(1, 2, seed=0),
        random_states(1, 2, seed=1),
        random_unitary(2, seed=2),
        random_unitary(2, seed=3),
    )


def _uncorrelated_and_spread_as_stated(values, stderr):
    """mu, zeta and nu pairwise uncorrelated (|r| within N_SIGMA / sqrt(n)), and the spread of L_B over
    the repeats equal to its delta-method standard error (variance ratio within N_SIGMA sqrt(2 / (n-1)))."""
    n = len(values["mu"])
    r = np.corrcoef([values["mu"], values["zeta"], values["nu"]])
    assert np.all(np.abs(r[np.triu_indices(3, 1)]) < N_SIGMA / np.sqrt(n)), r
    ratio = np.var(values["L_B"], ddof=1) / np.mean(np.asarray(stderr) ** 2)
    assert abs(ratio - 1) < N_SIGMA * np.sqrt(2 / (n - 1)), ratio


def test_mu_zeta_nu_sample_independent_streams_over_seeds_on_the_torch_backend():
    """Issue 11, case 3: over seeds 0-99 at T = 1, d = 2, 2000 shots, mu and nu used to be perfectly
    correlated (r = +1.00; zeta about +0.5) and the spread of L_B understated (variance ratio 0.41)."""
    X, Y, W, V = _instance()
    runs = [qsa.circuit_estimate(X, Y, W, V, backend="torch", shots=2000, seed=s) for s in range(100)]
    values = {f: np.array([float(getattr(e.value, f)) for e in runs]) for f in ("mu", "zeta", "nu", "L_B")}
    _uncorrelated_and_spread_as_stated(values, [float(e.stderr.L_B) for e in runs])
    again = qsa.circuit_observables(X, Y, W, V, backend="torch", shots=2000, seed=3)
    assert float(again.L_B) == values["L_B"][3]  # the same seed, the same estimate


@pytest.mark.parametrize(
    "backend, n",
    [
        ("default.qubit", 60),
        pytest.param("lightning.qubit", 200, marks=pytest.mark.slow),
        pytest.param("default.qubit", 200, marks=pytest.mark.slow),
        pytest.param("aer", 200, marks=pytest.mark.slow),
    ],
)
def test_mu_zeta_nu_sample_independent_streams_on_every_backend(backend, n):
    """``n`` copies of one sequence in one call: every circuit samples its own stream (seeded once)."""
    X, Y, W, V = _instance()
    est = qsa.circuit_estimate(
        np.repeat(X[None], n, 0), np.repeat(Y[None], n, 0), W, V, backend=backend, shots=2000, seed=1
    )
    _uncorrelated_and_spread_as_stated({f: getattr(est.value, f) for f in ("mu", "zeta", "nu", "L_B")}, est.stderr.L_B)
    again = qsa.circuit_observables(X, Y, W, V, backend=backend, shots=2000, seed=1)
    assert float(again.L_B) == est.value.L_B[0]  # the first copy: the same streams
