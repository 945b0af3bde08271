"""The Portfolio page and its figures (``scoring.portfolio``, ``scoring.movers``, ``ui.charts``).

Retention and activation are checked by hand on a tiny store written here (with the boundaries:
a renewal on the as-of date, the first and last day of each window, rows after the as-of date).
The rest runs on a 300-account demo built once for the module. Nothing reads data/cs.duckdb:
``CS_DB``/``CS_STATE`` point at the temporary stores.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, chart_figures, write_csv
from scoring import movers as mv
from scoring import portfolio as pf
from scoring import retention as rt
from scoring.demo import build_demo
from scoring.engine import default_as_of
from scoring.history import resolve_profile
from scoring.ingest import import_dir
from scoring.current import load_book
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataStore
from ui import charts

APP = str(ROOT / "app.py")
TIMEOUT = 60
T = dt.date(2025, 1, 1)  # the hand-made store's as-of date
EVERYONE = Scope.everyone()
CSM0 = Scope.for_owners({"csm0@example.com"})


# ---------------------------------------------------------------- stores


def _acc(aid: str, csm: int, start: str, renewal: str, segment: str = "SMB") -> list:
    return [aid, f"Account {aid}", segment, "pro", "EU", f"csm{csm}@example.com", "", 1000, 10,
            start, renewal]


def build_hand(root: Path) -> Path:
    """Accounts whose renewals, MRR and new users are worked out by hand in the tests below."""
    d = root / "hand_in"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, [
        _acc("R1", 0, "2022-03-01", "2025-03-01"),  # renewed on 2024-03-01 (k = 1)
        _acc("R2", 0, "2023-06-15", "2024-06-15"),  # churned on its renewal date
        _acc("R3", 0, "2023-01-01", "2025-01-01"),  # renewal on T: not judged; 2024-01-01 (window start) is
        _acc("R4", 1, "2024-01-01", "2025-01-01"),  # first anniversary is T: nothing due yet
        _acc("R5", 1, "2021-09-01", "2025-09-01"),  # renewed 2024-09-01, contracted later
        _acc("R6", 1, "2023-12-31", "2024-12-31"),  # MRR 0 from T (a row dated T counts)
        _acc("R7", 1, "2023-12-31", "2024-12-31"),  # MRR 0 from T + 1 (after as-of: ignored)
        _acc("R8", 1, "2023-05-01", "2024-05-01"),  # never paid: not due
        _acc("R9", 1, "2020-01-01", ""),            # no renewal date: not due, in the NRR cohort
        _acc("N1", 1, "2024-05-01", "2025-05-01", segment="Enterprise"),  # new within the year
    ])
    write_csv(d / "mrr_history.csv", ["account_id", "effective_date", "mrr"], [
        ["R1", "2022-03-01", 100], ["R2", "2023-06-15", 200], ["R2", "2024-06-15", 0],
        ["R3", "2023-01-01", 300], ["R3", "2024-07-01", 450], ["R4", "2024-01-02", 500],
        ["R4", "2025-01-01", 0], ["R5", "2021-09-01", 50], ["R5", "2024-10-01", 30],
        ["R5", "2025-02-01", 0], ["R6", "2023-12-31", 80], ["R6", "2025-01-01", 0],
        ["R7", "2023-12-31", 60], ["R7", "2025-01-02", 0], ["R9", "2020-01-01", 40],
        ["N1", "2024-05-01", 1000],
    ])
    write_csv(d / "event_types.csv", ["event_type", "feature", "dimension", "value_action"],
              [["login", "login", "frequency", "false"], ["report_generated", "reports", "depth", "true"]])
    ev = [
        ["R1", "2024-10-15T09:00:00", "login", "u1", 1],
        ["R1", "2024-11-10T09:00:00", "report_generated", "u1", 1],  # day 26: activated
        ["R1", "2024-10-10T09:00:00", "login", "u2", 1],
        ["R1", "2024-11-20T09:00:00", "report_generated", "u2", 1],  # day 41: too late
        ["R2", "2024-10-03T00:00:00", "login", "u3", 1],             # first day of the cohort
        ["R2", "2024-11-01T23:59:00", "report_generated", "u3", 1],  # last minute of 30 days
        ["R5", "2024-12-02T00:00:00", "login", "u4", 1],             # judged: 30 days end at T
        ["R5", "2024-12-31T12:00:00", "report_generated", "u4", 1],
        ["R3", "2024-12-20T09:00:00", "report_generated", "u5", 1],  # in progress, activated
        ["R3", "2024-12-25T09:00:00", "login", "u6", 1],             # in progress ...
        ["R3", "2025-01-02T09:00:00", "report_generated", "u6", 1],  # ... value after T ignored
        ["R5", "2024-06-01T09:00:00", "login", "u7", 1],             # seen long before: not new
        ["R5", "2024-11-01T09:00:00", "report_generated", "u7", 1],
        ["R5", "2024-10-02T23:00:00", "login", "u8", 1],             # one hour before the cohort
        ["R6", "2025-01-05T09:00:00", "report_generated", "u9", 1],  # first seen after T
        ["R6", "2024-12-01T09:00:00", "report_generated", "", 1],    # no user id
    ]
    write_csv(d / "usage_events.csv", EVENT_COLS, ev)
    db = root / "hand" / "cs.duckdb"
    import_dir(d, db, history=0)
    return db


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> DataStore:
    return DataStore(build_hand(tmp_path_factory.mktemp("hand")))


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("portfolio") / "cs.duckdb"
    build_demo(db, accounts=300, seed=23)
    return db


def _state_of(db: Path) -> Path:
    return db.with_name(db.stem + ".state.sqlite")


def default_as_of_ds(ds: DataStore) -> dt.date:
    with ds.cursor() as con:
        return default_as_of(con)


@pytest.fixture(scope="module")
def demo_book(demo):
    with duckdb.connect(str(demo), read_only=True) as con:
        profile, cat = resolve_profile(con, StateStore(_state_of(demo)), None)
        return load_book(con, profile, cat, default_as_of(con)), cat


# ---------------------------------------------------------------- retention, by hand


def test_logo_retention_by_hand(hand):
    r = rt.retention(hand, scope=EVERYONE, as_of=T)
    assert r.period_start == dt.date(2024, 1, 1)
    # Due: R1 (2024-03-01), R2, R3 (2024-01-01: the window's first day), R5, R6, R7.
    # Not due: R3's renewal on T, R4 (first anniversary is T), R8 (never paid), R9, N1.
    assert (r.renewals_due, r.renewed) == (6, 4)  # lost: R2 (0 from its date), R6 (0 from T)
    assert r.logo_retention == pytest.approx(4 / 6)
    mine = rt.retention(hand, scope=CSM0, as_of=T)  # R1, R2, R3
    assert (mine.renewals_due, mine.renewed) == (3, 2)


def test_nrr_and_expansion_by_hand(hand):
    r = rt.retention(hand, scope=EVERYONE, as_of=T)
    # Paying on 2024-01-01: R1 100, R2 200, R3 300, R5 50, R6 80, R7 60, R9 40 (R4 starts a day
    # later, N1 in May). Now: 100, 0, 450, 30, 0 (row dated T), 60 (its 0 comes after T), 40.
    assert r.cohort_accounts == 7
    assert (r.mrr_then, r.mrr_now) == (830, 680)
    assert r.nrr == pytest.approx(680 / 830)
    assert (r.expansion_mrr, r.contraction_mrr, r.churned_mrr) == (150, 20, 280)
    assert r.mrr_then + r.expansion_mrr - r.contraction_mrr - r.churned_mrr == r.mrr_now
    mine = rt.retention(hand, scope=CSM0, as_of=T)
    assert (mine.mrr_then, mine.mrr_now, mine.expansion_mrr) == (600, 550, 150)


def test_retention_follows_filters_and_needs_mrr_history(hand, tmp_path):
    smb = rt.retention(hand, scope=EVERYONE, as_of=T, filters=pf.Filters(segment=("Enterprise",)))
    assert (smb.renewals_due, smb.cohort_accounts) == (0, 0)
    assert smb.logo_retention is None and smb.nrr is None
    d = tmp_path / "plain"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, [_acc("A1", 0, "2024-01-01", "2025-01-01")])
    write_csv(d / "usage_events.csv", EVENT_COLS, [["A1", "2024-12-01", "login", "u1", 1]])
    import_dir(d, tmp_path / "plain.duckdb", history=0)
    assert rt.retention(DataStore(tmp_path / "plain.duckdb"), scope=EVERYONE, as_of=T) is None


def test_activation_by_hand(hand):
    a = rt.activation(hand, scope=EVERYONE, as_of=T, value_types=("report_generated",))
    # Judged (first seen 2024-10-03 .. 2024-12-02): u1 yes, u2 no (day 41), u3 yes, u4 yes.
    assert (a.judged, a.activated) == (4, 3) and a.rate == pytest.approx(0.75)
    assert (a.in_progress, a.in_progress_activated) == (2, 1)  # u5 yes, u6 not before T
    mine = rt.activation(hand, scope=CSM0, as_of=T, value_types=("report_generated",))
    assert (mine.judged, mine.activated, mine.in_progress) == (3, 2, 2)
    none = rt.activation(hand, scope=EVERYONE, as_of=T, value_types=())
    assert not none.has_value_actions and none.activated == 0


def test_value_action_types_come_from_the_catalogue():
    cat = pd.DataFrame({"event_type": ["b", "a", "c"], "value_action": [True, True, None]})
    assert rt.value_action_types(cat) == ("a", "b")


# ---------------------------------------------------------------- filters and the view


def test_filters_in_sql_and_pandas_select_the_same_accounts(demo):
    ds = DataStore(demo)
    attrs = pf.account_attributes(ds, scope=EVERYONE)
    as_of = default_as_of_ds(ds)
    opts = pf.filter_options(attrs)
    cases = [pf.Filters(), pf.Filters(segment=(opts["segment"][0],)),
             pf.Filters(csm=tuple(opts["csm"][:2]), plan=(opts["plan"][-1],)),
             pf.Filters(region=(opts["region"][0],), renewal_within=90), pf.Filters(renewal_within=0),
             pf.Filters(segment=("no such segment",))]
    for f in cases:
        where, params = f.sql(as_of=as_of, alias="a")
        n = ds.rows(f"SELECT count(*) FROM accounts a WHERE {where}", params)[0][0]
        assert n == int(f.mask(attrs, as_of=as_of).sum()), f
    assert cases[0].describe() == "all accounts"
    assert pf.Filters(csm=("a", ""), renewal_within=30).describe() == \
        "CSM is a or (empty); renewal within 30 days"


def test_renewal_filter_bounds_are_inclusive():
    attrs = pd.DataFrame({"renewal_date": pd.to_datetime(["2025-01-01", "2025-01-31", "2025-02-01",
                                                           "2024-12-31", None])},
                         index=["a", "b", "c", "d", "e"])
    assert list(pf.Filters(renewal_within=30).mask(attrs, as_of=T)) == [True, True, False, False, False]


class _Flat:
    """A stand-in churn-risk model: 10 % for every account with a health score."""

    def predict(self, health):
        return np.where(np.isnan(health), np.nan, 0.1)

    def describe(self):
        return "flat"


def test_view_selects_rows_and_kpis_add_up(demo, demo_book):
    book, _ = demo_book
    ds = DataStore(demo)
    attrs = pf.account_attributes(ds, scope=EVERYONE)
    before = book.scores.copy()
    v = pf.view(book.visible(EVERYONE), attrs, pf.Filters(), as_of=book.as_of)
    k = pf.kpis(v)
    assert k.accounts == len(book.scores) and len(v.selected) == len(attrs) == 300
    assert k.arr == pytest.approx(book.scores["arr"].sum())
    assert v.risk_basis == "proxy" and v.unpredicted == k.accounts  # no model: everyone by the proxy
    health = book.scores["health_score"].fillna(50)
    assert k.arr_at_risk == pytest.approx((book.scores["arr"] * (100 - health) / 100).sum())
    assert k.bands["accounts"].sum() == k.accounts
    assert k.bands["share_accounts"].sum() == pytest.approx(1)
    assert k.bands["share_arr"].sum() == pytest.approx(1)
    risky = pf.view(book.visible(EVERYONE), attrs, pf.Filters(), as_of=book.as_of, model=_Flat())
    has = book.scores["health_score"].notna()
    assert risky.risk_basis == "expected" and risky.unpredicted == int((~has).sum())
    # the model's risk where it has one, the proxy (health unknown: 50, so half the ARR) elsewhere
    assert pf.kpis(risky).arr_at_risk == pytest.approx(0.1 * book.scores.loc[has, "arr"].sum()
                                                       + 0.5 * book.scores.loc[~has, "arr"].sum())
    from scoring import lists  # one rule with the At risk list
    np.testing.assert_allclose(risky.rows["arr_at_risk"], lists.expected_arr_at_risk(
        risky.rows["arr"], risky.rows["health_score"], risky.rows["churn_risk"]))
    seg = book.scores["segment"].iloc[0]
    f = pf.Filters(segment=(seg,))
    sv = pf.view(book.visible(EVERYONE), attrs, f, as_of=book.as_of)
    assert set(sv.rows["segment"]) == {seg} and len(sv.rows) == int((book.scores.segment == seg).sum())
    # Row selection, never re-scoring: the same numbers as in the whole book.
    pd.testing.assert_series_equal(sv.rows["health_score"], book.scores.loc[sv.rows.index, "health_score"],
                                   check_index_type=False)
    pd.testing.assert_frame_equal(book.scores, before)  # the Book is not modified
    empty = pf.view(book.visible(EVERYONE), attrs, pf.Filters(segment=("nope",)), as_of=book.as_of)
    assert pf.kpis(empty).accounts == 0 and pf.kpis(empty).bands["share_accounts"].sum() == 0


def test_breakdown_bins_and_pipeline_add_up(demo, demo_book):
    book, _ = demo_book
    attrs = pf.account_attributes(DataStore(demo), scope=EVERYONE)
    rows = pf.view(book.visible(EVERYONE), attrs, pf.Filters(), as_of=book.as_of).rows
    for by in ("csm_owner", "segment"):
        t = pf.breakdown(rows, by=by)
        assert t["accounts"].sum() == len(rows) and t["arr"].sum() == pytest.approx(rows["arr"].sum())
        shares = t[[f"share_{b}" for b in pf.BANDS]].sum(axis=1)
        assert np.allclose(shares, 1)
        one = t.index[0]
        assert t.loc[one, "mean_health"] == pytest.approx(rows.loc[rows[by] == one, "health_score"].mean())
    with pytest.raises(ValueError):
        pf.breakdown(rows, by="name")
    bins = pf.health_bins(rows)
    assert bins["accounts"].sum() == rows["health_score"].notna().sum()
    pipe = pf.renewal_pipeline(rows)
    within = rows["days_to_renewal"].between(0, 120)
    assert pipe["accounts"].sum() == within.sum()
    assert pipe["arr"].sum() == pytest.approx(rows.loc[within, "arr"].sum())


def test_bins_and_pipeline_boundaries():
    rows = pd.DataFrame({"health_score": [0.0, 4.99, 5.0, 100.0, np.nan],
                         "band": pd.Categorical(["at_risk", "at_risk", "at_risk", "healthy", "new"],
                                                categories=list(pf.BANDS)),
                         "arr": [1.0, 2.0, 3.0, 4.0, 5.0],
                         "days_to_renewal": [0, 30, 31, 120, 121]})
    bins = pf.health_bins(rows).set_index(["bin_start", "band"])["accounts"]
    assert bins[(0, "at_risk")] == 2 and bins[(5, "at_risk")] == 1 and bins[(95, "healthy")] == 1
    pipe = pf.renewal_pipeline(rows).set_index(["bucket", "band"])
    assert pipe.loc[("0-30 days", "at_risk"), "accounts"] == 2
    assert pipe.loc[("31-60 days", "at_risk"), "arr"] == 3.0
    assert pipe.loc[("91-120 days", "healthy"), "accounts"] == 1
    assert pipe["accounts"].sum() == 4  # 121 days is beyond the pipeline


# ---------------------------------------------------------------- movers


def test_split_change_adds_up_and_is_plain_without_a_profile_change():
    then = pd.Series([50.0, 60.0, 70.0], index=["a", "b", "c"])
    now_new = pd.Series([40.0, 65.0, 90.0], index=["a", "b", "d"])
    plain = mv.split_change(then, now_new)
    assert list(plain.index) == ["a", "b"]
    assert list(plain["total"]) == [-10.0, 5.0] and list(plain["customer"]) == [-10.0, 5.0]
    assert list(plain["profile"]) == [0.0, 0.0]
    now_old = pd.Series([45.0, 58.0, 99.0], index=["a", "b", "d"])
    split = mv.split_change(then, now_new, now_old)
    assert list(split["customer"]) == [-5.0, -2.0]  # S(now, old) - S(then, old)
    assert list(split["profile"]) == [-5.0, 7.0]  # S(now, new) - S(now, old)
    np.testing.assert_allclose(split["customer"] + split["profile"], split["total"])
    assert list(split["total"]) == list(plain["total"])


def test_band_matrix_counts_every_account_once():
    then = pd.Series(["watch", "healthy", "at_risk", "watch"], index=["a", "b", "c", "d"])
    now = pd.Series(pd.Categorical(["at_risk", "healthy", "new"], categories=list(pf.BANDS)),
                    index=["a", "b", "e"])
    m = mv.band_matrix(then, now)
    assert m.loc["watch", "at_risk"] == 1 and m.loc["healthy", "healthy"] == 1
    assert m.loc["at_risk", mv.LEFT_BOOK] == 1 and m.loc["watch", mv.LEFT_BOOK] == 1
    assert m.loc[mv.NOT_IN_SNAPSHOT, "new"] == 1
    assert m.to_numpy().sum() == 5


def _snap(con, as_of, version, made, rows):
    con.executemany("INSERT INTO score_snapshots VALUES (?, 'p', ?, ?, 50, ?, ?, 1, 100, false, ?)",
                    [(as_of, version, aid, health, band, made) for aid, health, band in rows])


def test_history_takes_the_snapshot_made_first_and_marks_version_changes(tmp_path):
    db = build_hand(tmp_path)
    d1, d2, d3 = dt.date(2024, 12, 1), dt.date(2024, 12, 8), dt.date(2024, 12, 15)
    early, late = dt.datetime(2024, 12, 20), dt.datetime(2024, 12, 30)
    with duckdb.connect(str(db)) as con:
        _snap(con, d1, 1, early, [("R1", 30, "at_risk"), ("R5", 80, "healthy")])
        _snap(con, d2, 1, early, [("R1", 35, "at_risk"), ("R5", 75, "healthy")])
        _snap(con, d2, 2, late, [("R1", 55, "watch"), ("R5", 90, "healthy")])  # backfilled later
        _snap(con, d3, 2, late, [("R1", 60, "watch"), ("R5", 20, "at_risk")])
        _snap(con, dt.date(2025, 2, 1), 2, late, [("R1", 1, "at_risk")])  # after as-of: ignored
    ds = DataStore(db)
    mix = mv.band_mix(mv.band_history(ds, scope=EVERYONE, profile_name="p", as_of=T))
    assert sorted(mix["as_of"].dt.date.unique()) == [d1, d2, d3]
    assert list(mix.drop_duplicates("as_of")["profile_version"]) == [1, 1, 2]
    assert mix.groupby("as_of")["share"].sum().tolist() == pytest.approx([1, 1, 1])
    on_d2 = mix[mix["as_of"].dt.date == d2].set_index("band")["accounts"]
    assert on_d2["at_risk"] == 1 and on_d2["watch"] == 0  # version 1's, made first
    changes = mv.version_changes(mix)
    assert len(changes) == 1 and changes.loc[0, "as_of"].date() == d3
    assert (changes.loc[0, "from_version"], changes.loc[0, "to_version"]) == (1, 2)
    prev = mv.previous_snapshot(ds, scope=EVERYONE, profile_name="p", before=d3)
    assert (prev.as_of, prev.version, prev.ref) == (d2, 1, "p@1")
    assert prev.rows.loc["R1", "health_score"] == 35
    mine = mv.previous_snapshot(ds, scope=CSM0, profile_name="p", before=d3)
    assert list(mine.rows.index) == ["R1"]  # R5 belongs to csm1
    mine_mix = mv.band_history(ds, scope=CSM0, profile_name="p", as_of=T)
    assert mine_mix["accounts"].sum() == 3  # R1 on three dates
    filtered = mv.band_history(ds, scope=EVERYONE, profile_name="p", as_of=T,
                               filters=pf.Filters(csm=("csm1@example.com",)))
    assert filtered["accounts"].sum() == 3  # R5 on three dates
    assert mv.previous_snapshot(ds, scope=EVERYONE, profile_name="p", before=d1) is None
    assert mv.band_mix(mv.band_history(ds, scope=EVERYONE, profile_name="other", as_of=T)).empty
    # The page's path: rows per account once, then a filter's mask; the same mix as the SQL's.
    for scope, filters in ((EVERYONE, pf.Filters()), (CSM0, pf.Filters()),
                           (EVERYONE, pf.Filters(csm=("csm1@example.com",)))):
        attrs = pf.account_attributes(ds, scope=scope)
        h = mv.band_history_by_account(ds, scope=scope, profile_name="p", as_of=T)
        keep = filters.mask(attrs, as_of=T)
        assert_same_mix(mv.band_mix_of(h, keep),
                        mv.band_history(ds, scope=scope, profile_name="p", as_of=T, filters=filters))
    none = mv.band_history_by_account(ds, scope=EVERYONE, profile_name="other", as_of=T)
    assert mv.band_mix_of(none).empty


def assert_same_mix(mine: pd.DataFrame, sql: pd.DataFrame) -> None:
    """``band_mix_of``'s mix (``mine``) is the band mix of the SQL history (ARR sums to rounding:
    another summing order)."""
    a, b = mine, mv.band_mix(sql)
    pd.testing.assert_frame_equal(a.drop(columns="arr"), b.drop(columns="arr"))
    np.testing.assert_allclose(a["arr"].to_numpy(float), b["arr"].to_numpy(float), rtol=1e-9)


def test_movers_table_on_the_demo(demo, demo_book):
    book, _ = demo_book
    ds = DataStore(demo)
    attrs = pf.account_attributes(ds, scope=EVERYONE)
    v = pf.view(book.visible(EVERYONE), attrs, pf.Filters(), as_of=book.as_of)
    snap = mv.previous_snapshot(ds, scope=EVERYONE, profile_name=book.profile.name, before=book.as_of)
    assert snap is not None and snap.as_of < book.as_of and snap.version == book.profile.version
    moved = mv.movers(v.rows, snap)
    common = v.rows.index.intersection(snap.rows.index)
    assert len(moved) == len(common)
    np.testing.assert_allclose(moved["change"], moved["health_now"] - moved["health_then"])
    assert (moved["profile_change"] == 0).all()
    drops = mv.biggest_drops(v.rows, snap, limit=5)
    assert len(drops) == 5 and (drops["change"] < 0).all()
    assert list(drops["change"]) == sorted(drops["change"])
    # the drops are movers' first rows that fell, built for those rows only (with a profile
    # change's split too, and at a limit that cuts through tied changes)
    now_old = (v.rows["health_score"] * 0.5).round(-1)  # a stand-in old profile's scores, many ties
    for limit in (1, 5, 37):
        for old in (None, now_old):
            full = mv.movers(v.rows, snap, now_old=old)
            fell = full[np.isfinite(full["change"].to_numpy(float)) & (full["change"] < 0)].head(limit)
            pd.testing.assert_frame_equal(mv.biggest_drops(v.rows, snap, now_old=old, limit=limit), fell)
    def tens(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.assign(health_score=np.floor(rows["health_score"] / 10) * 10)

    tied, tied_snap = tens(v.rows), dataclasses.replace(snap, rows=tens(snap.rows))  # changes tie
    full = mv.movers(tied, tied_snap)
    fell = full[full["change"] < 0].head(7)
    assert fell["change"].nunique() < 7  # the cut falls among tied changes: ARR decides
    pd.testing.assert_frame_equal(mv.biggest_drops(tied, tied_snap, limit=7), fell)
    m = mv.band_matrix(snap.rows["band"], v.rows["band"])
    assert m.to_numpy().sum() == len(v.rows.index.union(snap.rows.index))
    # The page's path, by positions among the attributes' rows, gives the same, filtered or not.
    pos = pf.account_positions(attrs, book.visible(EVERYONE))
    assert not pos.flags.writeable and (attrs.index[pos] == book.visible(EVERYONE).index).all()
    segment = attrs["segment"].mode().iloc[0]
    for filters in (pf.Filters(), pf.Filters(segment=(segment,)), pf.Filters(segment=(segment,), renewal_within=120)):
        by_id = pf.view(book.visible(EVERYONE), attrs, filters, as_of=book.as_of)  # positions computed
        by_pos = pf.view(book.visible(EVERYONE), attrs, filters, as_of=book.as_of, positions=pos)
        pd.testing.assert_frame_equal(by_pos.rows, by_id.rows)
        # against the selection made by account id: the book's rows whose attributes pass
        rows = book.visible(EVERYONE)
        passing = rows.index.isin(attrs.index[filters.mask(attrs, as_of=book.as_of)])
        assert list(by_pos.rows.index) == list(rows.index[passing]) and len(by_pos.rows) > 0
        np.testing.assert_array_equal(by_pos.rows["health_score"], rows.loc[passing, "health_score"])
        pd.testing.assert_series_equal(by_pos.rows["renewal_date"],
                                       attrs["renewal_date"].reindex(by_pos.rows.index), check_names=False)
        assert (attrs.index[by_pos.pos] == by_pos.rows.index).all()
        s_id, s_pos = mv.in_view(snap, by_id.selected), mv.in_view(snap, by_pos.selected, by_pos.keep)
        pd.testing.assert_frame_equal(s_pos.rows, s_id.rows)
        assert 0 < len(s_pos.rows) and (attrs.index[s_pos.pos] == s_pos.rows.index).all()
        pd.testing.assert_frame_equal(
            mv.band_matrix(s_pos.rows["band"], by_pos.rows["band"], then_pos=s_pos.pos, now_pos=by_pos.pos),
            mv.band_matrix(s_id.rows["band"], by_id.rows["band"]))
        pd.testing.assert_frame_equal(mv.movers(by_pos.rows, s_pos, now_pos=by_pos.pos),
                                      mv.movers(by_id.rows, s_id))
        pd.testing.assert_frame_equal(mv.biggest_drops(by_pos.rows, s_pos, now_pos=by_pos.pos),
                                      mv.biggest_drops(by_id.rows, s_id))
    with pytest.raises(ValueError, match="positions has"):
        pf.view(book.visible(EVERYONE), attrs, pf.Filters(), as_of=book.as_of, positions=pos[:-1])


# ---------------------------------------------------------------- scope everywhere


def test_a_csm_scope_sees_only_their_accounts_everywhere(demo, demo_book):
    book, cat = demo_book
    ds = DataStore(demo)
    owner = book.scores["csm_owner"].mode().iloc[0]
    mine = Scope.for_owners({owner})
    attrs = pf.account_attributes(ds, scope=mine)
    assert set(attrs["csm_owner"]) == {owner}
    v = pf.view(book.visible(mine), attrs, pf.Filters(), as_of=book.as_of)
    assert set(v.rows["csm_owner"]) == {owner}
    assert list(pf.breakdown(v.rows, by="csm_owner").index) == [owner]
    owned = set(attrs.index)
    snap = mv.previous_snapshot(ds, scope=mine, profile_name=book.profile.name, before=book.as_of)
    assert set(snap.rows.index) <= owned
    hist = mv.band_history(ds, scope=mine, profile_name=book.profile.name, as_of=book.as_of)
    assert hist.groupby("as_of")["accounts"].sum().max() <= len(owned)
    # The scope equals the same selection made by the CSM filter, in every query.
    same = pf.Filters(csm=(owner,))
    vt = rt.value_action_types(cat)
    assert rt.retention(ds, scope=mine, as_of=book.as_of) == \
        rt.retention(ds, scope=EVERYONE, as_of=book.as_of, filters=same)
    assert rt.activation(ds, scope=mine, as_of=book.as_of, value_types=vt) == \
        rt.activation(ds, scope=EVERYONE, as_of=book.as_of, value_types=vt, filters=same)
    pd.testing.assert_frame_equal(
        hist, mv.band_history(ds, scope=EVERYONE, profile_name=book.profile.name, as_of=book.as_of,
                              filters=same))
    # The page's path: per-account rows once, the filter's mask over the attributes' rows.
    v_same = pf.view(book.visible(EVERYONE), pf.account_attributes(ds, scope=EVERYONE), same, as_of=book.as_of)
    assert 0 < v_same.keep.sum() < len(v_same.keep)
    by_account = mv.band_history_by_account(ds, scope=EVERYONE, profile_name=book.profile.name, as_of=book.as_of)
    assert_same_mix(mv.band_mix_of(by_account, v_same.keep), hist)
    renewing = pf.Filters(segment=(attrs["segment"].mode().iloc[0],), renewal_within=90)
    assert_same_mix(mv.band_mix_of(by_account, renewing.mask(pf.account_attributes(ds, scope=EVERYONE),
                                                                 as_of=book.as_of)),
                    mv.band_history(ds, scope=EVERYONE, profile_name=book.profile.name, as_of=book.as_of,
                                    filters=renewing))
    assert rt.retention_of(rt.retention_by_account(ds, scope=EVERYONE, as_of=book.as_of), book.as_of,
                           v_same.keep) == rt.retention(ds, scope=mine, as_of=book.as_of)
    assert rt.activation_of(rt.activation_by_account(ds, scope=EVERYONE, as_of=book.as_of, value_types=vt), vt,
                            v_same.keep) == rt.activation(ds, scope=mine, as_of=book.as_of, value_types=vt)
    everyone = rt.retention(ds, scope=EVERYONE, as_of=book.as_of)
    assert rt.retention(ds, scope=mine, as_of=book.as_of).renewals_due < everyone.renewals_due


# ---------------------------------------------------------------- safe text


def test_links_and_chart_labels_keep_untrusted_text_inert():
    names = pd.Series(['=HYPERLINK("http://x")', "<b>A & B</b>", None], index=["ACC 1", "a/b#c", "Z"])
    links = charts.account_links(names.index, names)
    assert links.iloc[0] == "Account?account=ACC%201#%3DHYPERLINK%28%22http%3A%2F%2Fx%22%29"
    assert links.iloc[1] == "Account?account=a%2Fb%23c#%3Cb%3EA%20%26%20B%3C%2Fb%3E"
    assert links.iloc[2] == "Account?account=Z#Z"  # no name: the id
    assert charts.safe_label("<a href='x'>y</a> & z") == "&lt;a href='x'&gt;y&lt;/a&gt; &amp; z"
    table = pd.DataFrame({"name": names, "arr": [1, 2, 3]})
    linked = charts.linked_accounts(table)
    assert linked.column_names == ["account", "arr"] and linked["account"].to_pylist() == links.tolist()


# ---------------------------------------------------------------- the page


def _use(monkeypatch, db: Path) -> None:
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(_state_of(db)))


SECTIONS = pf.SECTIONS  # the Portfolio's tabs, in order


def _run(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page_renders_the_demo_and_filters_through_the_url(demo, demo_book, monkeypatch):
    _use(monkeypatch, demo)
    book, _ = demo_book
    at = _run()
    m = _metrics(at)
    assert m["Accounts"] == "300" and m[f"Active on {book.as_of:%Y-%m-%d}"] == f"{len(book.scores):,}"
    assert "ARR" in m and ("Expected ARR at risk" in m or "ARR of at-risk accounts" in m)
    assert {"At risk", "Watch", "Healthy", "New"} <= set(m)
    for label in ("Logo retention, 12 months", "Net revenue retention", "Expansion MRR, 12 months",
                  "Activation rate"):
        assert m[label].endswith("%") or label.startswith("Expansion"), (label, m[label])
    # the sections are tabs that run only when open: the first one's two charts, nothing else
    assert list(chart_figures(at)) == ["chart_health", "chart_arr"]
    assert not at.dataframe and not at.radio
    assert [t.label for t in at.tabs] == list(SECTIONS)
    for view, charts_shown in ((SECTIONS[1], ["chart_mix"]), (SECTIONS[2], ["chart_pipeline"]),
                               (SECTIONS[3], ["chart_history"]), (SECTIONS[4], [])):
        opened = _run(view=view)
        assert list(chart_figures(opened)) == charts_shown, view
        assert _metrics(opened) == m, "the figures above the sections do not depend on the open one"
    breakdown = _run(view=SECTIONS[1])
    assert breakdown.radio[0].value == "CSM" and len(breakdown.dataframe) == 1
    drops = _run(view=SECTIONS[4]).dataframe[-1].value
    assert drops["account"].str.startswith("Account?account=").all()
    seg = book.scores["segment"].value_counts().index[-1]
    filtered = _metrics(_run(segment=seg))
    assert filtered["Accounts"] != m["Accounts"]
    assert filtered[f"Active on {book.as_of:%Y-%m-%d}"] == f"{int((book.scores.segment == seg).sum()):,}"
    assert any(seg in c.value for c in _run(segment=seg).caption)


def test_page_says_when_a_filter_selects_nothing(demo, demo_book, monkeypatch):
    _use(monkeypatch, demo)
    book, _ = demo_book
    s = book.scores
    csm = s["csm_owner"].iloc[0]
    other = sorted(set(s["segment"]) - set(s.loc[s.csm_owner == csm, "segment"]))
    plan = sorted(set(s["plan"]) - set(s.loc[s.csm_owner == csm, "plan"]))
    params = {"csm": csm, **({"segment": other[0]} if other else {"plan": plan[0]})}
    at = _run(**params)
    assert _metrics(at)[f"Active on {book.as_of:%Y-%m-%d}"] == "0"
    assert any("No active account matches these filters" in i.value for i in at.info)


def test_page_splits_movers_when_the_profile_changed(demo, tmp_path, monkeypatch):
    from scoring import profiles

    db = tmp_path / "cs.duckdb"
    shutil.copyfile(demo, db)
    shutil.copyfile(_state_of(demo), _state_of(db))
    state = StateStore(_state_of(db))
    old = profiles.published(state)
    weights = {s.name: (s.weight * 3 if i == 0 else s.weight) for i, s in enumerate(old.signals)}
    new = dataclasses.replace(old, version=None, signals=tuple(
        dataclasses.replace(s, weight=weights[s.name]) for s in old.signals))
    version = profiles.save(state, new, author="t", note="heavier first signal")
    profiles.publish(state, old.name, version, author="t")
    _use(monkeypatch, db)
    at = _run(view=SECTIONS[4])
    assert any("customer movement" in c.value for c in at.caption)
    drops = at.dataframe[-1].value
    assert len(drops)
    np.testing.assert_allclose(drops["customer_change"] + drops["profile_change"], drops["change"])
    assert (drops["profile_change"] != 0).any()


def test_page_without_mrr_history_or_snapshots(tmp_path, monkeypatch):
    d = tmp_path / "in"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, [_acc("A1", 0, "2024-01-01", "2025-01-10"),
                                                 _acc("A2", 1, "2024-01-01", "2025-06-01")])
    write_csv(d / "usage_events.csv", EVENT_COLS, [["A1", "2024-12-01", "login", "u1", 1],
                                                   ["A2", "2024-12-02", "login", "u2", 1]])
    db = tmp_path / "store" / "cs.duckdb"
    import_dir(d, db, history=0)
    _use(monkeypatch, db)
    at = _run()
    m = _metrics(at)
    assert m["Logo retention, 12 months"] == "needs mrr_history"
    assert m["Net revenue retention"] == "needs mrr_history"
    assert m["Expansion MRR, 12 months"] == "needs mrr_history"
    with DataStore(db).cursor() as con:  # no churn-risk model: every account by the health proxy
        profile, cat = resolve_profile(con, StateStore(_state_of(db)), None)
        book = load_book(con, profile, cat, default_as_of(con))
    health = book.scores["health_score"].fillna(50)
    assert m["Expected ARR at risk"] == f"{(book.scores['arr'] * (100 - health) / 100).sum():,.0f}"
    assert "No churn-risk model" in next(x.help for x in at.metric if x.label == "Expected ARR at risk")
    assert "No score snapshots" in " ".join(i.value for i in _run(view=SECTIONS[3]).info)
    assert "nothing to compare with" in " ".join(i.value for i in _run(view=SECTIONS[4]).info)
    assert _metrics(_run(renewal_within="45"))["Active on 2024-12-03"] == "1"  # A1 renews 2025-01-10


def test_charts_build_from_the_views(demo, demo_book):
    book, _ = demo_book
    attrs = pf.account_attributes(DataStore(demo), scope=EVERYONE)
    v = pf.view(book.visible(EVERYONE), attrs, pf.Filters(), as_of=book.as_of)
    table = pf.breakdown(v.rows, by="segment")
    mix = pd.DataFrame({"as_of": pd.to_datetime(["2024-12-01"] * 2 + ["2024-12-08"] * 2),
                        "profile_version": [1, 1, 2, 2], "band": ["watch", "healthy", "watch", "new"],
                        "accounts": [1, 2, 3, 4], "arr": [1.0, 2.0, 3.0, 4.0]})
    mix = mv.band_mix(mix)
    figs = [charts.health_histogram(pf.health_bins(v.rows)), charts.arr_by_band(pf.kpis(v).bands),
            charts.band_mix_bars(table, by_label="Segment"),
            charts.renewal_pipeline(pf.renewal_pipeline(v.rows)),
            charts.band_history(mix, mv.version_changes(mix))]
    for fig in figs:
        assert fig.to_json()
        go.Figure(fig.to_dict())  # the builders skip plotly's checks (charts.figure): plotly's own validation passes
    assert len(figs[0].data) == len(pf.BANDS)
    assert figs[-1].layout.annotations[0].text == "profile v1 → v2"
    evil = pd.DataFrame({f"share_{b}": [0.25] for b in pf.BANDS}, index=["<a href='x'>s</a>"])
    assert charts.band_mix_bars(evil, by_label="Segment").data[0].y[0] == "&lt;a href='x'&gt;s&lt;/a&gt;"
