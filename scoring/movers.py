"""Score history for the Portfolio page: band mix over time and movers since the last snapshot.

Snapshots (``score_snapshots``) keep what the product said on each as-of date, with the profile
name and version that said it. Once a new profile version is in use, the backfill of the next
import stores that version too for dates that already have the old one, so one date may hold
several versions. **Which snapshot of a date counts**: the one made first (earliest
``created_at``; on a tie the higher version) — what the product said at the time. The series is
of one profile name, the one in use; where the version changes from one date to the next the
page marks it, because a jump there may be the profile's doing, not the customers'.

Movers compare the previous snapshot (the newest one dated before the book's as-of date) with
the book now. When the previous snapshot was made with another version than the one in use,
each account's change splits (``split_change``) into customer movement, scored with the old
profile both times, and the profile change, both profiles on today's data.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .portfolio import BANDS, Filters, band_codes, member
from .scope import Scope
from .store import DataStore

NOT_IN_SNAPSHOT = "not in snapshot"  # new to the book since (or not active then)
LEFT_BOOK = "not active now"  # churned since, or no longer active on the as-of date

_PICK = """
    WITH made AS (
        SELECT as_of, profile_version, min(created_at) AS made FROM score_snapshots
        WHERE profile = ? AND as_of <= ? GROUP BY as_of, profile_version),
    pick AS (
        SELECT as_of, profile_version FROM made
        QUALIFY row_number() OVER (PARTITION BY as_of ORDER BY made, profile_version DESC) = 1)"""


def band_history(ds: DataStore, *, scope: Scope, profile_name: str, as_of: dt.date,
                 filters: Filters = Filters()) -> pd.DataFrame:
    """Per snapshot date up to ``as_of`` (the snapshot made first on each date) and band: the
    accounts and their ARR, over the accounts the scope and filters select (filters read the
    accounts' attributes as they are now). Columns: as_of, profile_version, band, accounts, arr."""
    where, params = scope.account_filter("s.account_id")
    fsql, fparams = filters.sql(as_of=as_of, alias="a")
    return ds.df(f"""{_PICK}
        SELECT s.as_of, s.profile_version, s.band, count(*) AS accounts, sum(s.arr) AS arr
        FROM score_snapshots s JOIN pick p USING (as_of, profile_version)
        JOIN accounts a ON a.account_id = s.account_id
        WHERE s.profile = ? AND {where} AND {fsql}
        GROUP BY ALL ORDER BY s.as_of, s.band""", [profile_name, as_of, profile_name, *params, *fparams])


@dataclass(frozen=True)
class AccountHistory:
    """What ``band_history`` counts, per snapshot row: its date and band as one ``key`` (date x
    len(BANDS) + band code; the date an index into ``dates``, which holds as_of and
    profile_version of each picked snapshot date in date order), the account's position among
    ``portfolio.account_attributes``' rows (same scope, same order) and its ARR (missing: 0).
    Read-only arrays, shared by every rerun."""

    dates: pd.DataFrame
    key: np.ndarray
    pos: np.ndarray
    arr: np.ndarray


def band_history_by_account(ds: DataStore, *, scope: Scope, profile_name: str,
                            as_of: dt.date) -> AccountHistory:
    """``band_history``'s snapshot rows before any filter, once per data version and scope, so
    that a filter change counts rows in memory (``band_mix_of``) instead of
    querying every snapshot again."""
    where, params = scope.account_filter("a.account_id")
    df = ds.df(f"""{_PICK},
        acc AS (SELECT a.account_id, row_number() OVER (ORDER BY a.account_id) - 1 AS pos
                FROM accounts a WHERE {where})
        SELECT s.as_of, s.profile_version, acc.pos, s.band, coalesce(s.arr, 0) AS arr
        FROM score_snapshots s JOIN pick p USING (as_of, profile_version)
        JOIN acc ON acc.account_id = s.account_id
        WHERE s.profile = ?
        ORDER BY s.as_of, acc.pos""", [profile_name, as_of, *params, profile_name])
    dates = df[["as_of", "profile_version"]].drop_duplicates().reset_index(drop=True)
    date = np.searchsorted(dates["as_of"].to_numpy(), df["as_of"].to_numpy())
    band = band_codes(df["band"])
    ok = band >= 0  # the schema allows only BANDS; anything else is left out, not miscounted
    out = AccountHistory(dates, (date * len(BANDS) + band)[ok].astype(np.int64),
                         df["pos"].to_numpy(dtype=np.int64)[ok], df["arr"].to_numpy(dtype=np.float64)[ok])
    for x in (out.key, out.pos, out.arr):
        x.flags.writeable = False
    return out


def _counted(h: AccountHistory, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Accounts and ARR per (date, band), shape (dates, BANDS), of the rows ``keep`` marks."""
    key, arr = h.key, h.arr
    if keep is not None:
        rows = np.flatnonzero(np.asarray(keep, dtype=bool)[h.pos])  # faster than a boolean compress
        key, arr = key[rows], arr[rows]
    size, k = len(h.dates) * len(BANDS), len(BANDS)
    return (np.bincount(key, minlength=size).reshape(-1, k),
            np.bincount(key, weights=arr, minlength=size).reshape(-1, k))


def band_mix_of(h: AccountHistory, keep: np.ndarray | None = None) -> pd.DataFrame:
    """``band_mix(band_history(...))`` of the accounts at the positions ``keep`` marks (a mask over
    ``account_attributes``' rows, as ``Filters.mask`` gives; None: all), counted from the rows kept
    once (a filter change on Portfolio draws it)."""
    accounts, arr = _counted(h, keep)
    total = accounts.sum(axis=1)
    dates = np.flatnonzero(total > 0)
    k = len(BANDS)
    out = h.dates.iloc[np.repeat(dates, k)].reset_index(drop=True)
    counts = accounts[dates].ravel()
    return out.assign(band=pd.array(list(BANDS) * len(dates), dtype="str"), accounts=counts,
                      arr=arr[dates].ravel(), share=counts / np.repeat(total[dates], k))


def band_mix(history: pd.DataFrame) -> pd.DataFrame:
    """``band_history`` with every band on every date (0 when none) and each band's share of
    the date's accounts."""
    if history.empty:
        return history.assign(share=pd.Series(dtype=float))
    dates = history[["as_of", "profile_version"]].drop_duplicates()
    full = dates.merge(pd.DataFrame({"band": list(BANDS)}), how="cross")
    g = full.merge(history, on=["as_of", "profile_version", "band"], how="left")
    g[["accounts", "arr"]] = g[["accounts", "arr"]].fillna(0)
    g["accounts"] = g["accounts"].astype(int)
    g["share"] = g["accounts"] / g.groupby("as_of")["accounts"].transform("sum")
    return g.sort_values(["as_of", "band"], key=lambda c: c.map(BANDS.index) if c.name == "band"
                         else c).reset_index(drop=True)


def version_changes(mix: pd.DataFrame) -> pd.DataFrame:
    """The dates where the profile version differs from the previous snapshot date's."""
    v = mix[["as_of", "profile_version"]].drop_duplicates().sort_values("as_of")
    prev = v["profile_version"].shift()
    changed = v[prev.notna() & (v["profile_version"] != prev)].copy()
    changed["from_version"] = prev[changed.index].astype(int)
    return changed.rename(columns={"profile_version": "to_version"}).reset_index(drop=True)


@dataclass(frozen=True)
class Snapshot:
    as_of: dt.date
    profile: str
    version: int
    rows: pd.DataFrame  # index account_id: health_score, band, arr
    pos: np.ndarray | None = None  # each row's position among account_attributes' rows (-1: none)

    @property
    def ref(self) -> str:
        """How to load the profile that made it (version 0: the built-in default, unsaved)."""
        return self.profile if self.version == 0 else f"{self.profile}@{self.version}"


def in_view(snap: Snapshot, selected: pd.Index, keep: np.ndarray | None = None) -> Snapshot:
    """The snapshot's rows of the ``selected`` accounts (the page's filters). With ``keep`` (the
    filters' mask over ``account_attributes``' rows, of which ``selected`` are the ids) and the
    snapshot's ``pos``, by mask, with no lookup of account ids."""
    if keep is not None and snap.pos is not None:
        mine = (snap.pos >= 0) & np.asarray(keep, dtype=bool)[np.maximum(snap.pos, 0)]
        pos = snap.pos[mine]
        pos.flags.writeable = False
        return Snapshot(snap.as_of, snap.profile, snap.version, snap.rows[mine], pos)
    return Snapshot(snap.as_of, snap.profile, snap.version, snap.rows[member(snap.rows.index, selected)])


def previous_snapshot(ds: DataStore, *, scope: Scope, profile_name: str,
                      before: dt.date) -> Snapshot | None:
    """The newest snapshot of ``profile_name`` dated before ``before`` (made first on its date)."""
    where, params = scope.account_filter("s.account_id")
    last = ds.rows(f"""{_PICK} SELECT as_of, profile_version FROM pick WHERE as_of < ?
                       ORDER BY as_of DESC LIMIT 1""", [profile_name, before, before])
    if not last:
        return None
    when, version = last[0]
    where_a, params_a = scope.account_filter("a.account_id")
    rows = ds.df(f"""WITH acc AS (SELECT a.account_id, row_number() OVER (ORDER BY a.account_id) - 1 AS pos
                                  FROM accounts a WHERE {where_a})
                     SELECT s.account_id, s.health_score, s.band, s.arr, coalesce(acc.pos, -1) AS pos
                     FROM score_snapshots s LEFT JOIN acc ON acc.account_id = s.account_id
                     WHERE s.as_of = ? AND s.profile = ? AND s.profile_version = ? AND {where}
                     ORDER BY s.account_id""", [*params_a, when, profile_name, version, *params])
    rows.index = pd.Index(rows.pop("account_id").to_numpy(dtype=object), name="account_id")
    pos = rows.pop("pos").to_numpy(dtype=np.int64)
    pos.flags.writeable = False
    return Snapshot(when, profile_name, int(version), rows, pos)


def _codes(bands: pd.Series, missing: int) -> np.ndarray:
    codes = band_codes(bands)
    return np.where(codes < 0, missing, codes)


def band_matrix(then: pd.Series, now: pd.Series, *, then_pos: np.ndarray | None = None,
                now_pos: np.ndarray | None = None) -> pd.DataFrame:
    """Accounts by band then (rows) and band now (columns); accounts in one only get
    ``NOT_IN_SNAPSHOT`` / ``LEFT_BOOK``. Both Series are bands indexed by account_id. With each
    one's positions among ``account_attributes``' rows (``Snapshot.pos`` after ``in_view``,
    ``View.pos``), accounts are matched by position, with no lookup of account ids."""
    k = len(BANDS) + 1  # the last row / column: not in the snapshot / not active now
    t = _codes(then, k - 1)
    if then_pos is not None and now_pos is not None and (then_pos >= 0).all() and (now_pos >= 0).all():
        size = int(max(then_pos.max(initial=-1), now_pos.max(initial=-1))) + 1
        now_code = np.full(size, k - 1, dtype=np.int64)
        now_code[now_pos] = _codes(now, k - 1)
        in_then = np.zeros(size, dtype=bool)
        in_then[then_pos] = True
        n = now_code[then_pos]
        only_now = _codes(now, k - 1)[~in_then[now_pos]]
    else:
        n_of_then = pd.Series(_codes(now, k - 1), index=now.index).reindex(then.index)
        n = n_of_then.fillna(k - 1).to_numpy(dtype=np.int64)
        only_now = _codes(now[~member(now.index, then.index)], k - 1)
    counts = np.bincount(t * k + n, minlength=k * k).reshape(k, k)
    counts[k - 1] += np.bincount(only_now, minlength=k)
    return pd.DataFrame(counts, index=pd.Index([*BANDS, NOT_IN_SNAPSHOT], name="band then"),
                        columns=pd.Index([*BANDS, LEFT_BOOK], name="band now"))


def split_change(then_old: pd.Series, now_new: pd.Series,
                 now_old: pd.Series | None = None) -> pd.DataFrame:
    """Split each account's score change since the snapshot.

    ``then_old`` = S(then, old profile) (the snapshot), ``now_new`` = S(now, profile in use),
    ``now_old`` = S(now, old profile), or None when the profile did not change; Series indexed
    by account_id, over the accounts in both ``then_old`` and ``now_new``. Returns
    ``total = now_new - then_old``, ``customer = now_old - then_old`` (the customer's movement,
    one profile throughout) and ``profile = now_new - now_old`` (the profile's doing, same data);
    customer + profile = total. Without ``now_old`` the whole change is the customer's.
    """
    both = pd.concat([then_old.astype(float).rename("t"), now_new.astype(float).rename("n")],
                     axis=1, join="inner")
    total = both["n"] - both["t"]
    if now_old is None:
        return pd.DataFrame({"customer": total, "profile": 0.0, "total": total}, index=both.index)
    o = now_old.astype(float).reindex(both.index)
    return pd.DataFrame({"customer": o - both["t"], "profile": both["n"] - o, "total": total},
                        index=both.index)


MOVER_COLUMNS = ["name", "csm_owner", "arr", "band_then", "band_now", "health_then", "health_now",
                 "change", "customer_change", "profile_change"]


def _matched(now: pd.DataFrame, snap: Snapshot, now_pos: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The accounts in both ``now`` and the snapshot: their rows in ``now`` (in now's order, as an
    inner join keeps it) and in ``snap.rows``. By position among ``account_attributes``' rows
    when both sides have positions (``View.pos``, ``Snapshot.pos``), else by account id."""
    if now_pos is not None and snap.pos is not None and (snap.pos >= 0).all():
        row_of = np.full(int(max(snap.pos.max(initial=-1), now_pos.max(initial=-1))) + 1, -1, dtype=np.int64)
        row_of[snap.pos] = np.arange(len(snap.pos))
        match = row_of[now_pos]
    else:
        match = snap.rows.index.get_indexer(now.index)
    both = np.flatnonzero(match >= 0)
    return both, match[both]


def _mover_rows(now: pd.DataFrame, snap: Snapshot, in_now: np.ndarray, in_then: np.ndarray,
                now_old: pd.Series | None) -> pd.DataFrame:
    """``MOVER_COLUMNS`` of the accounts at rows ``in_now`` of ``now`` and ``in_then`` of the
    snapshot, in that order; each column taken by position before it leaves Arrow or NumPy (a
    page shows 20 of 100,000 movers: converting whole string columns was most of its time)."""
    out = now[["name", "csm_owner", "arr"]].iloc[in_now]
    out.index = pd.Index(np.asarray(out.index, dtype=object), name="account_id")
    band_now = now["band"].array.take(in_now)
    out["band_then"] = pd.array(snap.rows["band"].array.take(in_then), dtype="str")
    out["band_now"] = pd.array(np.asarray(band_now, dtype=object).astype(str), dtype="str")
    out["health_then"] = snap.rows["health_score"].to_numpy(dtype=float)[in_then]
    out["health_now"] = now["health_score"].to_numpy(dtype=float)[in_now]
    parts = split_change(out["health_then"], out["health_now"],
                         None if now_old is None else now_old.reindex(out.index))
    out["change"] = parts["total"].to_numpy()
    out["customer_change"] = parts["customer"].to_numpy()
    out["profile_change"] = parts["profile"].to_numpy()
    return out[MOVER_COLUMNS]


def movers(now: pd.DataFrame, snap: Snapshot, *, now_old: pd.Series | None = None,
           now_pos: np.ndarray | None = None) -> pd.DataFrame:
    """Accounts in both the snapshot and ``now`` (the book's rows in view): name, CSM, ARR, band
    and health then and now, and the split change; largest drop first (ties: larger ARR first,
    then now's order). With ``now_pos`` (``View.pos``) and the snapshot's ``pos``, rows are
    matched by position, not by account id."""
    in_now, in_then = _matched(now, snap, now_pos)
    out = _mover_rows(now, snap, in_now, in_then, now_old)
    return out.sort_values(["change", "arr"], ascending=[True, False], na_position="last", kind="stable")


def biggest_drops(now: pd.DataFrame, snap: Snapshot, *, now_old: pd.Series | None = None,
                  now_pos: np.ndarray | None = None, limit: int = 20) -> pd.DataFrame:
    """The ``limit`` largest falls in health (change below 0) of ``movers``, largest first: the
    first rows of ``movers(...)`` with a change below 0, found with NumPy on the changes and
    built for those rows only."""
    in_now, in_then = _matched(now, snap, now_pos)
    change = (now["health_score"].to_numpy(dtype=float)[in_now]
              - snap.rows["health_score"].to_numpy(dtype=float)[in_then])
    fell = np.flatnonzero(np.isfinite(change) & (change < 0))  # NaN compares False
    value = change[fell]
    if len(fell) > limit:  # every drop at least as large as the limit-th, ties included
        cut = np.partition(value, limit - 1)[limit - 1]
        keep = value <= cut
        fell, value = fell[keep], value[keep]
    arr = now["arr"].to_numpy(dtype=float)[in_now[fell]]
    order = np.lexsort((fell, -arr, value))[:limit]  # as movers sorts: change, larger ARR, now's order
    chosen = fell[order]
    return _mover_rows(now, snap, in_now[chosen], in_then[chosen], now_old)
