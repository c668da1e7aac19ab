"""Fake backends, ISA transpilation reports, and the restricted noisy simulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from support import random_states

from qsa.hardware import HardwareEvaluator, NoisyAerRunner, noise


def _ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.rx(0.3, n - 1)
    qc.measure(range(n), range(n))
    return qc


def test_unknown_fake_backend_is_refused_with_the_names():
    with pytest.raises(
        ValueError, match="backend must be one of the fake backends .*fake_torino.*; got 'fake_nowhere'"
    ):
        noise.fake_backend("fake_nowhere")
    assert set(noise.HERON + noise.EAGLE) <= set(noise.fake_backend_names())


@pytest.mark.parametrize("name, gate", [("fake_torino", "cz"), ("fake_sherbrooke", "ecr")])
def test_transpile_report_counts_the_native_two_qubit_gate(name, gate):
    backend = noise.fake_backend(name)
    assert noise.two_qubit_gate_names(backend) == (gate,)
    isa = noise.isa_pass_manager(backend, seed_transpiler=3).run(_ghz(3))
    report = noise.transpile_report(isa, backend, logical_qubits=3)
    assert report.two_qubit_gates == isa.count_ops()[gate] >= 2
    assert report.depth >= report.two_qubit_depth >= 2 and len(report.physical_qubits) == 3
    assert report.duration_seconds > 0
    again = noise.isa_pass_manager(backend, seed_transpiler=3).run(_ghz(3))
    assert again == isa  # a fixed seed_transpiler repeats


def _counts(sim, circuit, shots=4000):
    return sim.run(circuit, shots=shots).result().get_counts()


def test_restricted_noise_equals_the_full_device_on_a_small_device():
    """Same seed, same counts: the restricted noise model is the device's on the qubits used."""
    from qiskit_aer import AerSimulator

    backend = noise.fake_backend("fake_manila")
    isa = noise.isa_pass_manager(backend, seed_transpiler=1).run(_ghz(3))
    qubits = noise.active_qubits(isa)
    full = AerSimulator.from_backend(backend, seed_simulator=5)
    restricted = noise.noisy_simulator(backend, qubits, seed=5)
    assert _counts(restricted, noise.restrict_circuit(isa, qubits)) == _counts(full, isa)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fake_torino", "fake_sherbrooke"])
def test_restricted_noise_equals_the_full_device_on_large_devices(name):
    from qiskit_aer import AerSimulator

    backend = noise.fake_backend(name)
    isa = noise.isa_pass_manager(backend, seed_transpiler=2).run(_ghz(4))
    qubits = noise.active_qubits(isa)
    full = AerSimulator.from_backend(backend, seed_simulator=8)
    restricted = noise.noisy_simulator(backend, qubits, seed=8)
    assert _counts(restricted, noise.restrict_circuit(isa, qubits)) == _counts(full, isa)


def test_restricted_backend_checks_its_qubits():
    backend = noise.fake_backend("fake_manila")
    with pytest.raises(ValueError, match="qubits must be distinct physical qubits"):
        noise.restricted_backend(backend, (0, 0))
    with pytest.raises(ValueError, match="qubits must be distinct physical qubits"):
        noise.restricted_backend(backend, (7,))


def test_a_circuit_too_wide_for_the_backend_is_refused_before_any_job():
    rng = np.random.default_rng(0)
    X = torch.as_tensor(random_states(rng, 1, 4, 2))
    params = {
        "theta_W": torch.zeros(1, 1, 3, dtype=torch.float64),
        "theta_V": torch.zeros(1, 1, 3, dtype=torch.float64),
    }
    ev = HardwareEvaluator(NoisyAerRunner("fake_manila", shots=100, seed=0))
    with pytest.raises(ValueError, match="the circuit must fit the backend: it has 6 qubits .* the backend has 5"):
        ev(params, X, X, k=1)
    assert ev.job_ids == []


def test_noise_moves_the_estimates_away_from_exact():
    """On a fake Heron device the noisy mu, zeta, nu of a (4, 2, 1) circuit are far from the exact
    ones in units of their shot errors: chi^2 over 6 values is about 6 without noise (a smoke check
    that the noise model is on; experiments/hardware_noise measures the shifts)."""
    from qsa import analytic
    from qsa.ansatz import ansatz_unitary

    rng = np.random.default_rng(4)
    X, Y = (torch.as_tensor(random_states(rng, 2, 4, 2)) for _ in range(2))
    params = {
        "theta_W": torch.as_tensor(rng.normal(size=(1, 1, 3))),
        "theta_V": torch.as_tensor(rng.normal(size=(1, 1, 3))),
    }
    est = HardwareEvaluator(NoisyAerRunner("fake_torino", shots=20_000, seed=1)).estimate(params, X, Y, k=1)
    exact = analytic.observables(X, Y, ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"]), k=1)
    z = est.z_scores(exact, ("mu", "zeta", "nu"))
    chi2 = sum(float((v**2).sum()) for v in z.values())
    assert chi2 > 200, z
