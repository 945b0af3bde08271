"""Backtest: does the score, made point in time on past dates, predict what happened next?

Why it is shaped like this:

- **Prepared once, re-weighted cheaply.** ``backtest_frame`` does the slow part once per as-of
  date: the inputs frame (``signals.compute_inputs``, only data from before T), the normalised
  matrix and a ``scores.Rescorer`` (the same three steps ``engine.score_as_of`` chains, so the
  scores are the ones ``score --as-of T`` writes; a test holds them equal), plus the outcome
  arrays of ``scoring.outcomes``. ``figures(prepared, weights)`` then re-scores every date with
  ``scores.rescore_book`` (one matrix-vector product each) and measures. ``validate`` reports
  ``figures`` for the profile's weights; the app's Tune weights page calls ``quick_figures`` for
  any weights and gets the very same numbers.
- **Preparing and re-scoring here, measuring apart.** What the figures count and how (the
  outcomes gathered once per backtest, account-dates as observations, the minimums below which a
  figure is None, the formulas) is ``scoring.backtest_figures``, which ``docs/VALIDATION.md``
  ("The figures") defines; this module hands it each date's scores and band codes.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .backtest_figures import Observations, Outcomes, figures_of
from .normalize import normalise
from .outcomes import outcomes
from .profile import Bands, Profile
from .scope import Scope
from .scores import BANDS, Rescorer, band_codes, prepare_rescore, rescore_book

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
    ``capacity`` the list size per date (None: ``backtest_figures.CAPACITY_SHARE`` of the date's
    accounts). ``known``: the pooled ``Outcomes`` of ``dates``, gathered on creation;
    ``dataclasses.replace`` with other settings keeps them, with other dates gathers them anew."""

    profile: Profile
    horizon: int
    score: str
    capacity: int | None
    dates: tuple[DatePrep, ...]
    known: "Outcomes | None" = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.known is None or self.known.dates is not self.dates:
            object.__setattr__(self, "known", Outcomes.of(self.dates))

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
    from concurrent.futures import ThreadPoolExecutor

    from .signals import compute_inputs

    if score not in ("health", "engagement"):
        raise ValueError(f"score must be health or engagement, got {score!r}")
    out = outcomes(con, list(dates), horizon=horizon)
    # Each date's outcome rows by one grouping, not a comparison of the whole column per date.
    rows = {pd.Timestamp(when): out.iloc[i] for when, i in out.groupby("as_of", sort=False).indices.items()}
    empty = out.iloc[:0]
    # Each date's pandas/numpy preparation runs on a worker thread while DuckDB computes the next
    # date's inputs on ``con`` (only this thread uses it; DuckDB releases the GIL while it works),
    # so one core no longer idles through the Python part of every date. Same steps, same order.
    preps: list[DatePrep] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = []
        for when in sorted(dates):
            inputs = compute_inputs(con, profile, as_of=when, scope=Scope.everyone(), catalogue=catalogue)
            pending.append(pool.submit(prepare_date, when, inputs, profile, rows.get(pd.Timestamp(when), empty)))
        preps = [f.result() for f in pending]
    return Backtest(profile, horizon, score, capacity, tuple(preps))


def scores_of(prep: DatePrep, weights: Weights, *, score: str,
              bands: Bands) -> tuple[np.ndarray, np.ndarray]:
    """The chosen score and band code of each account of one date under ``weights``: health (or
    engagement) as ``scores.whatif`` computes it; band ``new`` by the profile's rule or a missing
    score, else by the profile's thresholds on that score (for health: ``score_book``'s band)."""
    engagement, health = rescore_book(prep.rescorer, weights)
    s = health if score == "health" else engagement
    return s, band_codes(s, bands, new=prep.rescorer.new)


def figures(bt: Backtest, weights: Weights | None = None, *, per_date: bool = True,
            detail: bool = True) -> dict:
    """Pooled figures (and, with ``per_date``, the same for each date) for ``weights`` (default:
    the profile's). Keys: ``docs/VALIDATION.md``; None with a reason where not judged. Without
    ``detail`` the deciles and each band's money figures (ARR share, expansion, contraction, NRR)
    are left out; every other figure is the same."""
    w = bt.weights if weights is None else weights
    scored = [scores_of(p, w, score=bt.score, bands=bt.profile.bands) for p in bt.dates]
    score = np.concatenate([s for s, _ in scored]) if scored else np.zeros(0)
    codes = np.concatenate([c for _, c in scored]) if scored else np.zeros(0, np.uint8)
    out = {"pooled": figures_of(Observations(score, codes, bt.known), bt.capacity, detail=detail)}
    if per_date:
        out["per_date"] = [{"as_of": p.as_of,
                            **figures_of(Observations(s, c, Outcomes.of((p,))), bt.capacity, detail=detail)}
                           for p, (s, c) in zip(bt.dates, scored)]
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
