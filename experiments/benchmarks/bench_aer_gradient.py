"""One parameter-shift gradient on Aer: one batched job against one job per circuit.

A gradient step of circuit A needs every parameter-shift point of every sequence on the mu, zeta
and nu circuits (284 circuits for the default size). Four ways to get the same shot counts:

* ``batched SamplerV2`` -- :class:`qsa.hardware.HardwareEvaluator` with Aer's SamplerV2: one
  template per circuit shape transpiled once (counted), one job of three PUBs with a parameter
  array each, then the backward pass;
* ``batched exact+sampling`` -- the same with :class:`qsa.hardware.ExactRunner` ``(shots=...)``:
  one Aer statevector job, counts drawn from its probabilities by numpy (ideal sampling);
* ``per circuit (plugin)`` -- what the PennyLane-Qiskit plugin's ``qiskit.remote`` device does
  for each circuit of a gradient (``QiskitDevice.execute`` / ``_execute_sampler``): convert the
  circuit to a fresh ``QuantumCircuit`` (here: our exporter, lowering included, values bound),
  ``transpile(circuit, backend=AerSimulator())`` with Qiskit's default settings, one sampler job,
  wait. PennyLane's own per-tape work (building and post-processing the shifted tapes) is not
  included, so this baseline is a lower bound on the plugin's time;
* ``per circuit (pre-transpiled)`` -- a kinder baseline isolating the cost of jobs alone: bind
  the already transpiled template, one SamplerV2 job per circuit.

The old ``batched_gradients.py`` compared against a per-circuit path that bound a cached template
and transpiled at optimisation level 0 onto a six-gate basis -- neither is what the plugin does --
and its batched path ran Aer's SamplerV2, whose per-shot bitstrings dominate a 284-circuit job;
hence its modest 1.5-2.9x.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from common import interleaved, row, stats

from qsa.circuits import Shape
from qsa.circuits.to_qiskit import to_qiskit
from qsa.hardware import ExactRunner, HardwareEvaluator, programs
from qsa.hardware.runners import SamplerRunner, isa_compile
from qsa.random import random_states

GOAL = 20.0


def run(*, smoke: bool, repeats: int) -> dict[str, Any]:
    from qiskit import transpile
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    from qsa.backends.aer import pass_manager

    size = dict(T=2, d=2, k=1, L=1, S=1, shots=100) if smoke else dict(T=4, d=4, k=1, L=1, S=4, shots=1000)
    repeats = 1 if smoke else min(repeats, 3)
    subset = 2 if smoke else None  # smoke: the per-circuit baselines run 2 circuits per shape (ratios meaningless)
    T, d, k, L, S, shots = (size[key] for key in ("T", "d", "k", "L", "S", "shots"))
    rng = np.random.default_rng(0)
    n = d.bit_length() - 1
    X, Y = (torch.as_tensor(random_states(S, T, d, seed=rng)) for _ in range(2))
    params = {
        "theta_W": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
        "theta_V": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
        "phi": torch.tensor(rng.uniform(-np.pi, np.pi, T), requires_grad=True),
    }
    shape = Shape("A", T, d, k, "mono", None, L, L, True)
    prog = programs.program(shape)
    arrays = {name: v.detach().numpy() for name, v in params.items()}
    bindings = prog.bindings(arrays, X.numpy(), Y.numpy(), gradient=True)
    n_circuits = sum(len(b) for b in bindings.values())
    backend = AerSimulator()
    jobs: dict[str, int] = {}

    def batched(runner_factory, name):
        def go():
            ev = HardwareEvaluator(runner_factory())  # fresh: templates compiled inside the timing
            obs = ev(params, X, Y, k=k)
            for p in params.values():
                p.grad = None
            obs.L_B.sum().backward()
            jobs[name] = len(ev.job_ids)

        return go

    def per_circuit_plugin():
        sampler = SamplerV2(seed=1)
        count = 0
        for v in shape.variants:
            tpl = prog.templates[v]
            for values in bindings[v][:subset]:
                fresh = to_qiskit(tpl.qsa_circuit.circuit, measure=tpl.qsa_circuit.measured_wires)  # conversion
                bound = fresh.circuit.assign_parameters(values)
                isa = transpile(bound, backend=backend)  # the plugin's compile_circuits, default settings
                sampler.run([isa], shots=shots).result()
                count += 1
        jobs["per circuit (plugin)"] = count

    compiled = {
        v: isa_compile(t.qiskit.circuit, pass_manager(), n_index=t.n_index, n_zero=t.n_zero)
        for v, t in prog.templates.items()
    }

    def per_circuit_pretranspiled():
        sampler = SamplerV2(seed=1)
        count = 0
        for v in shape.variants:
            c = compiled[v]
            for values in c.values(bindings[v][:subset]):
                sampler.run([(c.circuit, values[None])], shots=shots).result()
                count += 1
        jobs["per circuit (pre-transpiled)"] = count

    cases = {
        "batched SamplerV2": batched(
            lambda: SamplerRunner(SamplerV2(seed=1), shots=shots, pass_manager=pass_manager()), "batched SamplerV2"
        ),
        "batched exact+sampling": batched(lambda: ExactRunner(shots=shots, seed=1), "batched exact+sampling"),
        "per circuit (plugin)": per_circuit_plugin,
        "per circuit (pre-transpiled)": per_circuit_pretranspiled,
    }
    times = interleaved(cases, repeats=repeats, warmup=0 if smoke else 1)
    case = f"T={T} d={d} k={k} L={L} S={S}, {n_circuits} circuits x {shots} shots"
    rows = [
        row("Aer parameter-shift gradient", case, "per circuit (plugin)", "batched exact+sampling", times, goal=GOAL),
        row("Aer parameter-shift gradient", case, "per circuit (plugin)", "batched SamplerV2", times),
        row("Aer parameter-shift gradient", case, "per circuit (pre-transpiled)", "batched exact+sampling", times),
        row(
            "Aer parameter-shift gradient",
            case,
            "per circuit (pre-transpiled)",
            "batched SamplerV2",
            times,
            note="isolates the cost of the jobs",
        ),
    ]
    qubits = max(t.qsa_circuit.n_qubits for t in prog.templates.values())
    return {
        "size": {**size, "qubits": qubits},
        "circuits": n_circuits,
        "jobs": jobs,
        "per_circuit_subset": subset,
        "parameter_sets_per_circuit": {v: len(b) for v, b in bindings.items()},
        "seconds": {name: stats(t) for name, t in times.items()},
        "rows": rows,
    }


def report(result: dict[str, Any]) -> str:
    s = result["seconds"]
    out = f"  {result['circuits']} circuits on {result['size']['qubits']} qubits; jobs: " + ", ".join(
        f"{name} {count}" for name, count in result["jobs"].items()
    )
    if result["per_circuit_subset"] is None:
        per = {name: s[name]["median"] / result["circuits"] for name in s}
        out += "\n  per circuit: " + ", ".join(f"{name} {1e3 * v:.1f} ms" for name, v in per.items())
    return out
