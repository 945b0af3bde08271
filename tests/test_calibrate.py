"""``calibrate``: the constrained fit (KKT), readable weights, the walk-forward purge, flips, the
candidates beyond the profile, the L2 chosen inside the training dates, and the command saving a
new profile version. (On the demo, against its hidden truth: ``test_calibrate_demo.py``.)"""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from scoring.__main__ import main
from scoring.calibrate import (L2, L2_GRID, LeakError, Split, calibrate, calibrated_profile,
                               candidate_profile, choose_l2, design_matrix, fit_nonneg_logistic,
                               loss_and_grad, only_dates, paired_auc_difference, readable_weights,
                               split_dates, suggest_weights)
from scoring.demo import build_demo
from scoring.errors import DataError
from scoring.normalize import normalise
from scoring.outcomes import delong
from scoring.profile import Normalisation, SignalDef, default_profile, demo_profile
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
    assert "L2 chosen walking forward inside the training dates" in out and "candidate" in out
    saved = profiles.load(state, "classic")
    assert sum(s.weight for s in saved.signals) == 100 and all(s.weight >= 0 for s in saved.signals)
    own = [s.name for s in before.signals]
    generic = {"days_active", "features_used", "value_actions_per_user", "users_per_seat",
               "integration_events"}
    names = [s.name for s in saved.signals]
    assert names[:len(own)] == own  # the profile's own signals, in order, whatever their weight
    added = names[len(own):]  # then the candidates the fit weighed, never one at 0
    assert added and set(added) <= generic and all(saved.signal(n).weight > 0 for n in added)
    info = profiles.versions(state, "classic")[-1]
    assert info.author == "calibrate" and "horizon 90 days" in info.note and "AUC" in info.note
    assert "L2 " in info.note and "candidates beyond the profile" in info.note
    assert not info.published and profiles.published(state).version == before.version


def test_calibrate_command_on_the_profile_alone(demo, capsys):
    from scoring import profiles

    state = StateStore(demo.with_name("cs.state.sqlite"))
    assert main(["calibrate", *_args(demo), "--save-as", "own", "--candidates", "profile",
                 "--l2", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "(L2 = 0.01)" in out and "candidate" not in out and "walking forward" not in out
    saved = profiles.load(state, "own")
    assert [s.name for s in saved.signals] == [s.name for s in demo_profile().signals]
    for bad in ("0", "-1", "x", "nan"):
        with pytest.raises(SystemExit) as usage:
            main(["calibrate", *_args(demo), "--save-as", "x", "--l2", bad])
        assert usage.value.code == 2


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


# ---------------------------------------------------------------- candidates and the L2 choice


def test_candidates_are_the_catalogue_signals_the_profile_lacks():
    cat = pd.DataFrame({"event_type": ["login", "api_call"], "dimension": ["frequency", "integration"],
                        "value_action": [False, True]})
    classic = demo_profile()
    same, none = candidate_profile(classic, cat, "profile")
    assert same is classic and none == ()
    wider, added = candidate_profile(classic, cat)
    generic = {s.name: s for s in default_profile(cat).signals}
    # this catalogue's only integration event type is api_call, so the generic integration signal
    # counts exactly what classic's api_calls counts: it is not added a second time
    assert generic["integration_events"].event_types == classic.signal("api_calls").event_types
    assert added == ("days_active", "features_used", "value_actions_per_user", "users_per_seat")
    assert wider.signals[:len(classic.signals)] == classic.signals
    assert all(wider.signal(n).weight == 0 and wider.signal(n) == dataclasses.replace(generic[n], weight=0.0)
               for n in added)
    # nor is one the profile already has by name, or by definition under another name
    twin = dataclasses.replace(generic["features_used"], name="breadth_twin", weight=5.0)
    p = dataclasses.replace(classic, signals=(*classic.signals, generic["days_active"], twin))
    assert candidate_profile(p, cat)[1] == ("value_actions_per_user", "users_per_seat")
    with pytest.raises(ValueError, match="candidates must be one of"):
        candidate_profile(classic, cat, "everything")


def test_candidates_at_weight_0_change_no_score(demo):
    from scoring.history import resolve_profile
    from scoring.store import DataStore
    from scoring.validate import backtest_frame, scores_of

    store = DataStore(demo)
    try:
        with store.cursor() as con:
            profile, cat = resolve_profile(con, StateStore(demo.with_name("cs.state.sqlite")), "classic@1")
            wider, added = candidate_profile(profile, cat)
            when = [dt.date(2026, 5, 1)]
            a = backtest_frame(con, profile, when, horizon=90, catalogue=cat)
            b = backtest_frame(con, wider, when, horizon=90, catalogue=cat)
    finally:
        store.close()
    assert len(added) == 5
    health, band = scores_of(a.dates[0], a.weights, score="health", bands=profile.bands)
    wider_health, wider_band = scores_of(b.dates[0], b.weights, score="health", bands=profile.bands)
    np.testing.assert_array_equal(health, wider_health)
    np.testing.assert_array_equal(band, wider_band)


def test_paired_auc_difference():
    rng = np.random.default_rng(7)
    n = 2000
    y = rng.random(n) < 0.1
    a = rng.normal(size=n) - 0.6 * y
    b = a + rng.normal(size=n)
    d, se = paired_auc_difference(a, b, y)
    assert d == pytest.approx(delong(a, y)[0] - delong(b, y)[0], abs=1e-12) and 0 < se < 0.05
    # against a constant score (AUC 0.5, no variance) the paired SE is DeLong's SE of the AUC alone
    d0, se0 = paired_auc_difference(a, np.zeros(n), y)
    assert d0 == pytest.approx(delong(a, y)[0] - 0.5) and se0 == pytest.approx(np.sqrt(delong(a, y)[1]))
    # every observation seen twice (an account on two dates): unclustered, the SE shrinks by about
    # sqrt(2), as if there were twice the evidence; clustered by account it stays what it was
    twice = [np.tile(v, 2) for v in (a, b, y)]
    assert paired_auc_difference(*twice)[1] == pytest.approx(se / np.sqrt(2), rel=0.02)
    once_each = paired_auc_difference(a, b, y, np.arange(n))[1]
    assert once_each == pytest.approx(se, rel=0.01)
    assert paired_auc_difference(*twice, np.tile(np.arange(n), 2))[1] == pytest.approx(once_each, rel=1e-9)
    assert np.isnan(paired_auc_difference(a[:3], b[:3], np.array([True, False, False]))[1])


def _monthly_book(n_dates=12, seed=3, flip_judged_from=None):
    """Monthly dates; ``a`` and ``b`` keep accounts equally, ``c`` is noise. With
    ``flip_judged_from``: from that date on the outcomes are turned round (churn where it was not)."""
    p = book_profile("a", "b", "c")
    rng = np.random.default_rng(seed)
    preps = []
    for i in range(n_dates):
        when = dt.date(2025, 1 + i, 1)
        a, b, c = rng.random(800), rng.random(800), rng.random(800)
        churned = rng.random(800) < 0.02 + 0.12 * (1 - a) + 0.12 * (1 - b)
        if flip_judged_from and when >= flip_judged_from:
            churned = rng.random(800) < 0.02 + 0.12 * a + 0.12 * b
        preps.append(synthetic_prep(when, {"a": a, "b": b, "c": c}, churned, p))
    return synthetic(preps, p)


def test_l2_is_chosen_inside_the_training_dates_only():
    bt = _monthly_book()
    s = split_dates([p.as_of for p in bt.dates], horizon=90)
    train = only_dates(bt, s.train)
    choice = choose_l2(train)
    assert not choice.reason and choice.l2 in L2_GRID and [l2 for l2, _ in choice.tried] == sorted(L2_GRID)
    assert all(d + D(days=90) <= choice.inner.judged[0] for d in choice.inner.train)
    assert set(choice.inner.train) | set(choice.inner.judged) <= set(s.train)
    # the judged dates of the outer split play no part: turning their outcomes round changes
    # neither the L2 nor the weights, only the judged AUC
    cal = calibrate(bt, save_as="x", split=s)
    flipped = _monthly_book(flip_judged_from=s.judged[0])
    cal2 = calibrate(flipped, save_as="x", split=s)
    assert cal2.l2 == cal.l2 and cal2.suggestion.weights == cal.suggestion.weights
    assert cal2.auc["suggested_judged"] < 0.5 < cal.auc["suggested_judged"]
    assert "L2 " in cal.note


def test_l2_prefers_the_strongest_unless_a_weaker_one_is_clearly_better():
    # a and b alike, c noise: every strength ranks about the same, so the strongest is kept
    bt = _monthly_book()
    train = only_dates(bt, split_dates([p.as_of for p in bt.dates], horizon=90).train)
    choice = choose_l2(train)
    assert choice.l2 == max(L2_GRID) and choice.best in L2_GRID
    # b drives churn, a and c are noisy copies of b with nothing of their own: strong shrinkage
    # pulls the weights toward each signal's own association and gives a and c a share, which
    # ranks worse on the inner judged dates by clearly more than a standard error, so the weakest
    # (the best) is taken and b dominates
    p = book_profile("a", "b", "c")
    rng = np.random.default_rng(11)
    preps = []
    for i in range(12):
        b = rng.random(3000)
        a, c = b + 0.6 * rng.normal(size=3000), b + 0.6 * rng.normal(size=3000)
        churned = rng.random(3000) < 0.01 + 0.3 * (1 - b) ** 2
        preps.append(synthetic_prep(dt.date(2025, 1 + i, 1), {"a": a, "b": b, "c": c}, churned, p))
    sharp = synthetic(preps, p)
    train = only_dates(sharp, split_dates([x.as_of for x in sharp.dates], horizon=90).train)
    c2 = choose_l2(train)
    aucs = dict(c2.tried)
    assert not c2.reason and c2.l2 == c2.best == min(L2_GRID) and aucs[min(L2_GRID)] > aucs[max(L2_GRID)]
    assert suggest_weights(train, l2=c2.l2).weights["b"] > 75 > suggest_weights(train, l2=1.0).weights["b"]


def test_l2_falls_back_without_an_inner_split():
    bt = _backwards_book()  # three dates 100 days apart
    choice = choose_l2(only_dates(bt, [bt.dates[0].as_of]))  # one training date: no inner split
    assert choice.l2 == L2 and "too few training dates" in choice.reason and choice.tried == ()
    cal = calibrate(bt, save_as="x", split=Split(train=(bt.dates[0].as_of,), purged=(),
                                                 judged=(bt.dates[2].as_of,)))
    assert cal.l2.l2 == L2 and cal.l2.reason
