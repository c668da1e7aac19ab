"""qsa.training.LBFGS: torch's L-BFGS, bit for bit, with one evaluation per iteration when stepped one at a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qsa.training import load_config, read_metrics, train
from qsa.training import optimizers as optimizers_module
from qsa.training.optimizers import LBFGS

ROOT = Path(__file__).resolve().parents[3]
TFIM_SMOKE = ROOT / "experiments" / "tfim" / "smoke.toml"


def _rosenbrock(p):
    return ((1 - p[:-1]) ** 2).sum() + 100 * ((p[1:] - p[:-1] ** 2) ** 2).sum()


def _run(optimizer_class, steps, *, same_closure=None, line_search="strong_wolfe"):
    p = torch.nn.Parameter(torch.tensor([-1.2, 1.0, -0.5, 0.8], dtype=torch.float64))
    opt = optimizer_class([p], lr=1.0, max_iter=1, max_eval=26, history_size=10, line_search_fn=line_search)
    calls, losses = [0], []

    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = _rosenbrock(p)
        loss.backward()
        return loss

    for _ in range(steps):
        kwargs = {} if same_closure is None else {"same_closure": same_closure}
        losses.append(opt.step(closure, **kwargs))
    return p.detach().clone(), losses, opt.state_dict(), calls[0]


def _assert_state_dicts_equal(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for key, sa in a["state"].items():
        sb = b["state"][key]
        assert sa.keys() == sb.keys()
        for name, va in sa.items():
            vb = sb[name]
            if isinstance(va, torch.Tensor):
                assert torch.equal(va, vb), name
            elif isinstance(va, list):
                assert len(va) == len(vb) and all(torch.equal(x, y) for x, y in zip(va, vb)), name
            else:
                assert va == vb, name


@pytest.mark.parametrize("line_search", ["strong_wolfe", None])
def test_iterates_losses_and_state_are_torchs_bit_for_bit_with_fewer_evaluations(line_search):
    steps = 30
    p_torch, losses_torch, state_torch, calls_torch = _run(torch.optim.LBFGS, steps, line_search=line_search)
    p_ours, losses_ours, state_ours, calls_ours = _run(LBFGS, steps, same_closure=True, line_search=line_search)
    assert torch.equal(p_ours, p_torch)
    assert all(torch.equal(a, b) for a, b in zip(losses_ours, losses_torch))
    _assert_state_dicts_equal(state_ours, state_torch)
    if line_search is None:  # max_iter = 1 without a line search evaluates once per step already
        assert calls_ours == calls_torch == steps
    else:  # every step after the first starts at the previous line search's last point
        assert calls_ours == calls_torch - (steps - 1)


def test_without_the_promise_every_step_evaluates_its_start_again():
    _, losses_torch, _, calls_torch = _run(torch.optim.LBFGS, 10)
    _, losses_ours, _, calls_ours = _run(LBFGS, 10, same_closure=False)
    assert calls_ours == calls_torch
    assert all(torch.equal(a, b) for a, b in zip(losses_ours, losses_torch))


def test_loading_a_state_forgets_the_remembered_evaluation():
    p = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))
    opt = LBFGS([p], lr=1.0, max_iter=1, max_eval=26, line_search_fn="strong_wolfe")
    calls = [0]

    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = _rosenbrock(p)
        loss.backward()
        return loss

    opt.step(closure, same_closure=True)
    opt.load_state_dict(opt.state_dict())
    before = calls[0]
    opt.step(closure, same_closure=True)
    _, _, _, torch_calls_second_step = _run(torch.optim.LBFGS, 2)
    _, _, _, torch_calls_first_step = _run(torch.optim.LBFGS, 1)
    assert calls[0] - before == torch_calls_second_step - torch_calls_first_step


def test_a_step_without_closure_is_refused():
    opt = LBFGS([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))])
    with pytest.raises(ValueError, match="closure must be given"):
        opt.step(None)


def test_creating_and_stepping_it_does_not_import_torch_dynamo():
    code = (
        "import sys, torch\n"
        "from qsa.training.optimizers import LBFGS\n"
        "p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))\n"
        "opt = LBFGS([p], max_iter=1, line_search_fn='strong_wolfe')\n"
        "def closure():\n"
        "    opt.zero_grad(); loss = (p ** 2).sum(); loss.backward(); return loss\n"
        "opt.step(closure, same_closure=True)\n"
        "opt.load_state_dict(opt.state_dict())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


@pytest.mark.parametrize("batch_size", [0, 1])
def test_training_follows_torchs_lbfgs_with_fewer_evaluations_on_a_full_batch(tmp_path, monkeypatch, batch_size):
    """The tfim smoke run (analytic): the metrics of torch's own class; fewer evaluations on the full
    batch, the same number on mini-batches (a different function every step: nothing is reused)."""
    config = load_config(TFIM_SMOKE, [f"train.batch_size={batch_size}"])

    def counted(run_dir, optimizer_class):
        calls = [0]
        make = optimizers_module.make_optimizer

        def make_optimizer(model, cfg, **kwargs):
            opt = make(model, cfg, **kwargs)
            if optimizer_class is not LBFGS:
                opt = optimizer_class(opt.param_groups[0]["params"], **opt.defaults)
            loss = model.loss

            def counting_loss(*args, **kw):
                calls[0] += 1
                return loss(*args, **kw)

            model.loss = counting_loss
            return opt

        with monkeypatch.context() as m:
            m.setattr("qsa.training.loop.make_optimizer", make_optimizer)
            train(config, run_dir=run_dir, progress=False, plots=False)
        records = [r for r in read_metrics(run_dir) if r.get("kind") == "train"]
        return [r["loss"] for r in records], calls[0]

    losses_torch, calls_torch = counted(tmp_path / "torch", torch.optim.LBFGS)
    losses_ours, calls_ours = counted(tmp_path / "ours", LBFGS)
    assert config.train.optimizer == "lbfgs" and config.data.n_train == 2
    assert len(losses_ours) == config.train.steps
    assert losses_ours == losses_torch
    if batch_size == 0:
        assert calls_ours < calls_torch
    else:
        assert calls_ours == calls_torch
