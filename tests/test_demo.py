"""The demo portfolio: reproducible, realistic enough to make every page worth a look, truth kept out.

Each test builds its own store under a temporary folder (small portfolios, except the default-size
check); the hidden-AUC band is checked at 1,000 accounts, where its spread over seeds is about
0.016, so the band [0.75, 0.85] is more than three spreads away from the typical 0.80.
"""
from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from scoring.demo import build_demo, hidden_auc, rank_auc, read_truth
from scoring.demo_records import AWKWARD_NAMES
from scoring.demo_usage import UNCLASSIFIED
from scoring.ingest import import_dir
from scoring.schema import TABLES


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _df(db: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _table_contents(db: Path) -> dict[str, list[tuple]]:
    """Every import table, all columns, in a fixed order."""
    out = {}
    for name, table in TABLES.items():
        cols = ", ".join(f'"{c}"' for c in table.names)
        out[name] = _query(db, f'SELECT {cols} FROM "{name}" ORDER BY ALL')
    return out


def _file_digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """One small demo shared by the read-only checks below, with the progress it reported."""
    db = tmp_path_factory.mktemp("demo") / "store" / "cs.duckdb"
    calls: list[tuple[str, float]] = []
    info = build_demo(db, accounts=400, seed=11, progress=lambda what, f: calls.append((what, f)))
    return {"db": db, "info": info, "progress": calls}


# ---------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_files_and_tables(tmp_path):
    a, b, c = (tmp_path / x / "cs.duckdb" for x in "abc")
    build_demo(a, accounts=300, seed=5)
    build_demo(b, accounts=300, seed=5)
    build_demo(c, accounts=300, seed=6)
    assert _file_digests(a.parent / "demo_inputs") == _file_digests(b.parent / "demo_inputs")
    assert _file_digests(a.parent / "demo_truth") == _file_digests(b.parent / "demo_truth")
    assert _table_contents(a) == _table_contents(b)
    other = _table_contents(c)
    assert other["usage_events"] != _table_contents(a)["usage_events"]
    assert other["accounts"] != _table_contents(a)["accounts"]


def test_chunks_continue_the_portfolio_without_repeating(tmp_path, monkeypatch):
    # Big demos are simulated chunk by chunk; ids, ticket and invoice numbers must stay unique.
    monkeypatch.setattr("scoring.demo.CHUNK", 150)
    db = tmp_path / "cs.duckdb"
    info = build_demo(db, accounts=400, seed=2)
    assert _query(db, "SELECT count(*), count(DISTINCT account_id) FROM accounts")[0] == (400, 400)
    assert _query(db, "SELECT count(DISTINCT account_id) FROM usage_events")[0][0] > 350
    assert _query(db, "SELECT count(*) FROM usage_events")[0][0] == info["usage_rows"]
    assert _query(db, "SELECT count(*) = count(DISTINCT ticket_id) FROM support_tickets")[0][0]
    assert _query(db, "SELECT count(*) = count(DISTINCT invoice_id) FROM invoices")[0][0]


# ---------------------------------------------------------------- hidden truth


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hidden_health_alone_reaches_a_churn_auc_in_band(tmp_path, seed):
    db = tmp_path / "cs.duckdb"
    build_demo(db, accounts=1000, seed=seed)
    mrr = _df(db, "SELECT account_id, effective_date, mrr FROM mrr_history")
    auc = hidden_auc(read_truth(db), mrr, horizon_days=90)
    assert 0.75 <= auc <= 0.85, auc


def test_truth_stays_out_of_the_store_and_the_import_folder(demo):
    db = demo["db"]
    names = _query(db, "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'")
    words = {w for pair in names for w in pair}
    assert not [w for w in words if "hidden" in w.lower() or "truth" in w.lower()]
    inputs = db.parent / "demo_inputs"
    assert sorted(p.name for p in inputs.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    truth = read_truth(db)
    assert list(truth.columns) == ["account_id", "month", "hidden_health"]
    assert truth["account_id"].nunique() == 400
    assert 0.6 < truth["hidden_health"].std() < 1.6  # about standard normal, as documented


def test_rank_auc_counts_ties_half_and_needs_both_classes():
    assert rank_auc(np.array([3.0, 2.0, 1.0]), np.array([False, False, True])) == 1.0
    assert rank_auc(np.array([1.0, 2.0]), np.array([False, True])) == 0.0
    assert rank_auc(np.array([1.0, 1.0]), np.array([False, True])) == 0.5
    assert math.isnan(rank_auc(np.array([1.0, 2.0]), np.array([False, False])))


def test_hidden_auc_follows_the_contract_definitions():
    # A: churns within the horizon; B: retained; C: not active on T (churned before); D: churns
    # after the horizon. Only A counts as churned; C is left out.
    mrr = pd.DataFrame({
        "account_id": ["A", "A", "B", "C", "C", "D", "D"],
        "effective_date": pd.to_datetime(["2026-01-01", "2026-03-15", "2026-01-01", "2025-12-01",
                                          "2025-12-20", "2026-01-01", "2026-06-01"]),
        "mrr": [100.0, 0.0, 100.0, 50.0, 0.0, 100.0, 0.0],
    })
    truth = pd.DataFrame({"account_id": ["A", "B", "C", "D"], "month": pd.to_datetime(["2026-01-01"] * 4),
                          "hidden_health": [-1.0, 1.0, -5.0, 0.0]})
    assert hidden_auc(truth, mrr, horizon_days=90, data_end="2026-09-30") == 1.0
    truth.loc[truth["account_id"] == "A", "hidden_health"] = 0.5  # between D and B now
    assert hidden_auc(truth, mrr, horizon_days=90, data_end="2026-09-30") == 0.5


# ---------------------------------------------------------------- what the store holds


def test_store_is_marked_demo_and_holds_all_tables(demo):
    db = demo["db"]
    assert dict(_query(db, "SELECT key, value FROM meta"))["is_demo"] == "true"
    for name, table in TABLES.items():
        cols = [r[0] for r in _query(db, f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{name}' "
                                         "ORDER BY column_index")]
        assert cols == list(table.names), name
        assert _query(db, f'SELECT count(*) FROM "{name}"')[0][0] > 0, name
    assert _query(db, "SELECT count(*) FROM import_notes")[0][0] == 0  # no warnings for our own files


def test_report_and_progress(demo):
    info, calls = demo["info"], demo["progress"]
    assert info["accounts"] == 400 and info["seconds"] > 0
    assert info["inputs"] == demo["db"].parent / "demo_inputs"
    assert info["usage_rows"] == _query(demo["db"], "SELECT count(*) FROM usage_events")[0][0]
    fractions = [f for _, f in calls]
    assert all(0.0 <= f <= 1.0 for f in fractions) and fractions[-1] == 1.0
    assert any(f <= 0.6 for f in fractions) and any(0.6 < f < 1.0 for f in fractions)
    assert all(isinstance(what, str) and what for what, _ in calls)


def test_revenue_history_has_every_kind_of_move(demo):
    moves = dict(_query(demo["db"], """
        WITH x AS (SELECT mrr, lag(mrr) OVER (PARTITION BY account_id ORDER BY effective_date) AS prev
                   FROM mrr_history)
        SELECT 'churn', count(*) FILTER (WHERE mrr = 0 AND prev > 0) FROM x
        UNION ALL SELECT 'contraction', count(*) FILTER (WHERE prev > 0 AND mrr > 0 AND mrr < prev) FROM x
        UNION ALL SELECT 'expansion', count(*) FILTER (WHERE prev > 0 AND mrr > prev) FROM x
        UNION ALL SELECT 'reactivation', count(*) FILTER (WHERE prev = 0 AND mrr > 0) FROM x"""))
    assert moves["churn"] >= 20 and moves["contraction"] >= 10 and moves["expansion"] >= 20
    assert moves["reactivation"] >= 1
    assert moves["reactivation"] < moves["churn"] / 3  # a few, not a revolving door


def test_usage_spans_the_catalogue_users_and_unclassified_types(demo):
    db = demo["db"]
    first, last = _query(db, "SELECT min(occurred_at), max(occurred_at) FROM usage_events")[0]
    assert (last - first).days >= 365
    dims = {r[0] for r in _query(db, "SELECT DISTINCT dimension FROM event_types")}
    assert dims == {"breadth", "frequency", "depth", "collaboration", "integration"}
    unclassified = {r[0] for r in _query(db, "SELECT DISTINCT event_type FROM usage_events "
                                             "WHERE event_type NOT IN (SELECT event_type FROM event_types)")}
    assert unclassified == set(UNCLASSIFIED)
    both = _query(db, "SELECT count(DISTINCT value_action) FROM event_types")[0][0]
    assert both == 2
    ratio = _query(db, """
        SELECT median(users / seats) FROM (
            SELECT account_id, count(DISTINCT user_id) AS users FROM usage_events
            WHERE occurred_at >= TIMESTAMP '2026-09-01' GROUP BY 1) JOIN accounts USING (account_id)
        WHERE seats > 0""")[0][0]
    assert 0.05 < ratio < 1.0
    assert _query(db, "SELECT count(*) FROM usage_events WHERE user_id IS NULL OR quantity < 1")[0][0] == 0


def test_accounts_look_like_a_b2b_portfolio(demo):
    acc = _df(demo["db"], "SELECT * FROM accounts")
    assert set(acc["segment"]) == {"SMB", "Mid-Market", "Enterprise"}
    assert acc["plan"].nunique() >= 3 and acc["region"].nunique() >= 3
    owners = set(acc["csm_owner"])
    assert 6 <= len(owners) <= 10
    assert all(o.count("@") == 1 and o.endswith("@demo-cs.example") and "." in o.split("@")[0] for o in owners)
    crm = acc["crm_id"].dropna()
    assert len(crm) > 0.9 * len(acc) and crm.str.fullmatch(r"001[0-9A-Za-z]{15}").all()
    assert acc["arr"].max() / acc["arr"].min() > 100  # orders of magnitude
    assert (acc["seats"] > 0).all()
    assert (acc["renewal_date"] > acc["contract_start"]).all()
    young = acc["contract_start"] >= pd.Timestamp("2026-10-01") - pd.Timedelta(days=60)
    assert young.sum() >= 3


def test_awkward_names_survive_byte_for_byte(demo):
    stored = {r[0] for r in _query(demo["db"], "SELECT name FROM accounts")}
    for name in AWKWARD_NAMES:
        assert name in stored, repr(name)
    assert any(n.startswith("=") for n in AWKWARD_NAMES)


def test_records_carry_the_signals_pages_show(demo):
    db = demo["db"]
    nps_min, nps_max = _query(db, "SELECT min(score), max(score) FROM nps_responses")[0]
    assert nps_min <= 3 and nps_max == 10
    prio = {r[0] for r in _query(db, "SELECT DISTINCT priority FROM support_tickets")}
    assert prio == {"low", "normal", "high", "urgent"}
    s_min, s_max, open_now = _query(db, "SELECT min(sentiment), max(sentiment), count(*) FILTER "
                                        "(WHERE closed_at IS NULL) FROM support_tickets")[0]
    assert -1 <= s_min < 0 < s_max <= 1 and open_now > 0
    late, outstanding = _query(db, "SELECT count(*) FILTER (WHERE paid_at > due_at), "
                                   "count(*) FILTER (WHERE paid_at IS NULL) FROM invoices")[0]
    assert late > 0 and outstanding > 0
    primaries = _df(db, """SELECT a.account_id, count(c.account_id) AS contacts,
                                  count(*) FILTER (WHERE c.is_primary) AS primaries
                           FROM accounts a LEFT JOIN contacts c USING (account_id) GROUP BY 1""")
    assert (primaries["primaries"] <= 1).all()
    assert (primaries["primaries"] == 1).mean() > 0.9
    assert (primaries["contacts"] == 0).any() or (primaries["primaries"] == 0).any()


def test_unhealthy_accounts_show_it_in_the_records(demo):
    # The read-outs follow hidden health, each with its own strength: check the sign of each.
    db = demo["db"]
    truth = read_truth(db).assign(month=lambda t: pd.to_datetime(t["month"]))
    by_account = truth.groupby("account_id")["hidden_health"].mean().rename("h")
    nps = _df(db, "SELECT account_id, avg(score) AS nps FROM nps_responses GROUP BY 1").set_index("account_id")
    late = _df(db, "SELECT account_id, avg((paid_at > due_at)::INT) AS late FROM invoices "
                   "WHERE paid_at IS NOT NULL GROUP BY 1").set_index("account_id")
    urgent = _df(db, "SELECT account_id, avg((priority IN ('high', 'urgent'))::INT) AS urgent "
                     "FROM support_tickets GROUP BY 1").set_index("account_id")
    joined = pd.concat([by_account, nps, late, urgent], axis=1)
    corr = joined.corr(method="spearman")["h"]
    assert corr["nps"] > 0.3 and corr["late"] < -0.05 and corr["urgent"] < -0.05


# ---------------------------------------------------------------- the store it replaces


def test_demo_replaces_an_existing_store_and_stale_inputs(tmp_path, good_dir):
    db = tmp_path / "cs.duckdb"
    import_dir(good_dir, db)
    stale = tmp_path / "demo_inputs" / "accounts.csv"
    stale.parent.mkdir()
    stale.write_text("account_id\nX\n", encoding="utf-8")
    build_demo(db, accounts=200, seed=1)
    assert not stale.exists()
    assert _query(db, "SELECT count(*) FROM accounts WHERE account_id = 'A1'")[0][0] == 0
    assert _query(db, "SELECT max(run_id), count(*) FROM import_runs")[0] == (1, 1)


def test_an_empty_portfolio_is_refused_before_touching_anything(tmp_path):
    with pytest.raises(ValueError):
        build_demo(tmp_path / "cs.duckdb", accounts=0)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- default size


def test_default_size_has_a_million_usage_rows_within_a_minute(tmp_path):
    started = time.perf_counter()
    info = build_demo(tmp_path / "cs.duckdb")
    elapsed = time.perf_counter() - started
    assert info["accounts"] == 2000
    assert info["usage_rows"] >= 1_000_000
    assert elapsed < 60, elapsed
