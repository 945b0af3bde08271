"""Outreach lists: which accounts a CSM should call this week, in order, and what to say.

Two lists, one ranking each, used by the pages and by ``python -m scoring export`` alike, so a
download and a page show the same rows in the same order (a test compares them). Formulas, rules
and defaults are restated in docs/OUTREACH.md.

- **At risk**: accounts in band ``at_risk``, plus accounts a CSM flagged ``at_risk``, ranked by
  ``priority = expected ARR at risk x renewal proximity``:

  - expected ARR at risk = ``arr x churn_risk`` where a churn-risk model is fitted
    (``scoring.risk.fit_churn_risk``); else ``arr x (100 - health_score) / 100``, a stated
    stand-in (unknown health counts as 50);
  - renewal proximity = ``1 + max(0, 120 - days_to_renewal) / 120``, days counted from the as-of
    date; a renewal past due counts as due today (2); no renewal date counts as 1.

- **Expansion**: accounts with ``expansion_ready``, ranked by
  ``opportunity = arr x seat_utilisation x (1 + usage_growth)``, ``seat_utilisation =
  active_users / seats``, ``usage_growth = usage / usage_prev - 1``.

Ties go by ``account_id``. Before ranking, alert-fatigue rules hold accounts back: an account
enters only after staying in the list's band ``min_days_in_band`` days (the stored weekly score
history says so) or, on the at-risk list, after falling ``min_drop`` points over 30 days;
flagged accounts skip that rule. Snoozed and dismissed accounts are left out, and so are accounts
contacted or exported in the last ``recent_days`` days unless ``include_recent``. Then the top
``limit`` (the CSM's capacity).

Each row shown gets a suggested play (``scoring.plays``: what to say).

Shape: this module holds the formulas, the list types and ``build_list``, which is pure
(``build_list(book, data, feedback, settings, scope=...)``) and tested without a store. What it
reads from the store comes in a ``ListData`` from ``scoring.list_data.read_list_data`` (SQL,
scoped, bound); the rules over the stored score history are ``scoring.list_history``'s.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .feedback import DISMISS_DROP, Feedback, band_worse
from .list_history import (CHANGE_DAYS, among, arrow_text, band_keepers, change, health_30_days_before,
                           passing)
from .memo import Memo
from .plays import suggest_play
from .risk import expected_arr_at_risk
from .scope import Scope

if TYPE_CHECKING:
    from .current import Book

LISTS = {"at-risk": "At risk", "expansion": "Expansion ready"}
BAND_OF = {"at-risk": "at_risk", "expansion": "healthy"}
MIN_DAYS_IN_BAND = 14
MIN_DROP = 10.0
RECENT_DAYS = 14
CAPACITY = 25  # the pages' default "I can reach N this week"
RENEWAL_WINDOW = 120
REASONS_TOP = 3

BASE_COLUMNS = ["rank", "account_id", "crm_id", "name", "csm_owner", "segment", "arr", "renewal_date",
                "days_to_renewal", "engagement_score", "health_score", "band", "flag", "flag_reason",
                "churn_risk", "change_30d"]
RANK_COLUMNS = {"at-risk": ["expected_arr_at_risk", "priority"], "expansion": ["opportunity"]}
TAIL_COLUMNS = ["seat_utilisation", "usage_growth", "breadth", "reasons", "play", "contact_name",
                "contact_email"]


def columns(kind: str) -> list[str]:
    """The list's columns, in order (the export writes them so)."""
    return BASE_COLUMNS + RANK_COLUMNS[kind] + TAIL_COLUMNS


@dataclass(frozen=True)
class ListSettings:
    """What the viewer asked for; every field has the documented default."""

    kind: str = "at-risk"
    owner: str | None = None  # a csm_owner value, None for everyone in scope
    limit: int | None = None  # capacity: the top N, None for all
    min_days_in_band: int = MIN_DAYS_IN_BAND  # 0 turns the rule off
    min_drop: float = MIN_DROP
    recent_days: int = RECENT_DAYS
    include_recent: bool = False

    def __post_init__(self) -> None:
        if self.kind not in LISTS:
            raise ValueError(f"list {self.kind!r}: expected one of {', '.join(LISTS)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit {self.limit}: expected a whole number of at least 1")
        if self.min_days_in_band < 0 or self.recent_days < 0 or self.min_drop < 0:
            raise ValueError("min_days_in_band, min_drop and recent_days must be 0 or more")

    def describe(self) -> str:
        """The filters in words (shown on the page and written into exports)."""
        band = BAND_OF[self.kind]
        parts = [f"{LISTS[self.kind]} list", f"owner: {self.owner or 'all'}"]
        entry = (f"in band {band} for {self.min_days_in_band}+ days" if self.min_days_in_band
                 else f"in band {band}")
        if self.kind == "at-risk":
            if self.min_days_in_band:
                entry += f" or down {self.min_drop:g}+ points in {CHANGE_DAYS} days"
            entry += ", plus accounts flagged at_risk"
        else:
            entry = "expansion_ready, " + entry
        parts.append(f"entry: {entry}")
        left = ["snoozed", "dismissed"]
        if not self.include_recent and self.recent_days:
            left.append(f"contacted or exported in the last {self.recent_days} days")
        parts.append("left out: " + ", ".join(left))
        parts.append(f"top {self.limit}" if self.limit else "no limit")
        return "; ".join(parts)


@dataclass(frozen=True)
class ListData(Memo):
    """What a list reads from the data store besides the book (``list_data.read_list_data``). Shared
    read-only by every session; ``build_list`` keeps what it derives from the snapshots with it
    (``memo``), as that does not depend on the list's settings or feedback."""

    snapshots: pd.DataFrame  # as_of (date), account_id, health_score, band: this profile version
    renewals: pd.Series  # renewal_date (date or None) by account_id
    contacts: pd.DataFrame  # index account_id: contact_name, contact_email (primary contact)
    features_used: pd.Series  # by account_id; empty when the profile has a breadth signal
    churn: Any = None  # a fitted ChurnRisk (``.predict(health)``), or None


@dataclass(frozen=True)
class OutreachList:
    """One list as shown and exported: rows in rank order, and how they were made."""

    settings: ListSettings
    rows: pd.DataFrame
    as_of: dt.date
    profile: str
    profile_version: int | None
    notes: tuple[str, ...]
    held_back: dict[str, int] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return self.rows["account_id"].tolist()


# ---------------------------------------------------------------- the formulas


def renewal_proximity(days_to_renewal: pd.Series | np.ndarray) -> np.ndarray:
    """``1 + max(0, 120 - days) / 120``, past due counting as 0 days; unknown gives 1."""
    d = np.asarray(days_to_renewal, dtype=np.float64)
    p = 1.0 + np.maximum(0.0, RENEWAL_WINDOW - np.maximum(d, 0.0)) / RENEWAL_WINDOW
    return np.where(np.isnan(d), 1.0, p)


def priority(arr, health, churn_risk, days_to_renewal) -> np.ndarray:
    """The at-risk ranking: expected ARR at risk x renewal proximity."""
    return expected_arr_at_risk(arr, health, churn_risk) * renewal_proximity(days_to_renewal)


def opportunity(arr, seat_utilisation, usage_growth) -> np.ndarray:
    """The expansion ranking: ``arr x seat_utilisation x (1 + usage_growth)`` (unknown parts: 0)."""
    a = np.nan_to_num(np.asarray(arr, dtype=np.float64))
    u = np.nan_to_num(np.asarray(seat_utilisation, dtype=np.float64))
    g = np.nan_to_num(np.asarray(usage_growth, dtype=np.float64))
    return a * u * (1.0 + g)


def dismissal_holds(feedback: Feedback, account_id: str, band_now: str, health_now: float) -> bool:
    """A dismissal within its 90 days still holds unless the band got worse than when it was
    dismissed or health fell ``DISMISS_DROP`` points or more below it."""
    d = feedback.dismissed.get(account_id)
    if d is None:
        return False
    if band_worse(band_now, d.band_then):
        return False
    then = feedback.dismissed_health.get(account_id)
    if then is not None and np.isfinite(health_now) and health_now <= then - DISMISS_DROP:
        return False
    return True


# ---------------------------------------------------------------- the list


def owners(book: "Book", scope: Scope) -> list[str]:
    """The CSM owners of the accounts the viewer sees, sorted (the pages' picker, the CLI's check)."""
    return sorted(book.visible(scope)["csm_owner"].dropna().astype("str").unique().tolist())


def account_url(account_id: str, name: object) -> str:
    """The Account page's address for one account (``/Account?account=<id>``); the name follows
    ``#`` so a link column can show it (the id when there is no name)."""
    from urllib.parse import quote

    text = account_id if name is None or (isinstance(name, float) and math.isnan(name)) or name == "" else name
    return f"/Account?account={quote(str(account_id), safe='')}#{quote(str(text), safe='')}"


def _breadth(book: "Book", data: ListData) -> tuple[pd.Series, str]:
    sig = next((s for s in book.profile.signals if s.dimension == "breadth"), None)
    if sig is not None:
        return book.inputs[sig.name], f"breadth: {sig.label} (signal {sig.name})"
    return (data.features_used.reindex(book.inputs.index),
            f"breadth: features used in the last {book.profile.window_days} days")


def build_list(book: "Book", data: ListData, feedback: Feedback, settings: ListSettings, *,
               scope: Scope) -> OutreachList:
    """The ranked list for ``settings``, as the viewer with ``scope`` may see it (pure)."""
    kind, band = settings.kind, BAND_OF[settings.kind]
    rows = book.visible(scope)
    if settings.owner is not None:
        rows = rows[rows["csm_owner"] == settings.owner]
    # who is a candidate: the band (or flag) and expansion rules, before any per-row work, so the
    # columns below are computed for the candidates only, not for every account in the book
    flags = feedback.flags.reindex(rows.index)
    flagged = pd.Series(flags["flag"].astype(object).to_numpy() == "at_risk", index=rows.index)
    if kind == "at-risk":
        candidates = rows["band"].astype("str").eq(band) | flagged
    else:
        candidates = rows["expansion_ready"].fillna(False).astype(bool)
    rows, flags, flagged = rows[candidates], flags[candidates], flagged[candidates]
    inputs = book.inputs.loc[rows.index]
    notes: list[str] = []
    held: dict[str, int] = {}

    df = pd.DataFrame(index=rows.index)
    for c in ("crm_id", "name", "csm_owner", "segment", "arr", "engagement_score", "health_score"):
        df[c] = rows[c]
    df["band"] = rows["band"].astype("str")
    for c, src in (("flag", "flag"), ("flag_reason", "reason")):  # text: None when there is no flag
        df[c] = flags[src].astype(object).where(flags[src].notna(), None)
    renew = pd.to_datetime(data.renewals.reindex(rows.index))
    df["renewal_date"] = renew.dt.date.where(renew.notna(), None)
    df["days_to_renewal"] = (renew - pd.Timestamp(book.as_of)).dt.days.astype("float64")
    churn = data.churn.predict(df["health_score"].to_numpy()) if data.churn is not None else \
        np.full(len(df), np.nan)
    df["churn_risk"] = churn
    notes.append(f"churn_risk: {data.churn.describe()}" if data.churn is not None and hasattr(data.churn, "describe")
                 else "churn_risk: no churn-risk model (not enough score history): expected ARR at risk "
                      "uses arr x (100 - health_score) / 100 instead")
    # what the snapshots say does not depend on the settings or feedback: kept with the data
    then = data.memo(("health_30_days_before", book.as_of),
                     lambda: health_30_days_before(data.snapshots, book.as_of))
    df["change_30d"] = change(df["health_score"], then)
    seats = inputs["seats"].where(inputs["seats"] > 0)
    df["seat_utilisation"] = inputs["active_users"] / seats
    prev = inputs["usage_prev"].where(inputs["usage_prev"] > 0)
    df["usage_growth"] = inputs["usage"] / prev - 1.0
    breadth, breadth_note = _breadth(book, data)
    df["breadth"] = breadth.reindex(df.index).astype("float64")
    notes.append(breadth_note)
    for c in ("tickets_open", "tickets_open_weighted", "days_overdue_max"):
        df[c] = inputs[c]

    # who of the candidates enters past the alert-fatigue rule
    days = settings.min_days_in_band
    stays, note = passing(df.index, data.memo(("band_keepers", band, book.as_of, days),
                                              lambda: band_keepers(data.snapshots, band, book.as_of, days)))
    if note:
        notes.append(note)
    enters = stays
    if kind == "at-risk" and settings.min_days_in_band and note is None:
        enters = stays | (df["change_30d"] <= -settings.min_drop).fillna(False)
    passes = enters | (flagged if kind == "at-risk" else False)
    held["not yet long enough in the band"] = int((~passes).sum())
    df = df[passes]

    # feedback: snoozed, dismissed, recently touched
    ids = arrow_text(df.index)
    snoozed = among(ids, feedback.snoozed)
    dismissed = among(ids, feedback.dismissed)  # then whether each dismissal still holds
    for i in np.flatnonzero(dismissed):
        dismissed[i] = dismissal_holds(feedback, df.index[i], df["band"].iat[i], df["health_score"].iat[i])
    recent = np.zeros(len(df), dtype=bool)
    if not settings.include_recent and settings.recent_days:
        since = feedback.today - dt.timedelta(days=settings.recent_days)
        recent = among(ids, [a for a, when in feedback.last_touched.items() if when > since])
    held["snoozed"] = int(snoozed.sum())
    held["dismissed"] = int((dismissed & ~snoozed).sum())
    held["contacted or exported recently"] = int((recent & ~snoozed & ~dismissed).sum())
    df = df[~(snoozed | dismissed | recent)]

    # rank
    if kind == "at-risk":
        df["expected_arr_at_risk"] = expected_arr_at_risk(df["arr"], df["health_score"], df["churn_risk"])
        df["priority"] = priority(df["arr"], df["health_score"], df["churn_risk"], df["days_to_renewal"])
        key = "priority"
    else:
        df["opportunity"] = opportunity(df["arr"], df["seat_utilisation"], df["usage_growth"])
        key = "opportunity"
    df = df.rename_axis("account_id").reset_index()
    df = df.sort_values([key, "account_id"], ascending=[False, True], kind="stable")
    if settings.limit is not None:
        held["over capacity"] = max(0, len(df) - settings.limit)
        df = df.head(settings.limit)
    df = df.reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1, dtype=np.int64))

    # words and contacts, for the rows shown only
    from .explain import reasons

    df["reasons"] = reasons(book, pd.Index(df["account_id"]), top=REASONS_TOP).to_numpy() if len(df) else []
    df["play"] = [suggest_play(r) for r in df.to_dict("records")]
    contacts = data.contacts.reindex(df["account_id"])
    df["contact_name"] = contacts["contact_name"].to_numpy() if len(df) else []
    df["contact_email"] = contacts["contact_email"].to_numpy() if len(df) else []
    out = df[columns(kind)].astype({"account_id": "str", "rank": "int64"})
    return OutreachList(settings, out, book.as_of, book.profile.name, book.profile.version,
                        tuple(notes), held)


__all__ = ["BAND_OF", "account_url", "CAPACITY", "LISTS", "ListData", "ListSettings", "OutreachList",
           "build_list", "columns", "dismissal_holds", "expected_arr_at_risk", "opportunity", "owners", "priority",
           "renewal_proximity"]
