"""Train circuit A through the batched shot-based parameter-shift gradient, next to the exact run.

    python experiments/shot_training/run.py                                   # config.toml, about 3 minutes
    python experiments/shot_training/run.py experiments/shot_training/smoke.toml   # seconds (tests)

The same loop (Adam on ``theta_W``, ``theta_V``, ``phi``; loss = mean ``L_B`` over the sequences)
runs twice or more from the same initial angles, with two evaluators of one contract
``evaluator(params, X, Y, *, k, kernel, beta) -> Observables``:

* ``exact``: the analytic tier with ``W = ansatz_unitary(theta_W)``, ``V = ansatz_unitary(theta_V)``
  (torch autograd);
* ``aer`` (and ``fake_*`` for noisy Aer): :class:`qsa.hardware.HardwareEvaluator` -- one job per
  step with every parameter-shift point of every sequence, losses from counts.

For the shot runs the loss is also evaluated exactly at the same angles (not used for training)
to show the true progress. Writes ``<out>/shot-training-<stamp>/results.json`` and ``loss.png``.

(The project's training loop ``qsa.training`` has not landed yet; this minimal loop stands in.)
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from qsa import analytic, runs  # noqa: E402
from qsa.ansatz import ansatz_unitary  # noqa: E402
from qsa.data import tfim_sequences, transverse_ising  # noqa: E402
from qsa.hardware import HardwareEvaluator, NoisyAerRunner, aer_sampler_runner  # noqa: E402

HERE = Path(__file__).resolve().parent


def analytic_evaluator(params, X, Y, *, k, kernel, beta):
    """The evaluator contract on the analytic tier."""
    W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
    return analytic.observables(X, Y, W, V, k=k, kernel=kernel, beta=beta, phases=params.get("phi"))


def initial_params(cfg: dict, T: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(cfg["model"]["init_seed"])
    L, scale = cfg["model"]["layers"], cfg["model"]["init_scale"]
    params = {"theta_W": scale * rng.normal(size=(L, n, 3)), "theta_V": scale * rng.normal(size=(L, n, 3))}
    if cfg["model"]["phases"]:
        params["phi"] = rng.uniform(-np.pi, np.pi, T)
    return params


def train(evaluator, init: dict[str, np.ndarray], X, Y, cfg: dict, label: str) -> dict:
    model, tr = cfg["model"], cfg["train"]
    params = {name: torch.tensor(v, requires_grad=True) for name, v in init.items()}
    opt = torch.optim.Adam(list(params.values()), lr=tr["lr"])
    history = {"loss": [], "loss_stderr": [], "loss_exact": [], "seconds": []}
    for step in range(tr["steps"]):
        start = time.perf_counter()
        opt.zero_grad()
        obs = evaluator(params, X, Y, k=model["k"], kernel=model["kernel"], beta=None)
        loss = getattr(obs, tr["loss"]).mean()
        loss.backward()
        est = getattr(evaluator, "last_estimate", None)
        stderr = float(np.sqrt((np.asarray(getattr(est.stderr, tr["loss"])) ** 2).sum()) / X.shape[0]) if est is not None else 0.0
        with torch.no_grad():
            exact = getattr(analytic_evaluator(params, X, Y, k=model["k"], kernel=model["kernel"], beta=None), tr["loss"]).mean()
        opt.step()
        history["loss"].append(float(loss.detach()))
        history["loss_stderr"].append(stderr)
        history["loss_exact"].append(float(exact))
        history["seconds"].append(time.perf_counter() - start)
        print(f"{label:12} step {step:3d}  {tr['loss']} {history['loss'][-1]:.4f} ± {stderr:.4f}  (exact at these angles {float(exact):.4f})"
              f"  {history['seconds'][-1]:.2f} s", flush=True)
    with torch.no_grad():
        final = analytic_evaluator(params, X, Y, k=model["k"], kernel=model["kernel"], beta=None)
    history["final_exact"] = {f: float(getattr(final, f).mean()) for f in ("F", "L_B", "L_A", "L_half", "L_1")}
    history["final_params"] = {n: p.detach().numpy().tolist() for n, p in params.items()}
    return history


def plot(results: dict, path: Path, loss_name: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, h in results.items():
        steps = np.arange(len(h["loss"]))
        if label == "exact":
            ax.plot(steps, h["loss"], "k-", lw=2, label="exact (analytic gradient)")
            continue
        line = ax.errorbar(steps, h["loss"], yerr=h["loss_stderr"], fmt="o", ms=3, capsize=2, label=f"{label}: estimate from counts")
        ax.plot(steps, h["loss_exact"], "--", color=line[0].get_color(), label=f"{label}: exact loss at its angles")
    ax.set_xlabel("step (one primitive job each for the shot runs)")
    ax.set_ylabel(f"mean {loss_name}")
    ax.set_title("Training circuit A: batched parameter-shift gradient from shots vs exact")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    runs.write_bytes(path, buffer.getvalue())


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(HERE / "config.toml"))
    parser.add_argument("--out", default="runs")
    args = parser.parse_args(argv)
    cfg = tomllib.loads(Path(args.config).read_text())
    data = cfg["data"]
    seqs = tfim_sequences(
        transverse_ising(data["n_qubits"], h=data["h"], J=data["J"]), dt=data["dt"], T=data["T"],
        n_sequences=data["sequences"], seed=data["seed"],
    )
    X, Y = seqs.X, seqs.Y
    init = initial_params(cfg, data["T"], data["n_qubits"])
    shots = cfg["shots"]
    results = {"exact": train(analytic_evaluator, init, X, Y, cfg, "exact")}
    for name in shots["runners"]:
        if name == "aer":
            runner = aer_sampler_runner(shots=shots["shots"], seed=shots["seed"])
        else:
            runner = NoisyAerRunner(name, shots=shots["shots"], seed=shots["seed"])
        results[name] = train(HardwareEvaluator(runner), init, X, Y, cfg, name)
    run_dir = runs.new_run_dir(args.out, "shot-training")
    runs.write_bytes(run_dir / "config.toml", Path(args.config).read_bytes())
    runs.write_json(run_dir / "results.json", {"config": cfg, "runs": results, "chance_levels": analytic.chance_levels(2 ** data["n_qubits"])._asdict(),
                                               "environment": runs.environment(HERE)})
    plot(results, run_dir / "loss.png", cfg["train"]["loss"])
    for label, h in results.items():
        print(f"{label:12} {cfg['train']['loss']}: {h['loss_exact'][0]:.4f} -> {h['final_exact'][cfg['train']['loss']]:.4f} (exact, first -> final angles)")
    print(f"wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(sys.argv[1:])
