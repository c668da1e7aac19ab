"""The shared Sequences container: checks on construction, indexing, batching, casting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import TOL_STATE, random_states

from qsa.analytic import chance_levels
from qsa.data import Sequences


def _seqs(rng, S=5, T=4, d=8, real=False) -> Sequences:
    states = random_states(rng, S, T + 1, d, real=real)
    return Sequences.from_trajectories(states, field="real" if real else "complex", meta={"source": "test"})


def test_from_trajectories_shifts_targets_by_one(rng):
    states = random_states(rng, 3, 6, 4)
    seqs = Sequences.from_trajectories(states)
    assert (len(seqs), seqs.T, seqs.d, seqs.n_qubits) == (3, 5, 4, 2)
    assert seqs.dtype == torch.complex128
    np.testing.assert_array_equal(seqs.X.numpy(), states[:, :-1])
    np.testing.assert_array_equal(seqs.Y.numpy(), states[:, 1:])


def test_int_index_keeps_batch_axis_and_negative_index_counts_from_end(rng):
    seqs = _seqs(rng)
    one = seqs[-1]
    assert isinstance(one, Sequences) and one.X.shape == (1, 4, 8)
    torch.testing.assert_close(one.X, seqs.X[4:5], rtol=0, atol=0)
    assert seqs[1:3].X.shape == (2, 4, 8)
    torch.testing.assert_close(seqs[[4, 0]].Y, seqs.Y[[4, 0]], rtol=0, atol=0)
    assert one.meta["source"] == "test"


def test_batches_visit_every_sequence_once_reproducibly(rng):
    seqs = _seqs(rng, S=7)
    batches = list(seqs.batches(3, seed=11))
    assert [len(b) for b in batches] == [3, 3, 1]
    rows = torch.cat([b.X for b in batches])
    # every sequence exactly once: match rows back to their index
    idx = sorted(int(torch.nonzero((seqs.X == r).all(-1).all(-1))[0]) for r in rows)
    assert idx == list(range(7))
    again = torch.cat([b.X for b in seqs.batches(3, seed=11)])
    torch.testing.assert_close(again, rows, rtol=0, atol=0)
    other = torch.cat([b.X for b in seqs.batches(3, seed=12)])
    assert not torch.equal(other, rows)
    assert [len(b) for b in seqs.batches(3, seed=11, drop_last=True)] == [3, 3]
    in_order = torch.cat([b.X for b in seqs.batches(2, shuffle=False)])
    torch.testing.assert_close(in_order, seqs.X, rtol=0, atol=0)


def test_one_generator_gives_different_but_reproducible_epochs(rng):
    seqs = _seqs(rng, S=6)
    g = np.random.default_rng(5)
    e1 = torch.cat([b.X for b in seqs.batches(6, seed=g)])
    e2 = torch.cat([b.X for b in seqs.batches(6, seed=g)])
    g = np.random.default_rng(5)
    torch.testing.assert_close(torch.cat([b.X for b in seqs.batches(6, seed=g)]), e1, rtol=0, atol=0)
    assert not torch.equal(e1, e2)


def test_to_casts_complex_and_real_only_for_real_field(rng):
    seqs = _seqs(rng)
    c64 = seqs.to(torch.complex64)
    assert c64.dtype == torch.complex64
    np.testing.assert_allclose(c64.to(torch.complex128).X.numpy(), seqs.X.numpy(), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="dtype must be complex for field='complex'"):
        seqs.to(torch.float64)
    real = _seqs(rng, real=True)
    r = real.to(torch.float64)
    assert r.dtype == torch.float64 and r.field == "real"
    np.testing.assert_array_equal(r.X.numpy(), real.X.real.numpy())
    with pytest.raises(ValueError, match="dtype must be torch.complex128 or torch.complex64"):
        seqs.to(torch.int64)


def test_chance_levels_follow_the_field(rng):
    assert _seqs(rng).chance_levels() == chance_levels(8, field="complex")
    assert _seqs(rng, real=True).chance_levels() == chance_levels(8, field="real")


def test_meta_is_read_only(rng):
    seqs = _seqs(rng)
    with pytest.raises(TypeError):
        seqs.meta["source"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda X, Y: Sequences(X.numpy(), Y), TypeError, "X must be a torch.Tensor"),
        (lambda X, Y: Sequences(X[0], Y[0]), ValueError, r"X must have shape \(S, T, d\)"),
        (lambda X, Y: Sequences(X, Y[:, :2]), ValueError, "Y must have the shape of X"),
        (lambda X, Y: Sequences(X, Y.to(torch.complex64)), ValueError, "Y must have the dtype of X"),
        (lambda X, Y: Sequences(X[:, :0], Y[:, :0]), ValueError, r"at least one step"),
        (lambda X, Y: Sequences(X[..., :6], Y[..., :6]), ValueError, "power of two"),
        (lambda X, Y: Sequences(2 * X, Y), ValueError, "X must have unit-norm rows"),
        (lambda X, Y: Sequences(X, Y * float("nan")), ValueError, "Y must be finite"),
        (lambda X, Y: Sequences(X, Y, field="quaternion"), ValueError, "field must be one of"),
        (lambda X, Y: Sequences(X, Y, field="real"), ValueError, "X must have zero imaginary part"),
        (lambda X, Y: Sequences(X.real, Y.real), ValueError, "X must be complex for field='complex'"),
        (lambda X, Y: Sequences(X.requires_grad_(), Y), ValueError, "must not require grad"),
        (lambda X, Y: Sequences(X, Y, meta=[1]), TypeError, "meta must be a mapping"),
    ],
)
def test_bad_construction_raises(rng, make, error, match):
    states = torch.as_tensor(random_states(rng, 2, 4, 8))
    with pytest.raises(error, match=match):
        make(states[:, :-1].clone(), states[:, 1:].clone())


def test_bad_indexing_and_batching_raise(rng):
    seqs = _seqs(rng)
    with pytest.raises(IndexError, match=r"index must be in \[-5, 5\); got 5"):
        seqs[5]
    with pytest.raises(TypeError, match="index must be"):
        seqs[True]
    with pytest.raises(TypeError, match="index must be"):
        seqs[np.array([0.5])]
    with pytest.raises(ValueError, match="seed must be given when shuffle=True"):
        next(seqs.batches(2))
    with pytest.raises(ValueError, match="seed must be None when shuffle=False"):
        next(seqs.batches(2, shuffle=False, seed=1))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        next(seqs.batches(0, seed=1))
    with pytest.raises(TypeError, match="seed must be a non-negative int or a numpy.random.Generator"):
        next(seqs.batches(2, seed=1.5))
    with pytest.raises(ValueError, match=r"states must have shape \(S, T\+1, d\)"):
        Sequences.from_trajectories(random_states(rng, 2, 1, 4))


def test_round_off_in_norms_is_accepted_and_not_renormalised(rng):
    states = torch.as_tensor(random_states(rng, 2, 4, 8))
    X = states[:, :-1] * (1 + 1e-12)  # float64 round-off in a norm: accepted as a unit row
    seqs = Sequences(X, states[:, 1:].clone())
    assert seqs.X is X  # stored as given, never silently normalised
    np.testing.assert_allclose(torch.linalg.vector_norm(seqs.X, dim=-1).numpy(), 1.0, atol=TOL_STATE, rtol=0)
