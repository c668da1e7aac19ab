"""``qsa submit`` and ``qsa jobs status|fetch``: the command-line face of :mod:`qsa.hardware.submission`.

    qsa submit CONFIG.toml --backend ibm_torino                 # dry run: transpile, print, send nothing
    qsa submit CONFIG.toml --backend ibm_torino --submit        # Batch mode; --session for a Session
    qsa submit CONFIG.toml --backend fake_torino --channel local --submit   # local testing mode
    qsa submit --run runs/tfim-... --backend fake_torino --channel local --submit
                          # a trained model's test split, without and with mitigation (DD, twirling, TREX)
    qsa jobs status RUN_DIR
    qsa jobs fetch RUN_DIR                                       # resume by job id after a crash
    qsa jobs resubmit RUN_DIR                                    # send the jobs a crash kept from being sent
    qsa jobs adopt RUN_DIR --job ID [--chunk N]                  # journal a job found in the dashboard

The IBM channels use the account saved with the runtime's own ``QiskitRuntimeService.save_account``
(``--account NAME`` picks a named one, ``--account-file`` another file); nothing here writes
credentials. Exit status: 0 on success, 2 when the input is refused (before anything is sent; the
``qsa`` error boundary prints the reason in one line), 1 when a job failed or is not done yet.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "DEFAULT_MAX_SHOTS", "DEFAULT_MAX_QPU_SECONDS"]

logger = logging.getLogger(__name__)

#: Default cost guard: refuse a run over this many shots or estimated QPU seconds.
DEFAULT_MAX_SHOTS = 1_000_000
DEFAULT_MAX_QPU_SECONDS = 300.0


def _provider_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--channel",
        default=None,
        help="runtime channel: ibm_quantum_platform (default of the saved account), ibm_cloud, or local",
    )
    p.add_argument("--account", default=None, help="name of a saved runtime account (default: the saved default)")
    p.add_argument(
        "--account-file", default=None, help="the runtime's account file (default: ~/.qiskit/qiskit-ibm.json)"
    )
    p.add_argument("--instance", default=None, help="runtime instance (CRN) to use")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``submit`` and ``jobs`` to the ``qsa`` command."""
    p = subparsers.add_parser(
        "submit", help="run QSA circuits on an IBM backend (dry run by default)", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "config",
        nargs="?",
        default=None,
        help="TOML file: [circuit] [data] [params] [run] [mitigation] (see qsa.hardware.submission.SubmitConfig); "
        "or give --run",
    )
    p.add_argument(
        "--run",
        default=None,
        metavar="RUN_DIR",
        help="a training run (qsa train): run its trained model on --split instead of a CONFIG",
    )
    p.add_argument("--split", default="test", help="with --run: the data split to evaluate (default: test)")
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="with --run: the best (lowest test loss, default) or the last checkpoint",
    )
    p.add_argument(
        "--mitigation",
        default=None,
        help="runtime error suppression/mitigation: none, all, or +-joined dd[-XX|-XpXm|-XY4], twirl, twirl-gates, "
        "twirl-measure, trex (overrides [mitigation]; default with --run: all)",
    )
    p.add_argument(
        "--randomizations",
        type=int,
        default=None,
        help="twirling randomizations per parameter set (default: the config's, or the runtime's auto)",
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="with --run and mitigation: skip the unmitigated run that is otherwise sent alongside, for comparison",
    )
    p.add_argument(
        "--backend", required=True, help="backend name, e.g. ibm_torino (or fake_torino with --channel local)"
    )
    _provider_args(p)
    p.add_argument(
        "--shots", type=int, default=None, help="shots per parameter set (overrides run.shots; default 4000 with --run)"
    )
    p.add_argument(
        "--gradient", action="store_true", help="also send every parameter-shift point (overrides run.gradient)"
    )
    p.add_argument("--submit", action="store_true", help="send the jobs (without it: a dry run that sends nothing)")
    p.add_argument("--session", action="store_true", help="run in a Session instead of a Batch")
    p.add_argument(
        "--primitive",
        choices=("executor", "sampler"),
        default="executor",
        help="runtime sampler: client-side executor Sampler (default) or the server-side SamplerV2 (deprecated in 0.50)",
    )
    p.add_argument(
        "--max-shots",
        type=int,
        default=DEFAULT_MAX_SHOTS,
        help=f"refuse runs over this many shots (default {DEFAULT_MAX_SHOTS:,})",
    )
    p.add_argument(
        "--max-qpu-seconds",
        type=float,
        default=DEFAULT_MAX_QPU_SECONDS,
        help=f"refuse runs over this estimated QPU time (default {DEFAULT_MAX_QPU_SECONDS:g} s)",
    )
    p.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    p.add_argument(
        "--no-wait", action="store_true", help="return after submitting; collect later with `qsa jobs fetch`"
    )
    p.add_argument(
        "--local-simulator",
        choices=("noisy", "device", "ideal"),
        default="noisy",
        help="local mode: device noise on the qubits used (default), the fake backend itself, or noiseless",
    )
    p.add_argument(
        "--local-latency", type=float, default=0.0, help="local mode: seconds a job stays queued (simulated)"
    )
    p.set_defaults(func=_submit)

    j = subparsers.add_parser("jobs", help="status of, or results from, the jobs of a submitted run")
    jsub = j.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    s = jsub.add_parser("status", help="job ids and their status")
    s.add_argument("run", help="run directory written by `qsa submit --submit`")
    s.set_defaults(func=_status)
    f = jsub.add_parser("fetch", help="fetch every journaled job by id and write results.json (resumes after a crash)")
    f.add_argument("run", help="run directory written by `qsa submit --submit`")
    f.add_argument("--timeout", type=float, default=None, help="seconds to wait for each job (default: no limit)")
    f.set_defaults(func=_fetch)
    r = jsub.add_parser(
        "resubmit",
        help="send the jobs of a run that were never sent (after adopting, by tag, those sent but never journaled)",
    )
    r.add_argument("run", help="run directory written by `qsa submit --submit`")
    r.set_defaults(func=_resubmit)
    a = jsub.add_parser("adopt", help="journal a job of the run found by its id (e.g. in the IBM Quantum dashboard)")
    a.add_argument("run", help="run directory written by `qsa submit --submit`")
    a.add_argument("--job", required=True, help="the job id")
    a.add_argument("--chunk", type=int, default=None, help="its chunk (default: read from the job's qsa-chunk tag)")
    a.set_defaults(func=_adopt)


def _make_provider(args: argparse.Namespace, run_dir: Path | None):
    from qsa.hardware.providers import IBMProvider, LocalProvider

    if args.channel == "local":
        store = (run_dir / "local-service") if run_dir is not None else Path(args.out) / "local-service"
        return LocalProvider(store, simulator=args.local_simulator, latency=args.local_latency)
    return IBMProvider(channel=args.channel, name=args.account, filename=args.account_file, instance=args.instance)


def _print_plan(plan, args) -> None:
    s = plan.summary()
    print(
        f"backend {s['backend']} ({s['backend_qubits']} qubits); optimization level {plan.config.optimization_level}, "
        f"seed_transpiler {plan.config.seed_transpiler}"
    )
    head = f"{'circuit':8} {'qubits':>6} {'physical':>8} {'2q gates':>8} {'depth':>6} {'2q depth':>8} {'param sets':>10} {'shots/set':>9} {'QPU s':>8}"
    print(head)
    for v, c in s["circuits"].items():
        print(
            f"{v:8} {c['logical_qubits']:>6} {len(c['physical_qubits']):>8} {c['two_qubit_gates']:>8} {c['depth']:>6} "
            f"{c['two_qubit_depth']:>8} {c['parameter_sets']:>10} {s['shots_per_parameter_set']:>9} {c['qpu_seconds']:>8.2f}"
        )
    print(
        f"total: {len(s['circuits'])} PUBs in {s['jobs']} job(s), {s['parameter_sets']:,} parameter sets, "
        f"{s['total_shots']:,} shots, about {s['qpu_seconds']:.1f} s of QPU time "
        f"(rep_delay {s['rep_delay'] * 1e6:.0f} us, {s['job_overhead_seconds']:g} s per job assumed)"
    )
    print(f"budget: at most {args.max_shots:,} shots and {args.max_qpu_seconds:g} s")


def _refuse(command: str, exc: Exception) -> int:
    print(f"qsa {command}: error: {exc}", file=sys.stderr)
    return 2


def _submit(args: argparse.Namespace) -> int:
    """Plan, check and (with ``--submit``) send; every refusal is raised before anything is sent.

    With ``--run`` the trained model of a training run is evaluated on ``--split``; with mitigation
    on (the default ``all``) the unmitigated run is planned and sent too, and both are compared.
    """
    from qsa import runs
    from qsa.hardware import submission
    from qsa.hardware.mitigation import NONE, Mitigation

    if (args.config is None) == (args.run is None):
        raise ValueError(
            f"qsa submit must be given a CONFIG or --run RUN_DIR (one of them); got {args.config!r} and {args.run!r}"
        )
    exact, inputs, source = None, None, None
    if args.run is not None:
        from qsa.hardware.trained import submission_inputs
        from qsa.training.load import load_run

        if args.gradient:
            raise ValueError("--gradient must not be given with --run (it evaluates a trained model); got it")
        loaded = load_run(args.run, checkpoint=args.checkpoint)
        mitigation = _with_randomizations(Mitigation.parse(args.mitigation or "all"), args.randomizations)
        config, inputs, source, exact = submission_inputs(
            loaded, split=args.split, shots=args.shots or 4000, mitigation=mitigation
        )
        print(
            f"run {loaded.run_dir} ({args.checkpoint} checkpoint, step {loaded.step}): split {args.split!r}, "
            f"{config.sequences} sequences, exact L_B {_mean(exact.L_B):.4f} (analytic)"
        )
    else:
        config = submission.SubmitConfig.from_toml(args.config)
        changes: dict[str, Any] = {}
        if args.shots is not None:
            changes["shots"] = args.shots
        if args.gradient:
            changes["gradient"] = True
        if args.mitigation is not None:
            changes["mitigation"] = Mitigation.parse(args.mitigation)
        if args.randomizations is not None:
            changes["mitigation"] = _with_randomizations(
                changes.get("mitigation", config.mitigation), args.randomizations
            )
        with _flags():
            config = config.replace(**changes) if changes else config
    configs = [config]
    if args.run is not None and config.mitigation.enabled and not args.no_baseline:
        configs = [config.replace(mitigation=NONE), config]  # the unmitigated run, for comparison
    if args.submit:
        runs.check_output_root(args.out, "--out")
    provider = _make_provider(args, None)
    backend = provider.backend(args.backend)
    plans = []
    for c in configs:
        plan = submission.make_plan(c, backend, inputs=inputs, source=source)
        print(f"mitigation: {c.mitigation.label()}{' (estimator cells)' if plan.estimator else ''}")
        _print_plan(plan, args)
        submission.check_budget(plan, max_shots=args.max_shots, max_qpu_seconds=args.max_qpu_seconds)
        plans.append(plan)
    execution = "session" if args.session else "batch"
    if not args.submit:
        jobs = sum(len(p.chunks) for p in plans)
        print(f"dry run: nothing was submitted. Add --submit to send {jobs} job(s) in {execution.capitalize()} mode.")
        return 0
    done = []
    for plan in plans:
        label = plan.config.mitigation.label()
        run_dir = runs.new_run_dir(args.out, f"submit-{plan.backend_name}" + (f"-{label}" if label != "none" else ""))
        if args.channel == "local":
            provider = _make_provider(args, run_dir)
        text = Path(args.config).read_bytes() if args.config is not None else plan.config.to_toml().encode()
        runs.write_bytes(run_dir / "config.toml", text)
        print(f"run directory: {run_dir}", flush=True)
        print(f"mitigation: {label}")
        ids = submission.submit(plan, provider, run_dir, backend=backend, execution=execution, primitive=args.primitive)
        for i in ids:
            print(f"submitted job {i}")
        done.append((plan, run_dir, provider))
    if args.no_wait:
        for _, run_dir, _ in done:
            print(f"collect the results with: qsa jobs fetch {run_dir}")
        return 0
    rows = []
    for plan, run_dir, provider in done:
        try:
            results = submission.fetch(run_dir, provider=provider)
        except (RuntimeError, TimeoutError) as exc:  # a failed or unfinished job: fetch again later
            print(f"qsa jobs fetch: {exc}", file=sys.stderr)
            return 1
        _print_results(results, run_dir)
        rows.append((plan.config.mitigation.label(), results))
    if args.run is not None:
        _print_comparison(rows, exact)
    return 0


def _with_randomizations(mitigation: Any, randomizations: int | None) -> Any:
    import dataclasses

    return mitigation if randomizations is None else dataclasses.replace(mitigation, randomizations=randomizations)


def _mean(values: Any) -> float:
    import numpy as np

    return float(np.mean(np.asarray(values, dtype=np.float64)))


def _print_comparison(rows: list[tuple[str, dict[str, Any]]], exact: Any) -> None:
    """Mean L_B over the split's sequences: exact (analytic), then each run with its standard error."""
    import numpy as np

    print(f"{'L_B (mean over sequences)':28} {'value':>9} {'stderr':>8}  per sequence")
    reference = np.asarray(exact.L_B, dtype=np.float64)
    print(f"{'exact (analytic)':28} {reference.mean():9.4f} {'':>8}  " + ", ".join(f"{v:.3f}" for v in reference))
    for label, results in rows:
        value = np.asarray(results["observables"]["L_B"], dtype=np.float64)
        stderr = np.asarray(results["stderr"]["L_B"], dtype=np.float64)
        mean_se = float(np.sqrt((stderr**2).sum()) / len(stderr))
        per = ", ".join(f"{v:.3f}±{e:.3f}" for v, e in zip(value, stderr))
        print(f"{'mitigation ' + label:28} {value.mean():9.4f} {mean_se:8.4f}  {per}")


def _flags() -> contextlib.AbstractContextManager[None]:
    """Errors about the overridden keys name the flags (``run.shots`` -> ``--shots``)."""
    from qsa.errors import renamed

    return renamed({"run.shots": "--shots", "run.gradient": "--gradient"})


def _fetch_and_print(run_dir: Path, *, provider: Any = None, timeout: float | None = None) -> int:
    from qsa.hardware import submission

    try:
        results = submission.fetch(run_dir, provider=provider, timeout=timeout)
    except (RuntimeError, TimeoutError) as exc:  # a failed or unfinished job: fetch again later
        print(f"qsa jobs fetch: {exc}", file=sys.stderr)
        return 1
    _print_results(results, Path(run_dir))
    return 0


def _print_results(results: dict, run_dir: Path) -> None:
    obs, err = results["observables"], results["stderr"]
    for name in obs:
        if name in ("p",):
            continue
        values = ", ".join(f"{v:.4f} ± {e:.4f}" for v, e in zip(obs[name], err[name]))
        print(f"{name:>14}: {values}")
    if "gradient" in results:
        print(f"gradient of the {results['gradient']['loss']} saved in {run_dir / 'results.json'}")
    print(f"results: {run_dir / 'results.json'}")


def _status(args: argparse.Namespace) -> int:
    from qsa.hardware import submission

    for row in submission.status(args.run):
        print(f"chunk {row['chunk']}: {row['job_id'] or '-':40} {row['status']:14} {'saved' if row['saved'] else ''}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    return _fetch_and_print(Path(args.run), timeout=args.timeout)


def _resubmit(args: argparse.Namespace) -> int:
    from qsa.hardware import submission

    adopted = submission.recover(args.run)
    for chunk, job_id in sorted(adopted.items()):
        print(f"chunk {chunk}: adopted job {job_id} (found by its tags)")
    sent = submission.resubmit(args.run)
    for chunk, job_id in sorted(sent.items()):
        print(f"chunk {chunk}: submitted job {job_id}")
    if not adopted and not sent:
        print("every chunk of the run has a job; nothing to send")
    print(f"collect the results with: qsa jobs fetch {args.run}")
    return 0


def _adopt(args: argparse.Namespace) -> int:
    from qsa.hardware import submission

    chunk = submission.adopt(args.run, args.job, chunk=args.chunk)
    print(f"chunk {chunk}: job {args.job} journaled; collect the results with: qsa jobs fetch {args.run}")
    return 0
