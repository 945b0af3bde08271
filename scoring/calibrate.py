"""Calibration: suggest signal weights from what happened next, judged on later dates.

Why it is shaped like this:

- **A constrained fit, not a clipped one** (``scoring.logistic``). Per observation (account,
  as-of date) the model is ``P(retained) = sigmoid(b + sum_j beta_j x_j)`` over the normalised
  signals ``x`` (0..1, 1 = best, direction applied), fitted by the L2-regularised logistic loss
  under ``beta_j >= 0`` (L-BFGS-B): more of a good signal never raises churn. The optimum meets
  the KKT conditions, which a test checks; clipping an unconstrained fit's negatives would not.
- **Weights people can read.** ``100 * beta / sum(beta)`` rounded to whole numbers by largest
  remainder, so they add up to exactly 100. A missing normalised value counts as 0.5, the peer
  median of a percentile score (and the middle of every other method).
- **Walk forward with a purge.** Weights are fitted on earlier dates and judged on later ones. A
  training date's outcomes run to T + H, so the last training date + H must not pass the first
  judged date; a split that breaks this is refused (``LeakError``), never silently trimmed.
- **Each signal on its own** (``signal_figures``, also in ``validate``'s report): its normalised
  value alone as the score, with its AUC, churn by decile and a verdict on its direction.
- **Candidates beyond the profile.** A profile may simply lack the behaviours that predict
  retention (the demo's "classic" profile counts logins, reports, invitations, integrations and
  API calls, but not how many features or how many of the seats are in use), and a fit can only
  re-weight the signals it is given. With ``candidates="catalogue"`` (the command's default) the
  fit also considers the generic signals ``profile.default_profile`` builds from the event-type
  catalogue, one per dimension (``candidate_profile``); they enter the backtest at weight 0, which
  scores exactly as without them, and a candidate joins the saved profile only when the fit
  gives it weight. ``candidates="profile"``: the profile's own signals only.
- **The L2 strength chosen by walking forward inside the training dates** (``choose_l2``): the
  training dates are split again as the outer split is (the last third judged, a purge between),
  each strength of ``L2_GRID`` is fitted on the inner training dates and judged by the health
  AUC on the inner judged dates; the best wins (ties: the stronger), and the final fit uses it on
  all the training dates. The judged dates of the outer split are never looked at to choose it.
  Too few dates or churners for the inner split: ``L2`` (with the reason).
- **Backwards signals are reported, not dropped.** A signal whose own AUC interval on the
  training dates lies below 0.5 works the other way round: its flip is proposed. Only with
  ``flip=True`` is it fitted (and saved) flipped; otherwise the fit keeps its direction, which
  usually sets its weight to 0, and the report says so.
- **The report beside the fit** (``calibrate``): hand-set versus fitted versus blends on the
  judged dates (``blend``: ``(1 - b)`` hand-set shares ``+ b`` fitted shares, the one formula the
  Tune weights slider uses too; ``blend_figures``: ``validate.quick_figures`` per blend), the
  weights' stability under a cluster bootstrap of the training accounts (``bootstrap``: an
  account with all its dates per draw, refitted together by a vectorised projected Newton warm-
  started at the full fit, ``logistic.refit_many``), and passive signals getting most of the weight
  (``is_passive``, ``gameable``). Formulas and thresholds: ``docs/VALIDATION.md``, "Calibration".
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import rankdata

from .errors import DataError
from .logistic import L2, LogisticFit, account_counts, fit_nonneg_logistic, readable_weights, refit_many
from .normalize import Normalised
from .outcomes import auc_interval, deciles, delong, ranking
from .profile import Normalisation, Profile, SignalDef, default_profile
from .validate import MIN_CHURNED, Backtest, not_enough, quick_figures, rate_row, ratio, scores_of

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)  # the strengths choose_l2 tries
CANDIDATES = ("catalogue", "profile")  # what the fit may weigh; the first is the default
FILL = 0.5  # a missing normalised value
CALIBRATE_DATES = 12  # default as-of dates: up to a year of months
JUDGED_SHARE = 1 / 3  # default split: the last third of the dates is judged
BACKWARDS = "works the other way round"
BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)  # blends reported: 0 = hand-set, 1 = fitted
BOOTSTRAP = 200  # default bootstrap resamples (0: none)
UNSTABLE_POINTS = 20.0  # a signal whose 90% bootstrap interval is wider than this is unstable
PRESENCE_KINDS = ("active_days", "distinct_users")  # one event of any type makes a day/user count
PASSIVE_LIMIT = 0.5  # warn when passive signals get more than this share of the weight


# ---------------------------------------------------------------- each signal on its own


def signal_figures(bt: Backtest) -> list[dict]:
    """Per signal, its normalised value (direction applied, 1 = best) used alone as the score,
    pooled over the dates: ROC AUC with DeLong interval, churn rate by decile, and the verdict:
    ``agrees`` (interval above 0.5), ``works the other way round`` (interval below 0.5: a high
    value goes with churn), ``no clear direction``. Accounts without a value are left out."""
    churned = np.concatenate([p.churned for p in bt.dates]) if bt.dates else np.zeros(0, bool)
    out = []
    for j, sig in enumerate(bt.profile.signals):
        x = (np.concatenate([p.rescorer.normalised.matrix[:, j] for p in bt.dates]) if bt.dates
             else np.zeros(0))
        ok = np.isfinite(x)
        k = int(churned[ok].sum())
        auc, var = delong(x[ok], churned[ok])
        ci = auc_interval(auc, var)
        row: dict = {"signal": sig.name, "label": sig.label, "direction": sig.direction,
                     "weight": sig.weight, "n": int(ok.sum()), "churned": k, "auc": None,
                     "auc_ci": None, "agrees": None, "verdict": None}
        if k < MIN_CHURNED or not math.isfinite(auc):
            row["reason"] = not_enough(k, MIN_CHURNED)
        else:
            verdict = ("agrees" if ci and ci[0] > 0.5 else "works the other way round"
                       if ci and ci[1] < 0.5 else "no clear direction")
            row.update(auc=auc, auc_ci=list(ci) if ci else None, agrees=auc >= 0.5, verdict=verdict)
        dec, y = deciles(x[ok]), churned[ok]
        base = ratio(k, int(ok.sum()))
        row["deciles"] = [{"decile": d + 1, **rate_row(int((dec == d).sum()), int(y[dec == d].sum()),
                                                       base, k >= MIN_CHURNED, k)}
                          for d in range(10) if (dec == d).any()]
        out.append(row)
    return out


# ---------------------------------------------------------------- what the fit may weigh


def _definition(s: SignalDef) -> tuple:
    """What a signal counts, apart from its name, label, dimension, weight and direction."""
    return (s.kind, tuple(sorted(s.event_types)), tuple(sorted(s.features)), s.value_only, s.per,
            s.trend)


def candidate_profile(profile: Profile, catalogue: "pd.DataFrame | None",
                      candidates: str = CANDIDATES[0]) -> tuple[Profile, tuple[str, ...]]:
    """The profile to backtest for a fit and the names of the signals it adds.

    ``"profile"``: ``profile`` itself, nothing added. ``"catalogue"``: ``profile`` followed by the
    signals of ``default_profile(catalogue)`` it lacks (same name, or same definition: kind, event
    types, features, value actions only, per, trend), each at weight 0, so the added signals change
    no score until a fit weighs them."""
    if candidates not in CANDIDATES:
        raise ValueError(f"candidates must be one of {', '.join(CANDIDATES)}, got {candidates!r}")
    if candidates == "profile":
        return profile, ()
    names = {s.name for s in profile.signals}
    defs = {_definition(s) for s in profile.signals}
    extra = tuple(dataclasses.replace(s, weight=0.0) for s in default_profile(catalogue).signals
                  if s.name not in names and _definition(s) not in defs)
    return dataclasses.replace(profile, signals=profile.signals + extra), tuple(s.name for s in extra)


class LeakError(DataError):
    """A walk-forward split whose training outcomes reach into the judged period."""


@dataclass(frozen=True)
class Split:
    train: tuple[dt.date, ...]
    purged: tuple[dt.date, ...]  # between the two, left out so no training outcome is judged
    judged: tuple[dt.date, ...]


def split_dates(dates: Sequence[dt.date], *, horizon: int, judge_from: dt.date | None = None) -> Split:
    """Walk-forward split. With ``judge_from``: dates on or after it are judged, the earlier ones
    trained on, and a training date with ``T + horizon > first judged date`` is refused
    (``LeakError``). Without it: the last third of the dates (at least one) is judged, and the
    earlier dates too close to it are purged (listed in ``purged``)."""
    ds = sorted(set(dates))
    if judge_from is None:
        judged = ds[len(ds) - max(1, math.ceil(len(ds) * JUDGED_SHARE)):]
        early = [d for d in ds if d < judged[0]] if judged else []
        train = [d for d in early if d + dt.timedelta(days=horizon) <= judged[0]]
        purged = [d for d in early if d not in train]
    else:
        judged = [d for d in ds if d >= judge_from]
        train, purged = [d for d in ds if d < judge_from], []
        leaky = [d for d in train if judged and d + dt.timedelta(days=horizon) > judged[0]]
        if leaky:
            raise LeakError(
                f"leaky split refused: training date {leaky[0]} + {horizon} days = "
                f"{leaky[0] + dt.timedelta(days=horizon)} passes the first judged date {judged[0]}, so "
                f"its outcomes would be judged too; train only on dates up to "
                f"{judged[0] - dt.timedelta(days=horizon)} or judge from a later date")
    if not train or not judged:
        raise DataError(f"calibration needs dates to train on and later dates to judge on, at least "
                        f"{horizon} days apart; got {len(train)} to train on and {len(judged)} to judge "
                        f"(give more --as-of dates, or a longer mrr_history)")
    return Split(tuple(train), tuple(purged), tuple(judged))


def design_matrix(matrix: np.ndarray, flip: np.ndarray | None = None) -> np.ndarray:
    """The fit's features: the normalised matrix with missing values as ``FILL`` and the columns
    in ``flip`` (a boolean mask) as ``1 - x``."""
    x = np.where(np.isnan(matrix), FILL, matrix)
    if flip is not None and flip.any():
        x[:, flip] = 1.0 - x[:, flip]
    return x


@dataclass(frozen=True)
class Suggestion:
    """Suggested weights with the fit behind them; ``proposed_flips``: signals that work the other
    way round on the training dates; ``flipped``: those the fit used flipped."""

    weights: dict[str, float]
    fit: LogisticFit
    proposed_flips: tuple[str, ...]
    flipped: tuple[str, ...]
    signals: list[dict]
    n: int
    n_churned: int


def training_data(train: Backtest, flipped: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fit's observations pooled over ``train``'s dates: the design matrix (``design_matrix``,
    the signals ``flipped`` turned round), churned, and the account of each row (the bootstrap's
    clusters)."""
    names = [s.name for s in train.profile.signals]
    mask = np.isin(names, list(flipped))
    x = (np.vstack([design_matrix(p.rescorer.normalised.matrix, mask) for p in train.dates]) if train.dates
         else np.zeros((0, len(names))))
    churned = np.concatenate([p.churned for p in train.dates]) if train.dates else np.zeros(0, bool)
    accounts = (np.concatenate([np.asarray(p.account_ids, dtype=object) for p in train.dates])
                if train.dates else np.zeros(0, object))
    return x, churned, accounts


def suggest_weights(train: Backtest, *, flip: bool = False, l2: float = L2) -> Suggestion:
    """Fit weights on every observation of ``train`` (pooled over its dates); a ``DataError``
    below ``MIN_CHURNED`` churned observations."""
    names = [s.name for s in train.profile.signals]
    sig = signal_figures(train)
    proposed = tuple(r["signal"] for r in sig if r["verdict"] == BACKWARDS)
    flipped = proposed if flip else ()
    x, churned, _ = training_data(train, flipped)
    if churned.sum() < MIN_CHURNED:
        raise DataError(f"{not_enough(int(churned.sum()), MIN_CHURNED, ' on the training dates')}: "
                        "give more or earlier --as-of dates, or a longer horizon")
    fit = fit_nonneg_logistic(x, ~churned, l2=l2)
    return Suggestion(readable_weights(fit.coef, names), fit, proposed, flipped, sig, len(churned),
                      int(churned.sum()))


def only_dates(bt: Backtest, dates: Sequence[dt.date]) -> Backtest:
    """The backtest restricted to ``dates``."""
    keep = set(dates)
    return dataclasses.replace(bt, dates=tuple(p for p in bt.dates if p.as_of in keep))


def flipped_backtest(bt: Backtest, names: Sequence[str]) -> Backtest:
    """The backtest with signals ``names`` turned round (``1 - x``), as the flipped profile scores."""
    if not names:
        return bt
    preps = []
    for p in bt.dates:
        n = p.rescorer.normalised
        m = np.array(n.matrix)
        cols = np.isin(n.signals, list(names))
        m[:, cols] = 1.0 - m[:, cols]
        r = dataclasses.replace(p.rescorer, normalised=Normalised.from_matrix(m, n.signals, n.index))
        preps.append(dataclasses.replace(p, rescorer=r))
    return dataclasses.replace(bt, dates=tuple(preps))


def calibrated_profile(profile: Profile, weights: dict[str, float], *, name: str,
                       flip: Sequence[str] = ()) -> Profile:
    """``profile`` with the suggested weights, named ``name``, unversioned (``save`` numbers it).
    A flipped signal swaps its direction; a grid signal (whose points ignore direction) gets its
    points mirrored (``100 - points``): either way its normalised value becomes ``1 - x``."""
    signals = []
    for s in profile.signals:
        s = dataclasses.replace(s, weight=weights[s.name])
        if s.name in flip:
            if s.normalisation.method == "grid":
                grid = tuple((b, 100.0 - p) for b, p in s.normalisation.grid)
                s = dataclasses.replace(s, normalisation=Normalisation("grid", s.normalisation.peer, grid))
            else:
                s = dataclasses.replace(s, direction="lower" if s.direction == "higher" else "higher")
        signals.append(s)
    return dataclasses.replace(profile, name=name, signals=tuple(signals), version=None)


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


# ---------------------------------------------------------------- weight stability


@dataclass(frozen=True)
class Stability:
    """Weights refitted on bootstrap resamples of the training accounts (``bootstrap``):
    ``resamples`` asked, ``fitted`` of them with a fit (some weight above 0), ``seed``, ``l2``,
    ``seconds`` taken; ``signals``: per signal its full-data weight, the median and 5th/95th
    percentile of its resampled weights, the share of resamples weighing it (> 0) and whether it
    is ``unstable`` (interval wider than ``UNSTABLE_POINTS``)."""

    resamples: int
    fitted: int
    seed: int
    l2: float
    seconds: float
    signals: list[dict]


def bootstrap(train: Backtest, sug: Suggestion, *, l2: float, resamples: int = BOOTSTRAP,
              seed: int = 0) -> Stability:
    """Weight stability: ``resamples`` refits of ``sug``'s model (same signals, flips and ``l2``;
    L2 is not chosen again) on cluster bootstrap resamples of ``train`` (``account_counts``: an
    account with all its training dates, drawn with replacement), each warm-started from the full
    fit and weighted by the counts (the same as repeating the rows). Each refit's weights are made
    readable (``readable_weights``); a refit with every weight 0 is left out of the figures."""
    started = time.perf_counter()
    names = [s.name for s in train.profile.signals]
    x, churned, accounts = training_data(train, sug.flipped)
    retained = ~churned
    counts, ids = account_counts(accounts, resamples, np.random.default_rng(seed))
    start = np.concatenate(([sug.fit.intercept], sug.fit.coef))
    coefs = refit_many(x, retained, counts[:, ids], l2=l2, start=start)[:, 1:]
    got = [[readable_weights(c, names)[n] for n in names] for c in coefs
           if np.isfinite(c).all() and c.sum() > 0]
    w = np.array(got, dtype=np.float64).reshape(len(got), len(names))
    rows = []
    for j, n in enumerate(names):
        col = w[:, j]
        lo, med, hi = (np.percentile(col, [5, 50, 95]) if len(col) else (math.nan,) * 3)
        rows.append({"signal": n, "weight": sug.weights[n], "median": float(med), "low": float(lo),
                     "high": float(hi), "weighed": float((col > 0).mean()) if len(col) else None,
                     "unstable": bool(hi - lo > UNSTABLE_POINTS) if len(col) else None})
    return Stability(resamples, len(got), seed, l2, time.perf_counter() - started, rows)


# ---------------------------------------------------------------- gameable: passive signals


def _selected_events(sig: SignalDef, catalogue: "pd.DataFrame") -> list[bool]:
    """The value_action flag of every event type ``sig`` selects, as the signals query selects
    them (``signals_sql._Filter``): listed event types or features, none listed = every event type,
    then value actions only with ``value_only``; a listed event type the catalogue lacks is
    unclassified, so passive."""
    rows = [(str(et), str(ft) if isinstance(ft, str) and ft else str(et), bool(va))
            for et, ft, va in zip(catalogue["event_type"], catalogue["feature"] if "feature" in catalogue
                                  else catalogue["event_type"], catalogue["value_action"].fillna(False))]
    known = {et for et, _, _ in rows}
    rows += [(et, et, False) for et in sig.event_types if et not in known]
    listed = bool(sig.event_types or sig.features)
    chosen = [va for et, ft, va in rows
              if (not listed or et in sig.event_types or ft in sig.features) and (va or not sig.value_only)]
    return chosen


def is_passive(sig: SignalDef, catalogue: "pd.DataFrame") -> bool:
    """Whether ``sig`` is **passive**: it can be raised without doing anything of value. True when
    none of the event types it selects (``_selected_events``) is a value action (it counts logins,
    page views, unclassified events...), or when its kind measures presence (``PRESENCE_KINDS``:
    active days, distinct users) and it selects any passive event type, because one passive
    event (a login) makes a day or a user count as fully as a value action. A signal of value
    actions only, or a count, sum or distinct features over value actions, is not passive."""
    chosen = _selected_events(sig, catalogue)
    if not any(chosen):
        return True
    return sig.kind in PRESENCE_KINDS and not all(chosen)


def passive_signals(profile: Profile, catalogue: "pd.DataFrame | None") -> tuple[str, ...] | None:
    """The passive signals of ``profile`` (``is_passive``), in profile order; None without a
    catalogue (no event type is classified, so nothing can be told)."""
    if catalogue is None:
        return None
    return tuple(s.name for s in profile.signals if is_passive(s, catalogue))


def passive_share(weights: Mapping[str, float], passive: Sequence[str]) -> float | None:
    """The passive signals' share of the total weight (0..1); None when every weight is 0."""
    total = sum(weights.values())
    return sum(weights.get(n, 0.0) for n in passive) / total if total > 0 else None


def gameable(passive: Sequence[str] | None, weights: Mapping[str, float], saved: Mapping[str, float],
             b: float) -> dict:
    """The gameable check: the passive signals (None: no catalogue), their share of the fitted
    ``weights`` and of the ``saved`` ones (blend ``b``), and ``warning`` when either share is above
    ``PASSIVE_LIMIT``."""
    if passive is None:
        return {"passive": None, "fitted_share": None, "saved_share": None, "blend": b, "warning": False,
                "reason": "no event-type catalogue: which signals are passive cannot be told"}
    fitted, kept = passive_share(weights, passive), passive_share(saved, passive)
    warn = any(v is not None and v > PASSIVE_LIMIT for v in (fitted, kept))
    return {"passive": list(passive), "fitted_share": fitted, "saved_share": kept, "blend": b,
            "warning": warn, "limit": PASSIVE_LIMIT}


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
