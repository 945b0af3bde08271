"""The data store: the one module that talks to DuckDB.

Two halves, both shaped by how DuckDB locks files (one process writing excludes every other
process, even readers):

- **Reading.** Readers (the app, commands) open the file read-only. A ``DataStore`` holds one
  base connection per data version and runs each query on its own ``cursor()``, reading results
  to the end, so many sessions' threads can share it. A data version is the file's identity
  (inode and modification time): when an import swaps a new file in, a fresh ``DataStore`` sees
  the new version while one already open keeps reading the old inode, so a rerun that took one
  ``DataStore`` reads one version only.
- **Writing.** Nobody writes the live file in place. ``rebuild`` copies it to a new file beside
  it, lets the caller change the copy, checkpoints it (no WAL left behind) and swaps it in with an
  atomic rename. A failure or crash at any step leaves the live file exactly as it was; writers
  queue on a lock file.

Every query function takes the viewer's ``Scope`` (keyword ``scope``) and binds every value.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from . import crash
from .errors import DataError
from .schema import DERIVED_DDL, TABLES
from .scope import Scope

if TYPE_CHECKING:  # pandas costs 0.7 s to import; commands that never need it skip it
    import pandas as pd


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Version:
    """Identity of one data file version; changes whenever a rebuild swaps a new file in."""

    path: str
    inode: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> "Version":
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise DataError(f"no data file at {p}: run `python -m scoring demo` or "
                            f"`python -m scoring import DIR` first") from None
        return cls(str(p), st.st_ino, st.st_mtime_ns)


class DataStore:
    """Read-only access to one version of the data file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.version = Version.of(path)
        # duckdb.connect(path) would reuse this process's cached instance of the path, which
        # still reads the file an import has since replaced. A fresh in-memory instance that
        # attaches the file opens whatever file is at the path now.
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")  # cursors share global settings
        self._con.execute("ATTACH ? AS data (READ_ONLY)", [self.version.path])
        if Version.of(path) != self.version:  # a swap landed between stat() and attach
            self._con.close()
            self.__init__(path)

    @property
    def path(self) -> Path:
        return Path(self.version.path)

    def close(self) -> None:
        self._con.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self._con.cursor()  # one per query: the base connection refuses concurrent use
        cur.execute("USE data")  # a cursor starts in the in-memory catalog
        return cur

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on this version for code that runs several statements (the scoring core)."""
        cur = self._cursor()
        try:
            yield cur
        finally:
            cur.close()

    def df(self, sql: str, params: list | tuple = ()) -> pd.DataFrame:
        """Run one query on its own cursor and return the whole result as a DataFrame."""
        cur = self._cursor()
        try:
            return cur.execute(sql, list(params)).df()
        finally:
            cur.close()

    def rows(self, sql: str, params: list | tuple = ()) -> list[tuple]:
        """Run one query on its own cursor and return all rows."""
        cur = self._cursor()
        try:
            return cur.execute(sql, list(params)).fetchall()
        finally:
            cur.close()

    def tables(self) -> set[str]:
        return {r[0] for r in self.rows("SELECT table_name FROM duckdb_tables() "
                                        "WHERE database_name = 'data' AND schema_name = 'main'")}


# ---------------------------------------------------------------- writing


def _lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def building_path(db: Path) -> Path:
    """The new file a rebuild writes before the swap (one per process)."""
    return db.with_name(f"{db.name}.building-{os.getpid()}")


@contextlib.contextmanager
def writer_lock(db: Path) -> Iterator[None]:
    """Serialise writers of one data file across processes (readers never take it)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(db), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(db: Path) -> None:
    """Delete what a crashed rebuild left behind: its new file, log and spill folder."""
    for p in db.parent.glob(db.name + ".building-*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def rebuild(db: Path, build: Callable[[duckdb.DuckDBPyConnection], None], *, fresh: bool = False) -> None:
    """Write a new version of the data file: copy, change, checkpoint, swap.

    ``build`` receives a read-write connection to the copy (or to an empty file when ``fresh`` or
    when there is no data file yet). If it raises, the copy is deleted and the live file is not
    touched. Crash points (``CS_CRASH_AT``): ``after_copy``, ``before_checkpoint``,
    ``before_swap``, ``after_swap``; ``build`` may add its own.
    """
    db = Path(db)
    with writer_lock(db):
        _remove_leftovers(db)
        if db.with_name(db.name + ".wal").exists():
            raise DataError(f"{db}.wal exists: the data file was written in place by another tool; "
                            "open it once with DuckDB to apply the log, then retry")
        new = building_path(db)
        if db.exists() and not fresh:
            shutil.copyfile(db, new)
        crash.point("after_copy")
        try:
            con = duckdb.connect(str(new))
            try:
                con.execute("SET TimeZone = 'UTC'")
                # DuckDB would buffer up to 80% of RAM before spilling; a bound keeps a big import
                # beside a running app (it spills to <new file>.tmp, removed with the file).
                con.execute("SET memory_limit = ?", [os.environ.get("CS_WRITE_MEMORY", "1GB")])
                for ddl in DERIVED_DDL.values():
                    con.execute(ddl)
                build(con)
                crash.point("before_checkpoint")
                con.execute("CHECKPOINT")
            finally:
                con.close()
            if new.with_name(new.name + ".wal").exists():
                raise DataError(f"internal error: {new}.wal left after checkpoint")
            _fsync(new)
            crash.point("before_swap")
            os.replace(new, db)
            _fsync(db.parent)
            crash.point("after_swap")
        except BaseException:
            _remove_leftovers(db)
            raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- queries for every page


def meta(ds: DataStore) -> dict[str, str]:
    """Key/value facts about the data: ``is_demo``, ``data_version``, ... (not scoped: no accounts)."""
    return dict(ds.rows("SELECT key, value FROM meta"))


def is_demo(ds: DataStore) -> bool:
    return meta(ds).get("is_demo") == "true"


def last_import(ds: DataStore) -> dict | None:
    """The newest import run (time, source, tables, rows), or None when there was none."""
    df = ds.df("SELECT * FROM import_runs ORDER BY run_id DESC LIMIT 1")
    return None if df.empty else df.iloc[0].to_dict()


def data_as_of(ds: DataStore, *, scope: Scope) -> pd.Timestamp | None:
    """The default as-of date: the day after the newest event in the store.

    The same for every viewer (the contract's default, and the date the stored inputs are for):
    a CSM's scores must not move to another date because their own accounts went quiet. It
    reveals a date only, no account data, so ``scope`` does not narrow it.
    """
    rows = ds.rows("SELECT max(occurred_at)::DATE + 1 FROM usage_events")
    value = rows[0][0]
    if value is None:
        return None
    import pandas as pd

    return pd.Timestamp(value)


def table_overview(ds: DataStore, *, scope: Scope) -> pd.DataFrame:
    """Per import table: rows visible to the viewer, and the date range of its main date column."""
    date_col = {"usage_events": "occurred_at", "mrr_history": "effective_date",
                "nps_responses": "responded_at", "support_tickets": "opened_at",
                "invoices": "issued_at", "accounts": "contract_start"}
    present = ds.tables()
    out = []
    for name, table in TABLES.items():
        if name not in present:
            out.append({"table": name, "needed": table.needed, "loaded": False, "rows": 0,
                        "first": None, "last": None})
            continue
        where, params = (scope.account_filter() if "account_id" in table.names else ("TRUE", []))
        col = date_col.get(name)
        dates = f"min({col})::DATE, max({col})::DATE" if col else "NULL, NULL"
        n, first, last = ds.rows(f'SELECT count(*), {dates} FROM "{name}" WHERE {where}', params)[0]
        out.append({"table": name, "needed": table.needed, "loaded": True, "rows": n,
                    "first": first, "last": last})
    import pandas as pd

    return pd.DataFrame(out)
