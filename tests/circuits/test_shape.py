"""The one Shape: every builder, counter and cache key goes through it; it checks its fields once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qsa.circuits import Shape, circuit_a, circuit_b
from qsa.circuits.linalg import householder


@pytest.mark.parametrize(
    "shape",
    [
        Shape("A", 3, 2, 1, w_layers=1, v_layers=2, phases=True),
        Shape("A", 5, 4, 2, "poly", 1.5, 2, 1),
        Shape("A", 4, 2, 2),  # W and V as matrices
        Shape("B", 3, 4, 1, w_layers=1, v_layers=1, phases=True),
        Shape("B", 1, 2, 2),
    ],
    ids=str,
)
def test_build_is_the_builder_with_the_shape_fields(shape):
    for variant, qc in shape.build_all().items():
        if shape.circuit == "A":
            expected = circuit_a(
                shape.T,
                shape.d,
                shape.k,
                kernel=shape.kernel,
                beta=shape.beta,
                variant=variant,
                w_layers=shape.w_layers,
                v_layers=shape.v_layers,
                phases=shape.phases and variant == "mu",
            )
        else:
            expected = circuit_b(
                shape.T, shape.d, shape.k, w_layers=shape.w_layers, v_layers=shape.v_layers, phases=shape.phases
            )
        assert qc.circuit == expected.circuit
        assert (qc.variant, qc.zero_wires, qc.index_wires) == (variant, expected.zero_wires, expected.index_wires)
        assert qc.shape == shape and qc.n_qubits == shape.n_wires
        specs = {spec.name: spec.shape for spec in qc.circuit.params}
        assert specs == shape.parameter_shapes(variant)
    assert tuple(shape.build_all()) == shape.variants
    assert shape.build() is shape.build(shape.variants[0])  # cached per (shape, variant)


def test_labels_widths_and_trainable_shapes():
    assert Shape("A", 8, 4, 2).label == "A-mono" and Shape("A", 8, 4, 2, "poly").label == "A-poly"
    assert Shape("B", 8, 4, 2).label == "B"
    # c = 3, n = 2: A 2c + (k+1) n (+ k for poly), B c + (k+1) n
    assert (Shape("A", 8, 4, 2).n_wires, Shape("A", 8, 4, 2, "poly").n_wires, Shape("B", 8, 4, 2).n_wires) == (
        12,
        14,
        9,
    )
    assert Shape("A", 4, 4, 1, w_layers=3, v_layers=2, phases=True).trainable_shapes() == {
        "theta_W": (3, 2, 3),
        "theta_V": (2, 2, 3),
        "phi": (4,),
    }
    assert Shape("A", 4, 4, 1).trainable_shapes() == {}
    assert Shape("A", 4, 2, 1, "poly").resolved_beta == pytest.approx(np.sqrt(2))
    assert Shape("A", 4, 2, 1).resolved_beta is None


def test_records_round_trip_and_old_records_are_read():
    shape = Shape("A", 4, 2, 2, "poly", 2.0, 1, 1, True)
    assert Shape.from_dict(shape.as_dict()) == shape
    old = {**shape.as_dict()}
    old["family"] = old.pop("circuit")  # records written before the field was renamed
    assert Shape.from_dict(old) == shape
    with pytest.raises(ValueError, match="unknown"):
        Shape.from_dict({**shape.as_dict(), "layers": 2})
    assert len({Shape("A", 4, 2), Shape("A", 4, 2), Shape("A", 4, 2, phases=True)}) == 2  # a cache key


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"circuit": "C"}, ValueError, "circuit must be one of"),
        ({"T": 0}, ValueError, "T must be >= 1"),
        ({"d": 6}, ValueError, "d must be a power of two"),
        ({"k": 1.5}, TypeError, "k must be an integer"),
        ({"kernel": "exp"}, ValueError, "kernel must be one of"),
        ({"beta": -1.0}, ValueError, "beta must be positive"),
        ({"w_layers": 0}, ValueError, "w_layers must be >= 1"),
        ({"phases": 1}, TypeError, "phases must be a bool"),
        ({"circuit": "B", "kernel": "poly"}, ValueError, "kernel must be 'mono' for circuit B"),
    ],
)
def test_bad_fields_are_refused(kwargs, error, match):
    fields = {"circuit": "A", "T": 4, "d": 2, **kwargs}
    with pytest.raises(error, match=match):
        Shape(**fields)
    with pytest.raises(ValueError, match="variant must be one of"):
        Shape("B", 4, 2).build("mu")


def test_householder_is_one_function_for_numpy_and_torch(rng):
    x = rng.normal(size=(5, 8)) + 1j * rng.normal(size=(5, 8))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    x[0] = np.eye(8)[0] * np.exp(0.3j)  # a multiple of e_0
    U = householder(x)
    Ut = householder(torch.as_tensor(x))
    assert isinstance(Ut, torch.Tensor)
    np.testing.assert_allclose(Ut.numpy(), U, rtol=0, atol=1e-14)
    np.testing.assert_allclose(U[..., 0], x, rtol=0, atol=1e-14)
    np.testing.assert_allclose(U.conj().transpose(0, 2, 1) @ U, np.broadcast_to(np.eye(8), U.shape), atol=1e-14)
    xt = torch.as_tensor(x[1:2], dtype=torch.complex128).requires_grad_(True)
    householder(xt).abs().sum().backward()
    assert torch.isfinite(xt.grad).all()
