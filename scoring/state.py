"""The state store: what people save, kept apart from the imported data.

SQLite from the standard library, in WAL mode. Imports never touch this file, so profiles,
classifications, the outreach log, snoozes, overrides and the audit log survive every refresh.
Every process (the app's sessions, scheduled commands) opens it for one short transaction at a
time (the app's process may keep one connection for reads, ``StateStore(keep_reader=True)``); a writer that meets a lock waits (``busy_timeout``) and then retries, so the app and a cron
job can write at once. SQLite's journal makes each transaction all or nothing, so a crash leaves
either the old state or the new one.

Tables (created on first open; ``schema_version`` in ``PRAGMA user_version``):

- ``profiles(name, version, author, created_at, note, body, published)``: weight profiles, one
  row per saved version; ``body`` is the profile document (TOML text).
- ``classifications(event_type, feature, dimension, value_action, author, updated_at)``: event
  types classified in the app; they override the imported catalogue.
- ``outreach_log(account_id, action, list_name, author, at, note)``: contacted / exported.
- ``snoozes(account_id, until, reason, author, at)``.
- ``overrides(account_id, flag, reason, expires, author, at)``: manual risk flags.
- ``audit_log(at, actor, action, target, detail)``: every change people make.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS profiles (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS classifications (
    event_type TEXT PRIMARY KEY,
    feature TEXT,
    dimension TEXT NOT NULL,
    value_action INTEGER NOT NULL,
    author TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outreach_log (
    id INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    list_name TEXT,
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS snoozes (
    account_id TEXT PRIMARY KEY,
    until TEXT NOT NULL,
    reason TEXT NOT NULL,
    author TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS overrides (
    account_id TEXT PRIMARY KEY,
    flag TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires TEXT,
    author TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"""

BUSY_TIMEOUT_MS = 5_000
RETRIES = 20


def now_utc() -> str:
    """The current UTC time as ISO 8601 text (how the state store keeps times)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


class StateStore:
    """Handle on the state file; holds no open connection between transactions.

    ``keep_reader``: keep one connection for ``read`` between calls (one per handle, shared by
    threads under a lock), for the app's long-lived process, where a page reads the store several
    times per rerun and opening a connection costs more than the query. It changes nothing of
    what is read: in autocommit mode each read sees every transaction committed before it, holds
    no lock once its rows are fetched, and the connection is opened anew when the file at ``path``
    is another file (a state store restored from a backup)."""

    def __init__(self, path: str | os.PathLike, *, keep_reader: bool = False) -> None:
        self.path = Path(path)
        self._ready = False
        self._keep = keep_reader
        self._reader: tuple[sqlite3.Connection, tuple[int, int]] | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                              check_same_thread=not self._keep)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        con = self._connect()
        try:
            _retry(lambda: con.execute("PRAGMA journal_mode = WAL"))
            if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                def create() -> None:
                    try:
                        con.executescript("BEGIN IMMEDIATE;" + _DDL
                                          + f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
                    except BaseException:
                        if con.in_transaction:
                            con.execute("ROLLBACK")
                        raise
                _retry(create)
        finally:
            con.close()
        self._ready = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction: all of it is saved, or none of it.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so two writers never deadlock
        half-way; a writer that finds the lock taken waits and retries.
        """
        self._ensure_schema()
        con = self._connect()
        try:
            _retry(lambda: con.execute("BEGIN IMMEDIATE"))
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            _retry(lambda: con.execute("COMMIT"))
        finally:
            con.close()

    def read(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        """Run one read query (bound parameters only) and return all rows."""
        self._ensure_schema()
        if self._keep:
            return self._kept_read(sql, params)
        con = self._connect()
        try:
            return _retry(lambda: con.execute(sql, params).fetchall())
        finally:
            con.close()

    def _kept_read(self, sql: str, params: tuple | list) -> list[tuple]:
        st = os.stat(self.path)
        ident = (st.st_dev, st.st_ino)
        with self._lock:
            if self._reader is not None and self._reader[1] != ident:
                self._reader[0].close()
                self._reader = None
            if self._reader is None:
                con = self._connect()
                con.execute("PRAGMA query_only = ON")  # this connection never writes
                self._reader = (con, ident)
            con = self._reader[0]
            return _retry(lambda: con.execute(sql, params).fetchall())

    # -- event-type classifications (the Data page reads them; later issues write them) --------

    def classifications(self) -> dict[str, tuple[str | None, str, bool]]:
        """Event types classified in the app: ``{event_type: (feature, dimension, value_action)}``."""
        rows = self.read("SELECT event_type, feature, dimension, value_action FROM classifications")
        return {r[0]: (r[1], r[2], bool(r[3])) for r in rows}

    def classify(self, event_type: str, *, feature: str | None, dimension: str,
                 value_action: bool, author: str) -> None:
        """Save (or replace) an app classification and log it, in one transaction."""
        self.classify_many([(event_type, feature, dimension, value_action)], author=author)

    def classify_many(self, changes: list[tuple[str, str | None, str, bool]], *, author: str) -> None:
        """Save several classifications ``(event_type, feature, dimension, value_action)`` at once:
        all of them or, when one is invalid or the transaction fails, none."""
        from .schema import DIMENSIONS

        for event_type, _, dimension, _ in changes:
            if not isinstance(event_type, str) or not event_type:
                raise ValueError(f"event type {event_type!r}: expected a non-empty name")
            if dimension not in DIMENSIONS:
                raise ValueError(f"{event_type}: dimension {dimension!r}, expected one of {', '.join(DIMENSIONS)}")
        at = now_utc()
        with self.transaction() as con:
            for event_type, feature, dimension, value_action in changes:
                con.execute(
                    "INSERT INTO classifications VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(event_type) DO UPDATE"
                    " SET feature=excluded.feature, dimension=excluded.dimension,"
                    " value_action=excluded.value_action, author=excluded.author,"
                    " updated_at=excluded.updated_at",
                    (event_type, feature or None, dimension, int(bool(value_action)), author, at),
                )
                con.execute(
                    "INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?, ?, 'classify', ?, ?)",
                    (at, author, event_type, f"{feature or event_type}, {dimension}, "
                                             f"{'value' if value_action else 'passive'}"),
                )

    def unclassify(self, event_type: str, *, author: str) -> bool:
        """Remove the app's classification of ``event_type`` (the imported one applies again)."""
        with self.transaction() as con:
            gone = con.execute("DELETE FROM classifications WHERE event_type = ?", (event_type,)).rowcount
            if gone:
                con.execute("INSERT INTO audit_log(at, actor, action, target, detail) "
                            "VALUES (?, ?, 'unclassify', ?, '')", (now_utc(), author, event_type))
        return bool(gone)

    def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (now_utc(), actor, action, target, detail),
            )


def _retry(fn):
    """Run ``fn``, retrying while SQLite reports a lock (after its own busy wait)."""
    for attempt in range(RETRIES):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if ("locked" not in msg and "busy" not in msg) or attempt == RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
