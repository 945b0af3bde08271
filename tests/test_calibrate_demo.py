"""Issue 4, "Done when": on the demo, for three seeds, the fit ranks the truly important hidden
drivers first and beats the shipped profile's held-out AUC.

The product knows nothing of the demo's hidden truth; this test does. ``calibrate`` runs as the
command runs it (``calibrate.calibrate_store``: default dates, the last third judged after a purge,
candidates from the catalogue, L2 chosen inside the training dates) on the demo at its default size
(``build_demo``'s 2,000 accounts) for each seed, its judged AUC is compared with the shipped
profile's ("classic") on the very same judged dates, and its weights with the truth.

What "truly important" means is measured, not labelled. In the generator (scoring/demo_usage.py)
one hidden health drives six usage channels (HIDDEN_WEIGHTS: breadth, active users, frequency,
collaboration, depth, integration), but a signal does not read one channel each: every count rises
with the visit rate. Switching one channel off at a time (seed 1, 2,000 accounts) and measuring how
much each signal's rank correlation with hidden health falls showed, for example, that value
actions per active user (filed under depth in the catalogue) loses 0.15 without breadth, 0.11
without frequency and 0.08 without depth, and features used loses more without frequency (0.20)
than without breadth (0.13); ``test_a_signal_reads_more_than_its_catalogue_dimension`` keeps that
measurement honest. So the truth a fit is held to is each signal's own tie to the hidden health
that decides churn: its Spearman correlation with the account's hidden health of the as-of month,
pooled over the training dates, read from the demo's truth file (``tie``).
"""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from scoring import demo
from scoring.calibrate import CALIBRATE_DATES, calibrate_store
from scoring.demo_world import HIDDEN_WEIGHTS
from scoring.fit_signals import candidate_profile
from scoring.history import resolve_profile
from scoring.ingest import import_dir
from scoring.outcomes import backtest_dates
from scoring.profiles import ensure_demo_profile
from scoring.state import StateStore
from scoring.store import DataStore
from scoring.validate import backtest_frame

SEEDS = (1, 2, 3)
ACCOUNTS = inspect.signature(demo.build_demo).parameters["accounts"].default  # the demo's size


def small_demo(folder, seed, accounts=ACCOUNTS):
    """The demo's data exactly as ``build_demo`` writes and imports it (same files, same seed), but
    imported without the weekly score history, which calibrate never reads and which is most of
    ``build_demo``'s time."""
    db = folder / "cs.duckdb"
    inputs, truth = folder / demo.INPUTS_DIR, folder / demo.TRUTH_DIR
    inputs.mkdir()
    truth.mkdir()
    demo._generate(inputs, truth, accounts=accounts, seed=seed, say=lambda what, f: None)
    state = folder / "cs.state.sqlite"
    ensure_demo_profile(StateStore(state))
    import_dir(inputs, db, mark_demo=True, fresh=True, state=state, history=False)
    return db, state


def tie(con, profile, catalogue, dates, truth) -> dict[str, float]:
    """Per signal of ``profile``: the Spearman correlation of its normalised value (direction
    applied) with the account's hidden health of the as-of month, pooled over ``dates``."""
    bt = backtest_frame(con, profile, list(dates), horizon=90, catalogue=catalogue)
    truth = truth.assign(month=pd.to_datetime(truth["month"]))
    health = [truth[truth["month"] == pd.Timestamp(p.as_of.replace(day=1))].set_index("account_id")
              ["hidden_health"].reindex(np.asarray(p.account_ids).astype(str)).to_numpy() for p in bt.dates]
    out = {}
    for j, sig in enumerate(bt.profile.signals):
        x = np.concatenate([p.rescorer.normalised.matrix[:, j] for p in bt.dates])
        h = np.concatenate(health)
        ok = np.isfinite(x) & np.isfinite(h)
        out[sig.name] = float(pd.Series(x[ok]).corr(pd.Series(h[ok]), method="spearman"))
    return out


def calibrate_demo(folder, seed, accounts=ACCOUNTS, resamples=None):
    """Build the demo of ``seed`` in ``folder``, calibrate it as the command does, and measure each
    candidate signal's tie to hidden health over the training dates."""
    db, state = small_demo(folder, seed, accounts)
    store = DataStore(db)
    try:
        with store.cursor() as con:
            profile, cat = resolve_profile(con, StateStore(state), None)
            assert profile.name == "classic"  # the shipped profile is what the fit must beat
            dates = backtest_dates(con, window_days=profile.window_days, horizon=90, count=CALIBRATE_DATES)
            extra = {} if resamples is None else {"resamples": resamples}
            fit = calibrate_store(con, profile, cat, dates, horizon=90, save_as="fitted", **extra)
            wider, _ = candidate_profile(profile, cat, "catalogue")
            return fit, tie(con, wider, cat, fit.split.train, demo.read_truth(db))
    finally:
        store.close()


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def calibration(request, tmp_path_factory):
    return calibrate_demo(tmp_path_factory.mktemp(f"calibrate-demo-{request.param}"), request.param)


def ranks_first(weights: dict[str, float], ties: dict[str, float]) -> list[str]:
    """What is wrong with ``weights`` against the truth ``ties`` (empty: nothing). The rule:

    1. the two heaviest signals are both in the half of the signals most tied to hidden health
       (ties at the second place all count, against the weights);
    2. that half carries more than half of the total weight;
    3. the signal least tied to hidden health weighs less than the second heaviest.
    """
    truth = sorted(ties, key=lambda n: -ties[n])
    top = set(truth[: len(truth) // 2])
    second = sorted(weights.values(), reverse=True)[1]
    heaviest = sorted(n for n in weights if weights[n] >= second)
    wrong = []
    if not set(heaviest) <= top:
        wrong.append(f"heaviest {heaviest} not all among the most tied {sorted(top)}")
    if sum(weights[n] for n in top) <= 0.5 * sum(weights.values()):
        wrong.append(f"the most tied half weighs {sum(weights[n] for n in top)} of {sum(weights.values())}")
    if weights[truth[-1]] >= second:
        wrong.append(f"{truth[-1]}, least tied to hidden health, weighs {weights[truth[-1]]}")
    return wrong


def test_the_truth_is_what_the_test_thinks():
    """The hidden weights are as the generator's docs say; the measured truth itself is checked
    by the rule failing the shipped hand-set weights below."""
    usage = ("frequency", "breadth", "depth", "collaboration", "integration", "active_users")
    assert sorted(usage, key=lambda d: -HIDDEN_WEIGHTS[d])[:3] == ["breadth", "active_users", "frequency"]


def test_fit_ranks_the_important_hidden_drivers_first(calibration):
    """The fitted weights of every seed pass ``ranks_first`` against the measured truth, and the
    shipped classic weights (the guess the fit replaces) do not: the rule can tell them apart."""
    fit, ties = calibration
    w = fit.suggestion.weights
    assert set(w) == set(ties)
    assert ranks_first(w, ties) == [], (w, ties)
    shipped = {n: fit.current.get(n, 0.0) for n in ties}
    assert ranks_first(shipped, ties), shipped


def test_fit_beats_the_shipped_profile_on_the_judged_dates(calibration):
    """The suggested weights' pooled ROC AUC of health on the held-out (judged) dates is above the
    shipped classic weights' on the same dates and observations, and the judged dates come after
    the training dates by at least the horizon (no training outcome is judged)."""
    fit, _ = calibration
    s, auc = fit.split, fit.auc
    assert all(t.toordinal() + 90 <= s.judged[0].toordinal() for t in s.train)
    assert auc["current_judged"] is not None and auc["suggested_judged"] is not None
    assert auc["suggested_judged"] > auc["current_judged"], auc
    assert fit.added
    assert f"{auc['suggested_judged']:.3f} (suggested)" in fit.note


def test_a_signal_reads_more_than_its_catalogue_dimension(tmp_path, monkeypatch):
    """The measurement behind the module's docstring, on a smaller demo: with the generator's
    breadth channel switched off, value actions per active user (the catalogue's depth signal)
    loses more of its tie to hidden health than with the depth channel switched off; and days
    active, a pure visit count, loses nothing without breadth."""
    base = tie_of(tmp_path / "all", {})
    no_breadth = tie_of(tmp_path / "no-breadth", {"breadth": 0.0}, monkeypatch)
    no_depth = tie_of(tmp_path / "no-depth", {"depth": 0.0}, monkeypatch)
    v = "value_actions_per_user"
    assert base[v] - no_breadth[v] > base[v] - no_depth[v] > 0, (base[v], no_breadth[v], no_depth[v])
    assert abs(base["days_active"] - no_breadth["days_active"]) < 0.01


def tie_of(folder, off, monkeypatch=None):
    """``tie`` on a 600-account seed-1 demo generated with the ``off`` hidden channels at 0."""
    if monkeypatch is not None:
        monkeypatch.undo()
        for channel, value in off.items():
            monkeypatch.setitem(HIDDEN_WEIGHTS, channel, value)
    folder.mkdir()
    db, state = small_demo(folder, 1, 600)
    store = DataStore(db)
    try:
        with store.cursor() as con:
            profile, cat = resolve_profile(con, StateStore(state), None)
            wider, _ = candidate_profile(profile, cat, "catalogue")
            dates = backtest_dates(con, window_days=profile.window_days, horizon=90, count=4)
            return tie(con, wider, cat, dates, demo.read_truth(db))
    finally:
        store.close()
