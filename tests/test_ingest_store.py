"""Import as a whole: crash safety, carry-over, round trips of awkward text, readers during a swap."""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ACCOUNT_COLS, EVENT_COLS, accounts_rows, cli, digest, events_rows, write_csv
from scoring.ingest import import_dir
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataError, DataStore, table_overview

AWKWARD = [
    'Comma, Inc.',
    'He said "hello"',
    "Tab\there",
    "Two\nlines",
    "Windows\r\nline end",
    "株式会社サンプル",
    "Müller & Söhne GmbH",
    "=HYPERLINK(\"http://x\",\"y\")",
    "+1 leading plus",
    "-minus",
    "@at",
    "  padded  ",
    "Ελληνικά; العربية; 🚀",
]


def _rows(con, sql):
    return con.execute(sql).fetchall()


def _read(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return _rows(con, sql)
    finally:
        con.close()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_awkward_names_survive_byte_for_byte(fmt, tmp_path, db):
    d = tmp_path / "in"
    rows = accounts_rows(len(AWKWARD))
    for r, name in zip(rows, AWKWARD):
        r[1] = name
    if fmt == "csv":
        write_csv(d / "accounts.csv", ACCOUNT_COLS, rows)
    else:
        d.mkdir()
        cols = {c: [str(r[i]) for r in rows] for i, c in enumerate(ACCOUNT_COLS)}
        cols["arr"] = [float(r[7]) for r in rows]
        cols["seats"] = [int(r[8]) for r in rows]
        pq.write_table(pa.table(cols), d / "accounts.parquet")
    write_csv(d / "usage_events.csv", EVENT_COLS, events_rows(2))
    import_dir(d, db)
    got = [r[0] for r in _read(db, "SELECT name FROM accounts ORDER BY account_id")]
    want = [name for _, name in sorted(zip([r[0] for r in rows], AWKWARD))]
    assert [g.encode() for g in got] == [w.encode() for w in want]


def test_types_and_time_rules(good_dir, tmp_path, db):
    write_csv(good_dir / "usage_events.csv", EVENT_COLS, [
        ["A1", "2024-05-01T10:00:00Z", "report_generated", "u1", "2"],
        ["A1", "2024-05-02", "login", "", ""],  # date only = midnight UTC; quantity defaults to 1
        ["A2", "2024-05-02 10:00:00+02:00", "login", "u2", "1.5"],  # zone converted to UTC
    ])
    import_dir(good_dir, db)
    rows = _read(db, "SELECT account_id, occurred_at, user_id, quantity FROM usage_events ORDER BY 1, 2")
    assert rows == [("A1", dt.datetime(2024, 5, 1, 10), "u1", 2.0),
                    ("A1", dt.datetime(2024, 5, 2), None, 1.0),
                    ("A2", dt.datetime(2024, 5, 2, 8), "u2", 1.5)]
    types = dict(_read(db, "SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_name = 'accounts'"))
    assert types["arr"] == "DOUBLE" and types["seats"] == "BIGINT" and types["renewal_date"] == "DATE"


def test_tables_not_given_are_carried_over_and_vanished_accounts_reported(good_dir, tmp_path, db):
    import_dir(good_dir, db)
    d = tmp_path / "second"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows(3))  # A4 and A5 vanish
    write_csv(d / "event_types.csv", ["event_type", "feature", "dimension", "value_action", "owner"],
              [["login", "Login", "frequency", "false", "x"]])
    result = import_dir(d, db)
    assert result.vanished_accounts == ["A4", "A5"]
    assert any("extra column owner ignored" in w for w in result.warnings)
    assert _read(db, "SELECT count(*) FROM usage_events") == [(20,)]  # carried over whole
    notes = _read(db, "SELECT topic, detail FROM import_notes WHERE run_id = 2 ORDER BY 1, 2")
    assert ("vanished_account", "A4") in notes and ("vanished_account", "A5") in notes
    assert _read(db, "SELECT run_id, tables, vanished_accounts FROM import_runs ORDER BY 1") == [
        (1, "accounts,usage_events", 0), (2, "accounts,event_types", 2)]


def test_unclassified_event_types_are_still_loaded(good_dir, db):
    write_csv(good_dir / "event_types.csv", ["event_type", "feature", "dimension", "value_action"],
              [["login", "Login", "frequency", "FALSE"]])
    import_dir(good_dir, db)
    assert _read(db, "SELECT DISTINCT event_type FROM usage_events ORDER BY 1") == [
        ("login",), ("report_generated",)]
    assert _read(db, "SELECT value_action FROM event_types") == [(False,)]


CRASH_POINTS = ["after_copy", "mid_load", "before_checkpoint", "before_swap"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_before_swap_leaves_store_as_it_was(point, good_dir, tmp_path, db):
    import_dir(good_dir, db)
    before = digest(db)
    d = tmp_path / "next"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows(7))
    write_csv(d / "usage_events.csv", EVENT_COLS, events_rows(7))
    res = cli("import", str(d), "--db", str(db), env={"CS_CRASH_AT": point})
    assert res.returncode == 70, res.stderr
    assert f"crash point {point} reached" in res.stderr
    assert digest(db) == before
    assert not db.with_name(db.name + ".wal").exists()
    assert _read(db, "SELECT count(*) FROM accounts") == [(5,)]
    # The next import cleans up what the crash left and succeeds.
    res = cli("import", str(d), "--db", str(db))
    assert res.returncode == 0, res.stderr
    assert not list(db.parent.glob("*.building-*"))
    assert _read(db, "SELECT count(*) FROM accounts") == [(7,)]


def test_crash_after_swap_leaves_the_new_store_whole(good_dir, tmp_path, db):
    import_dir(good_dir, db)
    d = tmp_path / "next"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows(7))
    write_csv(d / "usage_events.csv", EVENT_COLS, events_rows(7))
    res = cli("import", str(d), "--db", str(db), env={"CS_CRASH_AT": "after_swap"})
    assert res.returncode == 70
    assert not db.with_name(db.name + ".wal").exists()
    assert _read(db, "SELECT count(*) FROM accounts") == [(7,)]
    assert _read(db, "SELECT max(run_id) FROM import_runs") == [(2,)]


def test_reader_keeps_its_version_while_import_swaps(good_dir, tmp_path, db):
    import_dir(good_dir, db)
    old = DataStore(db)
    d = tmp_path / "next"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows(8))
    res = cli("import", str(d), "--db", str(db))  # another process, while this one reads
    assert res.returncode == 0, res.stderr
    new = DataStore(db)
    assert new.version != old.version
    assert old.rows("SELECT count(*) FROM accounts") == [(5,)]
    assert new.rows("SELECT count(*) FROM accounts") == [(8,)]
    old.close()
    new.close()


def test_import_never_touches_the_state_store(good_dir, tmp_path, db):
    state = StateStore(db.with_name("cs.state.sqlite"))
    state.classify("login", feature="Login", dimension="frequency", value_action=False, author="ops@x")
    before = digest(state.path)
    import_dir(good_dir, db)
    import_dir(good_dir, db)
    assert digest(state.path) == before
    assert state.classifications() == {"login": ("Login", "frequency", False)}


def test_missing_data_file_is_an_error_not_a_demo(tmp_path):
    missing = tmp_path / "nope" / "cs.duckdb"
    with pytest.raises(DataError, match="no data file at .*nope/cs.duckdb"):
        DataStore(missing)
    assert not missing.exists() and not missing.parent.exists()


def test_table_overview_respects_scope(good_dir, db):
    import_dir(good_dir, db)
    ds = DataStore(db)
    everyone = table_overview(ds, scope=Scope.everyone()).set_index("table")
    mine = table_overview(ds, scope=Scope.for_owners({"csm1@example.com"})).set_index("table")
    nobody = table_overview(ds, scope=Scope.for_owners(set())).set_index("table")
    ds.close()
    assert everyone.loc["accounts", "rows"] == 5 and everyone.loc["usage_events", "rows"] == 20
    assert mine.loc["accounts", "rows"] == 3 and mine.loc["usage_events", "rows"] == 12  # A1, A3, A5
    assert nobody.loc["accounts", "rows"] == 0
    assert not everyone.loc["mrr_history", "loaded"]


def test_stored_types_follow_the_schema_whatever_the_parquet_types(tmp_path, db):
    d = tmp_path / "typed"
    d.mkdir()
    n = 3
    pq.write_table(pa.table({
        "account_id": ["A1", "A2", "A3"], "name": ["a", "b", "c"], "segment": ["s"] * n,
        "plan": ["p"] * n, "region": ["r"] * n, "csm_owner": ["c@x"] * n,
        "arr": pa.array([100, 200, 300], pa.int32()),  # integers for a number column
        "seats": pa.array([1.0, 2.0, 3.0]),  # whole doubles for an integer column
        "contract_start": pa.array([dt.date(2024, 1, 1)] * n),
        "renewal_date": ["2025-01-01"] * n,  # text for a date column
    }), d / "accounts.parquet")
    pq.write_table(pa.table({
        "account_id": ["A1", "A2"],
        "occurred_at": pa.array([dt.datetime(2024, 5, 1, 12), dt.datetime(2024, 5, 2)], pa.timestamp("ns")),
        "event_type": ["x", "y"], "quantity": pa.array([1, 2], pa.int64()),
    }), d / "usage_events.parquet")
    import_dir(d, db)
    from scoring.schema import TABLES
    for name in ("accounts", "usage_events"):
        got = _read(db, "SELECT column_name, data_type FROM information_schema.columns "
                        f"WHERE table_name = '{name}' ORDER BY ordinal_position")
        assert got == [(c.name, c.sql_type) for c in TABLES[name].columns]
    assert _read(db, "SELECT seats, arr FROM accounts ORDER BY 1") == [(1, 100.0), (2, 200.0), (3, 300.0)]
    assert _read(db, "SELECT user_id, quantity FROM usage_events ORDER BY 2") == [(None, 1.0), (None, 2.0)]


def test_repeated_imports_do_not_grow_the_file(tmp_path, db):
    d = tmp_path / "big"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows(50))
    rows = [[f"A{1 + i % 50}", f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00", f"ev{i % 17}",
             f"u{i % 301}", i % 7] for i in range(60_000)]
    write_csv(d / "usage_events.csv", EVENT_COLS, rows)
    import_dir(d, db)
    first = db.stat().st_size
    sizes = []
    for _ in range(5):
        import_dir(d, db)
        sizes.append(db.stat().st_size)
    # DuckDB keeps some free blocks, but replaced tables are dropped before staging, so the
    # file settles instead of holding two copies of the data (it used to double every other run).
    assert max(sizes) <= first * 1.5
    assert sizes[-1] == sizes[-2]


def test_progress_is_reported_in_order_to_the_end(good_dir, db):
    seen: list[tuple[str, float]] = []
    import_dir(good_dir, db, progress=lambda what, frac: seen.append((what, frac)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"reading accounts.csv", "reading usage_events.csv", "done"} <= {w for w, _ in seen}
