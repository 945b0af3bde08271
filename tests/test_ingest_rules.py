"""Each import rule of the contract, broken once: the message locates it and the store is unchanged."""
from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ACCOUNT_COLS, EVENT_COLS, accounts_rows, cli, digest, events_rows, write_csv
from scoring.ingest import ImportFailed, import_dir
from scoring.store import DataError

ACC = accounts_rows()


def _acc(**change) -> list[list]:
    """The five good accounts with one field of the last row changed."""
    rows = [list(r) for r in ACC]
    for col, value in change.items():
        rows[-1][ACCOUNT_COLS.index(col)] = value
    return rows


EVT = events_rows()


def _evt(col: str, value) -> list[list]:
    rows = [list(r) for r in EVT]
    rows[-1][EVENT_COLS.index(col)] = value
    return rows


LAST_EVT_LINE = len(EVT) + 1
LAST_ACC_LINE = len(ACC) + 1

# (file, header, rows, line, column, value, words expected in the message)
CASES = [
    ("accounts", ACCOUNT_COLS, _acc(account_id=""), LAST_ACC_LINE, "account_id", "", "non-empty text"),
    ("accounts", ACCOUNT_COLS, _acc(account_id="\t "), LAST_ACC_LINE, "account_id", "\t ", "non-empty text"),
    ("accounts", ACCOUNT_COLS, _acc(account_id="A1"), LAST_ACC_LINE, "account_id", "A1",
     "each account_id once (first seen at line 2)"),
    ("accounts", ACCOUNT_COLS, _acc(arr="12k"), LAST_ACC_LINE, "arr", "12k", "a number >= 0"),
    ("accounts", ACCOUNT_COLS, _acc(arr="-5"), LAST_ACC_LINE, "arr", "-5", "a number >= 0"),
    ("accounts", ACCOUNT_COLS, _acc(arr="nan"), LAST_ACC_LINE, "arr", "nan", "a number >= 0"),
    ("accounts", ACCOUNT_COLS, _acc(seats="2.5"), LAST_ACC_LINE, "seats", "2.5", "a whole number >= 0"),
    ("accounts", ACCOUNT_COLS, _acc(seats="-1"), LAST_ACC_LINE, "seats", "-1", "a whole number >= 0"),
    ("accounts", ACCOUNT_COLS, _acc(contract_start="01/02/2024"), LAST_ACC_LINE, "contract_start",
     "01/02/2024", "a date YYYY-MM-DD"),
    ("accounts", ACCOUNT_COLS, _acc(renewal_date="2024-02-30"), LAST_ACC_LINE, "renewal_date",
     "2024-02-30", "a date YYYY-MM-DD"),
    ("usage_events", EVENT_COLS, _evt("account_id", "ZZ9"), LAST_EVT_LINE, "account_id", "ZZ9",
     "an account_id present in accounts"),
    ("usage_events", EVENT_COLS, _evt("occurred_at", "yesterday"), LAST_EVT_LINE, "occurred_at",
     "yesterday", "ISO 8601"),
    ("usage_events", EVENT_COLS, _evt("occurred_at", "infinity"), LAST_EVT_LINE, "occurred_at",
     "infinity", "ISO 8601"),
    ("usage_events", EVENT_COLS, _evt("event_type", ""), LAST_EVT_LINE, "event_type", "", "non-empty"),
    ("usage_events", EVENT_COLS, _evt("quantity", "-2"), LAST_EVT_LINE, "quantity", "-2", "a number >= 0"),
    ("usage_events", EVENT_COLS, _evt("quantity", "lots"), LAST_EVT_LINE, "quantity", "lots", "a number"),
    ("event_types", ["event_type", "feature", "dimension", "value_action"],
     [["login", "Login", "frequency", "false"], ["report_generated", "Reports", "depthh", "true"]],
     3, "dimension", "depthh", "one of breadth, frequency, depth, collaboration, integration"),
    ("event_types", ["event_type", "feature", "dimension", "value_action"],
     [["login", "Login", "frequency", "false"], ["report_generated", "Reports", "depth", "yes please"]],
     3, "value_action", "yes please", "true or false"),
    ("event_types", ["event_type", "feature", "dimension", "value_action"],
     [["login", "Login", "frequency", "false"], ["login", "Login", "frequency", "true"]],
     3, "event_type", "login", "each event_type once"),
    ("mrr_history", ["account_id", "effective_date", "mrr"],
     [["A1", "2024-01-01", "100"], ["A1", "2024-01-01", "120"]], 3, "account_id", "A1",
     "each account_id and effective_date once"),
    ("mrr_history", ["account_id", "effective_date", "mrr"],
     [["A1", "2024-01-01", "100"], ["A2", "2024-01-01", "-1"]], 3, "mrr", "-1", "a number >= 0"),
    ("nps_responses", ["account_id", "responded_at", "score"],
     [["A1", "2024-01-01", "9"], ["A2", "2024-01-01", "11"]], 3, "score", "11", "a whole number from 0 to 10"),
    ("support_tickets", ["ticket_id", "account_id", "opened_at", "closed_at", "priority", "sentiment"],
     [["T1", "A1", "2024-01-01", "", "high", "0.5"], ["T2", "A1", "2024-01-01", "", "critical", ""]],
     3, "priority", "critical", "one of low, normal, high, urgent"),
    ("support_tickets", ["ticket_id", "account_id", "opened_at", "closed_at", "priority", "sentiment"],
     [["T1", "A1", "2024-01-01", "", "high", "0.5"], ["T2", "A1", "2024-01-01", "", "low", "1.5"]],
     3, "sentiment", "1.5", "a number from -1 to 1"),
    ("support_tickets", ["ticket_id", "account_id", "opened_at", "closed_at", "priority", "sentiment"],
     [["T1", "A1", "2024-01-05", "2024-01-04", "high", ""]], 2, "closed_at", "2024-01-04",
     "not before opened_at"),
    ("invoices", ["invoice_id", "account_id", "issued_at", "due_at", "paid_at", "amount"],
     [["I1", "A1", "2024-01-01", "2024-01-31", "", "10"], ["I2", "A1", "2024-01-01", "2023-12-01", "", "10"]],
     3, "due_at", "2023-12-01", "not before issued_at"),
    ("invoices", ["invoice_id", "account_id", "issued_at", "due_at", "paid_at", "amount"],
     [["I1", "A1", "2024-01-01", "2024-01-31", "soon", "10"]], 2, "paid_at", "soon", "a date YYYY-MM-DD"),
    ("contacts", ["account_id", "name", "email", "role", "is_primary"],
     [["A1", "Ann", "ann@a1.example", "VP", "true"], ["A2", "Bob", "bob@a2.example", "IC", "maybe"]],
     3, "is_primary", "maybe", "true or false"),
    ("contacts", ["account_id", "name", "email", "role", "is_primary"],
     [["A1", "Ann", "ann@a1.example", "VP", "true"], ["A77", "Bob", "bob@a2.example", "IC", ""]],
     3, "account_id", "A77", "an account_id present in accounts"),
]


def _ids(case):
    return f"{case[0]}-{case[4]}-{case[5] or 'empty'}"


@pytest.fixture
def stored(good_dir, db):
    import_dir(good_dir, db)
    return db


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_broken_rule_is_located_and_store_unchanged(case, stored, tmp_path):
    table, header, rows, line, column, value, words = case
    before = digest(stored)
    d = tmp_path / "bad"
    write_csv(d / f"{table}.csv", header, rows)
    if table != "accounts":  # the accounts file comes along, so the bad row is in the last file
        write_csv(d / "accounts.csv", ACCOUNT_COLS, ACC)
    with pytest.raises(ImportFailed) as err:
        import_dir(d, stored)
    msg = str(err.value)
    assert f"{table}.csv, line {line}, column {column}" in msg
    assert f"value {json.dumps(value, ensure_ascii=False)}" in msg
    assert words in msg
    assert digest(stored) == before
    assert not list(stored.parent.glob("*.building-*"))


def test_same_rules_apply_to_parquet_with_row_numbers(stored, tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pq.write_table(pa.table({"account_id": ["A1", "A2"], "effective_date": ["2024-01-01", "2024-01-01"],
                             "mrr": [10.0, -3.0]}), d / "mrr_history.parquet")
    before = digest(stored)
    with pytest.raises(ImportFailed, match=r'mrr_history.parquet, row 2, column mrr: value "-3.0" '
                                           r"— expected a number >= 0"):
        import_dir(d, stored)
    assert digest(stored) == before


def test_error_in_last_row_of_last_file_changes_nothing(stored, tmp_path):
    d = tmp_path / "all"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, ACC)
    write_csv(d / "usage_events.csv", EVENT_COLS, EVT)
    write_csv(d / "event_types.csv", ["event_type", "feature", "dimension", "value_action"],
              [["login", "Login", "frequency", "false"]])
    write_csv(d / "mrr_history.csv", ["account_id", "effective_date", "mrr"], [["A1", "2024-01-01", "9"]])
    rows = [["A1", "Ann", "a@x", "VP", "true"]] * 3 + [["A2", "Bo", "b@x", "IC", "perhaps"]]
    write_csv(d / "contacts.csv", ["account_id", "name", "email", "role", "is_primary"], rows)
    before = digest(stored)
    with pytest.raises(ImportFailed, match="contacts.csv, line 5, column is_primary"):
        import_dir(d, stored)
    assert digest(stored) == before
    con = duckdb.connect(str(stored), read_only=True)
    assert {r[0] for r in con.execute("SHOW TABLES").fetchall()}.isdisjoint({"contacts", "mrr_history"})
    con.close()


def test_line_numbers_count_quoted_newlines(stored, tmp_path):
    d = tmp_path / "nl"
    rows = _acc(arr="oops")
    rows[0][1] = "Name\nwith\nthree lines"  # record 1 spans lines 2-4
    write_csv(d / "accounts.csv", ACCOUNT_COLS, rows)
    with pytest.raises(ImportFailed, match=r"accounts.csv, line 8, column arr"):
        import_dir(d, stored)


def test_malformed_csv_row_is_located(stored, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    good = (tmp_path / "tmp.csv")
    write_csv(good, ACCOUNT_COLS, ACC)
    text = good.read_text().splitlines()
    text.insert(3, "A9,too,few")
    (d / "accounts.csv").write_text("\n".join(text) + "\n")
    before = digest(stored)
    with pytest.raises(ImportFailed, match=r"accounts.csv, line 4 — expected a well-formed CSV row with 11 fields"):
        import_dir(d, stored)
    assert digest(stored) == before


@pytest.mark.parametrize("setup, words", [
    (lambda d: write_csv(d / "accounts.csv", ["account_id", "name"], [["A1", "x"]]),
     "accounts.csv, line 1, column segment: missing — expected a column named segment"),
    (lambda d: (d / "accounts.csv").write_text(""), "accounts.csv: the file is empty"),
    (lambda d: (d / "accounts.csv").write_bytes(b"account_id,n\xe4me\n"), "is not UTF-8"),
    (lambda d: write_csv(d / "accounts.csv", ACCOUNT_COLS + ["arr"], []), "expected each column name once"),
    (lambda d: (write_csv(d / "accounts.csv", ACCOUNT_COLS, ACC),
                pq.write_table(pa.table({"account_id": ["A1"]}), d / "accounts.parquet")),
     "both accounts.csv and accounts.parquet — expected one file per table"),
    (lambda d: (d / "notes.txt").write_text("hi"), "no import files — expected some of accounts.csv"),
    (lambda d: (d / "usage_events.parquet").write_bytes(b"not parquet"), "not a readable Parquet file"),
])
def test_file_level_problems(setup, words, stored, tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    setup(d)
    before = digest(stored)
    with pytest.raises(DataError, match=words):
        import_dir(d, stored)
    assert digest(stored) == before


def test_first_import_needs_accounts_and_usage(tmp_path, db):
    d = tmp_path / "only"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, ACC)
    with pytest.raises(DataError, match="usage_events.csv \\(or .parquet\\) is missing"):
        import_dir(d, db)
    assert not db.exists()


def test_cli_reports_one_line_and_exit_status(stored, tmp_path):
    d = tmp_path / "bad"
    rows = _acc(name="two\nlines", arr="-1")
    write_csv(d / "accounts.csv", ACCOUNT_COLS, rows)
    before = digest(stored)
    res = cli("import", str(d), "--db", str(stored))
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: accounts.csv, line 6, column arr")
    assert digest(stored) == before
    assert cli("import").returncode == 2  # wrong usage: no folder
    assert cli("import", str(tmp_path / "nowhere"), "--db", str(stored)).returncode == 1


def test_skip_bad_rows_loads_good_rows_and_writes_rejects(stored, tmp_path):
    d = tmp_path / "skip"
    accs = _acc(arr="-1") + [["A1", "dup", "", "", "", "", "", "1", "1", "", ""]]
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accs)
    evts = EVT + [["A5", "2024-06-01", "login", "u", "1"],  # A5 is rejected above, so is this
                  ["A404", "2024-06-01", "login", "u", "1"]]
    write_csv(d / "usage_events.csv", EVENT_COLS, evts)
    res = cli("import", str(d), "--db", str(stored), "--skip-bad-rows")
    assert res.returncode == 0, res.stderr
    assert "bad row(s) skipped" in res.stdout
    con = duckdb.connect(str(stored), read_only=True)
    ids = [r[0] for r in con.execute("SELECT account_id FROM accounts ORDER BY 1").fetchall()]
    n_events = con.execute("SELECT count(*) FROM usage_events WHERE account_id = 'A5'").fetchone()[0]
    skipped = con.execute("SELECT rows_skipped FROM import_runs ORDER BY run_id DESC LIMIT 1").fetchone()[0]
    con.close()
    assert ids == ["A1", "A2", "A3", "A4"] and n_events == 0
    import csv
    rejects = list(csv.DictReader(open(stored.with_name("cs.rejects.csv"), encoding="utf-8")))
    reasons = {(r["file"], r["where"], r["column"]): r["expected"] for r in rejects}
    assert reasons[("accounts.csv", "line 6", "arr")] == "a number >= 0"
    assert reasons[("accounts.csv", "line 7", "account_id")] == "each account_id once"
    assert reasons[("usage_events.csv", f"line {len(EVT) + 3}", "account_id")].startswith("an account_id")
    assert len(rejects) == skipped == 2 + 5 + 1  # A5 and the duplicate; A5's 5 events; A404
    assert all(r["row"] for r in rejects)
