"""``qsa gates``: gate counts of QSA circuits next to classical attention, as a table.

    qsa gates                                   # A-mono, A-poly, B at T=8, d=4, k=1, L=8 (seconds)
    qsa gates --T 4 8 16 32 --d 4 --k 1 2       # a grid, logical counts only
    qsa gates --transpile --json out.json       # + heavy-hex counts (Heron FakeFez, Eagle FakeSherbrooke)

Per circuit: qubits, logical and transpiled two-qubit gates per shot, the success probability and its
shots; per measured row also one whole attention evaluation (every variant x its shots) and the
classical preprocessing, next to a classical head.

Sweeps with fits and plots: ``experiments/gate_counts``.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]

COLUMNS = (
    ("circuit", "circuit", "{}"),
    ("variant", "var", "{}"),
    ("T", "T", "{}"),
    ("d", "d", "{}"),
    ("k", "k", "{}"),
    ("n_qubits", "qubits", "{}"),
    ("cnot", "CNOT", "{}"),
    ("single_qubit", "1q", "{}"),
    ("cnot_generic", "CNOT(generic)", "{}"),
    ("two_qubit_depth", "CNOT depth", "{}"),
    ("heron_two_qubit", "heron 2q", "{}"),
    ("heron_two_qubit_depth", "heron 2q depth", "{}"),
    ("eagle_two_qubit", "eagle 2q", "{}"),
    ("eagle_two_qubit_depth", "eagle 2q depth", "{}"),
    ("p_random", "p(random)", "{:.2e}"),
    ("shots_random", "shots(random)", "{:.2e}"),
    ("p_ideal", "p(ideal)", "{:.2e}"),
    ("advantage_threshold", "mu needed", "{:.2e}"),
    ("shots_evaluation_random", "eval shots(random)", "{:.2e}"),
    ("evaluation_cnot_random", "eval CNOTxshots(random)", "{:.2e}"),
    ("evaluation_cnot_ideal", "eval CNOTxshots(ideal)", "{:.2e}"),
    ("evaluation_heron_ideal", "eval heron 2qxshots(ideal)", "{:.2e}"),
    ("evaluation_eagle_ideal", "eval eagle 2qxshots(ideal)", "{:.2e}"),
    ("preprocessing", "preprocessing", "{}"),
    ("classical_attention", "classical 2T^2d", "{}"),
    ("classical_projections", "+proj 4Td^2", "{}"),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qsa gates`` to the ``qsa`` command."""
    from qsa.circuits import LABELS
    from qsa.resources.counts import DEFAULT_LAYERS
    from qsa.resources.transpiled import BACKENDS

    p = subparsers.add_parser(
        "gates",
        help="gate counts of QSA circuits against classical attention",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--circuit",
        "--family",  # the old name, still read
        dest="circuit",
        nargs="+",
        default=list(LABELS),
        choices=LABELS,
        help="circuits: A-mono, A-poly, B (default: all)",
    )
    p.add_argument("--T", nargs="+", type=int, default=[8], help="sequence lengths (default: 8)")
    p.add_argument("--d", nargs="+", type=int, default=[4], help="token widths, powers of two (default: 4)")
    p.add_argument("--k", nargs="+", type=int, default=[1], help="key copies / polynomial degree (default: 1)")
    p.add_argument(
        "--layers", type=int, default=DEFAULT_LAYERS, help=f"ansatz depth L of W and V (default: {DEFAULT_LAYERS})"
    )
    p.add_argument("--no-phases", action="store_true", help="leave out the trainable query phases")
    p.add_argument("--variants", action="store_true", help="also count circuit A's zeta and nu circuits")
    p.add_argument("--transpile", action="store_true", help="transpile the measured circuits to the heavy-hex backends")
    p.add_argument(
        "--backend", nargs="+", default=list(BACKENDS), choices=tuple(BACKENDS), help="backends for --transpile"
    )
    p.add_argument(
        "--optimization-level", type=int, default=2, choices=(0, 1, 2, 3), help="Qiskit preset level (default: 2)"
    )
    p.add_argument("--seed-transpiler", type=int, default=0, help="seed of the transpiler (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the instances behind p and shots (default: 0)")
    p.add_argument("--samples", type=int, default=8, help="instances averaged for p (default: 8)")
    p.add_argument("--rel-error", type=float, default=0.1, help="relative precision behind the shots (default: 0.1)")
    p.add_argument("--cache", default=None, help="directory caching transpiled counts (default: none)")
    p.add_argument("--csv", default=None, help="write the table as CSV here")
    p.add_argument("--json", default=None, help="write config, environment and rows as JSON here")
    p.add_argument(
        "--memory-limit",
        default=None,
        metavar="SIZE",
        help="memory the sweep may use, e.g. 8GiB (default: what this machine has available)",
    )
    p.set_defaults(func=run)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    return fmt.format(value) if not isinstance(value, bool) else str(value)


#: The flag of each :class:`~qsa.resources.sweep.SweepConfig` field (errors name the flag the user typed).
FLAGS = {
    "circuits": "--circuit",
    "T": "--T",
    "d": "--d",
    "k": "--k",
    "n_layers": "--layers",
    "backends": "--backend",
    "optimization_level": "--optimization-level",
    "seed_transpiler": "--seed-transpiler",
    "mu_samples": "--samples",
    "mu_seed": "--seed",
    "rel_error": "--rel-error",
}


def run(args: argparse.Namespace) -> int:
    """Measure the grid the arguments name, print the table, write the requested files.

    Every refusal is raised before anything is measured or written (the ``qsa`` error boundary prints
    it as one line): bad flags, output paths whose folder is missing, a ``--cache`` that is a file,
    and a grid that cannot fit in memory (:func:`qsa.preflight.sweep_need`).
    """
    from qsa import preflight, runs
    from qsa.errors import renamed
    from qsa.resources.sweep import SweepConfig, rows_to_csv, sweep
    from qsa.resources.transpiled import TranspileCache

    with renamed(FLAGS):
        config = SweepConfig(
            circuits=tuple(args.circuit),
            T=tuple(args.T),
            d=tuple(args.d),
            k=tuple(args.k),
            n_layers=args.layers,
            phases=not args.no_phases,
            all_variants=args.variants,
            transpile_T=tuple(args.T) if args.transpile else (),
            transpile_d=tuple(args.d) if args.transpile else (),
            transpile_k=tuple(args.k) if args.transpile else (),
            transpile_max_cnot=10**9,
            backends=tuple(args.backend),
            optimization_level=args.optimization_level,
            seed_transpiler=args.seed_transpiler,
            mu_samples=args.samples,
            mu_seed=args.seed,
            rel_error=args.rel_error,
        )
    for flag, path in (("--csv", args.csv), ("--json", args.json)):
        if path is not None:
            runs.check_output_file(path, flag)
    if args.cache:
        runs.check_output_root(args.cache, "--cache")
    preflight.check(
        preflight.sweep_need(config, names={"T": "--T", "d": "--d", "k": "--k", "samples": "--samples"}),
        limit=args.memory_limit,
        key="--memory-limit",
    )
    cache = TranspileCache(args.cache) if args.cache else None
    rows = sweep(config, cache=cache)
    columns = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    table = [[header for _, header, _ in columns]]
    table += [[_cell(r.get(key), fmt) for key, _, fmt in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths)))
    print(
        "eval = one whole attention evaluation: every circuit variant (A: mu, zeta and nu; B: P0) x the shots for "
        f"{config.rel_error:g} relative precision of its own probability; preprocessing = classical multiply-adds "
        "before the circuits run (B builds its d^(k+1) loads: O(T d^(k+1)))"
    )
    print(
        f"L = {config.n_layers}; logical = CNOT + 1q after Mottonen loads (index states pruned; generic = unpruned);"
        f" transpiled at optimization_level {config.optimization_level}, seed_transpiler {config.seed_transpiler}"
    )
    if args.csv:
        runs.write_bytes(args.csv, rows_to_csv(rows).encode())
    if args.json:
        runs.write_json(args.json, {"config": config.as_dict(), "environment": runs.environment(), "rows": rows})
    return 0
