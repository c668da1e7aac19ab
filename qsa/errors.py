"""What is a user's mistake and what is a bug: the one error boundary every ``qsa`` command shares.

A mistake in what the user gave (a config key, an argument, a file) is raised as ``ValueError`` or
``TypeError`` whose message reads "X must be …; got …" and names the key or argument ``X``
(STYLE.md). :class:`UserError` is such a ``ValueError`` that also carries the key as an attribute;
:func:`keyed` turns errors raised below a config key (e.g. ``path must …`` from
:func:`qsa.data.load_text`) into errors about that key (``data.path must …``).

:func:`user_message` decides, for an exception that reached the command line, whether it is a user
mistake (one line on stderr, exit status 2) or an internal fault (traceback kept, exit status
:data:`EXIT_INTERNAL`): a :class:`UserError`; a ``ValueError``/``TypeError`` raised by a ``raise``
statement of this package (its checks: the innermost frame is ours and stopped at the ``raise``);
an operating-system error about a file (``No space left on device: runs/x``); a failed
allocation. Anything else -- an ``IndexError``, a ``TypeError`` from calling a function wrongly, a
``ValueError`` raised inside numpy or torch -- is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import dis
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

__all__ = ["UserError", "EXIT_USER", "EXIT_INTERNAL", "keyed", "renamed", "user_message", "is_ours", "run_command"]

#: Exit status of a refused input (argparse's too).
EXIT_USER = 2
#: Exit status of an internal fault (``EX_SOFTWARE`` of sysexits.h).
EXIT_INTERNAL = 70

_PACKAGE_DIRS = tuple(
    str(p) + os.sep
    for p in (
        Path(__file__).resolve().parent,
        Path(__file__).resolve().parent.parent / "circuits",
        Path(__file__).resolve().parent.parent / "experiments",  # the experiments' scripts (editable install)
    )
)


class UserError(ValueError):
    """A mistake in what the user gave; ``key`` names the config key, argument or file it concerns.

    The message reads "``key`` must be …; got …" (and may say what to do instead).
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _rename(message: str, name: str, key: str) -> str:
    """``message`` with a leading ``name`` (as in "name must …") replaced by ``key``."""
    if name and name != key and re.match(rf"{re.escape(name)}\b", message):
        return key + message[len(name) :]
    return message


@contextlib.contextmanager
def renamed(names: Mapping[str, str], *, default: str | None = None) -> Iterator[None]:
    """User errors raised inside the block name config keys instead of argument names.

    A user mistake (:func:`user_message`) whose message starts with a key of ``names`` (``"path must
    …"``) is re-raised as :class:`UserError` starting with its value instead (``"data.path must …"``,
    ``key`` set to it); one that starts with none of them is prefixed ``"<default>: "`` if
    ``default`` is given, else re-raised unchanged. Other exceptions (bugs) pass untouched.

    Example::

        with renamed({"path": "data.path"}):
            text = load_text(cfg.path)  # "path must name a text file; got ..." -> "data.path must ..."
    """
    try:
        yield
    except (ValueError, TypeError, OSError) as exc:
        message = user_message(exc)
        if message is None:
            raise
        for name in sorted(names, key=len, reverse=True):
            new = _rename(message, name, names[name])
            if new != message or message.startswith(names[name]):
                raise UserError(new, key=names[name]) from exc
        if default is not None:
            raise UserError(f"{default}: {message}", key=default) from exc
        if isinstance(exc, UserError):
            raise
        raise UserError(message, key=getattr(exc, "key", None)) from exc


def keyed(key: str, *, name: str | None = None):
    """:func:`renamed` for one key: errors about ``name`` (default: the last part of ``key``, ``path`` for
    ``data.path``) become errors about ``key``; other user errors inside are prefixed ``"<key>: "``."""
    return renamed({key.rsplit(".", 1)[-1] if name is None else name: key}, default=key)


def is_ours(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by a ``raise`` statement in qsa's own code: its innermost frame is in this
    package (or ``qsa.circuits``) and stopped at a ``raise``, not at a call that failed inside Python."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if not code.co_filename.startswith(_PACKAGE_DIRS):
        return False
    return any(ins.offset == tb.tb_lasti and ins.opname == "RAISE_VARARGS" for ins in dis.get_instructions(code))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def user_message(exc: BaseException) -> str | None:
    """The one-line message if ``exc`` is a user mistake (module docstring), else ``None`` (a bug)."""
    if isinstance(exc, UserError):
        return _one_line(str(exc))
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)):
        return _one_line(
            f"the input must fit in this machine's memory; got an allocation that failed ({exc}): "
            "reduce T, d, k or the batch size"
        )
    if isinstance(exc, (UnicodeError,)):  # a decoder's complaint: whoever read the file must say which
        return None
    if isinstance(exc, OSError) and not isinstance(exc, (ConnectionError, TimeoutError)):
        if exc.strerror is None:  # raised with a message of its own
            return _one_line(str(exc)) if is_ours(exc) else None
        where = f": {exc.filename}" if exc.filename else ""  # the operating system refused a file
        return _one_line(f"could not use a file: {exc.strerror}{where}")
    if isinstance(exc, (ValueError, TypeError)) and is_ours(exc):
        return _one_line(str(exc))
    return None


def run_command(command: str, call: Callable[[], object]) -> int:
    """``call()`` behind the command line's one error boundary; the exit status to leave with.

    ``0`` when ``call`` returns something other than an ``int`` (an ``int`` is the status itself);
    a user mistake (:func:`user_message`) prints ``"<command>: <message>"`` on stderr, one line,
    and gives :data:`EXIT_USER`; Ctrl-C prints ``"<command>: interrupted"`` and gives 130; any
    other exception keeps its traceback, says that it is a bug and gives :data:`EXIT_INTERNAL`.
    Used by every ``qsa`` subcommand (``command`` e.g. ``"qsa train"``) and the experiments'
    scripts (``"experiments/comparison/run.py"``).

    An experiment's script ends with::

        if __name__ == "__main__":
            sys.exit(run_command("experiments/kernels/at_step.py", lambda: main(sys.argv[1:])))
    """
    try:
        result = call()
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one error boundary of every command
        message = user_message(exc)
        if message is not None:
            print(f"{command}: {message}", file=sys.stderr)
            return EXIT_USER
        traceback.print_exc()
        print(
            f"{command}: internal error ({type(exc).__name__}): this is a bug in qsa, not a mistake in the input; "
            "please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0
