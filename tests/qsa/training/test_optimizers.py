"""Training ergonomics: AdamW, schedules, gradient clipping, SPSA, callbacks, TensorBoard, run names, permissions."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np
import pennylane as qml
import pennylane.optimize.spsa as pennylane_spsa
import pytest
import torch
from support import TOL_STATE

from qsa import runs
from qsa.cli import main
from qsa.training import SPSA, ConfigError, TrainEvent, load_config, make_scheduler, read_metrics, resume, train
from qsa.training import optimizers as optimizers_module

ROOT = Path(__file__).resolve().parents[3]
MARKOV_SMOKE = ROOT / "experiments" / "classical" / "markov_smoke.toml"
TFIM_SMOKE = ROOT / "experiments" / "tfim" / "smoke.toml"


def _quadratic(theta):
    return ((theta - 0.3) ** 2 * np.array([1.0, 2.0, 3.0])).sum()


def test_spsa_steps_equal_pennylanes_spsa_optimizer(monkeypatch):
    """Same gains, same update: PennyLane's SPSAOptimizer fed the perturbations our generator draws."""
    theta0 = np.array([1.0, -0.5, 2.0])
    param = torch.nn.Parameter(torch.tensor(theta0))
    ours = SPSA([param], lr=0.05, c=0.2, A=None, steps=50, seed=3)
    drawn = []
    choice = ours.rng.choice

    def record(*args, **kwargs):
        drawn.append(choice(*args, **kwargs))
        return drawn[-1]

    ours.rng = type("Recorder", (), {"choice": staticmethod(record), "bit_generator": ours.rng.bit_generator})()
    for _ in range(5):
        ours.step(lambda: _quadratic(param.detach().numpy()))
    deltas = iter(drawn)
    monkeypatch.setattr(pennylane_spsa.np.random, "choice", lambda *a, **k: next(deltas))
    theirs = qml.SPSAOptimizer(maxiter=50)  # a = 0.05 (A + 1)^alpha: first gain 0.05; c = 0.2
    theta = qml.numpy.array(theta0, requires_grad=True)
    for _ in range(5):
        theta = theirs.step(_quadratic, theta)
    np.testing.assert_allclose(param.detach().numpy(), np.asarray(theta), rtol=0, atol=TOL_STATE)


def test_spsa_minimises_and_resumes_exactly_from_its_state_dict():
    def run(steps, state=None):
        p = torch.nn.Parameter(torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64))
        opt = SPSA([p], lr=0.2, steps=60, seed=0)
        if state is not None:
            p.data.copy_(state[0])
            opt.load_state_dict(state[1])
        for _ in range(steps):
            opt.step(lambda: _quadratic(p.detach().numpy()))
        return p.detach().clone(), opt.state_dict()

    final, _ = run(60)
    assert _quadratic(final.numpy()) < 0.01 * _quadratic(np.array([1.0, -0.5, 2.0]))
    halfway = run(30)
    resumed, _ = run(30, halfway)
    assert torch.equal(resumed, final)


def _adam_run(optimizer_class, options, state=None, steps=12):
    a = torch.nn.Parameter(torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor([[0.3, 0.1], [0.2, -0.4]], dtype=torch.float64))
    opt = optimizer_class([a, b], lr=0.05, **options)
    if state is not None:
        opt.load_state_dict(state)

    def closure():
        opt.zero_grad()
        loss = ((a - 0.3) ** 2).sum() + ((b.sin() * a[:2]).sum() - 0.1) ** 2
        loss.backward()
        return loss

    losses = []
    for step in range(steps):  # with and without a closure, as the training loop and users call it
        if step % 2:
            losses.append(opt.step(closure))
        else:
            closure()
            opt.step()
    return [a.detach().clone(), b.detach().clone()], losses, opt.state_dict()


def _assert_same_state(ours, theirs):
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["state"].keys() == theirs["state"].keys()
    for key, entries in ours["state"].items():
        assert entries.keys() == theirs["state"][key].keys()
        assert all(torch.equal(value, theirs["state"][key][name]) for name, value in entries.items())


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1, "amsgrad": True}])
def test_adam_and_adamw_are_torchs_bit_for_bit(name, options):
    """Issue 19: qsa's Adam/AdamW skip torch's torch.compile wrappers only; iterates, losses and state are torch's."""
    ours_class, torch_class = getattr(optimizers_module, name), getattr(torch.optim, name)
    assert issubclass(ours_class, torch_class)
    params, losses, state = _adam_run(ours_class, options)
    params_torch, losses_torch, state_torch = _adam_run(torch_class, options)
    assert all(torch.equal(x, y) for x, y in zip(params, params_torch))
    assert all(torch.equal(x, y) for x, y in zip(losses, losses_torch))
    _assert_same_state(state, state_torch)
    assert not torch.equal(params[0], torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64))
    # a state saved by either class continues the same way in the other
    _, _, resumed = _adam_run(ours_class, options, state=state_torch, steps=3)
    _, _, resumed_torch = _adam_run(torch_class, options, state=state, steps=3)
    _assert_same_state(resumed, resumed_torch)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_training_with_adam_and_adamw_trains_torchs_parameters(tmp_path, monkeypatch, optimizer):
    """The tfim smoke run, a few steps: the same losses and trained parameters as with torch.optim's class."""
    config = load_config(TFIM_SMOKE, [f"train.optimizer={optimizer}", "train.lr=0.05", "train.steps=4"])
    ours = train(config, run_dir=tmp_path / "ours", plots=False)
    name = {"adam": "Adam", "adamw": "AdamW"}[optimizer]
    monkeypatch.setattr(optimizers_module, name, getattr(torch.optim, name))
    theirs = train(config, run_dir=tmp_path / "torch", plots=False)
    losses = [[r["loss"] for r in read_metrics(run.run_dir) if r.get("kind") == "train"] for run in (ours, theirs)]
    assert len(losses[0]) == 4 and losses[0] == losses[1]
    trained = [dict(run.model.named_parameters()) for run in (ours, theirs)]
    assert trained[0].keys() == trained[1].keys()
    assert all(torch.equal(trained[0][key], trained[1][key]) for key in trained[0])


def _lrs(schedule, **keys):
    cfg = load_config(
        MARKOV_SMOKE, [f"train.schedule={schedule}", "train.steps=10", "train.lr=0.1"] + list(keys.values())
    )
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=cfg.train.lr)
    sched = make_scheduler(opt, cfg.train)
    out = []
    for _ in range(cfg.train.steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return out


def test_schedules_follow_their_formulas():
    assert _lrs("constant") == [0.1] * 10
    cosine = _lrs("cosine", a="train.min_lr=0.01")
    np.testing.assert_allclose(
        cosine, [0.01 + 0.09 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(10)], rtol=1e-12
    )
    np.testing.assert_allclose(_lrs("linear"), [0.1 * (1 - t / 10) for t in range(10)], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_lrs("step", a="train.lr_step_size=4"), [0.1] * 4 + [0.05] * 4 + [0.025] * 2, rtol=1e-12)
    np.testing.assert_allclose(
        _lrs("exponential", a="train.lr_gamma=0.9"), [0.1 * 0.9**t for t in range(10)], rtol=1e-12
    )
    warm = _lrs("cosine", a="train.warmup_steps=3")
    np.testing.assert_allclose(warm[:4], [0.025, 0.05, 0.075, 0.1], rtol=1e-12)
    np.testing.assert_allclose(warm[3:], [0.1 * (1 + math.cos(math.pi * t / 7)) / 2 for t in range(7)], rtol=1e-12)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["train.optimizer=lbfgs", "train.grad_clip=1.0"], "train.grad_clip must be left at its default None"),
        (["train.optimizer=adam", "train.spsa_c=0.1"], "train.spsa_c must be left at its default 0.2"),
        (["train.optimizer=spsa", "train.weight_decay=0.1"], "train.weight_decay must be left at its default"),
        (["train.schedule=cosine", "train.min_lr=1.0"], r"train.min_lr must be <= train.lr"),
        (["train.min_lr=0.01"], "train.min_lr must be left at 0.0"),
        (["train.lr_gamma=0"], r"train.lr_gamma must be in \(0, 1\]"),
        (["train.grad_clip=0"], "train.grad_clip must be > 0"),
        (["train.schedule=warm"], "train.schedule must be one of"),
    ],
)
def test_bad_optimizer_keys_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(MARKOV_SMOKE, overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        [
            "train.optimizer=adamw",
            "train.weight_decay=0.01",
            "train.grad_clip=0.5",
            "train.schedule=cosine",
            "train.warmup_steps=2",
        ],
        ["train.optimizer=spsa", "train.lr=0.1", "train.schedule=exponential", "train.lr_gamma=0.95"],
    ],
    ids=["adamw-cosine-clip", "spsa"],
)
def test_a_callback_stop_then_resume_gives_the_uninterrupted_metrics(tmp_path, overrides):
    config = load_config(MARKOV_SMOKE, ["train.steps=6", "train.eval_every=3", "train.checkpoint_every=3", *overrides])
    whole = train(config, run_dir=tmp_path / "whole", plots=False)
    seen = []

    def stop_at_4(event: TrainEvent):
        seen.append(event.record)
        return event.record["kind"] == "train" and event.step == 4

    part = train(config, run_dir=tmp_path / "part", plots=False, callbacks=[stop_at_4])
    assert part.summary["steps"] == 4 and seen[-1]["kind"] == "eval" and seen[-1]["step"] == 4
    assert seen == read_metrics(part.run_dir)
    resume(part.run_dir, plots=False)
    assert (tmp_path / "part" / "metrics.jsonl").read_bytes() == (tmp_path / "whole" / "metrics.jsonl").read_bytes()
    records = read_metrics(whole.run_dir)
    lrs = [r["lr"] for r in records if r["kind"] == "train"]
    assert len(set(lrs)) > 1  # the schedule moved the rate


def test_gradient_clipping_bounds_the_update(tmp_path):
    clipped = []

    def norm_after(event):
        if event.record["kind"] == "train":
            grads = [p.grad for p in event.model.parameters() if p.grad is not None]
            clipped.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))

    config = load_config(MARKOV_SMOKE, ["train.steps=3", "train.grad_clip=1e-3"])
    train(config, run_dir=tmp_path / "r", plots=False, callbacks=[norm_after])
    assert max(clipped) <= 1e-3 * (1 + 1e-6)


def test_tensorboard_writes_every_record(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = load_config(TFIM_SMOKE, ["train.steps=4", "train.eval_every=2", "train.tensorboard=true"])
    result = train(config, run_dir=tmp_path / "r", plots=False)
    events = EventAccumulator(str(result.run_dir / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    evals = [r for r in read_metrics(result.run_dir) if r["kind"] == "eval" and r["split"] == "test"]
    assert [e.step for e in events.Scalars("test/L_1")] == [r["step"] for r in evals] == [0, 2, 4]
    np.testing.assert_allclose([e.value for e in events.Scalars("test/L_1")], [r["L_1"] for r in evals], rtol=1e-6)


def test_tensorboard_without_the_package_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else find_spec(name, *a)
    )
    config = load_config(TFIM_SMOKE, ["train.tensorboard=true"])
    with pytest.raises(ValueError, match=r'pip install "qsa\[tensorboard\]"'):
        train(config, out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_qsa_train_names_the_run_after_its_overrides_and_files_are_group_readable(tmp_path, capsys):
    previous = os.umask(0o027)
    try:
        argv = ["train", str(MARKOV_SMOKE), "--set", "train.steps=2", "--set", "model.k=2", "--out", str(tmp_path)]
        assert main([*argv, "--no-progress"]) == 0
    finally:
        os.umask(previous)
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.startswith("markov-smoke-train.steps=2-model.k=2-")
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "summary.json", "loss.png"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o640, name  # group reads, others do not


def test_run_names_are_safe_directory_names():
    assert runs.run_name("tfim", ["model.k=3", "data.path=a b/c.txt"]) == "tfim-model.k=3-data.path=a_b_c.txt"
    long = runs.run_name("tfim", [f"model.k={i}" for i in range(40)])
    assert len(long) == 120 and long != runs.run_name("tfim", [f"model.k={i}" for i in range(41)])
    with pytest.raises(TypeError, match="callbacks must be a sequence"):
        train(load_config(TFIM_SMOKE), callbacks=print)
