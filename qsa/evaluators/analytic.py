"""The analytic evaluator: the closed forms of :func:`qsa.observables` (exact, fast, differentiable in everything)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch

from qsa import _small, _validate, analytic
from qsa.analytic import Observables
from qsa.ansatz import ansatz_unitaries
from qsa.evaluators._inputs import checked_call

__all__ = ["AnalyticEvaluator"]


class AnalyticEvaluator:
    """The closed forms of :func:`qsa.observables` as an :class:`~qsa.evaluators.Evaluator`.

    ``W = ansatz_unitary(params["theta_W"])`` and ``V = ansatz_unitary(params["theta_V"])`` (built
    in one batch, :func:`qsa.ansatz.ansatz_unitaries`); the observables are those of
    :func:`qsa.analytic.observables` of the tokens: the amplitudes ``A_j`` and norms ``||z_j||^2``
    in one pass (:func:`qsa.analytic.amplitudes_and_norms`), then
    :func:`qsa.analytic.observables_from_amplitudes`, which ends in
    :func:`qsa.analytic.observables_from_probabilities` as every evaluator does.

    Calling it checks its input as every evaluator does (``qsa.evaluators._inputs.checked_call``,
    the :class:`~qsa.evaluators.Evaluator` contract);
    :meth:`evaluate` is the same computation for callers that checked theirs once (the model's
    batches are checked when their :class:`~qsa.data.Sequences` is built).

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
        phases: str | None = None,
    ) -> Observables:
        """The observables of tokens ``X`` and targets ``Y`` ``(T, d)`` or ``(S, T, d)`` (checked).

        ``phases="aligned"`` (instead of ``params["phi"]``) uses ``phi_j = -arg A_j`` of this very
        pass, without gradient (the maximiser of ``mu``: :mod:`qsa.model` explains why that gives
        the exact gradient of ``L_B``).

        Raises:
            TypeError, ValueError: for params without ``theta_W``/``theta_V`` (real ``(L, n, 3)``),
                unknown params, tokens that are not unit rows of one shape, bad kernel options,
                phases that are not real and finite, or ``phases`` other than ``None``/``"aligned"``
                (or given together with ``params["phi"]``).
        """
        call = checked_call(params, X, Y, k=k, kernel=kernel, beta=beta)
        if phases is not None and (phases != "aligned" or "phi" in params):
            raise ValueError(f"phases must be None or 'aligned' (and then params must not hold 'phi'); got {phases!r}")
        mode: torch.Tensor | str | None = phases if call.phi is None else call.phi
        obs = self.evaluate(call.theta_W, call.theta_V, call.X, call.Y, k=k, kernel=kernel, beta=beta, phases=mode)
        if call.single:
            obs = obs.sequence(0)
        return obs

    def evaluate(
        self,
        theta_W: torch.Tensor,
        theta_V: torch.Tensor,
        X: torch.Tensor,
        Y: torch.Tensor,
        *,
        k: int,
        kernel: str,
        beta: float | None,
        phases: torch.Tensor | str | None = None,
    ) -> Observables:
        """What calling it computes, without checking the tokens, kernel options or phases.

        ``phases``: ``None``, ``"aligned"`` (``phi_j = -arg A_j`` of this pass, detached) or a real
        tensor ``(T,)`` / ``(S, T)``. The caller guarantees unit-row tokens ``X``, ``Y`` of one
        shape and valid kernel options (as :class:`qsa.model.QSAModel` does).
        """
        X, Y = X.to(self.dtype), Y.to(self.dtype)
        beta = analytic.resolve_beta(beta, X.shape[-1])
        if self.dtype == torch.complex128 and _small.applies(theta_W, theta_V, phases, X, Y):

            def recompute(
                theta_W: torch.Tensor, theta_V: torch.Tensor, phi: torch.Tensor | None
            ) -> tuple[torch.Tensor, ...]:  # the torch path, for a double backward
                obs = self._evaluate(
                    theta_W, theta_V, X, Y, k=k, kernel=kernel, beta=beta, phases=phases if phi is None else phi
                )
                return tuple(getattr(obs, name) for name in _small.FIELDS)

            coefficients = analytic.kernel_coefficients(k, cast(analytic.Kernel, kernel), beta)
            fields = _small.observables(theta_W, theta_V, X, Y, coefficients, phases, recompute)
            return Observables(**dict(zip(_small.FIELDS, fields)))
        return self._evaluate(theta_W, theta_V, X, Y, k=k, kernel=kernel, beta=beta, phases=phases)

    def _evaluate(
        self,
        theta_W: torch.Tensor,
        theta_V: torch.Tensor,
        X: torch.Tensor,
        Y: torch.Tensor,
        *,
        k: int,
        kernel: str,
        beta: float,
        phases: torch.Tensor | str | None,
    ) -> Observables:
        """The torch path of :meth:`evaluate` (``beta`` resolved, tokens of :attr:`dtype`)."""
        W, V = ansatz_unitaries(theta_W, theta_V)  # (d, d) each
        W, V = W.to(self.dtype), V.to(self.dtype)
        A, z_norm2 = analytic.amplitudes_and_norms(
            X, Y, W, V, k=k, kernel=cast(analytic.Kernel, kernel), beta=beta
        )  # (..., T) each
        if isinstance(phases, str):
            phases = analytic.aligned_phases(A.detach())  # (..., T)
        return analytic.observables_from_amplitudes(A, z_norm2, phases=phases)

    def __repr__(self) -> str:
        return "AnalyticEvaluator()" if self.dtype == torch.complex128 else f"AnalyticEvaluator(dtype={self.dtype})"
