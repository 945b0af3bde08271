"""Calibration: suggest signal weights from what happened next, judged on later dates.

Why it is shaped like this:

- **A constrained fit, not a clipped one.** Per observation (account, as-of date) the model is
  ``P(retained) = sigmoid(b + sum_j beta_j x_j)`` over the normalised signals ``x`` (0..1, 1 =
  best, direction applied). It minimises the L2-regularised logistic loss
  ``mean(log(1 + exp(z)) - r z) + (L2 / 2) sum_j beta_j^2`` (``z = b + x . beta``, ``r`` = 1 when
  retained; the intercept is not penalised) with ``scipy.optimize.minimize(method="L-BFGS-B")``
  under ``beta_j >= 0``: more of a good signal never raises churn. The optimum meets the KKT
  conditions (gradient 0 for a positive coefficient, >= 0 for one held at 0), which a test checks;
  clipping the negatives of an unconstrained fit would not.
- **Weights people can read.** ``100 * beta / sum(beta)`` rounded to whole numbers by largest
  remainder, so they add up to exactly 100. A missing normalised value counts as 0.5, the peer
  median of a percentile score (and the middle of every other method).
- **Walk forward with a purge.** Weights are fitted on earlier dates and judged on later ones. A
  training date's outcomes run to T + H, so the last training date + H must not pass the first
  judged date; a split that breaks this is refused (``LeakError``), never silently trimmed.
- **Each signal on its own** (``signal_figures``, also in ``validate``'s report): its normalised
  value alone as the score, with its AUC, churn by decile and a verdict on its direction.
- **Backwards signals are reported, not dropped.** A signal whose own AUC interval on the
  training dates lies below 0.5 works the other way round: its flip is proposed. Only with
  ``flip=True`` is it fitted (and saved) flipped; otherwise the fit keeps its direction, which
  usually sets its weight to 0, and the report says so.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .errors import DataError
from .normalize import Normalised
from .outcomes import auc_interval, deciles, delong
from .profile import Normalisation, Profile
from .validate import MIN_CHURNED, Backtest, not_enough, quick_figures, rate_row, ratio

L2 = 0.01  # on the mean loss: scikit-learn's C = 1 / (L2 * n)
FILL = 0.5  # a missing normalised value
CALIBRATE_DATES = 12  # default as-of dates: up to a year of months
JUDGED_SHARE = 1 / 3  # default split: the last third of the dates is judged
BACKWARDS = "works the other way round"


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


def loss_and_grad(params: np.ndarray, x: np.ndarray, retained: np.ndarray, l2: float
                  ) -> tuple[float, np.ndarray]:
    """The loss of the module docstring and its gradient; ``params = (b, beta_1, ..., beta_k)``."""
    b, beta = params[0], params[1:]
    z = b + x @ beta
    loss = float(np.mean(np.logaddexp(0.0, z) - retained * z) + 0.5 * l2 * beta @ beta)
    resid = (0.5 * (1.0 + np.tanh(0.5 * z)) - retained) / len(z)  # sigmoid(z) - r, stably
    return loss, np.concatenate(([resid.sum()], x.T @ resid + l2 * beta))


@dataclass(frozen=True)
class LogisticFit:
    intercept: float
    coef: np.ndarray
    loss: float
    gradient: np.ndarray  # at the optimum, for (b, beta): the KKT check
    converged: bool


def fit_nonneg_logistic(x: np.ndarray, retained: np.ndarray, *, l2: float = L2) -> LogisticFit:
    """Minimise ``loss_and_grad`` under ``beta >= 0`` (L-BFGS-B; the intercept unbounded)."""
    r = np.asarray(retained, dtype=np.float64)
    rate = min(max(r.mean(), 1e-6), 1 - 1e-6) if len(r) else 0.5
    start = np.concatenate(([math.log(rate / (1 - rate))], np.zeros(x.shape[1])))
    res = minimize(loss_and_grad, start, args=(x, r, l2), jac=True, method="L-BFGS-B",
                   bounds=[(None, None)] + [(0.0, None)] * x.shape[1],
                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10})
    _, grad = loss_and_grad(res.x, x, r, l2)
    return LogisticFit(float(res.x[0]), res.x[1:].copy(), float(res.fun), grad, bool(res.success))


def readable_weights(coef: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """``100 * coef / sum(coef)`` as whole numbers adding up to 100 (largest remainder)."""
    c = np.asarray(coef, dtype=np.float64)
    if not np.isfinite(c).all() or c.sum() <= 0:
        raise DataError("no signal predicts retention on the training dates (every fitted weight "
                        "is 0): the current weights are kept; check the signals' directions")
    raw = 100.0 * c / c.sum()
    whole = np.floor(raw)
    extra = int(round(100 - whole.sum()))
    whole[np.argsort(-(raw - whole), kind="stable")[:extra]] += 1
    return {n: float(w) for n, w in zip(names, whole)}


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


def suggest_weights(train: Backtest, *, flip: bool = False, l2: float = L2) -> Suggestion:
    """Fit weights on every observation of ``train`` (pooled over its dates); a ``DataError``
    below ``MIN_CHURNED`` churned observations."""
    names = [s.name for s in train.profile.signals]
    sig = signal_figures(train)
    proposed = tuple(r["signal"] for r in sig if r["verdict"] == BACKWARDS)
    flipped = proposed if flip else ()
    mask = np.isin(names, flipped)
    x = np.vstack([design_matrix(p.rescorer.normalised.matrix, mask) for p in train.dates])
    churned = np.concatenate([p.churned for p in train.dates])
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


@dataclass(frozen=True)
class Calibration:
    split: Split
    current: dict[str, float]
    suggestion: Suggestion
    auc: dict[str, float | None]  # current_train, suggested_train, current_judged, suggested_judged
    profile: Profile
    note: str


def calibrate(bt: Backtest, *, save_as: str, split: Split | None = None, flip: bool = False,
              l2: float = L2) -> Calibration:
    """Fit on ``split``'s training dates of ``bt`` (default: ``split_dates`` of its dates), compare
    the AUCs of the current and suggested weights on the training and judged dates, and build the
    profile to save (not saved here)."""
    horizon = bt.horizon
    split = split or split_dates([p.as_of for p in bt.dates], horizon=horizon)
    train, judged = only_dates(bt, split.train), only_dates(bt, split.judged)
    sug = suggest_weights(train, flip=flip, l2=l2)
    auc = {}
    for label, part in (("train", train), ("judged", judged)):
        auc[f"current_{label}"] = quick_figures(part, bt.weights)["auc"]
        auc[f"suggested_{label}"] = quick_figures(flipped_backtest(part, sug.flipped), sug.weights)["auc"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    note = (f"calibrate: fitted on {len(split.train)} as-of date(s) {split.train[0]}..{split.train[-1]}, "
            f"judged on {len(split.judged)} {split.judged[0]}..{split.judged[-1]}, horizon {horizon} days, "
            f"from {bt.profile.ref}; AUC on judged dates {fmt(auc['current_judged'])} (current) -> "
            f"{fmt(auc['suggested_judged'])} (suggested)"
            + (f"; flipped {', '.join(sug.flipped)}" if sug.flipped else ""))
    profile = calibrated_profile(bt.profile, sug.weights, name=save_as, flip=sug.flipped)
    return Calibration(split, bt.weights, sug, auc, profile, note)
