"""Scoring a book as of a date: the one path from stored data to scores.

``score_as_of`` chains the pieces (signals in DuckDB, normalisation and scores in numpy) and is
what the ``score`` and ``snapshot`` commands, the import's history backfill and the app call, so
they all give the same numbers for the same data, profile and date.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from .current import load_book
from .profile import Profile
from .scope import Scope
from .signals import catalogue

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# The contract's columns of ``score`` output, in order; contrib_<signal> columns follow.
SCORE_COLUMNS = ("account_id", "name", "segment", "csm_owner", "arr", "engagement_score",
                 "health_score", "band", "expansion_ready", "data_confidence")


def default_as_of(con: "duckdb.DuckDBPyConnection") -> dt.date | None:
    """The day after the newest event in the store (the contract's default as-of date)."""
    return con.execute("SELECT max(occurred_at)::DATE + 1 FROM usage_events").fetchall()[0][0]


def score_as_of(con: "duckdb.DuckDBPyConnection", profile: Profile, *, as_of: dt.date,
                scope: Scope, catalogue_df: "pd.DataFrame | None" = None) -> "pd.DataFrame":
    """Scores of every account active on ``as_of`` that the scope sees, one row each.

    The whole book is scored (peers are the whole book) and the scope then selects rows, so a
    viewer sees the same numbers for an account whatever their scope. The stored inputs of the
    default date are used when they fit (``scoring.current``).

    Columns: the contract's ``score`` columns, then the health components, ``value_share``,
    ``burst`` and ``contrib_<signal>`` for each signal of the profile.
    """
    cat = catalogue(con, None) if catalogue_df is None else catalogue_df
    book = load_book(con, profile, cat, as_of)
    scored = book.visible(scope).drop(columns=["plan", "region", "crm_id", "seats", "age_days"])
    out = scored.reset_index().rename(columns={"index": "account_id"})
    first = [c for c in SCORE_COLUMNS if c in out.columns]
    rest = [c for c in out.columns if c not in first and not c.startswith("contrib_")]
    contrib = [f"contrib_{s.name}" for s in profile.signals]
    return out[first + rest + contrib].sort_values("account_id", kind="stable").reset_index(drop=True)
