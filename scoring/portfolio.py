"""The Portfolio page's figures: the filtered view of the book and its KPIs (retention and
activation: ``scoring.retention``).

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .risk import expected_arr_at_risk, fit_churn_risk
from .scope import Scope
from .store import DataStore

BANDS = ("at_risk", "watch", "healthy", "new")
BAND_LABELS = {"at_risk": "At risk", "watch": "Watch", "healthy": "Healthy", "new": "New"}
# Filter fields and the accounts column each selects on: identifiers come from here only.
FILTER_COLUMNS = {"csm": "csm_owner", "segment": "segment", "plan": "plan", "region": "region"}
PIPELINE_DAYS = (30, 60, 90, 120)  # renewal pipeline buckets: 0-30, 31-60, 61-90, 91-120 days
RISK_HORIZON_DAYS = 90
# The Portfolio page's sections below the figures, in order: tabs that run only when open; the
# open one is the URL's ``view`` (the first when none)
SECTIONS = ("Health and ARR by band", "Per CSM or segment", "Renewal pipeline", "Band mix over time",
            "Movers since the last snapshot")
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

    ``arr_at_risk`` is ``risk.expected_arr_at_risk``, the rule the At risk list and exports use:
    arr x churn_risk where the churn-risk model gives one, else arr x (100 - health) / 100.
    ``risk_basis``: ``"expected"`` with a model, ``"proxy"`` without one (every account then
    counts by the health proxy).
    """

    rows: pd.DataFrame
    selected: pd.Index  # ids of the accounts on file (churned too) that pass the filters
    risk_basis: str
    unpredicted: int  # accounts without a churn risk (they count by the health proxy)
    risk_note: str = ""  # what the model stood on (its ``describe()``), when there is one
    keep: np.ndarray | None = None  # the filters' mask over the attributes rows (``selected``'s rows)
    pos: np.ndarray | None = None  # each of ``rows``' positions among the attributes rows


def view(book_rows: pd.DataFrame, attrs: pd.DataFrame, filters: Filters, *, as_of: dt.date,
         model: Any = None, positions: np.ndarray | None = None) -> View:
    """Select the filtered rows of ``book_rows`` (from ``Book.visible``; not modified).
    ``positions``: each book row's position among ``attrs``' rows (``account_positions``); a page keeps it
    per data version, so a filter is a mask with no lookup of account ids (about 40 ms at 100,000
    accounts); computed here when not given."""
    if positions is None:
        positions = account_positions(attrs, book_rows)
    if len(positions) != len(book_rows):
        raise ValueError(f"positions has {len(positions)} rows for a book of {len(book_rows)}")
    keep = filters.mask(attrs, as_of=as_of)
    mine = keep[positions]
    cols = [c for c in VIEW_COLUMNS if c in book_rows.columns]  # copy only what views read
    rows = book_rows[cols] if mine.all() else book_rows.loc[mine, cols]
    pos = positions[mine]
    pos.flags.writeable = False
    # Arrow-backed string indexes convert to objects on every alignment; convert once.
    rows.index = pd.Index(rows.index.to_numpy(dtype=object), name="account_id")
    renewal = pd.Series(attrs["renewal_date"].to_numpy()[pos], index=rows.index)
    rows["renewal_date"] = renewal
    rows["days_to_renewal"] = (renewal - pd.Timestamp(as_of)).dt.days
    health = rows["health_score"].to_numpy(dtype=float)
    risk = (np.full(len(rows), np.nan) if model is None
            else np.asarray(model.predict(health), dtype=float))
    rows["churn_risk"] = risk
    rows["arr_at_risk"] = expected_arr_at_risk(rows["arr"].to_numpy(dtype=float), health, risk)
    note = model.describe() if model is not None and hasattr(model, "describe") else ""
    return View(rows, attrs.index[keep], "proxy" if model is None else "expected", int(np.isnan(risk).sum()),
                note, keep, pos)


def account_positions(attrs: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
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
    """The churn-risk model of ``scoring.risk`` for this profile, or None (it cannot fit). Fitted
    on the whole history like the scores' peers, so every viewer gets the same probability for an
    account; the scope only selects the rows it is applied to."""
    with ds.cursor() as con:
        return fit_churn_risk(con, profile, horizon=horizon)


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
    """Each band's position in ``BANDS`` (-1 for anything else), without building strings: the
    categories' codes, or for Arrow-backed text one ``index_in`` in Arrow (a tenth of the time of
    going through Python strings)."""
    if isinstance(bands.dtype, pd.CategoricalDtype) and list(bands.cat.categories) == list(BANDS):
        return bands.cat.codes.to_numpy(dtype=np.int64)
    if hasattr(bands.array, "__arrow_array__") and not isinstance(bands.dtype, pd.CategoricalDtype):
        found = pc.index_in(pa.array(bands.array), value_set=pa.array(list(BANDS)))
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
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
