"""Load a finished (or interrupted) training run: its model with trained weights, its config and its data splits.

    >>> run = qsa.load_run("runs/tfim-20260101-120000")            # the best checkpoint (lowest test loss)
    >>> obs = run.model(run.splits["test"])                          # the trained model on the held-out split
    >>> run = qsa.load_run("runs/tfim-...", checkpoint="last")       # the latest checkpoint instead

The data are rebuilt from the run's configuration and seed (as :func:`qsa.training.resume` does)
and checked against the fingerprint recorded in ``data.json``, so a changed data generator is an
error, not a silent mismatch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qsa.evaluators import Evaluator
from qsa.model import QSAModel
from qsa.training.config import TrainConfig, config_from_dict
from qsa.training.data import Batchable, Dataset, build_dataset
from qsa.training.families import FamilyModel, build_model
from qsa.training.loop import _FORMAT, _READABLE_VERSIONS, BEST, CHECKPOINT, CONFIG, DATA

__all__ = ["CHECKPOINTS", "LoadedRun", "load_run"]

#: Which weights :func:`load_run` reads: ``best.pt`` (lowest held-out loss) or ``checkpoint.pt`` (latest).
CHECKPOINTS = {"best": BEST, "last": CHECKPOINT}


@dataclass(frozen=True, eq=False)
class LoadedRun:
    """A training run read back from its directory.

    Attributes:
        run_dir: the run directory.
        config: its :class:`~qsa.training.config.TrainConfig` (``config.json``).
        model: the model of ``config.model.family`` with the checkpoint's weights, in eval mode.
        dataset: the rebuilt :class:`~qsa.training.data.Dataset` (same seed, same fingerprint).
        checkpoint: ``"best"`` or ``"last"``; step: the training step the weights are from.
    """

    run_dir: Path
    config: TrainConfig
    model: QSAModel | FamilyModel
    dataset: Dataset
    checkpoint: str
    step: int

    @property
    def splits(self) -> dict[str, Batchable]:
        """Evaluation sets by name (``"train"``, ``"test"``, held-out Hamiltonians ...)."""
        return self.dataset.splits


def load_run(
    run_dir: str | os.PathLike[str], *, checkpoint: str = "best", evaluator: Evaluator | None = None
) -> LoadedRun:
    """The model, configuration and data splits of the run in ``run_dir``.

    Args:
        run_dir: a directory written by :func:`qsa.training.train` (``config.json``, ``data.json``,
            ``best.pt`` / ``checkpoint.pt``).
        checkpoint: ``"best"`` (the weights with the lowest ``test`` loss; default) or ``"last"``.
        evaluator: an evaluator replacing the configured backend (family ``"qsa"`` only), e.g.
            a :class:`~qsa.hardware.HardwareEvaluator`.

    Raises:
        ValueError: if ``checkpoint`` is unknown, the directory is not a run directory, the
            checkpoint file is missing or of another format, or the rebuilt data differ from the run's.
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {sorted(CHECKPOINTS)}; got {checkpoint!r}")
    path = Path(run_dir)
    if not (path / CONFIG).is_file():
        raise ValueError(f"run_dir must be a training run directory with config.json; got {str(path)!r}")
    weights = path / CHECKPOINTS[checkpoint]
    if not weights.is_file():
        raise ValueError(f"the run must have a {checkpoint} checkpoint ({weights.name}); got none in {str(path)!r}")
    config = config_from_dict(json.loads((path / CONFIG).read_text(encoding="utf-8")))
    data_seed, model_seed, _ = np.random.SeedSequence(config.seed).spawn(3)
    dataset = build_dataset(config, np.random.default_rng(data_seed))
    data_file = path / DATA
    if data_file.is_file():
        recorded = json.loads(data_file.read_text(encoding="utf-8")).get("fingerprint")
        if recorded is not None and recorded != dataset.info["fingerprint"]:
            raise ValueError(
                f"the data rebuilt from the run's config must equal the run's (fingerprint {recorded}); "
                f"got {dataset.info['fingerprint']}: did the text file or a package that generates the data change?"
            )
    model = build_model(config, dataset, seed=np.random.default_rng(model_seed), evaluator=evaluator)
    try:
        state: dict[str, Any] = torch.load(weights, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read means the file is damaged
        raise ValueError(
            f"checkpoint must be a readable {_FORMAT} file; got {weights} ({type(exc).__name__})"
        ) from None
    if (
        not isinstance(state, dict)
        or state.get("format") != _FORMAT
        or state.get("version") not in _READABLE_VERSIONS
        or not {"model", "step"} <= set(state)
    ):
        raise ValueError(f"checkpoint must be a {_FORMAT} file of version {_READABLE_VERSIONS}; got {weights}")
    model.load_state_dict(state["model"])
    model.eval()
    return LoadedRun(path, config, model, dataset, checkpoint, int(state["step"]))
