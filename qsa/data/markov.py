r"""Classical Markov tokens on the unit sphere: a controllable-correlation baseline data source.

.. math::

    x_0 \sim \mathrm{Uniform}(S^{d-1}),\qquad
    x_{j+1} = \frac{\rho\, x_j + \sqrt{1-\rho^2}\,\varepsilon_j}{\|\rho\, x_j + \sqrt{1-\rho^2}\,\varepsilon_j\|},
    \qquad y_j = x_{j+1},

with ``eps_j`` i.i.d. Gaussian of covariance ``I/d`` (real field) or ``I/d`` split evenly between
real and imaginary parts (complex field), so ``E ||eps||^2 = 1`` matches the unit token. ``rho = 1``
repeats ``x_0``; ``rho = 0`` gives i.i.d. uniform tokens (each step independent of the last).
The sphere is that of ``R^d`` (``field="real"``) or ``C^d`` (``field="complex"``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from qsa import _validate
from qsa.data.sequences import FIELDS, Field, Sequences

__all__ = ["markov_sequences"]


def _noise(rng: np.random.Generator, shape: tuple[int, ...], field: str) -> np.ndarray:
    d = shape[-1]
    if field == "real":
        return rng.normal(scale=math.sqrt(1.0 / d), size=shape)
    s = math.sqrt(0.5 / d)
    return rng.normal(scale=s, size=shape) + 1j * rng.normal(scale=s, size=shape)


def markov_sequences(
    n_sequences: int,
    T: int,
    d: int,
    *,
    rho: float,
    field: Field = "complex",
    seed: int | np.random.Generator,
    dtype: torch.dtype = torch.complex128,
) -> Sequences:
    r"""``n_sequences`` Markov chains of ``T + 1`` unit tokens as :class:`Sequences` (``y_j = x_{j+1}``).

    Args:
        n_sequences: ``S >= 1``.
        T: steps with a target, ``>= 1``.
        d: token width, a power of two ``>= 2``.
        rho: correlation in ``[0, 1]``.
        field: ``"complex"`` or ``"real"`` (tokens stay complex tensors with zero imaginary part).
        seed: int or ``numpy.random.Generator``.
        dtype: ``torch.complex128`` or ``torch.complex64``.
    """
    n_sequences = _validate.integer(n_sequences, "n_sequences", minimum=1)
    T = _validate.integer(T, "T", minimum=1)
    _validate.power_of_two(d, "d")
    rho = _validate.real_number(rho, "rho", minimum=0.0, maximum=1.0)
    _validate.one_of(field, "field", FIELDS)
    _validate.complex_dtype(dtype)
    rng = _validate.generator(seed)
    x = _noise(rng, (n_sequences, d), field)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)  # uniform on the sphere
    states = np.empty((n_sequences, T + 1, d), dtype=np.complex128)  # (S, T+1, d)
    states[:, 0] = x
    c = math.sqrt(1.0 - rho**2)
    for j in range(T):
        x = rho * x + c * _noise(rng, (n_sequences, d), field)
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        states[:, j + 1] = x
    meta = {
        "source": "markov",
        "rho": rho,
        "seed": int(seed) if isinstance(seed, numbers.Integral) else None,
    }
    return Sequences.from_trajectories(states, field=field, meta=meta, dtype=dtype)
