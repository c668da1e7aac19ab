"""QNode factories of qsa.backends.pennylane: broadcast batches, and a batched TorchLayer that trains."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch
from support import TOL_STATE, random_states

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.backends.pennylane import (
    _superposition,
    cells,
    pack_inputs,
    probabilities_qnode,
    torch_layer,
    weight_shapes,
)
from qsa.circuit_tier import superposition_states
from qsa.circuits import circuit_a, circuit_b


def test_probabilities_qnode_broadcasts_a_batch_and_gives_the_analytic_mu(rng):
    B, T, d = 3, 4, 2
    qc = circuit_a(T, d, 2, kernel="poly", w_layers=1, v_layers=1, phases=True)
    X, Y = torch.as_tensor(random_states(rng, B, T, d)), torch.as_tensor(random_states(rng, B, T, d))
    params = {
        "x": X,
        "y": Y,
        "theta_W": torch.tensor(rng.normal(size=(1, 1, 3))),
        "theta_V": torch.tensor(rng.normal(size=(1, 1, 3))),
        "phi": torch.tensor(rng.uniform(-np.pi, np.pi, size=(B, T))),
    }
    qnode = probabilities_qnode(qc, interface="torch")
    mu = cells(qnode(params), qc)[:, 0]
    W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
    want = analytic.observables(X, Y, W, V, k=2, kernel="poly", phases=params["phi"]).mu
    torch.testing.assert_close(mu, want, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("family", ["A", "B"])
def test_a_batched_torch_layer_runs_in_one_call_equals_the_loop_and_trains(rng, family):
    B, T, d = 4, 3, 2
    if family == "A":  # 6 qubits (the poly kernel's broadcasting is checked above)
        qc = circuit_a(T, d, 1, w_layers=1, v_layers=1, phases=True)
    else:
        qc = circuit_b(T, d, 1, w_layers=1, v_layers=1, phases=True)
    torch.manual_seed(0)  # TorchLayer draws its initial weights from torch's global generator
    layer = torch_layer(qc)
    assert {n: tuple(p.shape) for n, p in layer.named_parameters()} == weight_shapes(qc)
    inputs = pack_inputs(random_states(rng, B, T, d), random_states(rng, B, T, d))
    assert inputs.shape == (B, 4 * T * d)
    with qml.Tracker(layer.qnode.device) as tracker:
        probs = layer(inputs)
    assert probs.shape == (B, 2 ** len(qc.measured_wires))
    assert tracker.totals["simulations"] == 1  # one QNode call, one broadcast simulation for the batch
    loop = torch.stack([layer(inputs[b]) for b in range(B)])
    torch.testing.assert_close(probs, loop, rtol=0, atol=TOL_STATE)

    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    losses = []
    for _ in range(8):  # maximise the all-zeros probability: -log mu (circuit A) or -log P0 (circuit B)
        optimizer.zero_grad()
        loss = -torch.log(cells(layer(inputs), qc)[:, 0]).mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.5, losses


def test_torch_superposition_states_equal_the_numpy_ones(rng):
    X = random_states(rng, 2, 5, 4)
    for k in (1, 2):
        got = _superposition(torch.as_tensor(X), k).numpy()
        want = np.stack([superposition_states(x, k=k) for x in X])
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL_STATE)


def test_layer_inputs_and_circuits_are_checked(rng):
    with pytest.raises(ValueError, match="must be built with w_layers and v_layers"):
        weight_shapes(circuit_a(2, 2))
    with pytest.raises(ValueError, match=r"X and Y must have one shape \(\.\.\., T, d\)"):
        pack_inputs(random_states(rng, 2, 3, 2), random_states(rng, 2, 4, 2))
    layer = torch_layer(circuit_a(2, 2, w_layers=1, v_layers=1))
    with pytest.raises(ValueError, match=r"inputs must have 4 T d = 16 features \(pack_inputs\); got 12"):
        layer(torch.zeros(2, 12, dtype=torch.float64))
