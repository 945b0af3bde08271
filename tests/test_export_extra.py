"""The ``export`` command end to end with hostile account names that came in through an import.

``tests/test_export.py`` checks the rendering on a list made by hand; here the names travel the
whole way: an import file, the data store, the list, and the command's CSV and XLSX. The store is
the session's outreach demo (``test_lists.outreach_demo``) re-imported with two accounts renamed:
those two are on the at-risk list, so they are in every export below.
"""
from __future__ import annotations

import csv
import shutil

import openpyxl
import pandas as pd
import pytest

from conftest import cli
from scoring import export
from scoring.demo import INPUTS_DIR
from scoring.ingest import import_dir
from test_lists import outreach_demo

FORMULA = '=HYPERLINK("http://x","y")'
URL = "http://example.com"
LIST_ARGS = ("--list", "at-risk", "--limit", "50", "--min-days-in-band", "0", "--include-recent", "--no-log")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(data file, {account_id: name}) of a store whose two top at-risk accounts have hostile names."""
    src = outreach_demo(tmp_path_factory)
    base = tmp_path_factory.mktemp("export-extra")
    probe = base / "probe.csv"
    done = cli("export", "--db", str(src), *LIST_ARGS, "--out", str(probe))
    assert done.returncode == 0, done.stderr
    ids = [r["account_id"] for r in csv.DictReader(open(probe, encoding="utf-8", newline=""))][:2]
    assert len(ids) == 2
    folder = base / "in"
    shutil.copytree(src.parent / INPUTS_DIR, folder)
    accounts = pd.read_parquet(folder / "accounts.parquet")
    renamed = dict(zip(ids, (FORMULA, URL)))
    accounts["name"] = [renamed.get(a, n) for a, n in zip(accounts["account_id"], accounts["name"])]
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    db = base / "store" / "cs.duckdb"
    db.parent.mkdir()
    shutil.copyfile(src.with_name("cs.state.sqlite"), db.with_name("cs.state.sqlite"))  # profile "outreach"
    import_dir(folder, db, mark_demo=True)
    return db, renamed


def _export(db, out) -> None:
    done = cli("export", "--db", str(db), *LIST_ARGS, "--out", str(out))
    assert done.returncode == 0, done.stderr


def test_csv_cells_are_inert_and_read_back(hostile, tmp_path):
    db, renamed = hostile
    out = tmp_path / "list.csv"
    _export(db, out)
    rows = {r["account_id"]: r for r in csv.DictReader(open(out, encoding="utf-8", newline=""))}
    assert set(renamed) <= set(rows)
    formula_id, url_id = renamed
    # = starts a formula: one ' in front; a URL starts with none of = + - @ tab CR ': left as it is
    assert rows[formula_id]["name"] == "'" + FORMULA
    assert rows[url_id]["name"] == URL
    for account_id, name in renamed.items():
        assert export.read_back(rows[account_id]["name"]) == name
    # no other cell of the file starts a formula either
    with open(out, encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            assert not any(c.startswith(("=", "+", "@")) for c in row), row


def test_xlsx_cells_are_text_without_formula_or_link(hostile, tmp_path):
    db, renamed = hostile
    out = tmp_path / "list.xlsx"
    _export(db, out)
    ws = openpyxl.load_workbook(out)["At risk"]
    header = [c.value for c in ws[1]]
    id_col, name_col = header.index("account_id") + 1, header.index("name") + 1
    cells = {ws.cell(r, id_col).value: ws.cell(r, name_col) for r in range(2, ws.max_row + 1)}
    assert set(renamed) <= set(cells)
    for account_id, name in renamed.items():
        cell = cells[account_id]
        assert cell.data_type == "s" and cell.value == name  # text, exactly, no quote added
        assert cell.hyperlink is None
    assert not ws._hyperlinks  # no link anywhere on the sheet
    # no cell of the data sheet is a formula
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
