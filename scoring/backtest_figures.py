"""Backtest figures: what a set of scored account-dates says about churn, expansion and revenue.

``validate.figures`` and ``validate.quick_figures`` re-score a prepared backtest for some weights
and hand each set of observations to ``figures_of``; ``docs/VALIDATION.md`` ("The figures") defines
every key it returns. ``weight_fit`` reuses the churn-rate row and the minimums (each signal on
its own), ``calibrate`` the minimums and ``comparison`` the floors. Why it is shaped like this:

- **A slider move pays for the scores only.** What no weight changes (the pooled outcome arrays,
  which churn events the early-warning floor judges) is gathered once per backtest
  (``Outcomes``); per weights there remain the re-scores, the AUC, its DeLong interval and the PR
  AUC from counts per distinct churned score (``outcomes.ranking``: a sort of the churned scores
  only, the rest counted in buckets), ``np.bincount`` per band, and a partial sort per date for the
  capacity list: 17-30 ms for 100k accounts x 6 dates depending on the machine, where the first
  version (an argsort, pandas per call) took 0.4 s.
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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .outcomes import auc_interval, deciles, ranking, wilson
from .scores import BANDS, NEW

MIN_CHURNED = 20  # churned observations a set needs before its figures are judged
MIN_BAND_CHURNED = 5  # churned observations a band or decile needs for its churn rate
CAPACITY_SHARE = 0.10  # default capacity list: 10% of the accounts of each date, rounded up
WARNING_DAYS = (60, 90)  # early warning: scored this many days (inclusive) before the churn date
FLOOR_LIFT, FLOOR_WARNED, FLOOR_HEALTHY, FLOOR_AUC = 3.0, 2 / 3, 0.80, 0.70
AT_RISK, WATCH = BANDS.index("at_risk"), BANDS.index("watch")

if TYPE_CHECKING:
    from .validate import DatePrep


@dataclass(frozen=True)
class Outcomes:
    """What the figures read that no weight changes, for one set of observations (the account-dates
    of some as-of dates, in order), gathered once: a slider move then only re-scores and counts.
    Money columns have missing values as 0 (the sums are ``nansum``s); ``warning_rows`` are the
    observations ``_early_warning`` judges (one per churn event, its latest as-of date 60 to 90
    days before), chosen here because the choice does not depend on the score."""

    dates: tuple[DatePrep, ...]
    sizes: tuple[int, ...]
    churned: np.ndarray
    churned_rows: np.ndarray
    arr: np.ndarray
    mrr_start: np.ndarray
    mrr_end: np.ndarray
    expanded: np.ndarray
    contracted: np.ndarray
    warning_rows: np.ndarray

    @staticmethod
    def of(dates: Sequence[DatePrep]) -> "Outcomes":
        dates = tuple(dates)

        def cat(field: str, dtype: type) -> np.ndarray:
            out = (np.concatenate([getattr(p, field) for p in dates]) if dates else np.zeros(0)).astype(dtype)
            out.flags.writeable = False
            return out

        churned = cat("churned", bool)
        money = {f: np.nan_to_num(cat(f, np.float64)) for f in ("arr", "mrr_start", "mrr_end")}
        for a in money.values():
            a.flags.writeable = False
        return Outcomes(dates, tuple(len(p.churned) for p in dates), churned, np.flatnonzero(churned),
                        **money, expanded=cat("expanded", bool), contracted=cat("contracted", bool),
                        warning_rows=_warning_rows(dates, churned))


def _warning_rows(dates: tuple[DatePrep, ...], churned: np.ndarray) -> np.ndarray:
    """Of the churn events (account, churn date C) with an as-of date T among ``dates`` such that
    60 <= C - T <= 90 days, the observation of the latest such T, in observation order."""
    if not dates:
        return np.zeros(0, dtype=np.intp)
    epoch = dt.date(1970, 1, 1)
    gap = np.concatenate([np.where(p.churn_day >= 0, p.churn_day - (p.as_of - epoch).days, -1) for p in dates])
    sel = np.flatnonzero(churned & (gap >= WARNING_DAYS[0]) & (gap <= WARNING_DAYS[1]))
    ids = np.concatenate([p.account_ids for p in dates])[sel].astype(str)
    days = np.concatenate([p.churn_day for p in dates])[sel]
    frame = pd.DataFrame({"row": sel, "id": ids, "day": days, "gap": gap[sel]})
    latest = frame.sort_values("gap", kind="stable").drop_duplicates(["id", "day"])
    rows = np.sort(latest["row"].to_numpy(dtype=np.intp))
    rows.flags.writeable = False
    return rows


@dataclass(frozen=True)
class Observations:
    """One set of observations under some weights: each one's score and band code (in the order of
    ``known``) and what no weight changes about them."""

    score: np.ndarray
    codes: np.ndarray
    known: Outcomes


def not_enough(k: int, need: int, where: str = "") -> str:
    """The reason given for a figure left out below a minimum."""
    return f"not enough outcomes to judge: {k} churned{where}, at least {need} needed"


def ratio(a: float, b: float) -> float | None:
    """``a / b``, None when ``b`` is not above 0."""
    return a / b if b > 0 else None


def figures_of(o: Observations, capacity: int | None, *, detail: bool = True) -> dict:
    """Every figure of one set of observations (keys and formulas: ``docs/VALIDATION.md``);
    ``detail`` False leaves out the deciles and the bands' money figures (the what-if path does not
    show them). Per band, counts come from ``np.bincount`` over the band codes."""
    known = o.known
    churned = known.churned
    n, k = len(churned), len(known.churned_rows)
    enough = k >= MIN_CHURNED
    reasons: dict[str, str] = {}
    base = ratio(k, n)
    ok = np.isfinite(o.score)
    everyone = bool(ok.all())
    auc, var, ap = ranking(o.score, churned) if everyone else ranking(o.score[ok], churned[ok])
    if not enough:
        for key in ("auc", "auc_ci", "pr_auc", "recall_at_risk"):
            reasons[key] = not_enough(k, MIN_CHURNED)
    elif not math.isfinite(auc):
        reasons["auc"] = "undefined: no retained account with a score"
    nb_all = np.bincount(o.codes, minlength=len(BANDS))
    kb_all = np.bincount(o.codes[known.churned_rows], minlength=len(BANDS))
    if detail:
        def per_band(values: np.ndarray) -> np.ndarray:
            return np.bincount(o.codes, weights=values, minlength=len(BANDS))

        money = {f: per_band(getattr(known, f)) for f in ("arr", "mrr_start", "mrr_end", "expanded", "contracted")}
        arr_total = float(money["arr"].sum())
    band_rows = {}
    for code, name in enumerate(BANDS):
        nb, kb = int(nb_all[code]), int(kb_all[code])
        row = rate_row(nb, kb, base, enough, k)
        row["share"] = ratio(nb, n)
        if detail:
            grew = int(money["expanded"][code])
            row.update(arr_share=ratio(float(money["arr"][code]), arr_total), expanded=grew,
                       expansion_rate=ratio(grew, nb), contracted=int(money["contracted"][code]),
                       nrr=ratio(float(money["mrr_end"][code]), float(money["mrr_start"][code])))
        band_rows[name] = row
    dec_rows = []
    if detail:
        s_ok, y_ok = o.score[ok], churned[ok]
        dec = deciles(s_ok)
        for d in range(10):
            sel = dec == d
            if sel.any():
                row = rate_row(int(sel.sum()), int(y_ok[sel].sum()), base, enough, k)
                dec_rows.append({"decile": d + 1, "score_min": float(s_ok[sel].min()),
                                 "score_max": float(s_ok[sel].max()), **row})
    pooled = {
        "n_accounts": n, "n_scored": int(ok.sum()), "n_churned": k,
        "base_rate": base, "base_rate_ci": list(wilson(k, n) or ()) or None,
        "auc": auc if enough and math.isfinite(auc) else None,
        "auc_ci": (list(auc_interval(auc, var) or ()) or None) if enough else None,
        "pr_auc": ap if enough and math.isfinite(ap) else None,
        "bands": band_rows, "deciles": dec_rows,
        "recall_at_risk": ratio(int(kb_all[AT_RISK]), k) if enough else None,
        "capacity": _capacity(o, capacity, enough, k),
        "expansion_rate": ratio(int(np.count_nonzero(known.expanded)), n),
        "nrr": ratio(float(known.mrr_end.sum()), float(known.mrr_start.sum())),
        "early_warning": _early_warning(o), "reasons": reasons,
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


def _capacity(o: Observations, capacity: int | None, enough: bool, k: int) -> dict:
    """Per date, the ``N`` lowest-scored accounts not in band new (ties: account order); summed.

    Counted without gathering the chosen rows: the N-th lowest score ``cut`` by one partition,
    then everything below it and the first of the ties at it (few) in account order."""
    size = caught = start = 0
    churned = o.known.churned
    for n_d in o.known.sizes:
        s, c, y = o.score[start:start + n_d], o.codes[start:start + n_d], churned[start:start + n_d]
        start += n_d
        want = capacity if capacity is not None else math.ceil(CAPACITY_SHARE * n_d)
        eligible = np.isfinite(s) & (c != NEW)
        n_eligible = int(np.count_nonzero(eligible))
        if want >= n_eligible:  # the whole date fits
            size += n_eligible
            caught += int(np.count_nonzero(y & eligible))
            continue
        if n_eligible == n_d:
            cut = np.partition(s, want - 1)[want - 1]
            below = s < cut
        else:
            cut = np.partition(s[eligible], want - 1)[want - 1]
            below = (s < cut) & eligible
        tied = np.flatnonzero((s == cut) & eligible)[:want - int(np.count_nonzero(below))]
        size += want
        caught += int(np.count_nonzero(y & below)) + int(np.count_nonzero(y[tied]))
    out = {"size": size, "churned": caught, "precision": ratio(caught, size) if enough else None,
           "recall": ratio(caught, k) if enough else None}
    if not enough:
        out["reason"] = not_enough(k, MIN_CHURNED)
    return out


def _early_warning(o: Observations) -> dict:
    """Of the churn events (account, churn date C) with an as-of date T among these observations
    such that 60 <= C - T <= 90 days, the share whose band on the latest such T was at_risk or
    watch (``new`` and healthy count as not warned); the events are ``Outcomes.warning_rows``."""
    rows = o.known.warning_rows
    events = len(rows)
    warned = int(np.count_nonzero(np.isin(o.codes[rows], (AT_RISK, WATCH))))
    out = {"churners": events, "warned": warned,
           "share": ratio(warned, events) if events >= MIN_CHURNED else None}
    if events < MIN_CHURNED:
        if not o.known.dates:
            out["reason"] = not_enough(0, MIN_CHURNED)
        else:
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

