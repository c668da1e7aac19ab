"""Shared tolerances and random instances for the tests (STYLE.md, "Numerics in tests").

Imported as `support` (pytest puts tests/ on the path, see pyproject.toml)."""

from __future__ import annotations

import numpy as np

# Named tolerances: complex128 states/observables, gradients, float32 paths.
TOL_STATE = 1e-10
TOL_GRAD = 1e-8
TOL_F32 = 1e-5
N_SIGMA = 4.0  # sampled results must lie within this many standard errors at a fixed seed


def random_states(rng: np.random.Generator, *shape: int, real: bool = False) -> np.ndarray:
    """Unit rows of shape ``shape`` (last axis normalised), complex unless ``real``."""
    a = rng.normal(size=shape) if real else rng.normal(size=shape) + 1j * rng.normal(size=shape)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def random_unitary(rng: np.random.Generator, d: int) -> np.ndarray:
    """A Haar-random ``(d, d)`` unitary (QR with the phase fix)."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))
