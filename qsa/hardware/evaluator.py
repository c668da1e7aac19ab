r"""The one place where torch meets the primitives: parameter-shift gradients as an autograd Function.

:class:`HardwareEvaluator` is the evaluator of the training loop (``qsa.training``) on Aer or an
IBM backend::

    evaluator(params, X, Y, *, k, kernel, beta) -> qsa.analytic.Observables

with ``params`` holding ``theta_W``, ``theta_V`` (``(L, n, 3)`` float64, the angles of
:func:`qsa.ansatz.ansatz_unitary` and of the IR ansatz of ``circuit_a(..., w_layers=L,
v_layers=L)``) and optionally ``phi`` (``(T,)`` or ``(S, T)`` query phases). It returns torch
tensors ``mu``, ``zeta``, ``nu``, ``F``, ``L_B``, ``L_A``, ``L_half``, ``L_1`` (``(S,)``) and ``p``
(``(S, T)``) -- or ``P0`` and ``L_half_circuit`` for circuit B -- that are differentiable with
respect to the three parameter arrays.

How: the forward pass sends **one job** holding one PUB per circuit shape (``mu``, ``zeta``,
``nu``), each with a parameter array of every sequence's unshifted point and, when a gradient is
required, every parameter-shift point of every sequence (:mod:`qsa.hardware.programs` gives the
rules: two-term, or four-term for the controlled copies of ``W`` in the poly kernel; each of the
``k`` copies of ``W`` shifted on its own). It returns the measured cell probabilities and keeps
their Jacobian; the losses are assembled in torch from the cells by
:func:`qsa.analytic.observables_from_probabilities`, so autograd's chain rule carries the
parameter-shift Jacobian of the probabilities to any loss. Exact mode (:class:`ExactRunner`)
reproduces the analytic gradient; with shots, the Jacobian is an unbiased estimate.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from qsa import _validate, analytic
from qsa.circuits import CIRCUITS, Shape
from qsa.hardware import programs
from qsa.hardware.estimators import Estimate, estimate
from qsa.hardware.runners import Compiled, Pub, Runner

__all__ = ["HardwareEvaluator", "ParameterShift"]

logger = logging.getLogger(__name__)

PARAM_NAMES = ("theta_W", "theta_V", "phi")


class ParameterShift(torch.autograd.Function):
    """``(theta_W, theta_V, phi) -> cell probabilities per variant``, gradient by parameter shift.

    Inputs after the context: the evaluator, the :class:`~qsa.hardware.Shape`, the data
    ``X``, ``Y`` (numpy, ``(S, T, d)``), whether to send the shifted points, then ``theta_W``,
    ``theta_V`` and ``phi`` (``(S, T)`` or ``None``). Outputs: one ``(S, 2^c)`` float64 tensor per
    variant of the shape.
    """

    @staticmethod
    def forward(ctx, evaluator, shape, X, Y, gradient, theta_W, theta_V, phi):
        params = {"theta_W": theta_W.detach().cpu().numpy(), "theta_V": theta_V.detach().cpu().numpy()}
        if phi is not None:
            params["phi"] = phi.detach().cpu().numpy()
        base, jacobians = evaluator._evaluate(shape, params, X, Y, gradient=gradient)
        ctx.program = programs.program(shape)
        ctx.jacobians = jacobians
        ctx.has_phi = phi is not None
        ctx.device = theta_W.device  # results go back where the parameters live (model.device)
        return tuple(torch.as_tensor(base[v], device=theta_W.device) for v in shape.variants)

    @staticmethod
    def backward(ctx, *grads):
        program = ctx.program
        total = None
        for variant, g in zip(program.shape.variants, grads):
            if g is None or ctx.jacobians is None:
                continue
            term = np.einsum("sc,scp->sp", g.detach().cpu().numpy(), ctx.jacobians[variant])  # (S, n_trainable)
            total = term if total is None else total + term
        if total is None:
            return (None,) * 8
        out = []
        for name in ("theta_W", "theta_V"):
            offset, shape = program.layout[name]
            out.append(
                torch.as_tensor(total[:, offset : offset + math.prod(shape)].sum(0).reshape(shape), device=ctx.device)
            )
        if ctx.has_phi:
            offset, (T,) = program.layout["phi"]
            out.append(torch.as_tensor(total[:, offset : offset + T], device=ctx.device))
        else:
            out.append(None)
        return (None, None, None, None, None, *out)


def _angles(value: Any, name: str, n: int) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"params[{name!r}] must be a torch tensor; got {type(value).__name__}")
    if value.dtype not in (torch.float64, torch.float32):
        raise TypeError(f"params[{name!r}] must be a real float tensor; got dtype {value.dtype}")
    if value.ndim != 3 or value.shape[1] != n or value.shape[2] != 3 or value.shape[0] < 1:
        raise ValueError(
            f"params[{name!r}] must have shape (L, {n}, 3) for tokens of width 2^{n}; got {tuple(value.shape)}"
        )
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"params[{name!r}] must be finite; got NaN or inf")
    return value


class HardwareEvaluator:
    """QSA observables and their parameter-shift gradients from a :class:`~qsa.hardware.runners.Runner`.

    Args:
        runner: where the circuits run (:class:`~qsa.hardware.runners.ExactRunner`,
            :func:`~qsa.hardware.runners.aer_sampler_runner`,
            :class:`~qsa.hardware.runners.NoisyAerRunner`, or a
            :class:`~qsa.hardware.runners.SamplerRunner` around an IBM runtime sampler).
        circuit: ``"A"`` (two control registers; the default) or ``"B"`` (superposition loading);
            ``family=`` is the deprecated name of this argument.
        on_job: called as ``on_job(job_id, info)`` right after every job is submitted, before its
            result is awaited (e.g. to append the id to a journal).
        max_qubits: refuse circuits wider than this (default: the runner's backend width, if known).

    ``X`` and ``Y`` are data: no gradient flows to them. Templates are built and transpiled once
    per circuit shape and reused (a copy of the evaluator transpiles them again on first use; its
    runner rebuilds its simulators and pass managers, so copies evaluate as the original does). After each call,
    :attr:`last_estimate` holds the observables with their standard errors and :attr:`job_ids`
    every job id submitted so far.

    Example:
        >>> import torch
        >>> from qsa.hardware import ExactRunner, HardwareEvaluator
        >>> from qsa.random import random_states
        >>> X = torch.from_numpy(random_states(1, 4, 2, seed=0))  # one sequence, T = 4, d = 2
        >>> Y = torch.from_numpy(random_states(1, 4, 2, seed=1))
        >>> params = {"theta_W": torch.full((1, 1, 3), 0.3, dtype=torch.float64, requires_grad=True),
        ...           "theta_V": torch.full((1, 1, 3), 0.7, dtype=torch.float64, requires_grad=True)}
        >>> obs = HardwareEvaluator(ExactRunner())(params, X, Y, k=1, kernel="mono", beta=None)
        >>> obs.L_B.sum().backward()  # batched parameter shift: one job for every shifted circuit
        >>> tuple(params["theta_W"].grad.shape)
        (1, 1, 3)
    """

    def __init__(
        self,
        runner: Runner,
        *,
        circuit: str = "A",
        on_job: Callable[[str, dict], None] | None = None,
        max_qubits: int | None = None,
        family: str | None = None,
    ):
        if not isinstance(runner, Runner):
            raise TypeError(f"runner must be a qsa.hardware.runners.Runner; got {type(runner).__name__}")
        if family is not None:
            warnings.warn(
                "HardwareEvaluator(family=...) is deprecated: the argument is now called circuit", DeprecationWarning, 2
            )
            circuit = family
        self.runner = runner
        self.circuit = _validate.one_of(circuit, "circuit", CIRCUITS)
        self.on_job = on_job
        backend = getattr(runner, "backend", None)
        self.max_qubits = max_qubits if max_qubits is not None else getattr(backend, "num_qubits", None)
        self._compiled: dict[tuple[Shape, str], Compiled] = {}
        self.job_ids: list[str] = []
        self.last_estimate: Estimate | None = None

    def __getstate__(self) -> dict[str, Any]:
        """A copy (``copy.deepcopy``, ``pickle``, ``torch.save`` of a model) compiles its templates again, lazily."""
        return {**self.__dict__, "_compiled": {}}

    # --- the evaluator contract ----------------------------------------------------------------
    def __call__(
        self,
        params: Mapping[str, torch.Tensor],
        X: Any,
        Y: Any,
        *,
        k: int,
        kernel: str = "mono",
        beta: float | None = None,
    ) -> analytic.Observables:
        """Observables of ``S`` sequences, differentiable w.r.t. ``params`` (see the module docstring)."""
        shape, X, Y, theta_W, theta_V, phi, single = self._prepare(params, X, Y, k, kernel, beta)
        leaves = [t for t in (theta_W, theta_V, phi) if t is not None]
        gradient = torch.is_grad_enabled() and any(t.requires_grad for t in leaves)
        cells = ParameterShift.apply(self, shape, X, Y, gradient, theta_W, theta_V, phi)
        T = shape.T
        if shape.circuit == "A":
            mu, zeta, nu = cells
            result = analytic.observables_from_probabilities(mu[:, 0], zeta[:, :T], nu[:, :T])
        else:
            (P0,) = cells
            P0 = P0[:, 0]
            none = dict.fromkeys(("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"))
            result = analytic.Observables(**none, P0=P0, L_half_circuit=-torch.log(P0))
        if single:
            result = analytic.Observables(**{n: (None if v is None else v[0]) for n, v in vars(result).items()})
        return result

    def estimate(
        self,
        params: Mapping[str, Any],
        X: Any,
        Y: Any,
        *,
        k: int,
        kernel: str = "mono",
        beta: float | None = None,
    ) -> Estimate:
        """Observables with standard errors (numpy, no gradient): one job, unshifted points only."""
        params = {
            n: (v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v, dtype=np.float64)))
            for n, v in params.items()
        }
        shape, X, Y, theta_W, theta_V, phi, _ = self._prepare(params, X, Y, k, kernel, beta)
        arrays = {"theta_W": theta_W.detach().cpu().numpy(), "theta_V": theta_V.detach().cpu().numpy()}
        if phi is not None:
            arrays["phi"] = phi.detach().cpu().numpy()
        self._evaluate(shape, arrays, X, Y, gradient=False)
        return self.last_estimate

    # --- internals -------------------------------------------------------------------------------
    def _prepare(self, params, X, Y, k, kernel, beta):
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping of tensors; got {type(params).__name__}")
        unknown = sorted(set(params) - set(PARAM_NAMES))
        if unknown:
            raise ValueError(f"params must hold only {PARAM_NAMES}; got also {unknown}")
        for name in ("theta_W", "theta_V"):
            if name not in params:
                raise ValueError(f"params must hold {name!r}; got {sorted(params)}")
        X = _validate.tokens(X, "X")
        Y = _validate.tokens(Y, "Y")
        if X.shape != Y.shape:
            raise ValueError(f"Y must have the shape of X {tuple(X.shape)}; got {tuple(Y.shape)}")
        _validate.kernel_options(k, kernel, beta)
        single = X.ndim == 2
        X, Y = (X[None], Y[None]) if single else (X, Y)
        S, T, d = X.shape
        n = d.bit_length() - 1
        theta_W = _angles(params["theta_W"], "theta_W", n)
        theta_V = _angles(params["theta_V"], "theta_V", n)
        phi = params.get("phi")
        if phi is not None:
            if not isinstance(phi, torch.Tensor) or not phi.dtype.is_floating_point:
                raise TypeError(f"params['phi'] must be a real float tensor; got {type(phi).__name__}")
            if tuple(phi.shape) not in ((T,), (S, T)) and not (single and tuple(phi.shape) == (1, T)):
                raise ValueError(f"params['phi'] must have shape ({T},) or ({S}, {T}); got {tuple(phi.shape)}")
            if not bool(torch.isfinite(phi).all()):
                raise ValueError("params['phi'] must be finite; got NaN or inf")
            phi = phi.to(torch.float64).expand(S, T)
        if self.circuit == "B" and kernel != "mono":
            raise ValueError(f"kernel must be 'mono' for circuit B; got {kernel!r}")
        shape = Shape(
            circuit=self.circuit,
            T=T,
            d=d,
            k=int(k),
            kernel=kernel,
            beta=None if beta is None else float(beta),
            w_layers=int(theta_W.shape[0]),
            v_layers=int(theta_V.shape[0]),
            phases=phi is not None,
        )
        for variant in shape.variants:
            width = shape.build(variant).n_qubits
            if self.max_qubits is not None and width > self.max_qubits:
                raise ValueError(
                    f"the circuit must fit the backend: it has {width} qubits ({variant}, T={T}, d={d}, k={k}, "
                    f"{kernel}); the backend has {self.max_qubits}"
                )
        Xn = X.detach().cpu().numpy().astype(np.complex128)
        Yn = Y.detach().cpu().numpy().astype(np.complex128)
        return shape, Xn, Yn, theta_W.to(torch.float64), theta_V.to(torch.float64), phi, single

    def compiled(self, shape: Shape, variant: str) -> Compiled:
        """The template of ``variant`` compiled for the runner (once per shape)."""
        key = (shape, variant)
        if key not in self._compiled:
            tpl = programs.program(shape).templates[variant]
            self._compiled[key] = self.runner.compile(tpl.qiskit.circuit, n_index=tpl.n_index, n_zero=tpl.n_zero)
        return self._compiled[key]

    def _evaluate(self, shape, params, X, Y, *, gradient: bool):
        """Run one job; base cells ``(S, 2^c)`` per variant and, with ``gradient``, Jacobians ``(S, 2^c, n_trainable)``."""
        program = programs.program(shape)
        bindings = program.bindings(params, X, Y, gradient=gradient)
        pubs = [Pub(self.compiled(shape, v), bindings[v]) for v in shape.variants]
        job = self.runner.submit(pubs)
        job_id = job.job_id()
        self.job_ids.append(job_id)
        info = {
            "variants": list(shape.variants),
            "parameter_sets": [len(bindings[v]) for v in shape.variants],
            "gradient": gradient,
        }
        if self.on_job is not None:
            self.on_job(job_id, info)
        logger.info("job %s: %s", job_id, info)
        cells = job.cells()
        S = X.shape[0]
        base, jacobians = {}, {} if gradient else None
        for variant, c in zip(shape.variants, cells):
            rows = program.rows_per_sequence(variant, gradient=gradient)
            c = c.reshape(S, rows, -1)  # (S, rows, 2^c)
            base[variant] = c[:, 0]
            if gradient:
                jacobians[variant] = np.einsum("rp,src->scp", program.templates[variant].coefficients, c)
        self.last_estimate = estimate(base, T=shape.T, shots=self.runner.shots)
        return base, jacobians
