"""``validate`` and ``calibrate`` checked from outside: the reported AUC against scikit-learn on the
``score --as-of T`` output and outcomes worked out here from ``mrr_history`` with pandas (not with
``scoring.outcomes``), and both commands on a store holding only the three files the contract
requires (accounts, usage_events, mrr_history).

The demo has 1,000 accounts, not fewer: a single as-of date needs 20 churned accounts before
``validate`` judges its AUC, and a 400-account demo has about 5-19 churned per date, so its
one-date AUC is ``null`` (checked below too, so the minimum is seen to bite).
"""
from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import cli
from scoring.demo import INPUTS_DIR, build_demo
from scoring.ingest import import_dir

AS_OF = dt.date(2026, 6, 1)  # demo data ends 2026-09-30: T + 90 days fits, and a full signal window lies before
HORIZON = 90
CONTRACT_MINIMUM = ("accounts", "usage_events", "mrr_history")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("validate-extra") / "cs.duckdb"
    build_demo(db, accounts=1000, seed=5)
    return db


def _args(db) -> list[str]:
    return ["--db", str(db), "--state", str(db.with_name("cs.state.sqlite"))]


def churn_by_hand(mrr: pd.DataFrame, as_of: dt.date, horizon: int) -> pd.Series:
    """Per account active on T (the newest row on or before T sets MRR > 0): churned when some row
    dated in (T, T + horizon] sets MRR 0. Straight from the contract's words."""
    mrr = mrr.assign(effective_date=pd.to_datetime(mrr["effective_date"]).dt.normalize())
    t, until = pd.Timestamp(as_of), pd.Timestamp(as_of) + pd.Timedelta(days=horizon)
    known = mrr[mrr["effective_date"] <= t].sort_values(["account_id", "effective_date"], kind="stable")
    in_force = known.groupby("account_id")["mrr"].last()
    active = in_force.index[in_force > 0]
    zero = mrr[(mrr["effective_date"] > t) & (mrr["effective_date"] <= until) & (mrr["mrr"] == 0)]
    return pd.Series(np.isin(active, zero["account_id"].unique()), index=active, name="churned")


def test_one_date_auc_equals_sklearn_on_score_output(demo, tmp_path):
    out = tmp_path / "scores.parquet"
    done = cli("score", *_args(demo), "--as-of", AS_OF.isoformat(), "--out", str(out))
    assert done.returncode == 0, done.stderr
    res = cli("validate", *_args(demo), "--as-of", AS_OF.isoformat(), "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["as_of"] == [AS_OF.isoformat()] and rep["horizon_days"] == HORIZON

    scores = pd.read_parquet(out).set_index("account_id")
    mrr = pd.read_parquet(demo.parent / INPUTS_DIR / "mrr_history.parquet")
    churned = churn_by_hand(mrr, AS_OF, HORIZON)
    # the scored accounts are exactly the accounts active on T
    assert set(scores.index) == set(churned.index)
    joined = scores.join(churned, how="inner")
    assert len(joined) == rep["n_accounts"] and int(joined["churned"].sum()) == rep["n_churned"] >= 20
    y = joined["churned"].to_numpy(dtype=int)
    s = joined["health_score"].to_numpy(dtype=float)
    ok = np.isfinite(s)
    assert int(ok.sum()) == rep["n_scored"]
    expected = roc_auc_score(y[ok], -s[ok])  # churn positive, low health = high risk
    assert rep["auc"] == pytest.approx(expected, abs=1e-12)
    assert rep["per_date"][0]["auc"] == pytest.approx(expected, abs=1e-12)
    assert rep["base_rate"] == pytest.approx(y.mean(), abs=1e-12)


def test_one_date_auc_is_not_judged_below_the_minimum(tmp_path):
    db = tmp_path / "small" / "cs.duckdb"
    build_demo(db, accounts=400, seed=5)
    res = cli("validate", *_args(db), "--as-of", AS_OF.isoformat(), "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["n_churned"] < 20 and rep["auc"] is None and rep["pr_auc"] is None
    assert rep["reasons"]["auc"] == f"not enough outcomes to judge: {rep['n_churned']} churned, at least 20 needed"


@pytest.fixture(scope="module")
def minimal(demo, tmp_path_factory):
    """A store imported from only the contract's three required files, copied from the demo's."""
    base = tmp_path_factory.mktemp("minimal")
    folder = base / "in"
    folder.mkdir()
    for name in CONTRACT_MINIMUM:
        shutil.copyfile(demo.parent / INPUTS_DIR / f"{name}.parquet", folder / f"{name}.parquet")
    db = base / "store" / "cs.duckdb"
    db.parent.mkdir()
    import_dir(folder, db)
    return db


def test_minimal_store_has_only_the_three_tables(minimal):
    import duckdb

    con = duckdb.connect(str(minimal), read_only=True)
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("event_types", "nps_responses", "support_tickets", "invoices")
                  if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                                 [t]).fetchone()[0]}
    finally:
        con.close()
    assert all(n == 0 for n in counts.values()), counts


def test_validate_on_the_contract_minimum(minimal):
    res = cli("validate", *_args(minimal), "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert len(rep["as_of"]) == 6 and rep["n_churned"] >= 20
    assert rep["auc"] is not None and 0.5 < rep["auc"] < 1
    assert rep["auc_ci"][0] < rep["auc"] < rep["auc_ci"][1]
    assert sum(b["accounts"] for b in rep["bands"].values()) == rep["n_accounts"]
    assert rep["signals"] and all(s["signal"] for s in rep["signals"])
    text = cli("validate", *_args(minimal))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Backtest of ") and "ROC AUC" in text.stdout and "Floors" in text.stdout


def test_calibrate_on_the_contract_minimum(minimal):
    res = cli("calibrate", *_args(minimal), "--save-as", "minimal-fit")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("Fitted on 6 as-of date(s)") and "judged on 4 date(s)" in out
    assert "purged 2 date(s)" in out
    assert "saved minimal-fit version 1 (author calibrate; not published)" in out
    lines = out.splitlines()
    judged = next(line for line in lines if line.strip().startswith("judged"))
    current, suggested = (float(x) for x in judged.split()[1:3])
    assert 0.5 < current < 1 and 0.5 < suggested < 1
