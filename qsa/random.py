"""Seeded random instances: unit token states and Haar-random unitaries (numpy)."""

from __future__ import annotations

import numpy as np

from qsa import _validate

__all__ = ["random_states", "random_unitary"]


def random_states(*shape: int, seed: int | np.random.Generator, real: bool = False) -> np.ndarray:
    """Uniformly random unit vectors along the last axis of ``shape`` (complex unless ``real``)."""
    rng = np.random.default_rng(seed)
    for size in shape:
        _validate.integer(size, "every entry of shape", minimum=1)
    a = rng.normal(size=shape) if real else rng.normal(size=shape) + 1j * rng.normal(size=shape)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def random_unitary(d: int, *, seed: int | np.random.Generator) -> np.ndarray:
    """A Haar-random ``(d, d)`` unitary: QR of a complex Gaussian matrix with the phases of ``R`` removed."""
    d = _validate.integer(d, "d", minimum=1)
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))
