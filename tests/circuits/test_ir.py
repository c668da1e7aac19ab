"""The IR records: validation, parameter resolution, counts, depth, adjoints, composition."""

from __future__ import annotations

import numpy as np
import pytest

from qsa.circuits import Circuit, Gate, Param, ParamSpec, Register, Select, StatePrep, Unitary, bits
from qsa.circuits.ir import resolve


def test_param_resolves_scaled_entry_and_negates():
    theta = np.arange(12.0).reshape(2, 2, 3)
    p = Param("theta", (1, 0, 2))
    assert resolve(p, {"theta": theta}) == 8.0
    assert resolve(-p, {"theta": theta}) == -8.0
    assert resolve(0.25, {}) == 0.25
    with pytest.raises(KeyError, match="parameter 'phi' must be given"):
        resolve(Param("phi", (0,)), {"theta": theta})


def test_bits_are_most_significant_first():
    assert bits(6, 3) == (1, 1, 0)
    assert bits(0, 0) == ()
    with pytest.raises(ValueError, match="value must lie in"):
        bits(8, 3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Gate("RQ", (0,)), "gate name must be one of"),
        (lambda: Gate("RY", (0,)), "must have 1 wires and 1 angles"),
        (lambda: Gate("CNOT", (0, 0)), "wires must be distinct"),
        (lambda: Gate("X", (0,), (), (1,), (2,)), "control_values must be 0 or 1"),
        (lambda: Gate("X", (0,), (), (1, 2), (1,)), "one entry per control wire"),
        (lambda: StatePrep((0.6, 0.6), (0,)), "unit norm"),
        (lambda: StatePrep((1.0, 0.0, 0.0), (0,)), "2\\^1 = 2 entries"),
        (lambda: StatePrep((-1.0, 0.0), (0,)), "non-negative"),
        (lambda: Select("x", (0,), (1,), (0, 1, 2)), "between 1 and 2\\^1 entries"),
        (lambda: Circuit(1, (Gate("X", (1,)),)), "outside the circuit's 1 wires"),
        (lambda: Circuit(-1), "n_wires must be a non-negative integer"),
    ],
)
def test_malformed_operations_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_count_ops_labels_controls():
    c = Circuit(
        3,
        (
            Gate("RY", (0,), (0.1,)),
            Gate("RY", (2,), (0.1,), (0,), (1,)),
            Gate("X", (2,), (), (0, 1), (1, 0)),
            Unitary("W", (1, 2)),
            Select("x", (0,), (1, 2), (0, 1)),
        ),
    )
    assert c.count_ops() == {"RY": 1, "C(RY)": 1, "C2(X)": 1, "Unitary": 1, "Select": 1}


def test_depth_counts_layers_over_all_wires_of_each_op():
    c = Circuit(
        3,
        (
            Gate("H", (0,)),
            Gate("H", (1,)),  # parallel with the first
            Gate("CNOT", (0, 2)),
            Gate("X", (1,)),  # still layer 2 on wire 1
            Gate("GlobalPhase", (), (0.3,)),  # occupies nothing
            Gate("RZ", (2,), (0.1,), (1,), (1,)),
        ),
    )
    assert c.depth() == 3


def test_adjoint_reverses_and_inverts():
    c = Circuit(2, (Gate("RX", (0,), (Param("t", (0,)),)), Gate("CNOT", (0, 1)), Unitary("W", (1,))))
    a = c.adjoint()
    assert a.ops[0] == Unitary("W", (1,), dagger=True)
    assert a.ops[1] == Gate("CNOT", (0, 1))
    assert a.ops[2].params[0] == Param("t", (0,), -1.0)
    assert a.adjoint() == c


def test_compose_merges_registers_and_specs_and_refuses_conflicts():
    a = Circuit(2, registers=(Register("A", (0,)),), params=(ParamSpec("x", (2, 2), "data"),))
    b = Circuit(3, registers=(Register("B", (2,)),), params=(ParamSpec("x", (2, 2), "data"),))
    c = a.compose(b)
    assert c.n_wires == 3 and c.register("B") == (2,) and len(c.params) == 1
    with pytest.raises(ValueError, match="one shape and kind"):
        a.compose(Circuit(1, params=(ParamSpec("x", (3, 2), "data"),)))
    with pytest.raises(ValueError, match="same wires"):
        a.compose(Circuit(1, registers=(Register("A", (1,)),)))
    with pytest.raises(KeyError, match="register name must be one of"):
        c.register("Z")


def test_circuits_are_hashable_values():
    make = lambda: Circuit(1, (Gate("RY", (0,), (Param("t", (0,)),)),))  # noqa: E731
    assert make() == make() and hash(make()) == hash(make())
