"""A process-wide index in front of Streamlit's caches, for the reruns people wait on.

``st.cache_resource`` and ``st.cache_data`` find an entry by hashing every argument with their own
hasher (a dataclass goes through ``__reduce__``, a dict item by item) and by reading the function's
signature, on every call: 0.3-2 ms per lookup here. A slider move on Tune weights makes eight
such lookups whose answer never changes between moves (about 6 ms of a 60 ms rerun), a filter
change on Portfolio a dozen. This index answers them from a plain dictionary keyed by hashable
tuples the caller builds from what the Streamlit cache is keyed by (data version, viewer's scope,
fingerprints), and asks the Streamlit cache only on a miss, so both hold the same object: nothing
is copied, and the first caller still gets Streamlit's spinner and its one computation per key.

Entries of one data version only: the first lookup for a new version (an import swapped a new
file in) empties the index, so it never keeps an old book alive. Bounded (least recently used
leaves first) and safe across the server's session threads. An object the Streamlit cache has
let go can live on here until the index lets go too, so for large objects (prepared books and
backtests: hundreds of MB at 1M accounts) the index is kept smaller than the cache behind it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Index:
    """``get(version, key, make)``: the value for ``key`` under data ``version``, made by ``make()``
    (a call of the Streamlit-cached function) the first time; at most ``size`` entries."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._version: Hashable = None
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: Hashable, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if version == self._version and key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = make()  # outside the lock: the Streamlit cache makes one per key, others wait there
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

