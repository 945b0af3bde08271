"""The Validation page: the backtest of ``python -m scoring validate`` on screen, two profiles side by side.

A 300-account demo is built once for the module; tests that save profiles work on their own copy
of the state store. A small hand-made store (30 accounts, one churner) gives the "not enough
outcomes" state, and one without ``mrr_history`` the "needs mrr_history" state. Nothing reads
data/cs.duckdb.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, accounts_rows, chart_figures, cli, events_rows, write_csv
from scoring import comparison, profiles
from scoring.cli_validate import build_report, json_ready
from scoring.outcomes import backtest_dates
from scoring.demo import build_demo
from scoring.history import resolve_profile
from scoring.ingest import import_dir
from scoring.state import StateStore
from scoring.store import DataStore
from scoring.validate import backtest_frame
from ui.backtest import NO_MRR
from ui.frame import plain

APP = str(ROOT / "app.py")
PAGE = "pages/5_Validation.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    db = tmp_path_factory.mktemp("validation") / "cs.duckdb"
    build_demo(db, accounts=300, seed=29)
    return db, db.with_name("cs.state.sqlite")


@pytest.fixture
def env(demo, tmp_path, monkeypatch) -> tuple[Path, Path]:
    db, state = demo
    mine = tmp_path / "state.sqlite"
    with sqlite3.connect(state) as a, sqlite3.connect(mine) as b:
        a.backup(b)
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(mine))
    return db, mine


def open_page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).switch_page(PAGE)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def frame_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def traces(at: AppTest, key: str) -> list[str]:
    return [t.get("name") for t in chart_figures(at)[key]["data"]]


def test_page_shows_the_validate_figures_and_floors(env):
    db, state = env
    done = cli("validate", "--db", str(db), "--state", str(state), "--json")
    assert done.returncode == 0, done.stderr
    reported = json.loads(done.stdout)
    at = open_page()
    headline = frame_with(at, reported["profile"])[reported["profile"]]
    assert headline["ROC AUC"] == reported["auc"] and headline["PR AUC"] == reported["pr_auc"]
    assert [headline["AUC 95% low"], headline["AUC 95% high"]] == reported["auc_ci"]
    assert headline["churned"] == reported["n_churned"] and headline["account-dates"] == reported["n_accounts"]
    floors = frame_with(at, "threshold")
    assert list(floors["rule"]) == [f["floor"] for f in reported["floors"]]
    assert list(floors["result"]) == [comparison.RESULT[f["passed"]] for f in reported["floors"]]
    assert list(floors["threshold"]) == [f["threshold"] for f in reported["floors"]]
    signals = frame_with(at, "verdict")
    assert list(signals["auc"]) == [s["auc"] for s in reported["signals"]]
    bands = frame_with(at, "nrr")
    assert list(bands["nrr"]) == [reported["bands"][b]["nrr"] for b in bands.index]
    assert list(chart_figures(at)) == ["val_roc", "val_deciles", "val_bands", "val_calibration"]
    assert not at.error


def test_two_profiles_side_by_side(env):
    _, state = env
    st_ = StateStore(state)
    base = profiles.load(st_, "classic")
    other = dataclasses.replace(base, version=None, signals=tuple(
        dataclasses.replace(s, weight=100.0 if i == 0 else 1.0) for i, s in enumerate(base.signals)))
    v = profiles.save(st_, other, author="t", note="logins only, nearly")
    at = open_page(compare=f"classic@{v}")
    table = frame_with(at, "classic@1")
    assert list(table.columns) == ["classic@1", f"classic@{v}"]
    assert table.loc["ROC AUC", "classic@1"] != table.loc["ROC AUC", f"classic@{v}"]
    names = [t.get("name") for t in chart_figures(at)["val_roc"]["data"]]
    assert names == ["a coin", "classic@1", f"classic@{v}"]


def test_horizon_and_score_come_from_the_url(env):
    db, state = env
    at = open_page(horizon="60", score="engagement")
    assert at.selectbox(key="horizon").value == 60 and at.radio(key="score").value == "engagement"
    said = " ".join(texts(at.markdown))
    assert "engagement_score" in said and "within 60 days" in said
    assert any("churn risk maps health" in i for i in texts(at.info))
    with DataStore(db).cursor() as con:
        profile, cat = resolve_profile(con, StateStore(state), None)
        dates = backtest_dates(con, window_days=profile.window_days, horizon=60, count=6)
        rep = json_ready(build_report(backtest_frame(con, profile, dates, horizon=60, catalogue=cat,
                                                     score="engagement")))
    headline = frame_with(at, profile.ref)[profile.ref]
    assert headline["ROC AUC"] == rep["auc"] and headline["churned"] == rep["n_churned"]


def test_a_profile_that_cannot_be_loaded_is_a_message(env):
    _, state = env
    with sqlite3.connect(state) as con:
        con.execute("INSERT INTO profiles(name, version, author, created_at, note, body, published) "
                    "VALUES ('broken', 1, 't', '2026-01-01T00:00:00Z', '', 'name = [oops', 0)")
    at = open_page(profile="broken@1")
    assert at.selectbox(key="profile").value == "broken@1"
    assert any("broken@1 cannot be backtested" in i for i in texts(at.info))
    assert not chart_figures(at)


def test_without_mrr_history(tmp_path, monkeypatch):
    d = tmp_path / "in"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows())
    write_csv(d / "usage_events.csv", EVENT_COLS, events_rows())
    db = tmp_path / "store" / "cs.duckdb"
    import_dir(d, db)
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(tmp_path / "state.sqlite"))
    at = open_page()
    assert texts(at.info) == [plain(NO_MRR)]
    assert not at.dataframe


def few_outcomes_store(root: Path) -> Path:
    """30 accounts with weekly logins through 2024 and MRR all year; one churns in September."""
    d = root / "few"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, [
        [f"A{i}", f"Account {i}", "SMB", "pro", "EU", "csm@example.com", "", 1200, 10, "2023-06-01",
         "2025-06-01"] for i in range(30)])
    start = dt.date(2024, 1, 1)
    write_csv(d / "usage_events.csv", EVENT_COLS, [
        [f"A{i}", (start + dt.timedelta(days=7 * w + i % 7)).isoformat(), "login", f"u{i}", 1 + i % 3]
        for i in range(30) for w in range(52)])
    write_csv(d / "mrr_history.csv", ["account_id", "effective_date", "mrr"],
              [[f"A{i}", "2023-06-01", 100] for i in range(30)] + [["A0", "2024-09-15", 0]]
              + [[f"A{i}", "2024-12-31", 100] for i in range(1, 30)])
    db = root / "few_store" / "cs.duckdb"
    import_dir(d, db, history=0)
    return db


def test_too_few_outcomes_are_not_judged(tmp_path, monkeypatch):
    db = few_outcomes_store(tmp_path)
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(tmp_path / "state.sqlite"))
    at = open_page()
    # A0 churned within 90 days of three as-of dates: three churned observations
    assert any("not enough outcomes to judge: 3 churned, at least 20 needed" in w.replace("\\", "")
               for w in texts(at.warning))
    floors = frame_with(at, "threshold")
    assert list(floors.loc[floors["rule"] == "ROC AUC >= 0.70", "result"]) == ["n/a"]
    headline = frame_with(at, "default")["default"]
    assert headline["churned"] == 3 and headline["ROC AUC"] != headline["ROC AUC"]  # NaN: not judged
