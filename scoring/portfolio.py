"""The Portfolio page's figures: the filtered view of the book, its KPIs, and retention.

Two kinds of function, both tested without Streamlit:

- **Row views** take the scored book's visible rows (``Book.visible(scope)``: access control is
  already applied) and only select or sum them. Filters are row selection, never re-scoring, so an
  account shows the same score in every view.
- **Queries** ``fn(ds, *, scope, ...)`` run SQL through ``DataStore`` for what the book does not
  hold (renewal dates, MRR history, users' first actions). Each applies ``scope.account_filter``
  and the page's ``Filters`` as bound parameters; column names come from the allow-list below.

Time follows the contract: as of T only what was known before T (events before T, the MRR in
force on a day is the newest ``mrr_history`` row dated on or before it). docs/DASHBOARD.md defines
every figure in words.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .scope import Scope
from .store import DataStore

BANDS = ("at_risk", "watch", "healthy", "new")
BAND_LABELS = {"at_risk": "At risk", "watch": "Watch", "healthy": "Healthy", "new": "New"}
# Filter fields and the accounts column each selects on: identifiers come from here only.
FILTER_COLUMNS = {"csm": "csm_owner", "segment": "segment", "plan": "plan", "region": "region"}
PIPELINE_DAYS = (30, 60, 90, 120)  # renewal pipeline buckets: 0-30, 31-60, 61-90, 91-120 days
ACTIVATION_COHORT_DAYS = 90  # users first seen this many days before as-of ...
ACTIVATION_WINDOW_DAYS = 30  # ... activated by a value action within this many days
RISK_HORIZON_DAYS = 90
VIEW_COLUMNS = ("name", "segment", "plan", "region", "csm_owner", "arr", "engagement_score",
                "health_score", "band", "expansion_ready", "data_confidence")


# ---------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """The page's account filters; empty means "any". Frozen, so it can be part of a cache key.

    Missing text values (an account without a segment) are matched by the empty string "".
    ``renewal_within`` keeps accounts whose renewal_date is in [as-of, as-of + N days].
    """

    csm: tuple[str, ...] = ()
    segment: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    renewal_within: int | None = None

    def _chosen(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(FILTER_COLUMNS[f], getattr(self, f)) for f in FILTER_COLUMNS if getattr(self, f)]

    def _renewal_range(self, as_of: dt.date) -> tuple[dt.date, dt.date]:
        return as_of, as_of + dt.timedelta(days=int(self.renewal_within or 0))

    def sql(self, *, as_of: dt.date, alias: str = "a") -> tuple[str, list[Any]]:
        """A predicate on the accounts table (alias chosen by code) and its bound parameters."""
        parts, params = ["TRUE"], []
        for col, values in self._chosen():
            parts.append(f"list_contains(?, coalesce({alias}.{col}, ''))")
            params.append(list(values))
        if self.renewal_within is not None:
            parts.append(f"{alias}.renewal_date BETWEEN ? AND ?")
            params.extend(self._renewal_range(as_of))
        return " AND ".join(parts), params

    def mask(self, attrs: pd.DataFrame, *, as_of: dt.date) -> np.ndarray:
        """The same selection as ``sql`` on a frame with the accounts columns (vectorised)."""
        keep = np.ones(len(attrs), dtype=bool)
        for col, values in self._chosen():
            keep &= attrs[col].fillna("").isin(values).to_numpy()
        if self.renewal_within is not None:
            lo, hi = (pd.Timestamp(d) for d in self._renewal_range(as_of))
            when = pd.to_datetime(attrs["renewal_date"])
            keep &= ((when >= lo) & (when <= hi)).fillna(False).to_numpy(dtype=bool)
        return keep

    def describe(self) -> str:
        """The selection in plain words, for the page and exports."""
        words = {"csm_owner": "CSM", "segment": "segment", "plan": "plan", "region": "region"}
        parts = [f"{words[col]} is " + " or ".join(v if v else "(empty)" for v in values)
                 for col, values in self._chosen()]
        if self.renewal_within is not None:
            parts.append(f"renewal within {self.renewal_within} days")
        return "; ".join(parts) if parts else "all accounts"


def account_attributes(ds: DataStore, *, scope: Scope) -> pd.DataFrame:
    """Every account the viewer may see (churned ones too), with the columns filters use."""
    where, params = scope.account_filter("a.account_id")
    df = ds.df("SELECT a.account_id, a.name, a.segment, a.plan, a.region, a.csm_owner, "
               f"a.renewal_date FROM accounts a WHERE {where} ORDER BY a.account_id", params)
    df["renewal_date"] = pd.to_datetime(df["renewal_date"])
    df.index = pd.Index(df.pop("account_id").to_numpy(dtype=object), name="account_id")
    return df


def filter_options(attrs: pd.DataFrame) -> dict[str, list[str]]:
    """Each filter's choices: the distinct values among the viewer's accounts ("" = empty)."""
    return {f: sorted(attrs[col].fillna("").astype(str).unique().tolist())
            for f, col in FILTER_COLUMNS.items()}


def filter_choices(ds: DataStore, *, scope: Scope) -> dict[str, list[str]]:
    """``filter_options`` of ``account_attributes`` (a query function, so a page caches it)."""
    return filter_options(account_attributes(ds, scope=scope))


# ---------------------------------------------------------------- the view of the book


@dataclass(frozen=True)
class View:
    """The visible book's rows that pass the filters, with renewal dates and ARR at risk.

    ``risk_basis`` says what ``arr_at_risk`` holds: ``"expected"`` = arr x churn_risk from the
    churn-risk model; ``"band"`` = the ARR of at_risk accounts (no model).
    """

    rows: pd.DataFrame
    selected: pd.Index  # ids of the accounts on file (churned too) that pass the filters
    risk_basis: str
    unpredicted: int  # accounts the model gave no churn risk (their ARR at risk counts 0)
    risk_note: str = ""  # what the model stood on (its ``describe()``), when there is one
    keep: np.ndarray | None = None  # the filters' mask over the attributes rows (``selected``'s rows)
    pos: np.ndarray | None = None  # each of ``rows``' positions among the attributes rows, when known


def view(book_rows: pd.DataFrame, attrs: pd.DataFrame, filters: Filters, *, as_of: dt.date,
         model: Any = None, positions: np.ndarray | None = None) -> View:
    """Select the filtered rows of ``book_rows`` (from ``Book.visible``; not modified).
    ``positions``: each book row's position among ``attrs``' rows (``positions``), when the caller
    keeps it; the filter is then a mask, with no lookup of account ids (about 40 ms at 100,000)."""
    keep = filters.mask(attrs, as_of=as_of)
    chosen = attrs.index[keep]
    cols = [c for c in VIEW_COLUMNS if c in book_rows.columns]  # copy only what views read
    if positions is not None:
        if len(positions) != len(book_rows):
            raise ValueError(f"positions has {len(positions)} rows for a book of {len(book_rows)}")
        mine = keep[positions]
        rows = book_rows[cols] if mine.all() else book_rows.loc[mine, cols]
        pos = positions[mine]
        pos.flags.writeable = False
        renewal = pd.Series(attrs["renewal_date"].to_numpy()[pos])
    else:
        pos = None
        rows = book_rows[cols] if keep.all() else book_rows.loc[member(book_rows.index, chosen), cols]
    # Arrow-backed string indexes convert to objects on every alignment; convert once.
    rows.index = pd.Index(rows.index.to_numpy(dtype=object), name="account_id")
    if positions is not None:
        renewal.index = rows.index
    else:
        renewal = attrs["renewal_date"].reindex(rows.index)
    rows["renewal_date"] = renewal
    rows["days_to_renewal"] = (renewal - pd.Timestamp(as_of)).dt.days
    arr = rows["arr"].to_numpy(dtype=float)
    if model is not None:
        risk = np.asarray(model.predict(rows["health_score"].to_numpy(dtype=float)), dtype=float)
        rows["churn_risk"] = risk
        rows["arr_at_risk"] = np.where(np.isfinite(risk), arr * risk, 0.0)
        note = model.describe() if hasattr(model, "describe") else ""
        return View(rows, chosen, "expected", int((~np.isfinite(risk)).sum()), note, keep, pos)
    rows["churn_risk"] = np.nan
    rows["arr_at_risk"] = np.where((rows["band"] == "at_risk").to_numpy(), arr, 0.0)
    return View(rows, chosen, "band", 0, keep=keep, pos=pos)


def positions(attrs: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Each row's position among ``attrs``' rows (``account_attributes``), read-only: a page
    keeps it per data version and book, and ``view`` then filters by mask. Every row must be
    among the attributes (the book's accounts are the accounts file's)."""
    pos = pd.Index(attrs.index.to_numpy(dtype=object)).get_indexer(rows.index.to_numpy(dtype=object))
    if (pos < 0).any():
        raise ValueError(f"{int((pos < 0).sum())} row(s) are not among the accounts' attributes")
    pos.flags.writeable = False
    return pos


def member(index: pd.Index, ids: pd.Index) -> np.ndarray:
    """``index.isin(ids)`` for unique ids by hash lookup (isin on pandas 3 strings is ~1000x slower)."""
    return pd.Series(True, index=ids).reindex(index, fill_value=False).to_numpy(dtype=bool)


def churn_model(ds: DataStore, *, scope: Scope, profile: Any, horizon: int = RISK_HORIZON_DAYS) -> Any:
    """The churn-risk model of ``scoring.risk`` for this profile, or None (no module, or it
    cannot fit). Fitted on the whole history like the scores' peers, so every viewer gets the same
    probability for an account; the scope only selects the rows it is applied to."""
    if importlib.util.find_spec("scoring.risk") is None:
        return None
    from . import risk

    with ds.cursor() as con:
        return risk.fit_churn_risk(con, profile, horizon=horizon)


@dataclass(frozen=True)
class Kpis:
    accounts: int
    arr: float
    arr_at_risk: float
    bands: pd.DataFrame  # index band: accounts, share_accounts, arr, share_arr


def kpis(v: View) -> Kpis:
    return Kpis(len(v.rows), float(v.rows["arr"].sum()), float(v.rows["arr_at_risk"].sum()),
                band_summary(v.rows))


def band_codes(bands: pd.Series) -> np.ndarray:
    """Each band's position in ``BANDS`` (-1 for anything else), without building strings."""
    if isinstance(bands.dtype, pd.CategoricalDtype) and list(bands.cat.categories) == list(BANDS):
        return bands.cat.codes.to_numpy(dtype=np.int64)
    return pd.Categorical(bands.astype(object), categories=list(BANDS)).codes.astype(np.int64)


def band_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Accounts and ARR per band with their shares of the view (shares 0 in an empty view)."""
    code = band_codes(rows["band"])
    ok = code >= 0
    accounts = np.bincount(code[ok], minlength=len(BANDS))
    arr = np.bincount(code[ok], weights=rows["arr"].to_numpy(dtype=float)[ok], minlength=len(BANDS))
    g = pd.DataFrame({"accounts": accounts, "arr": arr}, index=pd.Index(list(BANDS), name="band"))
    g["share_accounts"] = g["accounts"] / max(int(accounts.sum()), 1)
    g["share_arr"] = g["arr"] / arr.sum() if arr.sum() > 0 else 0.0
    return g[["accounts", "share_accounts", "arr", "share_arr"]]


def breakdown(rows: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Per CSM (``by="csm_owner"``) or segment: accounts, ARR, ARR at risk, mean health (of the
    accounts with one) and the share of accounts in each band, largest ARR first. A missing CSM
    or segment is the key ""."""
    if by not in ("csm_owner", "segment"):
        raise ValueError(f"by={by!r}: expected csm_owner or segment")
    key, names = pd.factorize(rows[by].fillna("").astype(object), sort=True)
    n = len(names)
    health = rows["health_score"].to_numpy(dtype=float)
    has = np.isfinite(health)
    g = pd.DataFrame({
        "accounts": np.bincount(key, minlength=n),
        "arr": np.bincount(key, weights=rows["arr"].to_numpy(dtype=float), minlength=n),
        "arr_at_risk": np.bincount(key, weights=rows["arr_at_risk"].to_numpy(dtype=float), minlength=n),
    }, index=pd.Index(list(names), name=by, dtype=object))
    with np.errstate(invalid="ignore", divide="ignore"):
        g["mean_health"] = (np.bincount(key[has], weights=health[has], minlength=n)
                            / np.bincount(key[has], minlength=n))
    code = band_codes(rows["band"])
    for i, band in enumerate(BANDS):
        g[f"share_{band}"] = np.bincount(key[code == i], minlength=n) / np.maximum(g["accounts"], 1)
    return g.sort_values(["arr", "accounts"], ascending=False)


def health_bins(rows: pd.DataFrame, *, width: int = 5) -> pd.DataFrame:
    """Accounts per health bin and band: [0, 5), [5, 10), ... [95, 100] (100 falls in the last).
    Accounts without a health score are left out."""
    nbins = int(np.ceil(100 / width))
    health = rows["health_score"].to_numpy(dtype=float)
    code = band_codes(rows["band"])
    ok = np.isfinite(health) & (code >= 0)
    idx = np.clip(np.floor(health[ok] / width).astype(np.int64), 0, nbins - 1)
    k = len(BANDS)
    counts = np.bincount(idx * k + code[ok], minlength=nbins * k)
    return pd.DataFrame({"bin_start": np.repeat(np.arange(nbins) * width, k),
                         "band": np.tile(np.array(BANDS, dtype=object), nbins), "accounts": counts})


def renewal_pipeline(rows: pd.DataFrame, *, days: tuple[int, ...] = PIPELINE_DAYS) -> pd.DataFrame:
    """Renewals due in the next ``days`` buckets (0-30, 31-60, ...: days from the as-of date to
    renewal_date, both ends included) by band: accounts and ARR."""
    d = rows["days_to_renewal"].to_numpy(dtype=float)
    bucket = np.searchsorted(np.asarray(days, dtype=float), d, side="left")  # d <= days[i]
    code = band_codes(rows["band"])
    ok = np.isfinite(d) & (d >= 0) & (bucket < len(days)) & (code >= 0)
    k, nb = len(BANDS), len(days)
    cell = bucket[ok] * k + code[ok]
    labels = [f"{lo}-{hi} days" for lo, hi in zip((0,) + tuple(x + 1 for x in days[:-1]), days)]
    return pd.DataFrame({
        "bucket": np.repeat(np.array(labels, dtype=object), k),
        "band": np.tile(np.array(BANDS, dtype=object), nb),
        "accounts": np.bincount(cell, minlength=nb * k),
        "arr": np.bincount(cell, weights=rows["arr"].to_numpy(dtype=float)[ok], minlength=nb * k)})


# ---------------------------------------------------------------- retention (SQL)


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
