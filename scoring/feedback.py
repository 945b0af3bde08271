"""The outreach feedback loop: what CSMs did with the lists, kept in the state store.

People act on the lists (contacted, exported, snoozed, dismissed) and say what they know that the
score does not (a risk flag). This module is the only writer of those facts. Why it is shaped so:

- **One transaction per change, always audited.** Each function writes its row(s) and an
  ``audit_log`` row in one ``state.transaction()``, so a crash never leaves an action without its
  audit entry. Audit rows of this module have ``target`` = the account id and a ``detail`` that is
  a JSON object (reason, note, until, expires, band, ...), written by code so it can be read back:
  ``account_history`` is built from it, including snoozes and flags that were since replaced.
- **Imports never touch it.** The state store is a separate SQLite file, so a re-import of the
  data leaves every snooze, dismissal and flag in place.
- **Text from people is stored as written** (reasons, notes): no trimming inside, no escaping.
  Whoever shows it must show it as text, never as HTML or Markdown.
- **Time.** Moments are UTC ISO text (``state.now_utc``); ``until`` and ``expires`` are dates kept
  as ``YYYY-MM-DD``. "Today" is the UTC date, passed in where a rule depends on it.

Rules (docs/OUTREACH.md, "The feedback loop"):

- a snooze holds while ``today < until``: the account is back on ``until``;
- a flag holds while ``expires`` is empty or ``today < expires``;
- a dismissal holds for ``DISMISS_DAYS`` (90) days from its day, and ends earlier when the
  account's band is worse than it was when dismissed, or its health has fallen ``DISMISS_DROP``
  points or more below it (the band and health at dismissal are recorded when the caller gives
  them; ``scoring.lists.dismissal_holds`` applies the band and health part);
- "recently touched" is the date of the newest ``contacted`` or ``exported`` row.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

from .state import StateStore, now_utc

FLAGS = ("at_risk", "watch", "healthy")
BANDS_WORST_LAST = ("healthy", "watch", "at_risk")  # `new` is not ranked: it is no judgement
DISMISS_DAYS = 90
DISMISS_DROP = 10.0
ACTIONS = {  # audit action -> words in the account history
    "outreach.contacted": "contacted",
    "outreach.exported": "exported",
    "outreach.dismissed": "dismissed",
    "outreach.snooze": "snoozed",
    "outreach.snooze_cleared": "snooze cleared",
    "outreach.flag": "flagged",
    "outreach.flag_cleared": "flag cleared",
}
HISTORY_COLUMNS = ["at", "who", "what", "list", "note", "until"]


class Snooze(NamedTuple):
    until: dt.date
    reason: str
    author: str


class Dismissal(NamedTuple):
    at: dt.datetime
    reason: str
    band_then: str | None


@dataclass(frozen=True)
class Feedback:
    """What people said about accounts, as it stands on ``today`` (see ``current``)."""

    today: dt.date
    snoozed: dict[str, Snooze]
    dismissed: dict[str, Dismissal]  # the newest dismissal within DISMISS_DAYS, per account
    flags: pd.DataFrame  # index account_id: flag, reason, expires, author, at (unexpired only)
    last_touched: dict[str, dt.date]  # date of the newest contacted/exported row
    dismissed_health: dict[str, float] = field(default_factory=dict)  # health when dismissed

    @classmethod
    def empty(cls, today: dt.date) -> "Feedback":
        return cls(today, {}, {}, _empty_flags(), {}, {})


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


# ---------------------------------------------------------------- writing


def _need(value: str | None, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


def _audit(con, at: str, author: str, action: str, account_id: str, detail: dict) -> None:
    con.execute("INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (at, author, action, account_id, json.dumps(detail, ensure_ascii=False)))


def _log(con, at: str, author: str, account_id: str, action: str, list_name: str | None,
         note: str) -> int:
    cur = con.execute("INSERT INTO outreach_log(account_id, action, list_name, author, at, note) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (account_id, action, list_name, author, at, note))
    return int(cur.lastrowid)


def mark_contacted(state: StateStore, account_id: str, *, author: str, note: str = "",
                   list_name: str | None = None) -> None:
    """Log that ``author`` reached out to the account (it leaves the lists for the recent days)."""
    _need(account_id, "account_id")
    _need(author, "author")
    at = now_utc()
    with state.transaction() as con:
        log_id = _log(con, at, author, account_id, "contacted", list_name, note or "")
        _audit(con, at, author, "outreach.contacted", account_id,
               {"log_id": log_id, "list": list_name, "note": note or ""})


def log_export(state: StateStore, account_ids: Iterable[str], *, author: str, list_name: str) -> None:
    """Log one ``exported`` row (and one audit row) per account of an export."""
    _need(author, "author")
    ids = list(dict.fromkeys(str(a) for a in account_ids))
    at = now_utc()
    with state.transaction() as con:
        for account_id in ids:
            log_id = _log(con, at, author, account_id, "exported", list_name, "")
            _audit(con, at, author, "outreach.exported", account_id, {"log_id": log_id, "list": list_name})


def snooze(state: StateStore, account_id: str, *, until: dt.date, reason: str, author: str,
           today: dt.date | None = None) -> None:
    """Keep the account off every list until ``until`` (it returns on that day); replaces any
    earlier snooze. ``until`` must be after today (UTC) and ``reason`` not empty."""
    _need(account_id, "account_id")
    _need(author, "author")
    _need(reason, "a snooze needs a reason: the reason")
    today = today or today_utc()
    if not isinstance(until, dt.date) or isinstance(until, dt.datetime):
        raise ValueError(f"until must be a date, got {until!r}")
    if until <= today:
        raise ValueError(f"snooze until {until.isoformat()}: the date must be after today "
                         f"({today.isoformat()})")
    at = now_utc()
    with state.transaction() as con:
        con.execute("INSERT INTO snoozes(account_id, until, reason, author, at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(account_id) DO UPDATE SET until = excluded.until, "
                    "reason = excluded.reason, author = excluded.author, at = excluded.at",
                    (account_id, until.isoformat(), reason, author, at))
        _audit(con, at, author, "outreach.snooze", account_id,
               {"until": until.isoformat(), "reason": reason})


def clear_snooze(state: StateStore, account_id: str, *, author: str) -> None:
    """End the account's snooze now (nothing happens, apart from the audit row, when there is none)."""
    _need(author, "author")
    at = now_utc()
    with state.transaction() as con:
        n = con.execute("DELETE FROM snoozes WHERE account_id = ?", (account_id,)).rowcount
        _audit(con, at, author, "outreach.snooze_cleared", account_id, {"removed": n})


def dismiss(state: StateStore, account_id: str, *, reason: str, author: str,
            list_name: str | None = None, band: str | None = None,
            health: float | None = None) -> None:
    """Take the account off the lists for ``DISMISS_DAYS`` days, or until its band worsens (or its
    health falls ``DISMISS_DROP`` points) from ``band``/``health``, the values the caller saw."""
    _need(account_id, "account_id")
    _need(author, "author")
    _need(reason, "a dismissal needs a reason: the reason")
    health_then = None if health is None or pd.isna(health) else float(health)
    at = now_utc()
    with state.transaction() as con:
        log_id = _log(con, at, author, account_id, "dismissed", list_name, reason)
        _audit(con, at, author, "outreach.dismissed", account_id,
               {"log_id": log_id, "list": list_name, "reason": reason, "band": band,
                "health": health_then})


def set_risk_flag(state: StateStore, account_id: str, *, flag: str, reason: str,
                  expires: dt.date | None, author: str, today: dt.date | None = None) -> None:
    """A CSM's own judgement of the account (``at_risk``, ``watch`` or ``healthy``), shown beside
    the score's band and never overwritten by it; replaces any earlier flag. ``expires``: the day
    the flag stops holding (after today), or None for no end."""
    _need(account_id, "account_id")
    _need(author, "author")
    if flag not in FLAGS:
        raise ValueError(f"flag {flag!r}: expected one of {', '.join(FLAGS)}")
    _need(reason, "a risk flag needs a reason: the reason")
    today = today or today_utc()
    if expires is not None and expires <= today:
        raise ValueError(f"flag expires {expires.isoformat()}: the date must be after today "
                         f"({today.isoformat()}), or none")
    at = now_utc()
    exp = None if expires is None else expires.isoformat()
    with state.transaction() as con:
        con.execute("INSERT INTO overrides(account_id, flag, reason, expires, author, at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(account_id) DO UPDATE SET "
                    "flag = excluded.flag, reason = excluded.reason, expires = excluded.expires, "
                    "author = excluded.author, at = excluded.at",
                    (account_id, flag, reason, exp, author, at))
        _audit(con, at, author, "outreach.flag", account_id, {"flag": flag, "reason": reason, "expires": exp})


def clear_risk_flag(state: StateStore, account_id: str, *, author: str) -> None:
    """Remove the account's risk flag."""
    _need(author, "author")
    at = now_utc()
    with state.transaction() as con:
        n = con.execute("DELETE FROM overrides WHERE account_id = ?", (account_id,)).rowcount
        _audit(con, at, author, "outreach.flag_cleared", account_id, {"removed": n})


def clear_log(state: StateStore, *, author: str, before: dt.date | None = None) -> int:
    """Delete outreach-log rows (contacted, exported, dismissed) made before ``before`` (UTC day),
    or all of them; returns how many. Snoozes, flags and the audit log are kept."""
    _need(author, "author")
    at = now_utc()
    with state.transaction() as con:
        if before is None:
            n = con.execute("DELETE FROM outreach_log").rowcount
        else:
            n = con.execute("DELETE FROM outreach_log WHERE at < ?", (before.isoformat(),)).rowcount
        con.execute("INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                    (at, author, "outreach.clear_log", "outreach_log",
                     json.dumps({"before": None if before is None else before.isoformat(), "rows": n})))
    return n


# ---------------------------------------------------------------- reading


def _empty_flags() -> pd.DataFrame:
    out = pd.DataFrame({"flag": pd.Series(dtype="str"), "reason": pd.Series(dtype="str"),
                        "expires": pd.Series(dtype="object"), "author": pd.Series(dtype="str"),
                        "at": pd.Series(dtype="datetime64[ns]")})
    out.index = pd.Index([], dtype="str", name="account_id")
    return out


def _day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def current(state: StateStore, today: dt.date) -> Feedback:
    """Snoozes, dismissals, flags and last touches as they stand on ``today`` (four short reads)."""
    snoozed = {a: Snooze(_day(u), r, who) for a, u, r, who in state.read(
        "SELECT account_id, until, reason, author FROM snoozes WHERE until > ?", (today.isoformat(),))}
    since = (today - dt.timedelta(days=DISMISS_DAYS - 1)).isoformat()  # a day's dismissal holds 90 days
    dismissed: dict[str, Dismissal] = {}
    health: dict[str, float] = {}
    rows = state.read(
        "SELECT o.account_id, o.at, o.note, a.detail FROM outreach_log AS o "
        "LEFT JOIN audit_log AS a ON a.action = 'outreach.dismissed' AND a.target = o.account_id "
        " AND a.at = o.at AND json_extract(a.detail, '$.log_id') = o.id "
        "WHERE o.action = 'dismissed' AND substr(o.at, 1, 10) >= ? ORDER BY o.at, o.id", (since,))
    for account_id, at, note, detail in rows:  # oldest first: the newest one wins
        info = json.loads(detail) if detail else {}
        dismissed[account_id] = Dismissal(dt.datetime.fromisoformat(at), note, info.get("band"))
        if info.get("health") is not None:
            health[account_id] = float(info["health"])
        else:
            health.pop(account_id, None)
    flag_rows = state.read(
        "SELECT account_id, flag, reason, expires, author, at FROM overrides "
        "WHERE expires IS NULL OR expires > ? ORDER BY account_id", (today.isoformat(),))
    if flag_rows:
        flags = pd.DataFrame(flag_rows, columns=["account_id", "flag", "reason", "expires", "author", "at"],
                             dtype=object)  # object: an empty expiry stays None
        flags["expires"] = [_day(e) for e in flags["expires"]]
        flags["at"] = pd.to_datetime(flags["at"])
        flags = flags.set_index("account_id")
    else:
        flags = _empty_flags()
    touched = {a: _day(d) for a, d in state.read(
        "SELECT account_id, max(substr(at, 1, 10)) FROM outreach_log "
        "WHERE action IN ('contacted', 'exported') GROUP BY account_id")}
    return Feedback(today, snoozed, dismissed, flags, touched, health)


def account_history(state: StateStore, account_id: str) -> pd.DataFrame:
    """Every outreach change to one account, newest first: ``at`` (UTC), ``who``, ``what``,
    ``list``, ``note`` (the reason or note, as written), ``until`` (a snooze's end or a flag's
    expiry). Built from the audit log, so replaced snoozes and flags and cleared log rows stay."""
    rows = state.read(
        "SELECT at, actor, action, detail FROM audit_log WHERE target = ? AND action IN ("
        + ", ".join("?" * len(ACTIONS)) + ") ORDER BY at DESC, id DESC", (account_id, *ACTIONS))
    out = []
    for at, who, action, detail in rows:
        info = json.loads(detail) if detail else {}
        what = ACTIONS[action]
        if action == "outreach.flag":
            what = f"flagged {info.get('flag')}"
        until = info.get("until") or info.get("expires")
        out.append({"at": pd.Timestamp(at), "who": who, "what": what, "list": info.get("list"),
                    "note": info.get("reason", info.get("note", "")) or "",
                    "until": _day(until)})
    if not out:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "at" else "object")
                             for c in HISTORY_COLUMNS})
    frame = pd.DataFrame(out, columns=HISTORY_COLUMNS, dtype=object)  # None stays None
    frame["at"] = pd.to_datetime(frame["at"])
    return frame


def band_worse(now: str | None, then: str | None) -> bool:
    """True when band ``now`` is worse than ``then`` (healthy < watch < at_risk; `new` or unknown
    never counts as worse)."""
    if now not in BANDS_WORST_LAST or then not in BANDS_WORST_LAST:
        return False
    return BANDS_WORST_LAST.index(now) > BANDS_WORST_LAST.index(then)


__all__ = ["ACTIONS", "DISMISS_DAYS", "DISMISS_DROP", "FLAGS", "Dismissal", "Feedback", "Snooze",
           "account_history", "band_worse", "clear_log", "clear_risk_flag", "clear_snooze",
           "current", "dismiss", "log_export", "mark_contacted", "set_risk_flag", "snooze",
           "today_utc"]
