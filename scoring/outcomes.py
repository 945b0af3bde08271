"""What happened next: churn, expansion and contraction after an as-of date, and how to measure a
score against them.

Why it is shaped like this:

- **Outcomes in SQL, from ``mrr_history`` only** (the contract's "Time"). For an as-of date T and
  a horizon of H days, over the accounts active on T (MRR in force on T above 0):
  ``churned`` = some ``mrr_history`` row with ``effective_date`` in (T, T+H] has MRR 0 (the MRR in
  force falls to 0 then; T itself is excluded, T+H included); ``churn_date`` = the first such date.
  A later rise is a *reactivation*: the account stays churned (``reactivated`` = churned and MRR
  in force on T+H above 0). Of the accounts that did not churn, ``expanded`` = MRR in force on T+H
  above the MRR on T, ``contracted`` = below it (and above 0, which a retained account always is).
  One SQL fragment (``CHURN_FALL``) states the churn rule, so the backtest and the churn-risk fit
  cannot disagree on it.
- **Dates.** ``validate`` and ``calibrate`` default to monthly as-of dates that end H days before
  the newest ``mrr_history`` date, so every date has its full horizon; the earliest usable date is
  the first event's day plus one signal window (a full window of events before T).
- **Measures as plain numpy** (no scikit-learn here): ROC AUC by ranks with DeLong's variance,
  average precision, Wilson's interval. Each states its formula and is tested against a hand or
  brute-force computation.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .errors import DataError

if TYPE_CHECKING:
    import duckdb

HORIZON_DAYS = 90
Z95 = 1.959963984540054  # the two-sided 95% normal quantile

# The churn rule, one place: a row of mrr_history ``m`` makes the account churn after ``t`` when it
# sets MRR 0 on a date in (t, t + H]. ``{t}`` is a column name chosen by code; H is bound (``?``).
CHURN_FALL = ("m.effective_date > {t} AND m.effective_date <= {t} + CAST(? AS INTEGER) "
              "AND m.mrr = 0")

_OUTCOMES_SQL = """
WITH dates AS (SELECT DISTINCT unnest(?::DATE[]) AS as_of),
start_mrr AS (
  SELECT d.as_of, m.account_id, arg_max(m.mrr, m.effective_date) AS mrr_start
  FROM dates AS d JOIN mrr_history AS m ON m.effective_date <= d.as_of
  GROUP BY d.as_of, m.account_id),
end_mrr AS (
  SELECT d.as_of, m.account_id, arg_max(m.mrr, m.effective_date) AS mrr_end
  FROM dates AS d JOIN mrr_history AS m ON m.effective_date <= d.as_of + CAST(? AS INTEGER)
  GROUP BY d.as_of, m.account_id),
falls AS (
  SELECT d.as_of, m.account_id, min(m.effective_date) AS churn_date
  FROM dates AS d JOIN mrr_history AS m ON """ + CHURN_FALL.format(t="d.as_of") + """
  GROUP BY d.as_of, m.account_id)
SELECT s.as_of, s.account_id, s.mrr_start, e.mrr_end, f.churn_date
FROM start_mrr AS s
JOIN end_mrr AS e ON e.as_of = s.as_of AND e.account_id = s.account_id
LEFT JOIN falls AS f ON f.as_of = s.as_of AND f.account_id = s.account_id
WHERE s.mrr_start > 0
ORDER BY s.as_of, s.account_id
"""


# ---------------------------------------------------------------- outcomes and dates


def has_mrr(con: "duckdb.DuckDBPyConnection") -> bool:
    """True when the store holds an ``mrr_history`` table with at least one row."""
    from .signals import tables_present

    return "mrr_history" in tables_present(con) and bool(
        con.execute("SELECT count(*) > 0 FROM mrr_history").fetchone()[0])


def require_mrr(con: "duckdb.DuckDBPyConnection") -> dt.date:
    """The newest ``mrr_history`` date; a ``DataError`` when there is no MRR history."""
    if not has_mrr(con):
        raise DataError("validation needs mrr_history (MRR per account over time) to know who "
                        "churned: import mrr_history.csv or .parquet with the other tables")
    return con.execute("SELECT max(effective_date) FROM mrr_history").fetchone()[0]


def earliest_as_of(con: "duckdb.DuckDBPyConnection", window_days: int) -> dt.date | None:
    """The first event's day plus one window: the first T with a full window of events before it."""
    first = con.execute("SELECT min(occurred_at)::DATE FROM usage_events").fetchone()[0]
    return None if first is None else first + dt.timedelta(days=window_days)


def months_back(day: dt.date, k: int) -> dt.date:
    """``day`` moved back ``k`` calendar months, the day of month clipped to the month's length."""
    y, m = divmod(day.year * 12 + day.month - 1 - k, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def default_dates(newest_mrr: dt.date, *, horizon: int, earliest: dt.date | None,
                  count: int) -> list[dt.date]:
    """Up to ``count`` monthly as-of dates, oldest first: the last is ``newest_mrr - horizon``
    (so it has its full horizon), each earlier one a calendar month before, none before
    ``earliest``."""
    last = newest_mrr - dt.timedelta(days=horizon)
    dates = [months_back(last, k) for k in range(count)]
    return sorted(d for d in dates if earliest is None or d >= earliest)


def backtest_dates(con: "duckdb.DuckDBPyConnection", *, window_days: int, horizon: int,
                   count: int, given: Sequence[dt.date] = ()) -> list[dt.date]:
    """The as-of dates of a backtest: ``given``, else up to ``count`` monthly defaults ending
    ``horizon`` days before the newest MRR date; checked (``check_dates``). One choice for the
    ``validate``/``calibrate`` commands and the app's pages."""
    newest = require_mrr(con)
    earliest = earliest_as_of(con, window_days)
    dates = list(given) or default_dates(newest, horizon=horizon, earliest=earliest, count=count)
    return check_dates(dates, horizon=horizon, newest_mrr=newest, earliest=earliest)


def check_dates(dates: list[dt.date], *, horizon: int, newest_mrr: dt.date,
                earliest: dt.date | None) -> list[dt.date]:
    """The dates sorted and deduplicated; a ``DataError`` naming the first date without a full
    horizon (``T + H`` after the newest MRR date) or without a full signal window before it."""
    for d in sorted(set(dates)):
        if d + dt.timedelta(days=horizon) > newest_mrr:
            raise DataError(f"as-of date {d} has no full {horizon}-day horizon: the newest "
                            f"mrr_history date is {newest_mrr}, so the latest as-of date is "
                            f"{newest_mrr - dt.timedelta(days=horizon)}")
        if earliest is not None and d < earliest:
            raise DataError(f"as-of date {d} has no full signal window of events before it: "
                            f"the earliest as-of date is {earliest}")
    if not dates:
        raise DataError("no as-of date to judge: the data does not span a signal window plus "
                        f"a {horizon}-day horizon")
    return sorted(set(dates))


def outcomes(con: "duckdb.DuckDBPyConnection", dates: list[dt.date], *, horizon: int) -> pd.DataFrame:
    """Per (as_of, account active on it): ``mrr_start``, ``mrr_end`` (in force on T+H),
    ``churn_date`` (NaT when retained) and the flags ``churned``, ``reactivated``, ``expanded``,
    ``contracted`` (definitions: module docstring)."""
    df = con.execute(_OUTCOMES_SQL, [list(dates), horizon, horizon]).df()
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.date
    df["churned"] = df["churn_date"].notna()
    df["reactivated"] = df["churned"] & (df["mrr_end"] > 0)
    df["expanded"] = ~df["churned"] & (df["mrr_end"] > df["mrr_start"])
    df["contracted"] = ~df["churned"] & (df["mrr_end"] < df["mrr_start"]) & (df["mrr_end"] > 0)
    return df


# ---------------------------------------------------------------- measures


def _ties(score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sort: the order of ``score``, each sorted position's tie group, each group's start.
    (The order within a tie group does not matter to anything computed from it.)"""
    order = np.argsort(score)
    v = score[order]
    new = np.ones(len(v), dtype=bool)
    new[1:] = v[1:] != v[:-1]
    return order, np.cumsum(new) - 1, np.flatnonzero(new)


def midranks(score: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``score``, tied values sharing the mean of their ranks (as
    ``pandas.Series.rank(method="average")``), from one numpy sort."""
    s = np.asarray(score, dtype=np.float64)
    order, group, starts = _ties(s)
    sizes = np.diff(np.append(starts, len(s)))
    ranks = np.empty(len(s))
    ranks[order] = (starts + (sizes + 1) / 2.0)[group]
    return ranks


def rank_auc(score: np.ndarray, churned: np.ndarray) -> float:
    """ROC AUC of churn: ``P(score of a retained > score of a churned) + 0.5 P(equal)`` by mid-ranks
    (Mann-Whitney): ``(sum of the retained's ranks - n_r (n_r + 1) / 2) / (n_r n_c)``. NaN when a
    class is empty."""
    return ranking(score, churned)[0]


def delong(score: np.ndarray, churned: np.ndarray) -> tuple[float, float]:
    """The AUC and its DeLong variance (see ``ranking``)."""
    auc, var, _ = ranking(score, churned)
    return auc, var


def _sorted_counts(s: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    every = np.sort(s)
    return np.searchsorted(every, u, "left"), np.searchsorted(every, u, "right")


def counts_below(s: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted distinct values ``u``: how many of ``s`` lie below each (``< u_j``) and at or
    below it (``<= u_j``), exactly as binary searches in ``np.sort(s)`` would give, without sorting
    ``s`` (one sort of 487k scores was half of a what-if's backtest figures).

    ``s`` goes into ``len(s)`` equal buckets spanning ``u_1..u_k`` (``floor((x - u_1) * scale)``:
    monotone in ``x``, as every IEEE operation in it is; values outside fall in a bucket below or
    above all). A value in a bucket holding no ``u_j`` is below every ``u_j`` of a higher bucket
    and above every one of a lower bucket, so whole buckets are counted (``np.bincount``, then a
    cumulative sum); only the values in buckets holding some ``u_j`` are sorted and searched. Too
    few distinct ``u`` or a span that is not finite: the plain sort."""
    n = len(s)
    span = float(u[-1]) - float(u[0]) if len(u) else 0.0
    if len(u) < 2 or not math.isfinite(span) or span <= 0:
        return _sorted_counts(s, u)
    m = n  # buckets within u_1..u_k; one more each side (below, above)
    scale = m / span
    if not math.isfinite(scale):
        return _sorted_counts(s, u)
    with np.errstate(over="ignore"):  # a far value becomes infinite, then the bucket above all
        f = np.subtract(s, u[0])
        f *= scale
        np.floor(f, out=f)
        np.clip(f, -1, m + 1, out=f)
        bucket_u = np.clip(np.floor((u - u[0]) * scale), 0, m).astype(np.intp) + 1  # each u_j's bucket
    keys = f.astype(np.int32 if m + 3 < 2**31 else np.intp)
    keys += 1
    held = np.zeros(m + 3, dtype=bool)
    held[bucket_u] = True
    inside = np.sort(s[held[keys]])  # the values sharing a bucket with some u_j
    outside = np.bincount(keys, minlength=m + 3)
    outside[held] = 0
    below = np.cumsum(outside)[bucket_u]  # the values of the other buckets below u_j's
    return below + np.searchsorted(inside, u, "left"), below + np.searchsorted(inside, u, "right")


def ranking(score: np.ndarray, churned: np.ndarray) -> tuple[float, float, float]:
    """The AUC, its DeLong variance and the average precision of churn (low score = high risk),
    from one sort of the churned scores (never an argsort) and counts per distinct churned score
    (``counts_below``: no sort of all the scores), so a what-if pays little more than a few passes
    over the scores.

    With retained X (n_x) and churned Y (n_y), the churned scores' distinct values ``u_1 < ... <
    u_k`` (``c_j`` churned at ``u_j``) and the retained below and tied with each ``u_j``:

    - DeLong (DeLong, DeLong & Clarke-Pearson 1988; placement values as in Sun & Xu 2014):
      ``V01_j = P(X > u_j) + 0.5 P(X = u_j)`` for each churned at ``u_j``, ``V10_i = P(Y < X_i) +
      0.5 P(Y = X_i)`` for each retained, which takes one value per gap between and per tie with
      the ``u_j``; ``AUC = mean(V01) = mean(V10)``, ``var = var(V10) / n_x + var(V01) / n_y``
      (sample variances, summed over the groups with their counts).
    - Average precision: flagging the tie groups from the lowest score up, the group at ``u_j``
      adds ``c_j / n_y`` to recall at precision ``(churned <= u_j) / (all <= u_j)``.

    AUC and variance NaN when a class is empty, the variance also when a class has one member;
    average precision NaN without churners. Scores must be numbers (callers drop NaN).
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(churned, dtype=bool)
    n_y = int(np.count_nonzero(y))
    n_x = len(s) - n_y
    if not n_y:
        return math.nan, math.nan, math.nan
    sy = np.sort(s[y])
    first = np.ones(n_y, dtype=bool)
    first[1:] = sy[1:] != sy[:-1]
    u = sy[first]
    c_y = np.diff(np.append(np.flatnonzero(first), n_y))  # churned at each distinct value
    lt, le = counts_below(s, u)  # scores < u_j, scores <= u_j
    y_le = np.cumsum(c_y)  # churned <= u_j
    ap = float(np.sum(c_y * (y_le / le)) / n_y)
    if not n_x:
        return math.nan, math.nan, ap
    y_lt = y_le - c_y
    x_lt, x_tie = lt - y_lt, (le - lt) - c_y  # retained below and tied with u_j
    v01 = 1.0 - (x_lt + 0.5 * x_tie) / n_x
    auc = float(np.dot(c_y, v01) / n_y)
    if n_x < 2 or n_y < 2:
        return auc, math.nan, ap
    # retained: x_tie[j] at (y_lt + c/2) / n_y; between u_{j-1} and u_j (j = 0..k): y_le[j-1] / n_y
    between = np.diff(np.concatenate(([0], le, [len(s)]))) - np.append(le - lt, 0)
    gaps = np.concatenate((between, x_tie))
    v10 = np.concatenate(([0.0], y_le, (y_lt + 0.5 * c_y))) / n_y
    var10 = float(np.dot(gaps, (v10 - auc) ** 2) / (n_x - 1))
    var01 = float(np.dot(c_y, (v01 - auc) ** 2) / (n_y - 1))
    return auc, var10 / n_x + var01 / n_y, ap


def auc_interval(auc: float, var: float) -> tuple[float, float] | None:
    """95% interval ``auc -+ 1.96 sqrt(var)``, clipped to [0, 1]; None when undefined."""
    if not (math.isfinite(auc) and math.isfinite(var)):
        return None
    half = Z95 * math.sqrt(max(var, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def average_precision(risk: np.ndarray, positive: np.ndarray) -> float:
    """PR AUC as average precision: ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds of
    ``risk`` taken from the highest down (tied risks enter together), ``P_k``/``R_k`` the precision
    and recall of flagging every account with risk >= the k-th threshold. NaN without positives.
    A random ranking scores about the positives' share; a perfect one 1."""
    return ranking(-np.asarray(risk, dtype=np.float64), positive)[2]


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """Wilson's 95% interval for k successes in n trials:
    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, p = k/n. None when n = 0."""
    if n <= 0:
        return None
    p, z2 = k / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def deciles(score: np.ndarray) -> np.ndarray:
    """Decile 0..9 of each score, 0 = lowest: ``floor(10 (midrank - 1) / n)`` (ties share one)."""
    s = np.asarray(score, dtype=np.float64)
    if not len(s):
        return np.zeros(0, dtype=np.intp)
    ranks = midranks(s)
    return np.minimum(np.floor(10 * (ranks - 1) / len(s)).astype(np.intp), 9)


def paired_auc_difference(a: np.ndarray, b: np.ndarray, churned: np.ndarray,
                          cluster: np.ndarray | None = None) -> tuple[float, float]:
    """``AUC(a) - AUC(b)`` of two scores of the same observations (churn the event, a low score
    the risk; observations where either score is NaN left out) and the standard error of that
    difference, by DeLong's paired method on the placement values (each retained observation's
    share of churned ones scoring below it, each churned one's share of retained ones scoring
    above it, ties half) of ``a`` minus those of ``b``.

    With ``cluster`` (one label per observation, e.g. the account of an account-date), the
    variance is Obuchowski's (1997) for clustered data: observations of one cluster are not taken
    as independent, so an account seen on several dates counts about once. With ``V10``/``V01``
    the differences of the placement values, per cluster ``i`` their sums ``X_i``/``Y_i`` over its
    ``m_i`` retained/``n_i`` churned observations, ``M``/``N`` the totals, ``I`` clusters and ``d``
    the difference: ``var = S10 / M + S01 / N + 2 S11 / (M N)``, ``S10 = I / ((I - 1) M) sum_i
    (X_i - m_i d)^2``, ``S01 = I / ((I - 1) N) sum_i (Y_i - n_i d)^2``, ``S11 = I / (I - 1) sum_i
    (X_i - m_i d)(Y_i - n_i d)``; with one observation per cluster it is about DeLong's. NaN when a class
    has fewer than two members."""
    ok = np.isfinite(a) & np.isfinite(b)
    y = np.asarray(churned, dtype=bool)[ok]
    n_c, n_r = int(y.sum()), int((~y).sum())
    if n_c < 2 or n_r < 2:
        return float("nan"), float("nan")
    v = np.zeros(len(y))
    for s, sign in ((np.asarray(a, dtype=np.float64)[ok], 1.0), (np.asarray(b, dtype=np.float64)[ok], -1.0)):
        every = rankdata(s)
        v[~y] += sign * (every[~y] - rankdata(s[~y])) / n_c  # V10: share of churned below
        v[y] += sign * (1.0 - (every[y] - rankdata(s[y])) / n_r)  # V01: share of retained above
    d = float(v[~y].mean())
    if cluster is None:
        var = np.var(v[~y], ddof=1) / n_r + np.var(v[y], ddof=1) / n_c
        return d, float(math.sqrt(max(var, 0.0)))
    _, ids = np.unique(np.asarray(cluster)[ok], return_inverse=True)
    k = ids.max() + 1
    if k < 2:
        return d, float("nan")
    x_i = (np.bincount(ids, weights=np.where(~y, v, 0.0), minlength=k)
           - d * np.bincount(ids, weights=~y, minlength=k))
    y_i = (np.bincount(ids, weights=np.where(y, v, 0.0), minlength=k)
           - d * np.bincount(ids, weights=y, minlength=k))
    f = k / (k - 1)
    var = (f * (x_i @ x_i) / n_r) / n_r + (f * (y_i @ y_i) / n_c) / n_c + 2 * f * (x_i @ y_i) / (n_r * n_c)
    return d, float(math.sqrt(max(var, 0.0)))
