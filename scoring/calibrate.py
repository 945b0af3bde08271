"""Calibration: suggest signal weights from what happened next, judged on later dates.

The ``calibrate`` command's work: split the dates, choose the fit's L2 strength, fit, and report
the fit beside the hand-set weights. The fit itself and its stability are ``scoring.weight_fit``;
the split ``scoring.walk_forward``; the signals a fit may weigh ``scoring.fit_signals``.

Why it is shaped like this:

- **Walk forward with a purge** (``scoring.walk_forward``). Weights are fitted on earlier dates
  and judged on later ones, with no training outcome reaching into the judged period
  (``split_dates``, ``LeakError``).
- **A constrained fit people can read** (``weight_fit.suggest_weights``): non-negative
  coefficients of a logistic model of retention, shown as whole-number shares of 100; a signal
  that works the other way round is reported, and flipped only when asked.
- **Candidates beyond the profile** (``scoring.fit_signals``). A fit can only re-weight the
  signals it is given, so by default it also considers the generic signals built from the
  event-type catalogue (``candidate_profile``), at weight 0; a candidate joins the saved profile
  only when the fit gives it weight.
- **The L2 strength chosen by walking forward inside the training dates** (``choose_l2``): the
  training dates are split again as the outer split is (the last third judged, a purge between),
  each strength of ``L2_GRID`` is fitted on the inner training dates and judged by the health
  AUC on the inner judged dates; the strongest within one standard error of the best is chosen
  (``outcomes.paired_auc_difference``), and the final fit uses it on all the training dates. The
  judged dates of the outer split are never looked at to choose it. Too few dates or churners
  for the inner split: ``L2`` (with the reason).
- **The report beside the fit** (``calibrate``): hand-set versus fitted versus blends on the
  judged dates (``blend``: ``(1 - b)`` hand-set shares ``+ b`` fitted shares, the one formula the
  Tune weights slider uses too; ``blend_figures``: ``validate.quick_figures`` per blend), the
  weights' stability (``weight_fit.bootstrap``), and passive signals getting most of the weight
  (``fit_signals.is_passive``, ``fit_signals.gameable``). Formulas and thresholds:
  ``docs/VALIDATION.md``, "Calibration".
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .backtest_figures import MIN_CHURNED, not_enough
from .errors import DataError
from .fit_signals import CANDIDATES, candidate_profile, gameable, passive_share, passive_signals
from .logistic import L2
from .outcomes import paired_auc_difference, ranking
from .profile import Profile
from .validate import Backtest, quick_figures, scores_of
from .walk_forward import Split, only_dates, split_dates
from .weight_fit import (BOOTSTRAP, Stability, Suggestion, bootstrap, calibrated_profile, flipped_backtest,
                         suggest_weights)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)  # the strengths choose_l2 tries
CALIBRATE_DATES = 12  # default as-of dates: up to a year of months
BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)  # blends reported: 0 = hand-set, 1 = fitted


@dataclass(frozen=True)
class L2Choice:
    """The L2 strength of the fit and how it was chosen: ``tried`` holds, per strength of the grid
    (weakest first), the AUC on the inner judged dates (None: not judged); ``inner``: the inner
    split; ``best``: the strength with the highest inner AUC; ``reason``: why ``L2`` was used
    instead (empty when chosen)."""

    l2: float
    tried: tuple[tuple[float, float | None], ...] = ()
    inner: Split | None = None
    best: float | None = None
    reason: str = ""


def choose_l2(train: Backtest, *, flip: bool = False, grid: Sequence[float] = L2_GRID) -> L2Choice:
    """Walk forward inside ``train``: split its dates as ``split_dates`` does (the last third
    judged, a purge between), fit each strength of ``grid`` on the inner training dates and score
    the inner judged dates with it (health, or engagement, as ``validate`` scores them). The
    strength with the highest AUC there is the best; the one chosen is the **strongest whose AUC is
    within one standard error of the best's** (DeLong, paired: ``paired_auc_difference``), the
    one-standard-error rule: more shrinkage gives steadier weights, and is only given up when the
    inner judged dates say clearly that less predicts better. Without an inner split, or below
    ``MIN_CHURNED`` churned in either part: ``L2``, with the reason."""
    try:
        inner = split_dates([p.as_of for p in train.dates], horizon=train.horizon)
    except DataError:
        return L2Choice(L2, reason=f"too few training dates to walk forward inside them (at least "
                                   f"3, the first and last {train.horizon} days apart)")
    fit_part, judge_part = only_dates(train, inner.train), only_dates(train, inner.judged)
    churned = np.concatenate([p.churned for p in judge_part.dates])
    if churned.sum() < MIN_CHURNED:
        return L2Choice(L2, inner=inner, reason="the inner walk forward cannot judge: " + not_enough(
            int(churned.sum()), MIN_CHURNED, " on its judged dates"))
    scores: dict[float, np.ndarray] = {}
    for l2 in sorted(grid):
        try:
            sug = suggest_weights(fit_part, flip=flip, l2=l2)
        except DataError as e:
            return L2Choice(L2, inner=inner, reason=f"the inner walk forward cannot fit: {e}")
        part = flipped_backtest(judge_part, sug.flipped)
        scores[l2] = np.concatenate([scores_of(p, sug.weights, score=part.score,
                                               bands=part.profile.bands)[0] for p in part.dates])
    accounts = np.concatenate([p.account_ids for p in judge_part.dates]).astype(str)
    aucs = {l2: ranking(s[np.isfinite(s)], churned[np.isfinite(s)])[0] for l2, s in scores.items()}
    tried = tuple((l2, a if math.isfinite(a) else None) for l2, a in aucs.items())
    best = max((a, l2) for l2, a in aucs.items() if math.isfinite(a))[1] if any(
        math.isfinite(a) for a in aucs.values()) else None
    if best is None:
        return L2Choice(L2, tried, inner, reason="the inner walk forward cannot judge: no AUC")
    chosen = best
    for l2 in sorted(scores, reverse=True):  # strongest first
        if l2 <= best:
            break
        diff, se = paired_auc_difference(scores[best], scores[l2], churned, accounts)
        if math.isfinite(diff) and diff <= (se if math.isfinite(se) else 0.0):
            chosen = l2
            break
    return L2Choice(chosen, tried, inner, best)


# ---------------------------------------------------------------- hand-set, fitted and blends


def blend(current: Mapping[str, float], fitted: Mapping[str, float], b: float, *,
          digits: int | None = None) -> dict[str, float]:
    """The blend ``b`` (0 = ``current``, the hand-set weights; 1 = ``fitted``): each set first made
    shares of its total, then ``100 * m / sum(m)`` with ``m = (1 - b) * current_share + b *
    fitted_share`` per signal (``current``'s signals, then any only ``fitted`` has; a missing one
    weighs 0). Scoring reads weights as shares, so ``b = 0`` scores as ``current`` and ``b = 1`` as
    ``fitted``. ``digits``: rounded to that many decimals (the Tune weights slider and a saved
    blend hold one, ``comparison.blend``); None: unrounded."""
    if not 0.0 <= b <= 1.0:
        raise ValueError(f"blend must be within 0..1, got {b}")
    names = list(current) + [n for n in fitted if n not in current]
    c = np.array([float(current.get(n, 0.0)) for n in names])
    f = np.array([float(fitted.get(n, 0.0)) for n in names])
    c = c / c.sum() if c.sum() > 0 else c
    f = f / f.sum() if f.sum() > 0 else f
    mix = (1.0 - b) * c + b * f
    total = mix.sum()
    out = {n: float(100.0 * m / total) if total > 0 else 0.0 for n, m in zip(names, mix)}
    return out if digits is None else {n: round(v, digits) for n, v in out.items()}


def blend_figures(judged: Backtest, current: Mapping[str, float], sug: Suggestion,
                  grid: Sequence[float] = BLEND_GRID, passive: Sequence[str] | None = None) -> list[dict]:
    """Per blend ``b`` of ``grid``, on the judged dates: ``validate.quick_figures`` of the blended
    weights (``blend``, unrounded), as ``validate`` reports them: ROC AUC with its DeLong interval,
    at_risk lift, recall at_risk, precision and recall at capacity; and, with ``passive`` (the
    passive signals, ``passive_signals``), the passive share of the blended weight. A signal the
    fit flipped counts flipped at any ``b > 0`` (as the blend would be saved) and as it is at
    ``b = 0``, the hand-set weights as they stand."""
    flipped = flipped_backtest(judged, sug.flipped)
    rows = []
    for b in sorted(set(grid)):
        w = blend(current, sug.weights, b)
        q = quick_figures(judged if b == 0 else flipped, w)
        rows.append({"blend": b, "weights": w, "auc": q["auc"], "auc_ci": q["auc_ci"],
                     "lift_at_risk": q["lift_at_risk"], "recall_at_risk": q["recall_at_risk"],
                     "precision_at_capacity": q["precision_at_capacity"],
                     "recall_at_capacity": q["recall_at_capacity"], "n_accounts": q["n_accounts"],
                     "n_churned": q["n_churned"], "reasons": q["reasons"],
                     "passive_share": None if passive is None else passive_share(w, passive)})
    return rows


# ---------------------------------------------------------------- the report beside the fit


@dataclass(frozen=True)
class Calibration:
    split: Split
    current: dict[str, float]
    suggestion: Suggestion
    auc: dict[str, float | None]  # current_train, suggested_train, current_judged, suggested_judged
    profile: Profile
    note: str
    l2: L2Choice = L2Choice(L2)
    candidates: tuple[str, ...] = ()  # signals the fit could weigh beyond the profile's own
    added: tuple[str, ...] = ()  # those of them the fit weighed, added to the saved profile
    blend: float = 1.0  # the blend saved: 0 = hand-set, 1 = fitted
    blends: tuple[dict, ...] = ()  # blend_figures on the judged dates
    saved_weights: dict[str, float] = dataclasses.field(default_factory=dict)  # the blend saved
    stability: Stability | None = None  # None: bootstrap off
    gameable: dict = dataclasses.field(default_factory=dict)


def calibrate(bt: Backtest, *, save_as: str, split: Split | None = None, flip: bool = False,
              l2: float | None = None, candidates: Sequence[str] = (), blend_saved: float = 1.0,
              resamples: int = BOOTSTRAP, seed: int = 0,
              catalogue: "pd.DataFrame | None" = None) -> Calibration:
    """Fit on ``split``'s training dates of ``bt`` (default: ``split_dates`` of its dates), compare
    the AUCs of the current and suggested weights on the training and judged dates, and build the
    profile to save (not saved here). ``l2`` None: chosen by ``choose_l2`` on the training dates.
    ``candidates``: signals of ``bt``'s profile that are not the profile's own (``candidate_profile``);
    the saved profile keeps those the fit weighs and leaves out the others.

    Then the report of the issue: hand-set versus fitted versus blends on the judged dates
    (``blend_figures`` over ``BLEND_GRID`` and ``blend_saved``), the weights' stability under
    ``resamples`` cluster bootstrap refits seeded by ``seed`` (``bootstrap``; 0: none) and the
    gameable check (``gameable``; needs the event-type ``catalogue``). The saved weights are the
    blend ``blend_saved`` (default 1, the fitted ones) rounded to one decimal."""
    if not 0.0 <= blend_saved <= 1.0:
        raise ValueError(f"blend must be within 0..1, got {blend_saved}")
    horizon = bt.horizon
    split = split or split_dates([p.as_of for p in bt.dates], horizon=horizon)
    train, judged = only_dates(bt, split.train), only_dates(bt, split.judged)
    choice = choose_l2(train, flip=flip) if l2 is None else L2Choice(l2, reason="given")
    sug = suggest_weights(train, flip=flip, l2=choice.l2)
    auc = {}
    for label, part in (("train", train), ("judged", judged)):
        auc[f"current_{label}"] = quick_figures(part, bt.weights)["auc"]
        auc[f"suggested_{label}"] = quick_figures(flipped_backtest(part, sug.flipped), sug.weights)["auc"]
    passive = passive_signals(bt.profile, catalogue)
    blends = blend_figures(judged, bt.weights, sug, (*BLEND_GRID, blend_saved), passive)
    saved_w = sug.weights if blend_saved == 1 else blend(bt.weights, sug.weights, blend_saved, digits=1)
    saved_flips = sug.flipped if blend_saved > 0 else ()
    stability = (bootstrap(train, sug, l2=choice.l2, resamples=resamples, seed=seed) if resamples > 0
                 else None)
    game = gameable(passive, sug.weights, saved_w, blend_saved)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    chosen = next(r for r in blends if r["blend"] == blend_saved)
    what = {0.0: " (hand-set)", 1.0: " (fitted)"}.get(blend_saved, "")
    note = (f"calibrate: fitted on {len(split.train)} as-of date(s) {split.train[0]}..{split.train[-1]}, "
            f"judged on {len(split.judged)} {split.judged[0]}..{split.judged[-1]}, horizon {horizon} days, "
            f"from {bt.profile.ref}; AUC on judged dates {fmt(auc['current_judged'])} (current) -> "
            f"{fmt(auc['suggested_judged'])} (suggested); L2 {choice.l2:g}"
            + (" chosen walking forward inside the training dates" if choice.inner and not choice.reason
               else "")
            + (f"; candidates beyond the profile: {', '.join(candidates)}" if candidates else "")
            + (f"; flipped {', '.join(saved_flips)}" if saved_flips else "")
            + f"; saved blend {blend_saved:g}{what} of hand-set (0) and fitted (1), AUC on judged dates "
              f"{fmt(chosen['auc'])}"
            + (f"; passive signals {100 * game['saved_share']:.0f}% of the saved weight"
               if game.get("saved_share") is not None else ""))
    added = tuple(n for n in candidates if saved_w.get(n, 0.0) > 0)
    profile = calibrated_profile(bt.profile, saved_w, name=save_as, flip=saved_flips)
    dropped = set(candidates) - set(added)
    profile = dataclasses.replace(profile, signals=tuple(s for s in profile.signals if s.name not in dropped))
    return Calibration(split, bt.weights, sug, auc, profile, note, choice, tuple(candidates), added,
                       blend_saved, tuple(blends), dict(saved_w), stability, game)


def calibrate_store(con: "duckdb.DuckDBPyConnection", profile: Profile, catalogue: "pd.DataFrame",
                    dates: Sequence[dt.date], *, horizon: int, save_as: str,
                    judge_from: dt.date | None = None, candidates: str = CANDIDATES[0],
                    flip: bool = False, l2: float | None = None, blend_saved: float = 1.0,
                    resamples: int = BOOTSTRAP, seed: int = 0) -> Calibration:
    """What the ``calibrate`` command does before saving: split ``dates`` (``split_dates``), widen
    the profile by ``candidates`` (``candidate_profile``), backtest the training and judged dates
    (``validate.backtest_frame``; ``con`` reads the data store) and ``calibrate``."""
    from .validate import backtest_frame

    split = split_dates(dates, horizon=horizon, judge_from=judge_from)
    wider, added = candidate_profile(profile, catalogue, candidates)
    bt = backtest_frame(con, wider, [*split.train, *split.judged], horizon=horizon, catalogue=catalogue)
    return calibrate(bt, save_as=save_as, split=split, flip=flip, l2=l2, candidates=added,
                     blend_saved=blend_saved, resamples=resamples, seed=seed, catalogue=catalogue)
