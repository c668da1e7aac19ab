"""Memory preflight: estimates from sizes alone, refusals before anything is built, the machine's limit."""

from __future__ import annotations

import sys
import tracemalloc

import pytest

from qsa import circuit_tier, preflight
from qsa.circuits import circuit_a, circuit_b
from qsa.random import random_states, random_unitary
from qsa.resources.sweep import SweepConfig


@pytest.mark.parametrize("text, expected", [("16 GiB", 16 * 2**30), ("512MiB", 512 * 2**20), ("2e9", 2 * 10**9),
                                            ("8G", 8 * 10**9), (" 1.5 kib ", 1536), (4096, 4096)])  # fmt: skip
def test_sizes_parse(text, expected):
    assert preflight.parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "-1GiB", "0", 0, -5, True, "16 GiBs", 1.5])
def test_bad_sizes_are_refused_naming_the_setting(bad):
    with pytest.raises(ValueError, match=r"train.memory_limit must be a positive"):
        preflight.parse_size(bad, "train.memory_limit")


def test_sizes_format():
    assert [preflight.format_size(n) for n in (512, 2**10, 3 * 2**29, 2**32 * 16, 2**53)] == [
        "512 B",
        "1 KiB",
        "1.5 GiB",
        "64 GiB",
        "8 PiB",
    ]


@pytest.mark.parametrize(
    "circuit, T, d, k, kernel",
    [
        ("A", 8, 4, 1, "mono"),
        ("A", 5, 2, 2, "poly"),
        ("A", 1, 8, 1, "mono"),
        ("B", 8, 4, 2, "mono"),
        ("B", 3, 2, 1, "mono"),
    ],
)
def test_qubit_counts_match_the_builders(circuit, T, d, k, kernel):
    built = circuit_a(T, d, k, kernel=kernel) if circuit == "A" else circuit_b(T, d, k)
    assert preflight.circuit_qubits(circuit, T, d, k, kernel=kernel) == built.n_qubits
    need = preflight.circuit_need(circuit, T, d, k, kernel=kernel, backend="aer")
    assert f"({built.n_qubits} qubits)" in need.what
    assert f"statevector 2^{built.n_qubits} amplitudes x 16 B:" in need.detail


def test_the_circuit_keyword_and_its_deprecated_name_family():
    """``circuit=`` names circuit A or B ("family" means a model family); ``family=`` still works, with a
    DeprecationWarning, and gives the same result; both at once, or another circuit, are refused."""
    assert preflight.circuit_qubits(circuit="B", T=1, d=16, k=3) == 16
    for function in (preflight.circuit_qubits, preflight.circuit_need, preflight.circuit_needs):
        with pytest.warns(DeprecationWarning, match=rf"{function.__name__}\(family=...\) is deprecated"):
            old = function(family="B", T=2, d=4, k=1)
        assert old == function(circuit="B", T=2, d=4, k=1)
        with pytest.raises(TypeError, match="got both circuit and its deprecated name family"):
            function("B", family="B", T=2, d=4, k=1)
        with pytest.raises(ValueError, match="circuit must be 'A' or 'B'; got 'qsa'"):
            function("qsa", 2, 4, 1)


def test_the_statevector_term_is_amplitudes_times_bytes_times_copies():
    # circuit A at T = 4096, d = 4, k = 3: 2*12 + 4*2 = 32 qubits
    for backend, copies in preflight.STATE_COPIES.items():
        need = preflight.circuit_need("A", 4096, 4, 3, backend=backend)
        assert (
            f"2^32 amplitudes x 16 B{f' x {copies} states' if copies > 1 else ''}: {2**32 * 16 * copies // 2**30} GiB"
            in need.detail
        )
        assert need.nbytes >= 2**32 * 16 * copies
    single = preflight.circuit_need("A", 4096, 4, 3, backend="aer", amplitude_bytes=8)
    assert "2^32 amplitudes x 8 B: 32 GiB" in single.detail


def test_circuit_b_counts_its_dense_superposition_load():
    """default.qubit applies circuit B's psi load as one block-diagonal matrix on all wires: (2^n)^2 entries."""
    need = preflight.circuit_need("B", 8, 8, 3, backend="default.qubit")  # 3 + 4*3 = 15 qubits
    assert need.nbytes >= (2**15) ** 2 * 16
    assert preflight.circuit_need("B", 8, 8, 3, backend="lightning.qubit").nbytes < (2**15) ** 2 * 16


def test_gradients_keep_more_states():
    plain = preflight.circuit_need("A", 16, 4, 2, backend="default.qubit")
    trained = preflight.circuit_need("A", 16, 4, 2, backend="default.qubit", training=True)
    adjoint = preflight.circuit_need("A", 16, 4, 2, variant="zeta", backend="lightning.qubit", training=True)
    assert trained.nbytes > plain.nbytes and "with backprop gradients" in trained.what
    assert "x 18 states" in adjoint.detail  # state, its adjoint copy and one per observable (T = 16)


def test_check_refuses_over_the_limit_with_the_estimate_and_the_limit():
    need = preflight.circuit_need("A", 4096, 4, 3, backend="lightning.qubit", names={"T": "data.T"})
    with pytest.raises(preflight.ResourceError) as info:
        preflight.check(need, limit="1 GiB", key="train.memory_limit")
    message = str(info.value)
    assert message.startswith(
        "the mu circuit (32 qubits) at data.T = 4096, d = 4, k = 3 on backend = 'lightning.qubit' needs"
    )
    assert "the limit train.memory_limit allows is 1 GiB; reduce data.T, d or k" in message
    assert info.value.key == "data.T" and isinstance(info.value, ValueError)
    small = preflight.circuit_need("A", 4, 2, 1, backend="torch")
    assert preflight.check([small], limit="1 GiB") == [small]


def test_the_machine_limit_comes_from_psutil_or_proc_meminfo(monkeypatch):
    found = preflight.available_memory()
    assert found is not None and found[0] > 0
    monkeypatch.setitem(sys.modules, "psutil", None)  # as if psutil were not installed
    fallback = preflight.available_memory()
    assert fallback is not None and fallback[1] in (
        "MemAvailable in /proc/meminfo",
        "this container's cgroup memory limit",
    )
    limit = preflight.resolve_limit()
    assert limit.describe() == f"this machine has {preflight.format_size(limit.nbytes)} available ({fallback[1]})"


def test_proc_meminfo_agrees_with_psutil():
    psutil = pytest.importorskip("psutil")
    ours = preflight._meminfo_available()
    theirs = psutil.virtual_memory().available
    assert abs(ours - theirs) < 256 * 2**20  # the same MemAvailable line, read a moment apart


def test_circuit_observables_refuses_before_building_anything(monkeypatch):
    monkeypatch.setattr(circuit_tier, "build_circuits", lambda *a, **k: pytest.fail("built before the check"))
    X, Y = random_states(4096, 4, seed=0), random_states(4096, 4, seed=1)
    W = random_unitary(4, seed=2)
    for name in circuit_tier.backends.MAX_QUBITS:  # past the static width limits: memory decides
        monkeypatch.setitem(circuit_tier.backends.MAX_QUBITS, name, 40)
    for backend in ("default.qubit", "lightning.qubit", "torch", "aer"):
        with pytest.raises(
            preflight.ResourceError, match=rf"\(32 qubits\) at T = 4096, d = 4, k = 3 on backend = '{backend}'"
        ):
            circuit_tier.circuit_observables(X, Y, W, W, k=3, backend=backend)


def test_the_sweep_at_a_million_steps_is_refused_at_once():
    config = SweepConfig(circuits=("A-mono", "B"), T=(8, 1048576), d=(4,), k=(1,))
    tracemalloc.start()
    try:
        need = preflight.sweep_need(config, names={"T": "--T"})
        with pytest.raises(
            preflight.ResourceError, match=r"the gate-count sweep at circuit B, --T 1048576, d 4, k 1 needs"
        ):
            preflight.check(need)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # arithmetic only (no timed assert); the sweep itself would try to allocate hundreds of TiB
    assert preflight.sweep_need(SweepConfig(T=(8,), d=(4,), k=(1,))).nbytes < 2**30


@pytest.mark.slow
def test_the_index_amplitude_constant_matches_a_measurement():
    """BYTES_PER_INDEX_AMPLITUDE against tracemalloc's peak while circuit A at T = 256 is built and counted."""
    import tracemalloc

    from qsa.resources.counts import Shape, logical_counts

    tracemalloc.start()
    logical_counts(Shape("A-mono", 256, 4, 1))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    per_amplitude = peak / 4**8
    assert preflight.BYTES_PER_INDEX_AMPLITUDE / 2 < per_amplitude <= preflight.BYTES_PER_INDEX_AMPLITUDE * 1.2
