r"""The training loop: seeded data and model, Adam or L-BFGS steps, evaluation, checkpoints, resume.

The model is QSA or a baseline family (``model.family``, :mod:`qsa.training.families`); everything
below holds for every family.

A run lives in one directory (``runs/<name>-<stamp>/``)::

    config.json       the resolved configuration (every key, after overrides)
    environment.json  Python, platform, package versions, git commit, torch threads
    data.json         data sizes, chance levels and untrained baselines (copy-last, unigram, ...) per split
    metrics.jsonl     one JSON object per line, flushed as written:
                      {"kind": "train", "step": s, "loss": ...}            (the batch loss before step s)
                      {"kind": "eval", "step": s, "split": ..., "L_1": ..., "L_half": ..., "L_B": ..., "F": ...}
                      (with shots also "loss_stderr" and "L_1_stderr", ...: standard errors of the means)
    checkpoint.pt     latest: model, optimiser, batch-order RNG, step, best, and what the other files
                      must hold: the configuration, the data fingerprint, the length, SHA-256 and a
                      compressed copy of metrics.jsonl up to that step
    checkpoint.<s>.pt the older checkpoints kept (train.keep_checkpoints in all, latest included)
    best.pt           model with the lowest held-out ("test") loss so far
    loss.png          loss curves with chance levels (accuracy too, for text)
    summary.json      final metrics on every split, best step, chance levels, wall time, plot paths,
                      model family and its number of trainable parameters, and (QSA) the cost block
                      of the trained model (qsa.training.cost: probabilities, shots, gates, advantage)

Every random draw comes from ``config.seed`` (split into streams for the data, the model and the
batch order; with shots, from ``model.shot_seed``: every step and evaluation samples its own
stream ``(shot_seed, purpose, step, ...)``, :mod:`qsa.random`), so the same configuration gives the same
``metrics.jsonl`` byte for byte (on the same machine, package versions and torch thread count;
timings are kept out of it). Checkpoints are
written atomically and record how long ``metrics.jsonl`` was; :func:`resume` truncates it back to
that length and continues from the checkpoint with the restored optimiser and RNG states, so an
interrupted run (even by SIGKILL) ends with exactly the metrics of an uninterrupted one.

Nothing is lost to an interruption or a damaged file. One process at a time trains or resumes a run
directory (:class:`qsa.runs.RunLock`; a second is refused with the holder's pid). :func:`resume`
first checks every file against the newest intact checkpoint and touches nothing until all checks
pass: a damaged latest checkpoint is reported and the previous one used; a ``metrics.jsonl`` cut
short (or altered) before the checkpoint's length is restored from the checkpoint's copy, one
longer is cut back (a torn last line included) and never extended; a missing or damaged
``config.json`` or ``data.json`` is restored from the checkpoint; a different configuration of
the data or the model, another model shape or other data are refused naming both sides. Every
refusal is a :class:`qsa.errors.UserError` (one line from ``qsa train``), never a traceback.
Temporary files left by a kill inside a write are removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from qsa import preflight, runs
from qsa.devices import resolve_device
from qsa.errors import UserError, renamed
from qsa.evaluators import Evaluator
from qsa.model import QSAModel, objective
from qsa.training.config import DATA_SOURCES, ModelSection, TrainConfig, config_from_dict, config_to_dict
from qsa.training.data import Dataset, build_dataset, select, size, to_device
from qsa.training.families import FamilyModel, build_model, count_parameters
from qsa.training.optimizers import LBFGS, SPSA, make_optimizer, make_scheduler

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT",
    "BEST",
    "METRICS",
    "BatchOrder",
    "Callback",
    "TensorBoardWriter",
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
_FORMAT, _VERSION = "qsa-checkpoint", 2
_READABLE_VERSIONS = (1, 2)  # version 1 lacks the copies of config, fingerprint and metrics
SELECTION_SPLIT = "test"
_OLDER = re.compile(r"^checkpoint\.(\d+)\.pt$")


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
    run_dir: Path | None


#: A callback: ``callback(event) -> bool | None``; ``True`` stops the run after the current step
#: (checkpointed and summarised as at the last step; :func:`resume` would continue it).
Callback = Callable[[TrainEvent], "bool | None"]

#: Called after each checkpoint is written: ``hook(step, path_of_checkpoint_pt)`` (the sweep engine
#: hands the checkpoint to Ray Tune, :mod:`qsa.training.sweep`).
CheckpointHook = Callable[[int, Path], None]

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
    """Raise :class:`~qsa.errors.UserError` with the install command when the ``tensorboard`` package is missing."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise UserError(
            'train.tensorboard = true needs the tensorboard package: pip install "qsa[tensorboard]" '
            "(or set train.tensorboard = false)",
            key="train.tensorboard",
        )


def _callbacks(callbacks: Sequence[Callback]) -> list[Callback]:
    if callable(callbacks) or not all(callable(c) for c in callbacks):
        raise TypeError(f"callbacks must be a sequence of callables callback(event); got {callbacks!r}")
    return list(callbacks)


def _exact(evaluator: Any) -> bool:
    """Whether a model on ``evaluator`` gives the same loss at the same parameters every time (no sampling).

    ``None`` (the families without circuits: closed forms) and the analytic and torch-simulator
    evaluators do; any other evaluator (shots, hardware, a caller's own) is not assumed to.
    Looks the classes up only where their modules are loaded (an instance implies its module).
    """
    if evaluator is None:
        return True
    for module, name in (
        ("qsa.evaluators.analytic", "AnalyticEvaluator"),
        ("qsa.evaluators.statevector", "StatevectorEvaluator"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(evaluator, getattr(loaded, name)):
            return True
    return False


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


#: Keys of the sampling streams the loop gives a sampling evaluator (``evaluator.sampling_key``).
TRAIN_STREAM, EVAL_STREAM = 0, 1


def _sampling_key(model: QSAModel | FamilyModel, key: tuple[int, ...]) -> None:
    """Point a sampling evaluator (shots) at the stream ``key`` of its seed, if it has streams."""
    set_key = getattr(getattr(model, "evaluator", None), "sampling_key", None)
    if callable(set_key):
        set_key(key)


def _stderr_of_mean(model: QSAModel | FamilyModel, field: str) -> float | None:
    """The standard error of the batch mean of ``field`` from a sampling evaluator's last estimate, if any."""
    est = getattr(getattr(model, "evaluator", None), "last_estimate", None)
    if est is None or getattr(est, "shots", None) is None or getattr(est.stderr, field, None) is None:
        return None
    se = np.atleast_1d(np.asarray(getattr(est.stderr, field), dtype=np.float64))
    return float(np.sqrt((se**2).sum()) / se.size)  # the sequences are sampled independently


def evaluate(model: QSAModel | FamilyModel, batch: Any) -> dict[str, float]:
    """Mean ``L_1``, ``L_half``, ``L_B`` and ``F`` over ``batch``; for id windows also the next-word
    cross-entropy ``nll`` and the next-token accuracy (argmax of ``p(l|z)``, from the closed-form ``z``).

    With a sampling evaluator (shots), also the standard error of each mean (``L_1_stderr``, ...).
    """
    with torch.no_grad():
        obs = model(batch)
        fields = [f for f in ("L_1", "L_half", "L_B", "F") if getattr(obs, f) is not None]
        out = {f: float(getattr(obs, f).mean()) for f in fields}
        for f in fields:
            se = _stderr_of_mean(model, f)
            if se is not None:
                out[f"{f}_stderr"] = se
        if model.config.embedding == "isometric":
            out["nll"] = float(objective(obs, "nll", target_log_norm2=model.target_log_norm2(batch)))
            z = model.predictions(batch)  # (S, T, d)
            out["next_token_accuracy"] = float(model.embedding.next_token_accuracy(z, batch))
    return out


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl`` (a last line cut short by a kill mid-write is skipped, with a warning).

    Raises:
        UserError: if a line other than the last is not a JSON record (the file is damaged).
    """
    path = Path(run_dir) / METRICS
    lines = path.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if number == len(lines):  # no newline after it: a write cut short
                logger.warning("%s: skipping the last line, cut short by a kill mid-write: %r", path, line[:80])
                continue
            raise UserError(
                f"{METRICS} line {number} must be a JSON record; got {line[:80]!r} in {path} (the file is damaged)",
                key=str(path),
            ) from None
        records.append(record)
    return records


def _save(path: Path, obj: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    runs.write_bytes(path, buffer.getvalue())


def _shapes(state: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in state.items() if isinstance(t, torch.Tensor)}


def _describe_shapes(shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {shape}" for name, shape in shapes.items())


#: Errors that name a field of a data source or of the model: the config keys they concern.
_DATA_KEYS = {f.name: f"data.{f.name}" for cls in DATA_SOURCES.values() for f in fields(cls)}
_MODEL_KEYS = {
    **{f.name: f"model.{f.name}" for f in fields(ModelSection)},
    "T": "data.T",
    "input_qubits": "data.n_qubits",
    "vocab_size": "data.max_size",
}


def check_resources(config: TrainConfig) -> None:
    """Refuse ``config`` before anything is built if its data or circuits cannot fit in memory
    (:mod:`qsa.preflight`, limit ``train.memory_limit``) or its circuit is wider than the noisy
    Aer backend it names (``model.noise``)."""
    preflight.check(preflight.training_needs(config), limit=config.train.memory_limit, key="train.memory_limit")
    m = config.model
    if m.family == "qsa" and m.backend == "aer" and m.noise is not None:
        from qsa.hardware.noise import fake_backend

        with renamed({"backend": "model.noise"}, default="model.noise"):
            device = fake_backend(m.noise)
        d = m.d or (2**config.data.n_qubits if hasattr(config.data, "n_qubits") else getattr(config.data, "d", 2))
        width = (
            2 * (config.data.T - 1).bit_length() + (m.k + 1) * (d.bit_length() - 1) + (m.k if m.kernel == "poly" else 0)
        )
        if width > device.num_qubits:
            raise UserError(
                f"model.noise must name a backend wide enough for the circuit: circuit A at data.T = {config.data.T}, "
                f"d = {d}, model.k = {m.k} has {width} qubits; got {m.noise!r}, which has {device.num_qubits}",
                key="model.noise",
            )


class _Run:
    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path | None,
        evaluator: Evaluator | None,
        callbacks: Sequence[Callback] = (),
        on_checkpoint: CheckpointHook | None = None,
    ) -> None:
        self.config, self.run_dir = config, run_dir
        self.on_checkpoint = on_checkpoint
        check_resources(config)
        self.device = resolve_device(config.model.device, key="model.device")  # refused before anything is built
        # The first three streams are those of spawn(3): adding the optimiser's kept every earlier run's draws.
        data_seed, model_seed, order_seed, optimizer_seed = np.random.SeedSequence(config.seed).spawn(4)
        source = config.data
        default = "data.path" if getattr(source, "corpus", None) == "file" else None
        with renamed(_DATA_KEYS, default=default):
            self.dataset: Dataset = build_dataset(config, np.random.default_rng(data_seed))
        self.dataset = to_device(self.dataset, self.device)  # data drawn on the CPU, used on model.device
        with renamed(_MODEL_KEYS):
            self.model = build_model(config, self.dataset, seed=np.random.default_rng(model_seed), evaluator=evaluator)
        self.optimizer = make_optimizer(self.model, config.train, seed=np.random.default_rng(optimizer_seed))
        self.scheduler = make_scheduler(self.optimizer, config.train)
        self.callbacks = list(callbacks)
        self.order = BatchOrder(size(self.dataset.train), config.train.batch_size, np.random.default_rng(order_seed))
        self.step, self.best, self.resumes = 0, None, 0
        self.elapsed_before = 0.0  # wall seconds of earlier sessions (up to their last checkpoint)
        self.started = time.perf_counter()
        self.metrics = bytearray()  # metrics.jsonl as written up to now (copied into checkpoints)
        self.saved_step: int | None = None  # step of the state in checkpoint.pt, if it holds one of this session

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    # --- state ---------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        metrics = bytes(self.metrics)
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "order": self.order.state_dict(),
            "best": self.best,
            "metrics_bytes": len(metrics),
            "metrics_sha256": hashlib.sha256(metrics).hexdigest(),
            "metrics_copy": torch.frombuffer(bytearray(zlib.compress(metrics, 1)), dtype=torch.uint8),
            "config": json.dumps(config_to_dict(self.config), sort_keys=True),
            "fingerprint": self.dataset.info["fingerprint"],
            "elapsed_seconds": self.elapsed(),
            "resumes": self.resumes,
        }

    def save_checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically; the one it replaces becomes ``checkpoint.<step>.pt``; keep
        ``train.keep_checkpoints`` in all."""
        latest = self.run_dir / CHECKPOINT
        if self.saved_step is not None and self.saved_step != self.step and latest.exists():
            os.replace(latest, self.run_dir / f"checkpoint.{self.saved_step}.pt")
        _save(latest, self._state())
        self.saved_step = self.step
        older = sorted(_older_checkpoints(self.run_dir), reverse=True)
        for _, path in older[self.config.train.keep_checkpoints - 1 :]:
            path.unlink(missing_ok=True)

    def restore(self, plan: _ResumePlan) -> None:
        """Repair what :func:`_inspect` found and load its checkpoint (every check has passed by now)."""
        path = self.run_dir
        runs.remove_temporary_files(path)
        for damaged in plan.damaged:
            if damaged.exists():
                os.replace(damaged, damaged.with_name(damaged.name + ".damaged"))
                logger.warning("%s is damaged: kept as %s.damaged", damaged, damaged.name)
        if plan.config_repair:
            runs.write_json(path / CONFIG, config_to_dict(self.config))
            logger.warning("restored %s from %s", CONFIG, plan.source.name if plan.source else "the checkpoint")
        data_ok = _read_json(path / DATA)
        if not isinstance(data_ok, dict) or data_ok.get("fingerprint") != self.dataset.info["fingerprint"]:
            runs.write_json(path / DATA, _data_record(self, self.config))
            logger.warning("rewrote %s from the rebuilt data (fingerprint checked)", DATA)
        metrics = path / METRICS
        state = plan.state
        if state is None:  # killed before the first checkpoint: start over
            logger.info("no checkpoint in %s: starting from step 0", path)
            metrics.write_bytes(b"")
            return
        if plan.metrics_copy is not None:
            runs.write_bytes(metrics, plan.metrics_copy)
            logger.warning(
                "restored the first %d bytes of %s from %s", len(plan.metrics_copy), METRICS, plan.source.name
            )
        recorded = int(state["metrics_bytes"])
        with open(metrics, "r+b") as f:  # drop what was written after the checkpoint (never extends the file)
            if f.seek(0, os.SEEK_END) < recorded:  # pragma: no cover - _inspect guarantees the length
                raise RuntimeError(f"{metrics} is shorter than the checkpoint records")
            f.truncate(recorded)
            f.seek(0)
            self.metrics = bytearray(f.read())
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.order.load_state_dict(state["order"])
        self.step, self.best, self.elapsed_before = int(state["step"]), state["best"], float(state["elapsed_seconds"])
        self.started = time.perf_counter()
        self.resumes = int(state["resumes"]) + 1
        self.saved_step = self.step if plan.source is not None and plan.source.name == CHECKPOINT else None
        logger.info("resumed %s at step %d from %s", path, self.step, plan.source.name)

    # --- one step --------------------------------------------------------------------------------

    def _train_step(self, batch: Any) -> float:
        loss_name = self.config.train.loss
        _sampling_key(self.model, (TRAIN_STREAM, self.step))  # the same draws on resume (LBFGS: per closure call)

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad()
            loss = self.model.loss(batch, loss_name)
            loss.backward()
            return loss

        if isinstance(self.optimizer, LBFGS):
            # The same function every step (all sequences, no sampling noise): the previous line
            # search's last evaluation stands in for this step's first.
            same = self.order.full and _exact(getattr(self.model, "evaluator", None))
            loss = self.optimizer.step(closure, same_closure=same)  # the loss at the parameters before the step
        elif isinstance(self.optimizer, torch.optim.LBFGS):
            loss = self.optimizer.step(closure)
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
        spsa = cast(SPSA, self.optimizer)
        return spsa.step(lambda: self.model.loss(batch, loss_name))  # type: ignore[misc]

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
                line = (json.dumps(record) + "\n").encode()
                metrics.write(line)
                metrics.flush()
                self.metrics += line
                event = TrainEvent(record, self.step, self.model, self.optimizer, self.run_dir)
                for callback in self.callbacks:
                    stop = bool(callback(event)) or stop

            def evaluation(select: bool = True) -> None:
                for index, (name, split) in enumerate(self.dataset.splits.items()):
                    _sampling_key(self.model, (EVAL_STREAM, self.step, index))
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
                if metrics.tell() != len(self.metrics):  # pragma: no cover - one writer: the lock guarantees it
                    raise RuntimeError(
                        f"{METRICS} changed under the run: {metrics.tell()} != {len(self.metrics)} bytes"
                    )
                self.save_checkpoint()
                if self.on_checkpoint is not None and self.run_dir is not None:
                    self.on_checkpoint(self.step, self.run_dir / CHECKPOINT)

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
                    record = {"kind": "train", "step": self.step, "loss": loss, "lr": lr}
                    loss_se = _stderr_of_mean(self.model, cfg.loss)
                    if loss_se is not None:
                        record["loss_stderr"] = loss_se
                    write(record)
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
        from qsa.training.cost import summary_cost
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
            "baselines": self.dataset.baselines,
            "wall_seconds": self.elapsed(),
            "resumes": self.resumes,
            "plots": [p.name for p in written],
            "checkpoint": CHECKPOINT,
            "cost": summary_cost(self.config, self.dataset, self.model),  # qsa.training.cost: the analytic part
        }
        runs.write_json(self.run_dir / SUMMARY, summary)
        logger.info("finished %s: %s", self.run_dir, {k: v.get(self.config.train.loss) for k, v in final.items()})
        return TrainResult(self.run_dir, self.model, summary)


def run_environment() -> dict[str, Any]:
    """:func:`qsa.runs.environment` (git commit of this package's checkout) plus torch's thread count."""
    return {**runs.environment(Path(__file__).resolve().parent), "torch_threads": torch.get_num_threads()}


def _data_record(run: _Run, config: TrainConfig) -> dict[str, Any]:
    return {
        **run.dataset.info,
        "T": run.dataset.T,
        "chance": run.dataset.chance._asdict(),
        "majority_accuracy": run.dataset.majority_accuracy,
        "nll_baselines": run.dataset.nll_baselines,
        "baselines": run.dataset.baselines,
        "loss": config.train.loss,
    }


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
    on_checkpoint: CheckpointHook | None = None,
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
        on_checkpoint: ``hook(step, path)`` called after each checkpoint is written (``path`` is
            the run's ``checkpoint.pt``, which alone suffices to :func:`resume` the run in an empty
            directory); the sweep engine reports it to Ray Tune.

    Returns:
        :class:`TrainResult` with the run directory, the trained model and the summary.

    Raises:
        UserError: (a ``ValueError``) for a configuration, data or output path that cannot work,
            including data or circuits that cannot fit in memory (:mod:`qsa.preflight`) and
            ``train.tensorboard`` without the tensorboard package, before anything is written.
        TypeError: for ``callbacks`` that are not a sequence of callables.

    Example:
        >>> import tempfile
        >>> from qsa.configs import config_path
        >>> from qsa.training import load_config, train
        >>> config = load_config(config_path("tfim/smoke.toml"), ["train.steps=2"])
        >>> with tempfile.TemporaryDirectory() as out:
        ...     result = train(config, out=out, plots=False)
        >>> result.summary["steps"], sorted(result.summary["final"])
        (2, ['heldout_H1', 'test', 'train'])
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig (see qsa.training.load_config); got {type(config).__name__}")
    config = config_from_dict(config_to_dict(config))  # the same checks as a file, for configs built in code
    if run_dir is not None and Path(run_dir).exists() and (not Path(run_dir).is_dir() or any(Path(run_dir).iterdir())):
        raise UserError(
            f"run_dir must be a new or empty directory; got {str(run_dir)!r}, which has files", key="run_dir"
        )
    if run_dir is None:
        runs.check_output_root(out, "out")
    else:
        runs.check_output_root(run_dir, "run_dir")
    if config.train.tensorboard:
        check_tensorboard()
    callbacks = _callbacks(callbacks)
    run = _Run(
        config, None, evaluator, callbacks, on_checkpoint
    )  # data and model are built (and checked) before anything is written
    if run_dir is None:
        path = runs.new_run_dir(out, config.name if run_name is None else run_name)
    else:
        path = Path(run_dir)
        path.mkdir(parents=True, exist_ok=True)
    run.run_dir = path
    with runs.RunLock(path):
        runs.write_json(path / CONFIG, config_to_dict(config))
        evaluator_name = (
            repr(run.model.evaluator) if isinstance(run.model, QSAModel) else None
        )  # baselines have no circuit backend
        runs.write_json(path / ENVIRONMENT, {**run_environment(), "evaluator": evaluator_name})
        runs.write_json(path / DATA, _data_record(run, config))
        runs.write_bytes(path / METRICS, b"")
        if config.train.tensorboard:
            run.callbacks.append(TensorBoardWriter(path / TENSORBOARD))
        logger.info("training %s in %s", config.name, path)
        return run.execute(progress, plots)


# --- resuming: check everything first, then repair, then continue ------------------------------------


@dataclass
class _ResumePlan:
    """What :func:`_inspect` found in a run directory; nothing is changed until it is complete."""

    config: TrainConfig
    state: dict[str, Any] | None  # the newest intact checkpoint, None if there is none
    source: Path | None  # its file
    damaged: list[Path] = field(default_factory=list)  # unreadable checkpoints newer than source
    config_repair: bool = False  # config.json to be rewritten from the checkpoint's copy
    metrics_copy: bytes | None = None  # metrics.jsonl prefix to restore from the checkpoint's copy
    config_differs: list[str] = field(default_factory=list)  # data/model keys config.json changed


def _older_checkpoints(path: Path) -> list[tuple[int, Path]]:
    out = []
    for p in path.glob("checkpoint.*.pt"):
        match = _OLDER.match(p.name)
        if match:
            out.append((int(match[1]), p))
    return out


def _read_json(path: Path) -> Any:
    """The JSON content of ``path``, or a string saying why it cannot be read (missing, not UTF-8, damaged)."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return "a missing file"
    except IsADirectoryError:
        return "a directory"
    except UnicodeDecodeError as exc:
        return f"a file that is not UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:
        return f"a damaged file ({exc.msg} at line {exc.lineno} column {exc.colno})"


def _load_checkpoint(path: Path) -> dict[str, Any] | str:
    """The checkpoint at ``path``, or a string saying why it is not a usable one."""
    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read means the file is damaged
        first = " ".join(str(exc).split()).split(". ")[0][:120]  # torch's messages run on for lines
        return f"{type(exc).__name__}: {first or 'unreadable'}"
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        return f"not a {_FORMAT} file"
    if state.get("version") not in _READABLE_VERSIONS:
        return f"{_FORMAT} version {state.get('version')!r}, not one of {_READABLE_VERSIONS}"
    missing = {"step", "model", "optimizer", "order", "best", "metrics_bytes", "elapsed_seconds", "resumes"} - set(
        state
    )
    if missing:
        return f"incomplete (no {', '.join(sorted(missing))})"
    return state


def _differences(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differences(
                a.get(key), b.get(key), f"{prefix}{key}." if prefix or key in ("data", "model", "train") else key
            )
        return out
    return [] if a == b else [(prefix.rstrip("."), a, b)]


def _inspect(path: Path) -> _ResumePlan:
    """Read and check every file of the run directory ``path`` against its newest intact checkpoint;
    change nothing. Raises :class:`~qsa.errors.UserError` for what cannot be resumed."""
    # checkpoints, newest first: the latest, then the older ones kept
    candidates = ([path / CHECKPOINT] if (path / CHECKPOINT).exists() else []) + [
        p for _, p in sorted(_older_checkpoints(path), reverse=True)
    ]
    state, source, damaged = None, None, []
    for candidate in candidates:
        loaded = _load_checkpoint(candidate)
        if isinstance(loaded, str):
            damaged.append((candidate, loaded))
            continue
        state, source = loaded, candidate
        break
    if damaged and state is None:
        first, why = damaged[0]
        raise UserError(
            f"{first.name} must be a readable {_FORMAT} file to resume {str(path)!r}; got {why}, and no intact older "
            "checkpoint: remove the damaged checkpoint files to train again from step 0 in this directory",
            key=str(first),
        )
    for bad, why in damaged:
        logger.warning("%s is damaged (%s): resuming from %s (step %d)", bad, why, source.name, int(state["step"]))

    # the configuration: config.json, checked against the checkpoint's copy
    raw = _read_json(path / CONFIG)
    from_json, problem = None, None
    if isinstance(raw, str):
        problem = raw
    else:
        try:
            from_json = config_from_dict(raw)
        except (UserError, ValueError, TypeError) as exc:
            problem = f"an invalid configuration ({exc})"
    saved = json.loads(state["config"]) if state is not None and "config" in state else None
    plan = _ResumePlan(config=from_json, state=state, source=source, damaged=[p for p, _ in damaged])
    if from_json is None:
        if saved is None:
            raise UserError(
                f"{CONFIG} must be the run's JSON configuration to resume {str(path)!r}; got {problem}, and no "
                "checkpoint holds a copy to restore it from",
                key=str(path / CONFIG),
            )
        logger.warning("%s is %s: restoring it from %s", path / CONFIG, problem, source.name)
        plan.config, plan.config_repair = config_from_dict(saved), True
    elif saved is not None:
        diff = _differences(saved, config_to_dict(from_json))
        changed = [(k, a, b) for k, a, b in diff if not k.startswith("train.")]
        for key, a, b in diff:
            if key.startswith("train."):
                logger.warning(
                    "%s changed %s from %r to %r since %s: continuing with %r", CONFIG, key, a, b, source.name, b
                )
        plan.config_differs = [f"{k} = {b!r} (the checkpoint's run: {a!r})" for k, a, b in changed]

    # the data record: data.json, or the checkpoint's fingerprint
    data = _read_json(path / DATA)
    if (not isinstance(data, dict) or "fingerprint" not in data) and state is not None and "fingerprint" not in state:
        why = data if isinstance(data, str) else "a record without the data fingerprint"
        raise UserError(
            f"{DATA} must hold the fingerprint of the run's data to resume {str(path)!r}; got {why} "
            f"(and {source.name}, written by an older qsa, holds none)",
            key=str(path / DATA),
        )

    # the metrics: at least the checkpoint's length, and the same bytes up to it
    if state is not None:
        recorded = int(state["metrics_bytes"])
        try:
            current = (path / METRICS).read_bytes()
        except OSError:
            current = None
        intact = current is not None and len(current) >= recorded
        if intact and "metrics_sha256" in state:
            intact = hashlib.sha256(current[:recorded]).hexdigest() == state["metrics_sha256"]
        if not intact:
            got = (
                "no file"
                if current is None
                else f"{len(current):,} bytes"
                + (" that differ from what it recorded" if current is not None and len(current) >= recorded else "")
            )
            if "metrics_copy" not in state:
                raise UserError(
                    f"{METRICS} must hold the {recorded:,} bytes {source.name} recorded to resume {str(path)!r}; got "
                    f"{got} (the file was cut short or changed, and this older checkpoint holds no copy of it)",
                    key=str(path / METRICS),
                )
            copy = zlib.decompress(state["metrics_copy"].numpy().tobytes())
            if len(copy) != recorded or hashlib.sha256(copy).hexdigest() != state.get("metrics_sha256"):
                raise UserError(
                    f"{source.name} must hold an intact copy of {METRICS}; got one that does not match its record",
                    key=str(source),
                )
            logger.warning(
                "%s holds %s, not the %d bytes %s recorded: restoring it", METRICS, got, recorded, source.name
            )
            plan.metrics_copy = copy
    return plan


def _check_against(run: _Run, plan: _ResumePlan, path: Path) -> None:
    """The checks that need the rebuilt data and model: same shapes, same data, same config."""
    state = plan.state
    data = _read_json(path / DATA)
    recorded = data.get("fingerprint") if isinstance(data, dict) else None
    if state is not None and "fingerprint" in state:
        recorded = state["fingerprint"]  # the checkpoint's record wins over a data.json that may have been edited
    if recorded is not None and recorded != run.dataset.info["fingerprint"]:
        raise UserError(
            f"the data rebuilt for resuming must equal the run's (fingerprint {recorded}); got {run.dataset.info['fingerprint']}: "
            "did the text file or a package that generates the data change?",
            key="data",
        )
    if state is not None:
        want, have = _shapes(state["model"]), _shapes(run.model.state_dict())
        if want != have:
            raise UserError(
                f"the model {CONFIG} describes must have the shape of the one in {plan.source.name}: "
                f"{_describe_shapes(want)}; got {_describe_shapes(have)}"
                + (f" ({', '.join(plan.config_differs)})" if plan.config_differs else ""),
                key=str(path / CONFIG),
            )
    if plan.config_differs:
        raise UserError(
            f"{CONFIG} must describe the data and model {plan.source.name} was trained on; got "
            + ", ".join(plan.config_differs),
            key=str(path / CONFIG),
        )


def _append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line; a last line cut short by a kill is terminated first (as the hardware journal does)."""
    line = (json.dumps(record, default=str) + "\n").encode()
    torn = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with open(path, "ab") as f:
        f.write((b"\n" if torn else b"") + line)


def resume(
    run_dir: str | os.PathLike[str],
    *,
    evaluator: Evaluator | None = None,
    progress: bool = False,
    plots: bool = True,
    callbacks: Sequence[Callback] = (),
    on_checkpoint: CheckpointHook | None = None,
) -> TrainResult:
    """Continue the run in ``run_dir`` from its checkpoint; the remaining steps are those of an uninterrupted run.

    ``callbacks`` and ``on_checkpoint`` as in :func:`train` (they see only what is written after the checkpoint).

    Every file is checked against the newest intact checkpoint before anything is changed (module
    docstring); damage that the checkpoint can repair is repaired and logged as a warning.

    Raises:
        UserError: (a ``ValueError``) if ``run_dir`` is not a run directory, is in use by another
            process, holds damage nothing can repair, or describes another model or other data
            than its checkpoint.
    """
    path = Path(run_dir)
    if not path.is_dir():
        what = "a file" if path.exists() else "a path that does not exist"
        raise FileNotFoundError(
            f"run_dir must be a run directory with {CONFIG} and {METRICS}; got {str(path)!r}, {what}"
        )
    if not (path / CONFIG).exists() and not (path / CHECKPOINT).exists() and not _older_checkpoints(path):
        raise FileNotFoundError(
            f"run_dir must be a run directory with {CONFIG} and {METRICS}; got {str(path)!r}, "
            f"which has neither {CONFIG} nor a checkpoint"
        )
    callbacks = _callbacks(callbacks)
    with runs.RunLock(path):
        plan = _inspect(path)
        if plan.config.train.tensorboard:
            check_tensorboard()
        run = _Run(plan.config, path, evaluator, callbacks, on_checkpoint)
        _check_against(run, plan, path)
        run.restore(plan)  # the first change to the directory
        if plan.config.train.tensorboard:
            run.callbacks.append(TensorBoardWriter(path / TENSORBOARD, purge_step=run.step + 1))
        _append_line(path / "resumes.jsonl", {"from_step": run.step, "environment": run_environment()})
        return run.execute(progress, plots)
