"""A trained model on a fake backend, with and without the runtime's error suppression and mitigation.

    python experiments/hardware/mitigation.py                  # trains tfim_small.toml, then 5 settings
    python experiments/hardware/mitigation.py --run RUN_DIR    # a trained run instead
    python experiments/hardware/mitigation.py --smoke          # 2 settings, few shots, for the tests

The model of ``tfim_small.toml`` (circuit A, 6 qubits) is trained in seconds on the analytic tier;
its test split then runs through the same path as ``qsa submit --run RUN_DIR --channel local
--submit``: circuits transpiled to the fake backend's ISA, jobs in qiskit-ibm-runtime's local
testing mode (client-side executor primitives) on the device's noise model restricted to the qubits
used, results fetched by job id. Settings: no mitigation; dynamical decoupling (XY4); gate and
measurement twirling (16 randomizations); TREX readout mitigation (Estimator); all three. Each row gives the mean over
the split's sequences of ``mu`` and ``L_B`` with its standard error, next to the exact (analytic)
values of the same inputs.

Writes ``<out>/hardware-mitigation-<stamp>/results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from qsa import runs
from qsa.errors import run_command
from qsa.hardware import submission
from qsa.hardware.mitigation import Mitigation
from qsa.hardware.providers import LocalProvider
from qsa.hardware.trained import submission_inputs
from qsa.training import load_config, load_run, train

HERE = Path(__file__).parent
SETTINGS = ("none", "dd", "twirl", "trex", "all")


def run_setting(loaded, label: str, args, out: Path) -> dict:
    mitigation = Mitigation.parse(label)
    if mitigation.twirl_gates or mitigation.twirl_measure or mitigation.trex:
        mitigation = dataclasses.replace(mitigation, randomizations=args.randomizations)
    config, inputs, source, exact = submission_inputs(
        loaded, split=args.split, shots=args.shots, mitigation=mitigation, seed_simulator=args.seed
    )
    provider = LocalProvider(out / "local-service", simulator=args.simulator)
    backend = provider.backend(args.backend)
    plan = submission.make_plan(config, backend, inputs=inputs, source=source)
    run_dir = runs.new_run_dir(out, f"submit-{mitigation.label()}")
    start = time.perf_counter()
    submission.submit(plan, provider, run_dir, backend=backend)
    results = submission.fetch(run_dir, provider=provider)
    seconds = time.perf_counter() - start
    row = {
        "mitigation": mitigation.label(),
        "options": mitigation.as_dict(),
        "estimator": plan.estimator,
        "run_dir": run_dir.name,
        "seconds": seconds,
    }
    S = config.sequences
    for field in ("mu", "L_B"):
        value = np.asarray(results["observables"][field], dtype=np.float64)
        stderr = np.asarray(results["stderr"][field], dtype=np.float64)
        ref = getattr(exact, field).numpy()
        row[field] = {
            "estimate": value.tolist(),
            "stderr": stderr.tolist(),
            "exact": ref.tolist(),
            "mean": float(value.mean()),
            "mean_stderr": float(np.sqrt((stderr**2).sum()) / S),
            "exact_mean": float(ref.mean()),
        }
    print(
        f"{row['mitigation']:38} mu {row['mu']['mean']:.4f} ± {row['mu']['mean_stderr']:.4f} "
        f"(exact {row['mu']['exact_mean']:.4f})   L_B {row['L_B']['mean']:.3f} ± {row['L_B']['mean_stderr']:.3f} "
        f"(exact {row['L_B']['exact_mean']:.3f})   {seconds:.0f} s",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs")
    parser.add_argument(
        "--run", default=None, help="a trained run (default: train experiments/hardware/tfim_small.toml)"
    )
    parser.add_argument("--backend", default="fake_torino")
    parser.add_argument("--split", default="test")
    parser.add_argument("--shots", type=int, default=4000)
    parser.add_argument(
        "--randomizations", type=int, default=16, help="twirling randomizations per parameter set (0: runtime auto)"
    )
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), help=f"mitigation words, e.g. {SETTINGS}")
    parser.add_argument("--simulator", default="noisy", choices=("noisy", "ideal"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulator")
    parser.add_argument("--smoke", action="store_true", help="none and all, 1000 shots, for the tests")
    args = parser.parse_args()
    if args.smoke:
        args.settings, args.shots, args.randomizations = ["none", "all"], 1000, 4
    out = runs.new_run_dir(args.out, "hardware-mitigation")
    if args.run is None:
        trained = train(load_config(HERE / "tfim_small.toml"), out=out, plots=False)
        args.run = str(trained.run_dir)
    loaded = load_run(args.run)
    print(
        f"{args.run}: {args.split} split, {args.backend} in local testing mode ({args.simulator}), {args.shots} shots"
    )
    rows = [run_setting(loaded, label, args, out) for label in args.settings]
    runs.write_json(
        out / "results.json",
        {"config": vars(args), "rows": rows, "environment": runs.environment(HERE)},
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(run_command("experiments/hardware/mitigation.py", main))
