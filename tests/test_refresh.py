"""Refresh while serving: an import landing in the middle of a rerun never mixes two data versions.

The test hook ``CS_TEST_SWAP_WITH`` (ui/frame.py) moves another data file over the live one right
after the first query of a rerun, exactly as ``import``'s atomic rename would. Every number of
that rerun must still come from the version the rerun started on; the next rerun reads the new one.
"""
from __future__ import annotations

import shutil

from streamlit.testing.v1 import AppTest

from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, write_csv
from scoring.ingest import import_dir

DATA_PAGE = "pages/9_Data.py"


def _store(root, n_accounts: int, events_per_account: int):
    db = root / "cs.duckdb"
    folder = root / "in"
    write_csv(folder / "accounts.csv", ACCOUNT_COLS,
              [[f"A{i}", f"Account {i}", "SMB", "pro", "EU", "c@example.com", "", 1000, 10,
                "2024-01-01", "2025-12-31"] for i in range(n_accounts)])
    write_csv(folder / "usage_events.csv", EVENT_COLS,
              [[f"A{i}", f"2024-06-{d + 1:02d}T09:00:00", "login", "u1", 1]
               for i in range(n_accounts) for d in range(events_per_account)])
    import_dir(folder, db)
    return db


def _overview(at) -> dict[str, int]:
    table = next(d.value for d in at.dataframe if "needed" in d.value.columns)
    return dict(zip(table["table"], table["rows"]))


def test_an_import_swapped_in_mid_rerun_is_read_only_on_the_next_rerun(tmp_path, monkeypatch):
    old = _store(tmp_path / "old", 3, 2)
    new = _store(tmp_path / "new", 5, 4)
    live = tmp_path / "live" / "cs.duckdb"
    live.parent.mkdir()
    shutil.copyfile(old, live)
    incoming = tmp_path / "live" / "incoming.duckdb"
    shutil.copyfile(new, incoming)
    monkeypatch.setenv("CS_DB", str(live))
    monkeypatch.setenv("CS_STATE", str(tmp_path / "live" / "state.sqlite"))
    monkeypatch.setenv("CS_TEST_SWAP_WITH", str(incoming))

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(DATA_PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not incoming.exists(), "the hook swapped the new file in during the rerun"
    # every figure of this rerun is the old version's, though the new file was live after the first query
    assert _overview(at)["accounts"] == 3 and _overview(at)["usage_events"] == 6
    assert "Data file" in at.text[0].value

    at.run()  # the next rerun opens the version now at the path
    assert not at.exception, [e.value for e in at.exception]
    assert _overview(at)["accounts"] == 5 and _overview(at)["usage_events"] == 20
