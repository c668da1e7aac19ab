"""The checks every circuit evaluator runs on its call, and the :class:`~qsa.circuits.Shape` the call names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch

from qsa import _validate, preflight
from qsa.circuits import Shape

__all__ = ["Call", "checked_call", "check_memory"]


class Call(NamedTuple):
    """A checked evaluator call: batched tokens, angles, phases and the circuit shape they fill."""

    X: torch.Tensor  # (S, T, d)
    Y: torch.Tensor  # (S, T, d)
    theta_W: torch.Tensor  # (L_W, n, 3)
    theta_V: torch.Tensor  # (L_V, n, 3)
    phi: torch.Tensor | None  # (S, T)
    shape: Shape  # circuit A with ansatz depths and phases
    single: bool  # X was (T, d): results are unbatched


def checked_call(
    params: Mapping[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor, *, k: int, kernel: str, beta: float | None
) -> Call:
    """Check an :class:`~qsa.evaluators.Evaluator` call and name the circuit-A shape it evaluates.

    Raises:
        TypeError, ValueError: for params without ``theta_W``/``theta_V`` of shape ``(L, n, 3)``,
            unknown params, tokens that are not unit rows of one shape, or bad kernel options.
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
    single = X.ndim == 2
    X, Y = (X[None], Y[None]) if single else (X, Y)  # (S, T, d)
    S, T, d = X.shape
    n = d.bit_length() - 1
    theta_W, theta_V, phi = params["theta_W"], params["theta_V"], params.get("phi")
    for name, theta in (("theta_W", theta_W), ("theta_V", theta_V)):
        if (
            not isinstance(theta, torch.Tensor)
            or not theta.dtype.is_floating_point
            or theta.ndim != 3
            or tuple(theta.shape[1:]) != (n, 3)
        ):
            raise ValueError(
                f"params[{name!r}] must be a real tensor of shape (L, {n}, 3); got {getattr(theta, 'shape', theta)!r}"
            )
    if phi is not None:
        if isinstance(phi, str):
            raise TypeError(f"params['phi'] must be real phases of shape ({T},) or ({S}, {T}); got {phi!r}")
        phi = torch.broadcast_to(_validate.phases(phi, (S, T)), (S, T))  # (S, T)
    shape = Shape("A", T, d, int(k), kernel, beta, theta_W.shape[0], theta_V.shape[0], phi is not None)
    return Call(X, Y, theta_W, theta_V, phi, shape, single)


def check_memory(
    call: Call, backend: str, *, diff_method: str = "best", batch: int = 1, checked: set[object] | None = None
) -> None:
    """Refuse a call whose circuits cannot fit in this machine's memory, before anything is built.

    :func:`qsa.preflight.circuit_needs` of circuit A's three circuits on ``backend`` (with gradients
    when torch records them; ``batch`` sequences simulated together). ``checked`` caches the shapes
    already passed (the check reads the available memory).

    Raises:
        qsa.preflight.ResourceError: (a ``ValueError``) naming the need, the limit and what to change.
    """
    training = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (call.X, call.Y, call.theta_W, call.theta_V, call.phi)
    )
    key = (call.shape, batch, training)
    if checked is not None and key in checked:
        return
    shape = call.shape
    preflight.check(
        preflight.circuit_needs(
            "A",
            shape.T,
            shape.d,
            shape.k,
            kernel=shape.kernel,
            backend=backend,
            batch=batch,
            training=training,
            diff_method=diff_method,
            w_layers=shape.w_layers or 1,
            v_layers=shape.v_layers or 1,
        )
    )
    if checked is not None:
        checked.add(key)
