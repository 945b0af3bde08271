"""Churn risk: health mapped to the probability of churning within the horizon, fitted on the past.

Why it is shaped like this:

- **Isotonic, not a formula.** Nothing says churn falls off in health along a logistic curve; it
  only has to fall. Pool-adjacent-violators (PAV) gives the non-increasing step function of
  health closest to the observed churn in least squares, with no parameter to choose.
  Predictions interpolate linearly between the blocks' mean healths (constant beyond the ends),
  so two accounts a point apart do not sit on either side of a cliff.
- **Fitted cheaply from stored history.** The import keeps weekly snapshots of the scores
  (``score_snapshots``). The fit reads the snapshots of the profile and version in use whose
  as-of date plus the horizon is on or before the newest ``mrr_history`` date, joins each to its
  outcome in SQL (the churn rule of ``scoring.outcomes``), and runs PAV: no rescoring at all.
  Snapshots of other profiles or versions are never used: their health means something else.
- **Judged like any prediction.** ``calibration_curve`` bins the predictions and sets the mean
  predicted risk beside the observed churn rate; ``brier`` is the mean squared error.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .outcomes import CHURN_FALL, HORIZON_DAYS, has_mrr, midranks, wilson

if TYPE_CHECKING:
    import duckdb

    from .profile import Profile

MIN_FIT_CHURNED = 20  # churned snapshot rows needed to fit (the validation minimum)
MIN_FIT_RETAINED = 20
CURVE_BINS = 10

_SNAPSHOT_OUTCOMES_SQL = """
WITH newest AS (SELECT max(effective_date) AS d FROM mrr_history),
snaps AS (
  SELECT s.as_of, s.account_id, s.health_score FROM score_snapshots AS s, newest
  WHERE s.profile = ? AND s.profile_version = ? AND s.health_score IS NOT NULL
    AND s.as_of + CAST(? AS INTEGER) <= newest.d),
falls AS (
  SELECT DISTINCT s.as_of, s.account_id FROM snaps AS s
  JOIN mrr_history AS m ON m.account_id = s.account_id AND """ + CHURN_FALL.format(t="s.as_of") + """)
SELECT s.as_of, s.health_score, f.account_id IS NOT NULL AS churned
FROM snaps AS s LEFT JOIN falls AS f ON f.as_of = s.as_of AND f.account_id = s.account_id
"""


@dataclass(frozen=True)
class ChurnRisk:
    """A fitted map from health (0..100) to the probability of churn within ``horizon`` days.

    ``health`` (ascending) and ``risk`` (decreasing) are the PAV blocks' mean health and smoothed
    churn rate ``(churned + 0.5) / (accounts + 1)``; ``predict`` interpolates between them and
    holds the end values beyond.
    """

    health: np.ndarray
    risk: np.ndarray
    horizon: int
    profile: str
    dates: tuple[dt.date, ...]
    n: int
    n_churned: int

    def predict(self, health: np.ndarray) -> np.ndarray:
        """Churn probability per health value; NaN where health is NaN."""
        h = np.asarray(health, dtype=np.float64)
        out = np.interp(h, self.health, self.risk)
        out[np.isnan(h)] = np.nan
        return out

    def describe(self) -> str:
        """One line: what the fit stood on."""
        span = f"{self.dates[0]} to {self.dates[-1]}" if self.dates else "no dates"
        return (f"isotonic fit on {len(self.dates)} stored snapshot date(s) of {self.profile} "
                f"({span}): {self.n:,} account-dates, {self.n_churned:,} churned within {self.horizon} days")


def pav(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators: the non-decreasing sequence closest to ``y`` in weighted least
    squares. Returns each block's (start index, value); a block's value is its weighted mean.
    Equal neighbours are pooled too, so the block values increase strictly."""
    starts: list[int] = []
    means: list[float] = []
    weights: list[float] = []
    for i, (yi, wi) in enumerate(zip(np.asarray(y, float).tolist(), np.asarray(w, float).tolist())):
        starts.append(i)
        means.append(yi)
        weights.append(wi)
        while len(means) > 1 and means[-2] >= means[-1]:  # a violation (or a tie): pool them
            total = weights[-2] + weights[-1]
            means[-2] = (means[-2] * weights[-2] + means[-1] * weights[-1]) / total
            weights[-2] = total
            del starts[-1], means[-1], weights[-1]
    return np.asarray(starts, dtype=np.intp), np.asarray(means)


def fit_isotonic(health: np.ndarray, churned: np.ndarray, *, horizon: int, profile: str,
                 dates: tuple[dt.date, ...] = ()) -> ChurnRisk | None:
    """Fit churn risk non-increasing in health by PAV over the distinct health values (each weighted
    by its count). None below ``MIN_FIT_CHURNED`` churned or ``MIN_FIT_RETAINED`` retained rows."""
    h = np.asarray(health, dtype=np.float64)
    y = np.asarray(churned, dtype=bool)
    keep = np.isfinite(h)
    h, y = h[keep], y[keep]
    n_churned = int(y.sum())
    if n_churned < MIN_FIT_CHURNED or len(y) - n_churned < MIN_FIT_RETAINED:
        return None
    # Highest health first: churn must not decrease along it, which PAV gives.
    values, inverse, counts = np.unique(-h, return_inverse=True, return_counts=True)
    churn = np.bincount(inverse, weights=y, minlength=len(values))
    starts, _ = pav(churn / counts, counts)
    block_n = np.add.reduceat(counts, starts).astype(np.float64)
    block_k = np.add.reduceat(churn, starts)
    block_h = np.add.reduceat(-values * counts, starts) / block_n
    # Half a churn in one more account per block keeps every risk inside (0, 1); PAV once more in
    # case that reordered two small neighbours.
    again, means = pav((block_k + 0.5) / (block_n + 1), block_n + 1)
    block_h = np.add.reduceat(block_h * block_n, again) / np.add.reduceat(block_n, again)
    return ChurnRisk(block_h[::-1].copy(), means[::-1].copy(), horizon, profile, tuple(dates),
                     len(y), n_churned)


def fit_churn_risk(con: "duckdb.DuckDBPyConnection", profile: "Profile",
                   horizon: int = HORIZON_DAYS) -> ChurnRisk | None:
    """Fit churn risk from the stored snapshots of ``profile`` (its name and version) whose as-of
    date + ``horizon`` is on or before the newest ``mrr_history`` date. None without MRR history,
    without such snapshots, or below the fitting minimums."""
    from .signals import tables_present

    if not has_mrr(con) or "score_snapshots" not in tables_present(con):
        return None
    df = con.execute(_SNAPSHOT_OUTCOMES_SQL, [profile.name, profile.version or 0, horizon,
                                              horizon]).df()
    if df.empty:
        return None
    dates = tuple(sorted(pd.to_datetime(df["as_of"].unique()).date))
    return fit_isotonic(df["health_score"].to_numpy(), df["churned"].to_numpy(dtype=bool),
                        horizon=horizon, profile=profile.ref, dates=dates)


def churn_risk_for(db: Path, profile: "Profile", health: np.ndarray,
                   horizon: int = HORIZON_DAYS) -> np.ndarray:
    """``score``'s ``churn_risk`` column: the fit above applied to ``health``; all NaN when there is
    no history to fit (opens the data store read-only)."""
    from .store import DataStore

    ds = DataStore(db)
    try:
        with ds.cursor() as con:
            fitted = fit_churn_risk(con, profile, horizon)
    finally:
        ds.close()
    h = np.asarray(health, dtype=np.float64)
    return np.full(len(h), np.nan) if fitted is None else fitted.predict(h)


def calibration_curve(predicted: np.ndarray, churned: np.ndarray, *,
                      bins: int = CURVE_BINS) -> list[dict]:
    """Predictions in ``bins`` groups of about equal size (by rank of the prediction; equal
    predictions stay together), each with ``accounts``, ``mean_predicted``, ``observed`` (churn
    rate) and ``observed_ci`` (Wilson 95%). A calibrated risk has observed ~ mean predicted."""
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(churned, dtype=bool)
    keep = np.isfinite(p)
    p, y = p[keep], y[keep]
    if not len(p):
        return []
    ranks = midranks(p)
    group = np.minimum(np.floor(bins * (ranks - 1) / len(p)).astype(np.intp), bins - 1)
    out = []
    for g in np.unique(group):
        sel = group == g
        n, k = int(sel.sum()), int(y[sel].sum())
        out.append({"accounts": n, "churned": k, "mean_predicted": float(p[sel].mean()),
                    "observed": k / n, "observed_ci": list(wilson(k, n) or ())})
    return out


def brier(predicted: np.ndarray, churned: np.ndarray) -> float:
    """Mean of ``(predicted - churned)^2`` over finite predictions; NaN when there are none."""
    p = np.asarray(predicted, dtype=np.float64)
    keep = np.isfinite(p)
    if not keep.any():
        return math.nan
    return float(np.mean((p[keep] - np.asarray(churned, dtype=np.float64)[keep]) ** 2))


def risk_section(risk: ChurnRisk | None, scores: list[np.ndarray], churned: list[np.ndarray], *,
                 score: str = "health") -> dict:
    """``validate``'s ``churn_risk``: the fit, and its calibration curve and Brier score on the
    backtest's observations (``scores``/``churned`` per date). The snapshots it was fitted on can
    overlap the backtest dates, so this shows the fit is sound, not how it does on new dates."""
    if score != "health":
        return {"fit": None, "reason": "churn risk maps health_score; run validate with --score health"}
    if risk is None:
        return {"fit": None, "reason": "not enough score history to fit: it needs stored snapshots "
                f"of this profile version with a full horizon after them and at least "
                f"{MIN_FIT_CHURNED} churned among them (run `snapshot` or re-import to backfill)"}
    s = np.concatenate(scores) if scores else np.zeros(0)
    y = np.concatenate(churned) if churned else np.zeros(0, bool)
    p = risk.predict(s)
    return {"fit": {"method": "isotonic", "profile": risk.profile, "horizon_days": risk.horizon,
                    "snapshot_dates": [d.isoformat() for d in risk.dates], "n": risk.n,
                    "n_churned": risk.n_churned, "health": risk.health.tolist(),
                    "risk": risk.risk.tolist(), "about": risk.describe()},
            "brier": brier(p, y), "calibration": calibration_curve(p, y)}


def expected_arr_at_risk(arr, health, churn_risk) -> np.ndarray:
    """The one rule for "expected ARR at risk", per account, wherever the product shows or ranks
    by it (Portfolio, the At risk list, exports): ``arr x churn_risk``; where the risk is unknown
    (no model fitted, or no health score to apply it to), ``arr x (100 - health) / 100``, health
    unknown counting 50."""
    arr = np.nan_to_num(np.asarray(arr, dtype=np.float64))
    h = np.nan_to_num(np.asarray(health, dtype=np.float64), nan=50.0)
    r = np.asarray(churn_risk, dtype=np.float64)
    return arr * np.where(np.isnan(r), (100.0 - h) / 100.0, r)
