"""QSA's batched torch statevector simulator (backend "torch") against PennyLane and the analytic tier.

Every gate (plain and controlled) has PennyLane's matrix with wire 0 first; fused runs of gates
equal the gates applied one by one; the QSA circuits' full final states equal default.qubit's;
shared prefixes, batches and chunks change nothing; the evaluator's observables and backprop
gradients equal the closed forms (1e-10, 1e-8).
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch
from support import N_SIGMA, TOL_F32, TOL_GRAD, TOL_STATE, random_states, random_unitary

from qsa import analytic
from qsa.backends import statevector as sv
from qsa.circuit_tier import superposition_states
from qsa.circuits import GATES, Circuit, Gate, Param, ParamSpec, Unitary, circuit_a, circuit_b
from qsa.circuits import to_pennylane as tp
from qsa.evaluators import AnalyticEvaluator, StatevectorEvaluator
from qsa.model import ModelConfig, QSAModel

SPEC = (ParamSpec("theta", (3,), "trainable"),)


@pytest.mark.parametrize("name", sorted(GATES))
@pytest.mark.parametrize("controls", [(), (3,), (3, 0)], ids=["plain", "1ctrl", "2ctrl"])
def test_gate_matrices_equal_pennylane_alone_and_fused(name, controls, rng):
    spec = GATES[name]
    wires = (1, 2)[: spec.n_wires]
    values = (
        tuple(int(v) for v in rng.integers(0, 2, size=len(controls))) if (controls or name != "GlobalPhase") else ()
    )
    theta = rng.uniform(-np.pi, np.pi, size=3)
    params = tuple(Param("theta", (i,), scale=(-1.0) ** i) for i in range(spec.n_params))
    gate = Gate(name, wires, params, controls, values)
    expected = tp.matrix(Circuit(4, (gate,), params=SPEC), {"theta": theta})
    twice = Circuit(4, (gate, gate), params=SPEC)  # a fusable run of two gates
    for fuse in (0, 6):
        got = sv.unitary(Circuit(4, (gate,), params=SPEC), {"theta": torch.tensor(theta)}, max_fused_wires=fuse).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_STATE)
        got2 = sv.unitary(twice, {"theta": torch.tensor(theta)}, max_fused_wires=fuse).numpy()
        np.testing.assert_allclose(got2, expected @ expected, rtol=0, atol=TOL_STATE)


def _random_gates(rng, n_wires: int, n_gates: int) -> tuple[Gate, ...]:
    names = [g for g in GATES if g != "GlobalPhase"] + ["GlobalPhase"]
    ops = []
    for g in range(n_gates):
        name = names[rng.integers(len(names))]
        spec = GATES[name]
        wires = tuple(int(w) for w in rng.permutation(n_wires)[: spec.n_wires + 2])
        targets, rest = wires[: spec.n_wires], wires[spec.n_wires :]
        n_ctrl = int(rng.integers(0, 3)) if name != "GlobalPhase" else int(rng.integers(1, 3))
        controls = rest[:n_ctrl]
        values = tuple(int(v) for v in rng.integers(0, 2, size=len(controls)))
        params = tuple(Param("phi", (g,), scale=float(rng.choice([1.0, -0.5]))) for _ in range(spec.n_params))
        ops.append(Gate(name, targets, params, controls, values))
    return tuple(ops)


@pytest.mark.parametrize("fuse", [0, 2, 3, 6])
def test_random_gate_sequences_fused_or_not_equal_pennylane(fuse, rng):
    ops = _random_gates(rng, 5, 40)
    c = Circuit(5, ops, params=(ParamSpec("phi", (40,), "trainable"),))
    phi = rng.uniform(-np.pi, np.pi, size=40)
    expected = tp.matrix(c, {"phi": phi})
    np.testing.assert_allclose(
        sv.unitary(c, {"phi": torch.tensor(phi)}, max_fused_wires=fuse).numpy(), expected, rtol=0, atol=TOL_STATE
    )
    # batched angles: every instance equals its own run
    phis = rng.uniform(-np.pi, np.pi, size=(3, 40))
    batch = sv.simulate(c, {"phi": torch.tensor(phis)}, max_fused_wires=fuse).reshape(3, -1)
    for b in range(3):
        one = sv.simulate(c, {"phi": torch.tensor(phis[b])}, max_fused_wires=fuse).reshape(-1)
        torch.testing.assert_close(batch[b], one, rtol=0, atol=TOL_STATE)


def test_unitary_ops_with_dagger_and_controls_equal_pennylane(rng):
    W = random_unitary(rng, 4)
    c = Circuit(
        3,
        (
            Unitary("W", (1, 2)),
            Unitary("W", (2, 0), dagger=True),
            Unitary("W", (0, 2), controls=(1,), control_values=(0,)),
        ),
        params=(ParamSpec("W", (4, 4), "data"),),
    )
    np.testing.assert_allclose(
        sv.unitary(c, {"W": torch.tensor(W)}).numpy(), tp.matrix(c, {"W": W}), rtol=0, atol=TOL_STATE
    )


def _instance(rng, T, d, k, family):
    n = d.bit_length() - 1
    p = {
        "x": random_states(rng, T, d),
        "y": random_states(rng, T, d),
        "theta_W": rng.normal(size=(2, n, 3)),
        "theta_V": rng.normal(size=(1, n, 3)),
        "phi": rng.normal(size=T),
    }
    if family == "B":
        p["psi"] = superposition_states(p["x"], k=k)
    return p


def _default_qubit_state(qc, params):
    @qml.qnode(qml.device("default.qubit", wires=qc.n_qubits))
    def f():
        tp.apply(qc.circuit, params)
        return qml.state()

    return f()


@pytest.mark.parametrize(
    "T, d, k, kernel, family", [(3, 4, 2, "mono", "A"), (5, 2, 2, "poly", "A"), (4, 4, 1, "mono", "B")]
)
def test_qsa_circuit_states_equal_default_qubit(T, d, k, kernel, family, rng):
    params = _instance(rng, T, d, k, family)
    variants = ("mu", "zeta", "nu") if family == "A" else ("P0",)
    if family == "A":
        qcs = [circuit_a(T, d, k, kernel=kernel, variant=v, w_layers=2, v_layers=1, phases=v == "mu") for v in variants]
    else:
        qcs = [circuit_b(T, d, k, w_layers=2, v_layers=1, phases=True)]
    torch_params = {name: torch.tensor(v) for name, v in params.items()}
    shared = sv.simulate_many([qc.circuit for qc in qcs], torch_params)  # common prefix simulated once
    for qc, state in zip(qcs, shared):
        expected = _default_qubit_state(qc, params)
        np.testing.assert_allclose(state.reshape(-1).numpy(), expected, rtol=0, atol=TOL_STATE)
        alone = sv.simulate(qc.circuit, torch_params, max_fused_wires=0)
        torch.testing.assert_close(alone, state, rtol=0, atol=TOL_STATE)


def _evaluator_inputs(rng, S, T, d, L=2, phases="trained"):
    n = d.bit_length() - 1
    X = torch.tensor(random_states(rng, S, T, d))
    Y = torch.tensor(random_states(rng, S, T, d))
    params = {
        "theta_W": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
        "theta_V": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
    }
    if phases == "trained":
        params["phi"] = torch.tensor(rng.normal(size=T), requires_grad=True)
    elif phases == "per_sequence":
        params["phi"] = torch.tensor(rng.normal(size=(S, T)))
    return params, X, Y


@pytest.mark.parametrize(
    "T, d, k, kernel, phases",
    [(3, 4, 2, "mono", "trained"), (5, 2, 2, "poly", "per_sequence"), (4, 2, 1, "mono", "none")],
)
def test_evaluator_equals_the_closed_forms_with_gradients(T, d, k, kernel, phases, rng):
    params, X, Y = _evaluator_inputs(rng, 2, T, d, phases=phases)
    X.requires_grad_(True)  # backprop reaches the tokens (an embedding)
    leaves = [params[n] for n in ("theta_W", "theta_V", "phi") if n in params and params[n].requires_grad] + [X]
    got = StatevectorEvaluator()(params, X, Y, k=k, kernel=kernel, beta=None)
    expected = AnalyticEvaluator()(params, X, Y, k=k, kernel=kernel, beta=None)
    for name in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        torch.testing.assert_close(getattr(got, name), getattr(expected, name), rtol=0, atol=TOL_STATE, msg=name)
    g_got = list(torch.autograd.grad((got.L_B + got.L_1).sum(), leaves))
    g_exp = list(torch.autograd.grad((expected.L_B + expected.L_1).sum(), leaves))
    # tokens are unit vectors: only the gradient along the sphere is defined by the circuit (the
    # closed forms extend off the sphere differently), so compare tangent components
    for g in (g_got, g_exp):
        g[-1] = g[-1] - (X.conj() * g[-1]).real.sum(-1, keepdim=True) * X
    for a, b in zip(g_got, g_exp):
        torch.testing.assert_close(a, b, rtol=0, atol=TOL_GRAD)


def test_chunked_and_checkpointed_batches_equal_one_batch(rng):
    params, X, Y = _evaluator_inputs(rng, 5, 3, 2)
    one = StatevectorEvaluator()(params, X, Y, k=2, kernel="mono", beta=None)
    n_qubits = circuit_a(3, 2, 2).n_qubits
    chunked = StatevectorEvaluator(max_amplitudes=2 * 2**n_qubits)(params, X, Y, k=2, kernel="mono", beta=None)
    torch.testing.assert_close(chunked.L_B, one.L_B, rtol=0, atol=TOL_STATE)
    leaves = [params["theta_W"], params["theta_V"], params["phi"]]
    for a, b in zip(torch.autograd.grad(chunked.L_B.sum(), leaves), torch.autograd.grad(one.L_B.sum(), leaves)):
        torch.testing.assert_close(a, b, rtol=0, atol=TOL_GRAD)


def test_complex64_evaluator_is_close(rng):
    params, X, Y = _evaluator_inputs(rng, 2, 3, 4)
    exact = StatevectorEvaluator()(params, X, Y, k=2, kernel="mono", beta=None)
    single = StatevectorEvaluator(dtype=torch.complex64)(params, X, Y, k=2, kernel="mono", beta=None)
    assert single.L_B.dtype == torch.float32
    torch.testing.assert_close(single.L_B.double(), exact.L_B, rtol=TOL_F32, atol=TOL_F32)


def test_model_backend_torch_trains_like_the_analytic_backend(rng):
    from qsa.data import Sequences

    batch = Sequences(torch.tensor(random_states(rng, 2, 3, 4)), torch.tensor(random_states(rng, 2, 3, 4)))
    losses = {}
    for backend in ("torch", "analytic"):
        model = QSAModel(ModelConfig(d=4, T=3, k=2, phases="trained", backend=backend), seed=0)
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        losses[backend] = []
        for _ in range(3):
            opt.zero_grad()
            loss = model.loss(batch, "L_B")
            loss.backward()
            opt.step()
            losses[backend].append(float(loss.detach()))
    assert isinstance(QSAModel(ModelConfig(d=4, T=3, backend="torch"), seed=0).evaluator, StatevectorEvaluator)
    np.testing.assert_allclose(losses["torch"], losses["analytic"], rtol=0, atol=TOL_STATE)


def test_shots_are_within_standard_errors_and_repeat_with_a_seed(rng):
    X, Y = random_states(rng, 2, 3, 2), random_states(rng, 2, 3, 2)
    W, V = random_unitary(rng, 2), random_unitary(rng, 2)
    exact = analytic.observables(X, Y, W, V, k=1)
    shots = 20_000
    import qsa

    got = qsa.circuit_observables(X, Y, W, V, k=1, backend="torch", shots=shots, seed=5)
    again = qsa.circuit_observables(X, Y, W, V, k=1, backend="torch", shots=shots, seed=5)
    for field in ("mu", "zeta", "nu"):
        p = getattr(exact, field).numpy()
        assert np.all(np.abs(getattr(got, field) - p) < N_SIGMA * np.sqrt(p * (1 - p) / shots)), field
    for field in ("mu", "zeta", "nu"):
        np.testing.assert_array_equal(getattr(got, field), getattr(again, field))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dtype=torch.float64), "dtype must be torch.complex128 or torch.complex64"),
        (dict(max_fused_wires=-1), "max_fused_wires must be an integer >= 0"),
        (dict(max_amplitudes=0), "max_amplitudes must be an integer >= 1"),
    ],
)
def test_bad_evaluator_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StatevectorEvaluator(**kwargs)


def test_bad_inputs_are_refused(rng):
    params, X, Y = _evaluator_inputs(rng, 2, 3, 2)
    ev = StatevectorEvaluator()
    with pytest.raises(ValueError, match="params must hold only"):
        ev({**params, "extra": params["phi"]}, X, Y, k=1)
    with pytest.raises(ValueError, match=r"params\['theta_W'\] must be a real tensor of shape"):
        ev({**params, "theta_W": params["theta_W"][..., :2]}, X, Y, k=1)
    with pytest.raises(ValueError, match="Y must have the shape of X"):
        ev(params, X, Y[:, :2], k=1)
    c = circuit_a(3, 2, 1).circuit
    with pytest.raises(ValueError, match="batched parameter arrays must share one batch size"):
        sv.simulate(c, {"x": X, "y": Y[:1]})
    with pytest.raises(KeyError, match="parameter 'V' must be given"):
        sv.simulate(c, {"x": X[0]})
    with pytest.raises(ValueError, match="initial must have shape"):
        sv.simulate(c, {"x": X[0], "y": Y[0]}, initial=torch.ones(3))


@pytest.mark.parametrize(
    "T, d, k, kernel, family", [(3, 4, 2, "mono", "A"), (5, 2, 2, "poly", "A"), (4, 4, 1, "mono", "B")]
)
def test_readout_with_early_projection_equals_the_full_states(T, d, k, kernel, family, rng):
    """Wires cut after their last operation and prefixes shared: the same cells as from full final states."""
    params = {name: torch.tensor(v) for name, v in _instance(rng, T, d, k, family).items()}
    params = {
        name: (torch.stack([v, v.flip(0)]) if name in ("x", "y", "phi", "psi") else v) for name, v in params.items()
    }
    if family == "A":
        qcs = [
            circuit_a(T, d, k, kernel=kernel, variant=v, w_layers=2, v_layers=1, phases=v == "mu")
            for v in ("mu", "zeta", "nu")
        ]
    else:
        qcs = [circuit_b(T, d, k, w_layers=2, v_layers=1, phases=True)]
    cells = sv.readout_cells(qcs, params)
    states = sv.simulate_many([qc.circuit for qc in qcs], params, max_fused_wires=0)
    for qc, got, psi in zip(qcs, cells, states):
        torch.testing.assert_close(
            got, sv.cell_probabilities(psi, qc.index_wires, qc.zero_wires), rtol=0, atol=TOL_STATE
        )
