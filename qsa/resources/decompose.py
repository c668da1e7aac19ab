"""Deprecated location of :mod:`qsa.circuits.decompose` (the pure IR pass moved to ``qsa.circuits``).

Importing this module warns; it re-exports the same objects for one release.
"""

import warnings

from qsa.circuits.decompose import *  # noqa: F403
from qsa.circuits.decompose import __all__  # noqa: F401

warnings.warn(
    "qsa.resources.decompose moved to qsa.circuits.decompose; the old path will be removed in the next release",
    DeprecationWarning,
    stacklevel=2,
)
