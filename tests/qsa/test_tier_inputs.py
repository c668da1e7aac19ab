"""What every tier accepts (issue 11, cases 5-7): one tolerance policy for every tier (Aer included),
every accepted dtype on every backend, and the memory preflight before anything is built."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import TOL_F32, TOL_STATE

import qsa
from qsa import circuit_tier, preflight
from qsa.circuits.linalg import nearest_unitary
from qsa.data import Sequences
from qsa.model import ModelConfig, QSAModel
from qsa.random import random_states, random_unitary

# --- case 5: Aer refused inputs that QSA accepts -----------------------------------------------------


def _off_unitary(U: np.ndarray, size: float, seed: int) -> np.ndarray:
    """``U`` plus a random perturbation of max entry ``size`` (unitary to about ``size``, not to 1e-8)."""
    rng = np.random.default_rng(seed)
    E = rng.normal(size=U.shape) + 1j * rng.normal(size=U.shape)
    return U + size * E / np.abs(E).max()


def test_nearest_unitary_is_unitary_to_machine_precision_and_moves_little():
    U = random_unitary(4, seed=0)
    M = _off_unitary(U, 5e-7, seed=1)
    assert np.abs(M.conj().T @ M - np.eye(4)).max() > 1e-8  # what Qiskit's UnitaryGate refuses
    P = nearest_unitary(M)
    assert np.abs(P.conj().T @ P - np.eye(4)).max() < 1e-14
    assert np.abs(P - U).max() < 2e-6  # within a few times the perturbation of the unitary it came from
    assert np.abs(nearest_unitary(U) - U).max() < 1e-14  # a unitary is its own nearest one
    with pytest.raises(ValueError, match=r"M must be a square matrix; got shape \(2, 3\)"):
        nearest_unitary(np.zeros((2, 3)))


@pytest.mark.parametrize("how", ["float32 tokens", "complex64 W", "W off by 2e-7"])
def test_case_5_aer_runs_every_input_qsa_accepts(how):
    """``x = [[1, 0]]`` as float32 with a random 2x2 W raised ``Input matrix is not unitary.`` on Aer only;
    now Aer runs the nearest valid input in complex128 and gives the analytic values of that input."""
    x = np.array([[1.0, 0.0]])
    y = random_states(1, 2, seed=3, real=True)
    W, V = random_unitary(2, seed=4), random_unitary(2, seed=5)
    if how == "float32 tokens":
        x, y = x.astype(np.float32), y.astype(np.float32)
    elif how == "complex64 W":
        W, V = W.astype(np.complex64), V.astype(np.complex64)
    else:
        W = _off_unitary(W, 2e-7, seed=6)
    got = qsa.circuit_observables(x, y, W, V, backend="aer")
    if how == "float32 tokens":  # single-precision input: W and V are taken in complex64, as the validator does
        W, V = W.astype(np.complex64), V.astype(np.complex64)
    X, Y = (np.asarray(a, dtype=np.complex128) for a in (x, y))
    Y = Y / np.linalg.norm(Y, axis=-1, keepdims=True)
    want = qsa.observables(X, Y, nearest_unitary(W), nearest_unitary(V))
    for field in ("mu", "zeta", "nu", "L_B", "L_1"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=0, atol=TOL_STATE, err_msg=field)


def test_the_qiskit_exporter_names_the_tolerance_and_the_fix():
    from qsa.circuits import Circuit, Unitary
    from qsa.circuits.to_qiskit import to_qiskit

    circuit = Circuit(1, (Unitary("W", (0,)),))
    to_qiskit(circuit, matrices={"W": nearest_unitary(_off_unitary(np.eye(2), 5e-7, seed=0))})  # projected: runs
    with pytest.raises(
        ValueError, match=r"matrices\['W'\] must be unitary to Qiskit's UnitaryGate tolerance \(1e-8\); got max"
    ):
        to_qiskit(circuit, matrices={"W": _off_unitary(np.eye(2), 5e-7, seed=0)})


# --- case 6: the default model crashed on real or single-precision batches ---------------------------

BACKENDS = ["analytic", "torch", "default.qubit", "aer", pytest.param("lightning.qubit", marks=pytest.mark.slow)]
DTYPES = [torch.float32, torch.float64, torch.complex64]


@pytest.mark.parametrize("backend", BACKENDS)
def test_case_6_the_default_model_takes_every_accepted_dtype_on_every_backend(backend):
    """``phases = "aligned"`` (the default) raised ``expected m1 and m2 to have the same dtype`` for a
    float64, float32 or complex64 batch; every dtype now gives the complex128 batch's observables and
    gradients (to single precision for the 32-bit ones)."""
    model = QSAModel(ModelConfig(d=2, T=2, w_layers=1, v_layers=1, backend=backend), seed=0)
    assert model.config.phases == "aligned"
    X = torch.as_tensor(random_states(2, 2, 2, seed=0, real=True))
    Y = torch.as_tensor(random_states(2, 2, 2, seed=1, real=True))

    def run(dtype):
        model.zero_grad()
        obs = model(Sequences(X.to(dtype), Y.to(dtype), field="real"))
        (obs.L_B.sum() + obs.L_1.sum()).backward()
        return obs, model.theta_W.grad.clone()

    want, g_want = run(torch.complex128)
    for dtype in DTYPES:
        got, g_got = run(dtype)
        tol = TOL_F32 if dtype in (torch.float32, torch.complex64) else TOL_STATE
        for field in ("mu", "L_B", "L_1"):
            np.testing.assert_allclose(
                getattr(got, field).detach(),
                getattr(want, field).detach(),
                rtol=0,
                atol=tol,
                err_msg=f"{dtype} {field}",
            )
        np.testing.assert_allclose(g_got, g_want, rtol=0, atol=tol, err_msg=str(dtype))


# --- case 7: circuit B's dense loads were not seen by the qubit check -------------------------------


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 8 GiB available (the preflight reads it through qsa.preflight.available_memory)."""
    monkeypatch.setattr(preflight, "available_memory", lambda: (8 * 2**30, "a test's machine"))
    monkeypatch.setattr(circuit_tier, "build_circuits", lambda *a, **k: pytest.fail("built before the check"))


@pytest.mark.parametrize("backend", ["torch", "default.qubit", "lightning.qubit"])
def test_case_7_circuit_b_at_d16_k3_is_refused_before_anything_is_built(small_machine, backend):
    """T = 1, d = 16, k = 3 (16 qubits): the torch backend asked for 64 GiB and PennyLane raised
    MemoryError after allocating; now a ResourceError names the need and the limit first."""
    x, y = random_states(1, 16, seed=0), random_states(1, 16, seed=1)
    W = random_unitary(16, seed=2)
    with pytest.raises(preflight.ResourceError, match=r"needs \d+ GiB .*this machine has 8 GiB available"):
        qsa.circuit_observables(x, y, W, W, k=3, circuit="B", backend=backend)


def test_case_7_on_aer_the_lowered_circuit_is_counted_and_refused_where_it_cannot_fit(small_machine, monkeypatch):
    """On Aer, circuit B's superposition load lowers to 4 T d^(k+1) = 262144 gates at T = 1, d = 16, k = 3, about
    5 KiB each (measured; it ran for minutes): 1.25 GiB, which 8 GiB holds and 1 GiB does not, where it is
    refused before anything is built."""
    need = max(preflight.circuit_needs("B", 1, 16, 3, backend="aer"), key=lambda n: n.nbytes)
    assert "~2.63e+05 lowered gates x 5 KiB: 1.25 GiB" in need.detail
    assert need.nbytes < 8 * 2**30
    monkeypatch.setattr(preflight, "available_memory", lambda: (2**30, "a test's machine"))
    x, y = random_states(1, 16, seed=0), random_states(1, 16, seed=1)
    W = random_unitary(16, seed=2)
    with pytest.raises(
        preflight.ResourceError, match=r"needs 1.25 GiB .*lowered gates.*this machine has 1 GiB available"
    ):
        qsa.circuit_observables(x, y, W, W, k=3, circuit="B", backend="aer")


def test_every_evaluator_checks_memory_before_building(monkeypatch):
    """The model's evaluators (torch simulator, PennyLane, Aer) refuse a call that cannot fit, before any
    circuit is built (1 MiB available; circuit A at T = 4, d = 16, k = 2 needs more on each)."""
    from qsa.evaluators import make_evaluator
    from qsa.hardware import ExactRunner, HardwareEvaluator

    monkeypatch.setattr(preflight, "available_memory", lambda: (2**20, "a test's machine"))
    X = torch.as_tensor(random_states(1, 4, 16, seed=0))
    params = {name: torch.zeros(1, 4, 3, dtype=torch.float64) for name in ("theta_W", "theta_V")}
    evaluators = [make_evaluator("torch"), make_evaluator("default.qubit"), HardwareEvaluator(ExactRunner())]
    for evaluator in evaluators:
        with pytest.raises(preflight.ResourceError, match="this machine has 1 MiB available"):
            evaluator(params, X, X, k=2, kernel="mono", beta=None)
