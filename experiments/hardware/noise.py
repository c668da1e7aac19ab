"""Circuit A on IBM fake backends: transpiled size, and how device noise shifts the losses.

    python experiments/hardware/noise.py            # sizes at (4,2,1) and (8,4,2); noise at (4,2,1)
    python experiments/hardware/noise.py --smoke    # seconds, for the tests

1. **Transpiled size.** The mu, zeta, nu templates of circuit A (ansatz depth 1, query phases)
   transpiled once to each backend's ISA (``generate_preset_pass_manager``, fixed
   ``seed_transpiler``): physical qubits, two-qubit gates (CZ on Heron, ECR on Eagle), depth,
   two-qubit depth, estimated duration.
2. **Noise shift.** For ``S`` random sequences and random angles, the losses from ``shots``
   samples of each circuit on ``AerSimulator.from_backend`` of each fake backend (restricted to
   the qubits used, see ``qsa.hardware.noise``), minus the exact analytic losses. The same with
   the ideal Aer sampler is the control: its shifts must be consistent with zero.

Writes ``<out>/hardware-noise-<stamp>/results.json`` and ``noise_shift.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from qsa import analytic, runs
from qsa.ansatz import ansatz_unitary
from qsa.circuits import Shape
from qsa.errors import run_command
from qsa.hardware import HardwareEvaluator, NoisyAerRunner, aer_sampler_runner, noise, programs
from qsa.hardware.runners import isa_compile
from qsa.random import random_states

LOSSES = ("F", "L_B", "L_A", "L_half", "L_1")


def transpile_rows(backends, shapes, levels, seed_transpiler):
    rows = []
    for name in backends:
        backend = noise.fake_backend(name)
        for T, d, k in shapes:
            prog = programs.program(Shape("A", T, d, k, "mono", None, 1, 1, True))
            for level in levels:
                pm = noise.isa_pass_manager(backend, optimization_level=level, seed_transpiler=seed_transpiler)
                for v, tpl in prog.templates.items():
                    isa = isa_compile(tpl.qiskit.circuit, pm, n_index=tpl.n_index, n_zero=tpl.n_zero).isa
                    rep = noise.transpile_report(isa, backend, logical_qubits=tpl.qsa_circuit.n_qubits)
                    rows.append(
                        {
                            "backend": name,
                            "T": T,
                            "d": d,
                            "k": k,
                            "optimization_level": level,
                            "circuit": v,
                            **rep.as_dict(),
                            "n_physical_qubits": len(rep.physical_qubits),
                        }
                    )
                    print(
                        f"{name:16} (T,d,k)=({T},{d},{k}) level {level} {v:5}: {rep.logical_qubits:2d} qubits on "
                        f"{len(rep.physical_qubits):2d}, {rep.two_qubit_gates:5d} two-qubit gates, depth {rep.depth:5d}, "
                        f"2q depth {rep.two_qubit_depth:5d}, {1e6 * (rep.duration_seconds or 0):7.1f} us"
                    )
    return rows


def noise_rows(backends, T, d, k, S, shots, seed, seed_transpiler):
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(random_states(S, T, d, seed=rng))
    Y = torch.as_tensor(random_states(S, T, d, seed=rng))
    n = d.bit_length() - 1
    params = {
        "theta_W": torch.as_tensor(rng.normal(size=(1, n, 3))),
        "theta_V": torch.as_tensor(rng.normal(size=(1, n, 3))),
        "phi": torch.as_tensor(rng.uniform(-np.pi, np.pi, T)),
    }
    exact = analytic.observables(
        X, Y, ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"]), k=k, phases=params["phi"]
    )
    rows = []
    runners = [("ideal (control)", aer_sampler_runner(shots=shots, seed=seed + 1))]
    runners += [
        (name, NoisyAerRunner(name, shots=shots, seed=seed + 1, seed_transpiler=seed_transpiler)) for name in backends
    ]
    for label, runner in runners:
        est = HardwareEvaluator(runner).estimate(params, X, Y, k=k)
        row = {"backend": label, "T": T, "d": d, "k": k, "sequences": S, "shots": shots}
        for f in LOSSES + ("mu", "zeta", "nu"):
            got, err, ref = (
                np.asarray(getattr(est.value, f)),
                np.asarray(getattr(est.stderr, f)),
                getattr(exact, f).numpy(),
            )
            shift = got - ref
            row[f] = {
                "exact": ref.tolist(),
                "estimate": got.tolist(),
                "stderr": err.tolist(),
                "mean_shift": float(shift.mean()),
                "mean_shift_stderr": float(np.sqrt((err**2).sum()) / S),  # shot noise of the mean
                "spread_across_sequences": float(shift.std(ddof=1)) if S > 1 else 0.0,
                "max_abs_z": float(np.max(np.abs(shift / err))),
                # slope of estimate against exact across sequences: 1 without noise, < 1 when the
                # noise compresses the losses toward a device-dependent value
                "slope_vs_exact": float(np.polyfit(ref, got, 1)[0]) if S > 2 else None,
            }
        rows.append(row)
        print(
            f"{label:16} mean shift "
            + "  ".join(f"{f} {row[f]['mean_shift']:+.3f}±{row[f]['mean_shift_stderr']:.3f}" for f in LOSSES)
            + (
                f"  | L_B spread {row['L_B']['spread_across_sequences']:.3f}, slope {row['L_B']['slope_vs_exact']:.2f}"
                if row["L_B"]["slope_vs_exact"] is not None
                else ""
            )
        )
    return rows


def plot(rows, path: Path) -> None:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        means = [row[f]["mean_shift"] for f in LOSSES]
        errs = [row[f]["mean_shift_stderr"] for f in LOSSES]
        ax.bar(np.arange(len(LOSSES)) + i * width, means, width, yerr=errs, capsize=2, label=row["backend"])
        bx.errorbar(
            row["L_B"]["exact"],
            row["L_B"]["estimate"],
            yerr=row["L_B"]["stderr"],
            fmt="o",
            ms=4,
            capsize=2,
            label=row["backend"],
        )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(LOSSES)) + width * (len(rows) - 1) / 2, LOSSES)
    r0 = rows[0]
    ax.set_ylabel("mean (estimate - exact) over sequences")
    ax.set_title(
        f"Shift of the losses, circuit A (T,d,k)=({r0['T']},{r0['d']},{r0['k']}), "
        f"{r0['sequences']} sequences, {r0['shots']} shots",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    lo = min(min(r["L_B"]["exact"]) for r in rows)
    hi = max(max(r["L_B"]["exact"]) for r in rows)
    bx.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    bx.set_xlabel("exact L_B")
    bx.set_ylabel("L_B from counts")
    bx.set_title("per sequence: noise compresses L_B", fontsize=9)
    fig.tight_layout()
    runs.write_png(path, fig)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs")
    parser.add_argument("--smoke", action="store_true", help="one backend, small sizes, for the tests")
    parser.add_argument("--backends", nargs="+", default=list(noise.HERON[:2] + noise.EAGLE[:2]))
    parser.add_argument("--levels", nargs="+", type=int, default=[1, 3], help="optimization levels of the size table")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--shots", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seed-transpiler", type=int, default=0)
    args = parser.parse_args()
    if args.smoke:
        args.backends, args.levels, args.sequences, args.shots = ["fake_torino"], [1], 2, 2000
    shapes = [(4, 2, 1)] if args.smoke else [(4, 2, 1), (8, 4, 2)]
    run_dir = runs.new_run_dir(args.out, "hardware-noise")
    sizes = transpile_rows(args.backends, shapes, args.levels, args.seed_transpiler)
    shifts = noise_rows(args.backends, 4, 2, 1, args.sequences, args.shots, args.seed, args.seed_transpiler)
    runs.write_json(
        run_dir / "results.json",
        {
            "config": vars(args),
            "transpiled": sizes,
            "noise": shifts,
            "environment": runs.environment(Path(__file__).parent),
        },
    )
    plot(shifts, run_dir / "noise_shift.png")
    print(f"wrote {run_dir}")


if __name__ == "__main__":
    sys.exit(run_command("experiments/hardware/noise.py", main))
