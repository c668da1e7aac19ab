r"""A trained model on a backend: what ``qsa submit --run RUN_DIR`` sends, and what it is compared with.

:func:`submission_inputs` turns a :class:`~qsa.training.load.LoadedRun` (:func:`qsa.load_run`)
and one of its data splits into a :class:`~qsa.hardware.submission.SubmitConfig` (the model's
circuit shape: ``T``, ``d``, ``k``, kernel, ``beta``, ansatz depths, query phases) and the inputs
of :func:`~qsa.hardware.submission.make_plan`: the split's tokens and targets as the model sees them
(through its embedding or projector), the trained ``theta_W``, ``theta_V`` and the phases
(trained, or aligned per sequence, ``-arg A_j``), plus the exact observables of the same inputs
from the analytic tier, the reference the sampled estimates are compared with.

    run = qsa.load_run("runs/tfim-...")
    config, inputs, source, exact = submission_inputs(run, split="test", shots=4000)
    plan = make_plan(config, backend, inputs=inputs, source=source)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from qsa import analytic
from qsa.hardware.mitigation import NONE, Mitigation
from qsa.hardware.submission import SubmitConfig
from qsa.model import QSAModel

__all__ = ["submission_inputs"]


def submission_inputs(
    run: Any, *, split: str = "test", shots: int = 4000, mitigation: Mitigation = NONE, **run_options: Any
) -> tuple[SubmitConfig, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]], dict[str, Any], analytic.Observables]:
    """The submission of ``run``'s trained model on ``split``.

    Args:
        run: a :class:`~qsa.training.load.LoadedRun` of model family ``"qsa"``.
        split: one of ``run.splits`` (``"test"`` by default).
        shots: shots per circuit and sequence.
        mitigation: the runtime options (:class:`~qsa.hardware.mitigation.Mitigation`).
        run_options: other :class:`~qsa.hardware.submission.SubmitConfig` fields (``optimization_level``,
            ``seed_transpiler``, ``seed_simulator``, ``max_parameter_sets_per_job``).

    Returns:
        ``(config, (X, Y, params), source, exact)``: ``X``, ``Y`` ``(S, T, d)`` complex;
        ``params`` ``theta_W``, ``theta_V`` and, with phases, ``phi`` ``(T,)`` or ``(S, T)``;
        ``source`` the run directory, checkpoint, step and split (recorded in ``plan.json``);
        ``exact`` the analytic observables of these inputs.

    Raises:
        ValueError: if the run's model is not a QSA model or ``split`` is not one of its splits.
    """
    model = run.model
    if not isinstance(model, QSAModel):
        raise ValueError(
            f"the run must train a QSA model (model.family = 'qsa') to run its circuits; got {run.config.model.family!r}"
        )
    if split not in run.splits:
        raise ValueError(f"split must be one of {sorted(run.splits)}; got {split!r}")
    cfg = model.config
    with torch.no_grad():
        X, Y = model.tokens(run.splits[split])  # (S, T, d) each
        params = model.circuit_params(X, Y)
        W, V = model.unitaries()
        exact = analytic.observables(
            X, Y, W, V, k=cfg.k, kernel=cfg.kernel, beta=cfg.beta, phases=params.get("phi")
        )  # the exact tier of the same inputs
    S, T, d = X.shape
    config = SubmitConfig(
        T=T,
        d=d,
        circuit="A",
        k=cfg.k,
        kernel=cfg.kernel,
        beta=cfg.beta,
        layers=cfg.w_layers,
        w_layers=cfg.w_layers,
        v_layers=cfg.v_layers,
        phases=cfg.phases != "none",
        data_source="run",
        sequences=S,
        shots=shots,
        mitigation=mitigation,
        **run_options,
    )
    arrays = {name: value.detach().cpu().numpy().astype(np.float64) for name, value in params.items()}
    inputs = (X.detach().cpu().numpy().astype(np.complex128), Y.detach().cpu().numpy().astype(np.complex128), arrays)
    source = {
        "run": str(run.run_dir),
        "checkpoint": run.checkpoint,
        "step": run.step,
        "split": split,
        "sequences": S,
        "phases": cfg.phases,
        "exact_L_B": np.asarray(exact.L_B, dtype=np.float64).tolist(),
    }
    return config, inputs, source, exact
