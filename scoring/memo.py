"""Figures derived from a shared, read-only object, computed once and kept with it.

A scored book (``scoring.current.Book``) and a list's store reads (``scoring.lists.ListData``)
are each made once per data version and shared by every session of the app. Some figures the
pages derive from them do not depend on who asks or how: the peers' medians an explanation
compares one account with, each account's health 30 days ago. ``Memo.memo`` keeps such a figure
with the object, so a page that explains one account, or lists 25, does not recompute it from the
whole book on every rerun.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class Memo:
    """Mixin for frozen dataclasses: ``memo(key, make)``."""

    def memo(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for, the same object afterwards. What it
        returns is shared like the object itself: treat it as read-only. Two threads asking at
        once may both compute it; both get equal values, and one is kept."""
        kept = self.__dict__.setdefault("_memo", {})  # not a dataclass field: == and repr ignore it
        if key not in kept:
            kept[key] = make()
        return kept[key]
