"""The ``backup`` command: a consistent copy of both stores, safe while the app and jobs run.

- The data file is never written in place (every write builds a new file and renames it over the
  old one), so the file at the path is always complete: it is copied from one open handle, which
  keeps reading the same version even if an import swaps a new one in meanwhile.
- The state store is copied with SQLite's online backup API, which gives a consistent snapshot
  while other processes write (a plain file copy of a WAL database could miss recent commits).

Restore: stop the app and jobs, copy both files back to their paths (docs: README, "Running it
for a team").
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
from pathlib import Path

from . import paths
from .errors import DataError


def backup(db: Path, state: Path, folder: Path) -> tuple[Path, Path | None]:
    """Copy the data file and the state store into ``folder`` (created); returns the two copies
    (the state copy is None when there is no state file yet)."""
    if not db.exists():
        raise DataError(f"no data file at {db}: nothing to back up")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    data_copy = folder / f"{db.stem}-{stamp}{db.suffix}"
    with open(db, "rb") as src, open(str(data_copy) + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(str(data_copy) + ".part", data_copy)
    state_copy = None
    if state.exists():
        state_copy = folder / f"{state.stem}-{stamp}{state.suffix}"
        src_con = sqlite3.connect(state)
        try:
            dst_con = sqlite3.connect(state_copy)
            try:
                src_con.backup(dst_con)
            finally:
                dst_con.close()
        finally:
            src_con.close()
    return data_copy, state_copy


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    b = sub.add_parser("backup", parents=[common], help="copy the data file and the state store to DIR")
    b.add_argument("dir", help="folder for the copies (created; names carry the UTC time)")
    b.set_defaults(run=_cmd_backup)


def _cmd_backup(args: argparse.Namespace) -> int:
    db = paths.db_path(args.db)
    data_copy, state_copy = backup(db, paths.state_path(db, args.state), Path(args.dir))
    print(f"data: {data_copy}")
    print(f"state: {state_copy}" if state_copy else "state: none yet (nothing saved in the app)")
    return 0
