"""The ``qsa`` command. Each feature module contributes its subcommands through ``register``.

qsa --version
qsa <command> --help

One error boundary for every subcommand (:func:`main`): a user mistake -- a bad argument, config
key, file or an input too large for this machine -- ends as one line on stderr,
``qsa <command>: <what> must be …; got …``, and exit status 2 (:func:`qsa.errors.user_message`
says what counts as one); an internal fault keeps its traceback, says that it is a bug, and exits
with status 70. Subcommands raise ``ValueError``/``TypeError`` with good messages and leave the
formatting to the boundary.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import qsa
from qsa.configs_cli import register as register_configs
from qsa.errors import EXIT_USER, run_command
from qsa.hardware.cli import register as register_hardware
from qsa.resources.cli import register as register_gates
from qsa.training.cli import register as register_train
from qsa.training.report_cli import register as register_reports
from qsa.training.sweep_cli import register as register_sweep

__all__ = ["main", "build_parser", "REGISTRARS", "OneLineParser"]

#: Functions ``register(subparsers)`` adding subcommands; each sets ``func(args) -> int`` as default.
REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    register_train,  # qsa train
    register_sweep,  # qsa sweep
    register_hardware,  # qsa submit, qsa jobs
    register_gates,  # qsa gates
    register_configs,  # qsa configs
    register_reports,  # qsa cost, qsa diagnose
]


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit status 2), like every other refusal."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USER, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="qsa", description="Quantum self-attention: train, run on Aer/IBM, count gates.")
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
        return EXIT_USER
    command = "qsa " + " ".join(
        part for part in (args.command, getattr(args, "jobs_command", None)) if part
    )  # e.g. "qsa jobs fetch"
    return run_command(command, lambda: args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
