"""Checks on caller input, run before anything expensive. Messages read "X must be ...; got ...".

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad value);
nothing here fixes input silently.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

# One copy of the plain checks, shared with qsa.circuits (which imports no torch).
from qsa.circuits._checks import boolean as boolean
from qsa.circuits._checks import integer as integer
from qsa.circuits._checks import one_of as one_of
from qsa.circuits._checks import power_of_two as power_of_two
from qsa.circuits._checks import real_number as real_number
from qsa.circuits.shape import KERNELS

# Unit-norm and unitarity tolerances by precision: inputs are checked, never renormalised.
_TOL = {torch.complex128: 1e-6, torch.complex64: 1e-4}


def _to_tensor(a: Any, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        t = a
    else:
        try:
            arr = np.asarray(a)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"{name} must be an array or tensor; got {type(a).__name__}") from exc
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)):
            raise TypeError(f"{name} must be a numeric array or tensor; got {type(a).__name__} of {arr.dtype}")
        t = torch.as_tensor(arr)
    if t.is_complex():
        return t
    if t.dtype == torch.float32:
        return t.to(torch.complex64)
    if t.dtype.is_floating_point or not t.dtype.is_complex:
        return t.to(torch.complex128)
    return t  # pragma: no cover


def reads_values(t: torch.Tensor) -> bool:
    """Whether value checks (finite, unit norm, index range) run on ``t``: on the CPU only.

    Reading a value of a tensor on a GPU synchronises the device, once per call of a training
    step's hot path. Data are checked on the CPU when they are built (:class:`qsa.data.Sequences`,
    the embeddings' id windows) and moved after; the training loop stops on a non-finite loss.
    Shapes and dtypes are checked on every device.
    """
    return t.device.type == "cpu"


def tokens(X: Any, name: str = "X") -> torch.Tensor:
    """``X`` as a complex tensor of shape ``(T, d)`` or ``(S, T, d)`` with finite unit rows (values checked on the CPU)."""
    t = _to_tensor(X, name)
    if t.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (T, d) or (S, T, d); got shape {tuple(t.shape)}")
    if t.shape[-2] < 1:
        raise ValueError(f"{name} must have at least one step (T >= 1); got shape {tuple(t.shape)}")
    if t.ndim == 3 and t.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one sequence (S >= 1); got shape {tuple(t.shape)}")
    power_of_two(t.shape[-1], f"the token width d of {name}")
    if not reads_values(t):
        return t
    with torch.no_grad():
        err = (torch.linalg.vector_norm(t, dim=-1) - 1).abs()
        worst = float(err.max())
        if worst <= _TOL[t.dtype]:  # one pass: a NaN or inf anywhere makes its row's norm NaN or inf
            return t
        finite = torch.isfinite(t.real) & torch.isfinite(t.imag)
        if not bool(finite.all()):
            where = tuple(int(i) for i in torch.nonzero(~finite)[0][:-1])
            raise ValueError(f"{name} must be finite; got NaN or inf at index {where}")
        if worst > _TOL[t.dtype]:
            where = tuple(int(i) for i in torch.nonzero(err == err.max())[0])
            raise ValueError(
                f"{name} must have unit-norm rows (tokens are quantum states); got norm off by {worst:.3g} "
                f"at index {where}"
            )
    return t


def model_tokens(X: Any, d: int, name: str = "X") -> torch.Tensor:
    """:func:`tokens`, then complex128 and the model's token width ``d`` (the comparator models' inputs)."""
    t = tokens(X, name)
    if t.dtype != torch.complex128:
        raise TypeError(f"{name} must be complex128 (or float64); got {t.dtype}")
    if t.shape[-1] != d:
        raise ValueError(f"{name} must have token width d = {d} (the model's); got shape {tuple(t.shape)}")
    return t


def unitary(U: Any, d: int, name: str, dtype: torch.dtype) -> torch.Tensor:
    """``U`` as a ``(d, d)`` unitary tensor of ``dtype``."""
    t = _to_tensor(U, name)
    if tuple(t.shape) != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) to act on tokens of width {d}; got {tuple(t.shape)}")
    t = t.to(dtype)
    if not reads_values(t):
        return t
    with torch.no_grad():
        err = float((t.conj().T @ t - torch.eye(d, dtype=dtype, device=t.device)).abs().max())
        if err <= _TOL[dtype]:  # one pass: a NaN or inf anywhere makes err NaN or inf
            return t
        if not bool((torch.isfinite(t.real) & torch.isfinite(t.imag)).all()):
            raise ValueError(f"{name} must be finite; got NaN or inf")
        if err > _TOL[dtype]:
            raise ValueError(f"{name} must be unitary; got max |{name}^dagger {name} - I| = {err:.3g}")
    return t


def tokens_and_unitaries(X, Y, W, V) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated ``X``, ``Y`` (same shape) and ``W``, ``V`` (unitary), all of one complex dtype."""
    X = tokens(X, "X")
    Y = tokens(Y, "Y")
    if X.shape != Y.shape:
        raise ValueError(f"Y must have the shape of X {tuple(X.shape)}; got {tuple(Y.shape)}")
    dtype = torch.complex64 if torch.complex64 in (X.dtype, Y.dtype) else torch.complex128
    X, Y = X.to(dtype), Y.to(dtype)
    d = X.shape[-1]
    return X, Y, unitary(W, d, "W", dtype), unitary(V, d, "V", dtype)


def kernel_options(k: Any, kernel: Any, beta: Any) -> None:
    """``k >= 1`` integer, known kernel name, ``beta`` ``None`` or a positive finite number."""
    integer(k, "k", minimum=1)
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    if beta is not None:
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise TypeError(f"beta must be a real number or None; got {beta!r}")
        if not np.isfinite(beta) or beta <= 0:
            raise ValueError(f"beta must be positive and finite; got {beta!r}")
        if kernel == "poly":
            largest = max_poly_beta(int(k))
            if beta > largest:
                raise ValueError(
                    f"beta must be at most {largest:.4g} for k = {k} (the poly kernel's coefficients beta^p / p! and "
                    f"their sum must be finite in float64); got {beta!r}"
                )


def max_poly_beta(k: int) -> float:
    """The largest ``beta`` for which ``beta^p`` (``p <= k``) and the sum of ``beta^p / p!`` are finite in float64."""
    import math

    return math.exp(math.log(float(np.finfo(np.float64).max) / (k + 1)) / k) * (1 - 1e-12)


def phases(value: Any, batch_shape: tuple[int, ...]) -> torch.Tensor | str | None:
    """``None``, ``"aligned"``, or real phases broadcastable from ``(T,)`` to ``batch_shape`` ``(..., T)``."""
    if value is None:
        return None
    if isinstance(value, str):
        if value != "aligned":
            raise ValueError(f"phases must be None, 'aligned' or an array of shape (T,) or (S, T); got {value!r}")
        return value
    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if t.is_complex() or not (t.dtype.is_floating_point or t.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"phases must be real; got dtype {t.dtype}")
    T = batch_shape[-1]
    if tuple(t.shape) not in ((T,), tuple(batch_shape)):
        raise ValueError(f"phases must have shape ({T},) or {tuple(batch_shape)}; got {tuple(t.shape)}")
    if reads_values(t) and not bool(torch.isfinite(t).all()):
        raise ValueError("phases must be finite; got NaN or inf")
    return t.to(torch.float64) if not t.dtype.is_floating_point else t


# --- Checks shared by the data sources and embeddings (qsa.data, qsa.embeddings) -------------------

_REAL_TOL = {torch.float64: 1e-6, torch.float32: 1e-4}


def generator(seed: Any, name: str = "seed") -> np.random.Generator:
    """A ``numpy.random.Generator`` from a non-negative ``int`` seed or an existing generator.

    ``None`` is refused: an unseeded generator makes a run impossible to repeat. A generator passed
    in is used as is (and advanced), so callers can chain draws from one stream.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative int or a numpy.random.Generator; got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative int or a numpy.random.Generator; got {seed!r}")
    return np.random.default_rng(int(seed))


def complex_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """``dtype``, which must be ``torch.complex128`` or ``torch.complex64``."""
    if dtype not in (torch.complex128, torch.complex64):
        raise ValueError(f"{name} must be torch.complex128 or torch.complex64; got {dtype!r}")
    return dtype


def real_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """``dtype``, which must be ``torch.float64`` or ``torch.float32``."""
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"{name} must be torch.float64 or torch.float32; got {dtype!r}")
    return dtype


def unit_rows(t: torch.Tensor, name: str) -> None:
    """Raise unless every row (last axis) of the float or complex tensor ``t`` is finite with unit norm."""
    tol = _TOL.get(t.dtype, _REAL_TOL.get(t.dtype))
    if tol is None:
        raise TypeError(f"{name} must have a float or complex dtype of 32 or 64 bits per part; got {t.dtype}")
    if not reads_values(t):
        return
    with torch.no_grad():
        finite = torch.isfinite(torch.view_as_real(t)).all(-1) if t.is_complex() else torch.isfinite(t)
        if not bool(finite.all()):
            where = tuple(int(i) for i in torch.nonzero(~finite)[0][:-1])
            raise ValueError(f"{name} must be finite; got NaN or inf at index {where}")
        if t.numel() == 0:
            return
        err = (torch.linalg.vector_norm(t, dim=-1) - 1).abs()
        worst = float(err.max())
        if worst > tol:
            where = tuple(int(i) for i in torch.nonzero(err == err.max())[0])
            raise ValueError(
                f"{name} must have unit-norm rows (tokens are quantum states); got norm off by {worst:.3g} "
                f"at index {where}"
            )
