"""The outreach feedback loop (``scoring.feedback``): what people did, audited, and how long it holds.

Each test writes its own state file under ``tmp_path``; "today" is moved by passing dates to
``current``. The re-import test imports a small folder written in code into a fresh data file.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import digest
from scoring import feedback as fb
from scoring.state import StateStore

TODAY = fb.today_utc()
DAY = dt.timedelta(days=1)
HOSTILE = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "a, \"b\"\nc",
           "<script>alert(1)</script> **bold** [link](http://x)", "Ωμέγα 株式会社 شركة"]


@pytest.fixture
def state(tmp_path) -> StateStore:
    return StateStore(tmp_path / "state.sqlite")


def audit(state: StateStore) -> list[tuple]:
    return state.read("SELECT actor, action, target, detail FROM audit_log ORDER BY id")


def test_every_change_is_one_transaction_with_its_audit_row(state):
    fb.mark_contacted(state, "A1", author="ann", note="called", list_name="at-risk")
    fb.log_export(state, ["A1", "A2", "A2"], author="bob", list_name="expansion")
    fb.snooze(state, "A3", until=TODAY + 7 * DAY, reason="holiday", author="ann")
    fb.clear_snooze(state, "A3", author="ann")
    fb.dismiss(state, "A4", reason="known", author="cy", band="at_risk", health=31.5)
    fb.set_risk_flag(state, "A5", flag="watch", reason="exec change", expires=None, author="dee")
    fb.clear_risk_flag(state, "A5", author="dee")
    assert fb.clear_log(state, author="ops") == 4
    rows = audit(state)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("ann", "outreach.contacted", "A1"), ("bob", "outreach.exported", "A1"),
        ("bob", "outreach.exported", "A2"), ("ann", "outreach.snooze", "A3"),
        ("ann", "outreach.snooze_cleared", "A3"), ("cy", "outreach.dismissed", "A4"),
        ("dee", "outreach.flag", "A5"), ("dee", "outreach.flag_cleared", "A5"),
        ("ops", "outreach.clear_log", "outreach_log")]
    assert json.loads(rows[5][3])["band"] == "at_risk" and json.loads(rows[5][3])["health"] == 31.5
    assert json.loads(rows[-1][3]) == {"before": None, "rows": 4}


def test_a_failed_write_saves_nothing(state):
    with pytest.raises(ValueError, match="after today"):
        fb.snooze(state, "A1", until=TODAY, reason="r", author="a")
    with pytest.raises(ValueError, match="reason"):
        fb.snooze(state, "A1", until=TODAY + DAY, reason="  ", author="a")
    with pytest.raises(ValueError, match="reason"):
        fb.dismiss(state, "A1", reason="", author="a")
    with pytest.raises(ValueError, match="expected one of at_risk, watch, healthy"):
        fb.set_risk_flag(state, "A1", flag="red", reason="r", expires=None, author="a")
    with pytest.raises(ValueError, match="after today"):
        fb.set_risk_flag(state, "A1", flag="watch", reason="r", expires=TODAY - DAY, author="a")
    with pytest.raises(ValueError, match="author"):
        fb.mark_contacted(state, "A1", author="")
    assert audit(state) == [] and state.read("SELECT count(*) FROM snoozes")[0][0] == 0


def test_snooze_replaces_and_expires_on_its_day(state):
    fb.snooze(state, "A1", until=TODAY + 3 * DAY, reason="first", author="a")
    fb.snooze(state, "A1", until=TODAY + 10 * DAY, reason="second", author="b")
    now = fb.current(state, TODAY)
    assert now.snoozed == {"A1": fb.Snooze(TODAY + 10 * DAY, "second", "b")}
    assert "A1" in fb.current(state, TODAY + 9 * DAY).snoozed
    assert "A1" not in fb.current(state, TODAY + 10 * DAY).snoozed  # back on the until day
    fb.clear_snooze(state, "A1", author="a")
    assert fb.current(state, TODAY).snoozed == {}


def test_dismissal_holds_ninety_days(state):
    fb.dismiss(state, "A1", reason="old news", author="a", band="watch", health=45.0)
    held = fb.current(state, TODAY)
    assert held.dismissed["A1"].reason == "old news" and held.dismissed["A1"].band_then == "watch"
    at, reason, band_then = held.dismissed["A1"]  # a plain (at, reason, band_then) triple
    assert at.date() == TODAY and held.dismissed_health == {"A1": 45.0}
    assert "A1" in fb.current(state, TODAY + (fb.DISMISS_DAYS - 1) * DAY).dismissed
    assert "A1" not in fb.current(state, TODAY + fb.DISMISS_DAYS * DAY).dismissed
    assert fb.band_worse("at_risk", "watch") and not fb.band_worse("watch", "watch")
    assert not fb.band_worse("new", "healthy") and not fb.band_worse("at_risk", None)


def test_flags_expire_and_last_touched(state):
    fb.set_risk_flag(state, "A1", flag="at_risk", reason="champion left", expires=TODAY + 5 * DAY, author="a")
    fb.set_risk_flag(state, "A2", flag="healthy", reason="fine", expires=None, author="b")
    fb.set_risk_flag(state, "A2", flag="watch", reason="second thoughts", expires=None, author="b")
    flags = fb.current(state, TODAY).flags
    assert flags.loc["A1", "flag"] == "at_risk" and flags.loc["A1", "expires"] == TODAY + 5 * DAY
    assert flags.loc["A2", "flag"] == "watch" and flags.loc["A2", "reason"] == "second thoughts"
    assert list(flags.columns) == ["flag", "reason", "expires", "author", "at"]
    assert list(fb.current(state, TODAY + 5 * DAY).flags.index) == ["A2"]  # expired on its day
    fb.mark_contacted(state, "A3", author="a")
    fb.log_export(state, ["A4"], author="a", list_name="at-risk")
    fb.dismiss(state, "A5", reason="x", author="a")
    assert fb.current(state, TODAY).last_touched == {"A3": TODAY, "A4": TODAY}
    assert fb.current(state, TODAY).flags.index.name == "account_id"
    assert fb.Feedback.empty(TODAY).flags.empty


def test_history_keeps_text_as_written_newest_first(state):
    for i, text in enumerate(HOSTILE):
        fb.mark_contacted(state, "A1", author=f"p{i}", note=text)
    fb.snooze(state, "A1", until=TODAY + 2 * DAY, reason=HOSTILE[0], author="s")
    fb.snooze(state, "A1", until=TODAY + 4 * DAY, reason="later", author="s")
    fb.set_risk_flag(state, "A1", flag="at_risk", reason=HOSTILE[-1], expires=TODAY + 9 * DAY, author="f")
    fb.clear_risk_flag(state, "A1", author="f")
    assert fb.clear_log(state, author="ops") == len(HOSTILE)
    h = fb.account_history(state, "A1")
    assert list(h.columns) == ["at", "who", "what", "list", "note", "until"]
    assert h.what.tolist()[:4] == ["flag cleared", "flagged at_risk", "snoozed", "snoozed"]
    assert h.until.tolist()[1:4] == [TODAY + 9 * DAY, TODAY + 4 * DAY, TODAY + 2 * DAY]
    assert h.note.tolist()[4:] == HOSTILE[::-1], "the log was cleared; the history (audit) keeps it"
    assert fb.account_history(state, "nobody").empty


def test_clear_log_before_a_date(state):
    fb.mark_contacted(state, "A1", author="a")
    assert fb.clear_log(state, author="ops", before=TODAY) == 0
    assert fb.clear_log(state, author="ops", before=TODAY + DAY) == 1
    assert fb.current(state, TODAY).last_touched == {}


def test_state_survives_a_reimport(good_dir, db, tmp_path):
    from scoring.ingest import import_dir

    state_file = tmp_path / "state.sqlite"
    import_dir(good_dir, db, state=state_file)
    state = StateStore(state_file)
    fb.snooze(state, "A1", until=TODAY + 5 * DAY, reason="r", author="a")
    fb.dismiss(state, "A2", reason="d", author="a")
    fb.set_risk_flag(state, "A3", flag="at_risk", reason="f", expires=None, author="a")
    fb.mark_contacted(state, "A4", author="a")
    before, before_digest = fb.current(state, TODAY), digest(state_file)
    import_dir(good_dir, db, state=state_file)
    after = fb.current(state, TODAY)
    assert digest(state_file) == before_digest
    assert after.snoozed == before.snoozed and after.dismissed == before.dismissed
    assert after.last_touched == before.last_touched and after.flags.equals(before.flags)
