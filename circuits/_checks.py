"""Checks on caller input shared by every package of QSA. Messages read "X must be ...; got ...".

They live here, in ``qsa.circuits`` (which imports nothing from the rest of ``qsa`` and no torch),
so that the builders and :mod:`qsa._validate` use one copy. Each raises ``TypeError`` (wrong kind
of object) or ``ValueError`` (right kind, bad value); nothing fixes input silently.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["integer", "power_of_two", "real_number", "one_of", "boolean"]


def integer(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None, describe: str | None = None
) -> int:
    """``value`` as an ``int`` (a bool is not an integer here), optionally bounded.

    ``describe`` words what is wanted in every message ("X must be <describe>; got ..."), e.g.
    ``"None or a positive integer"``; by default the messages name the failed condition.

    Raises:
        TypeError: ``value`` is not an integer (numpy integers count).
        ValueError: ``value`` is below ``minimum`` or above ``maximum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {describe or 'an integer'}; got {value!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be {describe or f'>= {minimum}'}; got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be {describe or f'<= {maximum}'}; got {number}")
    return number


def power_of_two(value: Any, name: str) -> int:
    """``log2(value)`` for ``value`` a power of two >= 2.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` is not a power of two >= 2.
    """
    number = integer(value, name)
    if number < 2 or number & (number - 1):
        raise ValueError(f"{name} must be a power of two >= 2; got {number}")
    return number.bit_length() - 1


def real_number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    """``value`` as a finite ``float`` (a bool is not a number here), optionally bounded.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is not finite, or outside the bounds.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite; got {number!r}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be positive; got {number!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {number!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {number!r}")
    return number


def one_of(value: Any, name: str, options: tuple[Any, ...]) -> Any:
    """``value``, which must be one of ``options`` (compared by equality; a bool never matches an int).

    Raises:
        ValueError: ``value`` is not among ``options``.
    """
    if isinstance(value, bool) and not any(isinstance(o, bool) for o in options):
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    try:
        known = value in options
    except TypeError:  # unhashable or incomparable
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def boolean(value: Any, name: str) -> bool:
    """``value``, which must be a ``bool``.

    Raises:
        TypeError: ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {value!r}")
    return value
