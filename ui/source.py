"""Where a rerun gets its data: one ``DataStore`` per data version, and the demo on first start.

- **One version per rerun.** ``open_store`` resolves the data file (``CS_DB`` or the default),
  reads its ``Version`` (path, inode, mtime) and returns the ``DataStore`` cached for exactly that
  version. When an import swaps a new file in, the next rerun gets a new version and a new store;
  sessions still holding the old one keep reading the old inode until they rerun. Old stores are
  not closed on eviction (a session may still be reading); they close when nothing holds them.
- **First start.** Only at the default path, and only when no file is there, the app builds the
  demo itself, once: a process-wide lock (cached with ``st.cache_resource``) queues the sessions
  of this server, a lock file queues other processes, and whoever gets the locks second finds the
  file (``build_demo`` swaps it in whole) and simply opens it. The lock file is not the store's
  writer lock on purpose: ``build_demo`` takes that one itself, and ``flock`` on a second handle in
  the same process would wait for ever.
- **A missing ``CS_DB``** is shown as an error with the path and the fix; nothing is built.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from scoring import paths
from scoring.store import DataError, DataStore, Version

Progress = Callable[[str, float], None]


@st.cache_resource(show_spinner=False)
def _process_lock() -> threading.Lock:
    return threading.Lock()


@contextlib.contextmanager
def _file_lock(db: Path) -> Iterator[None]:
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".first-start.lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_demo(db: Path, *, progress: Progress | None = None,
                on_wait: Callable[[], None] | None = None) -> bool:
    """Build the demo at ``db`` unless a file is there; True when this call built it.

    ``on_wait`` is called once when another session is already building, before waiting for it.
    """
    lock = _process_lock()
    if not lock.acquire(blocking=False):
        if on_wait:
            on_wait()
        lock.acquire()
    try:
        with _file_lock(db):
            if db.exists():
                return False
            # Looked up at call time: the demo module is optional until first start needs it.
            demo = importlib.import_module("scoring.demo")
            demo.build_demo(db, progress=progress)
            return True
    finally:
        lock.release()


def _progress_bar() -> tuple[Progress, Callable[[], None]]:
    """A progress callback drawing ``st.progress``, and a function that removes the bar.

    Builders may report from worker threads, which cannot draw; the bar then catches up on the
    next report from the script thread.
    """
    bar = st.progress(0.0, text="Building the demo data for the first start…")
    script_thread = threading.get_ident()
    last = [0.0]

    def update(what: str, frac: float) -> None:
        last[0] = max(last[0], min(max(frac, 0.0), 1.0))  # never runs backwards
        if threading.get_ident() == script_thread and get_script_run_ctx(suppress_warning=True):
            bar.progress(last[0], text=f"Building the demo data: {what}")

    return update, bar.empty


def _first_start(db: Path) -> None:
    notice = st.empty()
    notice.info("No data yet: building a demo data set so you can look around. This happens "
                "once; your own data replaces it with `python -m scoring import DIR`.")
    update, remove_bar = _progress_bar()
    try:
        ensure_demo(db, progress=update, on_wait=lambda: notice.info(
            "Another session is building the demo data; this page opens when it is ready."))
    except Exception as exc:  # shown, not swallowed: the page stops here
        remove_bar()
        notice.error("Building the demo data failed. Fix the cause below, or import your own "
                     "data with `python -m scoring import DIR`.")
        st.exception(exc)
        st.stop()
    remove_bar()
    notice.empty()


def _show_missing(db: Path) -> None:
    st.error("No data file where `CS_DB` points. The app builds demo data by itself only at the "
             "default path `data/cs.duckdb`; a `CS_DB` naming a missing file is an error.")
    st.code(str(db), language=None)
    st.markdown("To fix it, do one of these, then reload this page:\n"
                "- import your data there: `python -m scoring import DIR --db \"$CS_DB\"`\n"
                "- build the demo there: `python -m scoring demo --db \"$CS_DB\"`\n"
                "- point `CS_DB` at an existing data file, or unset it to use `data/cs.duckdb`")


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(version: Version) -> DataStore:
    return DataStore(version.path)


def open_store() -> DataStore:
    """The one ``DataStore`` this rerun reads; stops the page with an error when there is none."""
    db = paths.db_path()
    if not db.exists():
        if paths.is_default_db(db):
            _first_start(db)
        else:
            _show_missing(db)
            st.stop()
    try:
        return _store(Version.of(db))
    except (DataError, duckdb.Error) as exc:
        st.error("The data file could not be opened.")
        st.code(f"{db}\n{exc}", language=None)
        st.stop()
        raise  # st.stop() raises; this keeps type checkers honest
