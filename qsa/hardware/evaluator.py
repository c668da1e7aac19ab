r"""The one place where torch meets the primitives: parameter-shift gradients as an autograd Function.

:class:`HardwareEvaluator` is the evaluator of the training loop (``qsa.training``) on Aer or an
IBM backend::

    evaluator(params, X, Y, *, k, kernel, beta) -> qsa.analytic.Observables

with ``params`` holding ``theta_W``, ``theta_V`` (``(L, n, 3)`` float64, the angles of
:func:`qsa.ansatz.ansatz_unitary` and of the IR ansatz of ``circuit_a(..., w_layers=L,
v_layers=L)``) and optionally ``phi`` (``(T,)`` or ``(S, T)`` query phases). It returns torch
tensors ``mu``, ``zeta``, ``nu``, ``F``, ``L_B``, ``L_A``, ``L_half``, ``L_1`` (``(S,)``) and ``p``
(``(S, T)``) -- or ``P0`` and ``L_half_circuit`` for circuit B -- that are differentiable with
respect to the three parameter arrays and to the tokens ``X`` and targets ``Y`` (a trainable
embedding, rotation or projector in front), for both circuits.

How: the forward pass sends **one job** holding one PUB per circuit shape (``mu``, ``zeta``,
``nu``), each with a parameter array of every sequence's unshifted point and, when a gradient is
required, every parameter-shift point of every sequence (:mod:`qsa.hardware.programs` gives the
rules: two-term, or four-term for the controlled copies of ``W`` in the poly kernel; each of the
``k`` copies of ``W`` shifted on its own) and, when ``X`` or ``Y`` requires grad, the great-circle
shifts of every token in every load that holds it (the tokens' gradient on the unit sphere:
:mod:`qsa.hardware.programs`, "Token gradients"; circuit B's superposition states get theirs the
same way, and autograd carries it to the tokens through their torch construction). It returns the
measured cell probabilities and keeps their Jacobian; the losses are assembled in torch from the
cells under the shot tier's estimator policy (:mod:`qsa.hardware.estimators`: smoothed, bounded,
then :func:`qsa.analytic.observables_from_probabilities`), so autograd's chain rule carries the
parameter-shift Jacobian of the probabilities to any loss, and no loss or gradient is inf or NaN.
Exact mode (:class:`ExactRunner`) reproduces the analytic gradient; with shots, the Jacobian is an
unbiased estimate.

**Random streams.** Every call samples its own stream ``(seed, key + (call,))`` of the runner's
seed (:mod:`qsa.hardware.runners`); :meth:`HardwareEvaluator.sampling_key` sets the key (the
training loop sets ``(purpose, step)`` before every step and evaluation) and restarts the call
count, so a run repeats exactly and a resumed run samples as the uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from qsa import _validate, analytic, preflight
from qsa.circuit_tier import superposition_states
from qsa.circuits import CIRCUITS, Shape
from qsa.hardware import programs
from qsa.hardware.estimators import Estimate, estimate, p0_observables, policy_observables, smoothed
from qsa.hardware.runners import Compiled, Pub, Runner

__all__ = ["HardwareEvaluator", "ParameterShift"]

logger = logging.getLogger(__name__)

PARAM_NAMES = ("theta_W", "theta_V", "phi")


class ParameterShift(torch.autograd.Function):
    """``(theta_W, theta_V, phi, X, Y, psi) -> cell probabilities per variant``, gradient by parameter shift.

    Inputs after the context: the evaluator, the :class:`~qsa.circuits.Shape`, whether to send the
    shifted points of the angles, the data arrays whose shifted points to send (of ``"x"``,
    ``"y"``, ``"psi"``), then ``theta_W``, ``theta_V``, ``phi`` (``(S, T)`` or ``None``) and the
    complex128 data ``X``, ``Y`` ``(S, T, d)`` and ``psi`` (circuit B: ``(S, T, d^(k+1))``, else
    ``None``). Outputs: one ``(S, 2^c)`` float64 tensor per variant of the shape (the base cells,
    smoothed when sampled).
    """

    @staticmethod
    def forward(ctx, evaluator, shape, gradient, data, theta_W, theta_V, phi, X, Y, psi):
        params = {"theta_W": theta_W.detach().cpu().numpy(), "theta_V": theta_V.detach().cpu().numpy()}
        if phi is not None:
            params["phi"] = phi.detach().cpu().numpy()
        arrays = {"x": X.detach().cpu().numpy(), "y": Y.detach().cpu().numpy()}
        if psi is not None:
            arrays["psi"] = psi.detach().cpu().numpy()
        base, jacobians, data_jacobians = evaluator._evaluate(shape, params, arrays, gradient=gradient, data=data)
        ctx.program = programs.program(shape)
        ctx.jacobians, ctx.data_jacobians = jacobians, data_jacobians
        ctx.has_phi = phi is not None
        ctx.dtypes = {name: t.dtype for name, t in (("x", X), ("y", Y), ("psi", psi)) if t is not None}
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
        out: list[torch.Tensor | None] = []
        for name in ("theta_W", "theta_V"):
            if total is None:
                out.append(None)
                continue
            offset, shape = program.layout[name]
            out.append(
                torch.as_tensor(total[:, offset : offset + math.prod(shape)].sum(0).reshape(shape), device=ctx.device)
            )
        if ctx.has_phi and total is not None:
            offset, (T,) = program.layout["phi"]
            out.append(torch.as_tensor(total[:, offset : offset + T], device=ctx.device))
        else:
            out.append(None)
        for name in ("x", "y", "psi"):
            found = ctx.data_jacobians.get(name)
            if found is None:
                out.append(None)
                continue
            jac, directions = found  # {variant: (S, rows, 2dim-1, cells)}, (S, rows, 2dim-1, dim)
            slope = 0
            for variant, g in zip(program.shape.variants, grads):
                if g is not None and variant in jac:
                    slope = slope + np.einsum("sc,srkc->srk", g.detach().cpu().numpy(), jac[variant])
            grad = np.einsum("srk,srkd->srd", slope, directions)  # the tangent gradient, torch's convention
            out.append(torch.as_tensor(grad, device=ctx.device).to(ctx.dtypes[name]))
        return (None, None, None, None, *out)


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

    When ``X`` or ``Y`` requires grad (a trainable embedding, rotation or projector), the job also
    holds the great-circle shifts of the tokens, and the gradient reaches them: their gradient on
    the unit sphere, what every normalising embedding needs (module docstring). Each token costs
    ``4 (2d - 1)`` parameter sets per load that holds it. Templates are built and transpiled once
    per circuit shape and reused (a copy of the evaluator transpiles them again on first use; its
    runner rebuilds its simulators and pass managers, so copies evaluate as the original does);
    circuits are checked against this machine's memory (:mod:`qsa.preflight`) before any is built.
    After each call, :attr:`last_estimate` holds the observables with their standard errors
    (estimator policy: :mod:`qsa.hardware.estimators`) and :attr:`job_ids` every job id submitted so far.

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
        self._checked: set[Shape] = set()
        self.job_ids: list[str] = []
        self.last_estimate: Estimate | None = None
        self._key: tuple[int, ...] = ()
        self._calls = 0

    def sampling_key(self, key: tuple[int, ...] = ()) -> None:
        """Sample the following calls from the streams ``key + (0,)``, ``key + (1,)``, ... of the runner's seed.

        The training loop calls it before every step (``(0, step)``) and every evaluation
        (``(1, step, split)``), so a resumed run samples exactly as the uninterrupted one.
        """
        self._key = tuple(_validate.integer(k, "every entry of key", minimum=0) for k in key)
        self._calls = 0

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
        """Observables of ``S`` sequences, differentiable w.r.t. ``params``, ``X`` and ``Y`` (module docstring)."""
        shape, X, Y, theta_W, theta_V, phi, single = self._prepare(params, X, Y, k, kernel, beta)
        leaves = [t for t in (theta_W, theta_V, phi) if t is not None]
        grad_on = torch.is_grad_enabled()
        gradient = grad_on and any(t.requires_grad for t in leaves)
        psi = None
        if shape.circuit == "B":
            psi = _superposition(X, shape.k)  # (S, T, d^(k+1)), differentiable in X
        data = tuple(
            name for name, t in (("x", X), ("y", Y), ("psi", psi)) if grad_on and t is not None and t.requires_grad
        )
        cells = ParameterShift.apply(self, shape, gradient, data, theta_W, theta_V, phi, X, Y, psi)
        T = shape.T
        shots = self.runner.shots
        if shape.circuit == "A":
            mu, zeta, nu = cells[0][:, 0], cells[1][:, :T], cells[2][:, :T]  # smoothed when sampled
            if shots is None:
                result = analytic.observables_from_probabilities(mu, zeta, nu)
            else:  # the rest of the policy: values of the bounded cells, gradient of the unbounded ones
                result = policy_observables(mu, zeta, nu)
        else:
            (P0,) = cells
            result = p0_observables(P0[:, 0], shots=None)  # already smoothed
        if single:
            result = result.sequence(0)
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
        angles = {"theta_W": theta_W.detach().cpu().numpy(), "theta_V": theta_V.detach().cpu().numpy()}
        if phi is not None:
            angles["phi"] = phi.detach().cpu().numpy()
        data = {"x": X.detach().cpu().numpy(), "y": Y.detach().cpu().numpy()}
        if shape.circuit == "B":
            data["psi"] = _superposition(X, shape.k).detach().cpu().numpy()
        self._evaluate(shape, angles, data, gradient=False, data=())
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
        width = preflight.circuit_qubits(shape.circuit, T, d, int(k), kernel=kernel)
        if self.max_qubits is not None and width > self.max_qubits:
            raise ValueError(
                f"the circuit must fit the backend: it has {width} qubits (circuit {shape.circuit}, T={T}, d={d}, "
                f"k={k}, {kernel}); the backend has {self.max_qubits}"
            )
        if shape not in self._checked:  # before any circuit is built (circuit B's loads grow as d^(k+1))
            preflight.check(preflight.circuit_needs(shape.circuit, T, d, int(k), kernel=kernel, backend="aer"))
            self._checked.add(shape)
        # the tolerance policy (qsa.circuits.linalg): validated, then the nearest valid input in complex128
        X = X.to(torch.complex128)
        Y = Y.to(torch.complex128)
        X = X / torch.linalg.vector_norm(X, dim=-1, keepdim=True)  # (S, T, d)
        Y = Y / torch.linalg.vector_norm(Y, dim=-1, keepdim=True)
        return shape, X, Y, theta_W.to(torch.float64), theta_V.to(torch.float64), phi, single

    def compiled(self, shape: Shape, variant: str) -> Compiled:
        """The template of ``variant`` compiled for the runner (once per shape)."""
        key = (shape, variant)
        if key not in self._compiled:
            tpl = programs.program(shape).templates[variant]
            self._compiled[key] = self.runner.compile(tpl.qiskit.circuit, n_index=tpl.n_index, n_zero=tpl.n_zero)
        return self._compiled[key]

    def _evaluate(self, shape, params, arrays, *, gradient: bool, data: tuple[str, ...]):
        """Run one job; the base cells ``(S, 2^c)`` per variant (smoothed when sampled), with ``gradient`` the
        angles' Jacobians ``(S, 2^c, n_trainable)`` per variant, and per data array of ``data`` its
        ``({variant: (S, rows, 2 dim - 1, 2^c)}, directions (S, rows, 2 dim - 1, dim))``."""
        program = programs.program(shape)
        X, Y = arrays["x"], arrays["y"]
        _check_bindings(program, shape, X.shape[0], gradient=gradient, data=data)
        bindings = program.bindings(params, X, Y, gradient=gradient, data=data, psi=arrays.get("psi"))
        pubs = [Pub(self.compiled(shape, v), bindings[v]) for v in shape.variants]
        job = self.runner.submit(pubs, key=self._key + (self._calls,))
        self._calls += 1
        job_id = job.job_id()
        self.job_ids.append(job_id)
        info = {
            "variants": list(shape.variants),
            "parameter_sets": [len(bindings[v]) for v in shape.variants],
            "gradient": gradient,
            "data_gradient": list(data),
        }
        if self.on_job is not None:
            self.on_job(job_id, info)
        logger.info("job %s: %s", job_id, info)
        cells = job.cells()
        S = X.shape[0]
        shots = self.runner.shots
        raw, base = {}, {}
        jacobians = {} if gradient else None
        data_jacobians: dict[str, Any] = {}
        directions = {name: programs.tangent_basis(arrays[name]) for name in data}  # (S, rows, 2dim-1, dim)
        shifts = np.asarray(programs.TOKEN_SHIFTS.coefficients)
        for variant, c in zip(shape.variants, cells):
            tpl = program.templates[variant]
            c = c.reshape(S, -1, c.shape[-1])  # (S, rows, 2^c)
            n_angles = program.rows_per_sequence(variant, gradient=gradient)
            raw[variant] = c[:, 0]
            base[variant] = c[:, 0] if shots is None else smoothed(c[:, 0], shots)
            if gradient:
                jacobians[variant] = np.einsum("rp,src->scp", tpl.coefficients, c[:, :n_angles])
            start = n_angles
            for name in data:
                layout = program.data_layout(variant, name)
                n_dir = directions[name].shape[2]
                count = len(layout) * n_dir * len(shifts)
                if not count:  # no load of this array in the light cone of this variant
                    continue
                block = c[:, start : start + count].reshape(S, len(layout), n_dir, len(shifts), -1)
                start += count
                slopes = np.einsum("h,slkhc->slkc", shifts, block)  # (S, loads x rows, 2dim-1, 2^c)
                per_row = np.zeros((S, arrays[name].shape[1], n_dir, c.shape[-1]))
                for position, (_, row) in enumerate(layout):
                    per_row[:, row] += slopes[:, position]  # summed over the loads that hold the row
                data_jacobians.setdefault(name, ({}, directions[name]))[0][variant] = per_row
        self.last_estimate = estimate(raw, T=shape.T, shots=shots)
        return base, jacobians, data_jacobians


#: Copies of a job's parameter arrays alive at once: the per-sequence blocks, their concatenation, and the
#: runner's column-selected copy of each PUB.
BINDING_COPIES = 3


def _check_bindings(program: programs.Program, shape: Shape, S: int, *, gradient: bool, data: tuple[str, ...]) -> None:
    """Refuse a job whose parameter arrays cannot fit, before they are allocated (:mod:`qsa.preflight`).

    With token gradients they grow as ``4 T (2 dim - 1)`` rows times the parameters per sequence and load, both
    ``~ dim``: circuit B's superposition load has ``dim = d^(k+1)`` and ``~2 dim`` angles, so at ``d = 16,
    k = 3`` one sequence needs ``2^19`` rows x ``2^17`` parameters x 8 B = 512 GiB.
    """
    nbytes = BINDING_COPIES * program.binding_bytes(S, gradient=gradient, data=data)
    what = (
        f"one job's parameter arrays (circuit {shape.circuit}, T = {shape.T}, d = {shape.d}, k = {shape.k}, "
        f"{S} sequences{', gradient' if gradient else ''}{', token gradients of ' + '/'.join(data) if data else ''})"
    )
    detail = f"float64 rows x parameters per variant x {BINDING_COPIES} copies"
    advice = "evaluate fewer sequences per call, reduce d or k, or train the embedding on the analytic backend"
    preflight.check(preflight.Need(what, nbytes, detail, advice, key="model.train_embedding" if data else None))


def _superposition(X: torch.Tensor, k: int) -> torch.Tensor:
    """Circuit B's superposition states ``(S, T, d^(k+1))`` in torch (differentiable in ``X``)."""
    psi: torch.Tensor = superposition_states(X, k=k)
    return psi
