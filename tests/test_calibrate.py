"""``calibrate``: the constrained fit (KKT), readable weights, the walk-forward purge, flips, and
the command saving a new profile version."""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from scoring.__main__ import main
from scoring.calibrate import (LeakError, calibrate, calibrated_profile, design_matrix,
                               fit_nonneg_logistic, loss_and_grad, readable_weights, split_dates,
                               suggest_weights)
from scoring.demo import build_demo
from scoring.errors import DataError
from scoring.normalize import normalise
from scoring.profile import Normalisation, SignalDef
from scoring.state import StateStore
from test_validate import book_profile, synthetic, synthetic_prep

T = dt.date(2025, 1, 1)
D = dt.timedelta


def _kkt(fit, tol=1e-6):
    g = fit.gradient
    assert abs(g[0]) < tol  # the intercept is free
    for b, gj in zip(fit.coef, g[1:]):
        assert b >= 0
        assert (abs(gj) < tol) if b > 1e-8 else (gj > -tol)


def test_fit_meets_kkt_and_is_not_a_clipped_unconstrained_fit():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.random((n, 3))
    x[:, 2] = 0.6 * x[:, 0] + 0.4 * rng.random(n)  # correlated with the good signal
    z = -0.5 + 3.0 * x[:, 0] + 1.0 * x[:, 1] - 2.5 * x[:, 2]  # the third works against retention
    retained = rng.random(n) < 1 / (1 + np.exp(-z))
    fit = fit_nonneg_logistic(x, retained, l2=0.01)
    assert fit.converged
    _kkt(fit)
    assert fit.coef[2] == 0.0 and fit.coef[0] > 0 and fit.coef[1] > 0
    free = minimize(loss_and_grad, np.zeros(4), args=(x, retained.astype(float), 0.01), jac=True,
                    method="L-BFGS-B").x
    assert free[3] < 0  # unconstrained, it goes negative...
    clipped = np.concatenate(([free[0]], np.clip(free[1:], 0, None)))
    assert loss_and_grad(np.concatenate(([fit.intercept], fit.coef)), x, retained.astype(float), 0.01)[0] \
        < loss_and_grad(clipped, x, retained.astype(float), 0.01)[0] - 1e-4  # ...and clipping is worse
    _, g = loss_and_grad(clipped, x, retained.astype(float), 0.01)
    assert abs(g[1]) > 1e-4  # clipping breaks the optimality of the others


def test_gradient_is_the_loss_derivative():
    rng = np.random.default_rng(1)
    x, r = rng.random((50, 2)), (rng.random(50) < 0.7).astype(float)
    p = np.array([0.3, 1.2, 0.4])
    num = [(loss_and_grad(p + e, x, r, 0.1)[0] - loss_and_grad(p - e, x, r, 0.1)[0]) / 2e-6
           for e in np.eye(3) * 1e-6]
    np.testing.assert_allclose(loss_and_grad(p, x, r, 0.1)[1], num, rtol=1e-6, atol=1e-8)


def test_readable_weights():
    w = readable_weights(np.array([0.333, 0.333, 0.334, 0.0]), ["a", "b", "c", "d"])
    assert sum(w.values()) == 100 and all(v == int(v) and v >= 0 for v in w.values()) and w["d"] == 0
    assert readable_weights(np.array([2.0, 1.0, 1.0]), ["a", "b", "c"]) == {"a": 50.0, "b": 25.0, "c": 25.0}
    with pytest.raises(DataError, match="no signal predicts"):
        readable_weights(np.zeros(2), ["a", "b"])


def test_design_matrix_fills_missing_and_flips():
    m = np.array([[0.2, np.nan], [0.9, 0.1]])
    np.testing.assert_allclose(design_matrix(m, np.array([False, True])), [[0.2, 0.5], [0.9, 0.9]])


MONTHS = [dt.date(2025, m, 1) for m in range(1, 13)]


def test_walk_forward_purge():
    s = split_dates(MONTHS, horizon=90)
    assert s.judged == tuple(MONTHS[8:])  # the last third
    assert all(d + D(days=90) <= s.judged[0] for d in s.train)
    assert s.purged and set(s.train) | set(s.purged) == set(MONTHS[:8])
    ok = split_dates(MONTHS[:6] + MONTHS[9:], horizon=90, judge_from=dt.date(2025, 10, 1))
    assert ok.train == tuple(MONTHS[:6]) and ok.judged == tuple(MONTHS[9:]) and not ok.purged


def test_leaky_split_is_refused():
    with pytest.raises(LeakError, match="leaky split refused: training date 2025-08-01 \\+ 90 days"):
        split_dates(MONTHS[6:], horizon=90, judge_from=dt.date(2025, 10, 1))
    with pytest.raises(DataError, match="dates to train on"):
        split_dates(MONTHS[:2], horizon=90)


def _backwards_book():
    """Three dates; ``good`` keeps accounts, ``bad`` (higher = better by its profile) drives churn."""
    p = book_profile("good", "bad", "noise")
    rng = np.random.default_rng(4)
    preps = []
    for i in range(3):
        good, bad, noise = rng.random(600), rng.random(600), rng.random(600)
        churned = rng.random(600) < 0.02 + 0.25 * (1 - good) * bad
        raw = {"good": good, "bad": bad, "noise": noise}
        preps.append(synthetic_prep(T + D(days=100 * i), raw, churned, p))
    return synthetic(preps, p)


def test_flip_proposed_for_a_signal_that_works_backwards():
    bt = _backwards_book()
    kept = suggest_weights(bt)
    assert kept.proposed_flips == ("bad",) and kept.flipped == ()
    assert kept.weights["bad"] == 0 and kept.weights["good"] > 50 and sum(kept.weights.values()) == 100
    _kkt(kept.fit)
    flipped = suggest_weights(bt, flip=True)
    assert flipped.flipped == ("bad",) and flipped.weights["bad"] > 10
    saved = calibrated_profile(bt.profile, flipped.weights, name="cal", flip=flipped.flipped)
    assert saved.signal("bad").direction == "lower" and saved.signal("good").direction == "higher"
    inputs = pd.DataFrame({"segment": "S", "good": 1.0, "bad": [1.0, 5.0, 3.0, 2.0], "noise": 1.0})
    before = normalise(inputs, bt.profile).matrix[:, 1]
    after = normalise(inputs, saved).matrix[:, 1]
    np.testing.assert_allclose(after, 1 - before)


def test_flipping_a_grid_signal_mirrors_its_points():
    grid = Normalisation("grid", "book", ((5.0, 0.0), (10.0, 80.0)))
    p = dataclasses.replace(book_profile("a"), signals=(
        SignalDef("a", "a", "depth", "sum", 1.0, normalisation=grid),))
    flipped = calibrated_profile(p, {"a": 100.0}, name="g", flip=("a",))
    assert flipped.signal("a").normalisation.grid == ((5.0, 100.0), (10.0, 20.0))


def test_calibrate_compares_aucs_on_judged_dates():
    bt = _backwards_book()
    from scoring.calibrate import Split

    split = Split(train=(bt.dates[0].as_of, bt.dates[1].as_of), purged=(), judged=(bt.dates[2].as_of,))
    cal = calibrate(bt, save_as="cal", split=split, flip=True)
    assert cal.auc["suggested_judged"] > cal.auc["current_judged"]
    assert "horizon 90 days" in cal.note and "flipped bad" in cal.note
    assert cal.profile.name == "cal" and cal.profile.version is None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("calibrate") / "cs.duckdb"
    build_demo(db, accounts=500, seed=5)
    return db


def _args(db):
    return ["--db", str(db), "--state", str(db.with_name("cs.state.sqlite"))]


def test_calibrate_command_saves_a_new_version(demo, capsys):
    from scoring import profiles

    state = StateStore(demo.with_name("cs.state.sqlite"))
    before = profiles.load(state, "classic")
    assert main(["calibrate", *_args(demo), "--save-as", "classic"]) == 0
    out = capsys.readouterr().out
    assert "current" in out and "suggested" in out and "judged" in out and "purged" in out
    assert f"saved classic version {before.version + 1}" in out
    saved = profiles.load(state, "classic")
    assert sum(s.weight for s in saved.signals) == 100 and all(s.weight >= 0 for s in saved.signals)
    assert [s.name for s in saved.signals] == [s.name for s in before.signals]
    info = profiles.versions(state, "classic")[-1]
    assert info.author == "calibrate" and "horizon 90 days" in info.note and "AUC" in info.note
    assert not info.published and profiles.published(state).version == before.version


def test_calibrate_refuses_a_leaky_split(demo, capsys):
    args = [*_args(demo), "--as-of", "2026-03-01", "2026-05-01", "2026-06-01", "--judge-from", "2026-05-01",
            "--save-as", "leaky"]
    assert main(["calibrate", *args]) == 1
    err = capsys.readouterr().err
    assert "leaky split refused" in err and len(err.strip().splitlines()) == 1
    assert main(["calibrate", *_args(demo), "--judge-from", "soon", "--save-as", "x"]) == 1
    with pytest.raises(SystemExit) as usage:
        main(["calibrate", *_args(demo)])  # --save-as is required
    assert usage.value.code == 2


def test_too_few_churners_to_fit():
    p = book_profile("x")
    churned = np.zeros(200, bool)
    churned[:19] = True
    bt = synthetic([synthetic_prep(T, {"x": np.arange(200)}, churned, p)], p)
    with pytest.raises(DataError, match="not enough outcomes to judge: 19 churned on the training dates"):
        suggest_weights(bt)


def test_calibrate_checks_the_name_first(demo, capsys):
    assert main(["calibrate", *_args(demo), "--save-as", "no good"]) == 1
    assert "--save-as 'no good'" in capsys.readouterr().err
