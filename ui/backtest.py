"""Cached preparation for the Tune weights and Validation pages, the link sync, and their charts.

Why it is shaped like this:

- **Prepared once, re-weighted per move.** A what-if costs one matrix-vector product on a matrix
  prepared once (``scores.prepare_rescore``), and the backtest one per past date. The preparations
  live in ``st.cache_resource`` (every rerun and session gets the same read-only arrays, never a
  copy), keyed by the data version and ``tuning.inputs_key`` / ``tuning.settings_key``: a slider
  move hits the cache; a new direction, normalisation or health weighting prepares once per
  setting; band thresholds need no preparation (a ``Rescorer`` takes them as they come).
- **The backtest is ``validate.backtest_frame`` in two cached halves.** The inputs frame of each
  past date (the SQL, the slow part) is cached per date and signal definitions; the outcomes per
  dates and horizon; ``validate.prepare_date`` then normalises per setting. So a direction change
  re-normalises six dates without reading an event again, and the figures are those of
  ``python -m scoring validate`` (the tests hold them equal). The dates are the command's own
  default dates (``outcomes.backtest_dates``).
- **Charts only draw.** Every number comes from ``scoring`` (``tuning``, ``validate``,
  ``calibrate``, ``risk``); labels from data go through ``charts.safe_label``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from scoring import cli_validate, comparison, profiles, tuning, weight_fit
from scoring.current import Book, catalogue_digest
from scoring.errors import DataError
from scoring.normalize import normalise
from scoring.outcomes import backtest_dates, has_mrr, outcomes
from scoring.profile import Profile
from scoring.risk import ChurnRisk, fit_churn_risk
from scoring.scope import Scope
from scoring.scores import BANDS, HIST_BINS, Rescorer, prepare_rescore
from scoring.state import StateStore
from scoring.store import DataStore, Version
from scoring.validate import Backtest, prepare_date, quick_figures
from ui.charts import BAND_COLORS, safe_label
from ui.frame import Page
from ui.hot import Index

VALIDATE_DATES = 6  # as ``validate``: up to 6 monthly dates
NO_MRR = ("Backtests need mrr_history (MRR per account over time) to know who churned: import "
          "mrr_history.csv or .parquet with the other tables.")


def choices(state: StateStore) -> tuning.Choices:
    """Every saved version (newest first per name) and the built-in default, for a picker."""
    rows = [(v.name, v.version, v.published, v.note)
            for s in profiles.list_profiles(state) for v in profiles.versions(state, s.name)]
    return tuning.profile_choices(rows)


# ---------------------------------------------------------------- the what-if on the book


@st.cache_resource(show_spinner="Preparing the what-if…", max_entries=8)
def _rescorer(version: Version, inputs_key: str, as_of: dt.date, settings: str, _book: Book,
              _profile: Profile) -> Rescorer:
    same = tuning.settings_key(_book.profile) == settings  # the book's own matrix will do
    normalised = _book.normalised if same else normalise(_book.inputs, _profile)
    return prepare_rescore(_book.inputs, normalised, _profile)


_RESCORERS = Index(4)  # ui.hot: a slider move finds these without Streamlit's argument hashing


def rescorer(page: Page, book: Book, profile: Profile) -> Rescorer:
    """The book prepared for re-weighting under ``profile``'s directions, normalisation and health
    weights (cached per setting), with ``profile``'s band thresholds."""
    key = (tuning.inputs_key(profile, book.catalogue), book.as_of, tuning.settings_key(profile))
    r = _RESCORERS.get(page.version, key, lambda: _rescorer(page.version, *key, book, profile))
    return r if r.bands == profile.bands else dataclasses.replace(r, bands=profile.bands)


@st.cache_resource(show_spinner=False, max_entries=16)
def _visible(version: Version, inputs_key: str, as_of: dt.date, scope: Scope, _book: Book) -> np.ndarray | None:
    if scope.owners is None:
        return None
    mask = _book.inputs["csm_owner"].isin(scope.owners).to_numpy(dtype=bool)
    mask.flags.writeable = False
    return mask


_SAVED = Index(4)


def saved_side(page: Page, book: Book, profile: Profile) -> tuple:
    """``comparison.side`` of the book under ``profile`` as saved (its own weights and thresholds),
    kept per data version, inputs, date, settings, weights and bands: every slider move compares
    against the same saved side, so it is computed once."""
    key = (tuning.inputs_key(profile, book.catalogue), book.as_of, tuning.settings_key(profile),
           tuple(tuning.slider_weights(profile).items()), profile.bands)
    return _SAVED.get(page.version, key,
                      lambda: comparison.side(rescorer(page, book, profile), tuning.slider_weights(profile)))


_VISIBLE = Index(16)


def visible(page: Page, book: Book) -> np.ndarray | None:
    """The rows of the book the viewer may see as accounts (None: all). Peers, and so every
    score, are the whole book's; only account rows shown are limited (cached per scope)."""
    key = (tuning.inputs_key(book.profile, book.catalogue), book.as_of, page.scope)
    return _VISIBLE.get(page.version, key, lambda: _visible(page.version, *key, book))


# ---------------------------------------------------------------- the backtest


@st.cache_data(show_spinner=False, max_entries=64)
def _dates(_ds: DataStore, version: Version, window_days: int, horizon: int,
           _profile: Profile) -> tuple[tuple[dt.date, ...] | None, str | None]:
    with _ds.cursor() as con:
        if not has_mrr(con):
            return None, NO_MRR
        try:  # the validate command's own choice of dates
            return tuple(backtest_dates(con, window_days=window_days, horizon=horizon,
                                        count=VALIDATE_DATES)), None
        except DataError as exc:
            return None, str(exc)


@st.cache_resource(show_spinner=False, max_entries=8)
def _outcomes(_ds: DataStore, version: Version, dates: tuple[dt.date, ...], horizon: int) -> pd.DataFrame:
    with _ds.cursor() as con:
        return outcomes(con, list(dates), horizon=horizon)


@st.cache_resource(show_spinner=False, max_entries=24)
def _inputs(_ds: DataStore, version: Version, inputs_key: str, as_of: dt.date, _profile: Profile,
            _cat: pd.DataFrame) -> pd.DataFrame:
    from scoring.signals import compute_inputs

    with _ds.cursor() as con:
        return compute_inputs(con, _profile, as_of=as_of, scope=Scope.everyone(), catalogue=_cat)


@st.cache_resource(show_spinner="Preparing the backtest: scoring past dates…", max_entries=8)
def _backtest(_ds: DataStore, version: Version, inputs_key: str, settings: str,
              dates: tuple[dt.date, ...], horizon: int, _profile: Profile, _cat: pd.DataFrame) -> Backtest:
    out = _outcomes(_ds, version, dates, horizon)
    preps = tuple(prepare_date(d, _inputs(_ds, version, inputs_key, d, _profile, _cat), _profile,
                               out[out["as_of"] == d]) for d in dates)
    return Backtest(_profile, horizon, "health", None, preps)


def backtest(page: Page, profile: Profile, catalogue: pd.DataFrame, *, horizon: int = 90,
             score: str = "health") -> Backtest | str:
    """``profile`` backtested on ``validate``'s default dates, or why it cannot be (no MRR history,
    no date with a full window and horizon)."""
    dates, why = _DATES.get(page.version, (profile.window_days, horizon),
                            lambda: _dates(page.ds, page.version, profile.window_days, horizon, profile))
    if dates is None:
        return why or NO_MRR
    key = (tuning.inputs_key(profile, catalogue), tuning.settings_key(profile), dates, horizon)
    bt = _BACKTESTS.get(page.version, key,
                        lambda: _backtest(page.ds, page.version, *key, profile, catalogue))
    return dataclasses.replace(bt, profile=profile, score=score)  # the same arrays, this profile


_DATES, _BACKTESTS = Index(16), Index(4)


def document_key(profile: Profile, catalogue: pd.DataFrame) -> str:
    """The profile document as it is written (weights and bands included), its reference, and the
    event-type catalogue its inputs were counted with (a reclassification changes the figures)."""
    return hashlib.sha256((profile.ref + "\n" + profiles.to_toml(profile) + "\n"
                           + catalogue_digest(catalogue)).encode()).hexdigest()


def figures_key(bt: Backtest, catalogue: pd.DataFrame) -> tuple:
    """Everything ``validate.quick_figures`` of ``bt`` depends on, as a tuple hashed in
    microseconds (the profile's TOML text takes a millisecond): the catalogue, each signal's
    definition and weight, health weights, thresholds, the ``new`` rule, window, caps, dates,
    horizon, score and capacity. The profile's name and description are left out: equal
    settings, equal figures."""
    p = bt.profile
    return (catalogue_digest(catalogue), p.signals, tuple(sorted(p.health_weights.items())), p.bands,
            p.new_rule, p.window_days, p.passive_daily_cap, p.max_signal_share,
            tuple(d.as_of for d in bt.dates), bt.horizon, bt.score, bt.capacity)


_FIGURES = Index(64)


def figures(page: Page, bt: Backtest, catalogue: pd.DataFrame) -> dict:
    """``validate.quick_figures`` of the backtest's own profile: its weights and thresholds
    (kept per ``figures_key``, so going back to an earlier proposal costs nothing). Read-only:
    every caller gets the same dictionary."""
    return _FIGURES.get(page.version, figures_key(bt, catalogue), lambda: quick_figures(bt, bt.weights))


_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="figures")


def figures_soon(page: Page, bt: Backtest, catalogue: pd.DataFrame) -> Callable[[], dict]:
    """``figures(page, bt, catalogue)`` started on a worker thread; call the result to wait for it.
    A slider move draws the sliders and the book's part of Tune weights meanwhile; the figures'
    sorts and products run in NumPy without the interpreter lock, but their Python parts share it
    with the drawing, so the gain measured is a few ms (bench/README.md). The worker runs with this
    rerun's script context (the same cache, the same session)."""
    ctx = get_script_run_ctx()

    def work() -> dict:
        add_script_run_ctx(threading.current_thread(), ctx)
        return figures(page, bt, catalogue)

    return _WORKERS.submit(work).result


@st.cache_resource(show_spinner=False, max_entries=16)
def _risk(_ds: DataStore, version: Version, ref: str, horizon: int, _profile: Profile) -> ChurnRisk | None:
    with _ds.cursor() as con:
        return fit_churn_risk(con, _profile, horizon)


@st.cache_data(show_spinner="Computing the figures…", max_entries=16)
def _report(version: Version, doc: str, dates: tuple, horizon: int, score: str, _bt: Backtest,
            _risk_fit: ChurnRisk | None) -> dict:
    return cli_validate.json_ready(cli_validate.build_report(_bt, risk=_risk_fit))  # type: ignore[return-value]


def report(page: Page, bt: Backtest, catalogue: pd.DataFrame) -> dict:
    """Everything ``validate --json`` prints for this backtest (cached per profile document,
    catalogue, dates, horizon and score)."""
    fit = _risk(page.ds, page.version, bt.profile.ref, bt.horizon, bt.profile) if bt.score == "health" else None
    return _report(page.version, document_key(bt.profile, catalogue), tuple(p.as_of for p in bt.dates),
                   bt.horizon, bt.score, bt, fit)


@st.cache_data(show_spinner="Fitting weights to the outcomes…", max_entries=16)
def _suggest(version: Version, inputs_key: str, settings: str, dates: tuple, horizon: int,
             _bt: Backtest) -> weight_fit.Suggestion | str:
    try:
        return weight_fit.suggest_weights(_bt)
    except DataError as exc:
        return str(exc)


def suggestion(page: Page, bt: Backtest, catalogue: pd.DataFrame) -> weight_fit.Suggestion | str:
    """``weight_fit.suggest_weights`` on the backtest's dates, or why there is none."""
    return _suggest(page.version, tuning.inputs_key(bt.profile, catalogue), tuning.settings_key(bt.profile),
                    tuple(p.as_of for p in bt.dates), bt.horizon, bt)


# ---------------------------------------------------------------- the link


def sync_url(params: Mapping[str, str]) -> None:
    """Make the URL's query parameters say ``params``; drop this page's parameters it lacks."""
    qp = st.query_params
    for key in tuning.stale_params(qp.to_dict(), params):
        del qp[key]
    for key, value in params.items():
        if qp.get(key) != value:
            qp[key] = value


def link(ref: str, as_of: dt.date) -> str:
    """A relative link that opens the Tune weights page on ``ref`` as of ``as_of`` (relative, so
    it works under a base path; Streamlit serves ``pages/4_Tune_weights.py`` as ``Tune_weights``)."""
    return "Tune_weights?" + urlencode({tuning.BASE: ref, tuning.AS_OF: as_of.isoformat()})


def set_weights(weights: Mapping[str, float]) -> None:
    """Callback: move ``weights`` onto the weight sliders."""
    for name, w in weights.items():
        st.session_state[tuning.WEIGHT + name] = float(w)


# ---------------------------------------------------------------- charts


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 340) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin={"t": 50, "b": 40, "l": 40, "r": 10})
    return fig


def histogram_chart(saved: np.ndarray, proposed: np.ndarray) -> go.Figure:
    """Saved and proposed health histograms (``scores.whatif``'s 5-point bins), overlaid.

    Drawn on every slider move, so the figure is written as plotly's own dictionary and taken
    without plotly's per-property checks (``_validate=False``: a third of the cost of building it
    property by property); every value is a number or one of the literals here."""
    width = 100 / HIST_BINS
    x = (np.arange(HIST_BINS) * width + width / 2).tolist()
    bar = {"type": "bar", "x": x, "width": width, "opacity": 0.55}
    return go.Figure({
        "data": [{**bar, "y": np.asarray(saved).tolist(), "name": "saved", "marker": {"color": "#8c8c8c"}},
                 {**bar, "y": np.asarray(proposed).tolist(), "name": "proposed", "marker": {"color": "#1f77b4"}}],
        "layout": {"barmode": "overlay", "xaxis": {"range": [0, 100], "title": {"text": "health score"}},
                   "yaxis": {"title": {"text": "accounts"}}, "title": {"text": "Health score distribution"},
                   "height": 340, "margin": {"t": 50, "b": 40, "l": 40, "r": 10}}}, _validate=False)


def preview_chart(x: np.ndarray, y: np.ndarray, label: str) -> go.Figure:
    """Raw value against normalised score (``comparison.preview``'s points)."""
    fig = go.Figure(go.Scatter(x=x, y=y, mode="markers", marker={"size": 4},
                               hovertemplate="raw %{x:.3g}: %{y:.2f}<extra></extra>"))
    fig.update_yaxes(range=[-0.02, 1.02])
    return _layout(fig, safe_label(label), "raw value", "normalised (1 = best)", height=260)


def roc_chart(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> go.Figure:
    """ROC curves (``comparison.roc_curve``), one per label, with the diagonal of a coin."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="a coin", line={"dash": "dot", "color": "#aaa"})
    for label, (fx, fy) in curves.items():
        x, y = comparison.thin(fx, fy)
        fig.add_scatter(x=x, y=y, mode="lines", name=safe_label(label))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, "ROC curve: flagging the lowest scores first", "share of retained flagged",
                   "share of churned flagged", height=380)


def _rate_bars(fig: go.Figure, x: list, rows: list[dict], key: str, ci: str, name: str) -> None:
    y = [r[key] for r in rows]
    lo = [None if r[ci] is None else r[key] - r[ci][0] for r in rows]
    hi = [None if r[ci] is None else r[ci][1] - r[key] for r in rows]
    fig.add_bar(x=x, y=y, name=name, error_y={"type": "data", "symmetric": False, "array": hi,
                                              "arrayminus": lo})


def decile_chart(deciles: list[dict]) -> go.Figure:
    """Churn rate per score decile with Wilson intervals (``validate``'s ``deciles``)."""
    fig = go.Figure()
    _rate_bars(fig, [d["decile"] for d in deciles], deciles, "churn_rate", "churn_rate_ci", "churn rate")
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, "Churn rate by score decile (1 = lowest scores)", "decile", "churn rate")


def calibration_chart(curve: list[dict]) -> go.Figure:
    """Observed churn against mean predicted churn risk (``risk.calibration_curve``)."""
    top = max([c["observed_ci"][1] if c["observed_ci"] else c["observed"] for c in curve]
              + [c["mean_predicted"] for c in curve] + [0.01])
    fig = go.Figure()
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="calibrated", line={"dash": "dot", "color": "#aaa"})
    fig.add_scatter(x=[c["mean_predicted"] for c in curve], y=[c["observed"] for c in curve], mode="markers+lines",
                    name="observed", error_y={"type": "data", "symmetric": False,
                                              "array": [c["observed_ci"][1] - c["observed"] for c in curve],
                                              "arrayminus": [c["observed"] - c["observed_ci"][0] for c in curve]})
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, "Calibration of churn risk", "mean predicted churn risk", "observed churn rate")


def band_outcomes_chart(bands: Mapping[str, dict]) -> go.Figure:
    """NRR and expansion rate per band (``validate``'s ``bands``)."""
    names = [b for b in BANDS if b in bands]
    fig = go.Figure()
    fig.add_bar(x=names, y=[bands[b]["nrr"] for b in names], name="NRR",
                marker_color=[BAND_COLORS[b] for b in names])
    fig.add_bar(x=names, y=[bands[b]["expansion_rate"] for b in names], name="expansion rate",
                marker_color="#1f77b4")
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(barmode="group")
    return _layout(fig, "Net revenue retention and expansion rate by band", "band", "")
