"""What the run plots draw: every curve at the step its numbers belong to, one colour per backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from support import TOL_STATE

from qsa.training import load_config, read_metrics, train
from qsa.training.plots import plot_losses, training_curve

ROOT = Path(__file__).resolve().parents[3]


def test_training_batch_losses_sit_on_the_full_batch_evaluation_of_the_same_step(tmp_path):
    """With every sequence in every batch, the batch loss of a step is the training split's loss at the
    parameters that step starts from: drawn at the right step, the two curves coincide."""
    overrides = ["train.steps=4", "train.eval_every=1", "train.batch_size=0", "data.T=4", "model.w_layers=1"]
    for optimizer in ("adam", "lbfgs"):
        config = load_config(ROOT / "experiments" / "tfim" / "smoke.toml", [*overrides, f"train.optimizer={optimizer}"])
        result = train(config, out=tmp_path / optimizer, plots=False)
        records = read_metrics(result.run_dir)
        steps, losses = training_curve(records)
        evals = {r["step"]: r["L_1"] for r in records if r["kind"] == "eval" and r["split"] == "train"}
        assert steps == [0, 1, 2, 3]
        np.testing.assert_allclose(losses, [evals[s] for s in steps], rtol=0, atol=TOL_STATE)
        # one step later (where the loop records it) the curve would be off by a whole optimiser step
        assert max(abs(a - evals[s + 1]) for a, s in zip(losses, steps)) > 1e-4
    info = {"loss": "L_1", "chance": {"L_1": 2.59, "L_half": 2.0}}
    assert plot_losses(records, info, tmp_path / "loss.png").stat().st_size > 10_000


def _circuit_in_the_loop():
    spec = importlib.util.spec_from_file_location("cil_run", ROOT / "experiments" / "circuit_in_the_loop" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_agreement_plot_gives_each_backend_one_colour_in_both_panels():
    curves = {
        name: ([0, 1, 2], [1.0 + i * 1e-9, 0.5, 0.25 + i * 1e-8])
        for i, name in enumerate(["analytic", "torch (backprop)", "default.qubit (backprop)", "lightning.qubit"])
    }
    fig = _circuit_in_the_loop().figure(curves, "title")
    left, right = fig.axes
    colours = [{line.get_label(): line.get_color() for line in ax.get_lines()} for ax in (left, right)]
    backends = [name for name in curves if name != "analytic"]
    assert all(colours[0][name] == colours[1][name] for name in backends)
    assert len({colours[0][name] for name in curves}) == len(curves)
    assert [list(line.get_xdata()) for line in left.get_lines()] == [[0, 1, 2]] * len(curves)


def test_a_koopman_run_draws_its_monitor_and_a_run_without_one_is_refused(tmp_path):
    """A Koopman run records alpha, the spectral radius and the hidden-state norm at every evaluation,
    and plot_run draws them as monitor.png next to loss.png (three panels, one curve per layer)."""
    import matplotlib.image
    import pytest

    from qsa.training.plots import plot_monitor

    overrides = ["model.family=koopman", "model.w_layers=2", "model.v_layers=2", "train.steps=3", "train.eval_every=1"]
    config = load_config(ROOT / "experiments" / "classical" / "markov_smoke.toml", overrides)
    result = train(config, out=tmp_path)
    records = read_metrics(result.run_dir)
    evals = [r for r in records if r["kind"] == "eval"]
    assert evals and all(len(r["spectral_radius"]) == len(r["alpha"]) >= 1 for r in evals)
    image = matplotlib.image.imread(Path(result.run_dir) / "monitor.png")
    assert image.shape[1] > 2 * image.shape[0]  # three panels side by side
    # without alpha (Stage II, no attention) the first panel says so instead of failing
    no_alpha = [{k: v for k, v in r.items() if k != "alpha"} for r in records]
    assert plot_monitor(no_alpha, tmp_path / "no_alpha.png").exists()
    with pytest.raises(ValueError, match="spectral_radius"):
        plot_monitor([r for r in records if r["kind"] != "eval"], tmp_path / "none.png")
