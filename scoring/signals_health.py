"""The health inputs of the inputs frame: NPS, support tickets, invoices and MRR, as of T.

Each optional table becomes one small aggregate per account (these tables hold a few rows per
account, so they cost little next to the usage events) that ``signals_sql`` joins to the active
accounts. A table that is absent gives NULL (NaN) columns and ``has_<x> = FALSE``, so its health
component can be left out rather than scored as zero.

Formulas (T = the as-of date; a timestamp compared with T means midnight at the start of T):

- ``nps_mean``, ``nps_count``: mean score and count of responses with ``responded_at`` in
  [T - 180 days, T); NaN and 0 when none.
- ``tickets_open``: tickets with ``opened_at`` < T and (``closed_at`` empty or >= T);
  ``tickets_open_weighted``: the same, each weighted by priority (low 0.5, normal 1, high 2, urgent 4).
- ``ticket_sentiment``: mean sentiment of tickets opened in [T - 90 days, T); NaN when none.
- ``invoices_overdue``: invoices with ``issued_at`` < T, ``due_at`` < T and (``paid_at`` empty or
  >= T); ``days_overdue_max``: T - the oldest such ``due_at`` in days (0 when none).
- ``mrr_now``, ``mrr_90d_ago``: the MRR in force on T and on T - 90 days (the newest
  ``mrr_history`` row dated on or before that day); NaN when there is none.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .signals_sql import Params

NPS_DAYS = 180
SENTIMENT_DAYS = 90
MRR_LOOKBACK_DAYS = 90
PRIORITY_WEIGHTS = {"low": 0.5, "normal": 1.0, "high": 2.0, "urgent": 4.0}
OPTIONAL_TABLES = {"nps": "nps_responses", "tickets": "support_tickets", "invoices": "invoices",
                   "mrr": "mrr_history"}  # has_<key> says whether the table exists


def health_sql(p: Params, *, as_of: dt.date, T_day: str, T: str,
               tables: set[str]) -> tuple[list[str], list[str], list[str]]:
    """CTEs, joins (to ``acc a``) and select columns of the health inputs.

    ``T_day`` and ``T`` are the placeholders already bound to T as a DATE and as a TIMESTAMP.
    """
    has = {k: t in tables for k, t in OPTIONAL_TABLES.items()}
    ctes: list[str] = []
    parts: list[str] = []  # per-account aggregates, one row per account each
    if has["nps"]:
        ctes.append(f"""nps AS (
  SELECT account_id, avg(score)::DOUBLE AS nps_mean, count(*) AS nps_count FROM nps_responses
  WHERE responded_at >= {p(as_of - dt.timedelta(days=NPS_DAYS))} AND responded_at < {T_day}
  GROUP BY account_id)""")
        parts.append("nps")
    if has["tickets"]:
        weight = "CASE priority " + " ".join(f"WHEN {p(k)} THEN {p(v)}" for k, v in PRIORITY_WEIGHTS.items()) + " END"
        is_open = f"(closed_at IS NULL OR closed_at >= {T})"
        recent = p(dt.datetime.combine(as_of - dt.timedelta(days=SENTIMENT_DAYS), dt.time()))
        ctes.append(f"""tk AS (
  SELECT account_id, count(*) FILTER (WHERE {is_open}) AS open, sum({weight}) FILTER (WHERE {is_open}) AS open_w,
         avg(sentiment) FILTER (WHERE opened_at >= {recent}) AS sentiment
  FROM support_tickets WHERE opened_at < {T} GROUP BY account_id)""")
        parts.append("tk")
    if has["invoices"]:
        ctes.append(f"""inv AS (
  SELECT account_id, count(*) AS overdue, max(date_diff('day', due_at, {T_day})) AS days_max FROM invoices
  WHERE issued_at < {T_day} AND due_at < {T_day} AND (paid_at IS NULL OR paid_at >= {T_day})
  GROUP BY account_id)""")
        parts.append("inv")
    if has["mrr"]:
        ctes.append(f"""mrr90 AS (
  SELECT account_id, arg_max(mrr, effective_date) AS mrr_90d FROM mrr_history
  WHERE effective_date <= {p(as_of - dt.timedelta(days=MRR_LOOKBACK_DAYS))} GROUP BY account_id)""")
        parts.append("mrr90")
    joins = []
    if parts:  # one aggregation over the parts and one join, not one join each (memory at 1M)
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {x}" for x in parts)
        names = {"nps": ["nps_mean", "nps_count"], "tk": ["open", "open_w", "sentiment"],
                 "inv": ["overdue", "days_max"], "mrr90": ["mrr_90d"]}
        ctes.append(f"""health AS (
  SELECT account_id, {', '.join(f'max({c}) AS {c}' for x in parts for c in names[x])}
  FROM ({union}) GROUP BY account_id)""")
        joins.append("LEFT JOIN health h ON h.account_id = a.account_id")

    def opt(flag: str, sql: str, name: str) -> str:
        return f"{sql if has[flag] else 'NULL'}::DOUBLE AS {name}"

    cols = [
        opt("nps", "h.nps_mean", "nps_mean"), opt("nps", "coalesce(h.nps_count, 0)", "nps_count"),
        opt("tickets", "coalesce(h.open, 0)", "tickets_open"),
        opt("tickets", "coalesce(h.open_w, 0)", "tickets_open_weighted"),
        opt("tickets", "h.sentiment", "ticket_sentiment"),
        opt("invoices", "coalesce(h.overdue, 0)", "invoices_overdue"),
        opt("invoices", "coalesce(h.days_max, 0)", "days_overdue_max"),
        opt("mrr", "a.mrr_now", "mrr_now"), opt("mrr", "h.mrr_90d", "mrr_90d_ago"),
    ] + [f"{'TRUE' if has[k] else 'FALSE'} AS has_{k}" for k in OPTIONAL_TABLES]
    return ctes, joins, cols
