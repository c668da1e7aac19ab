"""QSAModel: parameters, the evaluator contract, analytic and circuit backends, gradients vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import TOL_GRAD, TOL_STATE

from qsa import analytic
from qsa.circuits import Shape
from qsa.data import Sequences, markov_sequences
from qsa.evaluators import AnalyticEvaluator, Evaluator, PennyLaneEvaluator
from qsa.evaluators import pennylane as pennylane_evaluator
from qsa.model import ModelConfig, QSAModel, objective


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny matrices: one thread is several times faster than two (and what the qsa command uses)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _states(rng, S, T, D):
    psi = rng.normal(size=(S, T + 1, D)) + 1j * rng.normal(size=(S, T + 1, D))
    return Sequences.from_trajectories(psi / np.linalg.norm(psi, axis=-1, keepdims=True))


def _setup(embedding: str, phases: str, *, k=2, kernel="mono", d=4, T=3, layers=1, seed=0):
    """A small model and a batch of its kind (tokens, id windows, or 3-qubit states)."""
    rng = np.random.default_rng(seed)
    extra = {}
    if embedding == "isometric":
        extra = dict(vocab_size=6, positional=True)
        batch = torch.as_tensor(rng.integers(0, 6, size=(2, T + 1)))
    elif embedding == "projector":
        extra = dict(input_qubits=3)
        batch = _states(rng, 2, T, 8)
    else:
        batch = _states(rng, 2, T, d)
    config = ModelConfig(
        d=d, T=T, k=k, kernel=kernel, w_layers=layers, v_layers=layers, phases=phases, embedding=embedding, **extra
    )
    model = QSAModel(config, seed=seed + 1)
    if model.phi is not None:
        with torch.no_grad():
            model.phi.copy_(torch.from_numpy(rng.uniform(-np.pi, np.pi, T)))
    return model, batch


def _total_loss(model, batch):
    obs = model(batch)
    return obs.L_B.mean() + obs.L_half.mean() + obs.L_1.mean()


def test_every_trainable_quantity_is_a_registered_parameter():
    model, _ = _setup("isometric", "trained")
    names = dict(model.named_parameters())
    assert set(names) == {"theta_W", "theta_V", "phi", "embedding.embedding_raw", "embedding.rotation_raw"}
    assert names["theta_W"].shape == (1, 2, 3) and names["phi"].shape == (3,)
    assert set(model.state_dict()) >= set(names)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    projector, _ = _setup("projector", "none")
    assert set(dict(projector.named_parameters())) == {"theta_W", "theta_V", "embedding.isometry_raw"}
    frozen = QSAModel(ModelConfig(d=4, T=3, embedding="projector", input_qubits=3, train_embedding=False), seed=0)
    assert not frozen.embedding.isometry_raw.requires_grad and "embedding.isometry_raw" in frozen.state_dict()


def test_same_seed_same_model_and_streams_are_independent():
    a, _ = _setup("isometric", "none", seed=3)
    b, _ = _setup("isometric", "none", seed=3)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.theta_W, a.theta_V)


@pytest.mark.parametrize("phases", ["none", "aligned", "trained"])
@pytest.mark.parametrize("kernel", ["mono", "poly"])
def test_analytic_backend_gives_the_closed_forms(phases, kernel):
    model, batch = _setup("none", phases, kernel=kernel)
    W, V = model.unitaries()
    want_phases = {"none": None, "aligned": "aligned", "trained": model.phi}[phases]
    expected = analytic.observables(batch.X, batch.Y, W, V, k=2, kernel=kernel, phases=want_phases)
    got = model(batch)
    for field in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        np.testing.assert_allclose(
            getattr(got, field).detach(), getattr(expected, field).detach(), rtol=0, atol=TOL_STATE, err_msg=field
        )


def _finite_difference_gradient(model, batch, coordinates, h=1e-3):
    """Central differences with one Richardson step (error O(h^4)) at the given flat coordinates of each parameter."""
    grads = []
    for p, chosen in zip(model.parameters(), coordinates):
        g = torch.zeros_like(p)
        flat = p.data.view(-1)
        for i in chosen:

            def f(step, flat=flat, i=i):
                old = flat[i].item()
                flat[i] = old + step
                with torch.no_grad():
                    value = _total_loss(model, batch).item()
                flat[i] = old
                return value

            D = lambda step, f=f: (f(step) - f(-step)) / (2 * step)  # noqa: E731
            g.view(-1)[i] = (4 * D(h / 2) - D(h)) / 3
        grads.append(g)
    return grads


@pytest.mark.parametrize(
    "embedding, phases, kernel",
    [
        ("none", "trained", "mono"),
        ("none", "aligned", "poly"),
        ("isometric", "aligned", "mono"),
        ("projector", "trained", "poly"),
    ],
)
def test_gradients_match_finite_differences_in_float64(embedding, phases, kernel):
    """Every parameter, including the embedding/projector; for aligned phases the finite
    differences re-align at every point, so this also checks the detached-phase gradient."""
    model, batch = _setup(embedding, phases, kernel=kernel)
    grads = torch.autograd.grad(_total_loss(model, batch), list(model.parameters()))
    rng = np.random.default_rng(7)  # every angle and phase; 12 random entries of each embedding matrix
    coordinates = [
        np.arange(p.numel()) if p.numel() <= 12 else rng.choice(p.numel(), 12, replace=False)
        for p in model.parameters()
    ]
    for (name, _), g, fd, chosen in zip(
        model.named_parameters(), grads, _finite_difference_gradient(model, batch, coordinates), coordinates
    ):
        np.testing.assert_allclose(g.reshape(-1)[chosen], fd.reshape(-1)[chosen], rtol=0, atol=TOL_GRAD, err_msg=name)


CIRCUIT_BACKENDS = [
    ("default.qubit", "backprop"),
    ("default.qubit", "adjoint"),
    ("default.qubit", "parameter-shift"),
    ("lightning.qubit", "adjoint"),
]


@pytest.mark.parametrize(
    "device, diff_method, kernel",
    [
        (*backend, kernel)
        for backend in CIRCUIT_BACKENDS
        for kernel in ("mono", "poly")
        if not (kernel == "poly" and backend[0] == "lightning.qubit")  # refused, see below
    ],
)
def test_circuit_backends_match_analytic_values_and_gradients(device, diff_method, kernel):
    model, batch = _setup("none", "trained", k=1 if kernel == "mono" else 2, kernel=kernel, d=2, T=3)
    circuit = QSAModel(model.config, seed=0, evaluator=PennyLaneEvaluator(device, diff_method=diff_method))
    circuit.load_state_dict(model.state_dict())
    expected, got = model(batch), circuit(batch)
    for field in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        np.testing.assert_allclose(
            getattr(got, field).detach(), getattr(expected, field).detach(), rtol=0, atol=TOL_STATE, err_msg=field
        )
    g_exp = torch.autograd.grad(_total_loss(model, batch), list(model.parameters()))
    g_got = torch.autograd.grad(_total_loss(circuit, batch), list(circuit.parameters()))
    for (name, _), a, b in zip(model.named_parameters(), g_got, g_exp):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL_GRAD, err_msg=name)


def test_lightning_measures_wide_projectors_in_pieces_at_full_precision():
    # T = 3, d = 4, k = 1: mu is read on all 8 wires, more than one lightning Projector piece
    model, batch = _setup("none", "trained", k=1, d=4, T=3)
    ev = PennyLaneEvaluator("lightning.qubit", diff_method="adjoint")
    circuit = QSAModel(model.config, seed=0, evaluator=ev)
    circuit.load_state_dict(model.state_dict())
    ((qc, qnode),) = [c for v, c in ev._circuits(Shape("A", 3, 4, 1, "mono", None, 1, 1, True)).items() if v == "mu"]
    assert len(qc.index_wires) + len(qc.zero_wires) > pennylane_evaluator._PROJECTOR_GROUP
    expected, got = model(batch), circuit(batch)
    assert got.mu.dtype == torch.float64
    for field in ("mu", "zeta", "nu", "L_B", "L_1"):
        np.testing.assert_allclose(
            getattr(got, field).detach(), getattr(expected, field).detach(), rtol=0, atol=TOL_STATE, err_msg=field
        )
    g_exp = torch.autograd.grad(_total_loss(model, batch), [model.theta_W, model.theta_V, model.phi])
    g_got = torch.autograd.grad(_total_loss(circuit, batch), [circuit.theta_W, circuit.theta_V, circuit.phi])
    for a, b in zip(g_got, g_exp):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL_GRAD)
    assert torch.get_default_dtype() == torch.float32  # restored after the QNodes ran


def test_embedding_gradients_flow_through_the_circuit_with_backprop():
    model, ids = _setup("isometric", "aligned", k=1, d=2, T=3)
    circuit = QSAModel(model.config, seed=0, evaluator=PennyLaneEvaluator("default.qubit", diff_method="backprop"))
    circuit.load_state_dict(model.state_dict())
    assert circuit.evaluator.differentiates_data
    g_exp = torch.autograd.grad(_total_loss(model, ids), list(model.parameters()))
    g_got = torch.autograd.grad(_total_loss(circuit, ids), list(circuit.parameters()))
    for (name, _), a, b in zip(model.named_parameters(), g_got, g_exp):
        assert name.startswith("theta") or float(b.abs().max()) > 1e-3, (
            name
        )  # the embedding gradient is not trivially zero
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL_GRAD, err_msg=name)


@pytest.mark.parametrize("device, diff_method", [("lightning.qubit", "adjoint"), ("default.qubit", "parameter-shift")])
def test_backends_that_cannot_differentiate_state_preparation_refuse_a_trainable_embedding(device, diff_method):
    model, ids = _setup("isometric", "none", k=1, d=2, T=2)
    circuit = QSAModel(model.config, seed=0, evaluator=PennyLaneEvaluator(device, diff_method=diff_method))
    with pytest.raises(ValueError, match="cannot differentiate state preparation"):
        circuit(ids)
    circuit.embedding.requires_grad_(False)  # frozen: the angles still train
    circuit.load_state_dict(model.state_dict())
    model.embedding.requires_grad_(False)
    g_got = torch.autograd.grad(_total_loss(circuit, ids), [circuit.theta_W, circuit.theta_V])
    g_exp = torch.autograd.grad(_total_loss(model, ids), [model.theta_W, model.theta_V])
    for a, b in zip(g_got, g_exp):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL_GRAD)


def test_lightning_adjoint_refuses_the_poly_kernel():
    model, batch = _setup("none", "none", k=1, kernel="poly", d=2, T=2)
    circuit = QSAModel(model.config, seed=0, evaluator=PennyLaneEvaluator("lightning.qubit"))
    with pytest.raises(ValueError, match="kernel must be 'mono' for adjoint"):
        circuit(batch)


class RecordingEvaluator:
    """A conforming evaluator of our own: checks what the contract promises, then wraps the analytic tier."""

    def __init__(self):
        self.calls = []
        self.inner = AnalyticEvaluator()

    def __call__(self, params, X, Y, *, k, kernel, beta):
        S, T, d = X.shape
        n = d.bit_length() - 1
        assert set(params) <= {"theta_W", "theta_V", "phi"}
        for name in ("theta_W", "theta_V"):
            assert params[name].dtype == torch.float64 and params[name].shape[1:] == (n, 3)
        if "phi" in params:
            assert params["phi"].shape in ((T,), (S, T))
        assert X.shape == Y.shape and X.is_complex()
        self.calls.append((tuple(params), X.shape, k, kernel, beta))
        return self.inner(params, X, Y, k=k, kernel=kernel, beta=beta)


@pytest.mark.parametrize("phases", ["none", "aligned", "trained"])
def test_any_conforming_evaluator_can_stand_in(phases):
    model, batch = _setup("none", phases)
    recorder = RecordingEvaluator()
    assert isinstance(recorder, Evaluator)
    custom = QSAModel(model.config, seed=0, evaluator=recorder)
    custom.load_state_dict(model.state_dict())
    np.testing.assert_allclose(custom.loss(batch, "L_B").detach(), model.loss(batch, "L_B").detach(), rtol=0, atol=0)
    keys, shape, k, kernel, beta = recorder.calls[0]
    assert ("phi" in keys) == (phases != "none") and shape == (2, 3, 4) and (k, kernel, beta) == (2, "mono", None)


def test_objective_and_predictions():
    model, batch = _setup("none", "aligned")
    obs = model(batch)
    assert torch.equal(objective(obs, "L_half"), obs.L_half.mean())
    z = model.predictions(batch)
    np.testing.assert_allclose(analytic.step_probabilities(z, batch.Y).detach(), obs.p.detach(), rtol=0, atol=TOL_STATE)
    with pytest.raises(ValueError, match="loss must be one of"):
        objective(obs, "L_2")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(d=3, T=2), ValueError, "d must be a power of two"),
        (dict(d=4, T=0), ValueError, "T must be >= 1"),
        (dict(d=4, T=2, k=0), ValueError, "k must be >= 1"),
        (dict(d=4, T=2, kernel="exp"), ValueError, "kernel must be one of"),
        (dict(d=4, T=2, w_layers=0), ValueError, "w_layers must be >= 1"),
        (dict(d=4, T=2, phases="random"), ValueError, "phases must be one of"),
        (dict(d=4, T=2, embedding="isometric"), ValueError, "vocab_size must be given"),
        (dict(d=4, T=2, embedding="isometric", vocab_size=2), ValueError, "vocab_size must be >= 4"),
        (dict(d=4, T=2, vocab_size=8), ValueError, "vocab_size must be None"),
        (dict(d=4, T=2, embedding="projector", input_qubits=1), ValueError, "input_qubits must be >= log2 d"),
        (dict(d=4, T=2, backend="ibm_torino"), ValueError, "backend must be one of"),
        (dict(d=4, T=2, shots=100), ValueError, "shots must be None unless backend is one of"),
        (dict(d=4, T=2, backend="aer", shots=0), ValueError, "shots must be >= 1"),
        (dict(d=4, T=2, backend="aer", noise="fake_torino"), ValueError, "shots must be given for shot_seed or noise"),
        (dict(d=4, T=2, backend="aer", shots=10, shot_seed=-1), ValueError, "shot_seed must be >= 0"),
        (dict(d=4, T=2, diff_method="spsa"), ValueError, "diff_method must be one of"),
        (dict(d=4, T=2, positional=1), TypeError, "positional must be a bool"),
    ],
)
def test_model_config_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        ModelConfig(**kwargs)


def test_bad_batches_and_evaluators():
    tokens = markov_sequences(2, 3, 4, rho=0.5, seed=0)
    model = QSAModel(ModelConfig(d=4, T=3, phases="trained"), seed=0)
    with pytest.raises(TypeError, match="batch must be a Sequences"):
        model(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="batch must have token width 4"):
        model(markov_sequences(2, 3, 8, rho=0.5, seed=0))
    with pytest.raises(ValueError, match="batch must have T = 3 steps"):
        model(markov_sequences(2, 4, 4, rho=0.5, seed=0))
    embedded = QSAModel(ModelConfig(d=4, T=3, embedding="isometric", vocab_size=5), seed=0)
    with pytest.raises(TypeError, match="batch must be an id tensor"):
        embedded(tokens)
    with pytest.raises(TypeError, match="evaluator must be callable"):
        QSAModel(ModelConfig(d=4, T=3), seed=0, evaluator="aer")
    with pytest.raises(TypeError, match="config must be a ModelConfig"):
        QSAModel({"d": 4}, seed=0)
    with pytest.raises(ValueError, match="diff_method must not be 'backprop' on lightning.qubit"):
        PennyLaneEvaluator("lightning.qubit", diff_method="backprop")


@pytest.mark.parametrize("embedding", ["none", "isometric"])
@pytest.mark.parametrize("phases", ["aligned", "trained", "none"])
def test_one_pass_forward_equals_the_evaluator_contract_with_phases_computed_first(embedding, phases):
    """The analytic model builds W and V once and takes aligned phases from its own pass (unchecked tokens);
    the same numbers and gradients as the public evaluator call with the phases of a closed-form pass first."""
    model, batch = _setup(embedding, phases, layers=2)
    X, Y = model.tokens(batch)
    contract = model.evaluator(model.circuit_params(X, Y), X, Y, k=2, kernel="mono", beta=None)
    one_pass = model(batch)
    params = [p for p in model.parameters() if p.requires_grad]
    for name in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        a, b = getattr(one_pass, name), getattr(contract, name)
        torch.testing.assert_close(a, b, rtol=0, atol=TOL_STATE, msg=name)
        ga = torch.autograd.grad(a.sum(), params, retain_graph=True, allow_unused=True)
        gb = torch.autograd.grad(b.sum(), params, retain_graph=True, allow_unused=True)
        for x, y in zip(ga, gb):
            if y is not None:
                torch.testing.assert_close(x, y, rtol=0, atol=TOL_GRAD, msg=name)


def test_analytic_evaluator_aligned_phases_keyword(rng):
    model, batch = _setup("none", "aligned")
    X, Y = model.tokens(batch)
    params = model.circuit_params(X, Y)
    explicit = model.evaluator(params, X, Y, k=2, kernel="mono", beta=None)
    params.pop("phi")
    aligned = model.evaluator(params, X, Y, k=2, kernel="mono", beta=None, phases="aligned")
    torch.testing.assert_close(aligned.L_B, explicit.L_B, rtol=0, atol=TOL_STATE)
    with pytest.raises(ValueError, match="phases must be None or 'aligned'"):
        model.evaluator({**params, "phi": torch.zeros(3)}, X, Y, k=2, kernel="mono", beta=None, phases="aligned")
    with pytest.raises(ValueError, match="X must have unit-norm rows"):
        model.evaluator(params, 2 * X, Y, k=2, kernel="mono", beta=None)
