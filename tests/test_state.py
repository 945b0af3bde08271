"""The state store: concurrent writers lose nothing, a crash mid-save leaves the old state."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from scoring.state import StateStore

WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from scoring.state import StateStore
    store = StateStore(sys.argv[1])
    for i in range(int(sys.argv[3])):
        store.audit(sys.argv[2], "test", f"target-{{i}}")
""")


def test_concurrent_processes_writing_lose_nothing(tmp_path):
    path = tmp_path / "cs.state.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    procs = [subprocess.Popen([sys.executable, str(script), str(path), f"w{i}", "60"])
             for i in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    counts = StateStore(path).read("SELECT actor, count(*) FROM audit_log GROUP BY 1 ORDER BY 1")
    assert counts == [("w0", 60), ("w1", 60), ("w2", 60), ("w3", 60)]
    assert StateStore(path).read("PRAGMA journal_mode") == [("wal",)]


CRASHER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from scoring.state import StateStore
    store = StateStore(sys.argv[1])
    with store.transaction() as con:
        con.execute("INSERT INTO snoozes VALUES ('A1', '2030-01-01', 'half', 'me', 'now')")
        con.execute("UPDATE classifications SET dimension = 'depth'")
        os._exit(70)  # dies with the transaction open
""")


def test_crash_mid_save_keeps_the_old_state(tmp_path):
    path = tmp_path / "cs.state.sqlite"
    store = StateStore(path)
    store.classify("login", feature="Login", dimension="frequency", value_action=False, author="ops")
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER.format(root=str(ROOT)))
    assert subprocess.run([sys.executable, str(script), str(path)]).returncode == 70
    assert store.classifications() == {"login": ("Login", "frequency", False)}
    assert store.read("SELECT count(*) FROM snoozes") == [(0,)]
    store.audit("ops", "after", "crash")  # the store is still writable
    assert store.read("SELECT count(*) FROM audit_log") == [(2,)]


def test_failed_transaction_rolls_back(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    with pytest.raises(RuntimeError):
        with store.transaction() as con:
            con.execute("INSERT INTO snoozes VALUES ('A1', '2030-01-01', 'r', 'me', 'now')")
            raise RuntimeError("boom")
    assert store.read("SELECT count(*) FROM snoozes") == [(0,)]


def test_classify_rejects_unknown_dimension(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="expected one of breadth"):
        store.classify("x", feature=None, dimension="vibes", value_action=True, author="me")
    assert store.classifications() == {}


def test_kept_reader_sees_every_commit_holds_no_lock_and_follows_a_restored_file(tmp_path):
    """The app's handle keeps one connection for reads: it still sees what other processes
    commit after it opened, leaves no read transaction behind (a full checkpoint can run right
    after a read), refuses to write, and reads the new file when the state file is replaced."""
    path = tmp_path / "cs.state.sqlite"
    app = StateStore(path, keep_reader=True)
    assert app.read("SELECT count(*) FROM audit_log") == [(0,)]
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    assert subprocess.run([sys.executable, str(script), str(path), "cron", "3"]).returncode == 0
    assert app.read("SELECT count(*) FROM audit_log") == [(3,)]  # committed elsewhere, seen here
    import sqlite3
    other = sqlite3.connect(path, isolation_level=None)
    assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # 0: not blocked
    other.close()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        app.read("DELETE FROM audit_log")
    backup = tmp_path / "restored.sqlite"
    fresh = StateStore(backup)
    fresh.audit("restored", "one", "row")
    backup.replace(path)  # a restore: another file now at the same path
    assert app.read("SELECT actor FROM audit_log") == [("restored",)]


def test_kept_reader_serves_many_threads_at_once(tmp_path):
    import threading

    store = StateStore(tmp_path / "s.sqlite", keep_reader=True)
    for i in range(5):
        store.audit("me", "a", f"t{i}")
    seen, errors = [], []

    def reader() -> None:
        try:
            for _ in range(50):
                seen.append(store.read("SELECT count(*) FROM audit_log")[0][0])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and seen == [5] * 400
