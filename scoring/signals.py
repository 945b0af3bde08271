"""Signals: the inputs frame, one row per account active on T, from what was known before T.

This is the step between the data store and the math (``docs/SCORING.md``, "The inputs frame"
and "Signals"): ``compute_inputs`` runs one DuckDB query (built in ``signals_sql``, health inputs
in ``signals_health``) and returns a pandas frame indexed by ``account_id`` that ``normalize`` and
``scores`` read without touching a store. It takes any DuckDB connection or cursor whose current
catalog holds the data tables, so the read-only app (``compute_inputs_ds``) and the writers at
import and snapshot time share it.

Formulas, for an account and the as-of date T (a date; as a time, midnight UTC at its start):

- Windows: current = [T - W, T), previous = [T - 2W, T - W), W = ``profile.window_days``; a
  trend signal's ``__prev`` also needs the window before. Events count when ``occurred_at`` is in
  a window; a day belongs to the window its midnight is in.
- Passive cap: the passive events (``value_action`` false) of one user on one day (events without
  a user id: of the account on that day) count at most C = ``profile.passive_daily_cap``. Their
  quantities are scaled by ``min(1, C / their total quantity)`` and, for ``count`` signals, their
  rows by ``min(1, C / their number of rows)``, so each event type keeps its share of the capped
  total. The cap applies before every sum: signals, ``usage``, ``passive_usage``, burst shares.
- Kinds, over the events a signal selects (event type in ``event_types`` or feature in
  ``features``; both empty = all events; then only value actions when ``value_only``): ``count`` =
  capped rows; ``sum`` = capped quantity; ``distinct_users`` = distinct non-empty user ids;
  ``distinct_features`` = distinct features; ``active_days`` = distinct days with such an event.
- ``per='seat'``: value / ``seats``; ``per='active_user'``: value / ``active_users`` of the same
  window. ``trend``: (current - previous) / previous, each after ``per``.
- Users are *known* for an account unless it has events in the scanned windows and none of them
  carries a user id; when unknown, ``active_users``, ``distinct_users`` signals and
  ``burst_user_share`` are NaN (an account with no events at all has 0 active users).
- Missing values, one rule: a value is NaN only when it is undefined: a divisor (seats, active
  users, a trend's previous value) is 0 or NaN, users are unknown, there is nothing to take a
  mean or share of (``nps_mean``, ``ticket_sentiment``, burst shares when ``usage`` is 0, no MRR
  row in force), or the optional table behind it is absent. No activity is a value (0), never a
  missing one. A division by zero never raises.
- ``burst_user_share`` / ``burst_day_share``: the largest share of ``usage`` made by one user / on
  one day of the current window; ``burst`` = ``usage`` >= 20 and either share > 0.8.
- ``age_days``: days from ``contract_start`` (else the first event before T) to T.
- Event types the catalogue lacks are unclassified: feature = the event type, passive.

Numeric columns are float64, flags bool, text str; rows are sorted by ``account_id``.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

import duckdb
import pandas as pd
import pyarrow.compute as pc

from .profile import KINDS, PER, Profile
from .schema import DIMENSIONS
from .scope import Scope
from .signals_health import MRR_LOOKBACK_DAYS, NPS_DAYS, PRIORITY_WEIGHTS, SENTIMENT_DAYS
from .signals_sql import BURST_MIN_USAGE, BURST_SHARE, inputs_query, windows_needed
from .store import DataError, DataStore

__all__ = ["BURST_MIN_USAGE", "BURST_SHARE", "MRR_LOOKBACK_DAYS", "NPS_DAYS", "PRIORITY_WEIGHTS",
           "SENTIMENT_DAYS", "FIXED_COLUMNS", "SignalError", "catalogue", "catalogue_ds", "check_profile",
           "compute_inputs", "compute_inputs_ds", "input_columns", "typed_inputs", "windows_needed"]

SIGNAL_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
ACCOUNT_COLUMNS = ("name", "segment", "plan", "region", "csm_owner", "crm_id")
USAGE_COLUMNS = ("arr", "seats", "age_days", "active_users", "active_days", "usage", "usage_prev",
                 "value_usage", "passive_usage", "burst_user_share", "burst_day_share", "burst")
HEALTH_COLUMNS = ("nps_mean", "nps_count", "tickets_open", "tickets_open_weighted", "ticket_sentiment",
                  "invoices_overdue", "days_overdue_max", "mrr_now", "mrr_90d_ago",
                  "has_nps", "has_tickets", "has_invoices", "has_mrr")
FIXED_COLUMNS = ("account_id",) + ACCOUNT_COLUMNS + USAGE_COLUMNS + HEALTH_COLUMNS
CATALOGUE_COLUMNS = ["event_type", "feature", "dimension", "value_action", "source"]

Overrides = Mapping[str, tuple[str | None, str, bool]]  # StateStore.classifications()


class SignalError(DataError, ValueError):
    """A profile or catalogue the query cannot compute (the command line prints it, exit 1)."""


def input_columns(profile: Profile) -> list[str]:
    """The frame's columns after the index, in order: fixed ones, then ``<signal>, <signal>__prev``."""
    sig = [c for s in profile.signals for c in (s.name, f"{s.name}__prev")]
    return list(ACCOUNT_COLUMNS + USAGE_COLUMNS) + sig + list(HEALTH_COLUMNS)


def check_profile(profile: Profile) -> None:
    """Refuse what the query cannot compute safely: bad names, kinds, divisors, windows.

    Signal names become column names (quoted identifiers), so they must match
    ``[a-z][a-z0-9_]*`` and must not collide with a fixed column or another signal's column.
    """
    if not isinstance(profile.window_days, int) or profile.window_days < 1:
        raise SignalError(f"window_days must be a whole number of days >= 1, not {profile.window_days!r}")
    if not profile.passive_daily_cap >= 0:
        raise SignalError(f"passive_daily_cap must be >= 0, not {profile.passive_daily_cap!r}")
    seen = set(FIXED_COLUMNS)
    for s in profile.signals:
        if not isinstance(s.name, str) or not SIGNAL_NAME.match(s.name):
            raise SignalError(f"signal name {s.name!r}: expected lower-case letters, digits and _ "
                             "starting with a letter")
        for col in (s.name, f"{s.name}__prev"):
            if col in seen:
                raise SignalError(f"signal {s.name!r}: column {col!r} is already in the inputs frame "
                                 "(a fixed column or another signal); rename the signal")
            seen.add(col)
        if s.kind not in KINDS:
            raise SignalError(f"signal {s.name!r}: kind {s.kind!r} is not one of {', '.join(KINDS)}")
        if s.per not in PER:
            raise SignalError(f"signal {s.name!r}: per {s.per!r} is not one of seat, active_user or none")
        if any(not isinstance(v, str) for v in (*s.event_types, *s.features)):
            raise SignalError(f"signal {s.name!r}: event_types and features must be text")


def tables_present(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Tables and views of the connection's current catalog and schema."""
    rows = con.execute("SELECT table_name FROM information_schema.tables "
                       "WHERE table_catalog = current_database() AND table_schema = current_schema()").fetchall()
    return {r[0] for r in rows}


def catalogue(con: duckdb.DuckDBPyConnection, overrides: Overrides | None = None) -> pd.DataFrame:
    """Every event type in ``usage_events`` or ``event_types``, with its classification.

    Source per type: ``app`` (``overrides``, from ``StateStore.classifications()``, win), else
    ``imported`` (the ``event_types`` table), else ``unclassified`` (feature = the event type,
    dimension None, passive). An empty feature means the event type itself. Not scoped: the
    catalogue describes the product, not accounts.
    """
    overrides = overrides or {}
    if "event_types" in tables_present(con):
        sql = ("SELECT s.event_type, NULLIF(c.feature, '') AS feature, c.dimension, c.value_action, "
               "c.event_type IS NOT NULL AS imported "
               "FROM (SELECT event_type FROM usage_events UNION SELECT event_type FROM event_types) s "
               "LEFT JOIN event_types c ON c.event_type = s.event_type ORDER BY s.event_type")
    else:
        sql = ("SELECT event_type, NULL, NULL, NULL, FALSE FROM "
               "(SELECT DISTINCT event_type FROM usage_events) ORDER BY event_type")
    rows = []
    for et, feature, dimension, value_action, imported in con.execute(sql).fetchall():
        if et in overrides:
            o_feature, o_dimension, o_value = overrides[et]
            if o_dimension not in DIMENSIONS:
                raise SignalError(f"classification of {et!r}: dimension {o_dimension!r} is not one of "
                                 + ", ".join(DIMENSIONS))
            rows.append((et, o_feature or et, o_dimension, bool(o_value), "app"))
        elif imported:
            rows.append((et, feature or et, dimension, bool(value_action), "imported"))
        else:
            rows.append((et, et, None, False, "unclassified"))
    df = pd.DataFrame(rows, columns=CATALOGUE_COLUMNS)
    return df.astype({"event_type": "str", "feature": "str", "dimension": "str", "value_action": "bool",
                      "source": "str"})


def _as_date(as_of: dt.date) -> dt.date:
    if isinstance(as_of, dt.datetime):  # pandas Timestamps too: a date, or midnight exactly
        if as_of.time() != dt.time() or as_of.tzinfo is not None:
            raise ValueError(f"as_of must be a date (or a naive midnight), not {as_of!r}")
        return as_of.date()
    if not isinstance(as_of, dt.date):
        raise TypeError(f"as_of must be a datetime.date, not {type(as_of).__name__}")
    return as_of


def _catalogue_rows(cat: pd.DataFrame) -> list[tuple[str, str, bool]]:
    missing = {"event_type", "feature", "value_action"} - set(cat.columns)
    if missing:
        raise SignalError(f"catalogue lacks columns {sorted(missing)}; build it with signals.catalogue()")
    if cat["event_type"].duplicated().any():
        dup = cat.loc[cat["event_type"].duplicated(), "event_type"].iloc[0]
        raise SignalError(f"catalogue lists event type {dup!r} twice")
    out = []
    for et, feature, value_action in cat[["event_type", "feature", "value_action"]].itertuples(index=False):
        if feature is None or feature == "" or (isinstance(feature, float) and math.isnan(feature)):
            feature = et  # empty means the event type itself
        out.append((str(et), str(feature), bool(value_action)))
    return out


def _unlisted_types(con: duckdb.DuckDBPyConnection, known: list[str], *, as_of: dt.date,
                    days: int) -> list[tuple[str, str, bool]]:
    """Event types in the scanned windows that the catalogue lacks: unclassified (feature = name, passive)."""
    start = dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time())
    rows = con.execute("SELECT DISTINCT event_type FROM usage_events WHERE occurred_at >= ? AND occurred_at < ? "
                       "AND NOT list_contains(?::VARCHAR[], event_type) ORDER BY 1",
                       [start, dt.datetime.combine(as_of, dt.time()), known]).fetchall()
    return [(r[0], r[0], False) for r in rows]


def compute_inputs(con: duckdb.DuckDBPyConnection, profile: Profile, *, as_of: dt.date, scope: Scope,
                   catalogue: pd.DataFrame) -> pd.DataFrame:
    """The inputs frame as of ``as_of`` for the accounts in ``scope`` active on that date.

    ``con``: a DuckDB connection or cursor whose current catalog holds the data tables (it is
    only read). ``catalogue``: from ``catalogue()``; event types it lacks count as unclassified.
    Formulas in this module's docstring and ``docs/SCORING.md``.
    """
    check_profile(profile)
    day = _as_date(as_of)
    rows = _catalogue_rows(catalogue)
    rows += _unlisted_types(con, [r[0] for r in rows], as_of=day, days=profile.window_days * windows_needed(profile))
    sql, params = inputs_query(profile, as_of=day, scope=scope, catalogue=rows, tables=tables_present(con))
    # Arrow, not .df(): DuckDB's pandas conversion of text columns costs seconds at 1M rows. Sorted
    # here, not by ORDER BY: sorting 1M wide rows inside the query is what made it run out of a
    # 1 GB memory limit; Arrow orders strings bytewise, as DuckDB does. The rows are put in order
    # in pandas (a gather of pointers and numbers), not by Arrow's take, which copies every string.
    table = con.sql(sql, params=params).to_arrow_table()
    return typed_inputs(table.to_pandas().take(pc.sort_indices(table["account_id"]).to_numpy()))


def typed_inputs(df: pd.DataFrame) -> pd.DataFrame:
    """An inputs frame read from a query or a stored table, indexed and typed as documented."""
    df = df.set_index("account_id")
    df.index = df.index.astype("str")
    text = {c: "str" for c in ACCOUNT_COLUMNS}
    flags = {c: "bool" for c in ("burst", "has_nps", "has_tickets", "has_invoices", "has_mrr")}
    numbers = {c: "float64" for c in df.columns if c not in text and c not in flags}
    return df.astype({**text, **flags, **numbers})


def compute_inputs_ds(ds: DataStore, profile: Profile, *, as_of: dt.date, scope: Scope,
                      catalogue: pd.DataFrame) -> pd.DataFrame:
    """``compute_inputs`` on one data version of a read-only ``DataStore``, on its own cursor."""
    with ds.cursor() as cur:
        return compute_inputs(cur, profile, as_of=as_of, scope=scope, catalogue=catalogue)


def catalogue_ds(ds: DataStore, overrides: Overrides | None = None) -> pd.DataFrame:
    """``catalogue`` on a read-only ``DataStore``."""
    with ds.cursor() as cur:
        return catalogue(cur, overrides)
