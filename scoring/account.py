"""The Account page's figures: one account, everything a CSM needs before a call.

Two kinds of function, both tested without Streamlit:

- **Queries** ``fn(ds, *, scope, account_id, ...)`` read the data store for what the scored book
  does not hold: the account as imported, its score history, its weekly usage, contacts, open
  tickets, overdue invoices and NPS answers. Each applies ``scope.account_filter`` and binds every
  value, so an account outside the viewer's scope gives exactly what an unknown id gives: nothing.
  Time follows the contract: as of T, only what was known before T (events before T, a ticket open
  on T when ``closed_at`` is empty or >= T, an invoice outstanding when ``paid_at`` is empty or >= T).
- **Book views** take a scored ``Book`` and say in words what ``scoring.explain`` computes:
  data confidence, contributions, the burst flag, and why the score moved since a snapshot.

Formulas and where each number comes from: docs/DASHBOARD.md, "Account".
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import explain, moved
from .current import Book
from .profile import ProfileError
from .scope import Scope
from .signals_health import NPS_DAYS, PRIORITY_WEIGHTS
from .store import DataStore

SEARCH_LIMIT = 50  # matches listed in the pick list; more means "refine the search"
USAGE_WEEKS = 26  # the usage trend: about six months of whole weeks ending at the as-of date
COMPARE_DAYS = 30  # why it moved: by default since the snapshot nearest this many days back
NPS_SHOWN = 10
SNOOZE_DAYS = dt.timedelta(days=14)  # the snooze form's suggested end
ACCOUNT_COLUMNS = ("account_id", "name", "segment", "plan", "region", "csm_owner", "crm_id", "arr",
                   "seats", "contract_start", "renewal_date")


# ---------------------------------------------------------------- queries


def find_accounts(ds: DataStore, *, scope: Scope, text: str, limit: int = SEARCH_LIMIT) -> pd.DataFrame:
    """Accounts whose id is ``text`` exactly or whose name contains it (any case), exact id
    first, then by name. Columns: account_id, name, segment, csm_owner."""
    text = (text or "").strip()
    cols = ["account_id", "name", "segment", "csm_owner"]
    if not text:
        return pd.DataFrame(columns=cols)
    where, params = scope.account_filter()
    return ds.df(f"""
        SELECT account_id, name, segment, csm_owner FROM accounts
        WHERE {where} AND (account_id = ? OR strpos(lower(coalesce(name, '')), lower(?)) > 0)
        ORDER BY account_id = ? DESC, lower(name), account_id LIMIT ?""",
                 [*params, text, text, text, int(limit)])


def account_facts(ds: DataStore, *, scope: Scope, account_id: str) -> dict | None:
    """The account's row of the accounts table, as imported; None when there is no such account
    in the viewer's scope (an account outside it looks exactly like an unknown id)."""
    where, params = scope.account_filter()
    df = ds.df(f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts WHERE account_id = ? AND {where}",
               [account_id, *params])
    if df.empty:
        return None
    facts = {k: None if pd.isna(v) else v for k, v in df.iloc[0].to_dict().items()}
    for k in ("contract_start", "renewal_date"):
        facts[k] = None if facts[k] is None else pd.Timestamp(facts[k]).date()
    return facts


def score_history(ds: DataStore, *, scope: Scope, account_id: str, profile_name: str,
                  as_of: dt.date) -> pd.DataFrame:
    """The account's stored scores (``score_snapshots``) of profile ``profile_name``, one per
    snapshot date up to ``as_of``. When a date holds several versions, the one made first counts
    (what the product said at the time; the Portfolio's rule). ``version_changed`` marks a date
    whose version differs from the account's previous snapshot."""
    where, params = scope.account_filter("s.account_id")
    df = ds.df(f"""
        WITH made AS (
            SELECT as_of, profile_version, min(created_at) AS made FROM score_snapshots
            WHERE profile = ? AND as_of <= ? GROUP BY as_of, profile_version),
        pick AS (
            SELECT as_of, profile_version FROM made
            QUALIFY row_number() OVER (PARTITION BY as_of ORDER BY made, profile_version DESC) = 1)
        SELECT s.as_of, s.profile_version, s.engagement_score, s.health_score, s.band,
               s.data_confidence
        FROM score_snapshots s JOIN pick p USING (as_of, profile_version)
        WHERE s.profile = ? AND s.account_id = ? AND {where}
        ORDER BY s.as_of""", [profile_name, as_of, profile_name, account_id, *params])
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.date
    versions = df["profile_version"]
    df["version_changed"] = (versions != versions.shift()) & versions.shift().notna()
    return df


def value_event_types(catalogue: pd.DataFrame) -> tuple[str, ...]:
    """The event types the catalogue (with the app's classifications) counts as value actions."""
    flags = catalogue["value_action"].fillna(False).astype(bool)
    return tuple(sorted(catalogue.loc[flags, "event_type"].astype(str)))


def weekly_usage(ds: DataStore, *, scope: Scope, account_id: str, as_of: dt.date,
                 value_types: tuple[str, ...] | None = None, weeks: int = USAGE_WEEKS) -> pd.DataFrame:
    """Events (sum of quantity, before any cap) per week and kind (``value``/``passive``) over the
    ``weeks`` whole weeks before ``as_of``: week k covers [T - 7(k+1), T - 7k) days. Every week and
    kind is listed (0 when none). ``value_types``: the value-action event types (the catalogue
    with the app's classifications); None reads ``value_action`` from the imported event_types
    table (an event type missing there is passive). Columns: week_start, kind, events."""
    where, params = scope.account_filter("u.account_id")
    start = as_of - dt.timedelta(days=7 * weeks)
    if value_types is not None:
        is_value, join, vparams = "list_contains(?, u.event_type)", "", [list(value_types)]
    elif "event_types" in ds.tables():
        is_value, vparams = "coalesce(t.value_action, FALSE)", []
        join = "LEFT JOIN event_types t ON t.event_type = u.event_type"
    else:
        is_value, join, vparams = "FALSE", "", []
    df = ds.df(f"""
        SELECT ((?::DATE - u.occurred_at::DATE) - 1) // 7 AS k, {is_value} AS is_value,
               sum(coalesce(u.quantity, 1))::DOUBLE AS events
        FROM usage_events u {join}
        WHERE u.account_id = ? AND u.occurred_at >= ?::TIMESTAMP AND u.occurred_at < ?::TIMESTAMP
          AND {where}
        GROUP BY ALL""", [as_of, *vparams, account_id, start, as_of, *params])
    grid = pd.MultiIndex.from_product([range(weeks), [True, False]], names=["k", "is_value"])
    events = df.set_index(["k", "is_value"])["events"].reindex(grid, fill_value=0.0).reset_index()
    events["week_start"] = [as_of - dt.timedelta(days=7 * (k + 1)) for k in events["k"]]
    events["kind"] = np.where(events["is_value"], "value", "passive")
    return events.sort_values(["week_start", "kind"])[["week_start", "kind", "events"]].reset_index(drop=True)


def _optional(ds: DataStore, table: str, sql: str, params: list, columns: list[str]) -> pd.DataFrame:
    if table not in ds.tables():
        return pd.DataFrame(columns=columns)
    return ds.df(sql, params)


def contacts(ds: DataStore, *, scope: Scope, account_id: str) -> pd.DataFrame:
    """People at the account (optional table ``contacts``), the primary contact first."""
    where, params = scope.account_filter()
    return _optional(ds, "contacts", f"""
        SELECT name, role, email, coalesce(is_primary, FALSE) AS is_primary FROM contacts
        WHERE account_id = ? AND {where} ORDER BY is_primary DESC, lower(name)""",
                     [account_id, *params], ["name", "role", "email", "is_primary"])


def open_tickets(ds: DataStore, *, scope: Scope, account_id: str, as_of: dt.date) -> pd.DataFrame:
    """Tickets open on ``as_of`` (opened before it, ``closed_at`` empty or on/after it), the most
    urgent and oldest first, with the days they have been open."""
    where, params = scope.account_filter()
    rank = "CASE priority " + " ".join(f"WHEN '{p}' THEN {i}" for i, p in  # fixed words, not data
                                       enumerate(reversed(list(PRIORITY_WEIGHTS)))) + " END"
    return _optional(ds, "support_tickets", f"""
        SELECT ticket_id, opened_at, priority, sentiment, ?::DATE - opened_at::DATE AS days_open
        FROM support_tickets
        WHERE account_id = ? AND opened_at < ?::TIMESTAMP
          AND (closed_at IS NULL OR closed_at >= ?::TIMESTAMP) AND {where}
        ORDER BY {rank}, opened_at""", [as_of, account_id, as_of, as_of, *params],
                     ["ticket_id", "opened_at", "priority", "sentiment", "days_open"])


def overdue_invoices(ds: DataStore, *, scope: Scope, account_id: str, as_of: dt.date) -> pd.DataFrame:
    """Invoices outstanding on ``as_of`` and past due (issued and due before it, ``paid_at`` empty
    or on/after it), the oldest due first, with the days past due."""
    where, params = scope.account_filter()
    return _optional(ds, "invoices", f"""
        SELECT invoice_id, issued_at, due_at, amount, ?::DATE - due_at AS days_overdue FROM invoices
        WHERE account_id = ? AND issued_at < ?::DATE AND due_at < ?::DATE
          AND (paid_at IS NULL OR paid_at >= ?::DATE) AND {where}
        ORDER BY due_at, invoice_id""", [as_of, account_id, as_of, as_of, as_of, *params],
                     ["invoice_id", "issued_at", "due_at", "amount", "days_overdue"])


def recent_nps(ds: DataStore, *, scope: Scope, account_id: str, as_of: dt.date,
               limit: int = NPS_SHOWN) -> pd.DataFrame:
    """The newest NPS answers before ``as_of``; ``in_score`` marks those in the 180 days the NPS
    health component averages."""
    where, params = scope.account_filter()
    return _optional(ds, "nps_responses", f"""
        SELECT responded_at, score, user_id, responded_at >= ?::DATE AS in_score FROM nps_responses
        WHERE account_id = ? AND responded_at < ?::DATE AND {where}
        ORDER BY responded_at DESC LIMIT ?""",
                     [as_of - dt.timedelta(days=NPS_DAYS), account_id, as_of, *params, int(limit)],
                     ["responded_at", "score", "user_id", "in_score"])


# ---------------------------------------------------------------- the scored account


def scored_row(book: Book, scope: Scope, account_id: str) -> pd.Series | None:
    """The account's scores when it is active on the book's date and the viewer may see it."""
    rows = book.visible(scope)
    return rows.loc[account_id] if account_id in rows.index else None


def band_help(book: Book) -> str:
    """How the profile in use bands an account, in words (the thresholds belong to the profile)."""
    b, new = book.profile.bands, book.profile.new_rule
    return (f"at risk: health below {b.at_risk_below:g}; watch: {b.at_risk_below:g} to "
            f"{b.healthy_from:g}; healthy: {b.healthy_from:g} and above; new: younger than "
            f"{new.min_age_days} days, or fewer than {new.min_active_days} active days in the window "
            f"while younger than {2 * new.min_age_days} days (too early to judge)")


def confidence_text(book: Book, account_id: str) -> str:
    """Data confidence in words: the share of the weight that stood on data, and what was missing."""
    row, profile, norm = book.scores.loc[account_id], book.profile, book.normalised
    x = norm.matrix[norm.index.get_loc(account_id)]
    missing = [s.label for s in profile.signals
               if s.weight > 0 and not np.isfinite(x[norm.signals.index(s.name)])]
    missing += [label for c, label in explain.COMPONENT_LABELS.items()
                if profile.health_weights[c] > 0 and not np.isfinite(row[f"health_{c}"])]
    text = f"Health stands on {row['data_confidence']:.0%} of the weight"
    if missing:
        return text + "; no data for: " + ", ".join(missing) + " (left out, their weight shared out)"
    return text + ": every weighted signal and component had data"


def contributions(book: Book, account_id: str) -> pd.DataFrame:
    """Each signal's and health component's contribution to health_score, in points (they add up
    to it). Columns: item, label, kind (signal or component), points."""
    parts = explain.health_contributions(book, pd.Index([account_id])).iloc[0]
    labels = {s.name: s.label for s in book.profile.signals} | explain.COMPONENT_LABELS
    kinds = {s.name: "signal (via engagement)" for s in book.profile.signals}
    return pd.DataFrame({"item": parts.index, "label": [labels[i] for i in parts.index],
                         "kind": [kinds.get(i, "health component") for i in parts.index],
                         "points": parts.to_numpy()})


def signal_table(e: explain.Explanation) -> pd.DataFrame:
    """The signals of ``explain``: value, previous window, change, peer median, points."""
    cols = {"label": "signal", "value": "value", "previous": "previous window", "change": "change",
            "peer_median": "peer median", "health_points": "points in health",
            "points": "points vs peers"}
    return e.signals[list(cols)].rename(columns=cols).reset_index(drop=True)


def component_table(e: explain.Explanation) -> pd.DataFrame:
    """The health components with data: score, book median, points in health, points vs median."""
    cols = {"label": "component", "score": "score", "book_median": "book median",
            "health_points": "points in health", "points": "points vs median"}
    return e.components[list(cols)].rename(columns=cols).reset_index(drop=True)


def value_share_text(share: float) -> str:
    if not math.isfinite(share):
        return "No engagement this window, so no value share."
    return (f"{share:.0%} of engagement comes from value actions (work done in the product), "
            f"{1 - share:.0%} from passive use such as sign-ins and page views.")


def burst_text(book: Book, account_id: str) -> str | None:
    """The burst flag in words, or None when it is not set."""
    row = book.inputs.loc[account_id]
    if not bool(row["burst"]):
        return None
    parts = []
    if np.isfinite(row["burst_user_share"]) and row["burst_user_share"] > 0.8:
        parts.append(f"{row['burst_user_share']:.0%} came from one user")
    if np.isfinite(row["burst_day_share"]) and row["burst_day_share"] > 0.8:
        parts.append(f"{row['burst_day_share']:.0%} from a single day")
    return (f"Burst: of this window's {row['usage']:,.0f} events, " + " and ".join(parts)
            + ". One person or one day making most of the activity may be a script, a migration or "
            "a single champion rather than broad adoption. The flag is shown, not scored.")


# ---------------------------------------------------------------- why it moved


def default_since(dates: list[dt.date], as_of: dt.date, days: int = COMPARE_DAYS) -> int | None:
    """Index in ``dates`` of the snapshot nearest ``days`` before ``as_of`` (the earlier on a tie)."""
    if not dates:
        return None
    target = as_of - dt.timedelta(days=days)
    return min(range(len(dates)), key=lambda i: (abs((dates[i] - target).days), dates[i]))


def snapshot_ref(profile_name: str, profile_version: int) -> str:
    """The profile reference of a snapshot: ``NAME@N``; version 0 is the built-in default."""
    return profile_name if not profile_version else f"{profile_name}@{int(profile_version)}"


PARTS = {"own": "the account's own change", "peers": "a shift among its peers",
         "profile": "the profile change"}


@dataclass(frozen=True)
class Comparison:
    """Why the account's health moved between a snapshot date and the book's date."""

    since: dt.date
    table: pd.DataFrame | None  # per item, then a Total row: before, after, own, peers, profile, change
    summary: str  # what dominated, in words
    notes: list[str] = field(default_factory=list)  # profile fallback, recomputed values


BookFor = Callable[[str | None, dt.date], Book]


def compare(book_for: BookFor, after: Book, account_id: str, *, since: dt.date, profile_name: str,
            profile_version: int, snapshot_health: float | None = None) -> Comparison:
    """Split the change in health since the snapshot of ``since`` with ``moved.why_moved``.

    ``book_for(ref, as_of)`` scores the whole book (``None``: the profile ``after`` uses). The
    earlier date is scored with the snapshot's profile version; when that version no longer
    exists, with the current profile, and the notes say so.
    """
    notes: list[str] = []
    ref = snapshot_ref(profile_name, profile_version)
    try:
        before = book_for(ref, since)
    except ProfileError:
        notes.append(f"The profile of that snapshot ({ref}) no longer exists, so both dates are "
                     f"scored with the current profile ({after.profile.ref}): no profile part.")
        before = book_for(None, since)
    same = before.profile.ref == after.profile.ref and before.profile == after.profile
    try:
        old = None if same else book_for(ref, after.as_of)
        split = moved.why_moved(before, after, account_id, after_old_profile=old)
    except KeyError as exc:
        return Comparison(since, None, str(exc.args[0]), notes)
    then = float(before.scores.at[account_id, "health_score"])
    if snapshot_health is not None and np.isfinite(snapshot_health) and abs(then - snapshot_health) > 0.05:
        notes.append(f"Recomputed from the data as it is now, health on {since} is {then:.1f}; the "
                     f"snapshot stored {snapshot_health:.1f} (the data was re-imported since).")
    total = split[["before", "after", "own", "peers", "profile", "change"]].sum()
    table = pd.concat([split.drop(columns="item"),
                       pd.DataFrame([{"label": "Total", **total.to_dict()}])], ignore_index=True)
    return Comparison(since, table, _summary(split, total, since, after.as_of), notes)


def _summary(split: pd.DataFrame, total: pd.Series, since: dt.date, until: dt.date) -> str:
    change = total["change"]
    way = "up" if change > 0 else "down"
    went = "barely moved" if abs(change) < 0.05 else f"went {way} {abs(change):.1f} points"
    text = f"Health {went}, from {total['before']:.1f} on {since} to {total['after']:.1f} on {until}."
    part = max(PARTS, key=lambda k: abs(total[k]))
    if abs(total[part]) < 0.05:
        return text
    lead = split.loc[split[part].abs().idxmax()]
    text += (f" Mostly {PARTS[part]} ({total[part]:+.1f} points), led by {lead['label']} "
             f"({lead[part]:+.1f}).")
    others = [f"{PARTS[k]} {total[k]:+.1f}" for k in PARTS if k != part and abs(total[k]) >= 0.05]
    return text + (" The rest: " + ", ".join(others) + "." if others else "")
