r"""The PennyLane evaluator: circuit A's ``mu``, ``zeta`` and ``nu`` circuits as torch QNodes (circuits in the loop)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from qsa import _validate, analytic
from qsa.analytic import Observables
from qsa.circuits import QSACircuit, Shape
from qsa.evaluators import DIFF_METHODS, PENNYLANE_DEVICES
from qsa.evaluators._inputs import check_memory, checked_call
from qsa.options import GPU_BACKENDS

__all__ = ["PennyLaneEvaluator"]

#: Widest Projector handed to lightning.qubit in one piece (see PennyLaneEvaluator._qnode).
_PROJECTOR_GROUP = 6


def _resolved_diff_method(device: str, diff_method: str) -> str:
    if diff_method != "best":
        return diff_method
    return "backprop" if device == "default.qubit" else "adjoint"


@contextlib.contextmanager
def _float64_results() -> Iterator[None]:
    """Torch's default dtype float64 while QNodes run.

    PennyLane's torch interface turns a device result that is a Python float into a tensor with
    ``torch.as_tensor``, i.e. of the default dtype, float32: lightning.qubit returns Python floats
    for expectation values of products of projectors, so without this they would lose 8 digits.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def check_gpu_simulator(device: str) -> None:
    """Refuse ``lightning.gpu`` where its plugin or a CUDA device is missing (before any circuit is built).

    Raises:
        UserError: naming what is missing and how to install it.
    """
    import importlib.util

    from qsa.errors import UserError

    if importlib.util.find_spec("pennylane_lightning.lightning_gpu_ops") is None:
        raise UserError(
            f"model.backend must be an installed PennyLane device; got {device!r}, but pennylane-lightning-gpu is not "
            'installed (pip install "qsa[gpu]", on a machine with an NVIDIA GPU and CUDA 12)',
            key="model.backend",
        )
    if not torch.cuda.is_available():
        raise UserError(
            f"model.backend must run where its hardware is; got {device!r} but no CUDA device is visible",
            key="model.backend",
        )


class PennyLaneEvaluator:
    r"""Circuit A's ``mu``, ``zeta`` and ``nu`` circuits (ansatz gates for ``W``, ``V``) run as torch QNodes.

    One QNode per circuit and :class:`~qsa.circuits.Shape`, applied sequence by sequence. Each
    QNode returns the expectation values of the projectors the observables are read from:
    ``|0...0><0...0|`` on every wire (``mu``) and ``|j><j| (x) |0..0><0..0|`` on the index and
    zero wires for ``j < T`` (``zeta_j``, ``nu_j``, as in :func:`qsa.circuit_observables`); they
    are assembled in torch by :func:`qsa.analytic.observables_from_probabilities`, so gradients
    flow. Expectation values (not probabilities) because the adjoint method differentiates only
    those. Token loads are applied as block-diagonal matrices (``select="matrix"`` of
    :func:`qsa.circuits.to_pennylane.apply`).

    ``diff_method="backprop"`` (default.qubit) also differentiates the token loads, so gradients
    reach an embedding; ``"adjoint"`` and ``"parameter-shift"`` differentiate gate angles only
    and raise if ``X`` or ``Y`` needs a gradient. lightning.qubit's adjoint Jacobian fails on
    controlled matrices (pennylane-lightning 0.45 raises ``IndexError: unordered_map::at``), which
    the poly kernel's controlled key copies need: that combination is refused.

    Args:
        device: ``"default.qubit"``, ``"lightning.qubit"`` or ``"lightning.gpu"`` (NVIDIA GPUs:
            ``pip install "qsa[gpu]"``; refused with the install command where it is missing).
        diff_method: ``"best"`` (backprop on default.qubit, adjoint on lightning), ``"backprop"``,
            ``"adjoint"`` or ``"parameter-shift"``.

    Raises:
        ValueError: for an unknown device or method, or backprop on lightning.qubit.
    """

    def __init__(self, device: str = "default.qubit", *, diff_method: str = "best") -> None:
        _validate.one_of(device, "device", PENNYLANE_DEVICES)
        _validate.one_of(diff_method, "diff_method", DIFF_METHODS)
        if device in GPU_BACKENDS:
            check_gpu_simulator(device)
        method = _resolved_diff_method(device, diff_method)
        if method == "backprop" and device != "default.qubit":
            raise ValueError(
                f"diff_method must not be 'backprop' on {device} (it supports adjoint and parameter-shift); got 'backprop'"
            )
        self.device, self.diff_method = device, method
        self._qnodes: dict[Shape, dict[str, tuple[QSACircuit, Any]]] = {}
        self._checked: set[Any] = set()

    def __getstate__(self) -> dict[str, Any]:
        """Devices and QNodes (local closures, simulator handles) are rebuilt by a copy on first use."""
        return {**self.__dict__, "_qnodes": {}}

    @property
    def differentiates_data(self) -> bool:
        """Whether gradients reach the tokens ``X``, ``Y`` (backprop through the state loads)."""
        return self.diff_method == "backprop"

    def _qnode(self, qc: QSACircuit) -> Any:
        import pennylane as qml

        from qsa.circuits import bits
        from qsa.circuits.to_pennylane import apply

        dev = qml.device(self.device, wires=qc.n_qubits)
        wires = list(qc.index_wires + qc.zero_wires)
        n_values = qc.T if qc.index_wires else 1
        patterns = [list(bits(j, len(qc.index_wires)) + (0,) * len(qc.zero_wires)) for j in range(n_values)]

        def projector(pattern: list[int]) -> Any:
            if not self.device.startswith("lightning.") or len(wires) <= _PROJECTOR_GROUP:
                return qml.Projector(pattern, wires=wires)
            # lightning turns a Projector into a dense 2^m x 2^m Hermitian matrix (8 GiB of work
            # per adjoint pass at m = 13); a product of projectors on small wire groups is the
            # same operator and stays small.
            groups = range(0, len(wires), _PROJECTOR_GROUP)
            return qml.prod(
                *(
                    qml.Projector(pattern[g : g + _PROJECTOR_GROUP], wires=wires[g : g + _PROJECTOR_GROUP])
                    for g in groups
                )
            )

        @qml.qnode(dev, interface="torch", diff_method=self.diff_method)
        def projectors(values: Mapping[str, Any]) -> list[Any]:
            apply(qc.circuit, values, select="matrix")
            return [qml.expval(projector(b)) for b in patterns]

        return projectors

    def _circuits(self, shape: Shape) -> dict[str, tuple[QSACircuit, Any]]:
        if shape not in self._qnodes:
            self._qnodes[shape] = {v: (qc, self._qnode(qc)) for v, qc in shape.build_all().items()}
        return self._qnodes[shape]

    def __call__(
        self,
        params: Mapping[str, torch.Tensor],
        X: torch.Tensor,
        Y: torch.Tensor,
        *,
        k: int,
        kernel: str = "mono",
        beta: float | None = None,
    ) -> Observables:
        if (X.requires_grad or Y.requires_grad) and not self.differentiates_data:
            raise ValueError(
                f"X and Y must not require grad with diff_method={self.diff_method!r} on {self.device} "
                "(it cannot differentiate state preparation): freeze the embedding or use default.qubit with backprop"
            )
        if kernel == "poly" and self.device.startswith("lightning.") and self.diff_method == "adjoint":
            raise ValueError(
                f"kernel must be 'mono' for adjoint differentiation on {self.device} (its adjoint Jacobian fails on "
                "the poly kernel's controlled loads); got 'poly': use default.qubit or diff_method='parameter-shift'"
            )
        call = checked_call(params, X, Y, k=k, kernel=kernel, beta=beta)
        check_memory(call, self.device, diff_method=self.diff_method, checked=self._checked)
        S, T, _ = call.X.shape
        values: dict[str, torch.Tensor] = {}
        with _float64_results():
            for variant, (_qc, qnode) in self._circuits(call.shape).items():
                rows = []
                for s in range(S):
                    inputs = {"x": call.X[s], "y": call.Y[s], "theta_W": call.theta_W, "theta_V": call.theta_V}
                    if call.phi is not None and variant == "mu":
                        inputs["phi"] = call.phi[s]
                    rows.append(torch.stack(list(qnode(inputs))))  # (T,) or (1,): P(C1 = j, zero wires = 0)
                values[variant] = torch.stack(rows)  # (S, T) or (S, 1)
        obs = analytic.observables_from_probabilities(values["mu"][:, 0], values["zeta"], values["nu"])
        if call.single:
            obs = obs.sequence(0)
        return obs

    def __repr__(self) -> str:
        return f"PennyLaneEvaluator({self.device!r}, diff_method={self.diff_method!r})"
