"""``validate``: outcome definitions, the measures against hand and brute-force computations, the
figures on a hand-built backtest, point in time, churn risk, and the command per the contract.

Hand-built backtests have one signal normalised by percentile over the book and no health tables,
so an account's health is ``100 * (rank - 0.5) / n`` of its raw value: every figure below can be
worked out on paper.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from conftest import cli
from scoring.__main__ import main
from scoring.demo import build_demo
from scoring.engine import score_as_of
from scoring.history import resolve_profile
from scoring.outcomes import (auc_interval, average_precision, check_dates, default_dates, deciles,
                              counts_below, delong, months_back, outcomes, rank_auc, ranking, wilson)
from scoring.profile import Normalisation, Profile, SignalDef
from scoring.risk import ChurnRisk, calibration_curve, fit_churn_risk, fit_isotonic, pav
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataStore
from scoring.validate import Backtest, figures, prepare_date, quick_figures, scores_of
from scoring.errors import DataError

T = dt.date(2024, 1, 1)
D = dt.timedelta


# ---------------------------------------------------------------- hand-built backtests


def book_profile(*names: str) -> Profile:
    return Profile(name="t", max_signal_share=1.0, signals=tuple(
        SignalDef(n, n, "frequency", "count", 1.0, normalisation=Normalisation("percentile", "book"))
        for n in names))


def synthetic_prep(as_of: dt.date, raw: dict[str, np.ndarray], churned: np.ndarray, profile: Profile, *,
                   gap: np.ndarray | int = 75, ids: list[str] | None = None,
                   mrr_end: np.ndarray | None = None):
    """One date: accounts with the given raw signals, churning ``gap`` days after ``as_of``."""
    n = len(churned)
    ids = ids or [f"A{i:03d}" for i in range(n)]
    nan = np.full(n, np.nan)
    inputs = pd.DataFrame({
        "segment": "SMB", "seats": 10.0, "age_days": 400.0, "active_days": 10.0, "active_users": 5.0,
        "usage": 10.0, "usage_prev": 10.0, "value_usage": 5.0, "burst": False, "nps_mean": nan,
        "nps_count": 0.0, "tickets_open_weighted": nan, "ticket_sentiment": nan, "invoices_overdue": nan,
        "days_overdue_max": nan, "mrr_now": 100.0, "mrr_90d_ago": 100.0, "has_nps": False,
        "has_tickets": False, "has_invoices": False, "has_mrr": False, "arr": 1200.0,
        **{k: np.asarray(v, dtype=float) for k, v in raw.items()}}, index=pd.Index(ids, name="account_id"))
    churned = np.asarray(churned, dtype=bool)
    gaps = np.broadcast_to(np.asarray(gap), (n,))
    end = np.where(churned, 0.0, 100.0) if mrr_end is None else np.asarray(mrr_end, dtype=float)
    rows = pd.DataFrame({"account_id": ids, "mrr_start": 100.0, "mrr_end": end,
                         "churn_date": [as_of + D(days=int(g)) if c else None for c, g in zip(churned, gaps)],
                         "churned": churned, "expanded": ~churned & (end > 100),
                         "contracted": ~churned & (end < 100)})
    return prepare_date(as_of, inputs, profile, rows)


def synthetic(preps, profile: Profile, capacity: int | None = None, score: str = "health") -> Backtest:
    return Backtest(profile, 90, score, capacity, tuple(preps))


HAND_CHURNED = set(range(15)) | {50, 60, 70, 80, 90}  # raw values (= ranks - 1) of the churners


def hand_book(churners: set[int] = HAND_CHURNED, **kw) -> Backtest:
    p = book_profile("x")
    prep = synthetic_prep(T, {"x": np.arange(100)}, np.isin(np.arange(100), list(churners)), p)
    return synthetic([prep], p, **kw)


# ---------------------------------------------------------------- the measures


def test_auc_by_hand():
    assert rank_auc(np.array([1, 2, 3, 4, 5.0]), np.array([1, 0, 1, 0, 0], bool)) == pytest.approx(5 / 6)
    # ties count one half: retained {2, 3} against churned {1, 2}: 1 + 0.5 + 1 + 1 of 4 pairs
    assert rank_auc(np.array([1, 2, 2, 3.0]), np.array([1, 1, 0, 0], bool)) == pytest.approx(0.875)
    assert math.isnan(rank_auc(np.array([1.0, 2.0]), np.array([0, 0], bool)))


def test_delong_variance_equals_brute_force():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 12, 60).astype(float)  # many ties
    y = rng.random(60) < 0.3
    x_s, y_s = s[~y], s[y]
    psi = (x_s[:, None] > y_s[None, :]) + 0.5 * (x_s[:, None] == y_s[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    brute = np.var(v10, ddof=1) / len(x_s) + np.var(v01, ddof=1) / len(y_s)
    auc, var = delong(s, y)
    assert auc == pytest.approx(psi.mean()) and var == pytest.approx(brute)
    lo, hi = auc_interval(auc, var)
    assert lo == pytest.approx(auc - 1.959964 * math.sqrt(brute), abs=1e-6) and hi > auc


_VALUES = st.one_of(
    st.floats(allow_nan=False, width=64),  # any magnitude, infinities, -0.0, subnormals
    st.integers(0, 8).map(float),  # ties everywhere
    st.integers(0, 10**6).map(lambda i: 50.0 + i * 1e-13),  # values a bucket apart or closer
)


@given(st.lists(_VALUES, min_size=1, max_size=80), st.data())
@settings(max_examples=400, deadline=None)
def test_counts_below_equals_binary_search_in_the_sorted_scores(values, data):
    """``counts_below`` (buckets, no sort of the scores) against ``searchsorted`` in ``np.sort``:
    exact for ties, infinities, spans too wide for a float and values closer than a bucket."""
    s = np.array(values, dtype=np.float64)
    picked = data.draw(st.lists(st.sampled_from(values), min_size=1, max_size=20))
    u = np.unique(np.array(picked, dtype=np.float64))
    lt, le = counts_below(s, u)
    every = np.sort(s)
    np.testing.assert_array_equal(lt, np.searchsorted(every, u, "left"))
    np.testing.assert_array_equal(le, np.searchsorted(every, u, "right"))


def test_counts_below_on_a_book_sized_sample():
    """The bucketed path on many scores (the one a what-if takes), with heavy ties at a few values."""
    rng = np.random.default_rng(11)
    s = np.round(rng.normal(55, 15, 200_000), 3)
    s[rng.random(len(s)) < 0.1] = 0.0
    u = np.unique(s[rng.random(len(s)) < 0.05])
    lt, le = counts_below(s, u)
    every = np.sort(s)
    np.testing.assert_array_equal(lt, np.searchsorted(every, u, "left"))
    np.testing.assert_array_equal(le, np.searchsorted(every, u, "right"))


@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_ranking_equals_pairwise_counting_and_sklearn(rows):
    """``ranking`` (counts per distinct churned score) against the definitions: every pair counted for
    the AUC and DeLong's placement values, scikit-learn for the average precision; small integer
    scores, so ties are everywhere."""
    s = np.array([r[0] for r in rows], dtype=float)
    y = np.array([r[1] for r in rows], dtype=bool)
    auc, var, ap = ranking(s, y)
    x_s, y_s = s[~y], s[y]
    if not len(y_s):
        assert math.isnan(auc) and math.isnan(var) and math.isnan(ap)
        return
    assert ap == pytest.approx(average_precision_score(y, -s), abs=1e-12)
    if not len(x_s):
        assert math.isnan(auc) and math.isnan(var)
        return
    psi = (x_s[:, None] > y_s[None, :]) + 0.5 * (x_s[:, None] == y_s[None, :])
    assert auc == pytest.approx(psi.mean(), abs=1e-12)
    if len(x_s) < 2 or len(y_s) < 2:
        assert math.isnan(var)
    else:
        brute = np.var(psi.mean(axis=1), ddof=1) / len(x_s) + np.var(psi.mean(axis=0), ddof=1) / len(y_s)
        assert var == pytest.approx(brute, abs=1e-12)


def test_wilson_known_values():
    assert wilson(10, 100) == pytest.approx((0.05523, 0.17437), abs=1e-5)
    assert wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson(3, 0) is None


def test_average_precision_by_hand():
    # risk order: churn, retained, churn, retained -> precisions 1, 2/3 at recalls 0.5, 1
    churned = np.array([1, 0, 1, 0], bool)
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.1]), churned) == pytest.approx(5 / 6)
    # a tie of one churner and one retained enters together: precision 1/2 at recall 1
    assert average_precision(np.array([0.5, 0.5]), np.array([1, 0], bool)) == pytest.approx(0.5)


def test_deciles_keep_ties_together():
    d = deciles(np.array([5.0] * 3 + list(range(17))))
    assert len(set(d[:3])) == 1 and d.min() == 0 and d.max() == 9


# ---------------------------------------------------------------- outcomes and dates


def test_outcome_definitions_at_the_boundaries():
    H = 90
    end = T + D(days=H)
    rows = [("churn_on_T_plus_H", T - D(days=30), 100), ("churn_on_T_plus_H", end, 0),
            ("zero_on_T", T - D(days=30), 100), ("zero_on_T", T, 0),
            ("churn_after_horizon", T - D(days=30), 100), ("churn_after_horizon", end + D(days=1), 0),
            ("reactivated", T - D(days=30), 100), ("reactivated", T + D(days=10), 0),
            ("reactivated", T + D(days=20), 150),
            ("expanded", T - D(days=30), 100), ("expanded", T + D(days=30), 150),
            ("contracted", T - D(days=30), 100), ("contracted", T + D(days=30), 50),
            ("starts_after_T", T + D(days=1), 100), ("starts_on_T", T - D(days=10), 0),
            ("starts_on_T", T, 80), ("raised_on_T", T - D(days=30), 100), ("raised_on_T", T, 120),
            ("raised_after_horizon", T - D(days=30), 100), ("raised_after_horizon", end + D(days=1), 200)]
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE mrr_history (account_id VARCHAR, effective_date DATE, mrr DOUBLE)")
    con.executemany("INSERT INTO mrr_history VALUES (?, ?, ?)", rows)
    o = outcomes(con, [T], horizon=H).set_index("account_id")
    assert set(o.index) == {"churn_on_T_plus_H", "churn_after_horizon", "reactivated", "expanded",
                            "contracted", "starts_on_T", "raised_on_T", "raised_after_horizon"}
    flags = o[["churned", "reactivated", "expanded", "contracted"]].astype(bool)
    assert flags.loc["churn_on_T_plus_H"].tolist() == [True, False, False, False]  # T+H is inside
    assert o.loc["churn_on_T_plus_H", "churn_date"].date() == end
    assert flags.loc["churn_after_horizon"].tolist() == [False] * 4
    assert flags.loc["reactivated"].tolist() == [True, True, False, False]  # a comeback is no continuation
    assert flags.loc["expanded"].tolist() == [False, False, True, False]
    assert flags.loc["contracted"].tolist() == [False, False, False, True]
    assert o.loc["starts_on_T", "mrr_start"] == 80 and o.loc["raised_on_T", "mrr_start"] == 120
    assert flags.loc["raised_after_horizon"].tolist() == [False] * 4


def test_default_dates_and_checks():
    assert months_back(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 28)
    assert months_back(dt.date(2026, 1, 15), 2) == dt.date(2025, 11, 15)
    newest = dt.date(2026, 9, 29)
    dates = default_dates(newest, horizon=90, earliest=dt.date(2026, 3, 15), count=6)
    assert dates == [dt.date(2026, 4, 1), dt.date(2026, 5, 1), dt.date(2026, 6, 1), dt.date(2026, 7, 1)]
    assert check_dates([dt.date(2026, 7, 1)], horizon=90, newest_mrr=newest, earliest=None)
    with pytest.raises(DataError, match="no full 90-day horizon"):
        check_dates([dt.date(2026, 7, 2)], horizon=90, newest_mrr=newest, earliest=None)
    with pytest.raises(DataError, match="signal window"):
        check_dates([dt.date(2026, 3, 1)], horizon=90, newest_mrr=newest, earliest=dt.date(2026, 3, 15))


# ---------------------------------------------------------------- figures on a hand-built book


def test_figures_by_hand():
    f = figures(hand_book())["pooled"]
    assert (f["n_accounts"], f["n_churned"], f["base_rate"]) == (100, 20, 0.2)
    # retained above churned: 15 low churners x 80, then 45 + 36 + 27 + 18 + 9 for 50, 60, ..., 90
    assert f["auc"] == pytest.approx(1335 / 1600)
    at_risk, watch, healthy = f["bands"]["at_risk"], f["bands"]["watch"], f["bands"]["healthy"]
    assert (at_risk["accounts"], at_risk["churned"], at_risk["churn_rate"]) == (40, 15, 0.375)
    assert at_risk["lift"] == pytest.approx(1.875)
    assert watch["churned"] == 2 and watch["churn_rate"] is None and "not enough" in watch["reason"]
    assert healthy["share"] == 0.3 and f["recall_at_risk"] == 0.75
    assert f["capacity"] == {"size": 10, "churned": 10, "precision": 1.0, "recall": 0.5}
    assert f["early_warning"] == {"churners": 20, "warned": 17, "share": 0.85}
    passed = {x["name"]: x["passed"] for x in f["floors"]}
    assert passed == {"at_risk_lift": False, "early_warning": True, "healthy_share": True, "auc": True}
    assert f["deciles"][0]["churn_rate"] == 1.0 and f["deciles"][0]["lift"] == 5.0
    cap = figures(hand_book(capacity=25))["pooled"]["capacity"]
    assert (cap["precision"], cap["recall"]) == (0.6, 0.75)


def test_not_enough_outcomes_below_the_minimum():
    short = figures(hand_book(HAND_CHURNED - {90}))["pooled"]  # 19 churned
    assert short["n_churned"] == 19 and short["auc"] is None and short["pr_auc"] is None
    assert "not enough outcomes to judge" in short["reasons"]["auc"]
    assert short["bands"]["at_risk"]["churn_rate"] is None
    assert {x["name"]: x["passed"] for x in short["floors"]}["auc"] is None
    assert short["bands"]["at_risk"]["accounts"] == 40  # counts are always given


def test_early_warning_uses_the_latest_date_60_to_90_days_before():
    p = book_profile("x")
    churned = np.zeros(100, bool)
    churned[0] = True
    first = synthetic_prep(T, {"x": np.arange(100)}, churned, p, gap=80)  # account A000 at_risk
    x2 = np.arange(100)
    x2[0] = 1000  # healthy 10 days later, same churn date
    second = synthetic_prep(T + D(days=10), {"x": x2}, churned, p, gap=70)
    warn = figures(synthetic([first, second], p))["pooled"]["early_warning"]
    assert (warn["churners"], warn["warned"]) == (1, 0)
    warn = figures(synthetic([first], p))["pooled"]["early_warning"]
    assert (warn["churners"], warn["warned"]) == (1, 1)


def test_quick_figures_equal_figures_for_any_weights():
    p = book_profile("x", "y")
    rng = np.random.default_rng(1)
    preps = [synthetic_prep(T + D(days=30 * i), {"x": rng.random(200), "y": rng.random(200)},
                            rng.random(200) < 0.15, p) for i in range(3)]
    bt = synthetic(preps, p)
    for w in ({"x": 1.0, "y": 0.0}, {"x": 3.0, "y": 1.0}):
        q, f = quick_figures(bt, w), figures(bt, w)["pooled"]
        assert q["auc"] == f["auc"] and q["lift_at_risk"] == f["bands"]["at_risk"]["lift"]
        assert q["recall_at_capacity"] == f["capacity"]["recall"]
    only_x = np.concatenate([scores_of(pr, {"x": 1.0, "y": 0.0}, score="health", bands=p.bands)[0]
                             for pr in preps])
    assert quick_figures(bt, {"x": 1.0, "y": 0.0})["auc"] == pytest.approx(
        rank_auc(only_x, np.concatenate([pr.churned for pr in preps])))


# ---------------------------------------------------------------- churn risk


def test_pav_and_isotonic_fit():
    starts, means = pav(np.array([1.0, 3.0, 2.0, 4.0, 4.0]), np.ones(5))
    assert starts.tolist() == [0, 1, 3] and means.tolist() == [1.0, 2.5, 4.0]
    rng = np.random.default_rng(2)
    health = rng.uniform(0, 100, 3000)
    churned = rng.random(3000) < 0.3 * (1 - health / 100)
    risk = fit_isotonic(health, churned, horizon=90, profile="t")
    pred = risk.predict(np.linspace(0, 100, 101))
    assert np.all(np.diff(pred) <= 1e-12) and 0 < pred.min() and pred.max() < 1
    assert pred[10] == pytest.approx(0.27, abs=0.06) and pred[90] == pytest.approx(0.03, abs=0.03)
    assert np.isnan(risk.predict(np.array([np.nan])))[0]
    assert fit_isotonic(health[:50], churned[:50], horizon=90, profile="t") is None  # too few churned
    curve = calibration_curve(risk.predict(health), churned)
    assert len(curve) == 10 and sum(b["accounts"] for b in curve) == 3000
    assert all(abs(b["mean_predicted"] - b["observed"]) < 0.05 for b in curve)


# ---------------------------------------------------------------- on a demo store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("validate") / "cs.duckdb"
    build_demo(db, accounts=500, seed=11)
    return db


def _args(db):
    return ["--db", str(db), "--state", str(db.with_name("cs.state.sqlite"))]


def _backtest(db, dates, profile_ref=None, *, state=None):
    from scoring.validate import backtest_frame

    ds = DataStore(db)
    try:
        with ds.cursor() as con:
            store = StateStore(state or db.with_name("cs.state.sqlite"))
            profile, cat = resolve_profile(con, store, profile_ref)
            return backtest_frame(con, profile, dates, horizon=90, catalogue=cat)
    finally:
        ds.close()


def _validate_json(db, *extra, capsys) -> dict:
    assert main(["validate", *_args(db), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_validate_json_per_the_contract(demo):
    res = cli("validate", *_args(demo), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # strict JSON: no NaN
    assert "NaN" not in res.stdout
    for key in ("auc", "n_accounts", "n_churned", "bands", "per_date", "pr_auc", "auc_ci", "floors",
                "signals", "churn_risk", "deciles", "capacity", "early_warning"):
        assert key in out
    assert len(out["as_of"]) == 6 and out["as_of"] == sorted(out["as_of"])
    assert 0.6 < out["auc"] < 0.95 and out["auc_ci"][0] < out["auc"] < out["auc_ci"][1]
    assert out["n_accounts"] == sum(d["n_accounts"] for d in out["per_date"])
    assert out["n_churned"] == sum(d["n_churned"] for d in out["per_date"]) >= 20
    assert set(out["bands"]) == {"at_risk", "watch", "healthy", "new"}
    for b in out["bands"].values():
        assert {"accounts", "churned", "churn_rate"} <= set(b)
    assert sum(b["accounts"] for b in out["bands"].values()) == out["n_accounts"]
    for d in out["per_date"]:
        assert {"as_of", "auc", "n_accounts", "n_churned", "bands"} <= set(d)
        assert d["auc"] is not None or "not enough" in d["reasons"]["auc"]
    assert {s["signal"] for s in out["signals"]} >= {"logins", "reports_generated"}
    assert out["churn_risk"]["fit"]["n_churned"] >= 20 and len(out["churn_risk"]["calibration"]) == 10


def test_validate_text_report_and_engagement(demo, capsys):
    assert main(["validate", *_args(demo), "--as-of", "2026-05-01", "2026-06-01"]) == 0
    text = capsys.readouterr().out
    for part in ("ROC AUC", "Bands", "Floors", "Signals", "Churn risk", "Per date", "2026-06-01"):
        assert part in text
    out = _validate_json(demo, "--score", "engagement", "--capacity", "5", capsys=capsys)
    assert out["score"] == "engagement_score" and out["churn_risk"]["fit"] is None
    assert out["capacity"]["size"] == 5 * len(out["as_of"])


def test_validate_bad_input(demo, tmp_path, capsys):
    for extra, needle in ((["--as-of", "2026-13-01"], "expected a date"),
                          (["--as-of", "2026-09-01"], "full 90-day horizon"),
                          (["--profile", "nosuch"], "nosuch")):
        assert main(["validate", *_args(demo), *extra]) == 1
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as usage:
        main(["validate", *_args(demo), "--horizon", "0"])
    assert usage.value.code == 2


def test_validate_needs_mrr_history(good_dir, db, capsys):
    from scoring.ingest import import_dir

    import_dir(good_dir, db, state=db.with_name("cs.state.sqlite"))
    assert main(["validate", *_args(db)]) == 1
    assert "validation needs mrr_history" in capsys.readouterr().err


def test_scores_used_equal_score_as_of_on_data_cut_at_t(demo, tmp_path):
    when = dt.date(2026, 5, 1)
    bt = _backtest(demo, [when])
    cut = tmp_path / "cut.duckdb"
    shutil.copy(demo, cut)
    con = duckdb.connect(str(cut))
    con.execute("DELETE FROM usage_events WHERE occurred_at >= ?", [when])
    con.execute("DELETE FROM mrr_history WHERE effective_date > ?", [when])
    con.execute("DELETE FROM nps_responses WHERE responded_at >= ?", [when])
    con.execute("DELETE FROM support_tickets WHERE opened_at >= ?", [when])
    con.execute("UPDATE support_tickets SET closed_at = NULL WHERE closed_at >= ?", [when])
    con.execute("DELETE FROM invoices WHERE issued_at >= ?", [when])
    con.execute("UPDATE invoices SET paid_at = NULL WHERE paid_at >= ?", [when])
    con.close()
    ds = DataStore(cut)
    with ds.cursor() as c:
        expected = score_as_of(c, bt.profile, as_of=when, scope=Scope.everyone())
    ds.close()
    prep = bt.dates[0]
    health, codes = scores_of(prep, bt.weights, score="health", bands=bt.profile.bands)
    assert list(prep.account_ids) == expected["account_id"].tolist()
    np.testing.assert_allclose(health, expected["health_score"].to_numpy(), rtol=0, atol=1e-9)
    bands = np.array(["at_risk", "watch", "healthy", "new"])[codes]
    assert bands.tolist() == expected["band"].astype(str).tolist()


def test_figures_ignore_data_after_the_horizon(demo, tmp_path):
    dates = [dt.date(2026, 4, 1), dt.date(2026, 5, 1)]
    cut = tmp_path / "late.duckdb"
    shutil.copy(demo, cut)
    con = duckdb.connect(str(cut))
    con.execute("DELETE FROM mrr_history WHERE effective_date > ?", [dates[-1] + D(days=90)])
    con.execute("DELETE FROM usage_events WHERE occurred_at >= ?", [dates[-1]])
    con.close()
    state = demo.with_name("cs.state.sqlite")
    full, late = _backtest(demo, dates), _backtest(cut, dates, state=state)
    assert late.profile.ref == full.profile.ref == "classic@1"
    full, late = figures(full), figures(late)
    assert json.dumps(full, default=str) == json.dumps(late, default=str)


def test_quick_figures_equal_what_validate_reports(demo, capsys):
    from scoring import profiles

    dates = ["2026-04-01", "2026-05-01", "2026-06-01", "2026-07-01"]
    bt = _backtest(demo, [dt.date.fromisoformat(d) for d in dates])
    out = _validate_json(demo, "--as-of", *dates, capsys=capsys)
    q = quick_figures(bt, bt.weights)
    assert q["auc"] == out["auc"] and q["pr_auc"] == out["pr_auc"]
    assert q["lift_at_risk"] == out["bands"]["at_risk"]["lift"]
    assert q["recall_at_capacity"] == out["capacity"]["recall"]
    assert q["healthy_share"] == out["bands"]["healthy"]["share"]
    other = {"logins": 5.0, "reports_generated": 1.0, "integrations_connected": 1.0,
             "teammates_invited": 0.0, "api_calls": 3.0}
    state = StateStore(demo.with_name("cs.state.sqlite"))
    changed = dataclasses.replace(bt.profile, name="other", version=None, signals=tuple(
        dataclasses.replace(s, weight=other[s.name]) for s in bt.profile.signals))
    profiles.save(state, changed, author="test")
    out = _validate_json(demo, "--as-of", *dates, "--profile", "other", capsys=capsys)
    q = quick_figures(bt, other)
    assert q["auc"] == out["auc"] and q["precision_at_capacity"] == out["capacity"]["precision"]
    assert q["band_shares"] == {b: v["share"] for b, v in out["bands"].items()}
    assert out["churn_risk"]["fit"] is None  # no score history for this profile


def test_churn_risk_from_snapshots_and_the_score_column(demo, tmp_path):
    ds = DataStore(demo)
    with ds.cursor() as con:
        profile, _ = resolve_profile(con, StateStore(demo.with_name("cs.state.sqlite")), "classic")
        risk = fit_churn_risk(con, profile, 90)
        newest = con.execute("SELECT max(effective_date) FROM mrr_history").fetchone()[0]
        assert fit_churn_risk(con, dataclasses.replace(profile, version=99), 90) is None
    ds.close()
    assert isinstance(risk, ChurnRisk) and risk.dates[-1] + D(days=90) <= newest
    assert np.all(np.diff(risk.risk) < 0)
    out = tmp_path / "s.parquet"
    assert main(["score", *_args(demo), "--out", str(out)]) == 0
    df = pd.read_parquet(out).dropna(subset=["health_score"]).sort_values("health_score")
    assert df["churn_risk"].between(0, 1).all()
    assert (np.diff(df["churn_risk"].to_numpy()) <= 1e-12).all()


def test_midranks_and_delong_match_pandas_ranks():
    from scoring.outcomes import midranks

    rng = np.random.default_rng(9)
    s = np.round(rng.normal(size=500), 1)
    np.testing.assert_array_equal(midranks(s), pd.Series(s).rank(method="average").to_numpy())
    y = rng.random(500) < 0.2
    ranks = pd.Series(s).rank().to_numpy()
    n_r, n_c = (~y).sum(), y.sum()
    assert rank_auc(s, y) == pytest.approx((ranks[~y].sum() - n_r * (n_r + 1) / 2) / (n_r * n_c))
