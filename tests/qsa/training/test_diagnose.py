"""Trainability diagnostics: gradient variances over initialisations, their fits, the circuit check, ``qsa diagnose``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support import TOL_GRAD

from qsa.cli import main
from qsa.resources import fit_exponential
from qsa.training import load_config
from qsa.training.diagnose import DiagnoseGrid, circuit_check, gradient_samples, point_config

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "experiments" / "tfim" / "smoke.toml"


@pytest.mark.parametrize("phases", ["aligned", "trained"])
def test_batched_gradients_are_each_initialisations_autograd_gradient(phases):
    from qsa.training.diagnose import _draw, _point

    config = point_config(load_config(SMOKE, [f"model.phases={phases}"]), n_qubits=2, T=3, layers=2, kernel="poly")
    model, batch, shape = _point(config)
    theta_W, theta_V = _draw(shape, 3, 7)
    grads = gradient_samples(model, batch, theta_W, theta_V)
    for i in range(3):
        with torch.no_grad():
            model.theta_W.copy_(theta_W[i])
            model.theta_V.copy_(theta_V[i])
        for loss in ("L_B", "L_1"):
            model.zero_grad()
            model.loss(batch, loss).backward()
            np.testing.assert_allclose(grads[loss]["theta_W"][i], model.theta_W.grad.numpy(), rtol=0, atol=TOL_GRAD)
            np.testing.assert_allclose(grads[loss]["theta_V"][i], model.theta_V.grad.numpy(), rtol=0, atol=TOL_GRAD)


def test_circuit_check_agrees_with_the_torch_simulator():
    config = point_config(load_config(SMOKE), n_qubits=1, T=2, layers=1, kernel="mono")
    check = circuit_check(config, inits=2, seed=1)
    assert check["backend"] == "torch" and check["n_qubits"] == 2 + 3 * 1
    assert check["max_abs_difference"] < TOL_GRAD < check["max_gradient"]
    for loss in ("L_B", "L_1"):
        assert check["variance"][loss]["circuit"] == pytest.approx(check["variance"][loss]["analytic"], rel=1e-8)


def test_qsa_diagnose_writes_variances_fits_and_plots(tmp_path, capsys):
    args = ["diagnose", str(SMOKE), "--n-qubits", "1", "2", "3", "--T", "2", "3", "4", "--layers", "1", "2", "3"]
    assert main([*args, "--inits", "6", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (run,) = tmp_path.glob("diagnose-*")
    result = json.loads((run / "diagnostics.json").read_text())
    assert {p.name for p in run.iterdir()} >= {"diagnostics.json", "variance_vs_qubits.png", "variance_vs_depth.png"}
    assert len(result["points"]) == 2 * 3 * 3  # kernels x sweeps x values
    for kernel in ("mono", "poly"):
        rows = [p for p in result["points"] if p["kernel"] == kernel and p["sweep"] == "d"]
        assert [p["circuit_qubits"] for p in rows] == [
            2 * 3 + 3 * n + (2 if kernel == "poly" else 0) for n in (1, 2, 3)
        ]
        fit = fit_exponential([p["circuit_qubits"] for p in rows], [p["variance"]["L_B"]["all"] for p in rows])
        assert result["fits"][kernel]["d"]["L_B"]["rate"] == pytest.approx(fit.rate, rel=1e-12)
        assert f"{fit.rate:+.3f}" in out
    assert result["check"]["max_abs_difference"] < TOL_GRAD and "check on backend 'torch'" in out


def test_diagnose_refuses_what_it_cannot_diagnose(tmp_path, capsys):
    with pytest.raises(ValueError, match="inits must be"):
        DiagnoseGrid(inits=1)
    with pytest.raises(ValueError, match="kernels must be"):
        DiagnoseGrid(kernels=("exp",))
    assert main(["diagnose", str(SMOKE), "--T", "0", "--out", str(tmp_path)]) == 2
    assert "--T must be" in capsys.readouterr().err
    assert main(["diagnose", str(SMOKE), "--set", "model.family=kcsa", "--out", str(tmp_path)]) == 2
    assert "model.family must be 'qsa'" in capsys.readouterr().err
