r"""Cost of one classical causal attention head, in multiply-adds (docs/method.md section 7).

For ``T`` tokens of width ``d`` and one head of width ``d``:

* scores ``Q K^T``: ``T^2 d``; values ``softmax(.) V``: ``T^2 d`` (the dense computation every
  attention kernel performs, the causal mask applied to the full matrix): **2 T^2 d** together;
* projections ``Q, K, V`` and the output: ``4 T d^2``, stated separately.

A causal implementation that skips the masked half does ``T (T+1) d / 2`` per product
(``causal_scores``, ``causal_values``); softmax exponentials and normalisation (``O(T^2)``) are
not multiply-adds and are not counted.

:func:`preprocessing_cost` counts the classical work a QSA circuit needs before it runs, in the
same unit: the angles of its amplitude loads (one multiply-add per amplitude, the partial norms
of the Möttönen tree; the arctangents are not counted, like the exponentials above) and, for
circuit B, building the ``d^(k+1)``-dimensional loads
``psi_j = sum_{i<=j} x_i (x) x_i^(x)k / n_j`` (docs/method.md section 5): the tensor powers
(``d^2 + ... + d^(k+1)`` multiplies per token), the prefix sums and the norms (``d^(k+1)`` each per
step) -- ``O(T d^(k+1))`` in all, which the quantum gate count leaves out.
"""

from __future__ import annotations

from typing import NamedTuple

from qsa import _validate
from qsa.circuits import Shape

__all__ = ["ClassicalCost", "Preprocessing", "classical_attention_cost", "preprocessing_cost"]


class ClassicalCost(NamedTuple):
    T: int
    d: int
    scores: int
    values: int
    projections: int
    causal_scores: int
    causal_values: int

    @property
    def attention(self) -> int:
        """Scores and values: ``2 T^2 d``."""
        return self.scores + self.values

    @property
    def total(self) -> int:
        """Attention and projections: ``2 T^2 d + 4 T d^2``."""
        return self.attention + self.projections


def classical_attention_cost(T: int, d: int) -> ClassicalCost:
    """Multiply-adds of one causal attention head over ``T`` tokens of width ``d`` (module docstring)."""
    T = _validate.integer(T, "T", minimum=1)
    d = _validate.integer(d, "d", minimum=1)
    causal = T * (T + 1) // 2 * d
    return ClassicalCost(T, d, T * T * d, T * T * d, 4 * T * d * d, causal, causal)


class Preprocessing(NamedTuple):
    """Classical multiply-adds a QSA circuit needs before it runs, for one sequence (module docstring).

    Attributes:
        tensor_powers: ``x_i^(x)(k+1)`` of every token (circuit B): ``T (d^2 + ... + d^(k+1))``.
        prefix_sums: ``sum_{i<=j}`` of those for every step (circuit B): ``T d^(k+1)``.
        norms: the norms ``n_j`` (circuit B): ``T d^(k+1)``.
        load_angles: one per amplitude loaded: tokens and targets (``2 T d``) and, for circuit B,
            the ``T`` superposition loads (``T d^(k+1)``).
    """

    tensor_powers: int
    prefix_sums: int
    norms: int
    load_angles: int

    @property
    def total(self) -> int:
        return self.tensor_powers + self.prefix_sums + self.norms + self.load_angles


def preprocessing_cost(shape: Shape) -> Preprocessing:
    """Classical multiply-adds before ``shape``'s circuits run, per sequence: ``O(T d)`` for A, ``O(T d^(k+1))`` for B.

    Raises:
        TypeError: if ``shape`` is not a :class:`~qsa.circuits.Shape`.
    """
    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    T, d, k = shape.T, shape.d, shape.k
    tokens = 2 * T * d
    if shape.circuit == "A":
        return Preprocessing(0, 0, 0, tokens)
    big = d ** (k + 1)
    return Preprocessing(T * sum(d**m for m in range(2, k + 2)), T * big, T * big, tokens + T * big)
