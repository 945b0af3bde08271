"""Hostile import files: every one gets a clear error or a clean skip, never a traceback, and a
refused import leaves the data store byte for byte as it was.

Hypothesis builds the files from a valid pair (accounts, usage_events) and breaks them: bad
encodings, missing or extra columns, wrong types, duplicate ids, huge and negative numbers, NaN and
infinity, empty files, stray quotes, very long lines. ``HYPOTHESIS_PROFILE=ci`` (set by .ci/run)
keeps the run short; the default profile tries more examples.
"""
from __future__ import annotations

import os
import shutil

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ACCOUNT_COLS, EVENT_COLS, digest, write_csv
from scoring.errors import DataError
from scoring.ingest import import_dir

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _accounts(n: int = 3) -> list[list]:
    return [[f"A{i}", f"Account {i}", "SMB", "pro", "EU", "c@example.com", f"crm{i}", 1200, 10,
             "2024-01-01", "2025-12-31"] for i in range(n)]


def _events(n: int = 3) -> list[list]:
    return [[f"A{i}", f"2024-06-0{d}T09:00:00", "login", "u1", 1] for i in range(n) for d in (1, 2)]


def _csv_text(header: list[str], rows: list[list]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


HOSTILE_VALUES = st.sampled_from([
    "", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1", "-0.5", "99999999999999999999999999",
    "abc", "2024-13-45", "2024-02-30", "24:00", "true", "\"", "'", "=1+1", "\x00", "\t", "\r",
    "x" * 100_000, "１２", "1,5", " 7 ", "0x10",
])


@st.composite
def broken_files(draw) -> tuple[str, bytes, bytes]:
    """(what was broken, accounts.csv bytes, usage_events.csv bytes)."""
    accounts, events = _accounts(), _events()
    acc_header, ev_header = list(ACCOUNT_COLS), list(EVENT_COLS)
    how = draw(st.sampled_from(["value", "missing_column", "extra_column", "duplicate_id", "empty_file",
                                "header_only", "latin1", "stray_quote", "long_line", "unknown_account",
                                "bom_and_crlf", "short_row"]))
    if how == "value":
        table = draw(st.sampled_from(["accounts", "events"]))
        rows, header = (accounts, acc_header) if table == "accounts" else (events, ev_header)
        r, c = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))
        rows[r][c] = draw(HOSTILE_VALUES)
    elif how == "missing_column":
        i = draw(st.integers(0, len(acc_header) - 1))
        del acc_header[i]
        for row in accounts:
            del row[i]
    elif how == "extra_column":
        ev_header.append("surprise")
        for row in events:
            row.append(draw(HOSTILE_VALUES))
    elif how == "duplicate_id":
        accounts.append(list(accounts[0]))
    elif how == "unknown_account":
        events.append(["NOPE", "2024-06-01", "login", "u1", 1])
    elif how == "short_row":
        events.append(["A0", "2024-06-01"])
    acc = _csv_text(acc_header, accounts).encode()
    ev = _csv_text(ev_header, events).encode()
    if how == "empty_file":
        acc = b""
    elif how == "header_only":
        ev = _csv_text(ev_header, []).encode()
    elif how == "latin1":
        acc = acc.replace(b"Account 1", "Compte é".encode("latin-1"))
    elif how == "stray_quote":
        ev = ev.replace(b"login", b'lo"gin', 1)
    elif how == "long_line":
        ev += b"A0," + b"9" * 2_000_000 + b",login,u1,1\n"
    elif how == "bom_and_crlf":
        acc = b"\xef\xbb\xbf" + acc.replace(b"\n", b"\r\n")
    return how, acc, ev


@given(case=broken_files(), skip=st.booleans())
def test_hostile_files_get_a_clear_answer_and_never_half_change_the_store(tmp_path_factory, case, skip):
    how, acc, ev = case
    root = tmp_path_factory.mktemp("hostile")
    db = root / "cs.duckdb"
    good = root / "good"
    write_csv(good / "accounts.csv", ACCOUNT_COLS, _accounts(2))
    write_csv(good / "usage_events.csv", EVENT_COLS, _events(2))
    import_dir(good, db, history=False)
    before = digest(db)
    bad = root / "bad"
    bad.mkdir()
    (bad / "accounts.csv").write_bytes(acc)
    (bad / "usage_events.csv").write_bytes(ev)
    try:
        result = import_dir(bad, db, skip_bad_rows=skip, history=False)
    except DataError as exc:
        message = str(exc)
        assert message and "Traceback" not in message
        assert "accounts.csv" in message or "usage_events.csv" in message, (how, message)
        assert digest(db) == before, f"{how}: a refused import changed the store"
    else:
        # accepted (a clean file after all, or bad rows skipped): the store is whole and readable
        with duckdb.connect(str(db), read_only=True) as con:
            n = con.execute("SELECT count(*) FROM accounts").fetchall()[0][0]
        assert n == result.rows_loaded.get("accounts", n)
        if result.rows_skipped:
            assert skip, f"{how}: rows were skipped without --skip-bad-rows"
    finally:
        shutil.rmtree(root, ignore_errors=True)
