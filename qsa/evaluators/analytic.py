"""The analytic evaluator: the closed forms of :func:`qsa.observables` (exact, fast, differentiable in everything)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch

from qsa import _small, _validate, analytic
from qsa.analytic import Observables
from qsa.ansatz import ansatz_unitaries

__all__ = ["AnalyticEvaluator"]


class AnalyticEvaluator:
    """The closed forms of :func:`qsa.observables` as an :class:`~qsa.evaluators.Evaluator`.

    ``W = ansatz_unitary(params["theta_W"])`` and ``V = ansatz_unitary(params["theta_V"])`` (built
    in one batch, :func:`qsa.ansatz.ansatz_unitaries`); the observables are those of
    :func:`qsa.analytic.observables` of the tokens: the amplitudes ``A_j`` and norms ``||z_j||^2``
    in one pass (:func:`qsa.analytic.amplitudes_and_norms`), then
    :func:`qsa.analytic.observables_from_amplitudes`, which ends in
    :func:`qsa.analytic.observables_from_probabilities` as every evaluator does.

    Calling it checks its input (the :class:`~qsa.evaluators.Evaluator` contract);
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
        if not isinstance(params, Mapping) or "theta_W" not in params or "theta_V" not in params:
            raise ValueError(
                f"params must hold 'theta_W' and 'theta_V' (and optionally 'phi'); got {type(params).__name__}"
            )
        unknown = sorted(set(params) - {"theta_W", "theta_V", "phi"})
        if unknown:
            raise ValueError(f"params must hold only 'theta_W', 'theta_V' and 'phi'; got also {unknown}")
        X, Y = _validate.tokens(X, "X"), _validate.tokens(Y, "Y")
        if X.shape != Y.shape:
            raise ValueError(f"Y must have the shape of X {tuple(X.shape)}; got {tuple(Y.shape)}")
        _validate.kernel_options(k, kernel, beta)
        n = X.shape[-1].bit_length() - 1
        for name in ("theta_W", "theta_V"):
            theta = params[name]
            if (
                not isinstance(theta, torch.Tensor)
                or not theta.dtype.is_floating_point
                or theta.ndim != 3
                or tuple(theta.shape[1:]) != (n, 3)
            ):
                raise ValueError(
                    f"params[{name!r}] must be a real tensor of shape (L, {n}, 3); got {getattr(theta, 'shape', theta)!r}"
                )
        if phases is not None and (phases != "aligned" or "phi" in params):
            raise ValueError(f"phases must be None or 'aligned' (and then params must not hold 'phi'); got {phases!r}")
        phi = params.get("phi")
        mode: torch.Tensor | str | None = phases
        if phi is not None:
            if isinstance(phi, str):
                raise TypeError(f"params['phi'] must be real phases of shape (T,) or (S, T); got {phi!r}")
            mode = _validate.phases(phi, X.shape[:-1])
        return self.evaluate(params["theta_W"], params["theta_V"], X, Y, k=k, kernel=kernel, beta=beta, phases=mode)

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
