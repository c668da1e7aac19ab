"""Where the reference task's CPU goes: imports, start-up to the first evaluation, one training step.

    python -X importtime experiments/benchmarks/profile_tfim.py --imports-only 2> importtime.txt
    python experiments/benchmarks/profile_tfim.py [--top 15] [--steps 50]

Runs in one process on one torch thread (as ``qsa train``) on ``experiments/tfim/config.toml``
and prints, in CPU seconds of this process (``time.process_time``):

1. the imports ``qsa train`` needs (torch, ``qsa.training``) and the modules loaded that the
   analytic path must not load (PennyLane, Qiskit, ``scipy.stats``, ``torch._dynamo``);
2. ``qsa.training.train(config)`` from its call to the first evaluation record (data generation,
   model, optimiser, run directory, the step-0 evaluation of every split), with the top entries
   of its cProfile (by internal time);
3. steady-state L-BFGS training steps as ``qsa train`` takes them (full batch, one evaluation per
   iteration: :class:`qsa.training.LBFGS` with ``same_closure=True``) after a warm-up: CPU per
   step, loss evaluations per step, CPU per evaluation, and the top cProfile entries.

cProfile adds its own overhead to every Python call (the per-step figure is printed with and
without it). Nothing is written. Used for ``experiments/benchmarks/README.md``'s profile section.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

START = time.process_time()
import numpy as np  # noqa: E402
import torch  # noqa: E402

TORCH = time.process_time()
from qsa.errors import run_command  # noqa: E402
from qsa.training import load_config, train  # noqa: E402

IMPORTS = time.process_time()

ROOT = Path(__file__).resolve().parents[2]
UNWANTED = ("pennylane", "qiskit", "scipy.stats", "torch._dynamo", "matplotlib")


class _FirstEvaluation(Exception):
    pass


def _top(profile: cProfile.Profile, n: int, divide: int = 1) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(n)
    lines = out.getvalue().splitlines()
    body = [line for line in lines if line.strip()]
    start = next(i for i, line in enumerate(body) if line.lstrip().startswith("ncalls"))
    if divide == 1:
        return "\n".join(body[start:])
    return f"(totals over {divide} steps)\n" + "\n".join(body[start:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "experiments" / "tfim" / "config.toml"))
    parser.add_argument("--top", type=int, default=15, help="cProfile entries to print")
    parser.add_argument("--steps", type=int, default=50, help="steady-state steps profiled (after 20 warm-up)")
    parser.add_argument("--imports-only", action="store_true", help="stop after the imports (for -X importtime)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as `qsa train` does
    print(
        f"imports: numpy + torch {TORCH - START:.2f} s CPU, qsa.training {IMPORTS - TORCH:.2f} s CPU "
        f"(interpreter start to here: {IMPORTS:.2f} s CPU incl. the interpreter's own start)"
    )
    if args.imports_only:
        return
    config = load_config(args.config)

    # 2. start-up: train() from its call to the first evaluation record
    profile = cProfile.Profile()

    def first(event):
        raise _FirstEvaluation

    with tempfile.TemporaryDirectory() as tmp:
        begin = time.process_time()
        profile.enable()
        try:
            train(config, run_dir=Path(tmp) / "run", plots=False, callbacks=[first])
        except _FirstEvaluation:
            pass
        profile.disable()
        startup = time.process_time() - begin
    loaded = sorted({m.split(".")[0] if not m.startswith(("scipy.", "torch.")) else m for m in sys.modules})
    unwanted = [name for name in loaded if name.startswith(UNWANTED)]
    print(
        f"\nstart-up: train() to the first evaluation {startup:.2f} s CPU (under cProfile); "
        f"interpreter start to there {time.process_time():.2f} s CPU; "
        f"unwanted modules loaded: {', '.join(unwanted) or 'none'}"
    )
    print(_top(profile, args.top))

    # 3. steady-state training steps, as qsa train takes them
    from qsa.training.families import build_model
    from qsa.training.loop import make_optimizer, run_dataset

    dataset = run_dataset(config)
    model_seed = np.random.SeedSequence(config.seed).spawn(2)[1]
    model = build_model(config, dataset, seed=np.random.default_rng(model_seed))
    optimizer = make_optimizer(model, config.train)
    batch, loss_name = dataset.train, config.train.loss
    evaluations = 0

    def closure():
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = model.loss(batch, loss_name)
        loss.backward()
        return loss

    for _ in range(20):
        optimizer.step(closure, same_closure=True)
    evaluations = 0
    begin = time.process_time()
    for _ in range(args.steps):
        optimizer.step(closure, same_closure=True)
    plain = (time.process_time() - begin) / args.steps
    plain_evaluations = evaluations / args.steps
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.steps):
        optimizer.step(closure, same_closure=True)
    profile.disable()
    print(
        f"\ntraining step (steps 21-{20 + args.steps}): {plain * 1e3:.2f} ms CPU per step, "
        f"{plain_evaluations:.2f} loss evaluations per step, {plain / max(plain_evaluations, 1e-9) * 1e3:.2f} ms "
        f"CPU per evaluation (without cProfile)"
    )
    print(_top(profile, args.top, divide=args.steps))


if __name__ == "__main__":
    sys.exit(run_command("experiments/benchmarks/profile_tfim.py", main))
