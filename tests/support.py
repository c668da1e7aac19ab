"""Shared tolerances and random instances for the tests (the project's convention: one named tolerance per kind of quantity).

Imported as `support` (pytest puts tests/ on the path, see pyproject.toml)."""

from __future__ import annotations

import numpy as np

from qsa.random import random_states as _random_states
from qsa.random import random_unitary as _random_unitary

# Named tolerances: complex128 states/observables, gradients, float32 paths.
TOL_STATE = 1e-10
TOL_GRAD = 1e-8
TOL_F32 = 1e-5
N_SIGMA = 4.0  # sampled results must lie within this many standard errors at a fixed seed


def random_states(rng: np.random.Generator, *shape: int, real: bool = False) -> np.ndarray:
    """Unit rows of shape ``shape`` (last axis normalised), complex unless ``real``."""
    return _random_states(*shape, seed=rng, real=real)


def random_unitary(rng: np.random.Generator, d: int) -> np.ndarray:
    """A Haar-random ``(d, d)`` unitary."""
    return _random_unitary(d, seed=rng)


def binomial_pairs(shots: int, q_first: float, q_second: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Every pair of counts of two independent binomial circuits (``(shots + 1)^2`` pairs, first-major).

    Returns the frequencies ``n / shots`` of the first and of the second circuit ``(P,)``, the pair's
    probability ``(P,)``, and the exact expectation ``E[1 / tilde q]`` of the Jeffreys-smoothed cell
    ``tilde q = (n + 1/2) / (shots + 1)`` of each (keys ``"first"``, ``"second"``): the exact mean of a
    shot estimate over its whole distribution, with no sampling.
    """
    from scipy.special import comb

    n = np.arange(shots + 1)
    pmf = [comb(shots, n) * q**n * (1 - q) ** (shots - n) for q in (q_first, q_second)]
    a, b = (g.ravel() for g in np.meshgrid(n, n, indexing="ij"))
    inverse = {key: float((p * (shots + 1) / (n + 0.5)).sum()) for key, p in zip(("first", "second"), pmf)}
    return a / shots, b / shots, pmf[0][a] * pmf[1][b], inverse
