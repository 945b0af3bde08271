"""Explanations (``scoring.explain``) and the signal-level monotonicity property.

Hand-worked values are derived here from the formulas in the module docstrings; the demo checks
that contributions and the why-it-moved split add up for every account.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scoring import current, explain, moved
from scoring.demo import build_demo
from scoring.engine import default_as_of
from scoring.history import resolve_profile
from scoring.profile import Normalisation, Profile, SignalDef
from scoring.scope import Scope
from scoring.signals import compute_inputs
from scoring.state import StateStore
from test_signals import CATALOGUE_ROWS, make_con, stores

# ---------------------------------------------------------------- a hand-worked book

ENGAGEMENT_ONLY = {"engagement": 1.0, "nps": 0.0, "support": 0.0, "financial": 0.0, "commercial": 0.0}


def hand_inputs(reports: list[float], logins: list[float], prev_reports: list[float]) -> pd.DataFrame:
    n = len(reports)
    nan = np.full(n, np.nan)
    df = pd.DataFrame({
        "name": [f"Account {i}" for i in range(n)], "segment": "SMB", "plan": "pro", "region": "EU",
        "csm_owner": "c@example.com", "crm_id": "", "arr": 1000.0, "seats": 10.0, "age_days": 400.0,
        "active_users": 5.0, "active_days": 10.0, "usage": 100.0, "usage_prev": 100.0,
        "value_usage": 50.0, "passive_usage": 50.0, "burst_user_share": 0.2, "burst_day_share": 0.1,
        "burst": False,
        "reports": reports, "reports__prev": prev_reports, "logins": logins, "logins__prev": logins,
        "nps_mean": nan, "nps_count": 0.0, "tickets_open": 0.0, "tickets_open_weighted": 0.0,
        "ticket_sentiment": nan, "invoices_overdue": 0.0, "days_overdue_max": 0.0, "mrr_now": nan,
        "mrr_90d_ago": nan, "has_nps": False, "has_tickets": False, "has_invoices": False, "has_mrr": False,
    }, index=pd.Index([f"A{i}" for i in range(n)], name="account_id"))
    return df


def hand_profile(reports_weight: float = 60.0, logins_weight: float = 40.0) -> Profile:
    book_peers = Normalisation("percentile", "book")
    return Profile("hand", health_weights=dict(ENGAGEMENT_ONLY), max_signal_share=1.0, signals=(
        SignalDef("reports", "Reports generated", "depth", "sum", reports_weight,
                  event_types=("report_generated",), normalisation=book_peers),
        SignalDef("logins", "Logins", "frequency", "count", logins_weight, event_types=("login",),
                  normalisation=book_peers)))


def hand_book(inputs: pd.DataFrame, profile: Profile, as_of=dt.date(2024, 7, 1)) -> current.Book:
    cat = pd.DataFrame([("report_generated", "Reports", "depth", True, "imported"),
                        ("login", "Sign-in", "frequency", False, "imported")],
                       columns=["event_type", "feature", "dimension", "value_action", "source"])
    normalised, scores = current.score_inputs(inputs, profile)
    return current.Book(as_of, profile, inputs, normalised, scores, "test", cat)


def mid_rank(values: list[float], v: float) -> float:
    """The percentile formula of docs/SCORING.md: (below + 0.5 * equal) / n."""
    return (sum(x < v for x in values) + 0.5 * sum(x == v for x in values)) / len(values)


def test_hand_worked_drivers_lever_and_value_share() -> None:
    reports, logins = [0.0, 10.0, 20.0, 30.0], [5.0, 5.0, 1.0, 9.0]
    book = hand_book(hand_inputs(reports, logins, prev_reports=[20.0, 10.0, 20.0, 30.0]), hand_profile())
    x_r = [mid_rank(reports, v) for v in reports]
    x_l = [mid_rank(logins, v) for v in logins]
    s_r, s_l = 0.6, 0.4
    engagement = [100 * (s_r * a + s_l * b) for a, b in zip(x_r, x_l)]
    assert book.scores.engagement_score.tolist() == pytest.approx(engagement)
    # health = engagement (only engagement weighs), so health points = engagement points
    e = explain.explain(book, "A0")
    rows = e.signals.set_index("signal")
    stake_r = 100 * s_r * (x_r[0] - np.median(x_r))
    stake_l = 100 * s_l * (x_l[0] - np.median(x_l))
    assert rows.loc["reports", "points"] == pytest.approx(stake_r)
    assert rows.loc["logins", "points"] == pytest.approx(stake_l)
    assert rows.loc["reports", "peer_median"] == np.median(reports)
    assert rows.loc["reports", "change"] == pytest.approx(0 / 20 - 1)
    assert e.down == [f"Reports generated: 0 in the last 30 days, down 100% on the 30 days before, "
                      f"0% of the peer median (15): {stake_r:+.1f} points"]
    assert e.lever == f"Reports generated: raising it to the peer median (15) would add {-stake_r:.1f} points"
    # value share: reports count value actions only (f = 1), logins passive only (f = 0)
    assert e.value_share == pytest.approx(100 * s_r * x_r[0] / engagement[0])
    assert explain.value_share(book)["A3"] == pytest.approx(100 * s_r * x_r[3] / engagement[3])


def test_reasons_list_what_holds_each_account_down() -> None:
    book = hand_book(hand_inputs([0.0, 10.0, 20.0, 30.0], [5.0, 5.0, 1.0, 9.0], [0.0] * 4), hand_profile())
    r = explain.reasons(book, ["A3", "A0", "A2"])
    assert list(r.index) == ["A3", "A0", "A2"]
    assert r["A3"] == ""  # above the median on both signals
    assert r["A2"].startswith("Logins: 1 in the last 30 days")
    assert r["A0"].startswith("Reports generated: 0 in the last 30 days")


def test_why_moved_splits_own_change_peer_shift_and_profile_change() -> None:
    p = hand_profile()
    before = hand_book(hand_inputs([0.0, 10.0, 20.0, 30.0], [5.0, 5.0, 1.0, 9.0], [0.0] * 4), p)
    # only the peers moved: A0's own inputs are the same, so its own change is 0
    peers_moved = hand_book(hand_inputs([0.0, 1.0, 2.0, 3.0], [5.0, 9.0, 9.0, 9.0], [0.0] * 4), p)
    w = moved.why_moved(before, peers_moved, "A0")
    assert w["own"].abs().max() < 1e-12
    assert w["profile"].abs().max() == 0
    change = peers_moved.scores.health_score["A0"] - before.scores.health_score["A0"]
    assert change != 0 and w["peers"].sum() == pytest.approx(change, abs=1e-9)
    # only A0 moved: the hybrid is the later book, so the peer shift is 0
    own_moved = hand_book(hand_inputs([40.0, 10.0, 20.0, 30.0], [5.0, 5.0, 1.0, 9.0], [0.0] * 4), p)
    w = moved.why_moved(before, own_moved, "A0")
    assert w["peers"].abs().max() < 1e-12
    assert w["own"].sum() == pytest.approx(own_moved.scores.health_score["A0"] - before.scores.health_score["A0"])
    # a profile change on the same data is all "profile"
    q = dataclasses.replace(hand_profile(20.0, 80.0), version=2)
    reweighted = hand_book(before.inputs, q)
    with pytest.raises(ValueError, match="profiles differ"):
        moved.why_moved(before, reweighted, "A0")
    w = moved.why_moved(before, reweighted, "A0", after_old_profile=before)
    assert w[["own", "peers"]].abs().max().max() < 1e-12
    assert w["profile"].sum() == pytest.approx(reweighted.scores.health_score["A0"] - before.scores.health_score["A0"])


# ---------------------------------------------------------------- on the demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("explain") / "cs.duckdb"
    build_demo(db, accounts=300, seed=11)
    return db


def test_contributions_and_the_why_moved_split_add_up_on_the_demo(demo) -> None:
    state = StateStore(demo.with_name("cs.state.sqlite"))
    with duckdb.connect(str(demo), read_only=True) as con:
        p0, cat = resolve_profile(con, state, None)
        t1 = default_as_of(con)
        t0 = t1 - dt.timedelta(days=28)
        before = current.load_book(con, p0, cat, t0)
        p1 = dataclasses.replace(p0, signals=tuple(dataclasses.replace(s, weight=s.weight * (1 + i))
                                                   for i, s in enumerate(p0.signals)), version=99)
        after = current.load_book(con, p1, cat, t1)
        after_old = current.load_book(con, p0, cat, t1)
    parts = explain.health_contributions(after)
    scored = after.scores.health_score.notna()
    assert (parts[scored].sum(axis=1) - after.scores.health_score[scored]).abs().max() < 1e-9
    both = before.scores.index.intersection(after.scores.index)
    changed = both[(after.scores.health_score[both] - before.scores.health_score[both]).abs() > 1][:15]
    assert len(changed) >= 5
    for a in changed:
        w = moved.why_moved(before, after, a, after_old_profile=after_old)
        total = after.scores.health_score[a] - before.scores.health_score[a]
        assert abs(w[["own", "peers", "profile"]].sum().sum() - total) < 0.01
        assert (w["own"] + w["peers"] + w["profile"] - w["change"]).abs().max() < 1e-9
    e = explain.explain(after, changed[0])
    assert e.signals.contribution.sum() == pytest.approx(e.engagement)
    with pytest.raises(KeyError, match="not in the book"):
        explain.signal_drivers(after, ["no-such-account"])


METHOD_SPECS = [Normalisation("percentile", "segment"), Normalisation("minmax", "book"),
                Normalisation("logz", "segment"), Normalisation("grid", "book", ((0.5, 0.0), (2.0, 40.0), (5.0, 80.0)))]


def full_book_hybrid(before: current.Book, after: current.Book, account_id: str) -> current.Book:
    """The hybrid the slow, obvious way: the whole before book re-scored with one row replaced."""
    inputs = before.inputs.copy()
    inputs.loc[account_id] = after.inputs.loc[account_id, inputs.columns]
    inputs = inputs.astype(before.inputs.dtypes.to_dict())
    normalised, scores = current.score_inputs(inputs, before.profile)
    return current.Book(before.as_of, before.profile, inputs, normalised, scores, "full", before.catalogue)


def rescored(book: current.Book, profile: Profile, inputs: pd.DataFrame) -> current.Book:
    normalised, scores = current.score_inputs(inputs, profile)
    return current.Book(book.as_of, profile, inputs, normalised, scores, book.source, book.catalogue)


@pytest.mark.parametrize("spec", [*METHOD_SPECS, Normalisation("percentile", "book"), Normalisation("minmax", "segment")],
                         ids=lambda s: f"{s.method}-{s.peer}")
def test_the_one_row_hybrid_equals_rescoring_the_whole_book(demo, spec) -> None:
    """why_moved scores only the account's row of the hybrid book, normalising each signal over
    its peer group alone: the same normalised values, bit for bit, as re-scoring the whole book,
    and the same scores up to float rounding (BLAS sums a one-row product in another order), for
    every method and peer group, accounts without a segment included."""
    state = StateStore(demo.with_name("cs.state.sqlite"))
    with duckdb.connect(str(demo), read_only=True) as con:
        p0, cat = resolve_profile(con, state, None)
        t1 = default_as_of(con)
        before = current.load_book(con, p0, cat, t1 - dt.timedelta(days=28))
        after = current.load_book(con, p0, cat, t1)
    profile = dataclasses.replace(p0, signals=tuple(dataclasses.replace(s, normalisation=spec) for s in p0.signals))
    both = before.scores.index.intersection(after.scores.index)
    no_segment = both[::7][:12]
    books = []
    for book in (before, after):
        inputs = book.inputs.copy()
        inputs.loc[inputs.index.isin(no_segment), "segment"] = None
        books.append(rescored(book, profile, inputs))
    before, after = books
    for a in [*both[:25], *no_segment[:4]]:
        fast, slow = moved._hybrid(before, after, a), full_book_hybrid(before, after, a)
        assert list(fast.scores.index) == [a]
        pd.testing.assert_frame_equal(fast.normalised.frame(), slow.normalised.frame().loc[[a]], check_exact=True)
        pd.testing.assert_frame_equal(explain.health_contributions(fast, pd.Index([a])),
                                      explain.health_contributions(slow, pd.Index([a])), rtol=1e-12, atol=1e-12)
        pd.testing.assert_series_equal(fast.scores.loc[a], slow.scores.loc[a], rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(before.inputs, books[0].inputs)  # the before book is left as it was


def test_drivers_of_some_accounts_equal_their_rows_among_all(demo) -> None:
    """signal_drivers and component_drivers compute only the rows asked for, with the peers'
    medians kept with the book: the same rows as computing every account's."""
    state = StateStore(demo.with_name("cs.state.sqlite"))
    with duckdb.connect(str(demo), read_only=True) as con:
        profile, cat = resolve_profile(con, state, None)
        book = current.load_book(con, profile, cat, default_as_of(con))
    inputs = book.inputs.copy()
    inputs.loc[inputs.index[::9], "segment"] = None  # accounts without a segment are one peer group
    book = rescored(book, profile, inputs)
    some = list(book.inputs.index[[5, 0, 9, 77, 3]])
    for fn in (explain.signal_drivers, explain.component_drivers):
        every = fn(book)
        picked = fn(book, some)
        want = pd.concat([every[every.account_id == a] for a in some])
        key = ["signal" if fn is explain.signal_drivers else "component", "account_id"]
        pd.testing.assert_frame_equal(picked.sort_values(key).reset_index(drop=True),
                                      want.sort_values(key).reset_index(drop=True))
    assert "_memo" in book.__dict__ and dataclasses.replace(book) == book


# ---------------------------------------------------------------- gaining events never lowers a score

MONOTONE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MONOTONE
@given(stores(), st.data())
def test_an_account_gaining_higher_is_better_events_never_scores_lower(case, data) -> None:
    """Value-action events added to one account in the current window never lower its engagement
    or health, other accounts unchanged, under every normalisation method.

    Expected effects left out of the claim, by design: signals per active user (a newly active
    user divides the value by one more head), passive events (the daily cap shares a user-day's
    capped total among its event types, so a new passive type thins the others), and events that
    make a missing signal present (users becoming known re-weights the present signals). Other
    accounts' scores may fall: their peers' figures moved (percentile ranks, min-max caps, means).
    """
    tables, profile, as_of = case
    spec = data.draw(st.sampled_from(METHOD_SPECS))
    sigs = tuple(dataclasses.replace(s, per=None if s.per == "active_user" else s.per, normalisation=spec)
                 for s in profile.signals)
    profile = dataclasses.replace(profile, signals=sigs)
    ids = [r[0] for r in tables["accounts"]]
    who = data.draw(st.sampled_from(ids))
    start = dt.datetime.combine(as_of - dt.timedelta(days=profile.window_days), dt.time())
    end = dt.datetime.combine(as_of, dt.time())
    scanned = dt.datetime.combine(as_of - dt.timedelta(days=3 * profile.window_days), dt.time())
    mine = [r for r in tables["usage_events"] if r[0] == who and scanned <= r[1] < end]
    users = sorted({r[3] for r in mine if r[3] is not None})
    user = users[0] if users else (None if mine else "u1")  # keep users known / unknown as they were
    seconds = int((end - start).total_seconds())
    extra = [(who, start + dt.timedelta(seconds=data.draw(st.integers(0, seconds - 1))), "report_generated",
              user, data.draw(st.sampled_from([1.0, 3.0]))) for _ in range(data.draw(st.integers(1, 4)))]
    cat = pd.DataFrame([(et, f, d, v, "imported") for et, f, d, v in CATALOGUE_ROWS],
                       columns=["event_type", "feature", "dimension", "value_action", "source"])

    def scored(rows):
        con = make_con({**tables, "usage_events": rows, "event_types": list(CATALOGUE_ROWS)})
        inputs = compute_inputs(con, profile, as_of=as_of, scope=Scope.everyone(), catalogue=cat)
        return inputs, current.score_inputs(inputs, profile)[1]

    in0, s0 = scored(tables["usage_events"])
    in1, s1 = scored(tables["usage_events"] + extra)
    assume(who in s0.index)
    names = [s.name for s in profile.signals]
    assume((in0.loc[who, names].isna() == in1.loc[who, names].isna()).all())  # presence unchanged
    for col in ("engagement_score", "health_score"):
        a, b = s0.loc[who, col], s1.loc[who, col]
        if np.isfinite(a):
            assert b >= a - 1e-9, f"{col} fell from {a} to {b}"
