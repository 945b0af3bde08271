"""``score`` and ``snapshot`` per the contract, on a small seeded demo store."""
from __future__ import annotations

import csv
import datetime as dt

import duckdb
import pandas as pd
import pytest

from conftest import cli, digest
from scoring.demo import build_demo


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("demo") / "cs.duckdb"
    build_demo(db, accounts=300, seed=3)
    return db


def _args(db):
    return ["--db", str(db), "--state", str(db.with_name("cs.state.sqlite"))]


def test_score_writes_the_contract_columns(demo_db, tmp_path):
    out = tmp_path / "scores.parquet"
    res = cli("score", *_args(demo_db), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "as of 2026-10-01" in res.stdout
    df = pd.read_parquet(out)
    for col in ("account_id", "name", "segment", "csm_owner", "arr", "engagement_score",
                "health_score", "band", "expansion_ready", "data_confidence"):
        assert col in df.columns
    contrib = [c for c in df.columns if c.startswith("contrib_")]
    assert contrib, "one contrib_<signal> column per signal"
    scored = df.dropna(subset=["engagement_score"])
    assert ((scored[contrib].sum(axis=1) - scored.engagement_score).abs() < 1e-6).all()
    assert df.health_score.dropna().between(0, 100).all()
    assert df.data_confidence.between(0, 1).all()
    assert set(df.band) <= {"at_risk", "watch", "healthy", "new"}
    assert df.account_id.is_unique and len(df) > 200


def test_score_only_lists_accounts_active_on_the_date(demo_db, tmp_path):
    out = tmp_path / "early.csv"
    res = cli("score", *_args(demo_db), "--as-of", "2025-08-01", "--out", str(out))
    assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(demo_db), read_only=True)
    active = {r[0] for r in con.execute(
        "SELECT account_id FROM (SELECT account_id, arg_max(mrr, effective_date) AS mrr FROM mrr_history "
        "WHERE effective_date <= DATE '2025-08-01' GROUP BY 1) WHERE mrr > 0").fetchall()}
    con.close()
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert {r["account_id"] for r in rows} == active


def test_score_csv_is_spreadsheet_safe(demo_db, tmp_path):
    out = tmp_path / "s.csv"
    assert cli("score", *_args(demo_db), "--out", str(out)).returncode == 0
    names = [r["name"] for r in csv.DictReader(open(out, encoding="utf-8"))]
    assert not any(n.startswith(("=", "+", "-", "@")) for n in names)
    assert any(n.startswith("'=") for n in names)  # the demo's formula-like name, made inert


def test_score_with_a_pinned_profile_version(demo_db, tmp_path):
    from scoring.profile import demo_profile
    from scoring.profile_toml import to_toml

    f = tmp_path / "classic.toml"
    f.write_text(to_toml(demo_profile()), encoding="utf-8")
    assert cli("profiles", "import", str(f), *_args(demo_db)).returncode == 0
    out = tmp_path / "pinned.parquet"
    res = cli("score", *_args(demo_db), "--profile", "classic@1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "profile classic version 1" in res.stdout
    cols = [c for c in pd.read_parquet(out).columns if c.startswith("contrib_")]
    assert cols == [f"contrib_{s.name}" for s in demo_profile().signals]
    bad = cli("score", *_args(demo_db), "--profile", "classic@9", "--out", str(out))
    assert bad.returncode == 1 and "classic" in bad.stderr


def test_score_rejects_bad_usage(demo_db, tmp_path):
    assert cli("score", *_args(demo_db), "--out", str(tmp_path / "x.txt")).returncode == 1
    assert cli("score", *_args(demo_db), "--as-of", "soon", "--out", str(tmp_path / "x.csv")).returncode == 2
    missing = cli("score", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "x.csv"))
    assert missing.returncode == 1 and "no data file" in missing.stderr


def test_snapshot_stores_history_and_is_repeatable(demo_db, tmp_path):
    args = _args(demo_db)
    res = cli("snapshot", *args, "--as-of", "2026-06-01")
    assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(demo_db), read_only=True)
    first = con.execute("SELECT count(*), count(DISTINCT profile) FROM score_snapshots "
                        "WHERE as_of = DATE '2026-06-01'").fetchone()
    con.close()
    assert first[0] > 200 and first[1] == 1
    assert cli("snapshot", *args, "--as-of", "2026-06-01").returncode == 0  # replaces, no doubles
    con = duckdb.connect(str(demo_db), read_only=True)
    again = con.execute("SELECT count(*) FROM score_snapshots WHERE as_of = DATE '2026-06-01'").fetchone()
    con.close()
    assert again[0] == first[0]


def test_snapshot_crash_leaves_the_store_whole(demo_db):
    before = digest(demo_db)
    res = cli("snapshot", *_args(demo_db), env={"CS_CRASH_AT": "before_swap"})
    assert res.returncode == 70
    assert digest(demo_db) == before


def test_import_backfills_weekly_history(demo_db):
    con = duckdb.connect(str(demo_db), read_only=True)
    dates = [r[0] for r in con.execute("SELECT DISTINCT as_of FROM score_snapshots "
                                       "WHERE profile = 'classic' ORDER BY 1").fetchall()]
    con.close()
    end = dt.date(2026, 10, 1)  # the default as-of date of the demo
    weekly = [d for d in dates if (end - d).days % 7 == 0]
    assert weekly[-1] == end and len(weekly) >= 12
    assert all((b - a).days == 7 for a, b in zip(weekly, weekly[1:]))


def test_history_weeks_chooses_how_much_history_an_import_backfills(tmp_path):
    db = tmp_path / "cs.duckdb"
    build_demo(db, accounts=120, seed=4)  # writes its inputs to data/demo_inputs beside db
    folder = db.parent / "demo_inputs"
    assert (folder / "accounts.parquet").exists()

    def snapshot_dates(path):
        with duckdb.connect(str(path), read_only=True) as con:
            return [r[0] for r in con.execute("SELECT DISTINCT as_of FROM score_snapshots ORDER BY 1").fetchall()]

    for weeks, expected in (("3", 3), ("0", 0)):
        target = tmp_path / f"w{weeks}" / "cs.duckdb"
        res = cli("import", str(folder), "--db", str(target), "--history-weeks", weeks)
        assert res.returncode == 0, res.stderr
        dates = snapshot_dates(target)
        assert len(dates) == expected
        if expected:
            assert dates[-1] == dt.date(2026, 10, 1) and (dates[-1] - dates[0]).days == 7 * (expected - 1)
    res = cli("import", str(folder), "--db", str(tmp_path / "x" / "cs.duckdb"), "--history-weeks", "lots")
    assert res.returncode == 2 and "expected a whole number of weeks or 'all'" in res.stderr
