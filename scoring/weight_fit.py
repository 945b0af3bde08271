"""The fitted weights: each signal judged on its own, the constrained fit, and how stable it is.

``scoring.calibrate`` walks forward, chooses the L2 strength and writes the report; this module is
what it fits and judges with, also used on its own (``validate``'s per-signal report, the Tune
weights page's "suggest weights").

Why it is shaped like this:

- **A constrained fit, not a clipped one** (``scoring.logistic``). Per observation (account,
  as-of date) the model is ``P(retained) = sigmoid(b + sum_j beta_j x_j)`` over the normalised
  signals ``x`` (0..1, 1 = best, direction applied), fitted by the L2-regularised logistic loss
  under ``beta_j >= 0`` (L-BFGS-B): more of a good signal never raises churn. The optimum meets
  the KKT conditions, which a test checks; clipping an unconstrained fit's negatives would not.
- **Weights people can read.** ``100 * beta / sum(beta)`` rounded to whole numbers by largest
  remainder, so they add up to exactly 100. A missing normalised value counts as ``FILL`` (0.5),
  the peer median of a percentile score (and the middle of every other method).
- **Each signal on its own** (``signal_figures``): its normalised value alone as the score, with
  its AUC, churn by decile and a verdict on its direction.
- **Backwards signals are reported, not dropped.** A signal whose own AUC interval on the
  training dates lies below 0.5 works the other way round: its flip is proposed. Only with
  ``flip=True`` is it fitted (and saved, ``calibrated_profile``) flipped; otherwise the fit keeps
  its direction, which usually sets its weight to 0, and the report says so.
- **Stability by a cluster bootstrap** (``bootstrap``): an account with all its dates per draw,
  refitted together by a vectorised projected Newton warm-started at the full fit
  (``logistic.refit_many``); a weight whose 90% interval is wider than ``UNSTABLE_POINTS`` is
  called unstable.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .backtest_figures import MIN_CHURNED, not_enough, rate_row, ratio
from .errors import DataError
from .logistic import L2, LogisticFit, account_counts, fit_nonneg_logistic, readable_weights, refit_many
from .normalize import Normalised
from .outcomes import auc_interval, deciles, delong
from .profile import Normalisation, Profile
from .validate import Backtest

FILL = 0.5  # a missing normalised value
BACKWARDS = "works the other way round"
BOOTSTRAP = 200  # default bootstrap resamples (0: none)
UNSTABLE_POINTS = 20.0  # a signal whose 90% bootstrap interval is wider than this is unstable


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


# ---------------------------------------------------------------- the fit


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
