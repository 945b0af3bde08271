"""The outreach lists' rules over the stored score history (``score_snapshots`` of one profile
version): the change in health over 30 days, and whether an account has stayed in a band long
enough to enter a list (the alert-fatigue rule). ``scoring.lists`` applies them; docs/OUTREACH.md
states them.

The snapshots of a 100,000-account book over the lookback are about 850,000 rows, so what they
say is computed once per list data (``health_30_days_before``, ``band_keepers``: ``build_list``
keeps both with the shared ``ListData``) and account ids are matched with Arrow's hash lookup.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CHANGE_DAYS, CHANGE_TOLERANCE = 30, 7


def change_over_30_days(health: pd.Series, snapshots: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Health now minus health in the account's snapshot nearest to ``as_of - 30`` days (within
    7 days of it; the earlier one on a tie); NaN without such a snapshot."""
    return change(health, health_30_days_before(snapshots, as_of))


def health_30_days_before(snapshots: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Per account (index account_id), health in its snapshot nearest to ``as_of - 30`` days
    (within 7 days of it; the earlier one on a tie); accounts without one are absent."""
    target = pd.Timestamp(as_of - dt.timedelta(days=CHANGE_DAYS))
    s = snapshots[["as_of", "account_id", "health_score"]].copy()
    s["gap"] = (pd.to_datetime(s["as_of"]) - target).dt.days
    s = s[(s["gap"].abs() <= CHANGE_TOLERANCE) & s["health_score"].notna()]
    s = s.assign(dist=s["gap"].abs()).sort_values(["account_id", "dist", "gap"], kind="stable")
    return s.drop_duplicates("account_id").set_index("account_id")["health_score"]


def change(health: pd.Series, then: pd.Series) -> pd.Series:
    """Health now minus ``health_30_days_before``'s figure, per account of ``health``."""
    return (health - then.reindex(health.index)).rename("change_30d")


def stayed_in_band(accounts: pd.Index, snapshots: pd.DataFrame, band: str, as_of: dt.date,
                   days: int) -> tuple[pd.Series, str | None]:
    """Per account: in ``band`` in every stored snapshot from the newest one at least ``days``
    before ``as_of`` (the anchor) up to ``as_of``. With no snapshot that far back the rule cannot
    apply: every account passes, and the note says so."""
    return passing(accounts, band_keepers(snapshots, band, as_of, days))


def band_keepers(snapshots: pd.DataFrame, band: str, as_of: dt.date,
                 days: int) -> tuple[pa.Array | None, str | None]:
    """The ids that pass ``stayed_in_band`` (Arrow text, unique), and its note; None instead of
    ids when every account passes (``days`` is 0, or no snapshot is that old)."""
    if days <= 0:
        return None, None
    dates = pd.to_datetime(snapshots["as_of"]) if len(snapshots) else pd.Series([], dtype="datetime64[ns]")
    cutoff = pd.Timestamp(as_of - dt.timedelta(days=days))
    before = dates[dates <= cutoff]
    if before.empty:
        return None, f"no score history {days} days back for this profile version: the {days}-day rule is off"
    anchor = before.max()
    window = snapshots[(dates >= anchor) & (dates < pd.Timestamp(as_of))]
    on_anchor = arrow_text(window.loc[pd.to_datetime(window["as_of"]) == anchor, "account_id"]).unique()
    off_band = arrow_text(window.loc[window["band"].astype("str") != band, "account_id"]).unique()
    return on_anchor.filter(pc.invert(_is_in(on_anchor, off_band))), None


def passing(accounts: pd.Index, keepers: tuple[pa.Array | None, str | None]) -> tuple[pd.Series, str | None]:
    """``stayed_in_band`` for ``accounts`` given ``band_keepers``' result (computed once)."""
    ids, note = keepers
    if ids is None:
        return pd.Series(True, index=accounts), note
    ok = _is_in(arrow_text(accounts), ids).to_numpy(zero_copy_only=False)
    return pd.Series(ok, index=accounts, dtype=bool), note


def among(accounts: pa.Array, ids: Iterable[str]) -> np.ndarray:
    """Whether each account (Arrow text) is one of ``ids`` (a few: the ones with feedback), as a
    new, writable array."""
    ids = [str(a) for a in ids]
    if not ids or not len(accounts):
        return np.zeros(len(accounts), dtype=bool)
    return _is_in(accounts, pa.array(ids, type=pa.string())).to_numpy(zero_copy_only=False).copy()


def _is_in(ids: pa.Array, values: pa.Array) -> pa.Array:
    """Whether each id is among ``values``, as Arrow booleans (no nulls), by Arrow's hash lookup
    (pandas' ``isin`` on Arrow text walks Python strings one by one: about a second for 100,000
    accounts)."""
    return pc.is_in(ids, value_set=values.cast(ids.type).unique()).fill_null(False)


def arrow_text(x: pd.Index | pd.Series) -> pa.Array:
    """Account ids as Arrow text (Arrow-backed text is taken without a copy)."""
    if hasattr(x.array, "__arrow_array__"):  # Arrow-backed text: no copy
        return pa.array(x.array)
    return pa.array([None if v is None else str(v) for v in x], type=pa.string())


__all__ = ["CHANGE_DAYS", "CHANGE_TOLERANCE", "among", "arrow_text", "band_keepers", "change", "change_over_30_days",
           "health_30_days_before", "passing", "stayed_in_band"]
