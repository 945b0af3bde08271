"""Exports (``scoring.export``) and the ``export`` command: safe, typed, and the pages' rows.

Files are read back with the ``csv`` module and openpyxl. Hostile names go through a list made
by hand; the command runs on the session's seeded demo store (``test_lists.outreach_demo``),
copied per test, mostly in-process through ``scoring.__main__.main`` (one real subprocess checks
the exit status a scheduled job sees).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import cli
from scoring import export, feedback, list_data, lists
from scoring.__main__ import main
from scoring.lists import ListSettings, OutreachList
from scoring.scope import Scope
from scoring.state import StateStore
from test_lists import copy_store, load, outreach_demo

HOSTILE = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tTabbed", "\rReturn", "'quoted",
           "Commas, Inc.", 'Say "hi"', "Line\nbreak", "Ωμέγα 株式会社 شركة", "Plain Name"]
AS_OF = dt.date(2026, 10, 1)


def hand_list(names: list[str], kind: str = "at-risk", crm: list | None = None) -> OutreachList:
    n = len(names)
    rows = {c: [None] * n for c in lists.columns(kind)}
    rows.update(rank=np.arange(1, n + 1, dtype=np.int64), account_id=[f"A{i}" for i in range(n)],
                crm_id=crm or [f"001X{i:05d}" for i in range(n)], name=names, csm_owner=["x@y"] * n,
                arr=[1000.0 * (i + 1) for i in range(n)],
                renewal_date=[AS_OF + dt.timedelta(days=i) for i in range(n)],
                health_score=np.linspace(10, 30, n), change_30d=[-3.5] * n, churn_risk=[np.nan] * n,
                band=["at_risk"] * n, reasons=["Reports: -2.0 points"] * n, play=["Call"] * n)
    frame = pd.DataFrame(rows)[lists.columns(kind)]
    for c in ("days_to_renewal", "engagement_score", "expected_arr_at_risk", "priority", "opportunity",
              "seat_utilisation", "usage_growth", "breadth"):
        if c in frame:
            frame[c] = np.arange(n, dtype=np.float64) / 4
    return OutreachList(ListSettings(kind, limit=50), frame, AS_OF, "classic", 3, ("a note",), {})


def ooxml_text(value: str) -> str:
    """Undo the OOXML escape of control characters (``_x000D_`` for CR), as Excel does on reading;
    openpyxl leaves it in place."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def read_csv(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


# ---------------------------------------------------------------- CSV


def test_csv_makes_hostile_text_inert_and_reads_back_exactly():
    ol = hand_list(HOSTILE)
    out = export.render(ol, "csv")
    table = read_csv(out.data)
    assert table[0] == lists.columns("at-risk")
    names = [r[table[0].index("name")] for r in table[1:]]
    for raw, written in zip(HOSTILE, names):
        risky = raw[0] in "=+-@\t\r'"
        assert written == ("'" + raw if risky else raw), raw
        assert export.read_back(written) == raw
    row = dict(zip(table[0], table[1]))
    assert row["arr"] == "1000" and row["change_30d"] == "-3.5"  # numbers stay numbers, unquoted
    assert row["renewal_date"] == "2026-10-01" and row["churn_risk"] == "" and row["flag"] == ""
    assert not out.data.startswith(b"\xef\xbb\xbf")
    assert export.render(ol, "csv", bom=True).data == b"\xef\xbb\xbf" + out.data


def test_zero_rows_is_headers_only():
    ol = hand_list([])
    assert read_csv(export.render(ol, "csv").data) == [lists.columns("at-risk")]
    ws = openpyxl.load_workbook(io.BytesIO(export.render(ol, "xlsx").data))["At risk"]
    assert ws.max_row == 1 and [c.value for c in ws[1]] == lists.columns("at-risk")
    for preset in export.PRESETS:
        assert len(read_csv(export.render(ol, "csv", preset=preset).data)) == 1


# ---------------------------------------------------------------- XLSX


def test_xlsx_is_typed_exact_and_explained():
    ol = hand_list(HOSTILE)
    when = dt.datetime(2026, 12, 1, 9, 30, 0)
    wb = openpyxl.load_workbook(io.BytesIO(export.render(ol, "xlsx", demo=True, exported_at=when).data))
    assert wb.sheetnames == ["At risk", "About"]
    ws = wb["At risk"]
    header = [c.value for c in ws[1]]
    assert header == lists.columns("at-risk") + ["data"]
    col = {h: i for i, h in enumerate(header)}
    names = [ooxml_text(ws.cell(r + 2, col["name"] + 1).value) for r in range(len(HOSTILE))]
    assert names == HOSTILE  # exact, no quote added
    second = ws[3]
    assert second[col["arr"]].data_type == "n" and second[col["arr"]].value == 2000.0
    assert second[col["rank"]].value == 2 and second[col["health_score"]].data_type == "n"
    assert second[col["renewal_date"]].value == dt.datetime(2026, 10, 2)
    assert second[col["churn_risk"]].value is None and second[col["data"]].value == "DEMO DATA"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}{len(HOSTILE) + 1}"
    about = dict(wb["About"].iter_rows(min_row=2, values_only=True))
    assert about["Profile"] == "classic" and about["Profile version"] == "3"
    assert about["As of"] == "2026-10-01" and about["Exported at (UTC)"] == "2026-12-01 09:30:00"
    assert about["Data"].startswith("DEMO DATA") and "top 50" in about["Filters"]
    assert about["Ranking"].startswith("priority = expected ARR at risk x renewal proximity")
    real = openpyxl.load_workbook(io.BytesIO(export.render(ol, "xlsx").data))
    assert dict(real["About"].iter_rows(min_row=2, values_only=True))["Data"] == "imported data"
    assert "data" not in [c.value for c in real["At risk"][1]]


# ---------------------------------------------------------------- presets


def test_presets_key_on_the_crm_id_and_leave_out_people_text():
    ol = hand_list(["=Evil", "Fine", "No id"], crm=["001A", "+001B", None])
    sf = export.render(ol, "csv", preset="salesforce")
    table = read_csv(sf.data)
    assert table[0] == ["Id", "CS_Rank__c", "CS_Health_Score__c", "CS_Health_Band__c", "CS_Flag__c",
                        "CS_Churn_Risk__c", "CS_Health_Change_30d__c", "CS_Priority__c", "CS_Play__c",
                        "CS_Reasons__c", "CS_List__c", "CS_As_Of__c"]
    assert [r[0] for r in table[1:]] == ["001A", "'+001B"] and sf.left_out == 1
    assert sf.account_ids == ["A0", "A1"]
    assert table[1][-2:] == ["at-risk", "2026-10-01"]
    flat = " ".join(" ".join(r) for r in table)
    assert "Evil" not in flat and "Fine" not in flat and "x@y" not in flat
    hs = read_csv(export.render(hand_list(["a"], kind="expansion"), "csv", preset="hubspot").data)
    assert hs[0] == ["Record ID", "cs_rank", "cs_health_score", "cs_health_band", "cs_flag", "cs_churn_risk",
                     "cs_health_change_30d", "cs_expansion_opportunity", "cs_play", "cs_reasons", "cs_list",
                     "cs_as_of"]
    ws = openpyxl.load_workbook(io.BytesIO(export.render(ol, "xlsx", preset="hubspot").data)).active
    assert ws.cell(2, 1).value == "001A" and ws.cell(3, 1).value == "+001B" and ws.max_row == 3
    assert ws.cell(2, 3).data_type == "n"


# ---------------------------------------------------------------- the command


@pytest.fixture
def store(tmp_path_factory, tmp_path):
    return copy_store(outreach_demo(tmp_path_factory), tmp_path / "store")


def run(store, *args: str) -> int:
    return main(["export", "--db", str(store), *args])


def test_command_gives_the_pages_rows_in_the_pages_order(store, tmp_path):
    ds, state, book, cat = load(store)
    owner = book.scores[book.scores.band == "at_risk"].csm_owner.mode().iloc[0]
    settings = ListSettings("at-risk", owner=owner, limit=8, min_days_in_band=7)
    # what the page calls
    data = list_data.read_list_data(ds, scope=Scope.everyone(), profile=book.profile, as_of=book.as_of,
                                    catalogue=cat, history_days=settings.min_days_in_band)
    page = lists.build_list(book, data, feedback.current(state, feedback.today_utc()), settings,
                            scope=Scope.everyone()).rows
    ds.close()
    assert len(page) > 3
    out = tmp_path / "list.csv"
    assert run(store, "--list", "at-risk", "--owner", owner, "--limit", "8", "--min-days-in-band", "7",
               "--no-log", "--out", str(out)) == 0
    got = pd.read_csv(out, dtype={"crm_id": "str"}, keep_default_na=False)
    assert got["account_id"].tolist() == page["account_id"].tolist()
    assert got["rank"].tolist() == page["rank"].tolist()
    assert np.allclose(got["priority"].astype(float), page["priority"], rtol=1e-11)
    assert got["play"].tolist() == page["play"].tolist() and got["reasons"].tolist() == page["reasons"].tolist()
    assert got["name"].map(export.read_back).tolist() == page["name"].tolist()
    x = tmp_path / "list.xlsx"
    assert run(store, "--list", "at-risk", "--owner", owner, "--limit", "8", "--min-days-in-band", "7",
               "--no-log", "--out", str(x)) == 0
    ws = openpyxl.load_workbook(x)["At risk"]
    assert [ws.cell(r, 2).value for r in range(2, ws.max_row + 1)] == page["account_id"].tolist()
    assert "DEMO DATA" in dict(openpyxl.load_workbook(x)["About"].iter_rows(values_only=True))["Data"]
    assert StateStore(store.with_name("cs.state.sqlite")).read("SELECT count(*) FROM outreach_log")[0][0] == 0


def test_command_logs_the_export_and_the_next_one_rests_them(store, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run(store, "--list", "expansion", "--limit", "5", "--out", str(first), "--author", "cron") == 0
    ids = [r["account_id"] for r in csv.DictReader(open(first, encoding="utf-8", newline=""))]
    state = StateStore(store.with_name("cs.state.sqlite"))
    logged = state.read("SELECT account_id, action, list_name, author FROM outreach_log ORDER BY id")
    assert logged == [(a, "exported", "expansion", "cron") for a in ids] and len(ids) == 5
    assert run(store, "--list", "expansion", "--limit", "5", "--out", str(second)) == 0
    again = [r["account_id"] for r in csv.DictReader(open(second, encoding="utf-8", newline=""))]
    assert not set(again) & set(ids)
    assert run(store, "--list", "expansion", "--limit", "5", "--include-recent", "--no-log",
               "--bom", "--out", str(second)) == 0
    assert second.read_bytes().startswith(b"\xef\xbb\xbf")
    assert [r["account_id"] for r in csv.DictReader(open(second, encoding="utf-8-sig", newline=""))] == ids


def test_command_errors_and_exit_codes(store, tmp_path, capsys):
    out = str(tmp_path / "x.csv")
    cases = [(["--list", "at-risk", "--out", str(tmp_path / "x.txt")], "expected a file name ending in .csv or .xlsx"),
             (["--list", "at-risk", "--owner", "nobody@example.com", "--out", out], "owns no account"),
             (["--list", "at-risk", "--preset", "salesfroce", "--out", out], 'did you mean "salesforce"'),
             (["--list", "at-risk", "--profile", "nosuch", "--out", out], "nosuch")]
    for args, text in cases:
        assert run(store, *args) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and text in err[0], err
    for args in (["--out", out], ["--list", "churn", "--out", out], ["--list", "at-risk"],
                 ["--list", "at-risk", "--limit", "0", "--out", out],
                 ["--list", "at-risk", "--min-days-in-band", "-1", "--out", out]):
        with pytest.raises(SystemExit) as exc:
            run(store, *args)
        assert exc.value.code == 2
    assert not (tmp_path / "x.csv").exists()
    assert main(["export", "--db", str(tmp_path / "missing.duckdb"), "--list", "at-risk", "--out", out]) == 1


def test_command_in_a_subprocess(store, tmp_path):
    out = tmp_path / "hub.xlsx"
    done = cli("export", "--db", str(store), "--list", "at-risk", "--preset", "hubspot", "--limit", "3",
               "--out", str(out), "--no-log")
    assert done.returncode == 0, done.stderr
    assert "DEMO DATA" in done.stdout and "3 account(s) on the at-risk list" in done.stdout
    ws = openpyxl.load_workbook(out).active
    assert ws.cell(1, 1).value == "Record ID" and ws.max_row == 4
    usage = cli("export", "--db", str(store), "--out", str(out))
    assert usage.returncode == 2 and "--list" in usage.stderr


def test_help_states_the_lists_defaults(capsys):
    from scoring.cli_export import LIST_CHOICES

    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default {lists.MIN_DAYS_IN_BAND}; 0: off)" in text and f"(default {lists.MIN_DROP:g})" in text
    assert f"last K days (default {lists.RECENT_DAYS})" in text and LIST_CHOICES == tuple(lists.LISTS)
