r"""Evaluators: what turns circuit parameters and tokens into QSA :class:`~qsa.analytic.Observables`.

Every way of obtaining the observables of a QSA model is an *evaluator*, a callable
``evaluator(params, X, Y, *, k, kernel, beta) -> Observables`` (the :class:`Evaluator` protocol).
One module each, and every one ends in :func:`qsa.analytic.observables_from_probabilities`, so
the losses are derived the same way on every tier (arXiv 2602.06699; docs/method.md section 4):

* ``"analytic"``: :class:`~qsa.evaluators.analytic.AnalyticEvaluator` (autograd through everything);
* ``"torch"``: :class:`~qsa.evaluators.statevector.StatevectorEvaluator` (backprop through the
  simulation, tokens included);
* ``"default.qubit"``, ``"lightning.qubit"``: :class:`~qsa.evaluators.pennylane.PennyLaneEvaluator`
  (backprop, adjoint or parameter shift);
* ``"aer"``: :class:`qsa.hardware.HardwareEvaluator` (batched parameter shift, one job per call).

:func:`make_evaluator` builds the one a :class:`~qsa.model.ModelConfig` names. The simulators
themselves live in :mod:`qsa.backends` (where a circuit runs); the hardware evaluator lives in
:mod:`qsa.hardware` with the runners that execute its Qiskit PUBs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from qsa._lazy import exports
from qsa.options import BACKENDS, DIFF_METHODS, HARDWARE_BACKENDS, PENNYLANE_DEVICES

if TYPE_CHECKING:
    import torch

    from qsa.analytic import Observables

__all__ = [
    "BACKENDS",
    "PENNYLANE_DEVICES",
    "HARDWARE_BACKENDS",
    "DIFF_METHODS",
    "Evaluator",
    "AnalyticEvaluator",
    "PennyLaneEvaluator",
    "StatevectorEvaluator",
    "make_evaluator",
]


#: The evaluator classes load their modules on first use (PennyLane only when its evaluator is used).
__getattr__, __dir__ = exports(
    __name__,
    {
        "AnalyticEvaluator": ".analytic",
        "PennyLaneEvaluator": ".pennylane",
        "StatevectorEvaluator": ".statevector",
    },
)


@runtime_checkable
class Evaluator(Protocol):
    r"""Anything that turns circuit parameters and tokens into QSA observables.

    ``evaluator(params, X, Y, *, k, kernel, beta) -> Observables`` where

    * ``params`` maps ``"theta_W"`` and ``"theta_V"`` to ``(L, n, 3)`` float64 ansatz angles (the
      ansatz of :func:`qsa.circuits.ansatz`, matrix :func:`qsa.ansatz.ansatz_unitary`) and, when the
      model has phases, ``"phi"`` to real phases of shape ``(T,)`` or ``(S, T)`` (the query phases
      ``e^{i phi_j}`` of circuit A's ``mu`` circuit; absent means no phases);
    * ``X``, ``Y`` are tokens and targets ``(S, T, d)``, complex with unit rows;
    * ``k``, ``kernel``, ``beta`` are the kernel options of :func:`qsa.observables`.

    It returns :class:`qsa.analytic.Observables` whose fields are torch tensors of shape ``(S,)``
    (``p``: ``(S, T)``), differentiable with respect to ``params`` (e.g. through a custom
    ``torch.autograd.Function`` running parameter-shift jobs). Fields it cannot estimate may be
    ``None``; the training loop needs the field of its loss (``L_B``, ``L_half`` or ``L_1``).
    Gradients with respect to ``X`` and ``Y`` are optional: an evaluator that cannot
    differentiate state preparation must raise if ``X`` or ``Y`` requires grad, never return a
    silent zero.
    """

    def __call__(
        self,
        params: Mapping[str, torch.Tensor],
        X: torch.Tensor,
        Y: torch.Tensor,
        *,
        k: int,
        kernel: str,
        beta: float | None,
    ) -> Observables: ...


def make_evaluator(
    backend: str,
    diff_method: str = "best",
    *,
    shots: int | None = None,
    shot_seed: int | None = None,
    noise: str | None = None,
    device: str = "cpu",
) -> Evaluator:
    """The evaluator a :class:`~qsa.model.ModelConfig` names: analytic, the torch simulator, a PennyLane device, or Aer.

    ``"aer"`` builds a :class:`qsa.hardware.HardwareEvaluator` on exact statevector probabilities
    (``shots=None``), on Aer's ``SamplerV2`` (``shots``, ``shot_seed``), or on a noisy Aer copy of
    the fake backend ``noise``. ``device`` (the model's torch device) picks Aer's GPU build for a
    CUDA device (exact and ideal sampling; the noisy fake backends simulate on the CPU).

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`.

    >>> make_evaluator("analytic")
    AnalyticEvaluator()
    """
    if backend == "analytic":
        from qsa.evaluators.analytic import AnalyticEvaluator

        return AnalyticEvaluator()
    if backend == "torch":
        from qsa.evaluators.statevector import StatevectorEvaluator

        return StatevectorEvaluator()
    if backend in PENNYLANE_DEVICES:
        from qsa.evaluators.pennylane import PennyLaneEvaluator

        return PennyLaneEvaluator(backend, diff_method=diff_method)
    if backend in HARDWARE_BACKENDS:
        from qsa import hardware  # Qiskit is imported only when the hardware path is used

        aer_device = "GPU" if device.startswith("cuda") else "CPU"
        if shots is None:
            runner = hardware.ExactRunner(device=aer_device)
        elif noise is None:
            runner = hardware.aer_sampler_runner(shots=shots, seed=shot_seed, device=aer_device)
        else:
            runner = hardware.NoisyAerRunner(noise, shots=shots, seed=shot_seed)
        return hardware.HardwareEvaluator(runner)
    raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
