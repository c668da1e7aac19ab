"""qsa.nn.QSAAttention (the analytic twin as a torch layer) and Sequences with a DataLoader."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support import TOL_STATE, random_states
from torch.utils.data import DataLoader

import qsa.nn
from qsa import analytic
from qsa.data import Sequences, collate
from qsa.model import ModelConfig, QSAModel
from qsa.nn import QSAAttention

ROOT = Path(__file__).resolve().parents[2]


def _sequences(rng, S=5, T=6, d=4):
    X = torch.from_numpy(random_states(rng, S, T, d))
    Y = torch.from_numpy(random_states(rng, S, T, d))
    return Sequences(X, Y)


@pytest.mark.parametrize("kernel, k", [("mono", 2), ("poly", 3)])
def test_predictions_and_probabilities_equal_qsamodels(rng, kernel, k):
    seqs = _sequences(rng)
    model = QSAModel(ModelConfig(d=4, T=6, k=k, kernel=kernel, w_layers=3, v_layers=2), seed=7)
    attention = QSAAttention(4, k=k, kernel=kernel, w_layers=3, v_layers=2, seed=7)
    np.testing.assert_array_equal(attention.theta_W.detach(), model.theta_W.detach())  # same seed streams
    z = attention(seqs.X)
    np.testing.assert_allclose(z.detach(), model.predictions(seqs).detach(), rtol=0, atol=TOL_STATE)
    p = analytic.step_probabilities(z, seqs.Y)  # (S, T): the circuit's per-step probabilities
    np.testing.assert_allclose(p.detach(), model(seqs).p.detach(), rtol=0, atol=TOL_STATE)


def test_weights_are_the_causal_kernel_and_rebuild_the_output(rng):
    attention = QSAAttention(8, k=2, seed=1)
    x = torch.randn(3, 5, 8, dtype=torch.float64)  # real features, any norm
    z, weights = attention(x, need_weights=True)
    assert z.shape == (3, 5, 8) and weights.shape == (3, 5, 5) and z.dtype == torch.complex128
    assert bool((weights.triu(1) == 0).all())
    W, V = attention.unitaries()
    X = (x / x.norm(dim=-1, keepdim=True)).to(torch.complex128)
    np.testing.assert_allclose(weights.detach(), torch.tril((X.conj() @ W @ X.mT) ** 2).detach(), atol=TOL_STATE)
    np.testing.assert_allclose(z.detach(), (weights @ X @ V.T).detach(), rtol=0, atol=TOL_STATE)
    # Causal: changing the last token leaves every earlier prediction unchanged.
    x2 = x.clone()
    x2[:, -1] = torch.randn(3, 8, dtype=torch.float64)
    np.testing.assert_array_equal(attention(x2)[:, :-1].detach(), z[:, :-1].detach())
    # Unbatched input, and batch equals loop.
    np.testing.assert_allclose(attention(x[1]).detach(), z[1].detach(), rtol=0, atol=TOL_STATE)


def test_gradients_reach_the_angles_and_the_inputs():
    attention = QSAAttention(4, k=2, seed=0)
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    attention(x).abs().sum().backward()
    assert attention.theta_W.grad.abs().sum() > 0 and attention.theta_V.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: QSAAttention(6, seed=0), ValueError, "power of two"),
        (lambda: QSAAttention(4, k=0, seed=0), ValueError, "k must be"),
        (lambda: QSAAttention(4, normalize=1, seed=0), TypeError, "normalize must be a bool"),
        (lambda: QSAAttention(4, seed=0)(torch.randn(2, 3, 8)), ValueError, r"x must have shape \(batch, seq, 4\)"),
        (lambda: QSAAttention(4, seed=0)(torch.zeros(1, 2, 4)), ValueError, "non-zero rows"),
        (lambda: QSAAttention(4, seed=0, normalize=False)(2 * torch.eye(4)[None]), ValueError, "x must have unit"),
        (lambda: QSAAttention(4, seed=0)(torch.ones(1, 2, 4, dtype=torch.long)), TypeError, "floating"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_sequences_work_with_a_dataloader_both_ways(rng):
    seqs = _sequences(rng, S=5)
    loader = DataLoader(
        seqs, batch_size=2, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(0)
    )
    batches = list(loader)
    assert [len(b) for b in batches] == [2, 2, 1] and all(isinstance(b, Sequences) for b in batches)
    seen = torch.cat([b.X for b in batches])
    order = [int(torch.nonzero((seqs.X == row).all(-1).all(-1))[0]) for row in seen]
    assert sorted(order) == list(range(5))  # every sequence once
    x, y = next(iter(DataLoader(seqs.as_dataset(), batch_size=3)))
    assert torch.equal(x, seqs.X[:3]) and torch.equal(y, seqs.Y[:3])
    with pytest.raises(ValueError, match="must share T, d"):
        collate([seqs[0], Sequences(seqs.X[:1, :3], seqs.Y[:1, :3])])
    with pytest.raises(ValueError, match="non-empty"):
        collate([])


def _module_example() -> str:
    block = re.search(r"\.\. code-block:: python\n\n(.*?)\n\nIt prints ``(.*?)``", qsa.nn.__doc__, re.S)
    return "\n".join(line[4:] for line in block.group(1).splitlines()), block.group(2)


def test_the_20_line_torch_example_prints_what_its_docstring_says():
    """Acceptance (issue 16): a 20-line torch model with QSAAttention, a DataLoader and AdamW."""
    code, printed = _module_example()
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 20 and "AdamW" in code and "DataLoader" in code and "QSAAttention(" in code, len(lines)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == printed
    train, test, chance = map(float, re.findall(r"[\d.]+(?=,|$)", printed))
    assert train < 0.25 * chance and test < 0.75 * chance
