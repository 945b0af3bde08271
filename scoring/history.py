"""Score history: ``snapshot``, the weekly backfill at import, and scores for the ``score`` command.

A snapshot stores the scores of one as-of date with the profile name and version that made them,
so movers caused by a profile change can be told apart from customer movement. Snapshots live in
the data store (``score_snapshots``) and are written through ``store.rebuild`` like an import.

Backfill rule: after an import, every weekly as-of date over the data's span (ending on the
default as-of date, stepping back 7 days, starting once a full window of events exists) that has
no snapshot for the profile and version in use gets one. Snapshots already stored are kept: they
are what the product said at the time.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from .current import store_inputs
from .engine import default_as_of, score_as_of
from .profile import Profile
from .scope import Scope
from .state import StateStore
from .store import DataError, DataStore, rebuild

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

SNAPSHOT_COLUMNS = ("engagement_score", "health_score", "band", "data_confidence", "arr",
                    "expansion_ready")
MAX_BACKFILL_WEEKS = 26  # half a year of weekly history by default: trends, movers, churn-risk fit
ALL_WEEKS = 10_000  # ``--history-weeks all``


def resolve_profile(con: "duckdb.DuckDBPyConnection", state: StateStore,
                    ref: str | None) -> tuple[Profile, "pd.DataFrame"]:
    """The profile to use (contract: NAME, NAME@N, else published, else default) and the catalogue."""
    from .profiles import resolve
    from .signals import catalogue

    cat = catalogue(con, state.classifications())
    return resolve(state, ref, cat), cat


def scores_for_command(db: Path, state_path: Path, *, profile_ref: str | None,
                       as_of: dt.date | None) -> tuple["pd.DataFrame", Profile, dt.date]:
    """What ``score`` writes: every active account's scores, as of a date, everyone's scope."""
    ds = DataStore(db)
    try:
        with ds.cursor() as con:
            profile, cat = resolve_profile(con, StateStore(state_path), profile_ref)
            when = as_of or default_as_of(con)
            if when is None:
                raise DataError("the data store has no usage events, so there is no default "
                                "as-of date: give --as-of YYYY-MM-DD")
            frame = score_as_of(con, profile, as_of=when, scope=Scope.everyone(), catalogue_df=cat)
    finally:
        ds.close()
    return frame, profile, when


def _store(con: "duckdb.DuckDBPyConnection", frame: "pd.DataFrame", profile: Profile,
           as_of: dt.date) -> int:
    """Replace the snapshot of (as_of, profile, version) with ``frame``'s scores."""
    version = profile.version or 0
    con.execute("DELETE FROM score_snapshots WHERE as_of = ? AND profile = ? AND profile_version = ?",
                [as_of, profile.name, version])
    rows = frame[["account_id", *SNAPSHOT_COLUMNS]].copy()
    rows.insert(0, "as_of", as_of)
    rows.insert(1, "profile", profile.name)
    rows.insert(2, "profile_version", version)
    rows["created_at"] = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.register("_snapshot_rows", rows)
    try:
        cols = ", ".join(rows.columns)  # fixed names: as_of, profile, ... SNAPSHOT_COLUMNS
        con.execute("INSERT INTO score_snapshots (" + cols + ") SELECT " + cols + " FROM _snapshot_rows")
    finally:
        con.unregister("_snapshot_rows")
    return len(rows)


def snapshot(db: Path, state_path: Path, *, profile_ref: str | None,
             as_of: dt.date | None) -> tuple[int, Profile, dt.date]:
    """Store the scores of one date (``snapshot`` command)."""
    if not Path(db).exists():
        raise DataError(f"no data file at {db}: run `python -m scoring demo` or "
                        "`python -m scoring import DIR` first")
    state = StateStore(state_path)
    result: dict = {}

    def build(con: "duckdb.DuckDBPyConnection") -> None:
        profile, cat = resolve_profile(con, state, profile_ref)
        when = as_of or default_as_of(con)
        if when is None:
            raise DataError("the data store has no usage events: give --as-of YYYY-MM-DD")
        if when == default_as_of(con):  # the pages' date: keep its inputs for them
            store_inputs(con, profile, cat, when)
        frame = score_as_of(con, profile, as_of=when, scope=Scope.everyone(), catalogue_df=cat)
        result.update(n=_store(con, frame, profile, when), profile=profile, as_of=when)

    rebuild(Path(db), build)
    return result["n"], result["profile"], result["as_of"]


def weekly_dates(con: "duckdb.DuckDBPyConnection", window_days: int,
                 weeks: int = MAX_BACKFILL_WEEKS) -> list[dt.date]:
    """The newest ``weeks`` weekly as-of dates ending on the default as-of date, once a full
    window of events exists."""
    first, end = con.execute("SELECT min(occurred_at)::DATE, max(occurred_at)::DATE + 1 "
                             "FROM usage_events").fetchone()
    if first is None:
        return []
    start = first + dt.timedelta(days=window_days)
    dates = []
    when = end
    while when >= start and len(dates) < weeks:
        dates.append(when)
        when -= dt.timedelta(days=7)
    return sorted(dates)


def backfill(con: "duckdb.DuckDBPyConnection", state: StateStore, *, progress=None,
             weeks: int | None = None) -> int:
    """Snapshot every weekly date (the newest ``weeks``, default ``MAX_BACKFILL_WEEKS``) that has
    none for the profile in use; returns dates filled.

    First stores the inputs of the default as-of date for the pages (``scoring.current``).
    """
    profile, cat = resolve_profile(con, state, None)
    when = default_as_of(con)
    if when is not None:
        store_inputs(con, profile, cat, when)
    version = profile.version or 0
    have = {r[0] for r in con.execute(
        "SELECT DISTINCT as_of FROM score_snapshots WHERE profile = ? AND profile_version = ?",
        [profile.name, version]).fetchall()}
    todo = [d for d in weekly_dates(con, profile.window_days, MAX_BACKFILL_WEEKS if weeks is None else weeks)
            if d not in have]
    for i, when in enumerate(todo):
        if progress:
            progress(f"scoring history {when}", i / max(len(todo), 1))
        frame = score_as_of(con, profile, as_of=when, scope=Scope.everyone(), catalogue_df=cat)
        _store(con, frame, profile, when)
    return len(todo)
