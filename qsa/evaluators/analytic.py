"""The analytic evaluator: the closed forms of :func:`qsa.observables` (exact, fast, differentiable in everything)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from qsa import _validate, analytic
from qsa.analytic import Observables
from qsa.ansatz import ansatz_unitary

__all__ = ["AnalyticEvaluator"]


class AnalyticEvaluator:
    """The closed forms of :func:`qsa.observables` as an :class:`~qsa.evaluators.Evaluator`.

    ``W = ansatz_unitary(params["theta_W"])`` and ``V = ansatz_unitary(params["theta_V"])``; the
    observables are :func:`qsa.analytic.observables` of the tokens, which turns the amplitudes into
    the probabilities ``mu``, ``zeta_j``, ``nu_j`` and ends in
    :func:`qsa.analytic.observables_from_probabilities`, as every evaluator does.

    Args:
        dtype: ``torch.complex128`` (default) or ``torch.complex64`` (single precision, about
            twice as fast at large ``T``; the accuracy measured by ``experiments/benchmarks`` is
            in its README).

    Raises:
        ValueError: ``dtype`` is not a complex dtype of 64 or 128 bits.
    """

    def __init__(self, *, dtype: torch.dtype = torch.complex128) -> None:
        self.dtype = _validate.complex_dtype(dtype)

    def __call__(
        self,
        params: Mapping[str, torch.Tensor],
        X: torch.Tensor,
        Y: torch.Tensor,
        *,
        k: int,
        kernel: str,
        beta: float | None,
    ) -> Observables:
        W = ansatz_unitary(params["theta_W"]).to(self.dtype)  # (d, d)
        V = ansatz_unitary(params["theta_V"]).to(self.dtype)  # (d, d)
        X, Y = X.to(self.dtype), Y.to(self.dtype)
        return analytic.observables(X, Y, W, V, k=k, kernel=kernel, beta=beta, phases=params.get("phi"))

    def __repr__(self) -> str:
        return "AnalyticEvaluator()" if self.dtype == torch.complex128 else f"AnalyticEvaluator(dtype={self.dtype})"
