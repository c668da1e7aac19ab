"""The ``qsa`` command. Each feature module contributes its subcommands through ``register``.

qsa --version
qsa <command> --help
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import qsa
from qsa.configs_cli import register as register_configs
from qsa.hardware.cli import register as register_hardware
from qsa.resources.cli import register as register_gates
from qsa.training.cli import register as register_train

__all__ = ["main", "build_parser", "REGISTRARS"]

#: Functions ``register(subparsers)`` adding subcommands; each sets ``func(args) -> int`` as default.
REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    register_train,  # qsa train
    register_hardware,  # qsa submit, qsa jobs
    register_gates,  # qsa gates
    register_configs,  # qsa configs
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qsa", description="Quantum self-attention: train, run on Aer/IBM, count gates."
    )
    parser.add_argument("--version", action="version", version=f"qsa {qsa.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:  # our own progress details only; Qiskit's transpiler logs stay at WARNING
        logging.getLogger("qsa").setLevel(logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
