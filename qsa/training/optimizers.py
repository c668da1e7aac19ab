r"""Optimisers and learning-rate schedules of the training loop (``[train]`` keys of :class:`TrainSection`).

* ``"adam"``, ``"adamw"`` (decoupled weight decay): ``torch.optim``'s own arithmetic, through
  :class:`Adam` and :class:`AdamW`, which only skip torch's ``torch.compile`` wrappers (see below);
* ``"lbfgs"``: :class:`LBFGS`, ``torch.optim.LBFGS`` stepped one iteration per training step; on
  a full batch with a deterministic loss the training loop lets it reuse the line search's last
  evaluation where the next step starts (stepping torch's own class one iteration at a time
  evaluates that point twice), so one iteration costs about one evaluation;
* ``"spsa"``: simultaneous perturbation stochastic approximation (Spall, IEEE Trans. Autom. Control
  37, 332 (1992)), :class:`SPSA` below: two loss evaluations per step whatever the number of
  parameters, no gradient. For shot and hardware training, where a parameter-shift gradient costs
  two circuits per parameter. The gains and the update are PennyLane's ``qml.SPSAOptimizer``'s
  (pinned by the tests); it is not used directly because it draws its perturbations from NumPy's
  global random state, which a run could neither repeat nor resume.

QN-SPSA (SPSA with a stochastic estimate of the Fubini-Study metric) is not offered: PennyLane's
``qml.QNSPSAOptimizer`` needs the cost to be one QNode (it builds the metric from that QNode's
state overlaps), while a QSA loss combines several circuits and runs on Aer or IBM runtime;
qiskit-algorithms, whose QNSPSA took a fidelity primitive, is archived.

Schedules (``train.schedule``) are ``torch.optim.lr_scheduler``'s, stepped once per training step,
after an optional linear warm-up (``train.warmup_steps``); they scale the learning rate of every
optimiser (SPSA's ``a_k`` too).

None of these optimisers imports ``torch._dynamo`` (1.4-2.5 s of CPU on a 2-core machine; a run
never compiles its optimiser). In torch 2.13, ``torch.optim.Optimizer``'s ``add_param_group``
(called by every ``__init__``), ``zero_grad``, ``state_dict`` and ``load_state_dict`` are wrapped in
``torch._disable_dynamo`` (``torch/optim/optimizer.py``), which imports it on first call
(``torch/_compile.py``), and Adam's ``step`` in ``_use_grad_for_differentiable``, which imports it
when called, to place two ``torch._dynamo.graph_break()`` (no-ops outside ``torch.compile``)
around the step. No constructor option (``foreach``, ``fused``, ``capturable``, ``differentiable``)
avoids either. The classes here call the functions inside those wrappers, and Adam's step under
``torch.set_grad_enabled(differentiable)`` as the wrapper does: the same code, so the same iterates
bit for bit (the tests pin it against ``torch.optim``'s classes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from qsa import _validate

__all__ = ["OPTIMIZERS", "SCHEDULES", "Adam", "AdamW", "LBFGS", "SPSA", "make_optimizer", "make_scheduler"]

#: ``train.optimizer`` values.
OPTIMIZERS = ("adam", "adamw", "lbfgs", "spsa")
#: ``train.schedule`` values.
SCHEDULES = ("constant", "cosine", "linear", "step", "exponential")


def _undecorated(name: str) -> Callable[..., Any]:
    """``torch.optim.Optimizer.<name>`` without its ``torch._disable_dynamo`` wrapper (which imports torch._dynamo)."""
    method = getattr(torch.optim.Optimizer, name)
    return getattr(method, "__wrapped__", method)  # type: ignore[no-any-return]


class _Eager(torch.optim.Optimizer):
    """``Optimizer``'s methods without their ``torch._disable_dynamo`` wrappers (see the module's docstring)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _undecorated("add_param_group")(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _undecorated("zero_grad")(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return _undecorated("state_dict")(self)  # type: ignore[no-any-return]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _undecorated("load_state_dict")(self, state_dict)


#: ``torch.optim.Adam.step``'s body, inside its ``_use_grad_for_differentiable`` wrapper (and the
#: profiling hook every ``Optimizer`` subclass's ``step`` gets once an instance exists).
_ADAM_STEP: Callable[..., Any] = inspect.unwrap(torch.optim.Adam.step)


class Adam(_Eager, torch.optim.Adam):
    """``torch.optim.Adam`` that never imports ``torch._dynamo``; the same arithmetic, bit for bit.

    ``step`` runs torch's step body under ``torch.set_grad_enabled(differentiable)``, as torch's
    wrapper does, without the wrapper's ``torch._dynamo.graph_break()`` calls (no-ops outside
    ``torch.compile``, but importing ``torch._dynamo`` costs 1.4-2.5 s of CPU). Arguments as
    ``torch.optim.Adam``'s. Source: the library (issue 19).
    """

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return _ADAM_STEP(self, closure)  # type: ignore[no-any-return]


class AdamW(_Eager, torch.optim.AdamW):
    """``torch.optim.AdamW`` (decoupled weight decay) that never imports ``torch._dynamo``; see :class:`Adam`."""

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return _ADAM_STEP(self, closure)  # type: ignore[no-any-return]


class SPSA(_Eager):
    r"""Simultaneous perturbation stochastic approximation, as a ``torch.optim.Optimizer``.

    Step ``k = 1, 2, ...`` draws ``Delta`` with independent entries ``+-1`` (from ``seed``, never a
    global generator), evaluates the loss at ``theta +- c_k Delta`` and moves

    .. math::

        \theta \leftarrow \theta - a_k\,\frac{f(\theta + c_k\Delta) - f(\theta - c_k\Delta)}{2 c_k}\,\Delta,
        \qquad c_k = \frac{c}{k^{\gamma}},\qquad a_k = \mathrm{lr}\,\Bigl(\frac{A + 1}{A + k}\Bigr)^{\alpha},

    i.e. Spall's gains with ``a = lr (A + 1)^alpha`` (``lr`` is the first step's ``a_1``; PennyLane's
    ``qml.SPSAOptimizer`` defaults ``a_1 = 0.05``, ``A = 0.1 * maxiter``, ``c = 0.2``,
    ``alpha = 0.602``, ``gamma = 0.101``). ``step(closure)`` needs a closure returning the loss (no
    backward: it runs without gradients) and returns ``(f_+ + f_-) / 2``, an estimate of the loss at
    ``theta`` (biased by ``O(c_k^2)``), since SPSA does not evaluate ``f(theta)`` itself.

    Args:
        params: parameters or parameter groups.
        lr: ``a_1``, ``> 0``. c: perturbation size, ``> 0``.
        A: stability constant, ``>= 0`` (``None``: ``0.1 * steps``). alpha, gamma: gain exponents, ``> 0``.
        steps: planned number of steps (for the default ``A``).
        seed: int or ``numpy.random.Generator`` of the perturbations (saved in ``state_dict``).

    Source: J. C. Spall, IEEE Trans. Autom. Control 37, 332 (1992); PennyLane's ``SPSAOptimizer``.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        *,
        lr: float = 0.05,
        c: float = 0.2,
        A: float | None = None,
        alpha: float = 0.602,
        gamma: float = 0.101,
        steps: int = 100,
        seed: int | np.random.Generator,
    ) -> None:
        steps = _validate.integer(steps, "steps", minimum=0)
        A = 0.1 * steps if A is None else A
        for name, value, low in (("lr", lr, 0.0), ("c", c, 0.0), ("alpha", alpha, 0.0), ("gamma", gamma, 0.0)):
            if _validate.real_number(value, name) <= low:
                raise ValueError(f"{name} must be > {low}; got {value!r}")
        if _validate.real_number(A, "A") < 0:
            raise ValueError(f"A must be >= 0; got {A!r}")
        super().__init__(params, dict(lr=float(lr), c=float(c), A=float(A), alpha=float(alpha), gamma=float(gamma)))
        self.rng = _validate.generator(seed)
        self.k = 1

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:  # type: ignore[override]
        if closure is None:
            raise ValueError("closure must be given: SPSA evaluates the loss twice per step; got None")
        k = self.k
        entries = []  # (parameter, its value, Delta, c_k, a_k)
        for group in self.param_groups:
            ck = group["c"] / k ** group["gamma"]
            ak = group["lr"] * ((group["A"] + 1) / (group["A"] + k)) ** group["alpha"]
            for p in group["params"]:
                delta = torch.from_numpy(self.rng.choice([-1.0, 1.0], size=tuple(p.shape))).to(p.dtype)
                entries.append((p, p.detach().clone(), delta, ck, ak))
        for p, theta, delta, ck, _ in entries:
            p.copy_(theta + ck * delta)
        f_plus = float(closure())
        for p, theta, delta, ck, _ in entries:
            p.copy_(theta - ck * delta)
        f_minus = float(closure())
        for p, theta, delta, ck, ak in entries:
            p.copy_(theta - ak * (f_plus - f_minus) / (2 * ck) * delta)
        self.k += 1
        return torch.tensor(0.5 * (f_plus + f_minus), dtype=torch.float64)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["spsa"] = {"k": self.k, "rng": self.rng.bit_generator.state}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("spsa")
        super().load_state_dict(state_dict)
        self.k = int(extra["k"])
        self.rng.bit_generator.state = extra["rng"]


class LBFGS(_Eager, torch.optim.LBFGS):
    r"""``torch.optim.LBFGS`` that can answer a step's first evaluation from the previous step's line search.

    Each ``step(closure)`` of torch's class starts by evaluating the loss and gradient at the current
    parameters, which its previous step's line search has just evaluated: stepped with
    ``max_iter=1`` (one training step per iteration, each checkpointed), it costs about two
    evaluations per iteration where one call with ``max_iter = N`` costs one. This class remembers
    the evaluations during a step and keeps the one at the point the step ends on; a step called
    with ``same_closure=True`` (the caller's promise that its closure computes the same function of
    the parameters as the previous step's: a full batch, no randomness) answers its first
    evaluation from it -- the loss and a copy of every gradient, exactly as the closure computed
    them. The iterates, the losses and ``state_dict()`` are then those of ``torch.optim.LBFGS`` bit
    for bit (the tests pin it); only the count of closure calls changes. The remembered evaluation
    is not part of ``state_dict()`` (and ``load_state_dict`` forgets it): after a resume the first
    step evaluates that point again, with the same result.

    It also never imports ``torch._dynamo`` (see the module's docstring).

    Arguments as ``torch.optim.LBFGS``'s. Source: the library (issue 19).
    """

    def __init__(self, params: Any, **kwargs: Any) -> None:
        self._memo: list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor | None]]] = []
        self._recording: list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor | None]]] | None = None
        super().__init__(params, **kwargs)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._memo = []
        super().load_state_dict(state_dict)

    def _point(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params])

    def step(  # type: ignore[override]
        self, closure: Callable[[], torch.Tensor], *, same_closure: bool = False
    ) -> torch.Tensor:
        """One L-BFGS step (``max_iter`` iterations) of torch's class; returns the loss before it.

        ``same_closure=True``: ``closure`` computes the same function of the parameters as the
        previous step's, so the previous step's last evaluation at the current point may stand in
        for its first call. Raises ``ValueError`` without a closure.
        """
        if closure is None:
            raise ValueError("closure must be given: L-BFGS evaluates the loss and its gradient; got None")
        memo = self._memo if same_closure else []
        self._memo = []

        def evaluate() -> torch.Tensor:
            nonlocal memo
            point = self._point()
            for x, loss, grads in memo:
                if torch.equal(x, point):
                    for p, g in zip(self._params, grads):
                        p.grad = None if g is None else g.clone()
                    memo = []
                    return loss
            memo = []
            loss = closure()
            if self._recording is not None:
                grads = [None if p.grad is None else p.grad.detach().clone() for p in self._params]
                self._recording.append((point, loss.detach(), grads))
            return loss

        self._recording = []
        try:
            loss = super().step(evaluate)  # type: ignore[no-untyped-call]
            point = self._point()
            self._memo = [entry for entry in self._recording if torch.equal(entry[0], point)][-1:]
        finally:
            self._recording = None
        return loss  # type: ignore[no-any-return]


def make_optimizer(
    model: torch.nn.Module, cfg: Any, *, seed: int | np.random.Generator | None = None
) -> torch.optim.Optimizer:
    """The optimiser ``cfg.optimizer`` names over the model's trainable parameters.

    ``cfg`` is a :class:`qsa.training.TrainSection`. ``"lbfgs"`` (:class:`LBFGS`) takes one iteration per step;
    ``"spsa"`` needs ``seed`` (its perturbations).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "spsa":
        if seed is None:
            raise ValueError("seed must be given for optimizer 'spsa' (its perturbations); got None")
        return SPSA(
            params,
            lr=cfg.lr,
            c=cfg.spsa_c,
            A=cfg.spsa_A,
            alpha=cfg.spsa_alpha,
            gamma=cfg.spsa_gamma,
            steps=cfg.steps,
            seed=seed,
        )
    search = None if cfg.lbfgs_line_search == "none" else cfg.lbfgs_line_search
    # max_eval bounds the line search too (it gets max_eval - 1 evaluations): torch's default
    # max_iter * 5 // 4 = 1 would leave it none, and a rejected first trial would end in t = 0 forever.
    return LBFGS(
        params,
        lr=cfg.lr,
        max_iter=1,
        max_eval=1 + cfg.lbfgs_max_ls,
        history_size=cfg.lbfgs_history,
        line_search_fn=search,
    )


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: Any) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule of ``cfg`` (``None`` for a constant rate without warm-up), stepped once per step.

    ``"cosine"`` anneals from ``lr`` to ``min_lr`` and ``"linear"`` decays linearly to ``min_lr``
    over the steps after the warm-up; ``"step"`` multiplies by ``lr_gamma`` every ``lr_step_size``
    steps, ``"exponential"`` every step. A warm-up of ``w`` steps rises linearly from ``lr / (w + 1)``.
    """
    sched = torch.optim.lr_scheduler
    warmup = cfg.warmup_steps
    rest = max(1, cfg.steps - warmup)
    main: torch.optim.lr_scheduler.LRScheduler | None
    if cfg.schedule == "constant":
        main = None
    elif cfg.schedule == "cosine":
        main = sched.CosineAnnealingLR(optimizer, T_max=rest, eta_min=cfg.min_lr)
    elif cfg.schedule == "linear":
        main = sched.LinearLR(optimizer, start_factor=1.0, end_factor=cfg.min_lr / cfg.lr, total_iters=rest)
    elif cfg.schedule == "step":
        main = sched.StepLR(optimizer, step_size=cfg.lr_step_size, gamma=cfg.lr_gamma)
    else:
        main = sched.ExponentialLR(optimizer, gamma=cfg.lr_gamma)
    if warmup == 0:
        return main
    warm = sched.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
    if main is None:
        return warm
    return sched.SequentialLR(optimizer, [warm, main], milestones=[warmup])
