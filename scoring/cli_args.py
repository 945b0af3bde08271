"""Value parsers for command-line options, shared by every command.

Each raises ``argparse.ArgumentTypeError`` with the value and what was expected, so a wrong value
is a usage error (exit status 2) with one clear line, whichever command it was given to.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
from collections.abc import Callable
from typing import Any


def date(text: str) -> dt.date:
    """``YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a date YYYY-MM-DD") from None


def _number(text: str, convert: type, ok: "Callable[[float], bool]", expected: str) -> Any:
    """``convert(text)`` when it parses and passes ``ok``, else a usage error naming ``expected``
    (NaN and infinities fail every bound below)."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    return _number(text, int, lambda v: v >= 1, "a whole number of at least 1")


def count(text: str) -> int:
    """A whole number, 0 or more."""
    return _number(text, int, lambda v: v >= 0, "a whole number, 0 or more")


def points(text: str) -> float:
    """A number of points, 0 or more."""
    return _number(text, float, lambda v: 0 <= v < math.inf, "a number of points, 0 or more")


def strength(text: str) -> float:
    """A number above 0 (a regularisation strength)."""
    return _number(text, float, lambda v: 0 < v < math.inf, "a number above 0")


def blend(text: str) -> float:
    """A blend from 0 (the hand-set weights) to 1 (the fitted ones)."""
    return _number(text, float, lambda v: 0 <= v <= 1, "a number from 0 (hand-set) to 1 (fitted)")
