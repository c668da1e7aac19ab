"""``qsa cost RUN_DIR`` and ``qsa diagnose CONFIG``: what a trained model costs, and whether its circuits train.

    qsa cost runs/tfim-20260101-120000                      # the cost block, + CZ counts on Heron (cached)
    qsa cost runs/tfim-20260101-120000 --backend eagle --rel-error 0.05
    qsa diagnose experiments/tfim/config.toml               # gradient variance vs qubits and depth, fits, plots

``qsa cost`` prints the block ``qsa train`` prints (:mod:`qsa.training.cost`), with the native
two-qubit gates per shot of every circuit on a fake IBM backend, and writes it to ``RUN_DIR/cost.json``.
``qsa diagnose`` is :mod:`qsa.training.diagnose`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qsa.training._cli_args import run_options

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qsa cost`` and ``qsa diagnose`` to the ``qsa`` command."""
    p = subparsers.add_parser(
        "cost",
        help="the cost of a trained model: probabilities, shots, circuit executions, gates, advantage",
        description="Print the cost block of the model in RUN_DIR (its latest checkpoint) and write it to "
        "RUN_DIR/cost.json: success probabilities of circuit A's mu, zeta and nu on every split, shots for a "
        "stated precision, circuit executions and shots per training step and per evaluation, logical and "
        "transpiled two-qubit gates per shot, the classical attention cost and the advantage criterion.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by qsa train")
    p.add_argument(
        "--rel-error",
        type=float,
        default=0.1,
        help="precision eps: relative, of each probability; standard error in nats, of a loss (default: 0.1)",
    )
    p.add_argument(
        "--backend",
        default="heron",
        help="fake backend for transpiled counts: heron (FakeFez) or eagle (FakeSherbrooke)",
    )
    p.add_argument("--no-transpile", action="store_true", help="leave out the transpiled counts (no Qiskit)")
    p.add_argument(
        "--cache", default=None, help="directory caching transpiled counts (default: RUN_DIR/../cache/transpiled)"
    )
    p.add_argument("--optimization-level", type=int, default=2, help="Qiskit preset level (default: 2)")
    p.add_argument("--seed-transpiler", type=int, default=0, help="seed of the transpiler (default: 0)")
    p.set_defaults(func=run_cost)

    p = subparsers.add_parser(
        "diagnose",
        parents=[
            run_options(
                config="TOML training configuration (its data source, k, phases)",
                overrides="override a config key, e.g. --set model.k=2 (repeatable)",
                out="root of the output directory (default: runs)",
                config_required=True,
            )
        ],
        help="trainability: variance of the loss gradient over random initialisations vs qubits and depth",
        description="Barren-plateau check of a training config's model: the variance over random initialisations "
        "of the gradient of L_B and L_1, against the circuit's qubits (through d and T) and the ansatz depth, "
        "for the mono and poly kernels, with fitted decay rates (analytic tier), a check on QSA's torch "
        "circuit simulator at a small size, and plots. Writes runs/diagnose-<stamp>/.",
    )
    p.add_argument("--n-qubits", type=int, nargs="+", default=None, help="token qubits log2 d (default: 1 2 3 4)")
    p.add_argument("--T", type=int, nargs="+", default=None, help="sequence lengths (default: 2 4 8 16 32)")
    p.add_argument("--layers", type=int, nargs="+", default=None, help="ansatz depths (default: 1 2 4 8 16 32)")
    p.add_argument("--kernels", nargs="+", default=None, help="kernels (default: mono poly)")
    p.add_argument("--inits", type=int, default=None, help="random initialisations per point (default: 200)")
    p.set_defaults(func=run_diagnose)


def run_cost(args: argparse.Namespace) -> int:
    """``qsa cost``: every refusal is raised before anything is rebuilt or transpiled."""
    from qsa import runs
    from qsa.circuits._checks import real_number
    from qsa.errors import renamed
    from qsa.resources.report import format_block
    from qsa.resources.transpiled import BACKENDS, TranspileCache
    from qsa.training.cost import COST, load_run, run_cost

    with renamed({"rel_error": "--rel-error"}):
        rel_error = real_number(args.rel_error, "rel_error", positive=True)
    if args.backend not in BACKENDS:
        raise ValueError(f"--backend must be one of {tuple(BACKENDS)}; got {args.backend!r}")
    if args.optimization_level not in (0, 1, 2, 3):
        raise ValueError(f"--optimization-level must be 0, 1, 2 or 3; got {args.optimization_level!r}")
    if args.seed_transpiler < 0:
        raise ValueError(f"--seed-transpiler must be >= 0; got {args.seed_transpiler}")
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"RUN_DIR must be a run directory written by qsa train; got {str(run_dir)!r}, not a directory")
    cache = None
    if not args.no_transpile:
        cache_dir = Path(args.cache) if args.cache else run_dir.resolve().parent / "cache" / "transpiled"
        runs.check_output_root(cache_dir, "--cache")
        cache = TranspileCache(cache_dir)
    with renamed({"run_dir": "RUN_DIR"}):
        config, dataset, model, step = load_run(run_dir)
    block = run_cost(
        config,
        dataset,
        model,
        rel_error=rel_error,
        backend=None if args.no_transpile else args.backend,
        cache=cache,
        optimization_level=args.optimization_level,
        seed_transpiler=args.seed_transpiler,
    )
    print(f"run: {run_dir}  (model of step {step} of {config.train.steps}, family {config.model.family})")
    if block is None:
        print(f"model family {config.model.family!r} has no quantum circuit: nothing to cost")
        return 0
    print("\n".join(format_block(block)))
    runs.write_json(run_dir / COST, {"step": step, **block})
    print(f"wrote {run_dir / COST}")
    return 0


def run_diagnose(args: argparse.Namespace) -> int:
    """``qsa diagnose``: :func:`qsa.training.diagnose.diagnose` on the config; prints the fitted rates, writes the plots."""
    import time

    from qsa import runs
    from qsa.errors import renamed
    from qsa.training import load_config
    from qsa.training.diagnose import LOSSES, DiagnoseGrid, diagnose, plot_diagnostics

    config = load_config(args.config, args.overrides)
    given = {
        "n_qubits": args.n_qubits,
        "T": args.T,
        "layers": args.layers,
        "kernels": args.kernels,
        "inits": args.inits,
    }
    with renamed(
        {"n_qubits": "--n-qubits", "T": "--T", "layers": "--layers", "kernels": "--kernels", "inits": "--inits"}
    ):
        grid = DiagnoseGrid(**{k: v for k, v in given.items() if v is not None})
    runs.check_output_root(args.out, "--out")
    start = time.perf_counter()
    result = diagnose(config, grid)
    result["wall_seconds"] = time.perf_counter() - start
    result["environment"] = runs.environment(Path(__file__).resolve().parent)
    out = runs.new_run_dir(args.out, "diagnose")
    runs.write_json(out / "diagnostics.json", result)
    plots = plot_diagnostics(result, out)
    f = result["fixed"]
    print(
        f"gradient variance over {grid.inits} random initialisations ({config.name}: k = {config.model.k}, "
        f"phases {config.model.phases}; fixed d = {2 ** f['n_qubits']}, T = {f['T']}, L = {f['layers']}); "
        "fit Var = a exp(rate x), 95 % CI:"
    )
    print(f"  {'kernel':>6} {'sweep':>18} {'loss':>5} {'rate':>8} {'95 % CI':>20} {'factor':>7} {'rms':>5}")
    names = {
        "d": "per qubit (via d)",
        "d_per_token_qubit": "per token qubit",
        "T": "per qubit (via T)",
        "depth": "per layer",
    }
    for kernel, by_sweep in result["fits"].items():
        for sweep, by_loss in by_sweep.items():
            for loss in LOSSES:
                fit = by_loss[loss]
                if fit is None:
                    print(f"  {kernel:>6} {names[sweep]:>18} {loss:>5} {'-':>8} (fewer than 3 points)")
                    continue
                ci = f"[{fit['rate_ci'][0]:+.3f}, {fit['rate_ci'][1]:+.3f}]"
                print(
                    f"  {kernel:>6} {names[sweep]:>18} {loss:>5} {fit['rate']:>+8.3f} {ci:>20} "
                    f"{fit['factor']:>7.3f} {fit['rms_residual']:>5.2f}"
                )
    check = result["check"]
    if check is not None:
        print(
            f"check on backend {check['backend']!r} ({check['n_qubits']} qubits, {check['inits']} initialisations): "
            f"largest |gradient - analytic| = {check['max_abs_difference']:.1e} (largest gradient {check['max_gradient']:.2g})"
        )
    print(f"wrote {out / 'diagnostics.json'} and {', '.join(p.name for p in plots)} ({result['wall_seconds']:.0f} s)")
    return 0
