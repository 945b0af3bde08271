"""ui.hot.Index: the plain-dictionary index in front of Streamlit's caches on the hot path."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ui.hot import Index


class Maker:
    """Counts calls and hands out a new object per call, so sameness can be checked."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> object:
        with self.lock:
            self.calls += 1
        return object()


def test_one_object_per_key_and_version():
    index, make = Index(4), Maker()
    a = index.get("v1", ("book", 1), make)
    assert index.get("v1", ("book", 1), make) is a and make.calls == 1
    b = index.get("v1", ("book", 2), make)
    assert b is not a and make.calls == 2


def test_a_new_data_version_empties_it():
    index, make = Index(4), Maker()
    old = index.get("v1", "k", make)
    index.get("v1", "other", make)
    new = index.get("v2", "k", make)  # an import swapped a new file in
    assert new is not old and make.calls == 3
    assert len(index) == 1  # nothing of v1 is kept alive
    assert index.get("v2", "k", make) is new and make.calls == 3


def test_bounded_least_recently_used_first():
    index, make = Index(2), Maker()
    a = index.get("v", "a", make)
    index.get("v", "b", make)
    assert index.get("v", "a", make) is a  # a is now the most recent
    index.get("v", "c", make)  # b leaves
    assert len(index) == 2 and make.calls == 3
    assert index.get("v", "a", make) is a and make.calls == 3
    index.get("v", "b", make)
    assert make.calls == 4


def test_threads_get_one_object_once_made():
    index, make = Index(8), Maker()
    first = index.get("v", "k", make)

    def worker(_: int) -> list:
        seen = []
        for i in range(200):
            seen.append(index.get("v", "k", make))
            index.get("v", ("other", i % 5), make)
        return seen

    with ThreadPoolExecutor(max_workers=8) as pool:  # a worker's exception is raised here
        seen = [x for part in pool.map(worker, range(8)) for x in part]
    assert all(x is first for x in seen) and len(seen) == 1600
    assert len(index) <= 8


def test_page_shared_hands_every_rerun_the_same_object_per_version_scope_and_arguments(tmp_path):
    import os

    import duckdb

    from scoring.scope import Scope
    from scoring.store import DataStore
    from ui.frame import Page

    path = tmp_path / "cs.duckdb"
    duckdb.connect(str(path)).close()
    calls = []

    def rows(ds, *, scope, n, tags=()):  # a query function of the core's shape
        calls.append((scope.label, n, tuple(tags)))
        return {"n": n, "scope": scope.label, "tags": list(tags)}

    everyone, mine = Scope.everyone(), Scope(frozenset({"a@x"}), "CSM a@x")
    page = Page(DataStore(path), everyone, None)
    first = page.shared(rows, n=1)
    assert page.shared(rows, n=1) is first and len(calls) == 1
    assert page.shared(rows, n=2) is not first and len(calls) == 2
    theirs = Page(DataStore(path), mine, None).shared(rows, n=1)
    assert theirs["scope"] == "CSM a@x" and theirs is not first and len(calls) == 3
    # an argument Python cannot hash goes through Streamlit's cache only, and still answers
    assert page.shared(rows, n=1, tags=["x"])["tags"] == ["x"]
    # a new data file (an import swapped in): computed again, not the old version's object
    os.utime(path, ns=(1, 1))
    again = Page(DataStore(path), everyone, None).shared(rows, n=1)
    assert again == first and again is not first and calls[-1] == ("all accounts", 1, ())
