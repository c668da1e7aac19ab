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
