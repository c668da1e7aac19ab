"""Torch devices by name: ``model.device`` checked against what this machine has, before anything runs.

``resolve_device("cuda:0")`` returns the ``torch.device`` if that device is there, and raises a
:class:`~qsa.errors.UserError` naming what is visible otherwise ("model.device must be an
available torch device; got 'cuda' but no CUDA device is visible"). The syntax alone
(``cpu``, ``cpu:0``, ``cuda``, ``cuda:N``, ``mps``, ``xpu``, ``xpu:N``) is checked without torch by
:data:`qsa.options.DEVICE_PATTERN`, when a config is read.
"""

from __future__ import annotations

import re

import torch

from qsa.errors import UserError
from qsa.options import DEVICE_PATTERN

__all__ = ["resolve_device", "device_of"]


def _count(kind: str) -> int:
    if kind == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "mps":
        return int(torch.backends.mps.is_available())
    if kind == "xpu":
        xpu = getattr(torch, "xpu", None)
        return xpu.device_count() if xpu is not None and xpu.is_available() else 0
    return 1  # cpu


_NAMES = {"cuda": "CUDA", "mps": "MPS (Apple GPU)", "xpu": "XPU (Intel GPU)", "cpu": "CPU"}


def resolve_device(name: str | torch.device, *, key: str = "device") -> torch.device:
    """The ``torch.device`` named ``name`` if this machine has it.

    Args:
        name: ``"cpu"``, ``"cpu:0"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"xpu"``/``"xpu:N"`` or a ``torch.device``.
        key: the option's name in error messages (``"model.device"``).

    Raises:
        UserError: (a ``ValueError``) for a malformed name, or a device this machine does not have:
            ``"model.device must be an available torch device; got 'cuda' but no CUDA device is visible"``.
    """
    text = str(name) if isinstance(name, torch.device) else name
    if not isinstance(text, str) or not re.fullmatch(DEVICE_PATTERN, text):
        raise UserError(
            f"{key} must be a torch device name such as 'cpu', 'cuda' or 'cuda:0'; got {name!r}",
            key=key,
        )
    kind, _, index = text.partition(":")
    n = _count(kind)
    if kind == "cpu" and index not in ("", "0"):
        raise UserError(f"{key} must be an available torch device; got {text!r} but torch has only 'cpu:0'", key=key)
    if n == 0:
        raise UserError(
            f"{key} must be an available torch device; got {text!r} but no {_NAMES[kind]} device is visible"
            + (" (this torch build has no CUDA)" if kind == "cuda" and torch.version.cuda is None else ""),
            key=key,
        )
    if index and int(index) >= n:
        raise UserError(
            f"{key} must be an available torch device; got {text!r} but only {n} {_NAMES[kind]} "
            f"device{'s are' if n > 1 else ' is'} visible ({kind}:0{f'..{kind}:{n - 1}' if n > 1 else ''})",
            key=key,
        )
    return torch.device(text)


def device_of(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module with neither)."""
    for parameter in module.parameters():
        return parameter.device
    for buffer in module.buffers():
        return buffer.device
    return torch.device("cpu")
