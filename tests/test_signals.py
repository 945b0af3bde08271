"""The inputs frame (``scoring.signals``): hand-worked examples, a brute-force reference, point in time.

Stores are built in code: in-memory DuckDB tables typed as ``scoring.schema`` declares them (the
import's own types), or, once, a real data file through ``import_dir`` and a ``DataStore``.
``reference_inputs`` recomputes the documented formulas event by event in plain Python, so the
SQL is checked against the docs on generated stores, not against itself.
"""
from __future__ import annotations

import datetime as dt
import math
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ACCOUNT_COLS, EVENT_COLS, write_csv
from scoring import signals
from scoring.ingest import import_dir
from scoring.profile import Profile, SignalDef
from scoring.schema import TABLES
from scoring.scope import Scope
from scoring.store import DataStore

ROOT = Path(__file__).resolve().parents[1]
T = dt.date(2024, 7, 1)
D = dt.datetime


def make_con(tables: dict[str, list[tuple]]) -> duckdb.DuckDBPyConnection:
    """An in-memory store holding ``tables`` (rows as tuples in schema column order)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for name, rows in tables.items():
        table = TABLES[name]
        con.execute(f'CREATE TABLE "{name}" (' + ", ".join(f'"{c.name}" {c.sql_type}' for c in table.columns) + ")")
        if rows:
            con.executemany(f'INSERT INTO "{name}" VALUES (' + ", ".join("?" * len(table.columns)) + ")",
                            [list(r) for r in rows])
    return con


def account(aid: str, *, seats: int = 10, start: dt.date | None = dt.date(2024, 1, 1),
            owner: str = "csm@example.com", arr: float = 1200.0) -> tuple:
    return (aid, f"Account {aid}", "SMB", "pro", "EU", owner, None, arr, seats, start, dt.date(2025, 1, 1))


def ev(aid: str, at: dt.datetime, et: str, user: str | None = "u1", qty: float = 1.0) -> tuple:
    return (aid, at, et, user, qty)


CATALOGUE_ROWS = [  # event_type, feature, dimension, value_action
    ("login", "Sign-in", "frequency", False),
    ("page_view", "Navigation", "breadth", False),
    ("report_generated", "Reports", "depth", True),
    ("report_exported", "Reports", "depth", True),
    ("api_call", "API", "integration", True),
]


def sig(name: str, kind: str, **kw) -> SignalDef:
    return SignalDef(name, name.replace("_", " "), "breadth", kind, 1.0, **kw)


HAND_PROFILE = Profile("hand", window_days=30, passive_daily_cap=5, signals=(
    sig("logins", "count", event_types=("login",)),
    sig("page_views", "count", event_types=("page_view",)),
    sig("reports", "sum", features=("Reports",)),
    sig("value_actions", "count", value_only=True),
    sig("all_quantity", "sum"),
    sig("users", "distinct_users"),
    sig("users_per_seat", "distinct_users", per="seat"),
    sig("features_used", "distinct_features"),
    sig("days_active", "active_days"),
    sig("reports_per_user", "sum", features=("Reports",), per="active_user"),
    sig("logins_trend", "count", event_types=("login",), trend=True),
))


def hand_store(*, optional: bool) -> duckdb.DuckDBPyConnection:
    """Five accounts with hand-chosen events around T = 2024-07-01 (window 30 days, cap 5)."""
    events = [
        # A1, current window [06-01, 07-01): u1 on 06-03 has passive quantity 1 + 8 = 9 > 5
        ev("A1", D(2024, 6, 3, 9), "login"), ev("A1", D(2024, 6, 3, 10), "page_view", qty=8),
        ev("A1", D(2024, 6, 3, 11), "report_generated", qty=2), ev("A1", D(2024, 6, 3, 12), "login", "u2"),
        ev("A1", D(2024, 6, 10, 9), "report_exported", qty=3), ev("A1", D(2024, 6, 10, 9), "api_call", qty=4),
        ev("A1", D(2024, 6, 10, 23, 59), "legacy_sync", qty=2),  # not in the catalogue: passive
        ev("A1", D(2024, 5, 20, 8), "login"),  # previous window [05-02, 06-01)
        ev("A1", D(2024, 4, 10), "login"), ev("A1", D(2024, 4, 11), "login", "u3"),  # the one before
        ev("A1", D(2024, 7, 1), "login", qty=100), ev("A1", D(2024, 7, 5), "api_call"),  # on/after T
        # A2: 30 page views by one user on one day (rows and quantity capped) and a big report
        *[ev("A2", D(2024, 6, 20, 9, i), "page_view", "u9") for i in range(30)],
        ev("A2", D(2024, 6, 20, 15), "report_generated", "u9", qty=40), ev("A2", D(2024, 3, 1), "login", "u9"),
        # A3: events without user ids (capped per account and day)
        *[ev("A3", D(2024, 6, 5, 9 + i), "login", None) for i in range(3)],
        # A4: nothing in the scanned windows
        ev("A4", D(2023, 1, 1), "login"),
    ]
    tables: dict[str, list[tuple]] = {
        "accounts": [account("A1", seats=10), account("A2", seats=0, start=None, owner="other@example.com"),
                     account("A3", seats=5), account("A4", seats=4), account("A5", start=dt.date(2024, 8, 1))],
        "usage_events": events,
        "event_types": CATALOGUE_ROWS,
    }
    if optional:
        tables["mrr_history"] = [
            ("A1", dt.date(2024, 1, 1), 100.0), ("A1", dt.date(2024, 4, 1), 150.0),
            ("A1", dt.date(2024, 6, 15), 200.0), ("A1", dt.date(2024, 7, 2), 250.0),
            ("A2", dt.date(2024, 6, 1), 50.0), ("A3", dt.date(2023, 1, 1), 10.0),
            ("A3", dt.date(2024, 4, 2), 15.0),  # dated exactly T - 90 days: in force then
            ("A4", dt.date(2024, 1, 1), 10.0), ("A4", dt.date(2024, 6, 30), 0.0),  # churned before T
            ("A5", dt.date(2024, 7, 1), 30.0),  # in force from T on: active
        ]
        tables["nps_responses"] = [
            ("A1", dt.date(2024, 6, 15), 9, None), ("A1", dt.date(2024, 1, 10), 3, None),
            ("A1", dt.date(2023, 12, 1), 0, None), ("A1", dt.date(2024, 7, 1), 0, None),
        ]
        tables["support_tickets"] = [
            ("t1", "A1", D(2024, 5, 1), None, "high", -0.5),
            ("t2", "A1", D(2024, 6, 1), D(2024, 7, 1), "urgent", 0.5),  # closed on T: open on T
            ("t3", "A1", D(2024, 6, 2), D(2024, 6, 30), "low", 1.0),
            ("t4", "A1", D(2024, 7, 2), None, "normal", -1.0),  # opened after T
            ("t5", "A1", D(2024, 3, 1), D(2024, 3, 5), "normal", -1.0),  # older than 90 days
        ]
        tables["invoices"] = [
            ("i1", "A1", dt.date(2024, 5, 1), dt.date(2024, 5, 31), None, 100.0),
            ("i2", "A1", dt.date(2024, 6, 1), dt.date(2024, 6, 15), dt.date(2024, 7, 1), 100.0),
            ("i3", "A1", dt.date(2024, 6, 1), dt.date(2024, 7, 15), None, 100.0),
            ("i4", "A1", dt.date(2024, 4, 1), dt.date(2024, 4, 15), dt.date(2024, 4, 20), 100.0),
        ]
    return make_con(tables)


def inputs(con: duckdb.DuckDBPyConnection, profile: Profile = HAND_PROFILE, *, as_of: dt.date = T,
           scope: Scope = Scope.everyone()) -> pd.DataFrame:
    return signals.compute_inputs(con, profile, as_of=as_of, scope=scope, catalogue=signals.catalogue(con))


# ---------------------------------------------------------------- hand-worked examples


def test_hand_worked_usage_signals() -> None:
    df = inputs(hand_store(optional=False))
    assert list(df.index) == ["A1", "A2", "A3", "A4"]  # A5 starts after T
    assert list(df.columns) == signals.input_columns(HAND_PROFILE)
    a1 = df.loc["A1"]
    # passive, u1 on 06-03: quantity 1 + 8 = 9 > cap 5, scaled by 5/9; 2 rows <= 5, not scaled
    assert a1["value_usage"] == pytest.approx(2 + 3 + 4)
    assert a1["passive_usage"] == pytest.approx(9 * 5 / 9 + 1 + 2)  # u1 06-03, u2 06-03, legacy 06-10
    assert a1["usage"] == pytest.approx(17)
    assert a1["usage_prev"] == pytest.approx(1)
    assert a1["logins"] == 2 and a1["logins__prev"] == 1
    assert a1["page_views"] == 1
    assert a1["reports"] == pytest.approx(5) and a1["reports__prev"] == 0
    assert a1["value_actions"] == 3
    assert a1["all_quantity"] == pytest.approx(17)
    assert a1["users"] == 2 and a1["users__prev"] == 1
    assert a1["users_per_seat"] == pytest.approx(0.2) and a1["users_per_seat__prev"] == pytest.approx(0.1)
    assert a1["features_used"] == 5  # Sign-in, Navigation, Reports, API, legacy_sync
    assert a1["features_used__prev"] == 1
    assert a1["days_active"] == 2 and a1["days_active__prev"] == 1 and a1["active_days"] == 2
    assert a1["active_users"] == 2
    assert a1["reports_per_user"] == pytest.approx(2.5) and a1["reports_per_user__prev"] == 0
    assert a1["logins_trend"] == pytest.approx((2 - 1) / 1)
    assert a1["logins_trend__prev"] == pytest.approx((1 - 2) / 2)
    # u1 made 2 + 5 (06-03) + 3 + 4 + 2 (06-10) = 16 of 17; the busiest day is 06-10 with 9
    assert a1["burst_user_share"] == pytest.approx(16 / 17)
    assert a1["burst_day_share"] == pytest.approx(9 / 17)
    assert not a1["burst"]  # usage below 20
    assert a1["age_days"] == (T - dt.date(2024, 1, 1)).days
    assert a1["arr"] == 1200.0 and a1["seats"] == 10


def test_hand_worked_caps_bursts_and_missing_values() -> None:
    df = inputs(hand_store(optional=False))
    a2 = df.loc["A2"]
    assert a2["page_views"] == pytest.approx(30 * 5 / 30)  # 30 passive rows > cap 5
    assert a2["passive_usage"] == pytest.approx(5) and a2["usage"] == pytest.approx(45)
    assert a2["burst_user_share"] == pytest.approx(1) and a2["burst_day_share"] == pytest.approx(1)
    assert a2["burst"]
    assert math.isnan(a2["users_per_seat"])  # zero seats: missing, not an error
    assert a2["users"] == 1
    assert a2["age_days"] == (T - dt.date(2024, 3, 1)).days  # no contract_start: the first event
    a3 = df.loc["A3"]  # no user ids at all
    assert a3["logins"] == 3 and a3["usage"] == 3 and a3["active_days"] == 1
    for col in ("active_users", "users", "users_per_seat", "reports_per_user", "burst_user_share"):
        assert math.isnan(a3[col]), col
    assert a3["burst_day_share"] == pytest.approx(1)
    a4 = df.loc["A4"]  # active, no events in the windows: zeros, and NaN only where undefined
    assert a4["usage"] == 0 and a4["logins"] == 0 and a4["active_users"] == 0 and a4["users"] == 0
    assert a4["users_per_seat"] == 0
    for col in ("reports_per_user", "logins_trend", "burst_user_share", "burst_day_share"):
        assert math.isnan(a4[col]), col
    assert not a4["burst"]
    for col in ("nps_mean", "nps_count", "tickets_open", "invoices_overdue", "mrr_now", "mrr_90d_ago"):
        assert df[col].isna().all(), col
    assert not df[["has_nps", "has_tickets", "has_invoices", "has_mrr"]].any().any()


def test_hand_worked_health_inputs() -> None:
    df = inputs(hand_store(optional=True))
    assert list(df.index) == ["A1", "A2", "A3", "A5"]  # A4's MRR fell to 0 before T; A5's starts on T
    a1 = df.loc["A1"]
    assert a1["nps_mean"] == pytest.approx(6) and a1["nps_count"] == 2  # 9 and 3 within 180 days
    assert a1["tickets_open"] == 2  # t1 (no closed_at) and t2 (closed on T)
    assert a1["tickets_open_weighted"] == pytest.approx(2 + 4)
    assert a1["ticket_sentiment"] == pytest.approx((-0.5 + 0.5 + 1.0) / 3)
    assert a1["invoices_overdue"] == 2  # i1 unpaid, i2 paid on T
    assert a1["days_overdue_max"] == (T - dt.date(2024, 5, 31)).days
    assert a1["mrr_now"] == 200 and a1["mrr_90d_ago"] == 150 and a1["arr"] == 2400
    a2 = df.loc["A2"]
    assert math.isnan(a2["nps_mean"]) and a2["nps_count"] == 0
    assert a2["tickets_open"] == 0 and math.isnan(a2["ticket_sentiment"])
    assert a2["invoices_overdue"] == 0 and a2["days_overdue_max"] == 0
    assert a2["mrr_now"] == 50 and math.isnan(a2["mrr_90d_ago"]) and a2["arr"] == 600
    assert df.loc["A3", "mrr_90d_ago"] == 15 and df.loc["A3", "mrr_now"] == 15
    assert df.loc["A5", "mrr_now"] == 30
    assert df[["has_nps", "has_tickets", "has_invoices", "has_mrr"]].all().all()


def test_scope_returns_only_the_csm_accounts_with_the_same_values() -> None:
    con = hand_store(optional=True)
    everyone = inputs(con)
    mine = inputs(con, scope=Scope.for_owners({"other@example.com"}))
    assert list(mine.index) == ["A2"]
    pd.testing.assert_frame_equal(mine, everyone.loc[["A2"]])
    assert inputs(con, scope=Scope.for_owners(set())).empty


def test_zero_seats_and_no_users_give_nan_never_an_error() -> None:
    con = make_con({"accounts": [account("Z", seats=0)],
                    "usage_events": [ev("Z", D(2024, 6, 5), "login", None)]})
    profile = Profile("z", signals=(sig("per_seat", "count", per="seat"), sig("per_user", "count", per="active_user"),
                                    sig("users", "distinct_users", per="seat", trend=True)))
    row = inputs(con, profile).loc["Z"]
    assert row["per_seat"] != row["per_seat"] and row["per_user"] != row["per_user"]
    assert math.isnan(row["users"]) and math.isnan(row["active_users"])


def test_refuses_unsafe_signal_names() -> None:
    con = make_con({"accounts": [account("A")], "usage_events": []})
    for name in ("Logins", "1x", "a-b", 'x"; DROP TABLE accounts; --', "usage", "active_days", ""):
        with pytest.raises(ValueError):
            inputs(con, Profile("bad", signals=(sig("ok", "count"), SignalDef(name, "x", "breadth", "count", 1.0))))
    with pytest.raises(ValueError):  # two signals, one column
        inputs(con, Profile("dup", signals=(sig("a", "count"), sig("a", "sum"))))
    with pytest.raises(ValueError):  # a name that collides with another signal's __prev column
        inputs(con, Profile("dup", signals=(sig("a", "count"), sig("a__prev", "sum"))))
    with pytest.raises(ValueError):
        inputs(con, Profile("kind", signals=(sig("a", "median"),)))


def test_catalogue_sources_and_overrides() -> None:
    con = hand_store(optional=False)
    cat = signals.catalogue(con, {"page_view": (None, "frequency", True),
                                  "legacy_sync": ("Sync", "integration", False)})
    assert list(cat.columns) == ["event_type", "feature", "dimension", "value_action", "source"]
    rows = {r.event_type: r for r in cat.itertuples(index=False)}
    assert set(rows) == {"login", "page_view", "report_generated", "report_exported", "api_call", "legacy_sync"}
    assert (rows["login"].feature, rows["login"].value_action, rows["login"].source) == ("Sign-in", False, "imported")
    assert (rows["page_view"].feature, rows["page_view"].value_action, rows["page_view"].source) == (
        "page_view", True, "app")
    assert rows["legacy_sync"].source == "app" and rows["legacy_sync"].feature == "Sync"
    plain = signals.catalogue(con)
    un = plain[plain.event_type == "legacy_sync"].iloc[0]
    assert (un.feature, un.value_action, un.source) == ("legacy_sync", False, "unclassified")
    assert pd.isna(un.dimension)
    no_types = make_con({"accounts": [account("A")], "usage_events": [ev("A", D(2024, 6, 1), "x")]})
    assert signals.catalogue(no_types).source.tolist() == ["unclassified"]


def test_app_classification_changes_the_signals() -> None:
    con = hand_store(optional=False)
    value = Profile("v", signals=(sig("value_actions", "count", value_only=True),))
    base = signals.compute_inputs(con, value, as_of=T, scope=Scope.everyone(), catalogue=signals.catalogue(con))
    cat = signals.catalogue(con, {"legacy_sync": ("Sync", "integration", True)})
    moved = signals.compute_inputs(con, value, as_of=T, scope=Scope.everyone(), catalogue=cat)
    assert moved.loc["A1", "value_actions"] == base.loc["A1", "value_actions"] + 1


def test_datastore_and_plain_connection_agree(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_csv(folder / "accounts.csv", ACCOUNT_COLS,
              [["A1", "One, Inc", "SMB", "pro", "EU", "a@x.com", "", 100, 3, "2024-01-01", "2025-01-01"],
               ["A2", "Two", "SMB", "pro", "EU", "b@x.com", "", 100, 0, "", ""]])
    write_csv(folder / "usage_events.csv", EVENT_COLS,
              [["A1", "2024-06-03T09:00:00Z", "login", "u1", ""], ["A1", "2024-06-04", "report", "u2", "3"],
               ["A2", "2024-06-05T10:00:00+02:00", "login", "", "2"]])
    write_csv(folder / "event_types.csv", ["event_type", "feature", "dimension", "value_action"],
              [["report", "Reports", "depth", "true"]])
    db = tmp_path / "cs.duckdb"
    import_dir(folder, db)
    ds = DataStore(db)
    try:
        via_ds = signals.compute_inputs_ds(ds, HAND_PROFILE, as_of=T, scope=Scope.everyone(),
                                           catalogue=signals.catalogue_ds(ds))
    finally:
        ds.close()
    con = duckdb.connect(str(db), read_only=True)
    try:
        plain = inputs(con)
    finally:
        con.close()
    pd.testing.assert_frame_equal(via_ds, plain)
    assert via_ds.loc["A1", "usage"] == 4 and via_ds.loc["A1", "value_usage"] == 3
    assert via_ds.loc["A2", "usage"] == 2 and math.isnan(via_ds.loc["A2", "active_users"])


def test_as_of_must_be_a_date() -> None:
    con = hand_store(optional=False)
    pd.testing.assert_frame_equal(inputs(con, as_of=pd.Timestamp(T)), inputs(con))
    with pytest.raises(ValueError):
        inputs(con, as_of=D(2024, 7, 1, 12))


# ---------------------------------------------------------------- the documented formulas, brute force


def reference_inputs(tables: dict[str, list[tuple]], profile: Profile, as_of: dt.date,
                     cat: pd.DataFrame) -> pd.DataFrame:
    """The inputs frame's usage and health columns, event by event, straight from the docs."""
    W, cap = profile.window_days, profile.passive_daily_cap
    K = 3 if any(s.trend for s in profile.signals) else 2
    Tt = dt.datetime.combine(as_of, dt.time())
    kinds = {r.event_type: (r.feature, bool(r.value_action)) for r in cat.itertuples()}
    mrr = tables.get("mrr_history")

    def in_force(aid: str, day: dt.date) -> float | None:
        rows = [r for r in mrr or [] if r[0] == aid and r[1] <= day]
        return max(rows, key=lambda r: r[1])[2] if rows else None

    out = {}
    for a in tables["accounts"]:
        aid, seats, start = a[0], a[8], a[9]
        now = in_force(aid, as_of) if mrr is not None else None
        if (mrr is not None and not (now and now > 0)) or (mrr is None and start is not None and start > as_of):
            continue
        evs = []
        for e in tables["usage_events"]:
            if e[0] != aid or not (Tt - dt.timedelta(days=W * K) <= e[1] < Tt):
                continue
            feature, va = kinds.get(e[2], (e[2], False))
            day = e[1].date()
            evs.append(dict(et=e[2], user=e[3] or None, q=1.0 if e[4] is None else e[4], day=day,
                            k=((as_of - day).days - 1) // W, feature=feature, va=va))
        totals: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for e in evs:
            if not e["va"]:
                totals[(e["user"], e["day"])][0] += e["q"]
                totals[(e["user"], e["day"])][1] += 1
        for e in evs:
            tq, tn = totals[(e["user"], e["day"])]
            e["cq"] = e["q"] if e["va"] or tq <= cap else e["q"] * cap / tq
            e["cn"] = 1.0 if e["va"] or tn <= cap else cap / tn
        known = not evs or any(e["user"] for e in evs)
        nan = float("nan")

        def users(k: int, es: list[dict]) -> float:
            return float(len({e["user"] for e in es if e["k"] == k and e["user"]})) if known else nan

        def selects(s: SignalDef, e: dict) -> bool:
            listed = (not s.event_types and not s.features) or e["et"] in s.event_types or e["feature"] in s.features
            return listed and (e["va"] or not s.value_only)

        def value(s: SignalDef, k: int) -> float:
            es = [e for e in evs if e["k"] == k and selects(s, e)]
            base = {"count": lambda: sum(e["cn"] for e in es), "sum": lambda: sum(e["cq"] for e in es),
                    "distinct_users": lambda: users(k, es),
                    "distinct_features": lambda: len({e["feature"] for e in es}),
                    "active_days": lambda: len({e["day"] for e in es})}[s.kind]()
            div = {None: 1.0, "seat": seats or nan, "active_user": users(k, evs) or nan}[s.per]
            return float(base) / div

        row: dict[str, object] = {}
        cur = [e for e in evs if e["k"] == 0]
        usage = sum(e["cq"] for e in cur)
        row.update(usage=usage, usage_prev=sum(e["cq"] for e in evs if e["k"] == 1),
                   value_usage=sum(e["cq"] for e in cur if e["va"]),
                   passive_usage=sum(e["cq"] for e in cur if not e["va"]),
                   active_days=float(len({e["day"] for e in cur})), active_users=users(0, evs))
        by_user: dict[str, float] = defaultdict(float)
        by_day: dict[dt.date, float] = defaultdict(float)
        for e in cur:
            by_day[e["day"]] += e["cq"]
            if e["user"]:
                by_user[e["user"]] += e["cq"]
        row["burst_user_share"] = (max(by_user.values(), default=0.0) / usage) if usage > 0 and known else nan
        row["burst_day_share"] = max(by_day.values()) / usage if usage > 0 else nan
        row["burst"] = bool(usage >= 20 and (row["burst_user_share"] > 0.8 or row["burst_day_share"] > 0.8))
        for s in profile.signals:
            for k, col in ((0, s.name), (1, f"{s.name}__prev")):
                if s.trend:
                    prev = value(s, k + 1)
                    row[col] = (value(s, k) - prev) / prev if prev else nan
                else:
                    row[col] = value(s, k)
        first = min((e[1] for e in tables["usage_events"] if e[0] == aid and e[1] < Tt), default=None)
        origin = start or (first.date() if first else None)
        row["age_days"] = float((as_of - origin).days) if origin else nan
        row["arr"] = 12 * now if mrr is not None else a[7]
        row["seats"] = float(seats)
        if "nps_responses" in tables:
            scores = [r[2] for r in tables["nps_responses"]
                      if r[0] == aid and as_of - dt.timedelta(days=180) <= r[1] < as_of]
            row.update(nps_mean=float(np.mean(scores)) if scores else nan, nps_count=float(len(scores)))
        if "support_tickets" in tables:
            mine = [r for r in tables["support_tickets"] if r[1] == aid and r[2] < Tt]
            opened = [r for r in mine if r[3] is None or r[3] >= Tt]
            weights = {"low": 0.5, "normal": 1.0, "high": 2.0, "urgent": 4.0}
            recent = [r[5] for r in mine if r[2] >= Tt - dt.timedelta(days=90) and r[5] is not None]
            row.update(tickets_open=float(len(opened)), tickets_open_weighted=sum(weights[r[4]] for r in opened),
                       ticket_sentiment=float(np.mean(recent)) if recent else nan)
        if "invoices" in tables:
            due = [r for r in tables["invoices"] if r[1] == aid and r[2] < as_of and r[3] < as_of
                   and (r[4] is None or r[4] >= as_of)]
            row.update(invoices_overdue=float(len(due)),
                       days_overdue_max=float(max(((as_of - r[3]).days for r in due), default=0)))
        if mrr is not None:
            old = in_force(aid, as_of - dt.timedelta(days=90))
            row.update(mrr_now=now, mrr_90d_ago=nan if old is None else old)
        out[aid] = row
    return pd.DataFrame.from_dict(out, orient="index")


# ---------------------------------------------------------------- generated stores

TYPES = ["login", "page_view", "report_generated", "api_call", "odd_type"]  # odd_type: unclassified
BASE = dt.date(2024, 3, 1)


@st.composite
def stores(draw: st.DrawFn) -> tuple[dict[str, list[tuple]], Profile, dt.date]:
    """A small random store (every table, optional ones sometimes absent), a profile and a T."""
    day = lambda: BASE + dt.timedelta(days=draw(st.integers(0, 60)))  # noqa: E731
    at = lambda: D.combine(day(), dt.time(draw(st.sampled_from([0, 9, 23])),  # noqa: E731
                                          draw(st.sampled_from([0, 59]))))
    n = draw(st.integers(1, 4))
    ids = [f"A{i}" for i in range(n)]
    tables: dict[str, list[tuple]] = {
        "accounts": [account(a, seats=draw(st.integers(0, 3)), owner=draw(st.sampled_from(["x@e.com", "y@e.com"])),
                             start=draw(st.one_of(st.none(), st.just(BASE), st.just(BASE + dt.timedelta(days=30)))))
                     for a in ids],
        "usage_events": [ev(draw(st.sampled_from(ids)), at(), draw(st.sampled_from(TYPES)),
                            draw(st.sampled_from([None, "u1", "u2", "u3"])),
                            draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.0])))
                         for _ in range(draw(st.integers(0, 40)))],
        "event_types": [r for r in CATALOGUE_ROWS if r[0] in TYPES],
    }
    if draw(st.booleans()):
        keys = {(draw(st.sampled_from(ids)), day()) for _ in range(draw(st.integers(0, 8)))}  # unique key
        tables["mrr_history"] = [(a, d, draw(st.sampled_from([0.0, 10.0, 20.0]))) for a, d in sorted(keys)]
    if draw(st.booleans()):
        tables["nps_responses"] = [(draw(st.sampled_from(ids)), day(), draw(st.integers(0, 10)), None)
                                   for _ in range(draw(st.integers(0, 5)))]
    if draw(st.booleans()):
        tickets = []
        for i in range(draw(st.integers(0, 5))):
            opened = at()
            closed = draw(st.one_of(st.none(), st.integers(0, 20).map(lambda d, o=opened: o + dt.timedelta(days=d))))
            tickets.append((f"t{i}", draw(st.sampled_from(ids)), opened, closed,
                            draw(st.sampled_from(["low", "normal", "high", "urgent"])),
                            draw(st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 0.5])))))
        tables["support_tickets"] = tickets
    if draw(st.booleans()):
        invoices = []
        for i in range(draw(st.integers(0, 5))):
            issued = day()
            due = issued + dt.timedelta(days=draw(st.integers(0, 20)))
            paid = draw(st.one_of(st.none(), st.integers(0, 30).map(lambda d, x=issued: x + dt.timedelta(days=d))))
            invoices.append((f"i{i}", draw(st.sampled_from(ids)), issued, due, paid, 10.0))
        tables["invoices"] = invoices
    kinds = ["count", "sum", "distinct_users", "distinct_features", "active_days"]
    sigs = tuple(sig(f"s{i}", draw(st.sampled_from(kinds)),
                     event_types=tuple(draw(st.lists(st.sampled_from(TYPES), max_size=2))),
                     features=tuple(draw(st.lists(st.sampled_from(["Reports", "Sign-in", "odd_type"]), max_size=1))),
                     value_only=draw(st.booleans()), per=draw(st.sampled_from([None, "seat", "active_user"])),
                     trend=draw(st.booleans()))
                 for i in range(draw(st.integers(1, 4))))
    profile = Profile("gen", signals=sigs, window_days=draw(st.integers(1, 20)),
                      passive_daily_cap=draw(st.integers(0, 4)))
    # T is often a date the data turns on (an event's day, a closing, a payment, an MRR change),
    # where the rules' "before T" / "on or after T" boundaries bite.
    turns = sorted({v.date() if isinstance(v, D) else v for rows in tables.values() for r in rows for v in r
                    if isinstance(v, dt.date)})
    as_of = draw(st.one_of(st.integers(0, 70).map(lambda d: BASE + dt.timedelta(days=d)),
                           *([st.sampled_from(turns)] if turns else [])))
    return tables, profile, as_of


def cut_at(tables: dict[str, list[tuple]], as_of: dt.date) -> dict[str, list[tuple]]:
    """The data as it stood before T: later rows removed, later closings and payments blanked."""
    Tt = dt.datetime.combine(as_of, dt.time())
    out = dict(tables)
    out["usage_events"] = [r for r in tables["usage_events"] if r[1] < Tt]
    if "mrr_history" in tables:
        out["mrr_history"] = [r for r in tables["mrr_history"] if r[1] <= as_of]
    if "nps_responses" in tables:
        out["nps_responses"] = [r for r in tables["nps_responses"] if r[1] < as_of]
    if "support_tickets" in tables:
        out["support_tickets"] = [r[:3] + ((r[3] if r[3] is not None and r[3] < Tt else None),) + r[4:]
                                  for r in tables["support_tickets"] if r[2] < Tt]
    if "invoices" in tables:
        out["invoices"] = [r[:4] + ((r[4] if r[4] is not None and r[4] < as_of else None),) + r[5:]
                           for r in tables["invoices"] if r[2] < as_of]
    return out


HYPOTHESIS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(stores())
def test_point_in_time_full_data_equals_data_cut_at_t(case) -> None:
    tables, profile, as_of = case
    full = inputs(make_con(tables), profile, as_of=as_of)
    cut = inputs(make_con(cut_at(tables, as_of)), profile, as_of=as_of)
    pd.testing.assert_frame_equal(full, cut)


@HYPOTHESIS
@given(stores())
def test_matches_the_documented_formulas(case) -> None:
    tables, profile, as_of = case
    con = make_con(tables)
    got = inputs(con, profile, as_of=as_of)
    want = reference_inputs(tables, profile, as_of, signals.catalogue(con))
    assert list(got.index) == sorted(want.index)
    if got.empty:
        return
    want = want.loc[got.index]
    for col in want.columns:
        pd.testing.assert_series_equal(got[col], want[col].astype(got[col].dtype), check_names=False,
                                       obj=col, rtol=1e-9, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(stores(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(case, rnd: random.Random) -> None:
    tables, profile, as_of = case
    shuffled = {name: rnd.sample(rows, len(rows)) for name, rows in tables.items()}
    pd.testing.assert_frame_equal(inputs(make_con(tables), profile, as_of=as_of),
                                  inputs(make_con(shuffled), profile, as_of=as_of))


# ---------------------------------------------------------------- the benchmark still runs


def test_smoke_benchmark_runs_and_reports(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "signals_bench.py"), "--smoke", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = next(line for line in proc.stdout.splitlines() if line.startswith("result: "))
    figures = dict(pair.split("=", 1) for pair in result.removeprefix("result: ").split())
    assert float(figures["seconds"]) > 0 and float(figures["rows_per_second"]) > 0
    assert int(figures["accounts_out"]) > 0


# ---------------------------------------------------------------- packed flags and masks


def test_many_flags_and_long_windows_match_the_documented_formulas() -> None:
    """Flags of active_days / distinct_users signals travel packed in 64-bit words and active days
    in slots of flag x window: more than 64 flags and a 70-day window cross word boundaries."""
    rnd = random.Random(11)
    ids = [f"A{i}" for i in range(6)]
    tables = {
        "accounts": [account(a, seats=rnd.randint(0, 4)) for a in ids],
        "usage_events": [ev(rnd.choice(ids), D.combine(BASE + dt.timedelta(days=rnd.randint(0, 220)),
                                                       dt.time(rnd.choice([0, 9, 23]))),
                            rnd.choice(TYPES), rnd.choice([None, "u1", "u2", "u3"]),
                            rnd.choice([0.0, 0.5, 1.0, 7.0])) for _ in range(600)],
        "event_types": [r for r in CATALOGUE_ROWS if r[0] in TYPES],
    }
    subsets = [tuple(t for j, t in enumerate(TYPES) if m >> j & 1) for m in range(1, 2 ** len(TYPES))]
    sigs = tuple(sig(f"f{i}", "active_days" if i % 2 else "distinct_users", trend=i % 3 == 0,
                     per=[None, "seat", "active_user"][i % 3], event_types=subsets[i % len(subsets)],
                     value_only=i >= len(subsets))
                 for i in range(68))  # 68 distinct (kind, filter) pairs: 68 flags
    sigs += (sig("q", "sum", trend=True), sig("n", "count", value_only=True), sig("feats", "distinct_features"))
    profile = Profile("many", signals=sigs, window_days=70, passive_daily_cap=2)
    con = make_con(tables)
    for as_of in (BASE + dt.timedelta(days=150), BASE + dt.timedelta(days=221)):
        got = inputs(con, profile, as_of=as_of)
        want = reference_inputs(tables, profile, as_of, signals.catalogue(con)).loc[got.index]
        assert len(got) == len(ids)
        for col in want.columns:
            pd.testing.assert_series_equal(got[col], want[col].astype(got[col].dtype), check_names=False,
                                           obj=col, rtol=1e-9, atol=1e-12)
