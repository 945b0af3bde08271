"""Backtest: does the score, made point in time on past dates, predict what happened next?

Why it is shaped like this:

- **Prepared once, re-weighted cheaply.** ``backtest_frame`` does the slow part once per as-of
  date: the inputs frame (``signals.compute_inputs``, only data from before T), the normalised
  matrix and a ``scores.Rescorer`` (the same three steps ``engine.score_as_of`` chains, so the
  scores are the ones ``score --as-of T`` writes; a test holds them equal), plus the outcome
  arrays of ``scoring.outcomes``. ``figures(prepared, weights)`` then re-scores every date with
  ``scores.whatif`` (one matrix-vector product each) and measures. ``validate`` reports
  ``figures`` for the profile's weights; the app's Tune weights page calls ``quick_figures`` for
  any weights and gets the very same numbers.
- **Observations are account-dates.** Each as-of date contributes the accounts active on it;
  pooled figures treat the account-dates of all dates as one sample (an account scored on six
  dates counts six times). Intervals assume independent observations, so pooled ones are a little
  narrower than they should be.
- **No number below the minimums.** Fewer than ``MIN_CHURNED`` churned observations in a set, or
  fewer than ``MIN_BAND_CHURNED`` in a band or decile, and the churn figures resting on them are
  None with a reason in ``reasons`` ("not enough outcomes to judge"). Counts are always given.

Formulas (``docs/VALIDATION.md`` states them all): churn rate ``k / n`` with Wilson's interval;
lift = a group's churn rate / the base rate; ROC AUC and its DeLong interval, PR AUC
(``scoring.outcomes``) with churn the positive class and a low score the high risk; net revenue
retention ``sum MRR(T+H) / sum MRR(T)``; the capacity list = the N lowest-scored accounts not in
band ``new`` on each date.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .normalize import normalise
from .outcomes import auc_interval, deciles, outcomes, ranking, wilson
from .profile import Bands, Profile
from .scope import Scope
from .scores import BANDS, NEW, Rescorer, band_codes, prepare_rescore, whatif

MIN_CHURNED = 20  # churned observations a set needs before its figures are judged
MIN_BAND_CHURNED = 5  # churned observations a band or decile needs for its churn rate
CAPACITY_SHARE = 0.10  # default capacity list: 10% of the accounts of each date, rounded up
WARNING_DAYS = (60, 90)  # early warning: scored this many days (inclusive) before the churn date
FLOOR_LIFT, FLOOR_WARNED, FLOOR_HEALTHY, FLOOR_AUC = 3.0, 2 / 3, 0.80, 0.70
AT_RISK, WATCH = BANDS.index("at_risk"), BANDS.index("watch")
Weights = Mapping[str, float] | Sequence[float] | np.ndarray

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class DatePrep:
    """One as-of date, ready to re-score: the ``Rescorer`` and the outcomes of its accounts (in the
    Rescorer's row order). ``churn_day``: the churn date as a day number (-1 when retained)."""

    as_of: dt.date
    account_ids: np.ndarray
    rescorer: Rescorer
    arr: np.ndarray
    mrr_start: np.ndarray
    mrr_end: np.ndarray
    churned: np.ndarray
    expanded: np.ndarray
    contracted: np.ndarray
    churn_day: np.ndarray


@dataclass(frozen=True)
class Backtest:
    """Every as-of date of a backtest, prepared; ``score`` is ``"health"`` or ``"engagement"``;
    ``capacity`` the list size per date (None: ``CAPACITY_SHARE`` of the date's accounts)."""

    profile: Profile
    horizon: int
    score: str
    capacity: int | None
    dates: tuple[DatePrep, ...]

    @property
    def weights(self) -> dict[str, float]:
        return {s.name: s.weight for s in self.profile.signals}


def prepare_date(as_of: dt.date, inputs: pd.DataFrame, profile: Profile,
                 outcome_rows: pd.DataFrame) -> DatePrep:
    """Pure: one date's ``DatePrep`` from its inputs frame and its rows of ``outcomes.outcomes``."""
    r = prepare_rescore(inputs, normalise(inputs, profile), profile)
    o = outcome_rows.set_index("account_id").reindex(inputs.index)
    day = pd.to_datetime(o["churn_date"])
    churn_day = np.where(day.notna(), (day - pd.Timestamp("1970-01-01")).dt.days.fillna(-1), -1)
    flags = {c: o[c].fillna(False).to_numpy(dtype=bool) for c in ("churned", "expanded", "contracted")}
    return DatePrep(as_of, inputs.index.to_numpy(dtype=object), r,
                    inputs["arr"].to_numpy(dtype=np.float64), o["mrr_start"].to_numpy(dtype=np.float64),
                    o["mrr_end"].to_numpy(dtype=np.float64), **flags, churn_day=churn_day.astype(np.int64))


def backtest_frame(con: "duckdb.DuckDBPyConnection", profile: Profile, dates: Sequence[dt.date], *,
                   horizon: int, catalogue: pd.DataFrame, score: str = "health",
                   capacity: int | None = None) -> Backtest:
    """Prepare a backtest of ``profile`` on ``dates`` (checked by the caller: full horizon and
    signal window); ``con`` reads the data store. Everyone's accounts, as the contract's figures."""
    from .signals import compute_inputs

    if score not in ("health", "engagement"):
        raise ValueError(f"score must be health or engagement, got {score!r}")
    out = outcomes(con, list(dates), horizon=horizon)
    preps = []
    for when in sorted(dates):
        inputs = compute_inputs(con, profile, as_of=when, scope=Scope.everyone(), catalogue=catalogue)
        preps.append(prepare_date(when, inputs, profile, out[out["as_of"] == when]))
    return Backtest(profile, horizon, score, capacity, tuple(preps))


def scores_of(prep: DatePrep, weights: Weights, *, score: str,
              bands: Bands) -> tuple[np.ndarray, np.ndarray]:
    """The chosen score and band code of each account of one date under ``weights``: health (or
    engagement) from ``scores.whatif``; band ``new`` by the profile's rule or a missing score,
    else by the profile's thresholds on that score (for health: ``score_book``'s band)."""
    w = whatif(prep.rescorer, weights)
    s = w.health if score == "health" else w.engagement
    return s, band_codes(s, bands, new=prep.rescorer.new)


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class _Obs:
    score: np.ndarray
    codes: np.ndarray
    prep: tuple[DatePrep, ...]  # the dates these observations come from, in order
    sizes: tuple[int, ...]

    def cat(self, field: str) -> np.ndarray:
        return np.concatenate([getattr(p, field) for p in self.prep]) if self.prep else np.zeros(0)


def figures(bt: Backtest, weights: Weights | None = None, *, per_date: bool = True,
            detail: bool = True) -> dict:
    """Pooled figures (and, with ``per_date``, the same for each date) for ``weights`` (default:
    the profile's). Keys: ``docs/VALIDATION.md``; None with a reason where not judged. Without
    ``detail`` the deciles are left out; every other figure is the same."""
    w = bt.weights if weights is None else weights
    scored = [scores_of(p, w, score=bt.score, bands=bt.profile.bands) for p in bt.dates]
    obs = [_Obs(s, c, (p,), (len(s),)) for p, (s, c) in zip(bt.dates, scored)]
    pooled = _Obs(np.concatenate([o.score for o in obs]) if obs else np.zeros(0),
                  np.concatenate([o.codes for o in obs]) if obs else np.zeros(0, np.uint8),
                  bt.dates, tuple(len(p.churned) for p in bt.dates))
    out = {"pooled": _figures(pooled, bt.capacity, detail=detail)}
    if per_date:
        out["per_date"] = [{"as_of": p.as_of, **_figures(o, bt.capacity, detail=detail)}
                           for p, o in zip(bt.dates, obs)]
    return out


def quick_figures(prepared: Backtest, weights: Weights) -> dict:
    """The headline pooled figures for ``weights``, exactly as ``validate`` reports them."""
    f = figures(prepared, weights, per_date=False, detail=False)["pooled"]
    floors = {x["name"]: x["passed"] for x in f["floors"]}
    return {"auc": f["auc"], "auc_ci": f["auc_ci"], "pr_auc": f["pr_auc"], "base_rate": f["base_rate"],
            "lift_at_risk": f["bands"]["at_risk"]["lift"], "recall_at_risk": f["recall_at_risk"],
            "precision_at_capacity": f["capacity"]["precision"],
            "recall_at_capacity": f["capacity"]["recall"],
            "healthy_share": f["bands"]["healthy"]["share"],
            "early_warning_share": f["early_warning"]["share"],
            "band_shares": {b: f["bands"][b]["share"] for b in BANDS}, "floors": floors,
            "n_accounts": f["n_accounts"], "n_churned": f["n_churned"], "reasons": f["reasons"]}


def not_enough(k: int, need: int, where: str = "") -> str:
    """The reason given for a figure left out below a minimum."""
    return f"not enough outcomes to judge: {k} churned{where}, at least {need} needed"


def ratio(a: float, b: float) -> float | None:
    """``a / b``, None when ``b`` is not above 0."""
    return a / b if b > 0 else None


def _figures(o: _Obs, capacity: int | None, *, detail: bool = True) -> dict:
    """Every figure of one set of observations (keys and formulas: ``docs/VALIDATION.md``);
    ``detail`` False leaves ``deciles`` empty (the what-if path does not show them)."""
    churned, arr = o.cat("churned").astype(bool), o.cat("arr")
    mrr0, mrr1 = o.cat("mrr_start"), o.cat("mrr_end")
    expanded, contracted = o.cat("expanded").astype(bool), o.cat("contracted").astype(bool)
    n, k = len(churned), int(churned.sum())
    enough = k >= MIN_CHURNED
    reasons: dict[str, str] = {}
    base = ratio(k, n)
    ok = np.isfinite(o.score)
    auc, var, ap = ranking(o.score[ok], churned[ok])
    if not enough:
        for key in ("auc", "auc_ci", "pr_auc", "recall_at_risk"):
            reasons[key] = not_enough(k, MIN_CHURNED)
    elif not math.isfinite(auc):
        reasons["auc"] = "undefined: no retained account with a score"
    band_rows = {}
    for code, name in enumerate(BANDS):
        sel = o.codes == code
        nb, kb = int(sel.sum()), int(churned[sel].sum())
        row = rate_row(nb, kb, base, enough, k)
        row.update(share=ratio(nb, n), arr_share=ratio(float(np.nansum(arr[sel])), float(np.nansum(arr))),
                   expanded=int(expanded[sel].sum()), expansion_rate=ratio(int(expanded[sel].sum()), nb),
                   contracted=int(contracted[sel].sum()),
                   nrr=ratio(float(np.nansum(mrr1[sel])), float(np.nansum(mrr0[sel]))))
        band_rows[name] = row
    dec = deciles(o.score[ok]) if detail else np.zeros(0, dtype=np.intp)
    dec_rows = []
    for d in range(10 if detail else 0):
        sel = dec == d
        if sel.any():
            row = rate_row(int(sel.sum()), int(churned[ok][sel].sum()), base, enough, k)
            dec_rows.append({"decile": d + 1, "score_min": float(o.score[ok][sel].min()),
                             "score_max": float(o.score[ok][sel].max()), **row})
    at_risk_k = int(churned[o.codes == AT_RISK].sum())
    warned = _early_warning(o, churned)
    pooled = {
        "n_accounts": n, "n_scored": int(ok.sum()), "n_churned": k,
        "base_rate": base, "base_rate_ci": list(wilson(k, n) or ()) or None,
        "auc": auc if enough and math.isfinite(auc) else None,
        "auc_ci": (list(auc_interval(auc, var) or ()) or None) if enough else None,
        "pr_auc": ap if enough and math.isfinite(ap) else None,
        "bands": band_rows, "deciles": dec_rows,
        "recall_at_risk": ratio(at_risk_k, k) if enough else None,
        "capacity": _capacity(o, churned, capacity, enough, k),
        "expansion_rate": ratio(int(expanded.sum()), n),
        "nrr": ratio(float(np.nansum(mrr1)), float(np.nansum(mrr0))),
        "early_warning": warned, "reasons": reasons,
    }
    pooled["floors"] = _floors(pooled)
    return pooled


def rate_row(nb: int, kb: int, base: float | None, enough: bool, k: int) -> dict:
    """Accounts, churned, churn rate with Wilson interval and lift; rates None below the minimums."""
    row: dict = {"accounts": nb, "churned": kb, "churn_rate": None, "churn_rate_ci": None, "lift": None}
    if not enough:
        row["reason"] = not_enough(k, MIN_CHURNED, " overall")
    elif kb < MIN_BAND_CHURNED:
        row["reason"] = not_enough(kb, MIN_BAND_CHURNED, " here")
    else:
        rate = kb / nb
        row.update(churn_rate=rate, churn_rate_ci=list(wilson(kb, nb)), lift=ratio(rate, base or 0.0))
    return row


def _capacity(o: _Obs, churned: np.ndarray, capacity: int | None, enough: bool, k: int) -> dict:
    """Per date, the ``N`` lowest-scored accounts not in band new (ties: account order); summed."""
    size = caught = start = 0
    for n_d in o.sizes:
        s, c, y = o.score[start:start + n_d], o.codes[start:start + n_d], churned[start:start + n_d]
        start += n_d
        want = capacity if capacity is not None else math.ceil(CAPACITY_SHARE * n_d)
        rows = np.flatnonzero(np.isfinite(s) & (c != NEW))
        if want < len(rows):  # only the candidates up to the N-th score need the stable sort
            rows = rows[s[rows] <= np.partition(s[rows], want - 1)[want - 1]]
        top = rows[np.argsort(s[rows], kind="stable")[:want]]
        size += len(top)
        caught += int(y[top].sum())
    out = {"size": size, "churned": caught, "precision": ratio(caught, size) if enough else None,
           "recall": ratio(caught, k) if enough else None}
    if not enough:
        out["reason"] = not_enough(k, MIN_CHURNED)
    return out


def _early_warning(o: _Obs, churned: np.ndarray) -> dict:
    """Of the churn events (account, churn date C) with an as-of date T among these observations
    such that 60 <= C - T <= 90 days, the share whose band on the latest such T was at_risk or
    watch (``new`` and healthy count as not warned)."""
    if not o.prep:
        return {"churners": 0, "warned": 0, "share": None, "reason": not_enough(0, MIN_CHURNED)}
    epoch = dt.date(1970, 1, 1)
    gap = np.concatenate([np.where(p.churn_day >= 0, p.churn_day - (p.as_of - epoch).days, -1)
                          for p in o.prep])
    sel = np.flatnonzero(churned & (gap >= WARNING_DAYS[0]) & (gap <= WARNING_DAYS[1]))
    frame = pd.DataFrame({"id": o.cat("account_ids")[sel].astype(str), "day": o.cat("churn_day")[sel],
                          "gap": gap[sel], "warned": np.isin(o.codes[sel], (AT_RISK, WATCH))})
    latest = frame.sort_values("gap", kind="stable").drop_duplicates(["id", "day"])
    events, warned = len(latest), int(latest["warned"].sum())
    out = {"churners": events, "warned": warned,
           "share": ratio(warned, events) if events >= MIN_CHURNED else None}
    if events < MIN_CHURNED:
        out["reason"] = (f"not enough outcomes to judge: {events} churn event(s) with an as-of date "
                         f"{WARNING_DAYS[0]}-{WARNING_DAYS[1]} days before, at least {MIN_CHURNED} needed")
    return out


def _floors(f: dict) -> list[dict]:
    """The practitioner floors, each passed True/False, or None with the reason it is not judged."""
    def floor(name: str, text: str, value: float | None, threshold: float, passed: bool | None,
              reason: str | None) -> dict:
        row = {"name": name, "floor": text, "value": value, "threshold": threshold, "passed": passed}
        if passed is None:
            row["reason"] = reason
        return row

    at_risk = f["bands"]["at_risk"]
    lift = at_risk["lift"]
    share = f["bands"]["healthy"]["share"]
    warn = f["early_warning"]["share"]
    return [
        floor("at_risk_lift", "at_risk churns at >= 3x the base rate", lift, FLOOR_LIFT,
              None if lift is None else lift >= FLOOR_LIFT, at_risk.get("reason")),
        floor("early_warning", f"at least two thirds of churners were below healthy "
              f"{WARNING_DAYS[0]}-{WARNING_DAYS[1]} days before they churned", warn, FLOOR_WARNED,
              None if warn is None else warn >= FLOOR_WARNED, f["early_warning"].get("reason")),
        floor("healthy_share", "no more than 80% of the book is healthy", share, FLOOR_HEALTHY,
              None if share is None else share <= FLOOR_HEALTHY, "no account"),
        floor("auc", "ROC AUC >= 0.70", f["auc"], FLOOR_AUC,
              None if f["auc"] is None else f["auc"] >= FLOOR_AUC, f["reasons"].get("auc")),
    ]

