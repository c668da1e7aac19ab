"""The cost block of a trained model: its numbers against qsa.resources and qsa.hardware on the same shapes,
what ``qsa train`` prints and saves, and ``qsa cost RUN_DIR``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support import TOL_STATE

from qsa import analytic
from qsa.circuits import Shape
from qsa.cli import main
from qsa.resources import (
    advantage_threshold,
    classical_attention_cost,
    logical_counts,
    shots_for_precision,
    transpiled_counts,
)
from qsa.resources.report import cost_block, format_block, loss_shots, shift_plan
from qsa.training.cost import load_run, model_cells, model_shape

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "experiments" / "tfim" / "smoke.toml"
SMALL = ["train.steps=2", "train.eval_every=2", "data.T=4", "data.n_qubits=2", "model.w_layers=1", "model.v_layers=1"]


def _random_cells(rng, S, T, d, k, kernel="mono"):
    X, Y = (analytic_states(rng, S, T, d) for _ in range(2))
    W, V = (torch.as_tensor(np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))[0]) for _ in "WV")
    A, z2 = analytic.amplitudes_and_norms(X, Y, W, V, k=k, kernel=kernel, beta=analytic.resolve_beta(None, d))
    TN = T * T * (T + 1) / 2
    mu = analytic.observables_from_amplitudes(A, z2, phases="aligned").mu
    return {"mu": mu.numpy(), "zeta": (z2 / TN).numpy(), "nu": ((A.abs() ** 2) / TN).numpy()}


def analytic_states(rng, S, T, d):
    x = rng.normal(size=(S, T, d)) + 1j * rng.normal(size=(S, T, d))
    return torch.as_tensor(x / np.linalg.norm(x, axis=-1, keepdims=True))


@pytest.mark.parametrize("kernel", ["mono", "poly"])
def test_loss_shots_are_the_hardware_delta_method(kernel):
    from qsa.hardware.estimators import PSEUDO_COUNT, estimate

    rng = np.random.default_rng(0)
    cells = _random_cells(rng, 5, 6, 4, 2, kernel)
    # The hardware's estimator policy smooths the frequencies n / N to (n + 1/2) / (N + 1): give it the
    # frequencies whose smoothed value is the cell, and undo the smoothing's slope N / (N + 1).
    N = 1000
    freqs = {v: (np.asarray(c) * (N + 1) - PSEUDO_COUNT) / N for v, c in cells.items()}
    stderr = estimate({**freqs, "mu": freqs["mu"][:, None]}, T=6, shots=N).stderr
    for loss in ("L_B", "L_1", "L_half", "nll"):
        per_shot = np.asarray(getattr(stderr, "L_1" if loss == "nll" else loss)) ** 2 * N * ((N + 1) / N) ** 2
        want = per_shot / 0.05**2
        np.testing.assert_allclose(loss_shots(cells, loss=loss, rel_error=0.05), want, rtol=1e-9, atol=0)
    mu, zeta, T = cells["mu"], cells["zeta"].sum(1), 6  # the closed forms of qsa.resources.report
    np.testing.assert_allclose(loss_shots(cells, loss="L_B"), ((1 - mu) / mu + (1 - zeta) / zeta) / 0.1**2, rtol=1e-12)
    L1 = ((1 / cells["nu"]).sum(1) + (1 / cells["zeta"]).sum(1) - 2 * T * T) / (T * T * 0.1**2)
    np.testing.assert_allclose(loss_shots(cells, loss="L_1"), L1, rtol=1e-12)


def test_loss_shots_bad_input():
    with pytest.raises(ValueError, match="loss must be one of"):
        loss_shots({"mu": [0.5], "zeta": [[0.1]], "nu": [[0.1]]}, loss="L_2")
    with pytest.raises(ValueError, match=r"cells\['nu'\] must be probabilities of shape \(S, 1\)"):
        loss_shots({"mu": [0.5], "zeta": [[0.1]], "nu": [[0.1, 0.2]]}, loss="L_1")
    with pytest.raises(ValueError, match="rel_error must be positive"):
        loss_shots({"mu": [0.5], "zeta": [[0.1]], "nu": [[0.1]]}, loss="L_1", rel_error=0)


@pytest.mark.parametrize(
    "shape",
    [Shape("A", 3, 2, 2, "mono", None, 1, 1, True), Shape("A", 2, 2, 2, "poly", None, 1, 2, True)],
    ids=["mono", "poly"],
)
def test_shift_plan_is_the_hardware_programs_plan(shape):
    from qsa.hardware.programs import TRAINABLE, program

    templates = program(shape).templates
    for variant in shape.variants:
        points, weight = shift_plan(shape, variant, trainable=TRAINABLE)
        coefficients = templates[variant].coefficients  # (1 + rows, n_trainable)
        assert points == len(templates[variant].shift_rows)
        assert weight == pytest.approx(float((coefficients[1:] ** 2).sum(0).max()), rel=1e-12)
    # without the phases, the mu circuit loses one two-term pair per phase
    assert shift_plan(shape, "mu")[0] == shift_plan(shape, "mu", trainable=TRAINABLE)[0] - 2 * shape.T
    with pytest.raises(ValueError, match="trainable must name arrays"):
        shift_plan(shape, "mu", trainable=("theta_X",))


def _cli_train(tmp_path):
    """``qsa train`` in a fresh interpreter: its output, and the heavy modules it loaded."""
    code = (
        "import sys\nfrom qsa.cli import main\n"
        f"rc = main(['train', {str(SMOKE)!r}, '--out', {str(tmp_path)!r}, '--no-progress', "
        + ", ".join(f"'--set', {o!r}" for o in SMALL)
        + "])\nprint('LOADED', sorted(m for m in ('pennylane', 'qiskit', 'scipy.stats') if m in sys.modules))\n"
        "sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_train_prints_and_saves_the_cost_block_and_qsa_cost_prints_the_same(tmp_path, capsys):
    printed = _cli_train(tmp_path)
    assert printed.splitlines()[-1] == "LOADED []"  # the cost block keeps the training path light
    (run,) = [p for p in tmp_path.iterdir() if p.name.startswith("tfim-smoke-")]
    summary = json.loads((run / "summary.json").read_text())
    block = summary["cost"]
    lines = format_block(block)
    assert "\n".join(lines) in printed

    config, dataset, model, step = load_run(run)
    assert step == 2
    shape = model_shape(config, 4, 4)
    assert block["shape"] == shape.as_dict() and shape.phases  # aligned phases enter the mu circuit
    for variant in shape.variants:  # logical counts: qsa.resources on the same shape
        counts = logical_counts(shape, variant=variant)
        c = block["circuits"][variant]
        assert (c["cnot"], c["single_qubit"], c["n_qubits"]) == (counts.cnot, counts.single_qubit, shape.n_wires)
    cost = classical_attention_cost(4, 4)
    assert (block["classical"]["attention"], block["classical"]["total"]) == (cost.attention, cost.total)
    assert block["advantage"]["threshold"] == advantage_threshold(4, 4, 2)

    W, V = model.unitaries()
    for split, batch in dataset.splits.items():
        e = block["splits"][split]
        X, Y = model.tokens(batch)
        obs = analytic.observables(X, Y, W, V, k=2, phases="aligned")  # the public closed forms
        for variant in ("mu", "zeta", "nu"):
            p = getattr(obs, variant).detach().numpy()
            assert e[variant]["mean"] == pytest.approx(p.mean(), rel=0, abs=TOL_STATE)
            assert e[variant]["min"] == pytest.approx(p.min(), rel=0, abs=TOL_STATE)
            shots = [shots_for_precision(float(v), rel_error=0.1) for v in p]
            assert e[variant]["shots"]["max"] == max(shots)
        assert e["F"]["mean"] == pytest.approx(summary["final"][split]["F"], rel=0, abs=TOL_STATE)
        assert e["advantage"]["meets"] == (e["mu"]["mean"] >= block["advantage"]["threshold"])
        assert e["advantage"]["margin"] == pytest.approx(e["mu"]["mean"] / block["advantage"]["threshold"])

    step_cost = block["training_step"]  # L_1 needs zeta and nu, with every shifted point of W and V
    points = {v: block["circuits"][v]["shift_points"] for v in ("zeta", "nu")}
    assert step_cost["variants"] == ["zeta", "nu"]
    assert step_cost["executions"] == block["batch_size"] * sum(1 + p for p in points.values())
    S = math.ceil(block["splits"]["train"]["loss_shots"]["L_1"]["max"])
    assert step_cost["shots_per_execution"] == S
    assert step_cost["shots"] == block["batch_size"] * sum(
        S + p * step_cost["shots_per_shifted_execution"] for p in points.values()
    )

    # qsa cost on the run prints the same block (and adds transpiled counts unless told not to)
    assert main(["cost", str(run), "--no-transpile"]) == 0
    assert "\n".join(lines) in capsys.readouterr().out
    assert json.loads((run / "cost.json").read_text())["splits"] == block["splits"]


def test_qsa_cost_adds_transpiled_counts_of_every_circuit(tmp_path, capsys):
    from qsa.resources.transpiled import TranspileCache
    from qsa.training import load_config, train

    config = load_config(SMOKE, [*SMALL, "data.n_qubits=1", "data.T=2", "model.k=1", "train.steps=1"])
    run = train(config, out=tmp_path, plots=False).run_dir
    assert main(["cost", str(run), "--backend", "heron", "--cache", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    block = json.loads((run / "cost.json").read_text())
    shape = Shape.from_dict(block["shape"])
    cache = TranspileCache(tmp_path / "cache")
    for variant in shape.variants:
        got = transpiled_counts(shape, "heron", variant=variant, cache=cache)
        assert got.cached and block["circuits"][variant]["heron_two_qubit"] == got.two_qubit
    assert block["transpiled"]["backend_class"] == "FakeFez" and "heron 2q/shot" in out
    assert "\n".join(format_block(block)) in out


def test_cost_block_refuses_what_is_not_a_trained_circuit_a():
    cells = {"train": {"mu": [0.1], "zeta": [[0.1, 0.1]], "nu": [[0.05, 0.05]]}}
    with pytest.raises(ValueError, match="shape must be circuit A with ansatz depths"):
        cost_block(Shape("A", 2, 2), cells, loss="L_1", batch_size=1)
    with pytest.raises(ValueError, match="batch_size must be"):
        cost_block(Shape("A", 2, 2, w_layers=1, v_layers=1), cells, loss="L_1", batch_size=0)
    with pytest.raises(ValueError, match="cells must hold the split 'train'"):
        cost_block(Shape("A", 2, 2, w_layers=1, v_layers=1), {"test": cells["train"]}, loss="L_1", batch_size=1)


def test_qsa_cost_refuses_a_path_that_is_not_a_run(tmp_path, capsys):
    assert main(["cost", str(tmp_path / "nothing")]) == 2
    assert "RUN_DIR must be a run directory" in capsys.readouterr().err
    assert main(["cost", str(tmp_path), "--rel-error", "-1"]) == 2
    assert "--rel-error must be positive" in capsys.readouterr().err
    assert main(["cost", str(tmp_path), "--no-transpile"]) == 2
    assert "must be a run directory with config.json and checkpoint.pt" in capsys.readouterr().err


def test_model_cells_sum_to_the_models_observables(tmp_path):
    from qsa.training import load_config, train

    config = load_config(SMOKE, [*SMALL, "model.phases=trained", "train.steps=1"])
    result = train(config, out=tmp_path, plots=False)
    batch = next(iter(result.model.parameters())) is not None and load_run(result.run_dir)[1].splits["test"]
    cells = model_cells(result.model, batch)
    with torch.no_grad():
        obs = result.model(batch)
    for name in ("mu", "zeta", "nu"):
        got = cells[name] if name == "mu" else cells[name].sum(1)
        np.testing.assert_allclose(got, getattr(obs, name).numpy(), rtol=0, atol=TOL_STATE)
    assert result.summary["cost"]["trainable"] == ["theta_W", "theta_V", "phi"]


def test_a_step_of_spsa_is_two_loss_evaluations_and_no_gradient_circuits():
    rng = np.random.default_rng(1)
    cells = {"train": _random_cells(rng, 3, 4, 2, 1)}
    shape = Shape("A", 4, 2, 1, "mono", None, 1, 1, True)
    shift = cost_block(shape, cells, loss="L_B", batch_size=3)["training_step"]
    spsa = cost_block(shape, cells, loss="L_B", batch_size=3, optimizer="spsa")["training_step"]
    S = math.ceil(loss_shots(cells["train"], loss="L_B").max())
    assert spsa["executions"] == 3 * 2 * 2 and spsa["shots"] == spsa["executions"] * S  # mu and zeta, twice
    points = sum(shift_plan(shape, v)[0] for v in ("mu", "zeta"))
    assert shift["executions"] == 3 * (2 + points) and shift["shots_per_execution"] == spsa["shots_per_execution"] == S
    cnot = {v: logical_counts(shape, variant=v).cnot for v in ("mu", "zeta")}
    assert spsa["two_qubit_gates"] == 3 * 2 * S * sum(cnot.values())
    assert "two SPSA evaluations of L_B" in "\n".join(
        format_block(cost_block(shape, cells, loss="L_B", batch_size=3, optimizer="spsa"))
    )
