"""Packages whose public names load their modules on first use (PEP 562 module ``__getattr__``).

So that ``import qsa``, ``qsa --help`` and a training config's checks do not pay for torch,
PennyLane or Qiskit until a name that needs them is used.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


class _Package(types.ModuleType):
    """A package module whose exported names win over submodules of the same name.

    Importing ``pkg.sweep`` binds the submodule to ``pkg.sweep``; when ``sweep`` is also an
    exported function of that submodule, the function must stay the package's attribute (as an
    eager ``from pkg.sweep import sweep`` in ``__init__`` would leave it).
    """

    _qsa_exports: Mapping[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        exported = self.__dict__.get("_qsa_exports", {})
        if name in exported and isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}":
            return  # the import system binding the submodule: the exported name resolves lazily instead
        super().__setattr__(name, value)


def exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose attribute ``name`` lives in module ``names[name]``.

    A module path starting with ``"."`` is relative to ``package``. The first access imports the
    module and stores the attribute on the package, so later accesses cost nothing.
    """
    module = sys.modules[package]
    module.__class__ = _Package
    module.__dict__["_qsa_exports"] = dict(names)

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where = names[name]
        source = importlib.import_module(package + where if where.startswith(".") else where)
        value = getattr(source, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
