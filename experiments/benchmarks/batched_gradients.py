"""Batched parameter-shift gradient step against one job per circuit, measured in the same run.

    python experiments/benchmarks/batched_gradients.py            # (T, d, k) = (4, 4, 1), 4 sequences, 1000 shots
    python experiments/benchmarks/batched_gradients.py --smoke    # seconds, for the tests

One gradient step of circuit A needs every parameter-shift point of every sequence on each of the
three circuits (mu, zeta, nu). Three ways to run exactly those parameter sets with the same shots:

* ``batched``: what qsa.hardware does -- templates transpiled once per shape, one job holding
  one PUB per circuit shape with a parameter array of all the points;
* ``per_circuit_plugin``: what the PennyLane-Qiskit plugin's primitive device does -- for every
  point, build the bound circuit, transpile it, run it as its own sampler job and wait;
* ``per_circuit_pretranspiled``: a kinder baseline -- bind the already transpiled template and
  run one job per point (no transpiling in the loop).

on two samplers: qiskit-aer's SamplerV2, and qiskit-ibm-runtime's client-side executor Sampler in
local testing mode on an AerSimulator (the runtime's own per-job client work). Prints a table
and writes ``<out>/batched_gradients-<stamp>.json`` with the times and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from qsa import runs
from qsa.backends.aer import pass_manager
from qsa.hardware import programs
from qsa.hardware.runners import SamplerRunner, isa_compile
from qsa.random import random_states


def _sampler(kind: str, seed: int):
    if kind == "aer":
        from qiskit_aer.primitives import SamplerV2

        return SamplerV2(seed=seed)
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.executor_sampler import Sampler

    sampler = Sampler(mode=AerSimulator())
    sampler.options.simulator.seed_simulator = seed
    return sampler


def measure(kind: str, *, T: int, d: int, k: int, L: int, S: int, shots: int, seed: int) -> dict:
    shape = programs.Shape("A", T, d, k, "mono", None, L, L, True)
    prog = programs.program(shape)
    rng = np.random.default_rng(seed)
    X, Y = random_states(S, T, d, seed=rng), random_states(S, T, d, seed=rng)
    n = shape.n_qubits
    params = {"theta_W": rng.normal(size=(L, n, 3)), "theta_V": rng.normal(size=(L, n, 3)), "phi": rng.uniform(-np.pi, np.pi, T)}
    pm = pass_manager()
    sampler = _sampler(kind, seed)
    from qsa.hardware.runners import Pub

    # warm-up (imports, first-call caches) of every path, untimed
    warm = prog.bindings(params, X[:1], Y[:1], gradient=False)
    for v, t in prog.templates.items():
        c = isa_compile(t.qiskit.circuit, pm, n_index=t.n_index, n_zero=t.n_zero)
        sampler.run([(c.circuit, c.values(warm[v]))], shots=shots).result()
        sampler.run([pm.run(t.qiskit.circuit.assign_parameters(warm[v][0]))], shots=shots).result()

    # batched: compile once per shape (counted), bind, one job
    start = time.perf_counter()
    compiled = {v: isa_compile(t.qiskit.circuit, pm, n_index=t.n_index, n_zero=t.n_zero) for v, t in prog.templates.items()}
    compile_seconds = time.perf_counter() - start
    runner = SamplerRunner(sampler, shots=shots, pass_manager=pm)

    start = time.perf_counter()
    bindings = prog.bindings(params, X, Y, gradient=True)
    cells = runner.run([Pub(compiled[v], bindings[v]) for v in shape.variants])
    batched = time.perf_counter() - start + compile_seconds
    n_sets = sum(len(b) for b in bindings.values())

    # per circuit, as the plugin does: bind, transpile, one job each
    start = time.perf_counter()
    for v in shape.variants:
        template = prog.templates[v].qiskit.circuit
        for row in bindings[v]:
            bound = template.assign_parameters(row)
            isa = pm.run(bound)
            sampler.run([isa], shots=shots).result()
    plugin = time.perf_counter() - start

    # per circuit, pre-transpiled: bind the compiled template, one job each
    start = time.perf_counter()
    for v in shape.variants:
        c = compiled[v]
        for row in c.values(bindings[v]):
            sampler.run([(c.circuit, row[None])], shots=shots).result()
    pretranspiled = time.perf_counter() - start

    return {
        "sampler": kind,
        "shape": {"T": T, "d": d, "k": k, "layers": L, "qubits": max(t.qsa_circuit.n_qubits for t in prog.templates.values())},
        "sequences": S,
        "shots": shots,
        "parameter_sets": n_sets,
        "parameter_sets_per_circuit": {v: len(b) for v, b in bindings.items()},
        "seconds": {"batched": batched, "batched_compile": compile_seconds, "per_circuit_plugin": plugin,
                    "per_circuit_pretranspiled": pretranspiled},
        "jobs": {"batched": 1, "per_circuit_plugin": n_sets, "per_circuit_pretranspiled": n_sets},
        "ratio_plugin_over_batched": plugin / batched,
        # what each extra job costs here; on a device every job also waits in the queue
        "overhead_seconds_per_extra_job": {"plugin": (plugin - batched) / max(n_sets - 1, 1),
                                           "pretranspiled": (pretranspiled - batched) / max(n_sets - 1, 1)},
        "ratio_pretranspiled_over_batched": pretranspiled / batched,
        "check_cells_finite": bool(all(np.isfinite(c).all() for c in cells)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/benchmarks", help="directory of the JSON output (default: runs/benchmarks)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--samplers", nargs="+", default=["aer", "runtime-local"], choices=["aer", "runtime-local"])
    parser.add_argument("--repeats", type=int, default=1, help="repeat each measurement and keep the median ratio")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    size = dict(T=2, d=2, k=1, L=1, S=1, shots=100) if args.smoke else dict(T=4, d=4, k=1, L=1, S=4, shots=1000)
    rows = []
    for kind in args.samplers:
        measures = [measure(kind, seed=args.seed + r, **size) for r in range(args.repeats)]
        row = sorted(measures, key=lambda m: m["ratio_plugin_over_batched"])[len(measures) // 2]  # the median repeat
        row["repeats"] = [{k: m[k] for k in ("seconds", "ratio_plugin_over_batched", "ratio_pretranspiled_over_batched")} for m in measures]
        row["ratio_plugin_over_batched_median"] = statistics.median(m["ratio_plugin_over_batched"] for m in measures)
        row["ratio_pretranspiled_over_batched_median"] = statistics.median(m["ratio_pretranspiled_over_batched"] for m in measures)
        rows.append(row)
        s = row["seconds"]
        print(f"{kind:14} {row['parameter_sets']:5d} parameter sets x {row['shots']} shots on {row['shape']['qubits']} qubits: "
              f"batched {s['batched']:.2f} s (1 job; compile {s['batched_compile']:.2f} s), "
              f"per circuit as the plugin {s['per_circuit_plugin']:.2f} s, pre-transpiled {s['per_circuit_pretranspiled']:.2f} s "
              f"({row['parameter_sets']} jobs); ratio {row['ratio_plugin_over_batched_median']:.1f}x "
              f"(pre-transpiled {row['ratio_pretranspiled_over_batched_median']:.1f}x); "
              f"{1e3 * row['overhead_seconds_per_extra_job']['plugin']:.0f} ms per extra job")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = out / f"batched_gradients-{stamp}.json"
    runs.write_json(path, {"rows": rows, "smoke": args.smoke, "environment": runs.environment(Path(__file__).parent)})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
