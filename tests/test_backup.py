"""``backup``: consistent copies of both stores, taken while others write."""
from __future__ import annotations

import sqlite3
import threading

import duckdb

from conftest import cli, digest
from scoring.ingest import import_dir
from scoring.state import StateStore


def test_backup_copies_both_stores_while_the_state_is_being_written(good_dir, db, tmp_path):
    import_dir(good_dir, db, history=False)
    state_path = db.with_name("cs.state.sqlite")
    state = StateStore(state_path)
    state.audit("ops", "test", "x")
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            state.audit("ops", "write", f"t{i}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        res = cli("backup", str(tmp_path / "bk"), "--db", str(db), "--state", str(state_path))
    finally:
        stop.set()
        t.join()
    assert res.returncode == 0, res.stderr
    copies = sorted((tmp_path / "bk").iterdir())
    data_copy = next(p for p in copies if p.suffix == ".duckdb")
    state_copy = next(p for p in copies if p.suffix == ".sqlite")
    assert digest(data_copy) == digest(db)
    with duckdb.connect(str(data_copy), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM accounts").fetchall()[0][0] > 0
    con = sqlite3.connect(state_copy)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM audit_log").fetchone()[0] >= 1
    con.close()


def test_backup_without_a_data_file_is_a_clear_error(tmp_path):
    res = cli("backup", str(tmp_path / "bk"), "--db", str(tmp_path / "none.duckdb"))
    assert res.returncode == 1 and "nothing to back up" in res.stderr
