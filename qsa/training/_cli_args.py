"""The options ``qsa train``, ``qsa sweep`` and ``qsa diagnose`` share, declared once as an argparse parent parser.

    p = subparsers.add_parser("train", parents=[run_options(resume="RUN_DIR", ...)], ...)

Each command passes the help strings that say what an option means for it; the option names,
destinations, defaults and types are the same everywhere. :func:`config_or_resume` is the check
the commands with ``--resume`` share. Source: this library (the ``qsa`` command, README).
"""

from __future__ import annotations

import argparse

__all__ = ["run_options", "config_or_resume"]


def run_options(
    *,
    config: str,
    overrides: str,
    out: str,
    resume: tuple[str, str] | None = None,
    threads: str | None = None,
    progress: str | None = None,
    config_required: bool = False,
) -> argparse.ArgumentParser:
    """A parent parser (``add_help=False``) with the options of a command that reads a training config.

    Args:
        config: help of the positional ``config`` (a TOML training config); optional unless
            ``config_required`` (commands with ``--resume`` take one or the other).
        overrides: help of ``--set KEY=VALUE`` (repeatable, into ``args.overrides``; default ``[]``).
        out: help of ``--out`` (root of the output directories, default ``runs``).
        resume: ``(METAVAR, help)`` of ``--resume`` (default ``None``), or ``None`` for no such option.
        threads: help of ``--threads`` (torch threads, an int, default 1), or ``None`` for no such option.
        progress: help of ``--no-progress`` (a flag), or ``None`` for no such option.
        config_required: ``config`` must be given (``metavar`` CONFIG).

    Returns:
        the parent parser, options in the order config, --set, --out, --resume, --threads, --no-progress.
    """
    p = argparse.ArgumentParser(add_help=False)
    if config_required:
        p.add_argument("config", metavar="CONFIG", help=config)
    else:
        p.add_argument("config", nargs="?", help=config)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=overrides)
    p.add_argument("--out", default="runs", help=out)
    if resume is not None:
        metavar, text = resume
        p.add_argument("--resume", metavar=metavar, help=text)
    if threads is not None:
        p.add_argument("--threads", type=int, default=1, help=threads)
    if progress is not None:
        p.add_argument("--no-progress", action="store_true", help=progress)
    return p


def config_or_resume(args: argparse.Namespace, command: str, metavar: str) -> None:
    """Refuse a command line with both or neither of ``CONFIG`` and ``--resume METAVAR``.

    Raises:
        UserError: ``"<command> must be given either CONFIG or --resume <metavar>; got both|neither"`` (key CONFIG).
    """
    from qsa.errors import UserError

    if (args.config is None) == (args.resume is None):
        raise UserError(
            f"{command} must be given either CONFIG or --resume {metavar}; got {'both' if args.config else 'neither'}",
            key="CONFIG",
        )
