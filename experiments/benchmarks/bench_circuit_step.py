"""Circuit-in-the-loop training step on circuit A: QSA's torch simulator against PennyLane.

One step = ``model.loss(batch, "L_B")`` and its backward pass, for a :class:`qsa.model.QSAModel`
with trained query phases, on the mu, zeta and nu circuits of circuit A (ansatz gates for W and
V) -- the same circuits, the same parameters and the same sequences on every path:

* ``torch``: :class:`qsa.evaluators.StatevectorEvaluator` (backprop; complex128 and
  complex64);
* ``default.qubit``: :class:`qsa.evaluators.PennyLaneEvaluator` with backprop (PennyLane's fastest
  differentiable path for this circuit; one QNode per circuit, sequence by sequence);
* ``lightning.qubit``: the same with the adjoint method;
* ``analytic``: the closed forms, for scale (not a circuit).

Every path's loss and gradient are checked against the torch path (recorded in the JSON).
"""

from __future__ import annotations

from typing import Any

import torch
from common import interleaved, row, stats

from qsa.circuits import circuit_a
from qsa.data import Sequences
from qsa.evaluators import AnalyticEvaluator, PennyLaneEvaluator, StatevectorEvaluator
from qsa.model import ModelConfig, QSAModel
from qsa.random import random_states

GOAL = 10.0


def _models(T, d, k, L, evaluators, seed=0):
    models = {}
    for name, ev in evaluators.items():
        m = QSAModel(ModelConfig(d=d, T=T, k=k, w_layers=L, v_layers=L, phases="trained"), seed=seed, evaluator=ev)
        with torch.no_grad():
            m.phi.copy_(torch.linspace(-1.0, 1.0, T, dtype=torch.float64))
        models[name] = m
    return models


def _step(model, batch) -> tuple[float, torch.Tensor]:
    model.zero_grad()
    loss = model.loss(batch, "L_B")
    loss.backward()
    grad = torch.cat([p.grad.reshape(-1) for p in (model.theta_W, model.theta_V, model.phi)])
    return float(loss.detach()), grad


def run(*, smoke: bool, repeats: int) -> dict[str, Any]:
    if smoke:
        configs = [dict(T=2, d=2, k=1, L=1, S=1)]
        repeats = 1
    else:
        configs = [dict(T=4, d=8, k=2, L=2, S=2), dict(T=4, d=8, k=2, L=8, S=2), dict(T=8, d=8, k=2, L=2, S=2)]
    results, rows = [], []
    for cfg in configs:
        T, d, k, L, S = (cfg[key] for key in ("T", "d", "k", "L", "S"))
        qubits = circuit_a(T, d, k).n_qubits
        batch = Sequences(
            torch.as_tensor(random_states(S, T, d, seed=1)), torch.as_tensor(random_states(S, T, d, seed=2))
        )
        evaluators = {
            "torch": StatevectorEvaluator(),
            "torch complex64": StatevectorEvaluator(dtype=torch.complex64),
            "default.qubit backprop": PennyLaneEvaluator("default.qubit", diff_method="backprop"),
            "lightning.qubit adjoint": PennyLaneEvaluator("lightning.qubit", diff_method="adjoint"),
            "analytic": AnalyticEvaluator(),
        }
        models = _models(T, d, k, L, evaluators)
        times = interleaved(
            {name: (lambda m=m, batch=batch: _step(m, batch)) for name, m in models.items()}, repeats=repeats, warmup=1
        )
        values = {name: _step(m, batch) for name, m in models.items()}
        loss0, grad0 = values["torch"]
        agreement = {
            name: {"loss_abs": abs(v[0] - loss0), "grad_max_abs": float((v[1].double() - grad0).abs().max())}
            for name, v in values.items()
        }
        case = f"{qubits}q T={T} d={d} k={k} L={L} S={S}"
        results.append(
            {**cfg, "qubits": qubits, "seconds": {n: stats(t) for n, t in times.items()}, "agreement": agreement}
        )
        rows.append(row("circuit step (L_B fwd+bwd)", case, "default.qubit backprop", "torch", times, goal=GOAL))
        rows.append(row("circuit step (L_B fwd+bwd)", case, "default.qubit backprop", "torch complex64", times))
        rows.append(row("circuit step (L_B fwd+bwd)", case, "lightning.qubit adjoint", "torch", times))
        rows.append(row("circuit step (L_B fwd+bwd)", case, "torch", "analytic", times, note="closed forms, for scale"))
    return {
        "configs": results,
        "rows": rows,
        "setup": {"loss": "L_B", "phases": "trained", "kernel": "mono", "torch_threads": torch.get_num_threads()},
    }


def report(result: dict[str, Any]) -> str:
    lines = []
    for c in result["configs"]:
        worst = max((a["loss_abs"] for n, a in c["agreement"].items() if n != "torch complex64"), default=0.0)
        worst_g = max((a["grad_max_abs"] for n, a in c["agreement"].items() if n != "torch complex64"), default=0.0)
        c64 = c["agreement"]["torch complex64"]
        lines.append(
            f"  {c['qubits']}q T={c['T']} d={c['d']} k={c['k']} L={c['L']}: every complex128 path agrees with torch to "
            f"|dloss| {worst:.1e}, |dgrad| {worst_g:.1e}; complex64 |dloss| {c64['loss_abs']:.1e}, |dgrad| {c64['grad_max_abs']:.1e}"
        )
    return "\n".join(lines)
