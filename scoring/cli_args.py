"""Value parsers for command-line options, shared by every command.

Each raises ``argparse.ArgumentTypeError`` with the value and what was expected, so a wrong value
is a usage error (exit status 2) with one clear line, whichever command it was given to.
"""
from __future__ import annotations

import argparse
import datetime as dt


def date(text: str) -> dt.date:
    """``YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a date YYYY-MM-DD") from None


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of at least 1")
    return value


def count(text: str) -> int:
    """A whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 0 or more")
    return value


def points(text: str) -> float:
    """A number of points, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of points, 0 or more")
    return value
