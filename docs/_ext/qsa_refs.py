"""Two checks of the API reference, as a small Sphinx extension.

* A reference to a name through the package that re-exports it (``qsa.data.Sequences``, defined in
  ``qsa.data.sequences``) resolves to where it is documented.
* Every public name (each module's ``__all__``) of the modules the API page documents has an
  entry; a missing one is a warning (an error under ``-W``).
"""

from __future__ import annotations

import importlib
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _resolve(target: str) -> Any:
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(obj: Any) -> str | None:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


def _canonical_name(target: str) -> str | None:
    """Where ``target`` is defined: the object's own module and name, or its class's for an attribute."""
    obj = _resolve(target)
    if obj is None:
        return None
    name = _canonical(obj)
    if name is None or not name.endswith(target.rsplit(".", 1)[-1]):
        parent = _resolve(target.rsplit(".", 1)[0])
        if isinstance(parent, type) and _canonical(parent):
            return f"{_canonical(parent)}.{target.rsplit('.', 1)[-1]}"
    return name


def missing_reference(app: Sphinx, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    candidates = [target]
    module, cls = node.get("py:module"), node.get("py:class")
    if module and not target.startswith("qsa"):
        if cls:
            candidates.append(f"{module}.{cls}.{target}")
        candidates.append(f"{module}.{target}")
        parent = module.rsplit(".", 1)[0]
        candidates.append(f"{parent}.{target}")
    domain = env.get_domain("py")
    for name in candidates:
        if not name.startswith("qsa"):
            continue
        canonical = _canonical_name(name)
        if canonical not in domain.objects:  # a constant re-exported by a package: its one definition below it
            last, package = name.rsplit(".", 1)[-1], name.rsplit(".", 1)[0]
            found = [k for k in domain.objects if k.startswith(package + ".") and k.endswith("." + last)]
            canonical = found[0] if len(found) == 1 else None
        if canonical and canonical in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode)
    return None


def quiet_colon(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """A ``#:`` comment on a constant reads "What it is: more" -- napoleon would take "What it is" for its type."""
    if (
        what in ("data", "attribute", "property")
        and lines
        and ": " in lines[0]
        and "`" not in lines[0].split(": ", 1)[0]
    ):
        lines[0] = lines[0].replace(": ", " -- ", 1)


def check_public_names(app: Sphinx, env) -> None:
    domain = env.get_domain("py")
    documented = set(domain.objects)
    for module_name in sorted(domain.modules):
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if name.startswith("__"):
                continue
            obj = getattr(module, name, None)
            canonical = _canonical(obj)
            if f"{module_name}.{name}" in documented or (canonical in documented):
                continue
            # constants and type aliases carry no __module__: documented in some module under their name
            if any(f"{m}.{name}" in documented for m in domain.modules if m.startswith(module_name)):
                continue
            if not (callable(obj) or isinstance(obj, type)) or type(obj).__module__ == "typing":
                continue  # constants and type aliases: autodoc lists those with a #: comment; not checked here
            logger.warning("public name %s.%s has no entry in the API reference", module_name, name)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", missing_reference)
    app.connect("autodoc-process-docstring", quiet_colon, priority=400)  # before napoleon (500)
    app.connect("env-check-consistency", check_public_names)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


__all__ = ["setup", "nodes"]
