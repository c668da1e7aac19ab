"""``qsa sweep``: grid points x seeds of a training config, each an ordinary run, on Ray Tune or here.

qsa sweep experiments/kernels/config.toml --grid model.k=1,2,3,4 --grid model.kernel=mono,poly --seeds 0-4
qsa sweep experiments/kernels/config.toml --grid model.k=1,2 --seeds 0-2 --engine ray --cpus-per-trial 1
qsa sweep experiments/kernels/config.toml ... --engine ray --address 10.0.0.1:6379   # a running cluster
qsa sweep experiments/comparison/sweep.toml --engine ray                 # a sweep plan: several training configs
qsa sweep --resume runs/kernels-sweep-20261201-120000

See :mod:`qsa.training.sweep` for the sweep directory and what each engine does.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from qsa.training._cli_args import config_or_resume, run_options

if TYPE_CHECKING:
    from qsa.training.sweep import SweepResult

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "sweep",
        parents=[
            run_options(
                config="TOML training config (see experiments/*/config.toml), or a sweep plan of several "
                "(a [tasks] table: experiments/comparison/sweep.toml)",
                overrides="override a config key in every trial, e.g. --set train.steps=20 (repeatable)",
                out="root of the sweep directory (default: runs)",
                resume=("SWEEP_DIR", "finish the interrupted sweep in SWEEP_DIR"),
                threads="torch threads per trial (default 1, on both engines)",
                progress="no progress lines",
            )
        ],
        help="run a training config over grid points x seeds (Ray Tune, or one after another here)",
        description="Run the Cartesian product of --grid values and --seeds, each trial an ordinary training run "
        "(its own run directory), on Ray Tune (--engine ray: a local Ray instance, or a cluster with --address) or "
        "in this process (--engine local). CONFIG may be a sweep plan: several training configs (a [tasks] "
        "table, the task axis) and grid values with settings of their own (experiments/comparison/sweep.toml). "
        "Writes <out>/<name>-sweep-<stamp>/ with trials/, trials.csv, "
        "summary.csv, summary.md (printed: median [q25, q75] over seeds per grid point) and summary.png.",
    )
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a config key and its values, e.g. --grid model.k=1,2,3 (repeatable: the Cartesian product); on a "
        "sweep plan, an axis of the plan (task=tfim, model.family=qsa,chen) keeps only the values listed",
    )
    p.add_argument("--seeds", help="seeds, e.g. 0-4 or 0,3,7 (default: a sweep plan's, else 0)")
    p.add_argument(
        "--engine", help="local (this process, no Ray) or ray (Ray Tune); default local (--resume: the sweep's own)"
    )
    p.add_argument("--address", help="a running Ray cluster's head, HOST:PORT (default: start Ray on this machine)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the Ray instance started here (default: all)")
    p.add_argument("--cpus-per-trial", type=float, default=1, help="CPUs Ray reserves per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0, help="GPUs Ray reserves per trial (default 0)")
    p.add_argument("--max-failures", type=int, default=3, help="retries of a failed trial (default 3)")
    p.set_defaults(func=run)


def _progress(done: int, running: int, failed: int, total: int) -> None:
    print(f"qsa sweep: {done}/{total} trials done, {running} running, {failed} failed", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Plan, check and run (or resume) a sweep; every refusal is raised for the ``qsa`` error boundary."""
    from qsa.errors import UserError
    from qsa.training.sweep import SweepFailed, plan_sweep, resume_sweep, run_sweep

    progress = None if args.no_progress else _progress
    config_or_resume(args, "sweep", "SWEEP_DIR")
    try:
        if args.resume:
            for name, value, default in (
                ("--grid", args.grid, []),
                ("--set", args.overrides, []),
                ("--seeds", args.seeds, None),
            ):
                if value != default:
                    raise UserError(f"{name} must not be given with --resume (the sweep keeps its plan); got {value!r}")
            result = resume_sweep(
                args.resume, engine=args.engine, address=args.address, num_cpus=args.num_cpus, progress=progress
            )
        else:
            plan = plan_sweep(args.config, args.grid, args.seeds, overrides=args.overrides)
            result = run_sweep(
                plan,
                out=args.out,
                engine=args.engine or "local",
                address=args.address,
                cpus_per_trial=args.cpus_per_trial,
                gpus_per_trial=args.gpus_per_trial,
                max_failures=args.max_failures,
                threads=args.threads,
                num_cpus=args.num_cpus,
                progress=progress,
            )
    except SweepFailed as exc:
        _report(exc.result)
        print(f"qsa sweep: {exc}", file=sys.stderr)
        return 1
    _report(result)
    return 0


def _report(result: SweepResult) -> None:
    print(result.table)
    print(f"sweep: {result.sweep_dir}  ({len(result.trials)} trials finished, {result.wall_seconds:.1f} s)")
    for path in result.files:
        print(f"wrote: {path}")
