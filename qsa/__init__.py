"""QSA: variational quantum circuits for quantum self-attention."""

__version__ = "0.1.0"
