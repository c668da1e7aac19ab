"""Seeded randomness: random instances (unit token states, Haar unitaries) and independent sampling streams.

**Sampling streams.** Everything that samples (shots of a circuit) draws from a stream derived
from one seed and a *key* naming the draw, with numpy's ``SeedSequence`` (``spawn_key``): the
``mu``, ``zeta`` and ``nu`` circuits of one evaluation get independent streams (children of the
evaluation's stream), every evaluation its own (the training loop keys them by ``(purpose, step,
...)``), so the same seed repeats a run exactly, a resumed run samples as the uninterrupted one
would, and no two circuits share random numbers. :func:`stream_seeds` turns a seed and a key into
the integer seeds a simulator takes (Aer's ``seed_simulator``, a PennyLane device's ``seed``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qsa import _validate

__all__ = ["random_states", "random_unitary", "stream", "stream_seeds", "SEED_BITS"]

#: Bits of the integer seeds handed to simulators: below 2^62, so that Aer's per-experiment
#: ``seed + i`` stays in range and two jobs' ranges practically never overlap.
SEED_BITS = 62


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


def _key(key: Sequence[int]) -> tuple[int, ...]:
    return tuple(_validate.integer(k, "every entry of key", minimum=0) for k in key)


def stream(seed: int | None, key: Sequence[int] = ()) -> np.random.SeedSequence | None:
    """The ``SeedSequence`` of the draw ``key`` under ``seed`` (``None``: unseeded, fresh entropy each time).

    Different keys give independent streams; ``stream(seed, key).spawn(n)`` splits one into ``n``.
    """
    if seed is None:
        return None
    return np.random.SeedSequence(_validate.integer(seed, "seed", minimum=0), spawn_key=_key(key))


def stream_seeds(seed: int | np.random.SeedSequence | None, n: int, key: Sequence[int] = ()) -> list[int | None]:
    """``n`` integer seeds (``< 2^62``) of independent streams: the children of :func:`stream` ``(seed, key)``.

    ``seed`` may also be a ``SeedSequence`` (``key`` then extends its spawn key). ``None`` gives
    ``n`` times ``None`` (unseeded).

    >>> a, b = stream_seeds(7, 2)
    >>> a != b and stream_seeds(7, 2) == [a, b]
    True
    """
    n = _validate.integer(n, "n", minimum=0)
    if seed is None:
        return [None] * n
    if isinstance(seed, np.random.SeedSequence):
        root: np.random.SeedSequence | None = np.random.SeedSequence(
            seed.entropy, spawn_key=tuple(seed.spawn_key) + _key(key)
        )
    else:
        root = stream(seed, key)
    if root is None:  # pragma: no cover - stream gives None only for seed None, handled above
        return [None] * n
    return [int(child.generate_state(1, np.uint64)[0] >> (64 - SEED_BITS)) for child in root.spawn(n)]
