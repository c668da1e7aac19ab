"""Sphinx configuration of the QSA documentation site.

    pip install -e ".[docs]" && sphinx-build -W -n docs docs/_build

Offline by design: no intersphinx inventories are fetched (``-W`` would turn a network failure into
an error); references to other libraries (torch, numpy, PennyLane, Qiskit, ...) are left as text.
The tutorials are MyST notebooks executed at every build (``nb_execution_mode = "force"``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _ext

project = "QSA"
author = "QSA maintainers"
copyright = "QSA maintainers, Apache-2.0"
release = importlib.import_module("qsa").__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings' Args:/Returns:/Raises: sections
    "sphinx.ext.mathjax",  # rendered in the reader's browser; nothing fetched at build time
    "sphinx.ext.viewcode",
    "myst_nb",
    "_ext.qsa_refs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "_ext"]
root_doc = "index"
html_theme = "alabaster"
html_title = "QSA — quantum self-attention circuits"
html_static_path: list[str] = []

# autodoc: members in the order of the source, type hints in the description (not the signature).
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_mock_imports: list[str] = []
autodoc_inherit_docstrings = False  # e.g. torch.autograd.Function's own docs on our forward/backward
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # Attributes: as fields, so a NamedTuple's fields are not described twice

# MyST and the notebooks: executed at every build; a failing cell fails the build.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300
nb_execution_in_temp = True  # notebooks write their runs in a temporary folder, not in docs/
nb_merge_streams = True

# -n: every reference must resolve, except to other libraries' objects (no inventories offline).
nitpicky = True
EXTERNAL = (
    "torch",
    "numpy",
    "np",
    "scipy",
    "pennylane",
    "qml",
    "qiskit",
    "qiskit_aer",
    "qiskit_ibm_runtime",
    "matplotlib",
    "tqdm",
    "collections",
    "typing",
    "typing_extensions",
    "pathlib",
    "os",
    "argparse",
    "dataclasses",
    "enum",
    "types",
    "concurrent",
    "logging",
    "json",
    "nn",
    "optim",
    "sparse",
    "abc",
    "io",
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(EXTERNAL)})(\..*)?"),
    (r"py:.*", r"(int|float|complex|str|bool|bytes|None|object|type|tuple|list|dict|set|frozenset|callable)"),
    (r"py:.*", r"(Any|Callable|Sequence|Mapping|Iterable|Iterator|Literal|NamedTuple|Protocol|Path|PathLike|Self)"),
    (r"py:.*", r"(Tensor|ndarray|Generator|QuantumCircuit|SparsePauliOp|Operator|Parameter|ParameterVector)"),
    (r"py:.*", r"(optional|array_like|array-like|default|callable\(.*\))"),
    # napoleon reads the words before a colon in a field list or a multi-line Raises entry as a type:
    # prose ("Training objectives", "before any computation.") and bare lower-case argument names.
    (r"py:(class|exc|obj)", r".*\s.*"),
    (r"py:(class|exc|obj)", r"[a-z_][a-z0-9_=]*"),
    (r"py:class", r"(Wires|qsa\.hardware\.providers\.LocalJob)"),
    # instance attributes set in __init__, and a few names docstrings cite without a documented target
    (r"py:(attr|func|data)", r"(job_ids|last_estimate|label|objective|[A-Z][A-Z0-9_]+)"),
    # modules and helpers that are private or command-line glue, not API
    (
        r"py:(mod|class|func|data)",
        r"qsa\.(_causal|hardware\.local_worker|hardware\.cli|backends\.statevector\._Program|baselines\.networks\._RealCoordinates|errors\.user_message|training\.optimizers\._Eager)",
    ),
]

suppress_warnings: list[str] = []
