"""Deterministic crash points for tests: ``CS_CRASH_AT=<name>`` makes the process stop hard there.

``os._exit`` skips ``finally`` blocks, atexit handlers and buffered writes, which is as close to
a power cut or ``kill -9`` as a test can get while still choosing the exact moment.
"""
from __future__ import annotations

import os
import sys

CRASH_EXIT_STATUS = 70


def point(name: str) -> None:
    """Stop the process at once when ``CS_CRASH_AT`` names this point."""
    if os.environ.get("CS_CRASH_AT") == name:
        sys.stderr.write(f"crash point {name} reached: stopping hard\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT_STATUS)
