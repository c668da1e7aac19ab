"""Transpiled counts on the heavy-hex fake backends: native gates, reproducible, cached by circuit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qsa.circuits import Shape
from qsa.resources import TranspileCache, logical_counts, shape, transpiled_counts
from qsa.resources.transpiled import BACKENDS, fake_backend

NATIVE_2Q = {"heron": "cz", "eagle": "ecr"}


@pytest.fixture(scope="module")
def small() -> Shape:
    return shape("B", 4, 2, 1, n_layers=2)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_heron_and_eagle_are_the_named_heavy_hex_devices(backend):
    target = fake_backend(backend)
    assert NATIVE_2Q[backend] in target.operation_names
    neighbours: dict[int, set] = {}
    for a, b in target.coupling_map.get_edges():
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    assert max(len(v) for v in neighbours.values()) == 3  # heavy-hex
    assert target.num_qubits >= 127


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_transpiled_circuit_is_native_and_counted(small, backend):
    got = transpiled_counts(small, backend, seed_transpiler=7)
    assert set(got.ops) <= {NATIVE_2Q[backend], "rz", "sx", "x"}
    assert got.two_qubit == got.ops[NATIVE_2Q[backend]]
    assert 0 < got.two_qubit_depth <= got.two_qubit <= got.depth
    assert got.n_physical >= logical_counts(small).n_qubits
    assert (got.optimization_level, got.seed_transpiler, got.cached) == (2, 7, False)
    again = transpiled_counts(small, backend, seed_transpiler=7)
    assert (again.two_qubit, again.two_qubit_depth) == (got.two_qubit, got.two_qubit_depth)


def test_cache_returns_the_stored_result_and_keys_on_settings(small, tmp_path):
    cache = TranspileCache(tmp_path / "cache")
    first = transpiled_counts(small, "heron", cache=cache)
    assert not first.cached and len(list((tmp_path / "cache").glob("*.json"))) == 1
    second = transpiled_counts(small, "heron", cache=cache)
    assert second.cached and replace(second, cached=False) == first
    keys = {TranspileCache.key("abc", b, lvl, s) for b in BACKENDS for lvl in (1, 2) for s in (0, 1)}
    assert len(keys) == 8


def test_bad_transpiler_input(small):
    with pytest.raises(ValueError, match="backend must be one of"):
        transpiled_counts(small, "falcon")
    with pytest.raises(ValueError, match="optimization_level must be"):
        transpiled_counts(small, "heron", optimization_level=4)
    with pytest.raises(TypeError, match="shape must be a Shape"):
        transpiled_counts("B", "heron")
