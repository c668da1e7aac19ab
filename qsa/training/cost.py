"""The cost block of a trained QSA model, for ``qsa train`` (``summary.json``) and ``qsa cost RUN_DIR``.

:func:`model_cells` reads circuit A's exact cell probabilities off a trained
:class:`~qsa.model.QSAModel` (the analytic tier, whatever backend it trained on);
:func:`run_cost` turns them, for every split of the run's data, into the block of
:func:`qsa.resources.report.cost_block` (what each number means is written there);
:func:`load_run` rebuilds the data and the latest model of a run directory.

What runs where (the training path stays light, :mod:`qsa.training.loop`): a ``qsa train`` run computes
the analytic part at its end (probabilities, shots, executions, logical counts from closed-form
formulas, the shift plan from the IR, the classical cost, the advantage criterion; no PennyLane,
Qiskit or ``scipy.stats``); native two-qubit counts need Qiskit's transpiler and are added by
``qsa cost RUN_DIR`` (cached on disk, :class:`~qsa.resources.transpiled.TranspileCache`), which
writes the full block to ``RUN_DIR/cost.json``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from qsa import analytic
from qsa.circuits import Shape
from qsa.training.config import TrainConfig, config_from_dict
from qsa.training.data import Dataset, build_dataset, size

logger = logging.getLogger(__name__)

__all__ = ["COST", "model_shape", "model_cells", "run_cost", "load_run"]

#: The file ``qsa cost`` writes into the run directory.
COST = "cost.json"


def model_shape(config: TrainConfig, T: int, d: int) -> Shape:
    """Circuit A of a QSA training config at ``T`` steps and token width ``d`` (with its ansatz depths and phases)."""
    m = config.model
    return Shape("A", T, d, m.k, m.kernel, m.beta, m.w_layers, m.v_layers, m.phases != "none")


def model_cells(model: Any, batch: Any) -> dict[str, np.ndarray]:
    """Circuit A's exact cells for every sequence of ``batch`` under ``model``'s current parameters.

    Returns:
        ``{"mu": (S,), "zeta": (S, T), "nu": (S, T)}`` float64: ``mu`` with the model's phases
        (aligned, trained or none), ``zeta_j = ||z_j||^2 / (lambda^2 T N)`` and
        ``nu_j = |A_j|^2 / (lambda^2 T N)`` (docs/method.md section 4), summing to the model's ``zeta``, ``nu``.
    """
    cfg = model.config
    with torch.no_grad():
        X, Y = model.tokens(batch)  # (S, T, d) each
        W, V = model.unitaries()
        beta = analytic.resolve_beta(cfg.beta, cfg.d)
        A, z_norm2 = analytic.amplitudes_and_norms(X, Y, W, V, k=cfg.k, kernel=cfg.kernel, beta=beta)  # (S, T) each
        phases = {"none": None, "aligned": "aligned", "trained": getattr(model, "phi", None)}[cfg.phases]
        mu = cast(torch.Tensor, analytic.observables_from_amplitudes(A, z_norm2, phases=phases).mu)  # (S,)
        T = A.shape[-1]
        TN = T * T * (T + 1) / 2
        return {
            "mu": mu.cpu().numpy().astype(np.float64),
            "zeta": (z_norm2 / TN).cpu().numpy().astype(np.float64),
            "nu": ((A.real**2 + A.imag**2) / TN).cpu().numpy().astype(np.float64),
        }


def run_cost(
    config: TrainConfig,
    dataset: Dataset,
    model: Any,
    *,
    rel_error: float = 0.1,
    backend: str | None = None,
    cache: Any = None,
    optimization_level: int = 2,
    seed_transpiler: int = 0,
) -> dict[str, Any] | None:
    """The cost block of ``model`` trained as ``config`` says on ``dataset``; ``None`` for a family without a circuit.

    Args:
        rel_error: the stated precision ``eps`` (:mod:`qsa.resources.report`).
        backend: ``"heron"`` or ``"eagle"`` to add native two-qubit counts per shot (transpiles:
            imports Qiskit); ``None`` (what ``qsa train`` uses) leaves them out.
        cache: a :class:`~qsa.resources.transpiled.TranspileCache` for those counts.
    """
    from qsa.resources.report import cost_block

    if config.model.family != "qsa":
        return None
    first = next(iter(dataset.splits.values()))
    probe = model_cells(model, first)
    T, d = probe["zeta"].shape[-1], model.config.d
    shape = model_shape(config, T, d)
    cells = {name: (probe if batch is first else model_cells(model, batch)) for name, batch in dataset.splits.items()}
    n_train = size(dataset.train)
    batch_size = n_train if config.train.batch_size in (0, None) else min(config.train.batch_size, n_train)
    transpiled = None
    if backend is not None:
        from qsa.resources.transpiled import BACKENDS, transpiled_counts

        transpiled = {
            "backend": backend,
            "backend_class": BACKENDS.get(backend),
            "variants": {
                v: transpiled_counts(
                    shape,
                    backend,
                    variant=v,
                    optimization_level=optimization_level,
                    seed_transpiler=seed_transpiler,
                    cache=cache,
                )
                for v in shape.variants
            },
        }
    block = cost_block(
        shape,
        cells,
        loss=config.train.loss,
        batch_size=batch_size,
        rel_error=rel_error,
        trained_phases=config.model.phases == "trained",
        train_split="train" if "train" in cells else next(iter(cells)),
        transpiled=transpiled,
        optimizer=config.train.optimizer,
    )
    if transpiled is not None:
        block["transpiled"].update(optimization_level=optimization_level, seed_transpiler=seed_transpiler)
    return block


def load_run(run_dir: str | os.PathLike[str]) -> tuple[TrainConfig, Dataset, Any, int]:
    """``(config, dataset, model, step)`` of the run in ``run_dir``: its config, its data rebuilt from the
    seed (fingerprint checked against ``data.json``) and the model of its latest checkpoint.

    Raises:
        FileNotFoundError: if ``run_dir`` is not a run directory with ``config.json`` and ``checkpoint.pt``.
        ValueError: if the rebuilt data differ from the run's (fingerprint) or the checkpoint does not load.
    """
    from qsa.evaluators import AnalyticEvaluator
    from qsa.training.families import build_model

    path = Path(run_dir)
    for name in ("config.json", "checkpoint.pt"):
        if not (path / name).is_file():
            raise FileNotFoundError(
                f"run_dir must be a run directory with config.json and checkpoint.pt; got {str(path)!r} without {name}"
            )
    config = config_from_dict(json.loads((path / "config.json").read_text(encoding="utf-8")))
    data_seed, model_seed, _ = np.random.SeedSequence(config.seed).spawn(3)  # the streams of qsa.training.loop
    dataset = build_dataset(config, np.random.default_rng(data_seed))
    recorded = None
    if (path / "data.json").is_file():
        recorded = json.loads((path / "data.json").read_text(encoding="utf-8")).get("fingerprint")
    if recorded is not None and recorded != dataset.info["fingerprint"]:
        raise ValueError(
            f"the data rebuilt from {path / 'config.json'} must equal the run's (fingerprint {recorded}); "
            f"got {dataset.info['fingerprint']}"
        )
    evaluator = AnalyticEvaluator() if config.model.family == "qsa" else None
    model = build_model(config, dataset, seed=np.random.default_rng(model_seed), evaluator=evaluator)
    state = torch.load(path / "checkpoint.pt", weights_only=True)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise ValueError(f"checkpoint.pt must hold the model config.json describes; got {exc}") from None
    return config, dataset, model, int(state.get("step", 0))


def summary_cost(config: TrainConfig, dataset: Dataset, model: Any) -> dict[str, Any] | None:
    """:func:`run_cost` at its defaults for ``summary.json`` at the end of a run.

    The block is a report about a finished training: a fault in it is logged (with its traceback)
    and recorded as ``{"error": ...}`` rather than losing the run's summary.
    """
    try:
        return run_cost(config, dataset, model)
    except Exception as exc:  # the run's results matter more than its cost report
        logger.exception("the cost block could not be computed (a bug in qsa: please report it)")
        return {"error": f"{type(exc).__name__}: {exc}"}
