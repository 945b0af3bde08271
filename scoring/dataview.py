"""What the app's frame and Data page show about the data itself: freshness and data warnings.

Every figure the banner and the Data page put on screen comes from here, so it is tested without
Streamlit and pages hold no SQL or arithmetic. Queries go through ``DataStore.df/rows``, take the
viewer's ``Scope`` (keyword ``scope``) and bind every value.

A data warning is a ``Finding``: how many things are wrong and a short table of examples, because
people need both the size of a problem and a few concrete ids to go and fix it. Some facts are
about files rather than accounts (import notes, rejected rows, vanished accounts, which are no
longer in the accounts table and so belong to no owner). A viewer who does not see all accounts
gets their counts but no examples, so a scoped viewer never sees another book's rows.
"""
from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .scope import Scope
from .store import DataStore, data_as_of, is_demo, last_import

STALE_AFTER_DAYS = 2  # an import older than this is flagged in every page's banner
EXAMPLES = 50  # rows of examples a finding carries (the count covers all of them)


# ---------------------------------------------------------------- freshness


@dataclass(frozen=True)
class DataFacts:
    """What the banner says about the data: its as-of date, last import and demo flag."""

    as_of: pd.Timestamp | None  # the day after the newest event the viewer may see
    last_import_at: pd.Timestamp | None  # UTC, naive
    data_version: str | None  # the import run that made this file
    is_demo: bool


def data_facts(ds: DataStore, *, scope: Scope) -> DataFacts:
    run = last_import(ds)
    return DataFacts(
        as_of=data_as_of(ds, scope=scope),
        last_import_at=None if run is None else pd.Timestamp(run["finished_at"]),
        data_version=None if run is None else str(run["run_id"]),
        is_demo=is_demo(ds),
    )


def import_age_days(last_import_at: pd.Timestamp | None, *, now: dt.datetime) -> int | None:
    """Whole days since the last import (``now`` in UTC; naive means UTC), or None without one."""
    if last_import_at is None:
        return None
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return max(0, (pd.Timestamp(now) - pd.Timestamp(last_import_at)).days)


def is_stale(age_days: int | None) -> bool:
    return age_days is not None and age_days > STALE_AFTER_DAYS


# ---------------------------------------------------------------- overview


@dataclass(frozen=True)
class Overview:
    accounts: int
    active_accounts: int | None  # None when there is no as-of date (no events yet)
    total_arr: float  # sum of accounts.arr as imported


def overview(ds: DataStore, *, scope: Scope, as_of: pd.Timestamp | None) -> Overview:
    """Accounts, accounts active on ``as_of`` (the contract's rule), and ARR from the accounts table."""
    where, params = scope.account_filter()
    n, arr = ds.rows(f"SELECT count(*), coalesce(sum(arr), 0) FROM accounts WHERE {where}", params)[0]
    return Overview(int(n), None if as_of is None else active_accounts(ds, scope=scope, as_of=as_of),
                    float(arr))


def active_accounts(ds: DataStore, *, scope: Scope, as_of: pd.Timestamp) -> int:
    """Accounts active on ``as_of``: MRR in force above 0; without mrr_history, contract started.

    The MRR in force is the newest ``mrr_history`` row dated on or before ``as_of``; an account
    without such a row has none in force and is not active.
    """
    where, params = scope.account_filter("a.account_id")
    day = pd.Timestamp(as_of).date()
    if _has_rows(ds, "mrr_history"):
        sql = ("WITH m AS (SELECT account_id, arg_max(mrr, effective_date) AS mrr FROM mrr_history "
               "WHERE effective_date <= ? GROUP BY account_id) "
               f"SELECT count(*) FROM accounts a JOIN m ON m.account_id = a.account_id "
               f"WHERE m.mrr > 0 AND {where}")
    else:
        sql = ("SELECT count(*) FROM accounts a WHERE (a.contract_start IS NULL OR a.contract_start <= ?) "
               f"AND {where}")
    return int(ds.rows(sql, [day, *params])[0][0])


def _has_rows(ds: DataStore, table: str) -> bool:
    # ``table`` is a name written in this module, never user text.
    return table in ds.tables() and ds.rows(f'SELECT count(*) > 0 FROM "{table}"')[0][0]


# ---------------------------------------------------------------- what is loaded


def import_history(ds: DataStore, *, scope: Scope, limit: int = 10) -> pd.DataFrame:
    """The newest import runs, newest first (runs are about files, not accounts: not scoped)."""
    return ds.df("SELECT run_id, finished_at, source, tables, rows_loaded, rows_skipped, "
                 "vanished_accounts FROM import_runs ORDER BY run_id DESC LIMIT ?", [limit])


# ---------------------------------------------------------------- data warnings


@dataclass(frozen=True)
class Finding:
    """One data warning: how many, a few examples, and a note (e.g. where to look further)."""

    count: int
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""


def _newest_run(ds: DataStore) -> int | None:
    return ds.rows("SELECT max(run_id) FROM import_runs")[0][0]


AppClassifications = Mapping[str, tuple[str | None, str, bool]]  # StateStore.classifications()


def unclassified_event_types(ds: DataStore, *, scope: Scope, app_classified: Iterable[str],
                             limit: int = EXAMPLES) -> Finding:
    """Event types in the viewer's usage that neither the catalogue nor the app classifies.

    They are still scored (feature = the event type, passive); the user should classify them.
    """
    where, params = scope.account_filter()
    catalogue = ("AND event_type NOT IN (SELECT event_type FROM event_types)"
                 if "event_types" in ds.tables() else "")
    df = ds.df("SELECT event_type, count(*) AS events, count(DISTINCT account_id) AS accounts, "
               "min(occurred_at)::DATE AS first_seen, max(occurred_at)::DATE AS last_seen "
               f"FROM usage_events WHERE {where} {catalogue} "
               "GROUP BY event_type ORDER BY events DESC, event_type", params)
    df = df[~df["event_type"].isin(set(app_classified))].reset_index(drop=True)
    return Finding(len(df), df.head(limit))


def classification_conflicts(ds: DataStore, *, scope: Scope, app: AppClassifications) -> Finding:
    """Event types the app classifies differently from the imported catalogue (the app wins).

    The catalogue describes the product, not accounts, so it is the same for every scope. An empty
    feature means "the event type itself" on both sides.
    """
    if not app or "event_types" not in ds.tables():
        return Finding(0)
    cat = ds.df("SELECT event_type, feature, dimension, value_action FROM event_types "
                "WHERE list_contains(?, event_type) ORDER BY event_type", [sorted(app)])
    rows = []
    for et, feature, dimension, value_action in cat.itertuples(index=False):
        a_feature, a_dimension, a_value = app[et]
        imported = (feature or et, dimension, bool(value_action))
        if imported != (a_feature or et, a_dimension, bool(a_value)):
            rows.append({"event_type": et, "imported_feature": feature, "imported_dimension": dimension,
                         "imported_value_action": bool(value_action), "app_feature": a_feature,
                         "app_dimension": a_dimension, "app_value_action": bool(a_value)})
    return Finding(len(rows), pd.DataFrame(rows))


def accounts_without_usage(ds: DataStore, *, scope: Scope, limit: int = EXAMPLES) -> Finding:
    """Accounts with no usage event at all: their engagement cannot be measured."""
    where, params = scope.account_filter("a.account_id")
    base = ("FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM usage_events u "
            f"WHERE u.account_id = a.account_id) AND {where}")
    n = ds.rows(f"SELECT count(*) {base}", params)[0][0]
    df = ds.df(f"SELECT a.account_id, a.name, a.segment, a.csm_owner, a.arr, a.contract_start {base} "
               "ORDER BY a.arr DESC, a.account_id LIMIT ?", [*params, limit])
    return Finding(int(n), df)


def vanished_accounts(ds: DataStore, *, scope: Scope, limit: int = EXAMPLES) -> Finding:
    """Accounts in the data before the newest import that its accounts file no longer has."""
    run = _newest_run(ds)
    if run is None:
        return Finding(0)
    sql = "FROM import_notes WHERE run_id = ? AND topic = 'vanished_account'"
    n = ds.rows(f"SELECT count(*) {sql}", [run])[0][0]
    if scope.owners is not None:
        return Finding(int(n), note="Their ids are listed only for viewers who see all accounts.")
    df = ds.df(f"SELECT detail AS account_id {sql} ORDER BY detail LIMIT ?", [run, limit])
    return Finding(int(n), df, note="Churned accounts must stay in the accounts file, or "
                                    "validation loses their history.")


def skipped_rows(ds: DataStore, *, scope: Scope, limit: int = 20) -> Finding:
    """Rows the newest import rejected (``--skip-bad-rows``), with examples from its rejects file."""
    run = _newest_run(ds)
    if run is None:
        return Finding(0)
    n, rejects = ds.rows("SELECT coalesce(rows_skipped, 0), rejects_file FROM import_runs "
                         "WHERE run_id = ?", [run])[0]
    if not n:
        return Finding(0)
    note = f"All rejected rows with their reasons: {rejects}" if rejects else ""
    if scope.owners is not None:
        return Finding(int(n), note=note)
    path = Path(rejects) if rejects else None
    if path is None or not path.is_file():
        return Finding(int(n), note=f"The rejects file {rejects} is no longer there.")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [row for _, row in zip(range(limit), reader)]
    return Finding(int(n), pd.DataFrame(rows, columns=reader.fieldnames), note=note)


def import_warnings(ds: DataStore, *, scope: Scope) -> Finding:
    """Other warnings of the newest import (ignored files and columns, skipped-row summary)."""
    run = _newest_run(ds)
    if run is None:
        return Finding(0)
    df = ds.df("SELECT detail AS warning FROM import_notes WHERE run_id = ? AND topic = 'import' "
               "ORDER BY detail", [run])
    return Finding(len(df), df)


# ---------------------------------------------------------------- the classification editor


def classification_changes(before: pd.DataFrame, edited: pd.DataFrame) -> list[tuple[str, str | None, str, bool]]:
    """The rows of the Data page's editor that differ from the catalogue, as
    ``(event_type, feature, dimension, value_action)`` for ``StateStore.classify_many``.

    A row counts as changed when its feature, dimension or value action differs; an empty
    feature means the event type itself. A changed row without a dimension is refused
    (``ValueError`` naming the event type): a classification needs one.
    """
    old = before.set_index("event_type")
    out = []
    for row in edited.itertuples(index=False):
        et = str(row.event_type)
        feature = _text(row.feature) or et
        dimension = _text(row.dimension)
        value = bool(row.value_action)
        was = old.loc[et]
        if (feature, dimension, value) == (_text(was["feature"]) or et, _text(was["dimension"]),
                                           bool(was["value_action"])):
            continue
        if not dimension:
            raise ValueError(f"{et}: choose a dimension before saving its classification")
        out.append((et, None if feature == et else feature, dimension, value))
    return out


def _text(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return ""
    s = str(v).strip()
    return "" if s in ("None", "nan") else s
