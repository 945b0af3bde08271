"""Outreach lists (``scoring.lists``, ``scoring.list_data``, ``scoring.plays``) and the two pages
that show them.

Formulas and rules are checked by hand on small frames; the lists as a whole on a seeded demo
store built once per test session (``outreach_demo``: 300 accounts, a published profile with
wider bands so both lists have rows, and its weekly score history), copied per test that writes
state. The pages run through Streamlit's ``AppTest`` against such a copy. Nothing reads
``data/cs.duckdb``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from scoring import feedback, list_data, list_history, lists, plays
from scoring.feedback import Dismissal, Feedback
from scoring.scope import Scope
from scoring.state import StateStore

TODAY = feedback.today_utc()
PAGES = ("pages/1_At_risk.py", "pages/2_Expansion.py")


# ---------------------------------------------------------------- the shared demo store


def outreach_demo(tmp_path_factory) -> Path:
    """Build (once per session) a 300-account demo whose published profile "outreach" has bands
    58/66 and easy expansion rules, so both lists are well filled; returns its data file."""
    db = tmp_path_factory.getbasetemp() / "outreach-demo" / "cs.duckdb"
    if not db.exists():
        from scoring.demo import build_demo
        from scoring.profile import Bands, Expansion, demo_profile
        from scoring.profiles import publish, save

        db.parent.mkdir(parents=True, exist_ok=True)
        state = StateStore(db.with_name("cs.state.sqlite"))
        profile = dataclasses.replace(demo_profile(), name="outreach", bands=Bands(58.0, 66.0),
                                      expansion=Expansion(0.3, 0.0))
        save(state, profile, author="test", note="wide bands for list tests")
        publish(state, "outreach", author="test")
        build_demo(db, accounts=300, seed=11)  # the import backfills history with "outreach"
    return db


def copy_store(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest / "cs.duckdb")
    shutil.copyfile(src.with_name("cs.state.sqlite"), dest / "cs.state.sqlite")
    return dest / "cs.duckdb"


def load(db: Path):
    """(data store, state, book, catalogue) as the command loads them."""
    from scoring.current import load_book
    from scoring.engine import default_as_of
    from scoring.history import resolve_profile
    from scoring.store import DataStore

    ds = DataStore(db)
    state = StateStore(db.with_name("cs.state.sqlite"))
    with ds.cursor() as con:
        profile, cat = resolve_profile(con, state, None)
        book = load_book(con, profile, cat, default_as_of(con))
    return ds, state, book, cat


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = outreach_demo(tmp_path_factory)
    ds, state, book, cat = load(db)
    data = list_data.read_list_data(ds, scope=Scope.everyone(), profile=book.profile, as_of=book.as_of,
                                    catalogue=cat)
    yield {"db": db, "ds": ds, "book": book, "data": data, "cat": cat}
    ds.close()


def build(demo, fb: Feedback | None = None, scope: Scope | None = None, data=None, **kw):
    return lists.build_list(demo["book"], data or demo["data"], fb or Feedback.empty(TODAY),
                            lists.ListSettings(**kw), scope=scope or Scope.everyone())


def with_flags(rows: list[tuple], today: dt.date = TODAY) -> Feedback:
    flags = pd.DataFrame(rows, columns=["account_id", "flag", "reason", "expires", "author", "at"])
    return dataclasses.replace(Feedback.empty(today), flags=flags.set_index("account_id"))


# ---------------------------------------------------------------- formulas by hand


def test_renewal_proximity_and_priority_by_hand():
    days = np.array([-5.0, 0.0, 60.0, 120.0, 200.0, np.nan])
    assert lists.renewal_proximity(days).tolist() == [2.0, 2.0, 1.5, 1.0, 1.0, 1.0]
    arr = np.array([100_000.0, 100_000.0, 50_000.0])
    health = np.array([30.0, 30.0, np.nan])
    risk = np.array([0.2, np.nan, np.nan])
    # with a model: arr x risk; without: arr x (100 - health) / 100; unknown health counts as 50
    assert lists.expected_arr_at_risk(arr, health, risk).tolist() == [20_000.0, 70_000.0, 25_000.0]
    got = lists.priority(arr, health, risk, np.array([60.0, -3.0, np.nan]))
    assert got.tolist() == [30_000.0, 140_000.0, 25_000.0]
    opp = lists.opportunity(np.array([10_000.0, 10_000.0]), np.array([0.95, np.nan]), np.array([0.5, 0.2]))
    assert opp.tolist() == [pytest.approx(14_250.0), 0.0]


def _snaps(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["as_of", "account_id", "health_score", "band"])


@pytest.mark.parametrize("ids_dtype, snaps_dtype", [("str", "str"), (object, "str"), ("str", object),
                                                     (object, object)])
def test_stayed_in_band_on_hand_made_snapshots(ids_dtype, snaps_dtype):
    # Arrow-backed text (the store's) and Python objects alike, on either side of the lookup
    t = dt.date(2026, 10, 1)
    d = lambda n: t - dt.timedelta(days=n)  # noqa: E731
    snaps = _snaps([
        (d(21), "A", 30, "at_risk"), (d(14), "A", 31, "at_risk"), (d(7), "A", 32, "at_risk"),
        (d(14), "B", 45, "watch"), (d(7), "B", 35, "at_risk"),  # entered a week ago
        (d(7), "C", 35, "at_risk"),  # no snapshot on the anchor date
        (d(14), "D", 30, "at_risk"), (d(7), "D", 41, "watch"),  # left and came back
    ])
    snaps["account_id"] = snaps["account_id"].astype(snaps_dtype)
    ids = pd.Index(["A", "B", "C", "D"], dtype=ids_dtype)
    ok, note = list_history.stayed_in_band(ids, snaps, "at_risk", t, 14)
    assert note is None and ok.to_dict() == {"A": True, "B": False, "C": False, "D": False}
    ok, _ = list_history.stayed_in_band(ids, snaps, "at_risk", t, 7)  # anchor d(7): B, C, A qualify
    assert ok.to_dict() == {"A": True, "B": True, "C": True, "D": False}
    ok, note = list_history.stayed_in_band(ids, snaps, "at_risk", t, 0)  # 0 turns the rule off
    assert ok.all() and note is None
    ok, note = list_history.stayed_in_band(ids, snaps, "at_risk", t, 60)  # no history that far back
    assert ok.all() and "rule is off" in note


def test_change_over_30_days_uses_the_nearest_snapshot():
    t = dt.date(2026, 10, 1)
    d = lambda n: t - dt.timedelta(days=n)  # noqa: E731
    snaps = _snaps([(d(35), "A", 80, "healthy"), (d(28), "A", 70, "healthy"),  # 28 is nearer to 30
                    (d(29), "B", 60, "watch"), (d(31), "B", 50, "watch"),  # a tie: 31 and 29 are 1 off
                    (d(45), "C", 60, "watch")])  # too far from 30 days ago
    now = pd.Series({"A": 65.0, "B": 55.0, "C": 40.0, "D": 10.0})
    got = list_history.change_over_30_days(now, snaps, t)
    assert got["A"] == -5.0 and got["B"] == 5.0 and math.isnan(got["C"]) and math.isnan(got["D"])


def test_play_rules_first_match_wins():
    base = {"band": "at_risk", "flag": None, "days_to_renewal": 200.0, "usage_growth": 0.0,
            "change_30d": 0.0, "tickets_open": 0, "tickets_open_weighted": 0.0, "days_overdue_max": 0.0,
            "seat_utilisation": 0.5}
    play = lambda **kw: plays.suggest_play({**base, **kw})  # noqa: E731
    assert play() == "Health check-in call: walk through the top reasons"
    assert play(band="healthy").startswith("Growth check-in")
    assert play(days_to_renewal=45.0, usage_growth=-0.4) == "Renewal in 45 days, usage down 40%: executive check-in"
    assert play(days_to_renewal=-3.0, usage_growth=-0.4).startswith("Renewal due now, usage down 40%")
    assert play(seat_utilisation=0.96, usage_growth=0.2, band="healthy") == \
        "Seats 96% used and usage up 20%: expansion conversation"
    assert play(days_overdue_max=45.0, days_to_renewal=10.0, usage_growth=-0.5).startswith("Invoice 45 days overdue")
    assert play(flag="at_risk", band="healthy", days_overdue_max=45.0).startswith("CSM flag at_risk but the score says healthy")
    assert play(change_30d=-20.0).startswith("Health down 20 points")
    assert play(tickets_open=2, tickets_open_weighted=6.0).startswith("Support load 6")
    assert play(days_to_renewal=80.0).startswith("Renewal in 80 days: renewal review")
    assert play(usage_growth=-0.3) == "Usage down 30%: re-engagement session on what they use less"
    assert len(plays.PLAY_RULES) == 8


def test_account_url_names_the_page_and_carries_the_name():
    assert lists.account_url("ACC 1/2", "Ünïcode, \"Co\" & =x") == \
        "/Account?account=ACC%201%2F2#%C3%9Cn%C3%AFcode%2C%20%22Co%22%20%26%20%3Dx"
    assert lists.account_url("A1", None).endswith("#A1")


def test_settings_are_checked_and_described():
    with pytest.raises(ValueError):
        lists.ListSettings("churn")
    with pytest.raises(ValueError):
        lists.ListSettings("at-risk", limit=0)
    text = lists.ListSettings("at-risk", owner="x@y", limit=5).describe()
    assert "owner: x@y" in text and "top 5" in text and "14+ days" in text and "flagged at_risk" in text
    assert "contacted or exported" not in lists.ListSettings("expansion", include_recent=True).describe()


# ---------------------------------------------------------------- lists on the demo store


def test_at_risk_list_membership_order_and_columns(demo):
    ol = build(demo, kind="at-risk", min_days_in_band=0)
    rows, scores = ol.rows, demo["book"].scores
    assert list(rows.columns) == lists.columns("at-risk")
    assert len(rows) == int((scores.band == "at_risk").sum()) > 20
    assert set(rows.band) == {"at_risk"}
    assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    assert rows.priority.is_monotonic_decreasing
    # the formula, by hand, on the first row
    r = rows.iloc[0]
    risk = r.churn_risk if not math.isnan(r.churn_risk) else (100 - r.health_score) / 100
    assert r.priority == pytest.approx(r.arr * risk * (1 + max(0, 120 - max(r.days_to_renewal, 0)) / 120))
    assert not rows.churn_risk.isna().any(), "the demo's history fits a churn-risk model"
    assert (rows.reasons.str.len() > 0).mean() > 0.9
    assert rows.contact_email.str.contains("@").all()
    assert rows.renewal_date.map(lambda d: isinstance(d, dt.date)).all()


def test_expansion_list_ranks_by_opportunity(demo):
    ol = build(demo, kind="expansion", min_days_in_band=0)
    rows, scores = ol.rows, demo["book"].scores
    assert list(rows.columns) == lists.columns("expansion")
    assert set(rows.account_id) == set(scores.index[scores.expansion_ready])
    assert rows.opportunity.is_monotonic_decreasing
    r = rows.iloc[0]
    assert r.opportunity == pytest.approx(r.arr * r.seat_utilisation * (1 + r.usage_growth))
    inputs = demo["book"].inputs.loc[r.account_id]
    assert r.seat_utilisation == pytest.approx(inputs.active_users / inputs.seats)
    assert r.breadth > 0 and any(n.startswith("breadth: features used") for n in ol.notes)


def test_capacity_owner_and_scope(demo):
    full = build(demo, kind="at-risk", min_days_in_band=0)
    top = build(demo, kind="at-risk", min_days_in_band=0, limit=5)
    assert top.rows.account_id.tolist() == full.rows.account_id.head(5).tolist()
    assert top.held_back["over capacity"] == len(full.rows) - 5
    owner = full.rows.csm_owner.mode().iloc[0]
    mine = build(demo, kind="at-risk", min_days_in_band=0, owner=owner)
    assert set(mine.rows.csm_owner) == {owner}
    assert mine.rows.account_id.tolist() == full.rows[full.rows.csm_owner == owner].account_id.tolist()
    scope = Scope.for_owners({owner})
    scoped_data = list_data.read_list_data(demo["ds"], scope=scope, profile=demo["book"].profile,
                                           as_of=demo["book"].as_of, catalogue=demo["cat"])
    owned = {r[0] for r in demo["ds"].rows("SELECT account_id FROM accounts WHERE csm_owner = ?", [owner])}
    assert set(scoped_data.renewals.index) == owned
    assert set(scoped_data.snapshots.account_id) <= owned and set(scoped_data.contacts.index) <= owned
    assert scoped_data.contacts.index.isin(mine.rows.account_id).sum() == len(mine.rows)
    seen = build(demo, kind="at-risk", min_days_in_band=0, scope=scope, data=scoped_data)
    pd.testing.assert_frame_equal(seen.rows, mine.rows)
    assert lists.owners(demo["book"], scope) == [owner]


def test_what_a_list_keeps_with_its_data_never_changes_a_list(demo):
    """build_list keeps each account's health 30 days back and the N-day rule's keepers with the
    shared ListData (``memo``); lists built in any order on the same data equal lists built on a
    fresh copy that has kept nothing."""
    settings = [dict(kind=k, min_days_in_band=d, **({"min_drop": 5.0} if k == "at-risk" else {}))
                for k in ("at-risk", "expansion") for d in (14, 0, 7, 60, 14)]
    for kw in settings:
        kept = build(demo, **kw)
        fresh = build(demo, data=dataclasses.replace(demo["data"]), **kw)
        pd.testing.assert_frame_equal(kept.rows, fresh.rows)
        assert (kept.notes, kept.held_back) == (fresh.notes, fresh.held_back)
    memo = demo["data"].__dict__["_memo"]
    assert {k[0] for k in memo} == {"health_30_days_before", "band_keepers"}
    assert {(k[1], k[3]) for k in memo if k[0] == "band_keepers"} >= {
        (band, d) for band in ("at_risk", "healthy") for d in (14, 0, 7, 60)}
    kept = dict(memo)
    for kw in settings:  # asked again: the same objects, nothing computed twice
        build(demo, **kw)
    assert memo.keys() == kept.keys() and all(memo[k] is kept[k] for k in kept)
    assert dataclasses.replace(demo["data"]) == demo["data"]  # what is kept is not part of equality


def test_alert_fatigue_holds_back_accounts_new_to_the_band(demo):
    now = build(demo, kind="at-risk", min_days_in_band=0)
    calm = build(demo, kind="at-risk", min_days_in_band=14)
    assert set(calm.rows.account_id) < set(now.rows.account_id)
    held = set(now.rows.account_id) - set(calm.rows.account_id)
    assert calm.held_back["not yet long enough in the band"] == len(held)
    snaps = demo["data"].snapshots
    for a in held:  # each one was outside the band in a recent snapshot and did not fall 10 points
        recent = snaps[(snaps.account_id == a) & (pd.to_datetime(snaps.as_of) >= pd.Timestamp(demo["book"].as_of - dt.timedelta(days=14)))]
        assert (recent.band != "at_risk").any() or recent.empty
        assert not (now.rows.set_index("account_id").loc[a, "change_30d"] <= -10)
    fell = build(demo, kind="at-risk", min_days_in_band=14, min_drop=0.0)  # any fall enters
    assert len(fell.rows) >= len(calm.rows)


def test_feedback_takes_accounts_off_and_brings_them_back(demo):
    rows = build(demo, kind="at-risk", min_days_in_band=0).rows
    a, b, c, d = rows.account_id.iloc[:4]
    health = float(rows.health_score.iloc[0])
    fb = dataclasses.replace(
        Feedback.empty(TODAY),
        snoozed={a: feedback.Snooze(TODAY + dt.timedelta(days=3), "holiday", "me")},
        dismissed={b: Dismissal(dt.datetime(2026, 1, 1), "known", "at_risk"),
                   c: Dismissal(dt.datetime(2026, 1, 1), "known", "healthy")},  # band worse since: back
        last_touched={d: TODAY - dt.timedelta(days=2)})
    ol = build(demo, fb=fb, kind="at-risk", min_days_in_band=0)
    assert a not in ol.ids and b not in ol.ids and d not in ol.ids and c in ol.ids
    assert ol.held_back["snoozed"] == 1 and ol.held_back["dismissed"] == 1
    assert ol.held_back["contacted or exported recently"] == 1
    assert d in build(demo, fb=fb, kind="at-risk", min_days_in_band=0, include_recent=True).ids
    assert d in build(demo, fb=fb, kind="at-risk", min_days_in_band=0, recent_days=1).ids
    # a dismissal ends early when health falls DISMISS_DROP points below its value then
    fell = dataclasses.replace(fb, dismissed={a: Dismissal(dt.datetime(2026, 1, 1), "x", "at_risk")},
                               dismissed_health={a: health + feedback.DISMISS_DROP}, snoozed={})
    assert a in build(demo, fb=fell, kind="at-risk", min_days_in_band=0).ids


def test_flags_are_shown_beside_the_band_and_bring_accounts_in(demo):
    scores = demo["book"].scores
    healthy = scores.index[scores.band == "healthy"][0]
    at_risk = build(demo, kind="at-risk", min_days_in_band=0).rows.account_id.iloc[0]
    fb = with_flags([(healthy, "at_risk", "champion left <b>today</b>", None, "me", pd.Timestamp("2026-11-01")),
                     (at_risk, "healthy", "fine, really", TODAY + dt.timedelta(days=5), "me", pd.Timestamp("2026-11-01"))])
    ol = build(demo, fb=fb, kind="at-risk")  # flagged accounts skip the alert-fatigue rule
    rows = ol.rows.set_index("account_id")
    assert rows.loc[healthy, "band"] == "healthy" and rows.loc[healthy, "flag"] == "at_risk"
    assert rows.loc[healthy, "flag_reason"] == "champion left <b>today</b>"
    assert rows.loc[healthy, "play"].startswith("CSM flag at_risk but the score says healthy")
    assert rows.loc[at_risk, "band"] == "at_risk" and rows.loc[at_risk, "flag"] == "healthy"
    assert rows.flag.isna().sum() == len(rows) - 2


def test_saved_feedback_ends_as_documented(demo, tmp_path):
    """Through a real state store: a snooze ends on its day, a flag on its expiry, a dismissal
    after 90 days, a contact after the recent-days window."""
    state = StateStore(tmp_path / "state.sqlite")
    rows = build(demo, kind="at-risk", min_days_in_band=0).rows
    a, b, c = rows.account_id.iloc[:3]
    scores = demo["book"].scores
    healthy = scores.index[scores.band == "healthy"][0]
    feedback.snooze(state, a, until=TODAY + dt.timedelta(days=5), reason="on leave", author="t")
    feedback.dismiss(state, b, reason="handled elsewhere", author="t", band="at_risk", health=rows.health_score.iloc[1])
    feedback.mark_contacted(state, c, author="t")
    feedback.set_risk_flag(state, healthy, flag="at_risk", reason="budget cut", expires=TODAY + dt.timedelta(days=3),
                           author="t")
    ids = lambda day: set(build(demo, fb=feedback.current(state, day), kind="at-risk", min_days_in_band=0).ids)  # noqa: E731
    now = ids(TODAY)
    assert not {a, b, c} & now and healthy in now
    later = ids(TODAY + dt.timedelta(days=5))
    assert a in later and healthy not in later and c in ids(TODAY + dt.timedelta(days=lists.RECENT_DAYS))
    assert b not in later and b in ids(TODAY + dt.timedelta(days=feedback.DISMISS_DAYS))


def test_contacts_are_optional(good_dir, db, demo):
    from scoring.ingest import import_dir
    from scoring.store import DataStore

    import_dir(good_dir, db, state=db.with_name("s.sqlite"))
    ds = DataStore(db)
    try:
        empty = list_data.read_contacts(ds, scope=Scope.everyone())
    finally:
        ds.close()
    assert empty.empty and list(empty.columns) == ["contact_name", "contact_email"]
    ol = build(demo, data=dataclasses.replace(demo["data"], contacts=empty), kind="at-risk", min_days_in_band=0)
    assert ol.rows.contact_name.isna().all() and ol.rows.contact_email.isna().all() and len(ol.rows)


def test_churn_risk_model_or_stand_in(demo, monkeypatch):
    data = dataclasses.replace(demo["data"], churn=None)
    ol = build(demo, data=data, kind="at-risk", min_days_in_band=0)
    assert ol.rows.churn_risk.isna().all() and any("no churn-risk model" in n for n in ol.notes)
    r = ol.rows.iloc[0]
    assert r.expected_arr_at_risk == pytest.approx(r.arr * (100 - r.health_score) / 100)

    class Flat:
        def predict(self, health):
            return np.full(len(health), 0.25)

    ol = build(demo, data=dataclasses.replace(demo["data"], churn=Flat()), kind="at-risk", min_days_in_band=0)
    assert (ol.rows.churn_risk == 0.25).all()
    assert np.allclose(ol.rows.expected_arr_at_risk, ol.rows.arr * 0.25)
    monkeypatch.setitem(sys.modules, "scoring.risk", None)  # the module absent: import fails
    assert list_data.fit_churn(demo["ds"], demo["book"].profile) is None


def test_core_modules_never_import_streamlit():
    code = ("import sys; import scoring.lists, scoring.list_data, scoring.plays, scoring.export, scoring.feedback, "
            "scoring.cli_export; "
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- the pages


def run_page(page: str, **params):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def page_store(demo, tmp_path, monkeypatch):
    db = copy_store(demo["db"], tmp_path / "store")
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(db.with_name("cs.state.sqlite")))
    return db


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_and_capacity_sizes_the_list(page_store, page):
    at = run_page(page, capacity="4")
    table = at.dataframe[0].value
    assert len(table) == 4 and table["rank"].tolist() == [1, 2, 3, 4]
    assert table["account"].iloc[0].startswith(f"/Account?account={table['account_id'].iloc[0]}#")
    assert [b.label for b in at.get("download_button")] == ["CSV (4 rows)", "XLSX (4 rows)"]
    at.number_input(key="capacity").set_value(2).run()
    assert len(at.dataframe[0].value) == 2
    assert any("DEMO DATA" in w.value for w in at.warning)


def test_at_risk_page_actions_update_the_list(page_store):
    at = run_page(PAGES[0], capacity="5", days="0")
    first = at.dataframe[0].value["account_id"].tolist()
    assert at.selectbox(key="act_on").value == first[0]
    at.text_input(key="dismiss_reason").input("known issue, being handled")
    at.button(key="dismiss_save").click().run()
    assert not at.exception and not at.error
    after = at.dataframe[0].value["account_id"].tolist()
    assert first[0] not in after and after[:4] == first[1:]
    at.selectbox(key="act_on").set_value(after[1]).run()
    at.text_input(key="snooze_reason").input("")
    at.button(key="snooze_save").click().run()  # no reason: refused, shown, nothing saved
    assert at.error and "reason" in at.error[0].value
    assert after[1] in at.dataframe[0].value["account_id"].tolist()
    at.text_input(key="contact_note").input("=called, +1 follow-up")
    at.button(key="contact_save").click().run()
    assert after[1] not in at.dataframe[0].value["account_id"].tolist()
    history = feedback.account_history(StateStore(page_store.with_name("cs.state.sqlite")), after[1])
    assert history.iloc[0].what == "contacted" and history.iloc[0].note == "=called, +1 follow-up"


def test_empty_list_says_so_and_still_downloads_headers(demo, page_store):
    ids = build(demo, kind="at-risk", min_days_in_band=0).ids
    feedback.log_export(StateStore(page_store.with_name("cs.state.sqlite")), ids, author="t", list_name="at-risk")
    at = run_page(PAGES[0], days="0")
    assert not at.dataframe
    assert any("No account is on the at-risk list" in i.value for i in at.info)
    assert any("contacted or exported recently" in c.value for c in at.caption)
    assert [b.label for b in at.get("download_button")] == ["CSV (0 rows)", "XLSX (0 rows)"]
