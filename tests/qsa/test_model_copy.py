"""Models copy (issue 17): ``copy.deepcopy``, ``pickle`` and ``torch.save(model)`` work on every backend.

Evaluators hold only picklable state (options, seeds, random-generator states) and rebuild their
devices, QNodes, simulators, pass managers and compiled programs lazily after a copy; the copy's
loss equals the original's, exactly (sampled backends repeat their seeded draws).
"""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

from qsa.data import markov_sequences
from qsa.model import ModelConfig, QSAModel

BACKENDS = {
    "analytic": {"backend": "analytic"},
    "torch": {"backend": "torch"},
    "default.qubit": {"backend": "default.qubit"},
    "lightning.qubit": {"backend": "lightning.qubit"},
    "aer": {"backend": "aer"},
    "aer-shots": {"backend": "aer", "shots": 200, "shot_seed": 3},
    "aer-noise": {"backend": "aer", "shots": 200, "shot_seed": 3, "noise": "fake_manila"},
}


def _torch_save(model):
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


COPIES = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda model: pickle.loads(pickle.dumps(model)),
    "torch.save": _torch_save,
}


@pytest.fixture(scope="module")
def batch():
    return markov_sequences(2, T=2, d=2, rho=0.9, seed=0)  # circuit A on 4 qubits: fits fake_manila's 5


def _check_copies(backend: str, batch, copies: dict) -> None:
    model = QSAModel(ModelConfig(d=2, T=2, w_layers=1, v_layers=1, **BACKENDS[backend]), seed=0)
    with torch.no_grad():
        before = float(model.loss(batch))  # devices, QNodes, programs and pass managers now exist
    for how, make in copies.items():
        copied = make(model)
        assert copied is not model and copied.evaluator is not model.evaluator
        with torch.no_grad():
            # with shots every call samples its own stream (qsa.random): a copy draws what the original draws next
            got, want = float(copied.loss(batch)), float(model.loss(batch))
        assert got == want, how
        if "shots" not in BACKENDS[backend]:
            assert got == before, how
        assert all(torch.equal(a, b) for a, b in zip(copied.state_dict().values(), model.state_dict().values()))


@pytest.mark.parametrize("backend", ["analytic", "torch", "aer-shots"])
def test_models_pickle_with_an_equal_loss(backend, batch):
    """The quick ones in the default run; every backend, every way, below (slow: PennyLane and Aer set-up)."""
    _check_copies(backend, batch, {"pickle": COPIES["pickle"]})


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_backend_copies_every_way_with_an_equal_loss(backend, batch):
    _check_copies(backend, batch, COPIES)


def test_a_copy_trains_on_its_own(batch):
    model = QSAModel(ModelConfig(d=2, T=2, w_layers=1, v_layers=1, backend="torch"), seed=0)
    model.loss(batch).backward()
    copied = copy.deepcopy(model)
    with torch.no_grad():
        copied.theta_W.add_(1.0)
    assert not torch.equal(copied.theta_W, model.theta_W)
    copied.zero_grad()
    copied.loss(batch).backward()
    assert copied.theta_W.grad is not None and bool(torch.isfinite(copied.theta_W.grad).all())
