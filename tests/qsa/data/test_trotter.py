"""TFIM trajectories from simulated Trotter circuits: equal to the splitting, converging to exact evolution."""

from __future__ import annotations

import numpy as np
import pytest
from support import TOL_STATE

from qsa.data import exact_unitary, initial_states, tfim_sequences, trajectories, transverse_ising, trotter_unitary
from qsa.data.trotter import SIMULATORS, trotter_sequences, trotter_trajectories


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_simulated_trajectories_equal_the_trotter_unitary_powers(simulator):
    model = transverse_ising(3, h=[1.0, 0.6, 1.2], J=[0.8, 1.1])
    psi0 = initial_states(2, 3, seed=3)
    got = trotter_trajectories(model, psi0, dt=0.35, T=3, n_steps=2, order=2, simulator=simulator)
    expected = trajectories(trotter_unitary(model.parts(), 0.35, 2, order=2), psi0, 3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("order, rate", [(1, 1), (2, 2)])
def test_error_against_exact_evolution_falls_with_the_step_count(order, rate):
    model = transverse_ising(3)
    psi0 = initial_states(2, 3, seed=4)
    exact = trajectories(exact_unitary(model, 0.35), psi0, 4)
    errors = [
        np.abs(trotter_trajectories(model, psi0, dt=0.35, T=4, n_steps=m, order=order) - exact).max() for m in (2, 4, 8)
    ]
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    # Doubling the steps divides the error by 2^order (within 20 %: higher-order terms).
    assert all(abs(r - 2**rate) < 0.2 * 2**rate for r in ratios), (errors, ratios)


def test_trotter_sequences_share_initial_states_with_exact_ones_and_record_their_origin():
    model = transverse_ising(2)
    trot = trotter_sequences(model, dt=0.2, T=3, n_sequences=2, n_steps=64, order=2, seed=5)
    exact = tfim_sequences(model, dt=0.2, T=3, n_sequences=2, seed=5)
    np.testing.assert_allclose(trot.X[:, 0].numpy(), exact.X[:, 0].numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(trot.Y.numpy(), exact.Y.numpy(), rtol=0, atol=1e-5)  # Strang error ~ (dt/64)^2
    assert trot.meta["evolution"] == "trotter" and trot.meta["trotter_steps"] == 64


def test_bad_input_raises():
    model = transverse_ising(2)
    with pytest.raises(ValueError, match="simulator must be one of"):
        trotter_trajectories(model, initial_states(1, 2, seed=0), dt=0.1, T=2, simulator="qpu")
    with pytest.raises(ValueError, match="psi0 must have shape"):
        trotter_trajectories(model, np.ones(8) / np.sqrt(8), dt=0.1, T=2)
    with pytest.raises(ValueError, match="psi0 must have finite unit-norm rows"):
        trotter_trajectories(model, np.ones(4), dt=0.1, T=2)
    with pytest.raises(TypeError, match="model must be a TFIM"):
        trotter_trajectories("chain", np.ones(4) / 2, dt=0.1, T=2)
