"""The app: first start, the shared frame, the home page and the Data page, and the queries behind them.

Every test builds its own small data file under ``tmp_path`` from CSV files written here (two
imports: the second drops an account, skips a bad row and ignores an extra column), points
``CS_DB``/``CS_STATE`` at it, and runs the real scripts with Streamlit's ``AppTest``. The first
start test works in an empty folder with a fake ``build_demo``; nothing reads ``data/cs.duckdb``.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, write_csv
from scoring import dataview
from scoring.ingest import import_dir
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataError, DataStore

APP = str(ROOT / "app.py")
DATA_PAGE = "pages/9_Data.py"
TIMEOUT = 60


def _account(i: int, arr: float = 1000.0) -> list:
    return [f"A{i}", f"Account {i}", "SMB", "pro", "EU", f"csm{i % 2}@example.com", "",
            arr * i, 10, "2024-01-01", "2025-12-31"]


def _events(ids: list[int]) -> list[list]:
    rows = [[f"A{i}", f"2024-06-0{d}T09:00:00", "login" if d % 2 else "report_generated", "u1", 1]
            for i in ids for d in range(1, 5)]
    rows += [["A2", "2024-06-02", "mystery_click", "u2", 1], ["A2", "2024-06-03", "mystery_click", "u2", 2],
             ["A3", "2024-06-03", "legacy_sync", "u3", 1]]
    return rows


def build_seeded(root: Path, *, demo: bool = False) -> Path:
    """Two imports: A1-A6 (A6 without usage), then A5 dropped with one bad row skipped."""
    db = root / "store" / "cs.duckdb"
    first = root / "in1"
    write_csv(first / "accounts.csv", ACCOUNT_COLS, [_account(i) for i in range(1, 7)])
    write_csv(first / "usage_events.csv", EVENT_COLS, _events([1, 2, 3, 4, 5]))
    write_csv(first / "event_types.csv", ["event_type", "feature", "dimension", "value_action"],
              [["login", "login", "frequency", "false"], ["report_generated", "reports", "depth", "true"],
               ["export_csv", "export", "integration", "true"]])
    import_dir(first, db, mark_demo=demo)
    if demo:
        return db
    second = root / "in2"
    write_csv(second / "accounts.csv", ACCOUNT_COLS + ["notes"],
              [_account(i) + ["kept"] for i in (1, 2, 3, 4, 6)])
    events = _events([1, 2, 3, 4])
    events.append(["A1", "2024-06-04T10:00:00", "login", "u1", "-3"])  # quantity < 0: skipped
    write_csv(second / "usage_events.csv", EVENT_COLS, events)
    result = import_dir(second, db, skip_bad_rows=True)
    assert result.rows_skipped == 1 and result.vanished_accounts == ["A5"]
    return db


@pytest.fixture
def seeded(tmp_path, monkeypatch) -> Path:
    db = build_seeded(tmp_path)
    state = tmp_path / "store" / "state.sqlite"
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(state))
    st = StateStore(state)
    st.classify("legacy_sync", feature=None, dimension="integration", value_action=True, author="t")
    st.classify("export_csv", feature="export", dimension="breadth", value_action=False, author="t")
    return db


def run_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


# ---------------------------------------------------------------- pages


def test_banner_names_the_published_profile(seeded):
    from scoring.profile import demo_profile
    from scoring.profiles import publish, save

    state = StateStore(os.environ["CS_STATE"])
    save(state, demo_profile(), author="ops", note="n")
    save(state, demo_profile(), author="ops", note="second")
    publish(state, "classic", 1, author="ops")
    banner = " ".join(texts(run_app().caption))
    assert "classic version 1 \\(published\\)" in banner or "classic version 1 (published)" in banner


def test_home_shows_frame_and_overview(seeded):
    at = run_app()
    banner = " ".join(texts(at.caption))
    assert "Data as of **2024-06-05**" in banner
    assert "default profile" in banner and "data version 2" in banner
    assert not any("DEMO DATA" in w for w in texts(at.warning))
    assert not any("days old" in w for w in texts(at.warning))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accounts"] == "5"
    assert metrics["Active on 2024-06-05"] == "5"
    assert metrics["ARR"] == f"{1000 * (1 + 2 + 3 + 4 + 6):,}"
    menu = [(p.proto.label, p.proto.page) for p in at.get("page_link")]
    assert ("Portfolio", "") in menu and ("Data", "Data") in menu


@pytest.mark.parametrize("page, draws_charts", [
    (None, True), ("pages/3_Account.py", True), ("pages/4_Tune_weights.py", True),
    ("pages/5_Validation.py", True), ("pages/1_At_risk.py", False), ("pages/6_How_scores_work.py", False),
    ("pages/9_Data.py", False)])
def test_only_pages_with_charts_preload_plotly_under_the_menu(seeded, page, draws_charts):
    from ui import plot

    at = run_app(page)
    preloads = [e for e in at.sidebar.get("bidi_component") if e.key == plot.PRELOAD_KEY]
    assert len(preloads) == int(draws_charts), page
    assert [p.proto.label for p in at.sidebar.get("page_link")][:2] == ["Portfolio", "At risk"]


def test_data_page_shows_each_warning_with_counts_and_ids(seeded):
    at = run_app(DATA_PAGE)
    warnings = texts(at.warning)
    assert any(w.startswith("1 event type in the usage data is neither") for w in warnings)
    assert any(w.startswith("1 event type classified in the app differently") for w in warnings)
    assert any(w.startswith("1 account has no usage event") for w in warnings)
    assert any(w.startswith("1 account from the previous data is not") for w in warnings)
    assert any(w.startswith("1 row broke an import rule") for w in warnings)
    assert any(w.startswith("The last import reported 2 warnings") for w in warnings)
    # the warnings' tables (the classification editor, which lists every event type, aside)
    frames = [d.value for d in at.dataframe if "value_action" not in d.value.columns]
    overview = frames[0].set_index("table")
    assert overview.loc["accounts", "rows"] == 5 and overview.loc["usage_events", "rows"] == 19
    cells = {str(v) for df in frames[2:] for v in df.to_numpy().ravel()}
    assert {"mystery_click", "export_csv", "A6", "A5"} <= cells
    assert "legacy_sync" not in cells  # classified in the app
    assert any("quantity" in c for c in cells)  # the rejected row, from the rejects file
    assert any("extra column notes ignored" in c for c in cells)


def test_demo_marker_only_for_demo_data(tmp_path, monkeypatch):
    monkeypatch.setenv("CS_DB", str(build_seeded(tmp_path, demo=True)))
    monkeypatch.setenv("CS_STATE", str(tmp_path / "state.sqlite"))
    for at in (run_app(), run_app(DATA_PAGE)):
        assert any(w.startswith("**DEMO DATA**") for w in texts(at.warning))


def test_stale_import_is_flagged(seeded):
    con = duckdb.connect(str(seeded))
    con.execute("UPDATE import_runs SET finished_at = ?",
                [dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=5, hours=1)])
    con.execute("CHECKPOINT")
    con.close()
    at = run_app()
    assert any(w.startswith("The data is 5 days old") for w in texts(at.warning))


def test_new_import_is_read_on_next_rerun(seeded, tmp_path):
    at = run_app()
    assert {m.label: m.value for m in at.metric}["Accounts"] == "5"
    more = tmp_path / "in3"
    write_csv(more / "accounts.csv", ACCOUNT_COLS, [_account(i) for i in (1, 2, 3, 4, 6, 7)])
    import_dir(more, seeded)
    at.run()
    assert {m.label: m.value for m in at.metric}["Accounts"] == "6"
    assert "data version 3" in " ".join(texts(at.caption))


def test_missing_cs_db_is_an_error_and_builds_nothing(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "cs.duckdb"
    monkeypatch.setenv("CS_DB", str(missing))
    calls = fake_demo(monkeypatch, tmp_path)
    for at in (AppTest.from_file(APP, default_timeout=TIMEOUT).run(),
               AppTest.from_file(APP, default_timeout=TIMEOUT).switch_page(DATA_PAGE).run()):
        assert not at.exception
        assert "CS_DB" in at.error[0].value
        assert str(missing) in texts(at.code)
    assert calls == [] and not missing.parent.exists()


# ---------------------------------------------------------------- first start


def fake_demo(monkeypatch, tmp_path: Path, delay: float = 0.0) -> list[Path]:
    """Replace ``scoring.demo`` with a small, slow-enough builder that records its calls."""
    src = tmp_path / "demo_in"
    write_csv(src / "accounts.csv", ACCOUNT_COLS, [_account(i) for i in range(1, 4)])
    write_csv(src / "usage_events.csv", EVENT_COLS, _events([1, 2, 3]))
    calls: list[Path] = []

    def build_demo(db, *, accounts=2000, seed=7, progress=None):
        calls.append(Path(db))
        if progress:
            progress("generating accounts", 0.1)
        time.sleep(delay)
        import_dir(src, db, mark_demo=True, progress=progress)
        return {"accounts": 3, "usage_rows": 15, "seconds": delay, "inputs": str(src)}

    monkeypatch.setitem(sys.modules, "scoring.demo", types.SimpleNamespace(build_demo=build_demo))
    return calls


def test_first_start_builds_the_demo_once_at_the_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = fake_demo(monkeypatch, tmp_path)
    first = run_app()
    assert calls == [tmp_path / "data" / "cs.duckdb"]
    assert any(w.startswith("**DEMO DATA**") for w in texts(first.warning))
    assert {m.label: m.value for m in first.metric}["Accounts"] == "3"
    second = run_app(DATA_PAGE)
    assert len(calls) == 1
    assert any(w.startswith("**DEMO DATA**") for w in texts(second.warning))


def test_failed_first_start_is_shown_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def build_demo(db, **kw):
        raise DataError("disk full")

    monkeypatch.setitem(sys.modules, "scoring.demo", types.SimpleNamespace(build_demo=build_demo))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert "Building the demo data failed" in at.error[0].value
    assert "disk full" in at.exception[0].value  # the cause, shown on the page
    assert not (tmp_path / "data" / "cs.duckdb").exists()


def test_concurrent_first_starts_build_once(tmp_path, monkeypatch):
    from ui.source import ensure_demo

    calls = fake_demo(monkeypatch, tmp_path, delay=0.5)
    db = tmp_path / "data" / "cs.duckdb"
    results, waited = [], []
    threads = [threading.Thread(target=lambda: results.append(
        ensure_demo(db, on_wait=lambda: waited.append(1)))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sorted(results) == [False, False, False, True]
    assert waited and DataStore(db).rows("SELECT count(*) FROM accounts") == [(3,)]


def test_first_starts_in_two_processes_build_once(tmp_path):
    """Two servers starting at once: the lock file queues the second process."""
    script = tmp_path / "start.py"
    script.write_text(f"""
import sys, time, types
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from scoring.ingest import import_dir
def build_demo(db, *, accounts=2000, seed=7, progress=None):
    with open({str(tmp_path / "calls.txt")!r}, "a") as fh:
        fh.write("built\\n")
    time.sleep(1.0)
    import_dir({str(tmp_path / "demo_in")!r}, db, mark_demo=True)
sys.modules["scoring.demo"] = types.SimpleNamespace(build_demo=build_demo)
from ui.source import ensure_demo
print(ensure_demo(Path({str(tmp_path / "data" / "cs.duckdb")!r})))
""")
    write_csv(tmp_path / "demo_in" / "accounts.csv", ACCOUNT_COLS, [_account(1)])
    write_csv(tmp_path / "demo_in" / "usage_events.csv", EVENT_COLS, _events([1])[:2])
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path) for _ in range(2)]
    outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert outs == ["False", "True"]
    assert (tmp_path / "calls.txt").read_text() == "built\n"


# ---------------------------------------------------------------- the core without Streamlit


def test_core_never_imports_streamlit():
    code = ("import importlib, pkgutil, sys, scoring\n"
            "for m in pkgutil.iter_modules(scoring.__path__):\n"
            "    importlib.import_module('scoring.' + m.name)\n"
            "assert 'streamlit' not in sys.modules, 'scoring imported streamlit'\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_staleness_rule():
    imported = pd.Timestamp("2024-06-10 12:00")
    assert dataview.import_age_days(None, now=dt.datetime(2024, 6, 20)) is None
    assert dataview.import_age_days(imported, now=dt.datetime(2024, 6, 12, 11)) == 1
    assert dataview.import_age_days(imported, now=dt.datetime(2024, 6, 13, 13, tzinfo=dt.timezone.utc)) == 3
    assert not dataview.is_stale(dataview.STALE_AFTER_DAYS) and dataview.is_stale(dataview.STALE_AFTER_DAYS + 1)
    assert not dataview.is_stale(None)


def test_scoped_viewer_sees_own_accounts_and_no_foreign_examples(tmp_path):
    ds = DataStore(build_seeded(tmp_path))
    odd = Scope.for_owners({"csm1@example.com"})  # A1, A3 (A5 vanished)
    as_of = dataview.data_facts(ds, scope=odd).as_of
    assert dataview.overview(ds, scope=odd, as_of=as_of) == dataview.Overview(2, 2, 4000.0)
    assert dataview.accounts_without_usage(ds, scope=odd).count == 0
    everyone = Scope.everyone()
    assert list(dataview.accounts_without_usage(ds, scope=everyone).examples["account_id"]) == ["A6"]
    assert dataview.unclassified_event_types(ds, scope=odd, app_classified=()).count == 1  # legacy_sync
    vanished = dataview.vanished_accounts(ds, scope=odd)
    assert vanished.count == 1 and vanished.examples.empty
    skipped = dataview.skipped_rows(ds, scope=odd)
    assert skipped.count == 1 and skipped.examples.empty


def test_active_accounts_follow_mrr_history(tmp_path):
    db = build_seeded(tmp_path)
    mrr = tmp_path / "in_mrr"
    write_csv(mrr / "mrr_history.csv", ["account_id", "effective_date", "mrr"],
              [["A1", "2024-01-01", 100], ["A1", "2024-06-01", 0], ["A2", "2024-01-01", 50],
               ["A3", "2024-07-01", 70]])
    import_dir(mrr, db)
    ds = DataStore(db)
    everyone = Scope.everyone()
    # On 2024-06-05: A1 fell to 0, A2 pays, A3 starts later, A4 and A6 have no MRR row.
    assert dataview.active_accounts(ds, scope=everyone, as_of=pd.Timestamp("2024-06-05")) == 1
    assert dataview.active_accounts(ds, scope=everyone, as_of=pd.Timestamp("2024-05-31")) == 2
