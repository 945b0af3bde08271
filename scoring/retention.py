"""The retention figures the score should lead, on the Portfolio page: logo retention, net
revenue retention, expansion MRR (from ``mrr_history``) and the activation rate (from the events).

Each is computed **per account once** per data version and as-of date
(``retention_by_account``, ``activation_by_account``: one pass over ``mrr_history`` or the
events), then a page's filter adds up the selected accounts' rows (``retention_of``,
``activation_of``), so a filter change never reads the store. ``retention`` and ``activation``
are the same figures straight from SQL for a scope and filters (the definitions the per-account
path is tested against). Queries apply ``scope.account_filter`` and the page's ``Filters`` as
bound parameters. docs/DASHBOARD.md defines every figure in words.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .portfolio import Filters, member
from .scope import Scope
from .store import DataStore

ACTIVATION_COHORT_DAYS = 90  # users first seen this many days before as-of ...
ACTIVATION_WINDOW_DAYS = 30  # ... activated by a value action within this many days


def accounts_sql(scope: Scope, filters: Filters, as_of: dt.date) -> tuple[str, list[Any]]:
    """SELECT of the accounts (id, contract_start, renewal_date) the scope and filters select."""
    where, params = scope.account_filter("a.account_id")
    fsql, fparams = filters.sql(as_of=as_of, alias="a")
    return (f"SELECT a.account_id, a.contract_start, a.renewal_date FROM accounts a "
            f"WHERE {where} AND {fsql}"), [*params, *fparams]


def has_mrr_history(ds: DataStore) -> bool:
    return "mrr_history" in ds.tables() and bool(ds.rows("SELECT count(*) > 0 FROM mrr_history")[0][0])


@dataclass(frozen=True)
class Retention:
    """Trailing-12-month retention as of ``as_of`` (period = [as_of - 1 year, as_of))."""

    period_start: dt.date
    renewals_due: int
    renewed: int
    cohort_accounts: int  # accounts with MRR in force > 0 on period_start
    mrr_then: float
    mrr_now: float
    expansion_mrr: float
    contraction_mrr: float
    churned_mrr: float

    @property
    def logo_retention(self) -> float | None:
        return self.renewed / self.renewals_due if self.renewals_due else None

    @property
    def nrr(self) -> float | None:
        return self.mrr_now / self.mrr_then if self.mrr_then > 0 else None


def retention_by_account(ds: DataStore, *, scope: Scope, as_of: dt.date) -> pd.DataFrame | None:
    """Per account of ``scope`` (index ``account_id``): ``due`` and ``renewed``, its renewals in
    the year before ``as_of``, and its MRR in force on the period's first day (``mrr_then``, NaN
    when none) and on ``as_of`` (``mrr_now``, 0 when none). None without MRR history.

    ``retention_of`` adds up any selection of these rows, so a filter change on the Portfolio page
    is a row selection, not two queries over ``mrr_history``. Renewal dates: an anniversary
    ``renewal_date - k years`` (k >= 0) in the period, after contract_start, of an account that
    paid before it; renewed when MRR in force the day after is above 0 (docs/DASHBOARD.md has the
    rule and its limits)."""
    if not has_mrr_history(ds):
        return None
    start = period_start(as_of)
    acc, params = accounts_sql(scope, Filters(), as_of)
    # year(R) - year(T) + j, j in {0, 1}: the only k that can put R - k years in [T - 1y, T).
    due = ds.df(f"""
        WITH acc AS ({acc}),
        cand AS (SELECT acc.account_id, acc.contract_start,
                        (acc.renewal_date
                         - to_years(year(acc.renewal_date) - year(?::DATE) + j))::DATE AS due_on
                 FROM acc, (VALUES (0), (1)) v(j)
                 WHERE acc.renewal_date IS NOT NULL AND year(acc.renewal_date) - year(?::DATE) + j >= 0),
        due AS (SELECT DISTINCT c.account_id, c.due_on, (c.due_on + 1) AS judged_on FROM cand c
                WHERE c.due_on >= ? AND c.due_on < ?
                  AND (c.contract_start IS NULL OR c.due_on > c.contract_start)
                  AND EXISTS (SELECT 1 FROM mrr_history p WHERE p.account_id = c.account_id
                              AND p.effective_date < c.due_on AND p.mrr > 0))
        SELECT due.account_id, count(*) AS due, count(*) FILTER (WHERE m.mrr > 0) AS renewed
        FROM due ASOF LEFT JOIN mrr_history m
          ON due.account_id = m.account_id AND due.judged_on >= m.effective_date
        GROUP BY due.account_id""", [*params, as_of, as_of, start, as_of])
    mrr = ds.df(f"""
        WITH acc AS ({acc}),
        mt AS (SELECT account_id, arg_max(mrr, effective_date) AS mrr FROM mrr_history
               WHERE effective_date <= ? GROUP BY account_id),
        mn AS (SELECT account_id, arg_max(mrr, effective_date) AS mrr FROM mrr_history
               WHERE effective_date <= ? GROUP BY account_id)
        SELECT acc.account_id, t.mrr AS mrr_then, coalesce(n.mrr, 0) AS mrr_now
        FROM acc LEFT JOIN mt t USING (account_id) LEFT JOIN mn n USING (account_id)
        ORDER BY acc.account_id""",
                [*params, start, as_of])
    out = mrr.set_index("account_id")[["mrr_then", "mrr_now"]].astype(float)
    counts = due.set_index("account_id")[["due", "renewed"]]
    out = out.join(counts, how="left").fillna({"due": 0, "renewed": 0}).astype({"due": int, "renewed": int})
    out.index = pd.Index(out.index.to_numpy(dtype=object), name="account_id")
    return out


def period_start(as_of: dt.date) -> dt.date:
    """The first day of the trailing 12 months before ``as_of``."""
    return (pd.Timestamp(as_of) - pd.DateOffset(years=1)).date()


Selection = pd.Index | np.ndarray | None


def _select(rows: pd.DataFrame, chosen: Selection) -> pd.DataFrame:
    """The rows of the chosen accounts: None = every row; ids; or a boolean mask over the same
    accounts in the same order (``View.keep`` for rows made under the view's scope: the accounts
    on file, in account order, as ``account_attributes`` lists them; a length check guards it)."""
    if chosen is None:
        return rows
    if isinstance(chosen, np.ndarray) and chosen.dtype == bool:
        if len(chosen) != len(rows):
            raise ValueError(f"a mask of {len(chosen)} rows for {len(rows)} accounts")
        return rows[chosen]
    return rows.loc[member(rows.index, pd.Index(chosen))]


def retention_of(rows: pd.DataFrame | None, as_of: dt.date, chosen: Selection = None) -> Retention | None:
    """``Retention`` of the ``chosen`` accounts (``_select``) from ``retention_by_account``'s
    rows: renewals summed; the NRR cohort = accounts with ``mrr_then > 0``. The rows come in
    account order, so the same accounts add up to the very same sums whichever scope or filter
    selected them."""
    if rows is None:
        return None
    rows = _select(rows, chosen)
    t, n = rows["mrr_then"].to_numpy(dtype=float), rows["mrr_now"].to_numpy(dtype=float)
    paid = t > 0  # NaN (no MRR then) is not
    t, n = t[paid], n[paid]
    return Retention(period_start(as_of), int(rows["due"].sum()), int(rows["renewed"].sum()), int(paid.sum()),
                     float(t.sum()), float(n.sum()), float(np.maximum(n - t, 0).sum()),
                     float(np.where(n > 0, np.maximum(t - n, 0), 0.0).sum()), float(np.where(n > 0, 0.0, t).sum()))


def selected_accounts(ds: DataStore, *, scope: Scope, as_of: dt.date, filters: Filters) -> pd.Index:
    """Ids of the accounts on file (churned too) that ``scope`` and ``filters`` select."""
    acc, params = accounts_sql(scope, filters, as_of)
    return pd.Index(ds.df(acc, params)["account_id"].to_numpy(dtype=object), name="account_id")


def retention(ds: DataStore, *, scope: Scope, as_of: dt.date, filters: Filters = Filters()
              ) -> Retention | None:
    """Logo retention, NRR and expansion MRR over the year before ``as_of``; None without MRR
    history (``retention_by_account`` has the rules; this adds up the selected accounts)."""
    ids = None if filters == Filters() else selected_accounts(ds, scope=scope, as_of=as_of, filters=filters)
    return retention_of(retention_by_account(ds, scope=scope, as_of=as_of), as_of, ids)


def value_action_types(catalogue: pd.DataFrame) -> tuple[str, ...]:
    """Event types that are value actions in the catalogue (app classifications included)."""
    flags = catalogue["value_action"].fillna(False).astype(bool)
    return tuple(sorted(catalogue.loc[flags, "event_type"].astype(str)))


@dataclass(frozen=True)
class Activation:
    """Users first seen in [as_of - 90 d, as_of - 30 d] and whether they did a value action
    within 30 days; users first seen later are still in their first 30 days (not in the rate)."""

    judged: int
    activated: int
    in_progress: int
    in_progress_activated: int
    has_user_ids: bool
    has_value_actions: bool

    @property
    def rate(self) -> float | None:
        return self.activated / self.judged if self.judged else None


def activation_by_account(ds: DataStore, *, scope: Scope, as_of: dt.date, value_types: tuple[str, ...]
                          ) -> pd.DataFrame:
    """Per account on file in ``scope`` (index ``account_id``, in account order, as
    ``account_attributes`` lists them): its users (``(account_id, user_id)`` pairs with a
    non-empty user_id, first seen = their first event ever, events before ``as_of`` only) counted as ``judged`` (first seen 30 to 90 days
    before ``as_of``), ``activated`` (of those, a value action within 30 days of first being seen),
    ``in_progress`` (first seen in the last 30 days), ``in_progress_activated``, and ``users``.

    One pass over the events per data version and date; ``activation_of`` adds up any selection
    of these rows, so a filter change is a row selection."""
    pred, params = "TRUE", []
    acc, acc_params = accounts_sql(scope, Filters(), as_of)
    if scope.owners is not None:  # a semi-join over all events costs: only when it selects
        pred, params = f"account_id IN (SELECT account_id FROM ({acc}))", acc_params
    t = pd.Timestamp(as_of).to_pydatetime()
    start, judged_by = (t - dt.timedelta(days=d) for d in (ACTIVATION_COHORT_DAYS, ACTIVATION_WINDOW_DAYS))
    window = f"INTERVAL {int(ACTIVATION_WINDOW_DAYS)} DAY"
    out = ds.df(f"""
        WITH u AS (
            SELECT account_id, min(occurred_at) AS first_seen,
                   min(occurred_at) FILTER (WHERE list_contains(?, event_type)) AS first_value
            FROM usage_events
            WHERE occurred_at < ? AND user_id IS NOT NULL AND user_id <> '' AND {pred}
            GROUP BY account_id, user_id),
        c AS (
            SELECT account_id, first_seen >= ? AND first_seen <= ? AS judged, first_seen > ? AS recent,
                   first_value < first_seen + {window} AS in_time, first_value IS NOT NULL AS any_value
            FROM u),
        per AS (
            SELECT account_id, count(*) FILTER (WHERE judged) AS judged,
                   count(*) FILTER (WHERE judged AND in_time) AS activated,
                   count(*) FILTER (WHERE recent) AS in_progress,
                   count(*) FILTER (WHERE recent AND any_value) AS in_progress_activated, count(*) AS users
            FROM c GROUP BY account_id)
        SELECT acc.account_id, coalesce(judged, 0) AS judged, coalesce(activated, 0) AS activated,
               coalesce(in_progress, 0) AS in_progress,
               coalesce(in_progress_activated, 0) AS in_progress_activated, coalesce(users, 0) AS users
        FROM ({acc}) acc LEFT JOIN per USING (account_id) ORDER BY acc.account_id""",
                [list(value_types), t, *params, start, judged_by, judged_by, *acc_params])
    out = out.set_index("account_id").astype(int)
    out.index = pd.Index(out.index.to_numpy(dtype=object), name="account_id")
    return out


def activation_of(rows: pd.DataFrame, value_types: tuple[str, ...], chosen: Selection = None) -> Activation:
    """``Activation`` of the ``chosen`` accounts (``_select``) from ``activation_by_account``."""
    rows = _select(rows, chosen)
    total = rows[["judged", "activated", "in_progress", "in_progress_activated", "users"]].sum()
    return Activation(int(total["judged"]), int(total["activated"]), int(total["in_progress"]),
                      int(total["in_progress_activated"]), has_user_ids=bool(total["users"] > 0),
                      has_value_actions=bool(value_types))


def activation(ds: DataStore, *, scope: Scope, as_of: dt.date, value_types: tuple[str, ...],
               filters: Filters = Filters()) -> Activation:
    """Activation of new users as of ``as_of`` (events before it only), of the accounts ``scope``
    and ``filters`` select (``activation_by_account`` has the rules)."""
    ids = None if filters == Filters() else selected_accounts(ds, scope=scope, as_of=as_of, filters=filters)
    return activation_of(activation_by_account(ds, scope=scope, as_of=as_of, value_types=value_types),
                         value_types, ids)
