r"""The container every data source returns: ``S`` sequences of ``T`` tokens and targets.

A sequence has query/key tokens ``x_0..x_{T-1}`` and targets ``y_0..y_{T-1}`` (docs/method.md
section 1), unit vectors of width ``d = 2^n``:

.. math::

    X \in \mathbb{C}^{S \times T \times d},\quad Y \in \mathbb{C}^{S \times T \times d},\quad
    \|X_{s,j}\| = \|Y_{s,j}\| = 1.

Tokens are complex tensors (``torch.complex128`` by default) whatever the field of the data:
``field="real"`` records that every imaginary part is zero, which sets the chance level
(:func:`qsa.analytic.chance_levels`) and allows a cast to a real dtype with :meth:`Sequences.to`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator, Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal

import numpy as np
import torch
import torch.utils.data

from qsa import _validate
from qsa.analytic import ChanceLevels, chance_levels

Field = Literal["complex", "real"]
FIELDS: tuple[str, ...] = ("complex", "real")

__all__ = ["Sequences", "Field", "FIELDS", "collate"]


@dataclass(frozen=True, eq=False)
class Sequences:
    r"""``S`` sequences of tokens ``X`` and targets ``Y``, both ``(S, T, d)`` with unit rows.

    Attributes:
        X: query/key tokens, shape ``(S, T, d)``; complex by default (real dtypes only for ``field="real"``).
        Y: targets, same shape and dtype as ``X``.
        field: ``"complex"`` or ``"real"`` (then every imaginary part of ``X`` and ``Y`` is zero).
        meta: read-only description of where the data came from (source name, parameters, seed);
            JSON-friendly values.

    Indexing with an int, slice, or integer array keeps the batch axis: ``seqs[2]`` is a
    :class:`Sequences` with ``S = 1``. Construction checks shapes, dtypes and unit norms, and
    raises on anything else rather than fixing it.

    With a ``torch.utils.data.DataLoader``: a :class:`Sequences` is a map-style dataset of
    one-sequence items, and :func:`collate` joins them, so batches are :class:`Sequences` again
    (what :class:`qsa.model.QSAModel` takes); :meth:`as_dataset` gives plain ``(x, y)`` tensor
    pairs ``(T, d)`` for torch code (the default collate stacks them to ``(B, T, d)``)::

        DataLoader(seqs, batch_size=8, shuffle=True, collate_fn=qsa.data.collate)  # -> Sequences
        DataLoader(seqs.as_dataset(), batch_size=8)                                # -> (X, Y) tensors
    """

    X: torch.Tensor
    Y: torch.Tensor
    field: Field = "complex"
    meta: Mapping[str, Any] = dataclass_field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("X", "Y"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
            if t.ndim != 3:
                raise ValueError(f"{name} must have shape (S, T, d); got shape {tuple(t.shape)}")
        if self.X.shape != self.Y.shape:
            raise ValueError(f"Y must have the shape of X {tuple(self.X.shape)}; got {tuple(self.Y.shape)}")
        if self.X.dtype != self.Y.dtype:
            raise ValueError(f"Y must have the dtype of X ({self.X.dtype}); got {self.Y.dtype}")
        if self.X.shape[1] < 1:
            raise ValueError(f"X must have at least one step (T >= 1); got shape {tuple(self.X.shape)}")
        _validate.power_of_two(self.X.shape[2], "the token width d of X")
        _validate.one_of(self.field, "field", FIELDS)
        if not self.X.is_complex() and self.field != "real":
            raise ValueError(f"X must be complex for field='complex'; got dtype {self.X.dtype}")
        if self.X.requires_grad or self.Y.requires_grad:
            raise ValueError("X and Y must not require grad (Sequences holds data, not model outputs)")
        _validate.unit_rows(self.X, "X")
        _validate.unit_rows(self.Y, "Y")
        if self.field == "real" and self.X.is_complex():
            for name in ("X", "Y"):
                if bool(getattr(self, name).imag.any()):
                    raise ValueError(f"{name} must have zero imaginary part for field='real'")
        if not isinstance(self.meta, Mapping):
            raise TypeError(f"meta must be a mapping; got {type(self.meta).__name__}")
        object.__setattr__(self, "meta", types.MappingProxyType(dict(self.meta)))

    # --- shape -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def n_sequences(self) -> int:
        """``S``, the number of sequences."""
        return self.X.shape[0]

    @property
    def T(self) -> int:
        """Steps per sequence."""
        return self.X.shape[1]

    @property
    def d(self) -> int:
        """Token width, a power of two."""
        return self.X.shape[2]

    @property
    def n_qubits(self) -> int:
        """``log2 d``, the qubits a token lives on."""
        return self.d.bit_length() - 1

    @property
    def dtype(self) -> torch.dtype:
        return self.X.dtype

    def chance_levels(self) -> ChanceLevels:
        """Expected losses of a random unit prediction for tokens of this width and field."""
        return chance_levels(self.d, field=self.field)

    def __repr__(self) -> str:
        return (
            f"Sequences(S={self.n_sequences}, T={self.T}, d={self.d}, field={self.field!r}, "
            f"dtype={self.dtype}, source={self.meta.get('source')!r})"
        )

    # --- selection and batching ------------------------------------------------------------------

    def __getitem__(self, index: Any) -> Sequences:
        if isinstance(index, (bool, np.bool_)):
            raise TypeError(f"index must be an int, slice or integer array; got {index!r}")
        if isinstance(index, (int, np.integer)):
            S = self.n_sequences
            if not -S <= index < S:
                raise IndexError(f"index must be in [-{S}, {S}); got {index}")
            index = slice(int(index) % S, int(index) % S + 1)
        elif not isinstance(index, slice):
            idx = torch.as_tensor(np.asarray(index)) if not isinstance(index, torch.Tensor) else index
            if idx.dtype in (torch.bool,) or idx.is_floating_point() or idx.is_complex() or idx.ndim != 1:
                raise TypeError(f"index must be an int, slice or 1-d integer array; got {index!r}")
            index = idx.to(device=self.X.device, dtype=torch.long)
        return Sequences._unchecked(self.X[index], self.Y[index], self.field, self.meta)  # a selection stays valid

    @classmethod
    def _unchecked(cls, X: torch.Tensor, Y: torch.Tensor, field: Field, meta: Mapping[str, Any]) -> Sequences:
        """A :class:`Sequences` of tensors taken from a checked one (a selection, a move to a device).

        No checks: they read values (a device synchronisation per mini-batch on a GPU), and a
        selection or copy of checked rows is checked already.
        """
        out = object.__new__(cls)
        for name, value in (("X", X), ("Y", Y), ("field", field), ("meta", meta)):
            object.__setattr__(out, name, value)
        return out

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int | np.random.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[Sequences]:
        """Mini-batches of whole sequences, each a :class:`Sequences` of at most ``batch_size``.

        Args:
            batch_size: sequences per batch, ``>= 1``.
            shuffle: visit the sequences in a random order drawn from ``seed`` (required then).
            seed: an int or a ``numpy.random.Generator`` (advanced in place, so successive epochs
                drawn from one generator differ and are still reproducible).
            drop_last: leave out a final batch smaller than ``batch_size``.
        """
        batch_size = _validate.integer(batch_size, "batch_size", minimum=1)
        if shuffle:
            if seed is None:
                raise ValueError("seed must be given when shuffle=True (an int or a numpy.random.Generator); got None")
            order = _validate.generator(seed).permutation(self.n_sequences)
        elif seed is not None:
            raise ValueError(f"seed must be None when shuffle=False; got {seed!r}")
        else:
            order = np.arange(self.n_sequences)
        n_batches = self.n_sequences // batch_size if drop_last else math.ceil(self.n_sequences / batch_size)
        for b in range(n_batches):
            yield self[order[b * batch_size : (b + 1) * batch_size]]

    def as_dataset(self) -> torch.utils.data.TensorDataset:
        """A ``torch.utils.data.TensorDataset`` of ``(x, y)`` pairs, each ``(T, d)`` (views of ``X`` and ``Y``)."""
        return torch.utils.data.TensorDataset(self.X, self.Y)

    # --- conversion ------------------------------------------------------------------------------

    def to(self, dtype: torch.dtype | torch.device | str) -> Sequences:
        """A copy with ``X`` and ``Y`` cast to ``dtype``, or moved to a torch device (``"cuda"``, ``torch.device(...)``).

        Complex dtypes (``complex128``, ``complex64``) always; real dtypes (``float64``, ``float32``)
        only for ``field="real"``, where no imaginary part is dropped. A device keeps the dtype.
        """
        if isinstance(dtype, (str, torch.device)):
            device = torch.device(dtype)
            return Sequences._unchecked(self.X.to(device), self.Y.to(device), self.field, self.meta)
        if dtype in (torch.float64, torch.float32):
            if self.field != "real":
                raise ValueError(
                    f"dtype must be complex for field='complex' data (a real cast drops the phase); got {dtype}"
                )
            X = self.X.real if self.X.is_complex() else self.X
            Y = self.Y.real if self.Y.is_complex() else self.Y
            return Sequences(X.to(dtype), Y.to(dtype), field=self.field, meta=self.meta)
        _validate.complex_dtype(dtype)
        return Sequences(self.X.to(dtype), self.Y.to(dtype), field=self.field, meta=self.meta)

    @classmethod
    def from_trajectories(
        cls,
        states: torch.Tensor | np.ndarray,
        *,
        field: Field = "complex",
        meta: Mapping[str, Any] | None = None,
        dtype: torch.dtype = torch.complex128,
    ) -> Sequences:
        """``X = states[:, :-1]``, ``Y = states[:, 1:]`` from trajectories ``states`` of shape ``(S, T+1, d)``.

        The target of step ``j`` is the token of step ``j + 1``: ``y_j = x_{j+1}``.
        """
        _validate.complex_dtype(dtype)
        t = states if isinstance(states, torch.Tensor) else torch.as_tensor(np.asarray(states))
        if t.ndim != 3 or t.shape[1] < 2:
            raise ValueError(f"states must have shape (S, T+1, d) with T >= 1; got shape {tuple(t.shape)}")
        t = t.to(dtype)
        return cls(t[:, :-1].clone(), t[:, 1:].clone(), field=field, meta=dict(meta or {}))


def collate(items: SequenceABC[Sequences]) -> Sequences:
    """Join :class:`Sequences` along the sequence axis: the ``collate_fn`` of a ``DataLoader`` over a :class:`Sequences`.

    Every item must have the same ``T``, ``d``, dtype and field; the batch keeps the first item's ``meta``.

    Raises:
        TypeError, ValueError: for an empty list, a non-``Sequences`` item, or items that do not match.
    """
    if not isinstance(items, SequenceABC) or not items:
        raise ValueError(f"items must be a non-empty list of Sequences; got {items!r}")
    first = items[0]
    for item in items:
        if not isinstance(item, Sequences):
            raise TypeError(f"items must all be Sequences; got {type(item).__name__}")
        if (item.T, item.d, item.dtype, item.field) != (first.T, first.d, first.dtype, first.field):
            raise ValueError(
                "items must share T, d, dtype and field; got "
                f"{(first.T, first.d, first.dtype, first.field)} and {(item.T, item.d, item.dtype, item.field)}"
            )
    X = torch.cat([item.X for item in items])  # (S, T, d)
    Y = torch.cat([item.Y for item in items])
    return Sequences(X, Y, field=first.field, meta=first.meta)
