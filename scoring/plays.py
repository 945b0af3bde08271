"""Plays: what a CSM should say to each account on an outreach list, one sentence per row.

A play is a rule over a list row's columns (flag, band, renewal, usage, support load, invoices,
seats, the 30-day change): ``PLAY_RULES`` is an ordered table of (name, condition, text), the first
match wins, and an account that matches none gets the fallback for its band. docs/OUTREACH.md has
the same table, and a test walks each rule. ``scoring.lists.build_list`` calls ``suggest_play``
on the rows it shows only.

Shape: the rules are data, not branches, so the table here, the one in the docs and the test's
walk line up row for row; each rule reads the row as a plain dict (unknown values are NaN, which
fails every comparison), so a play is pure and tested without a store.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f}%"


def _renewal(d: float) -> str:
    return "Renewal due now" if d <= 0 else f"Renewal in {d:.0f} days"


def _f(r: dict, key: str) -> float:
    v = r.get(key)
    return math.nan if v is None or pd.isna(v) else float(v)


# (name, condition, text): first match wins; docs/OUTREACH.md has the same table.
PLAY_RULES: list[tuple[str, Callable[[dict], bool], Callable[[dict], str]]] = [
    ("flag disagrees",
     lambda r: (r.get("flag") == "at_risk" and r.get("band") in ("healthy", "watch"))
     or (r.get("flag") == "healthy" and r.get("band") == "at_risk"),
     lambda r: f"CSM flag {r['flag']} but the score says {r['band']}: compare notes with the owner first"),
    ("overdue invoice", lambda r: _f(r, "days_overdue_max") >= 30,
     lambda r: f"Invoice {_f(r, 'days_overdue_max'):.0f} days overdue: settle billing with finance first"),
    ("renewal and usage down", lambda r: _f(r, "days_to_renewal") <= 60 and _f(r, "usage_growth") <= -0.25,
     lambda r: f"{_renewal(_f(r, 'days_to_renewal'))}, usage down {_pct(_f(r, 'usage_growth'))}: "
               "executive check-in"),
    ("health falling", lambda r: _f(r, "change_30d") <= -15,
     lambda r: f"Health down {abs(_f(r, 'change_30d')):.0f} points in 30 days: call to find out what changed"),
    ("support load", lambda r: _f(r, "tickets_open_weighted") >= 4,
     lambda r: f"Support load {_f(r, 'tickets_open_weighted'):.0f} ({_f(r, 'tickets_open'):.0f} open "
               "ticket(s), weighted by priority): review them with support, then call"),
    ("seats full and growing", lambda r: _f(r, "seat_utilisation") >= 0.9 and _f(r, "usage_growth") >= 0.1,
     lambda r: f"Seats {_pct(_f(r, 'seat_utilisation'))} used and usage up {_pct(_f(r, 'usage_growth'))}: "
               "expansion conversation"),
    ("renewal near", lambda r: _f(r, "days_to_renewal") <= 90,
     lambda r: f"{_renewal(_f(r, 'days_to_renewal'))}: renewal review of the value delivered"),
    ("usage down", lambda r: _f(r, "usage_growth") <= -0.25,
     lambda r: f"Usage down {_pct(_f(r, 'usage_growth'))}: re-engagement session on what they use less"),
]
FALLBACK_PLAY = {"healthy": "Growth check-in: ask about team growth and new use cases",
                 None: "Health check-in call: walk through the top reasons"}


def suggest_play(row: dict) -> str:
    """The first play rule that matches the row, else the fallback (by band)."""
    for _name, test, text in PLAY_RULES:
        if test(row):
            return text(row)
    return FALLBACK_PLAY["healthy" if row.get("band") == "healthy" else None]


__all__ = ["FALLBACK_PLAY", "PLAY_RULES", "suggest_play"]
