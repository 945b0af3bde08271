"""The Account (360) page and its query functions (``scoring.account``).

Query functions run on a small store written by hand here, so every expected figure is counted
by eye, including what the time rule leaves out (anything on or after the as-of date) and what a
scope hides. The page runs with Streamlit's ``AppTest`` on a 300-account demo built once for the
module under ``tmp_path``, and on a tiny store whose account names are hostile; nothing reads
``data/cs.duckdb``. The page is opened through ``app.py`` (``switch_page``), because the shared
menu links pages relative to the app's main script.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sqlite3

import duckdb
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

import ui.frame
from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, chart_figures, write_csv
from scoring import account, current, explain, feedback
from scoring.demo import build_demo
from scoring.history import resolve_profile
from scoring.ingest import import_dir
from scoring.profile import demo_profile
from scoring.profiles import publish, save
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataStore
from ui.frame import plain

APP = str(ROOT / "app.py")
PAGE = "pages/3_Account.py"
TIMEOUT = 60
T = dt.date(2024, 7, 1)
EVERYONE = Scope.everyone()


# ---------------------------------------------------------------- query functions, hand-made data


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> DataStore:
    """A1 (owner a@x) and A2 (owner b@x); every optional table has rows on both sides of T."""
    root = tmp_path_factory.mktemp("hand")
    src = root / "in"
    write_csv(src / "accounts.csv", ACCOUNT_COLS, [
        ["A1", "Acme Widgets", "SMB", "pro", "EU", "a@x", "", 1200, 5, "2024-01-01", "2025-01-01"],
        ["A2", "Beta acme", "SMB", "pro", "EU", "b@x", "", 2400, 8, "2024-01-01", "2025-02-01"],
        ["A10", "Gamma", "SMB", "pro", "EU", "a@x", "", 100, 1, "", ""]])
    write_csv(src / "usage_events.csv", EVENT_COLS, [
        ["A1", "2024-06-30T23:59:59", "report", "u1", 3],  # last day before T: week 0
        ["A1", "2024-06-24T00:00:00", "login", "u1", 2],  # T - 7 days: still week 0
        ["A1", "2024-06-23T12:00:00", "login", "u1", 5],  # week 1
        ["A1", "2024-07-01T00:00:00", "report", "u1", 100],  # on T: not known yet
        ["A1", "2024-07-09T00:00:00", "login", "u1", 100],  # after T
        ["A1", "2023-06-01T00:00:00", "report", "u1", 100],  # before the 26 weeks
        ["A1", "2024-06-10T00:00:00", "mystery", "u1", 4],  # not in event_types: passive
        ["A2", "2024-06-30T00:00:00", "report", "u2", 7]])
    write_csv(src / "event_types.csv", ["event_type", "feature", "dimension", "value_action"],
              [["report", "Reports", "depth", "true"], ["login", "Sign-in", "frequency", "false"]])
    write_csv(src / "support_tickets.csv", ["ticket_id", "account_id", "opened_at", "closed_at", "priority", "sentiment"], [
        ["T1", "A1", "2024-06-01T00:00:00", "", "low", ""],  # open
        ["T2", "A1", "2024-06-02T00:00:00", "2024-07-01T00:00:00", "urgent", "-0.5"],  # closed on T: open on T
        ["T3", "A1", "2024-06-03T00:00:00", "2024-06-30T00:00:00", "high", ""],  # closed before T
        ["T4", "A1", "2024-07-01T00:00:00", "", "urgent", ""],  # opened on T: not yet
        ["T5", "A2", "2024-06-01T00:00:00", "", "normal", ""]])
    write_csv(src / "invoices.csv", ["invoice_id", "account_id", "issued_at", "due_at", "paid_at", "amount"], [
        ["I1", "A1", "2024-05-01", "2024-06-01", "", 100],  # overdue 30 days
        ["I2", "A1", "2024-05-01", "2024-06-15", "2024-07-01", 200],  # paid on T: outstanding on T
        ["I3", "A1", "2024-05-01", "2024-06-15", "2024-06-20", 300],  # paid before T
        ["I4", "A1", "2024-06-01", "2024-07-01", "", 400],  # due on T: not overdue yet
        ["I5", "A2", "2024-05-01", "2024-06-01", "", 500]])
    write_csv(src / "nps_responses.csv", ["account_id", "responded_at", "score", "user_id"], [
        ["A1", "2024-06-30", "9", "u1"], ["A1", "2023-12-01", "3", ""],  # 213 days back: not in score
        ["A1", "2024-07-01", "0", "u1"], ["A2", "2024-06-01", "5", "u2"]])
    db = root / "cs.duckdb"
    import_dir(src, db, history=False)  # score history is tested on rows written below
    return DataStore(db)


def test_find_accounts_by_name_fragment_or_exact_id_within_scope(hand):
    assert list(account.find_accounts(hand, scope=EVERYONE, text=" ACME ").account_id) == ["A1", "A2"]
    assert list(account.find_accounts(hand, scope=EVERYONE, text="A1").account_id) == ["A1"]  # not A10
    assert list(account.find_accounts(hand, scope=Scope.for_owners({"b@x"}), text="acme").account_id) == ["A2"]
    assert account.find_accounts(hand, scope=Scope.for_owners({"b@x"}), text="A1").empty
    assert account.find_accounts(hand, scope=EVERYONE, text="   ").empty
    assert account.find_accounts(hand, scope=EVERYONE, text="'; DROP TABLE accounts; --").empty


def test_account_facts_hide_accounts_outside_the_scope(hand):
    facts = account.account_facts(hand, scope=EVERYONE, account_id="A1")
    assert facts["name"] == "Acme Widgets" and facts["renewal_date"] == dt.date(2025, 1, 1)
    assert account.account_facts(hand, scope=EVERYONE, account_id="A10")["contract_start"] is None
    assert account.account_facts(hand, scope=Scope.for_owners({"b@x"}), account_id="A1") is None
    assert account.account_facts(hand, scope=EVERYONE, account_id="nope") is None


def test_weekly_usage_counts_only_what_was_known_before_as_of(hand):
    u = account.weekly_usage(hand, scope=EVERYONE, account_id="A1", as_of=T)
    assert len(u) == 2 * account.USAGE_WEEKS and u.events.sum() == 3 + 2 + 5 + 4
    week = u.set_index(["week_start", "kind"])["events"]
    assert week[(dt.date(2024, 6, 24), "value")] == 3 and week[(dt.date(2024, 6, 24), "passive")] == 2
    assert week[(dt.date(2024, 6, 17), "passive")] == 5 and week[(dt.date(2024, 6, 10), "passive")] == 4
    # the catalogue with the app's classifications wins over the imported table
    override = account.weekly_usage(hand, scope=EVERYONE, account_id="A1", as_of=T, value_types=("mystery",))
    assert override[override.kind == "value"].events.sum() == 4
    hidden = account.weekly_usage(hand, scope=Scope.for_owners({"b@x"}), account_id="A1", as_of=T)
    assert hidden.events.sum() == 0


def test_records_follow_the_time_rule_and_the_scope(hand):
    tickets = account.open_tickets(hand, scope=EVERYONE, account_id="A1", as_of=T)
    assert list(tickets.ticket_id) == ["T2", "T1"]  # urgent first
    assert list(tickets.days_open) == [29, 30]
    invoices = account.overdue_invoices(hand, scope=EVERYONE, account_id="A1", as_of=T)
    assert list(invoices.invoice_id) == ["I1", "I2"] and list(invoices.days_overdue) == [30, 16]
    nps = account.recent_nps(hand, scope=EVERYONE, account_id="A1", as_of=T)
    assert list(nps.score) == [9, 3] and list(nps.in_score) == [True, False]
    other = Scope.for_owners({"b@x"})
    for fn in (account.open_tickets, account.overdue_invoices, account.recent_nps):
        assert fn(hand, scope=other, account_id="A1", as_of=T).empty
    assert not account.open_tickets(hand, scope=other, account_id="A2", as_of=T).empty
    empty = account.contacts(hand, scope=EVERYONE, account_id="A1")  # no contacts table
    assert empty.empty and list(empty.columns) == ["name", "role", "email", "is_primary"]


def test_score_history_takes_the_snapshot_made_first_and_marks_version_changes(hand, tmp_path):
    db = tmp_path / "cs.duckdb"
    shutil.copyfile(hand.path, db)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM score_snapshots")
    rows = [("2024-06-17", 1, "A1", 50.0, "2024-06-17 01:00"), ("2024-06-24", 1, "A1", 60.0, "2024-06-24 01:00"),
            ("2024-06-24", 2, "A1", 10.0, "2024-06-25 01:00"),  # made later: the v1 row counts
            ("2024-07-01", 2, "A1", 70.0, "2024-07-01 01:00"), ("2024-07-08", 2, "A1", 80.0, "2024-07-08 01:00"),
            ("2024-07-01", 2, "A2", 20.0, "2024-07-01 01:00")]
    for as_of, v, a, h, made in rows:
        con.execute("INSERT INTO score_snapshots VALUES (?, 'p', ?, ?, ?, ?, 'watch', 1.0, 0, FALSE, ?)",
                    [as_of, v, a, h, h, made])
    con.execute("CHECKPOINT")
    con.close()
    ds = DataStore(db)
    h = account.score_history(ds, scope=EVERYONE, account_id="A1", profile_name="p", as_of=T)
    assert list(h.health_score) == [50.0, 60.0, 70.0]  # 2024-07-08 is after the as-of date
    assert list(h.profile_version) == [1, 1, 2] and list(h.version_changed) == [False, False, True]
    assert account.score_history(ds, scope=Scope.for_owners({"b@x"}), account_id="A1",
                                 profile_name="p", as_of=T).empty


def test_compare_helpers():
    dates = [dt.date(2024, 5, 27), dt.date(2024, 6, 3), dt.date(2024, 6, 10)]
    assert account.default_since(dates, T) == 1  # 30 days back is 06-01: 2 days from 06-03
    assert account.default_since(dates, T, days=100) == 0
    assert account.default_since([], T) is None
    assert account.snapshot_ref("classic", 3) == "classic@3" and account.snapshot_ref("default", 0) == "default"


# ---------------------------------------------------------------- the page on the demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("account") / "cs.duckdb"
    build_demo(db, accounts=300, seed=17)
    state = db.with_name("cs.state.sqlite")
    with duckdb.connect(str(db), read_only=True) as con:
        profile, cat = resolve_profile(con, StateStore(state), None)
        book = current.load_book(con, profile, cat, current_as_of(con))
    full = []  # accounts with drivers both ways and a lever: a full page to check
    for a in book.scores.index[book.scores.band != "new"]:
        if len(full) == 4:
            break
        if (e := explain.explain(book, a)).down and e.lever:
            full.append(a)
    return db, state, book, full


def current_as_of(con) -> dt.date:
    return con.execute("SELECT max(occurred_at)::DATE + 1 FROM usage_events").fetchone()[0]


@pytest.fixture
def env(demo, monkeypatch):
    monkeypatch.setenv("CS_DB", str(demo[0]))
    monkeypatch.setenv("CS_STATE", str(demo[1]))
    return demo


def open_page(account_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).switch_page(PAGE)
    if account_id is not None:
        at.query_params["account"] = account_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def values(elements) -> list[str]:
    return [e.value for e in elements]


def pickers(at: AppTest) -> list:
    return [s for s in at.selectbox if str(s.key).startswith("pick:")]


def test_deep_link_shows_the_account_scores_and_drivers(env):
    _, _, book, full = env
    a = full[0]
    e = explain.explain(book, a)
    at = open_page(a)
    assert values(at.header) == [plain(book.scores.name[a])]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Health"] == f"{e.health:.1f}" and metrics["Engagement"] == f"{e.engagement:.1f}"
    assert metrics["Band (from the score)"] == e.band.replace("_", " ")
    assert metrics["Data confidence"] == f"{book.scores.data_confidence[a]:.0%}"
    assert any("stands on" in t and "of the weight" in t for t in values(at.text))
    markdown = " ".join(values(at.markdown))
    assert plain(e.down[0]) in markdown and plain(e.lever) in markdown
    assert any("from value actions" in t for t in values(at.text))
    signals = at.table[0].value  # small tables are static text (ui.frame.small_table)
    assert list(signals["signal"]) == [plain(x) for x in e.signals.label]
    assert list(signals["points in health"]) == [f"{x:.1f}" for x in e.signals.health_points]
    assert not at.dataframe  # no data grid on this page: a new visitor's browser never loads its code
    figs = chart_figures(at)
    assert list(figs) == ["contributions", "history", "usage"]
    # what each chart shows: the points add up to health; the band lines sit at the thresholds;
    # the weekly bars hold the account's events, value and passive
    bars = figs["contributions"]["data"]
    assert {t["name"] for t in bars} == {"signal (via engagement)", "health component"}
    assert sum(sum(t["x"]) for t in bars) == pytest.approx(e.health)
    lines = sorted(sh["y0"] for sh in figs["history"]["layout"]["shapes"])
    assert lines == [book.profile.bands.at_risk_below, book.profile.bands.healthy_from]
    assert [t["name"] for t in figs["history"]["data"]][:2] == ["Health", "Engagement"]
    ds = DataStore(env[0])
    usage = account.weekly_usage(ds, scope=Scope.everyone(), account_id=a, as_of=book.as_of,
                                 value_types=account.value_event_types(book.catalogue))
    ds.close()
    shown = {t["name"]: sum(t["y"]) for t in figs["usage"]["data"]}
    assert shown == usage.groupby("kind")["events"].sum().to_dict() and sum(shown.values()) > 0
    for fig in figs.values():  # the builders skip plotly's checks (charts.figure): plotly's own pass
        go.Figure({k: fig[k] for k in ("data", "layout")})
    assert f"Scored with profile {plain(book.profile.ref)} as of {book.as_of}" in " ".join(values(at.caption))


def test_unknown_and_out_of_scope_ids_get_the_same_message(env, monkeypatch):
    _, _, book, full = env
    a = full[0]
    owner = book.scores.csm_owner[a]
    other = sorted(set(book.scores.csm_owner) - {owner})[0]
    unknown = open_page("NO-SUCH-ID")
    assert values(unknown.error) == [f"No account with id {plain('NO-SUCH-ID')} in your accounts."]
    monkeypatch.setattr(ui.frame, "viewer_scope", lambda: Scope.for_owners({other}))
    hidden = open_page(a)
    assert values(hidden.error) == [f"No account with id {plain(a)} in your accounts."]
    assert not hidden.header and not hidden.metric and not hidden.table
    hidden.text_input(key="q").input(book.scores.name[a]).run()  # nor does a search find it
    assert any(m.startswith("No account in your accounts has a name containing") for m in values(hidden.info))
    assert not hidden.header and not pickers(hidden)
    mine = book.scores.index[book.scores.csm_owner == other][0]
    assert values(open_page(mine).header) == [plain(book.scores.name[mine])]


def test_search_by_name_fragment_finds_the_account(env):
    _, _, book, full = env
    a = full[1]
    name = book.scores.name[a]
    at = open_page()
    at.text_input(key="q").input(name.upper()).run()  # case does not matter
    if pickers(at):  # the name is part of another name too
        pickers(at)[0].set_value(a).run()
    assert values(at.header) == [plain(name)] and at.query_params["account"] == a
    at.text_input(key="q").input(name[:3].lower()).run()  # a short fragment: several match
    assert f"{name} ({a})" in pickers(at)[0].options and not at.exception


def test_snooze_needs_a_reason_and_a_valid_one_is_saved(env):
    _, state, book, full = env
    a = full[2]
    at = open_page(a)
    at.text_input(key="snooze_reason").input("   ")
    at.button(key="snooze_save").click().run()
    assert any("reason" in m for m in values(at.error))
    assert a not in feedback.current(StateStore(state), feedback.today_utc()).snoozed
    assert feedback.account_history(StateStore(state), a).empty
    until = feedback.today_utc() + dt.timedelta(days=10)
    at.date_input(key="snooze_until").set_value(feedback.today_utc() - dt.timedelta(days=1))
    at.text_input(key="snooze_reason").input("on holiday")
    at.button(key="snooze_save").click().run()
    assert any("after today" in m for m in values(at.error))
    assert a not in feedback.current(StateStore(state), feedback.today_utc()).snoozed
    at.date_input(key="snooze_until").set_value(until)
    at.text_input(key="snooze_reason").input("on holiday")
    at.button(key="snooze_save").click().run()
    assert not at.exception and not at.error
    saved = feedback.current(StateStore(state), feedback.today_utc()).snoozed[a]
    assert saved == feedback.Snooze(until, "on holiday", "single-user")
    assert f"Snoozed until {until} by single-user: on holiday" in values(at.text)
    history = at.table[-1].value
    assert list(history["what"]) == ["snoozed"] and list(history["who"]) == [plain("single-user")]


def test_risk_flag_is_shown_beside_the_band_and_the_score_keeps_its_band(env):
    _, state, book, full = env
    a = full[3]
    at = open_page(a)
    at.selectbox(key="flag_value").set_value("healthy")
    at.text_input(key="flag_reason").input("<b>renewed</b> early")
    at.button(key="flag_save").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["CSM flag"] == "healthy"
    assert metrics["Band (from the score)"] == book.scores.band[a].replace("_", " ")
    assert any(t.endswith(": <b>renewed</b> early (no end date)") for t in values(at.text))
    at.button(key="flag_clear").click().run()
    assert {m.label: m.value for m in at.metric}["CSM flag"] == "—"


def split_of(at: AppTest) -> pd.DataFrame:
    """The why-it-moved table as numbers (the page shows them as text with one decimal)."""
    shown = next(t.value for t in at.table if "own" in t.value.columns)
    return shown.assign(**{c: shown[c].astype(float) for c in ("before", "after", "own", "peers", "profile", "change")})


def check_split_adds_up(at: AppTest, db, state, a: str) -> pd.DataFrame:
    """The Total row's own + peers + profile equals the change in health, computed independently
    (to the one decimal the page shows: each of the four figures is rounded by at most 0.05)."""
    split = split_of(at)
    total = split.set_index("label").loc["Total"]
    since = at.selectbox(key=f"since:{a}")
    with duckdb.connect(str(db), read_only=True) as con:
        now_profile, cat = resolve_profile(con, StateStore(state), None)
        now = current.load_book(con, now_profile, cat, current_as_of(con))
    after = now.scores.health_score[a]
    assert abs(total["own"] + total["peers"] + total["profile"] - total["change"]) <= 0.2
    assert abs(total["after"] - after) <= 0.05 and abs(total["change"] - (after - total["before"])) <= 0.1
    assert since.value is not None
    return split


def test_why_moved_totals_equal_the_change_in_health(env):
    db, state, book, full = env
    a = full[0]
    at = open_page(a)
    split = check_split_adds_up(at, db, state, a)
    assert (split["profile"].abs() < 1e-12).all()
    info = " ".join(values(at.info))
    assert "Health went" in info or "Health barely moved" in info
    earlier = at.selectbox(key=f"since:{a}")
    earlier.set_value(0).run()  # the oldest snapshot
    check_split_adds_up(at, db, state, a)


def test_why_moved_with_a_new_profile_version_and_a_vanished_one(env, tmp_path, monkeypatch):
    db, state, book, full = env
    a = full[0]
    newer = tmp_path / "newer.sqlite"
    shutil.copyfile(state, newer)
    classic = demo_profile()
    reweighted = dataclasses.replace(classic, health_weights={**classic.health_weights, "nps": 40.0})
    version = save(StateStore(newer), reweighted, author="t", note="more NPS")
    publish(StateStore(newer), "classic", version, author="t")
    monkeypatch.setenv("CS_STATE", str(newer))
    at = open_page(a)
    split = check_split_adds_up(at, db, newer, a)
    assert split["profile"].abs().max() > 0.01
    gone = tmp_path / "gone.sqlite"  # a state store where the snapshots' version 1 is missing
    shutil.copyfile(state, gone)
    with sqlite3.connect(gone) as con:
        con.execute("UPDATE profiles SET version = 5 WHERE name = 'classic'")
    monkeypatch.setenv("CS_STATE", str(gone))
    at = open_page(a)
    assert any("no longer exists" in w for w in values(at.warning))
    split = check_split_adds_up(at, db, gone, a)
    assert (split["profile"].abs() < 1e-12).all()


# ---------------------------------------------------------------- hostile text


HOSTILE = ["<script>alert(1)</script>", "**bold** [link](http://evil.example)",
           '=HYPERLINK("http://evil.example","click")', "write to jo@evil.example"]


def test_small_tables_write_data_as_inert_text():
    """st.table draws each cell as Markdown (HTML off): ui.charts.text_table escapes text from
    data, so it shows as written, and writes numbers, dates and gaps out itself."""
    from ui import charts

    rows = pd.DataFrame({"name": HOSTILE, "points": [1.25, -0.04, float("nan"), 12345.678][:len(HOSTILE)]})
    rows = rows.assign(when=[dt.date(2024, 1, 5), None, pd.Timestamp("2024-02-01 10:30"), pd.Timestamp("2024-02-01")][:len(rows)],
                       share=[0.125, 1.0, None, -0.5][:len(rows)], count=range(len(rows)), flag=[True, False, True, False][:len(rows)])
    out = charts.text_table(rows, {"points": "%.1f", "share": "percent"})
    assert list(out["name"]) == [plain(n) for n in HOSTILE[:3]] + ["`write to jo@evil.example`"]
    assert list(out["points"])[:3] == ["1.2", "-0.0", ""] and list(out["share"])[:3] == ["12.5%", "100.0%", ""]
    assert list(out["when"])[:3] == ["2024-01-05", "", "2024-02-01 10:30"] and list(out["flag"])[:2] == ["yes", "no"]
    assert list(out["count"])[:2] == ["0", "1"]
    # Markdown links an e-mail address whatever is escaped in it: plain() breaks it after the "@"
    # (as after a URL's scheme); in a table it is a code span instead, which copies exactly
    assert plain("jo.smith@evil.example") == "jo\\.smith@\u200bevil\\.example"
    assert plain("classic@2") == "classic@2"  # a profile reference is no address
    mails = charts.text_table(pd.DataFrame({"email": ["jo.smith@evil.example", "x`@y.z", "`a@b.c`"]}))
    assert list(mails["email"]) == ["`jo.smith@evil.example`", "``x`@y.z``", "`` `a@b.c` ``"]


def test_a_long_table_is_a_grid_with_every_row():
    """small_table writes a short table out as text; one longer than charts.STATIC_ROWS rows is a
    data grid holding every row, so nothing is cut off."""
    def script():
        import pandas as pd

        from ui.frame import small_table
        small_table(pd.DataFrame({"points": [0.25 * i for i in range(51)]}), {"points": "%.1f"})
        small_table(pd.DataFrame({"points": [1.25, 2.0]}), {"points": "%.1f"})

    at = AppTest.from_function(script, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [len(d.value) for d in at.dataframe] == [51] and list(at.dataframe[0].value["points"])[-1] == 12.5
    assert [list(t.value["points"]) for t in at.table] == [["1.2", "2.0"]]


def test_hostile_names_are_shown_as_plain_text(tmp_path, monkeypatch):
    src = tmp_path / "in"
    write_csv(src / "accounts.csv", ACCOUNT_COLS,
              [[f"H{i}", name, "SMB", "pro", "EU", "c@x", "", 100, 3, "2024-01-01", "2025-01-01"]
               for i, name in enumerate(HOSTILE)])
    write_csv(src / "usage_events.csv", EVENT_COLS,
              [[f"H{i}", f"2024-06-0{d}T10:00:00", "login", "u1", 1] for i in range(3) for d in range(1, 6)])
    db = tmp_path / "cs.duckdb"
    import_dir(src, db, history=False)
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(tmp_path / "state.sqlite"))
    for i, name in enumerate(HOSTILE):
        at = open_page(f"H{i}")
        assert values(at.header) == [plain(name)]
        rendered = values(at.markdown) + values(at.caption) + values(at.header) + values(at.info)
        assert not any(name in r for r in rendered)  # never raw Markdown or HTML
    at = open_page()
    at.text_input(key="q").input("(").run()  # matches two names: the pick list shows them as text
    assert sorted(pickers(at)[0].options) == sorted(f"{n} (H{i})" for i, n in enumerate(HOSTILE) if "(" in n)
