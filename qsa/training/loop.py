r"""The training loop: seeded data and model, Adam or L-BFGS steps, evaluation, checkpoints, resume.

The model is QSA or a baseline family (``model.family``, :mod:`qsa.training.families`); everything
below holds for every family.

A run lives in one directory (``runs/<name>-<stamp>/``)::

    config.json       the resolved configuration (every key, after overrides)
    environment.json  Python, platform, package versions, git commit, torch threads
    data.json         data sizes, chance levels and baselines
    metrics.jsonl     one JSON object per line, flushed as written:
                      {"kind": "train", "step": s, "loss": ...}            (the batch loss before step s)
                      {"kind": "eval", "step": s, "split": ..., "L_1": ..., "L_half": ..., "L_B": ..., "F": ...}
    checkpoint.pt     latest: model, optimiser, batch-order RNG, step, best, length of metrics.jsonl
    best.pt           model with the lowest held-out ("test") loss so far
    loss.png          loss curves with chance levels (accuracy too, for text)
    summary.json      final metrics on every split, best step, chance levels, wall time, plot paths,
                      model family and its number of trainable parameters

Every random draw comes from ``config.seed`` (split into streams for the data, the model and the
batch order), so the same configuration gives the same ``metrics.jsonl`` byte for byte (on the same
machine, package versions and torch thread count; timings are kept out of it). Checkpoints are
written atomically and record how long ``metrics.jsonl`` was; :func:`resume` truncates it back to
that length and continues from the checkpoint with the restored optimiser and RNG states, so an
interrupted run (even by SIGKILL) ends with exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qsa import runs
from qsa.evaluators import Evaluator
from qsa.model import QSAModel, objective
from qsa.training.config import TrainConfig, config_from_dict, config_to_dict
from qsa.training.data import Dataset, build_dataset, select, size
from qsa.training.families import FamilyModel, build_model, count_parameters
from qsa.training.optimizers import SPSA, make_optimizer, make_scheduler

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT",
    "BEST",
    "METRICS",
    "BatchOrder",
    "Callback",
    "TrainEvent",
    "TrainResult",
    "evaluate",
    "make_optimizer",
    "read_metrics",
    "run_environment",
    "train",
    "resume",
]

CONFIG, ENVIRONMENT, DATA, METRICS, CHECKPOINT, BEST, SUMMARY = (
    "config.json",
    "environment.json",
    "data.json",
    "metrics.jsonl",
    "checkpoint.pt",
    "best.pt",
    "summary.json",
)
_FORMAT, _VERSION = "qsa-checkpoint", 1
SELECTION_SPLIT = "test"


@dataclass(frozen=True)
class TrainResult:
    """A finished run: its directory, the trained model and ``summary.json``'s content."""

    run_dir: Path
    model: QSAModel | FamilyModel
    summary: dict[str, Any]


@dataclass(frozen=True)
class TrainEvent:
    """What a callback of :func:`train` sees after each record is written to ``metrics.jsonl``.

    Attributes:
        record: the record (``{"kind": "train", "step", "loss", "lr"}`` or ``{"kind": "eval", "step", "split", ...}``).
        step: steps taken so far.
        model: the model being trained (read it; changing it changes the run).
        optimizer: its optimiser.
        run_dir: the run directory.
    """

    record: dict[str, Any]
    step: int
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    run_dir: Path


#: A callback: ``callback(event) -> bool | None``; ``True`` stops the run after the current step
#: (with a checkpoint and the summary, as at the last step; :func:`resume` would continue it).
Callback = Callable[[TrainEvent], "bool | None"]


TENSORBOARD = "tensorboard"


class TensorBoardWriter:
    """A callback writing every metrics record as TensorBoard scalars to ``<run>/tensorboard``.

    ``train/loss`` and ``train/lr`` per step, ``<split>/<metric>`` at each evaluation, through
    ``torch.utils.tensorboard.SummaryWriter`` (needs the ``tensorboard`` package:
    ``pip install "qsa[tensorboard]"``). On resume, events after the checkpoint's step are purged,
    as ``metrics.jsonl`` is truncated. ``train.tensorboard = true`` adds one to a run.
    """

    def __init__(self, log_dir: str | os.PathLike, *, purge_step: int | None = None) -> None:
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def __call__(self, event: TrainEvent) -> None:
        r = event.record
        if r["kind"] == "train":
            self.writer.add_scalar("train/loss", r["loss"], r["step"])
            if "lr" in r:
                self.writer.add_scalar("train/lr", r["lr"], r["step"])
        else:
            for key, value in r.items():
                if key not in ("kind", "step", "split") and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"{r['split']}/{key}", value, r["step"])

    def close(self) -> None:
        self.writer.close()


def check_tensorboard() -> None:
    """Raise ``ValueError`` with the install command when the ``tensorboard`` package is missing."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            'train.tensorboard = true needs the tensorboard package: pip install "qsa[tensorboard]" '
            "(or set train.tensorboard = false)"
        )


class BatchOrder:
    """Mini-batches of sequence indices: each epoch a fresh permutation drawn from ``rng``.

    ``batch_size = 0`` (or at least the data size) gives every index, in order, at every step and
    draws nothing. The permutation, position and generator state are saved in checkpoints.
    """

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator) -> None:
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.order = np.arange(n)
        self.pos = n  # a new epoch starts at the first call

    @property
    def full(self) -> bool:
        return self.batch_size == 0 or self.batch_size >= self.n

    def next(self) -> np.ndarray:
        if self.full:
            return np.arange(self.n)
        if self.pos + self.batch_size > self.n:  # the tail shorter than a batch is dropped
            self.order, self.pos = self.rng.permutation(self.n), 0
        idx = self.order[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": torch.from_numpy(self.order.copy()), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order, self.pos = state["order"].numpy().copy(), int(state["pos"])


def evaluate(model: QSAModel | FamilyModel, batch: Any) -> dict[str, float]:
    """Mean ``L_1``, ``L_half``, ``L_B`` and ``F`` over ``batch``; for id windows also the next-word
    cross-entropy ``nll`` and the next-token accuracy (argmax of ``p(l|z)``, from the closed-form ``z``)."""
    with torch.no_grad():
        obs = model(batch)
        out = {f: float(getattr(obs, f).mean()) for f in ("L_1", "L_half", "L_B", "F") if getattr(obs, f) is not None}
        if model.config.embedding == "isometric":
            out["nll"] = float(objective(obs, "nll", target_log_norm2=model.target_log_norm2(batch)))
            z = model.predictions(batch)  # (S, T, d)
            out["next_token_accuracy"] = float(model.embedding.next_token_accuracy(z, batch))
    return out


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl``."""
    with open(Path(run_dir) / METRICS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _save(path: Path, obj: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    runs.write_bytes(path, buffer.getvalue())


class _Run:
    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path | None,
        evaluator: Evaluator | None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.config, self.run_dir = config, run_dir
        # The first three streams are those of spawn(3): adding the optimiser's kept every earlier run's draws.
        data_seed, model_seed, order_seed, optimizer_seed = np.random.SeedSequence(config.seed).spawn(4)
        self.dataset: Dataset = build_dataset(config, np.random.default_rng(data_seed))
        self.model = build_model(config, self.dataset, seed=np.random.default_rng(model_seed), evaluator=evaluator)
        self.optimizer = make_optimizer(self.model, config.train, seed=np.random.default_rng(optimizer_seed))
        self.scheduler = make_scheduler(self.optimizer, config.train)
        self.callbacks = list(callbacks)
        self.order = BatchOrder(size(self.dataset.train), config.train.batch_size, np.random.default_rng(order_seed))
        self.step, self.best, self.resumes = 0, None, 0
        self.elapsed_before = 0.0  # wall seconds of earlier sessions (up to their last checkpoint)
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    # --- state ---------------------------------------------------------------------------------

    def _state(self, metrics_bytes: int) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "order": self.order.state_dict(),
            "best": self.best,
            "metrics_bytes": metrics_bytes,
            "elapsed_seconds": self.elapsed(),
            "resumes": self.resumes,
        }

    def restore(self) -> None:
        path = self.run_dir / CHECKPOINT
        metrics = self.run_dir / METRICS
        if not path.exists():  # killed before the first checkpoint: start over
            logger.info("no checkpoint in %s: starting from step 0", self.run_dir)
            metrics.write_bytes(b"")
            return
        state = torch.load(path, weights_only=True)
        if state.get("format") != _FORMAT or state.get("version") != _VERSION:
            raise ValueError(f"checkpoint must be a {_FORMAT} version {_VERSION} file; got {path}")
        recorded = json.loads((self.run_dir / DATA).read_text(encoding="utf-8")).get("fingerprint")
        if recorded != self.dataset.info["fingerprint"]:
            raise ValueError(
                f"the data rebuilt for resuming must equal the run's (fingerprint {recorded}); got {self.dataset.info['fingerprint']}: "
                "did the text file or a package that generates the data change?"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.order.load_state_dict(state["order"])
        self.step, self.best, self.elapsed_before = int(state["step"]), state["best"], float(state["elapsed_seconds"])
        self.started = time.perf_counter()
        self.resumes = int(state["resumes"]) + 1
        with open(metrics, "r+b") as f:  # drop what was written after the checkpoint
            f.truncate(int(state["metrics_bytes"]))
        logger.info("resumed %s at step %d", self.run_dir, self.step)

    # --- one step --------------------------------------------------------------------------------

    def _train_step(self, batch: Any) -> float:
        loss_name = self.config.train.loss

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad()
            loss = self.model.loss(batch, loss_name)
            loss.backward()
            return loss

        if isinstance(self.optimizer, torch.optim.LBFGS):
            loss = self.optimizer.step(closure)  # the loss at the parameters before the step
        elif isinstance(self.optimizer, SPSA):
            loss = self._spsa_step(batch, loss_name)
        else:
            loss = closure()
            self._clip_gradients()
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return float(loss.detach())

    def _spsa_step(self, batch: Any, loss_name: str) -> torch.Tensor:
        """Two loss evaluations, no gradient; returns their mean (SPSA never evaluates the loss at theta)."""
        return self.optimizer.step(lambda: self.model.loss(batch, loss_name))

    def _clip_gradients(self) -> None:
        if self.config.train.grad_clip is not None:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.train.grad_clip)

    # --- the loop --------------------------------------------------------------------------------

    def execute(self, progress: bool, plots: bool) -> TrainResult:
        cfg = self.config.train
        with open(self.run_dir / METRICS, "ab") as metrics:
            stop = False

            def write(record: dict[str, Any]) -> None:
                nonlocal stop
                metrics.write((json.dumps(record) + "\n").encode())
                metrics.flush()
                event = TrainEvent(record, self.step, self.model, self.optimizer, self.run_dir)
                for callback in self.callbacks:
                    stop = bool(callback(event)) or stop

            def evaluation(select: bool = True) -> None:
                for name, split in self.dataset.splits.items():
                    record = {"kind": "eval", "step": self.step, "split": name, **evaluate(self.model, split)}
                    write(record)
                    if (
                        select
                        and name == SELECTION_SPLIT
                        and (self.best is None or record[cfg.loss] < self.best["value"])
                    ):
                        self.best = {"step": self.step, "split": name, "loss": cfg.loss, "value": record[cfg.loss]}
                        _save(
                            self.run_dir / BEST,
                            {
                                "format": _FORMAT,
                                "version": _VERSION,
                                "step": self.step,
                                "model": self.model.state_dict(),
                                "best": self.best,
                            },
                        )

            def checkpoint() -> None:
                _save(self.run_dir / CHECKPOINT, self._state(metrics.tell()))

            if self.step == 0:
                evaluation()
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, disable=not progress, desc=self.config.name, unit="step")
            try:
                while self.step < cfg.steps:
                    batch = self.dataset.train if self.order.full else select(self.dataset.train, self.order.next())
                    lr = self.optimizer.param_groups[0]["lr"]  # the rate of this step (before the schedule moves it)
                    loss = self._train_step(batch)
                    self.step += 1
                    write({"kind": "train", "step": self.step, "loss": loss, "lr": lr})
                    if not math.isfinite(loss):
                        raise FloatingPointError(f"the training loss must stay finite; got {loss} at step {self.step}")
                    last = self.step == cfg.steps
                    if self.step % cfg.eval_every == 0 or last:
                        evaluation()
                    if self.step % cfg.checkpoint_every == 0 or last or stop:
                        checkpoint()
                    if stop and not (self.step % cfg.eval_every == 0 or last):
                        # After the checkpoint, so a resumed run drops it and ends with the uninterrupted
                        # metrics; it gives the summary its final figures but selects no best model.
                        evaluation(select=False)
                    bar.update(1)
                    bar.set_postfix_str(f"{cfg.loss}={loss:.4f}", refresh=False)
                    if stop:
                        logger.info("a callback stopped %s at step %d", self.run_dir, self.step)
                        break
            finally:
                bar.close()
                for callback in self.callbacks:
                    if hasattr(callback, "close"):
                        callback.close()
            if self.step == 0:
                checkpoint()
        return self._finish(plots)

    def _finish(self, plots: bool) -> TrainResult:
        from qsa.training.plots import plot_run

        records = read_metrics(self.run_dir)
        final = {
            r["split"]: {k: v for k, v in r.items() if k not in ("kind", "split")}
            for r in records
            if r["kind"] == "eval" and r["step"] == self.step
        }
        written = plot_run(self.run_dir) if plots else []
        summary = {
            "name": self.config.name,
            "family": self.config.model.family,
            "parameters": count_parameters(self.model),
            "steps": self.step,
            "loss": self.config.train.loss,
            "final": final,
            "best": self.best,
            "chance": self.dataset.chance._asdict(),
            "majority_accuracy": self.dataset.majority_accuracy,
            "nll_baselines": self.dataset.nll_baselines,
            "wall_seconds": self.elapsed(),
            "resumes": self.resumes,
            "plots": [p.name for p in written],
            "checkpoint": CHECKPOINT,
        }
        runs.write_json(self.run_dir / SUMMARY, summary)
        logger.info("finished %s: %s", self.run_dir, {k: v.get(self.config.train.loss) for k, v in final.items()})
        return TrainResult(self.run_dir, self.model, summary)


def run_environment() -> dict[str, Any]:
    """:func:`qsa.runs.environment` (git commit of this package's checkout) plus torch's thread count."""
    return {**runs.environment(Path(__file__).resolve().parent), "torch_threads": torch.get_num_threads()}


def train(
    config: TrainConfig,
    *,
    out: str | os.PathLike = "runs",
    run_dir: str | os.PathLike | None = None,
    evaluator: Evaluator | None = None,
    progress: bool = False,
    plots: bool = True,
    callbacks: Sequence[Callback] = (),
    run_name: str | None = None,
) -> TrainResult:
    """Train the model of ``config.model.family`` (QSA by default) as ``config`` says, in a new run directory.

    Args:
        config: the :class:`~qsa.training.config.TrainConfig`.
        out: where the run directory ``<run_name>-<UTC stamp>`` is created.
        run_dir: an explicit, new or empty directory instead.
        evaluator: an :class:`~qsa.evaluators.Evaluator` replacing ``config.model.backend`` (e.g. a
            hardware-faithful Aer evaluator); ``None`` uses the configured backend. Family
            ``"qsa"`` only.
        progress: show a tqdm progress bar (on stderr).
        plots: write ``loss.png`` at the end (:func:`qsa.training.plots.plot_run` can do it later).
        callbacks: functions ``callback(event: TrainEvent)`` called after every record written to
            ``metrics.jsonl``; one returning ``True`` stops the run after that step (checkpointed,
            summarised). ``train.tensorboard = true`` adds a :class:`TensorBoardWriter`.
        run_name: the directory name before the stamp (default ``config.name``; ``qsa train``
            appends the ``--set`` overrides, :func:`qsa.runs.run_name`).

    Returns:
        :class:`TrainResult` with the run directory, the trained model and the summary.

    Raises:
        TypeError, ValueError: for a bad config or argument (``train.tensorboard`` without the
        tensorboard package included), before anything is written.

    Example:
        >>> from qsa.configs import config_path
        >>> from qsa.training import load_config, train
        >>> config = load_config(config_path("tfim/smoke.toml"), ["train.steps=2"])
        >>> result = train(config, out=getfixture("tmp_path"), plots=False)
        >>> result.summary["steps"], sorted(result.summary["final"])
        (2, ['heldout_H1', 'test', 'train'])
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig (see qsa.training.load_config); got {type(config).__name__}")
    config = config_from_dict(config_to_dict(config))  # the same checks as a file, for configs built in code
    if run_dir is not None and Path(run_dir).exists() and any(Path(run_dir).iterdir()):
        raise ValueError(f"run_dir must be a new or empty directory; got {str(run_dir)!r}, which has files")
    if config.train.tensorboard:
        check_tensorboard()
    callbacks = _callbacks(callbacks)
    run = _Run(config, None, evaluator, callbacks)  # data and model are built (and checked) before anything is written
    if run_dir is None:
        path = runs.new_run_dir(out, config.name if run_name is None else run_name)
    else:
        path = Path(run_dir)
        path.mkdir(parents=True, exist_ok=True)
    run.run_dir = path
    runs.write_json(path / CONFIG, config_to_dict(config))
    evaluator_name = (
        repr(run.model.evaluator) if isinstance(run.model, QSAModel) else None
    )  # baselines have no circuit backend
    runs.write_json(path / ENVIRONMENT, {**run_environment(), "evaluator": evaluator_name})
    runs.write_json(
        path / DATA,
        {
            **run.dataset.info,
            "T": run.dataset.T,
            "chance": run.dataset.chance._asdict(),
            "majority_accuracy": run.dataset.majority_accuracy,
            "nll_baselines": run.dataset.nll_baselines,
            "loss": config.train.loss,
        },
    )
    runs.write_bytes(path / METRICS, b"")
    if config.train.tensorboard:
        run.callbacks.append(TensorBoardWriter(path / TENSORBOARD))
    logger.info("training %s in %s", config.name, path)
    return run.execute(progress, plots)


def _callbacks(callbacks: Sequence[Callback]) -> list[Callback]:
    if callable(callbacks) or not all(callable(c) for c in callbacks):
        raise TypeError(f"callbacks must be a sequence of callables callback(event); got {callbacks!r}")
    return list(callbacks)


def resume(
    run_dir: str | os.PathLike,
    *,
    evaluator: Evaluator | None = None,
    progress: bool = False,
    plots: bool = True,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Continue the run in ``run_dir`` from its checkpoint; the remaining steps are those of an uninterrupted run.

    ``callbacks`` as in :func:`train` (they see only the records written after the checkpoint).
    """
    path = Path(run_dir)
    if not (path / CONFIG).is_file() or not (path / METRICS).is_file():
        raise FileNotFoundError(f"run_dir must be a run directory with {CONFIG} and {METRICS}; got {str(path)!r}")
    config = config_from_dict(json.loads((path / CONFIG).read_text(encoding="utf-8")))
    if config.train.tensorboard:
        check_tensorboard()
    run = _Run(config, path, evaluator, _callbacks(callbacks))
    run.restore()
    if config.train.tensorboard:
        run.callbacks.append(TensorBoardWriter(path / TENSORBOARD, purge_step=run.step + 1))
    with open(path / "resumes.jsonl", "a", encoding="utf-8") as f:  # who resumed, where, from which step
        f.write(json.dumps({"from_step": run.step, "environment": run_environment()}, default=str) + "\n")
    return run.execute(progress, plots)
