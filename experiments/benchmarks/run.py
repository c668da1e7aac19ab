"""Every benchmark of QSA in one command: a table of ratios against baselines measured in the same run.

    python experiments/benchmarks/run.py                 # the full suite (about 6 minutes on 2 cores, plus p1: 4.5 minutes at load 11-15)
    python experiments/benchmarks/run.py --smoke         # seconds: tiny sizes, run by the tests
    python experiments/benchmarks/run.py --only analytic circuit_step
    python experiments/benchmarks/run.py --threads 1      # torch threads for every benchmark but tfim

Benchmarks (see each module's docstring):

* ``analytic``      forward + backward of L_B at growing T and d: reference vs fast (and complex64),
                    peak memory, growth exponents; goal T = 4096, d = 64 under 1 s;
* ``circuit_step``  a circuit-in-the-loop training step on circuit A (>= 13 qubits): QSA's torch
                    simulator vs PennyLane default.qubit backprop (goal >= 10x) and lightning adjoint;
* ``aer_gradient``  one parameter-shift gradient on Aer: one batched job vs one job per circuit
                    (goal >= 20x);
* ``tfim``          time to reach training L_1 < 0.1 on the tfim reference task, analytic path;
* ``authors``       P1b: one steady-state loss + gradient (T = 256, d = 16, k = 2, 4 sequences)
                    against the paper authors' algorithm (JAX, jitted, complex128) reproduced in
                    ``authors.py``; skipped without ``jax`` (goal: ratio >= 1);
* ``p1``            P1: whole process to training L_1 < 0.1 on the tfim reference task (seeds
                    0-4, one process per case and seed, CPU seconds), QSA's ``train`` against
                    ``authors.py`` (JAX + SciPy L-BFGS-B) on identical data and starting angles;
                    also without imports and JIT, and start-up to the first evaluation (goals
                    10x and 2x); only QSA's figures without ``jax``.

Every ratio pairs the baseline and the fast path timed in the same repeat (cases interleaved,
order rotating), so load from other jobs affects both; the table gives the median over repeats
and the min-max. Writes ``<out>/benchmarks-<stamp>.json`` with the machine, package versions,
git commit, torch's thread count, the load average before and after the run and each benchmark,
every timing and every ratio. A run on a busy machine (load average above the core count) says so
in its header: its absolute times are not comparable with an idle machine's (the ratios less so,
but they too move). Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from common import format_table, machine  # noqa: E402

from qsa import runs  # noqa: E402
from qsa.errors import run_command  # noqa: E402

BENCHMARKS = ("analytic", "circuit_step", "aer_gradient", "tfim", "authors", "p1")


def _module(name: str):
    import importlib

    return importlib.import_module(f"bench_{name}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (for the tests)")
    parser.add_argument(
        "--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS), help="run only these benchmarks"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed repeats per case (slow cases use at most 3; default 5)"
    )
    parser.add_argument(
        "--out", default="runs/benchmarks", help="directory of the JSON output (default: runs/benchmarks)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the run (default: torch's own default); tfim always uses one, as `qsa train` does",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1; got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1; got {args.threads}")
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace) -> dict:
    repeats = min(args.repeats, 2) if args.smoke else args.repeats
    repeats = min(args.repeats, 2) if args.smoke else args.repeats

    started = time.perf_counter()
    record = {
        "smoke": args.smoke,
        "repeats": repeats,
        "machine_before": machine(),
        "environment": runs.environment(HERE),
        "torch_threads": torch.get_num_threads(),
        "benchmarks": {},
    }
    rows, notes = [], []
    for name in args.only:
        t0 = time.perf_counter()
        print(f"[{name}] running ...", flush=True)
        module = _module(name)
        load_before = machine()["load_average"]
        result = module.run(smoke=args.smoke, repeats=repeats)
        result["wall_seconds"] = time.perf_counter() - t0
        result["load_average"] = {"before": load_before, "after": machine()["load_average"]}
        record["benchmarks"][name] = result
        rows += result["rows"]
        notes.append(f"[{name}] ({result['wall_seconds']:.0f} s)\n" + module.report(result))
        print(notes[-1], flush=True)
    record["rows"] = rows
    record["machine_after"] = machine()
    record["wall_seconds"] = time.perf_counter() - started

    m0, m1 = record["machine_before"], record["machine_after"]
    print()
    print(
        f"QSA benchmarks{' (smoke)' if args.smoke else ''}: {m0['cpu']}, {m0['cores']} cores, torch {torch.__version__} "
        f"({record['torch_threads']} threads); load average {m0['load_average'][0]:.2f} before, {m1['load_average'][0]:.2f} after; "
        f"{repeats} repeats (slow cases fewer)"
    )
    busiest = max(m0["load_average"][0], m1["load_average"][0])
    if busiest > m0["cores"]:
        print(
            f"NOTE: the machine was busy (load average {busiest:.1f} on {m0['cores']} cores): "
            "absolute times are not comparable with an idle machine's"
        )
    record["busy"] = busiest > m0["cores"]
    print(format_table(rows))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"benchmarks-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    runs.write_json(path, record)
    print(f"wrote {path}")
    return record


if __name__ == "__main__":
    sys.exit(run_command("experiments/benchmarks/run.py", main))
