r"""The ``"torch"`` evaluator: circuit A's ``mu``, ``zeta`` and ``nu`` circuits on QSA's batched torch simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from qsa import _validate, analytic
from qsa.analytic import Observables
from qsa.backends.statevector import MAX_FUSED_WIRES, compile_circuits
from qsa.circuits import QSACircuit, Shape
from qsa.evaluators import _limits
from qsa.evaluators._inputs import check_memory, checked_call

__all__ = ["MAX_AMPLITUDES", "StatevectorEvaluator"]

#: Default bound on ``chunk x 2^n`` amplitudes held per state (2^22: 64 MiB in complex128).
MAX_AMPLITUDES = _limits.MAX_AMPLITUDES


class StatevectorEvaluator:
    r"""Circuit A's ``mu``, ``zeta`` and ``nu`` circuits simulated in torch, all sequences in one batch.

    The :class:`~qsa.evaluators.Evaluator` of backend ``"torch"``: ``evaluator(params, X, Y, *, k,
    kernel, beta) -> Observables`` with the circuits of :meth:`qsa.circuits.Shape.build` (ansatz
    gates for ``W`` and ``V``, query phases when ``params`` holds ``phi``), simulated by
    :mod:`qsa.backends.statevector`, read out as :func:`qsa.circuit_observables` reads them
    (``mu``; ``zeta_j``, ``nu_j`` per query index) and assembled by
    :func:`qsa.analytic.observables_from_probabilities`. Gradients by backprop through the
    simulation reach ``theta_W``, ``theta_V``, ``phi`` and the tokens ``X``, ``Y`` (an embedding).

    Args:
        dtype: ``torch.complex128`` (default; agrees with the analytic tier to 1e-10) or
            ``torch.complex64`` (about twice as fast on wide circuits; ~1e-6 relative accuracy).
        max_fused_wires: widest run of gates fused into one matrix (see
            :func:`qsa.backends.statevector.simulate_many`).
        max_amplitudes: sequences are simulated in chunks of at most ``max_amplitudes / 2^n``;
            with gradients, each chunk is checkpointed (recomputed in the backward pass), so the
            memory of a step is that of one chunk.

    Raises:
        ValueError: for a dtype other than complex64/complex128, or bounds that are not
            non-negative (``max_fused_wires``) or positive (``max_amplitudes``) integers.
    """

    def __init__(
        self,
        *,
        dtype: torch.dtype = torch.complex128,
        max_fused_wires: int = MAX_FUSED_WIRES,
        max_amplitudes: int = MAX_AMPLITUDES,
    ) -> None:
        self.dtype = _validate.complex_dtype(dtype)
        self.max_fused_wires = _validate.integer(
            max_fused_wires, "max_fused_wires", minimum=0, describe="an integer >= 0"
        )
        self.max_amplitudes = _validate.integer(max_amplitudes, "max_amplitudes", minimum=1, describe="an integer >= 1")
        self._programs: dict[Shape, tuple[dict[str, QSACircuit], Any]] = {}
        self._checked: set[Any] = set()

    def __getstate__(self) -> dict[str, Any]:
        """Compiled simulation programs are rebuilt by a copy on first use."""
        return {**self.__dict__, "_programs": {}}

    def _program(self, shape: Shape) -> tuple[dict[str, QSACircuit], Any]:
        """The ``mu``, ``zeta``, ``nu`` circuits of ``shape`` and their compiled program (built once)."""
        if shape not in self._programs:
            qcs = shape.build_all()
            program = compile_circuits(
                tuple(qc.circuit for qc in qcs.values()),
                self.max_fused_wires,
                tuple((qc.index_wires, qc.zero_wires) for qc in qcs.values()),
            )
            self._programs[shape] = (qcs, program)
        return self._programs[shape]

    def circuits(
        self, T: int, d: int, k: int, kernel: str, beta: float | None, w_layers: int, v_layers: int, phases: bool
    ) -> dict[str, QSACircuit]:
        """The ``mu``, ``zeta``, ``nu`` :class:`~qsa.circuits.QSACircuit` of one shape (built once)."""
        return self._program(Shape("A", T, d, k, kernel, beta, w_layers, v_layers, phases))[0]

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
        call = checked_call(params, X, Y, k=k, kernel=kernel, beta=beta)
        S, T, _ = call.X.shape
        chunk = max(1, self.max_amplitudes // 2**call.shape.n_wires)
        check_memory(call, "torch", batch=min(S, chunk), checked=self._checked)
        qcs, program = self._program(call.shape)
        arrays = {"x": call.X.to(self.dtype), "y": call.Y.to(self.dtype), "theta_W": call.theta_W}
        arrays["theta_V"] = call.theta_V
        if call.phi is not None:
            arrays["phi"] = call.phi  # (S, T)

        def cells(part: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
            return tuple(program.run(part, self.dtype))  # mu (B, 1), zeta and nu (B, 2^c) cells

        chunk = max(1, self.max_amplitudes // 2 ** qcs["mu"].n_qubits)
        if S <= chunk:
            mu, zeta, nu = cells(arrays)
        else:
            parts = []
            for start in range(0, S, chunk):
                part = {
                    name: (a[start : start + chunk] if name in ("x", "y", "phi") else a) for name, a in arrays.items()
                }
                if torch.is_grad_enabled():
                    from torch.utils.checkpoint import checkpoint

                    parts.append(checkpoint(cells, part, use_reentrant=False))
                else:
                    parts.append(cells(part))
            mu, zeta, nu = (torch.cat(c) for c in zip(*parts))
        real = torch.float64 if self.dtype == torch.complex128 else torch.float32
        obs = analytic.observables_from_probabilities(mu[:, 0].to(real), zeta[:, :T].to(real), nu[:, :T].to(real))
        if call.single:
            obs = obs.sequence(0)
        return obs

    def __repr__(self) -> str:
        return f"StatevectorEvaluator(dtype={self.dtype}, max_fused_wires={self.max_fused_wires})"
