r"""Cost of one classical causal attention head, in multiply-adds (docs/method.md section 7).

For ``T`` tokens of width ``d`` and one head of width ``d``:

* scores ``Q K^T``: ``T^2 d``; values ``softmax(.) V``: ``T^2 d`` (the dense computation every
  attention kernel performs, the causal mask applied to the full matrix): **2 T^2 d** together;
* projections ``Q, K, V`` and the output: ``4 T d^2``, stated separately.

A causal implementation that skips the masked half does ``T (T+1) d / 2`` per product
(``causal_scores``, ``causal_values``); softmax exponentials and normalisation (``O(T^2)``) are
not multiply-adds and are not counted.
"""

from __future__ import annotations

from typing import NamedTuple

from qsa import _validate

__all__ = ["ClassicalCost", "classical_attention_cost"]


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
