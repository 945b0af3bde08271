"""What a proposal changes, as figures the Tune weights and Validation pages draw: the book under
the saved profile and under the proposal (``compare``), the band-change matrices and the accounts
that change band, blends, ROC curves and raw-versus-normalised previews, and backtest figures as
text. Pure (no store, no Streamlit).

- **Comparisons as counts.** ``band_change`` is one ``np.bincount`` over (saved band, proposed
  band) pairs, ``changed_accounts`` one ``np.partition``: no per-row Python at any book size.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .backtest_figures import FLOOR_AUC, FLOOR_HEALTHY, FLOOR_LIFT
from .scores import BANDS, Rescorer, WhatIf, band_codes, whatif
from .validate import Backtest, scores_of

CHANGED_LIMIT = 50


@dataclass(frozen=True)
class Comparison:
    """The book under the saved profile and under the proposal: ``scores.whatif`` of each and
    each account's band code (index into ``BANDS``), in the book's row order."""

    saved: WhatIf
    proposed: WhatIf
    saved_codes: np.ndarray
    proposed_codes: np.ndarray


def side(r: Rescorer, weights: Mapping[str, float]) -> tuple[WhatIf, np.ndarray]:
    """The book re-scored one way: ``scores.whatif`` (one matrix-vector product) and each account's
    band code by the rescorer's thresholds and ``new`` rule (``score_book``'s band)."""
    w = whatif(r, weights)
    return w, band_codes(w.health, r.bands, new=r.new)


def compare(saved: Rescorer, saved_weights: Mapping[str, float], proposed: Rescorer,
            proposed_weights: Mapping[str, float], *,
            saved_side: tuple[WhatIf, np.ndarray] | None = None) -> Comparison:
    """Re-score the book both ways (``side``); ``saved_side``: the saved side already computed
    (it does not change while a proposal does: a page keeps it)."""
    (a, a_codes), (b, b_codes) = saved_side or side(saved, saved_weights), side(proposed, proposed_weights)
    return Comparison(a, b, a_codes, b_codes)


def band_change(saved: np.ndarray, proposed: np.ndarray, arr: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accounts and ARR by (saved band, proposed band): rows saved, columns proposed, in
    ``BANDS`` order; band codes index ``BANDS``. Missing ARR counts 0."""
    k = len(BANDS)
    key = np.asarray(saved, dtype=np.intp) * k + np.asarray(proposed, dtype=np.intp)
    counts = np.bincount(key, minlength=k * k).reshape(k, k)
    money = np.bincount(key, weights=np.nan_to_num(np.asarray(arr, dtype=np.float64)),
                        minlength=k * k).reshape(k, k)
    index = pd.Index(list(BANDS), name="saved band")
    columns = pd.Index(list(BANDS), name="proposed band")
    return pd.DataFrame(counts, index, columns), pd.DataFrame(money, index, columns)


def changed_accounts(saved: np.ndarray, proposed: np.ndarray, arr: np.ndarray, *,
                     within: np.ndarray | None = None, limit: int = CHANGED_LIMIT) -> np.ndarray:
    """Positions of the accounts whose band changes (among ``within``, a mask of the rows a viewer
    may see; None: all), the ``limit`` largest by ARR first (ties: position order; missing ARR last)."""
    moved = np.asarray(saved) != np.asarray(proposed)
    rows = np.flatnonzero(moved if within is None else moved & within)
    value = np.nan_to_num(np.asarray(arr, dtype=np.float64)[rows], nan=-np.inf)
    if len(rows) > limit:
        cut = np.partition(value, len(value) - limit)[len(value) - limit]
        keep = value >= cut
        rows, value = rows[keep], value[keep]
    return rows[np.lexsort((rows, -value))][:limit]


def changed_table(inputs: pd.DataFrame, c: Comparison, rows: np.ndarray) -> pd.DataFrame:
    """The accounts at positions ``rows`` (``changed_accounts``): name, CSM, ARR, band and health
    saved and proposed; index ``account_id``."""
    bands = np.asarray(BANDS, dtype=object)
    return pd.DataFrame({  # column by column: a few rows of a 100,000-row frame, on every move
        # (the rows taken before leaving Arrow: the whole name column as Python strings is 3 ms)
        **{col: np.asarray(inputs[col].array.take(rows)) for col in ("name", "csm_owner", "arr")},
        "saved_band": bands[c.saved_codes[rows]], "proposed_band": bands[c.proposed_codes[rows]],
        "saved_health": c.saved.health[rows], "proposed_health": c.proposed.health[rows]},
        index=inputs.index[rows])


def blend(current: Mapping[str, float], suggested: Mapping[str, float], b: float) -> dict[str, float]:
    """``(1 - b) * current + b * suggested``, each first normalised to shares, as weights adding up
    to 100 (to one decimal, as a slider holds them): ``b = 0`` keeps the current shares, ``b = 1``
    takes the suggested ones. The formula is ``calibrate.blend``'s (the ``calibrate`` command
    reports and saves the same blends)."""
    from .calibrate import blend as _blend

    return _blend(current, suggested, b, digits=1)


def flip_sentences(signals: Sequence[Mapping], flips: Sequence[str]) -> list[str]:
    """In words, each signal ``calibrate`` proposes to flip (``Suggestion.proposed_flips``), from its
    row of ``weight_fit.signal_figures``."""
    out = []
    for row in signals:
        if row["signal"] not in flips:
            continue
        lo, hi = row["auc_ci"] or (math.nan, math.nan)
        other = "lower" if row["direction"] == "higher" else "higher"
        out.append(f"{row['label']} works the other way round on these dates: on its own its AUC is "
                   f"{row['auc']:.3f} ({lo:.3f}-{hi:.3f}), below 0.5, so a high value goes with churn. "
                   f"Consider direction \"{other}\" for it; the fit keeps it as it is, which usually "
                   "gives it weight 0.")
    return out


def roc_curve(score: np.ndarray, churned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve of churn with a low score as the high risk: flagging every observation scoring
    at or below a threshold, from the lowest score up (tied scores enter together), the share of
    retained flagged (x) and of churned flagged (y), from (0, 0) to (1, 1). Its area (trapezoids)
    is ``outcomes.rank_auc``. Observations without a score are left out; empty when a class is."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(churned, dtype=bool)
    ok = np.isfinite(s)
    s, y = s[ok], y[ok]
    n_c = int(y.sum())
    n_r = len(y) - n_c
    if not n_c or not n_r:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(s, kind="stable")
    v, yc = s[order], y[order]
    last = np.append(v[1:] != v[:-1], True)  # the last position of each tie group
    tp = np.cumsum(yc)[last]
    fp = np.cumsum(~yc)[last]
    return np.concatenate(([0.0], fp / n_r)), np.concatenate(([0.0], tp / n_c))


def thin(x: np.ndarray, y: np.ndarray, *, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` evenly spaced points of a curve (the first and last kept), to draw."""
    if len(x) <= points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, points).round().astype(np.intp))
    return x[keep], y[keep]


def preview(raw: np.ndarray, normalised: np.ndarray, *, points: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``points`` (raw value, normalised score) pairs spread evenly over the sorted raw values
    of the accounts with both: the shape of a signal's normalisation over the book."""
    r = np.asarray(raw, dtype=np.float64)
    z = np.asarray(normalised, dtype=np.float64)
    ok = np.isfinite(r) & np.isfinite(z)
    r, z = r[ok], z[ok]
    order = np.lexsort((z, r))
    return thin(r[order], z[order], points=points)


def pooled_scores(bt: Backtest, weights: Mapping[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The backtest's chosen score of every observation (account-date) under ``weights`` (default:
    the profile's) and whether it churned: what ``validate`` pools."""
    w = bt.weights if weights is None else weights
    if not bt.dates:
        return np.zeros(0), np.zeros(0, dtype=bool)
    s = [scores_of(p, w, score=bt.score, bands=bt.profile.bands)[0] for p in bt.dates]
    return np.concatenate(s), np.concatenate([p.churned for p in bt.dates])


# ---------------------------------------------------------------- figures as text

FLOOR_TEXT = {"at_risk_lift": f"floor: at_risk churns at >= {FLOOR_LIFT:g}x the base rate",
              "early_warning": "floor: at least two thirds of churners were below healthy 60-90 days before",
              "healthy_share": f"floor: no more than {FLOOR_HEALTHY:.0%} of the book is healthy",
              "auc": f"floor: ROC AUC >= {FLOOR_AUC:.2f}"}
RESULT = {True: "PASS", False: "FAIL", None: "n/a"}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def auc_text(x: float | None, ci: Sequence[float] | None = None) -> str:
    """An AUC to three decimals, with its interval when given; "n/a" when not judged."""
    if x is None:
        return "n/a"
    return f"{x:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")


def quick_rows(q: Mapping) -> dict[str, str]:
    """``validate.quick_figures`` as the lines of a table: figure -> text ("n/a" when not judged)."""
    lift = q["lift_at_risk"]
    rows = {"ROC AUC (95% CI)": auc_text(q["auc"], q["auc_ci"]), "PR AUC": auc_text(q["pr_auc"]),
            "at_risk lift": "n/a" if lift is None else f"{lift:.2f}x",
            "churners that were at_risk": _pct(q["recall_at_risk"]),
            "recall at capacity (10% list)": _pct(q["recall_at_capacity"]),
            "precision at capacity": _pct(q["precision_at_capacity"]),
            "healthy share": _pct(q["healthy_share"]),
            "early warning (60-90 days)": _pct(q["early_warning_share"]),
            "account-dates / churned": f"{q['n_accounts']:,} / {q['n_churned']:,}"}
    rows.update({FLOOR_TEXT.get(k, k): RESULT[v] for k, v in q["floors"].items()})
    return rows


def quick_table(saved: Mapping, proposed: Mapping) -> pd.DataFrame:
    """Saved and proposed ``quick_figures`` side by side, as text."""
    return pd.DataFrame({"saved": quick_rows(saved), "proposed": quick_rows(proposed)}).rename_axis("figure")


HEADLINE = (("ROC AUC", ("auc",)), ("AUC 95% low", ("auc_ci", 0)), ("AUC 95% high", ("auc_ci", 1)),
            ("PR AUC", ("pr_auc",)), ("base rate", ("base_rate",)),
            ("at_risk lift", ("bands", "at_risk", "lift")), ("churners that were at_risk", ("recall_at_risk",)),
            ("precision at capacity", ("capacity", "precision")), ("recall at capacity", ("capacity", "recall")),
            ("healthy share", ("bands", "healthy", "share")), ("early warning share", ("early_warning", "share")),
            ("expansion rate", ("expansion_rate",)), ("NRR", ("nrr",)), ("account-dates", ("n_accounts",)),
            ("churned", ("n_churned",)))


def headline(report: Mapping) -> dict[str, float]:
    """The headline figures of a ``validate`` report (``cli_validate.build_report``), as numbers;
    NaN where the report has none (not judged)."""
    out = {}
    for label, path in HEADLINE:
        v: object = report
        for step in path:
            v = None if v is None else v[step]
        out[label] = math.nan if v is None else float(v)  # type: ignore[arg-type]
    return out
