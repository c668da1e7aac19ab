r"""Classical Markov tokens on the unit sphere: a controllable-correlation baseline data source.

.. math::

    x_0 \sim \mathrm{Uniform}(S^{d-1}),\qquad
    x_{j+1} = \frac{\rho\, x_j + \sqrt{1-\rho^2}\,\varepsilon_j}{\|\rho\, x_j + \sqrt{1-\rho^2}\,\varepsilon_j\|},
    \qquad y_j = x_{j+1},

with ``eps_j`` i.i.d. Gaussian in one of two scales (``noise``):

- ``"standard"`` (the default, the QSA authors' definition, arXiv 2602.06699): ``eps ~ N(0, I_d)``,
  every component of unit variance (complex field: ``CN(0, I_d)``, real and imaginary parts of
  variance 1/2 each, ``E|eps_i|^2 = 1``), so ``E ||eps||^2 = d``;
- ``"scaled"``: ``eps ~ N(0, I_d / d)`` (complex: ``I_d / d`` split evenly between real and
  imaginary parts), so ``E ||eps||^2 = 1`` matches the unit token. This was the library's only
  definition before the authors' was added.

At the same ``rho`` the scaled noise is ``d`` times weaker, so its chains are far more correlated:
the mean overlap ``|<x_j|x_{j+1}>|^2`` at ``rho = 0.8``, ``d = 8`` (complex) is about 0.27 with the
standard noise and 0.68 with the scaled one. ``rho = 1`` repeats ``x_0``; ``rho = 0`` gives i.i.d.
uniform tokens (each step independent of the last) in both. The sphere is that of ``R^d``
(``field="real"``) or ``C^d`` (``field="complex"``).
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import numpy as np
import torch

from qsa import _validate
from qsa.data.sequences import FIELDS, Field, Sequences

__all__ = ["NOISE_SCALES", "markov_sequences"]

Noise = Literal["standard", "scaled"]
#: The two noise definitions (module docstring): the QSA authors' N(0, I_d) and the unit-energy N(0, I_d / d).
NOISE_SCALES: tuple[str, ...] = ("standard", "scaled")


def _noise(rng: np.random.Generator, shape: tuple[int, ...], field: str, variance: float = 1.0) -> np.ndarray:
    """Gaussian noise with ``E|eps_i|^2 = variance`` per component (complex: half in each part)."""
    if field == "real":
        return rng.normal(scale=math.sqrt(variance), size=shape)
    s = math.sqrt(0.5 * variance)
    return rng.normal(scale=s, size=shape) + 1j * rng.normal(scale=s, size=shape)


def markov_sequences(
    n_sequences: int,
    T: int,
    d: int,
    *,
    rho: float,
    field: Field = "complex",
    noise: Noise = "standard",
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
        noise: ``"standard"`` (``eps ~ N(0, I_d)``, the QSA authors') or ``"scaled"``
            (``eps ~ N(0, I_d / d)``); see the module docstring.
        seed: int or ``numpy.random.Generator``.
        dtype: ``torch.complex128`` or ``torch.complex64``.
    """
    n_sequences = _validate.integer(n_sequences, "n_sequences", minimum=1)
    T = _validate.integer(T, "T", minimum=1)
    _validate.power_of_two(d, "d")
    rho = _validate.real_number(rho, "rho", minimum=0.0, maximum=1.0)
    _validate.one_of(field, "field", FIELDS)
    _validate.one_of(noise, "noise", NOISE_SCALES)
    _validate.complex_dtype(dtype)
    rng = _validate.generator(seed)
    variance = 1.0 if noise == "standard" else 1.0 / d
    x = _noise(rng, (n_sequences, d), field, variance)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)  # uniform on the sphere
    states = np.empty((n_sequences, T + 1, d), dtype=np.complex128)  # (S, T+1, d)
    states[:, 0] = x
    c = math.sqrt(1.0 - rho**2)
    for j in range(T):
        x = rho * x + c * _noise(rng, (n_sequences, d), field, variance)
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        states[:, j + 1] = x
    meta = {
        "source": "markov",
        "rho": rho,
        "noise": noise,
        "seed": int(seed) if isinstance(seed, numbers.Integral) else None,
    }
    return Sequences.from_trajectories(states, field=field, meta=meta, dtype=dtype)
