"""``calibrate``: the constrained fit (KKT), readable weights, the walk-forward purge, flips, the
candidates beyond the profile, the L2 chosen inside the training dates, the report (hand-set versus
fitted versus blends, bootstrap stability over accounts, passive signals) and the command saving a
new profile version. (On the demo, against its hidden truth: ``test_calibrate_demo.py``.)"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from scoring.__main__ import main
from scoring.calibrate import BLEND_GRID, L2_GRID, blend, calibrate, choose_l2
from scoring.fit_signals import candidate_profile, gameable, is_passive, passive_signals
from scoring.logistic import L2, account_counts, fit_nonneg_logistic, loss_and_grad, readable_weights, refit_many
from scoring.demo import build_demo
from scoring.errors import DataError
from scoring.normalize import normalise
from scoring.outcomes import delong, paired_auc_difference
from scoring.profile import Normalisation, SignalDef, default_profile, demo_profile
from scoring.state import StateStore
from scoring.weight_fit import bootstrap, calibrated_profile, design_matrix, suggest_weights, training_data
from scoring.walk_forward import LeakError, Split, only_dates, split_dates
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
    # the report: hand-set versus fitted versus blends, stability, passive signals
    assert "Hand-set (blend 0) versus fitted (1) versus blends on the judged dates" in out
    assert "0 hand-set" in out and "1 fitted (saved)" in out and "0.25" in out and "0.75" in out
    assert "Weight stability: 200 bootstrap resamples of the training accounts" in out
    assert "90% interval" in out and "Gameable: passive signals" in out and "logins" in out
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
    assert "saved blend 1 (fitted)" in info.note
    assert not info.published and profiles.published(state).version == before.version


def test_calibrate_command_on_the_profile_alone(demo, capsys):
    from scoring import profiles

    state = StateStore(demo.with_name("cs.state.sqlite"))
    assert main(["calibrate", *_args(demo), "--save-as", "own", "--candidates", "profile",
                 "--l2", "0.01", "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "(L2 = 0.01)" in out and "candidate" not in out and "walking forward" not in out
    assert "Weight stability: bootstrap off (--bootstrap 0)" in out and "UNSTABLE" not in out
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


# ---------------------------------------------------------------- the report: blends, stability, passive


def _uneven(bt):
    """``bt`` with hand-set weights 1, 2, 7 (not shares of 100), the rest as it is."""
    signals = tuple(dataclasses.replace(x, weight=w) for x, w in zip(bt.profile.signals, (1.0, 2.0, 7.0)))
    return dataclasses.replace(bt, profile=dataclasses.replace(bt.profile, signals=signals))


def test_blend_0_is_the_hand_set_and_1_the_fitted():
    bt = _uneven(_monthly_book())
    cal = calibrate(bt, save_as="x", resamples=0)
    rows = {r["blend"]: r for r in cal.blends}
    assert tuple(rows) == BLEND_GRID
    assert rows[0.0]["auc"] == cal.auc["current_judged"]  # exactly: the same shares, the same ranks
    assert rows[1.0]["auc"] == cal.auc["suggested_judged"]
    for r in cal.blends:
        assert r["auc_ci"][0] < r["auc"] < r["auc_ci"][1] and r["lift_at_risk"] > 0
        assert r["recall_at_capacity"] is not None and r["passive_share"] is None  # no catalogue
        assert sum(r["weights"].values()) == pytest.approx(100)
    hand, fitted = bt.weights, cal.suggestion.weights
    half = blend(hand, fitted, 0.5)
    for n in hand:
        assert half[n] == pytest.approx(50 * hand[n] / 10 + 50 * fitted[n] / 100)
    assert cal.saved_weights == fitted and "saved blend 1 (fitted)" in cal.note
    # --blend B: the saved weights are that blend, to one decimal as the Tune weights slider has them
    b = calibrate(bt, save_as="x", resamples=0, blend_saved=0.5, l2=cal.l2.l2)
    assert b.saved_weights == blend(hand, fitted, 0.5, digits=1) == tuning_blend(hand, fitted, 0.5)
    assert {s.name: s.weight for s in b.profile.signals} == b.saved_weights
    assert "saved blend 0.5 of hand-set (0) and fitted (1)" in b.note and b.blend == 0.5
    zero = calibrate(bt, save_as="x", resamples=0, blend_saved=0.0, l2=cal.l2.l2)
    assert zero.saved_weights == {"a": 10.0, "b": 20.0, "c": 70.0}
    with pytest.raises(ValueError, match="within 0..1"):
        calibrate(bt, save_as="x", resamples=0, blend_saved=1.5)


def tuning_blend(*a):
    from scoring import comparison

    return comparison.blend(*a)


def _twice(n=1500, seed=2):
    """Each account on two dates with the same signals and outcome, and the same book on one date."""
    p = book_profile("a", "b", "c")
    rng = np.random.default_rng(seed)
    a, b, c = rng.random(n), rng.random(n), rng.random(n)
    churned = rng.random(n) < 0.02 + 0.3 * (1 - a) ** 2 + 0.1 * (1 - b)
    raw = {"a": a, "b": b, "c": c}
    preps = [synthetic_prep(T + D(days=100 * i), raw, churned, p) for i in range(2)]
    return synthetic(preps, p), synthetic(preps[:1], p)


def test_bootstrap_resamples_accounts_not_rows():
    two, one = _twice()
    x, churned, accounts = training_data(two)
    assert len(x) == 3000 and len(set(accounts)) == 1500
    counts, ids = account_counts(accounts, 50, np.random.default_rng(0))
    assert counts.shape == (50, 1500) and (counts.sum(axis=1) == 1500).all()
    w = counts[:, ids]
    np.testing.assert_array_equal(w[:, :1500], w[:, 1500:])  # an account's two rows weigh alike
    # so resampling the two-date book is resampling the one-date book with every row doubled: the
    # same draws and the same weights. Resampling rows (3,000 of them) would draw differently.
    s2 = bootstrap(two, suggest_weights(two, l2=0.01), l2=0.01, resamples=60, seed=4)
    s1 = bootstrap(one, suggest_weights(one, l2=0.01), l2=0.01, resamples=60, seed=4)
    for r2, r1 in zip(s2.signals, s1.signals):
        assert (r2["median"], r2["low"], r2["high"], r2["weighed"]) == pytest.approx(
            (r1["median"], r1["low"], r1["high"], r1["weighed"]), abs=1e-9)


def test_bootstrap_refits_are_the_constrained_fits_and_reproducible():
    two, _ = _twice()
    sug = suggest_weights(two, l2=0.01)
    x, churned, accounts = training_data(two)
    counts, ids = account_counts(accounts, 8, np.random.default_rng(1))
    start = np.concatenate(([sug.fit.intercept], sug.fit.coef))
    many = refit_many(x, ~churned, counts[:, ids], l2=0.01, start=start)
    for r in range(8):  # each the L-BFGS-B fit of the same weighted observations, KKT met
        one = fit_nonneg_logistic(x, ~churned, l2=0.01, sample_weight=counts[r][ids])
        np.testing.assert_allclose(many[r, 1:], one.coef, atol=1e-4)
        keep = counts[r][ids] > 0
        _, g = loss_and_grad(many[r], x[keep], (~churned[keep]).astype(float), 0.01,
                             counts[r][ids][keep].astype(float))
        assert abs(g[0]) < 1e-6 and all(abs(gj) < 1e-6 if b > 0 else gj > -1e-6
                                        for b, gj in zip(many[r, 1:], g[1:]))
    a = bootstrap(two, sug, l2=0.01, resamples=40, seed=7)
    b = bootstrap(two, sug, l2=0.01, resamples=40, seed=7)
    c = bootstrap(two, sug, l2=0.01, resamples=40, seed=8)
    assert a.signals == b.signals and a.signals != c.signals and a.fitted == 40 and a.seed == 7


def test_bootstrap_intervals_hold_the_full_fit_in_a_strong_case():
    bt = _monthly_book()  # a and b keep accounts alike, c is noise
    cal = calibrate(bt, save_as="x", resamples=200, seed=0)
    st = cal.stability
    assert st.resamples == 200 and st.fitted == 200 and st.l2 == cal.l2.l2 and st.seconds > 0
    rows = {r["signal"]: r for r in st.signals}
    for n, r in rows.items():
        assert r["low"] <= r["weight"] <= r["high"] and r["low"] <= r["median"] <= r["high"]
    assert rows["a"]["weighed"] == rows["b"]["weighed"] == 1.0 and rows["c"]["median"] < 10
    assert not rows["a"]["unstable"] and not rows["b"]["unstable"]
    assert calibrate(bt, save_as="x", resamples=0, l2=cal.l2.l2).stability is None


CATALOGUE = pd.DataFrame({"event_type": ["login", "page_view", "report", "export"],
                          "feature": ["login", "pages", "reports", "reports"],
                          "dimension": ["frequency", "breadth", "depth", "depth"],
                          "value_action": [False, False, True, True]})


def test_passive_signals_from_the_definition_and_the_catalogue():
    def sig(kind, **kw):
        return SignalDef("s", "s", "depth", kind, 1.0, **kw)

    assert is_passive(sig("active_days", event_types=("login",)), CATALOGUE)  # logins
    assert is_passive(sig("count", event_types=("page_view",)), CATALOGUE)  # page views
    assert is_passive(sig("sum", event_types=("mystery",)), CATALOGUE)  # unclassified: passive
    assert is_passive(sig("active_days"), CATALOGUE)  # a login makes a day count
    assert is_passive(sig("distinct_users", per="seat"), CATALOGUE)  # ... and a user
    assert not is_passive(sig("active_days", value_only=True), CATALOGUE)
    assert not is_passive(sig("sum", event_types=("report",)), CATALOGUE)
    assert not is_passive(sig("count", features=("reports",)), CATALOGUE)
    assert not is_passive(sig("count"), CATALOGUE)  # a count over everything, value actions too
    assert not is_passive(sig("distinct_features"), CATALOGUE)
    assert not is_passive(sig("count", event_types=("login", "report")), CATALOGUE)
    assert is_passive(sig("sum", value_only=True), CATALOGUE.assign(value_action=False))
    assert passive_signals(demo_profile(), None) is None
    assert passive_signals(demo_profile(), CATALOGUE) == ("logins", "reports_generated",
                                                           "integrations_connected", "teammates_invited",
                                                           "api_calls")  # none of classic's types listed
    g = gameable(("a",), {"a": 60.0, "b": 40.0}, {"a": 30.0, "b": 70.0}, 0.5)
    assert g["warning"] and g["fitted_share"] == 0.6 and g["saved_share"] == 0.3
    assert not gameable(("a",), {"a": 50.0, "b": 50.0}, {"a": 50.0, "b": 50.0}, 1.0)["warning"]


def _driven_by(name: str, n_dates=6):
    """Signals ``logins`` (active days of logins: passive) and ``reports`` (a value action);
    churn driven by ``name`` alone."""
    p = dataclasses.replace(book_profile("logins", "reports"), signals=(
        SignalDef("logins", "logins", "frequency", "active_days", 1.0, event_types=("login",),
                  normalisation=Normalisation("percentile", "book")),
        SignalDef("reports", "reports", "depth", "sum", 1.0, event_types=("report",),
                  normalisation=Normalisation("percentile", "book"))))
    rng = np.random.default_rng(9)
    preps = []
    for i in range(n_dates):
        raw = {"logins": rng.random(1000), "reports": rng.random(1000)}
        churned = rng.random(1000) < 0.02 + 0.3 * (1 - raw[name]) ** 2
        preps.append(synthetic_prep(dt.date(2025, 1, 1) + D(days=100 * i), raw, churned, p))
    return synthetic(preps, p)


def test_gameable_warns_when_passive_signals_get_most_of_the_weight():
    cal = calibrate(_driven_by("logins"), save_as="x", resamples=0, catalogue=CATALOGUE)
    g = cal.gameable
    assert g["passive"] == ["logins"] and g["fitted_share"] > 0.5 and g["warning"]
    assert all(r["passive_share"] is not None for r in cal.blends)
    assert next(r for r in cal.blends if r["blend"] == 0)["passive_share"] == 0.5
    assert "passive signals" in cal.note
    ok = calibrate(_driven_by("reports"), save_as="x", resamples=0, catalogue=CATALOGUE)
    assert ok.gameable["passive"] == ["logins"] and ok.gameable["fitted_share"] < 0.5
    assert not ok.gameable["warning"]
    none = calibrate(_driven_by("logins"), save_as="x", resamples=0)  # no catalogue: not judged
    assert none.gameable["passive"] is None and not none.gameable["warning"]
    from scoring.cli_calibrate import calibration_text

    assert "WARNING: passive signals get more than 50% of the weight" in calibration_text(cal, flip=False)
    assert "WARNING" not in calibration_text(ok, flip=False)


def test_calibrate_command_json_and_blend(demo, capsys):
    from scoring import profiles

    state = StateStore(demo.with_name("cs.state.sqlite"))
    assert main(["calibrate", *_args(demo), "--save-as", "blended", "--blend", "0.5", "--bootstrap", "20",
                 "--seed", "3", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [r["blend"] for r in rep["blends"]] == list(BLEND_GRID) and rep["blend"] == 0.5
    rows = {r["blend"]: r for r in rep["blends"]}
    assert rows[0]["auc"] == rep["auc"]["current_judged"] and rows[1]["auc"] == rep["auc"]["suggested_judged"]
    assert all(k in rows[0.5] for k in ("auc_ci", "lift_at_risk", "recall_at_capacity", "passive_share"))
    st = rep["stability"]
    assert st["resamples"] == 20 and st["seed"] == 3 and st["unstable_points"] == 20
    assert {r["signal"] for r in st["signals"]} == set(rep["weights"]["fitted"])
    assert all(r["low"] <= r["median"] <= r["high"] for r in st["signals"])
    g = rep["gameable"]
    assert "logins" in g["passive"] and "days_active" in g["passive"] and isinstance(g["warning"], bool)
    saved = profiles.load(state, "blended")
    assert rep["saved"] == {"profile": "blended", "version": saved.version, "published": False}
    expected = blend(rep["weights"]["current"], rep["weights"]["fitted"], 0.5, digits=1)
    assert {s.name: s.weight for s in saved.signals} == {  # candidates at 0 are left out
        n: w for n, w in expected.items() if n not in rep["candidates"] or w > 0}
    assert "saved blend 0.5" in profiles.versions(state, "blended")[-1].note
    for bad in (["--blend", "1.5"], ["--blend", "x"], ["--bootstrap", "-1"]):
        with pytest.raises(SystemExit) as usage:
            main(["calibrate", *_args(demo), "--save-as", "x", *bad])
        assert usage.value.code == 2
