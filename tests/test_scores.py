"""Normalisation and scores: properties over every registered method, and hand-worked examples.

Property tests draw whole books (accounts, segments, raw signal values with ties and gaps, health
inputs) and profiles (every normalisation method, both directions, both peer kinds, weights with
zeros, caps) and check what must hold for any of them. Hand-worked tests write the arithmetic of
the documented formulas out, so a reader can check the expected numbers without running anything.
"""
from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scoring import health, normalize, scores
from scoring.normalize import METHODS, Normalised, Peers, normalise, normalise_values
from scoring.profile import METHODS as PROFILE_METHODS
from scoring.profile import PEERS, Bands, NewRule, Normalisation, Profile, SignalDef
from scoring.scores import (BANDS, band_counts, effective_shares, histogram, prepare_rescore, rescore,
                            score_book, whatif)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy noise is a bug here
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NUMERIC = ["engagement_score", "health_score", "data_confidence", "health_engagement", "health_nps",
           "health_support", "health_financial", "health_commercial", "value_share"]


# ---------------------------------------------------------------- building books


def signal(name: str, weight: float, method: str = "percentile", *, peer: str = "segment",
           direction: str = "higher", grid: tuple = ()) -> SignalDef:
    return SignalDef(name=name, label=name.title(), dimension="frequency", kind="count", weight=weight,
                     direction=direction, normalisation=Normalisation(method, peer, grid))


def health_columns(n: int, seed: int = 0, **flags: bool) -> dict[str, np.ndarray]:
    """Random but plausible non-signal columns of the inputs frame (docs/SCORING.md)."""
    rng = np.random.default_rng(seed)
    pick = lambda *xs: rng.choice(np.array(xs, dtype=float), n)  # noqa: E731
    usage = pick(0, 1, 10, 100, 1000)
    return {
        "segment": rng.choice(np.array(["SMB", "Mid", "Ent"], dtype=object), n),
        "seats": pick(0, 1, 5, 10, 50, np.nan),
        "age_days": pick(np.nan, 10, 59, 60, 100, 119, 120, 400),
        "active_days": pick(0, 1, 2, 3, 10, 30),
        "active_users": pick(np.nan, 0, 1, 5, 9, 45, 50),
        "usage": usage,
        "usage_prev": pick(0, 1, 10, 100, 900),
        "value_usage": np.floor(usage * rng.random(n)),
        "burst": rng.random(n) < 0.2,
        "nps_mean": pick(np.nan, 0, 3.5, 7, 10),
        "nps_count": pick(0, 1, 4),
        "tickets_open_weighted": pick(0, 0.5, 1, 4, 12, np.nan),
        "ticket_sentiment": pick(np.nan, -1, -0.2, 0, 0.7, 1),
        "invoices_overdue": pick(0, 1, 2, 5),
        "days_overdue_max": pick(0, 10, 45, 90, 200),
        "mrr_now": pick(0, 50, 100, 150, np.nan),
        "mrr_90d_ago": pick(0, 50, 100, 200, np.nan),
        **{f: np.full(n, flags.get(f, True)) for f in ("has_nps", "has_tickets", "has_invoices", "has_mrr")},
    }


def frame(raw: dict[str, list[float]], *, seed: int = 0, ids: list[str] | None = None,
          **cols: object) -> pd.DataFrame:
    n = len(next(iter(raw.values())))
    data = health_columns(n, seed)
    data.update({k: np.asarray(v, dtype=float) for k, v in raw.items()})
    data.update(cols)
    index = pd.Index(ids or [f"A{i}" for i in range(n)], name="account_id")
    return pd.DataFrame(data, index=index)


def profile(*signals: SignalDef, **kw) -> Profile:
    return Profile(name="test", signals=tuple(signals), **kw)


def book(inputs: pd.DataFrame, prof: Profile) -> pd.DataFrame:
    return score_book(inputs, normalise(inputs, prof), prof)


@st.composite
def grids(draw, direction: str) -> tuple[tuple[float, float], ...]:
    bounds = sorted(draw(st.sets(st.integers(-20, 500), min_size=1, max_size=4)))
    points = sorted(draw(st.lists(st.integers(0, 100), min_size=len(bounds), max_size=len(bounds))),
                    reverse=direction == "lower")  # points say how good: monotone the direction's way
    return tuple((float(b), float(p)) for b, p in zip(bounds, points))


@st.composite
def books(draw, methods: tuple[str, ...] = tuple(METHODS), *, min_n: int = 1, max_n: int = 25
          ) -> tuple[pd.DataFrame, Profile]:
    n = draw(st.integers(min_n, max_n))
    pool = draw(st.lists(st.floats(-50, 1000, allow_nan=False), min_size=1, max_size=5))  # ties
    value = st.one_of(st.sampled_from(pool), st.floats(-50, 1e6), st.just(math.nan),
                      st.sampled_from([0.0, 1.0, 3.0]))
    sigs, raw = [], {}
    for j in range(draw(st.integers(1, 4))):
        method = draw(st.sampled_from(methods))
        direction = draw(st.sampled_from(["higher", "lower"]))
        grid = draw(grids(direction)) if method == "grid" else ()
        weight = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.7, 10.0]))
        sigs.append(signal(f"s{j}", weight, method, peer=draw(st.sampled_from(PEERS)),
                           direction=direction, grid=grid))
        raw[f"s{j}"] = draw(st.lists(value, min_size=n, max_size=n))
    if all(s.weight == 0 for s in sigs):
        sigs[0] = replace(sigs[0], weight=1.0)
    hw = {c: draw(st.sampled_from([0.0, 5.0, 15.0, 50.0])) for c in
          ("engagement", "nps", "support", "financial", "commercial")}
    if sum(hw.values()) == 0:
        hw["engagement"] = 1.0
    flags = {f: draw(st.booleans()) for f in ("has_nps", "has_tickets", "has_invoices", "has_mrr")}
    inputs = frame(raw, seed=draw(st.integers(0, 2**32 - 1)))
    segments = draw(st.lists(st.sampled_from(["SMB", "Ent", None]), min_size=n, max_size=n))
    inputs = inputs.assign(**flags, segment=segments)
    cap = draw(st.sampled_from([0.2, 0.34, 0.4, 0.5, 1.0]))
    bands = draw(st.sampled_from([Bands(), Bands(42.5, 72.5), Bands(0, 100), Bands(50, 50), Bands(25, 75),
                                  Bands(33.3, 66.7)]))
    return inputs, profile(*sigs, health_weights=hw, max_signal_share=cap, bands=bands)


def assert_same_scores(a: pd.DataFrame, b: pd.DataFrame, bands: Bands = Bands(), tol: float = 1e-9) -> None:
    """Equal per account, up to float noise; bands compared away from the thresholds."""
    b = b.loc[a.index]
    for col in NUMERIC + [c for c in a.columns if c.startswith("contrib_")]:
        np.testing.assert_allclose(a[col], b[col], atol=tol, rtol=0, err_msg=col)
    h = a.health_score.to_numpy()
    clear = ~(np.isclose(h, bands.at_risk_below, atol=1e-7) | np.isclose(h, bands.healthy_from, atol=1e-7))
    assert (a.band[clear] == b.band[clear]).all()
    assert (a.expansion_ready[clear] == b.expansion_ready[clear]).all()
    assert (a.burst == b.burst).all()


# ---------------------------------------------------------------- the registry


def test_registry_covers_the_profile_methods_and_states_formulas():
    assert set(METHODS) == set(PROFILE_METHODS)
    for name, fn in METHODS.items():
        assert "score" in (fn.__doc__ or ""), f"{name}: the docstring must state its formula"


def _reference(method: str, x: np.ndarray, codes: np.ndarray, spec: Normalisation) -> np.ndarray:
    """Each method's formula, written out with Python loops per account (slow and obvious)."""
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        if not np.isfinite(x[i]):
            continue
        peers = np.array([x[j] for j in range(len(x)) if codes[j] == codes[i] and np.isfinite(x[j])])
        if method == "percentile":
            out[i] = ((peers < x[i]).sum() + 0.5 * (peers == x[i]).sum()) / len(peers)
        elif method == "minmax":
            p5, p95 = np.percentile(peers, 5), np.percentile(peers, 95)
            out[i] = 0.5 if p95 == p5 else min(max((x[i] - p5) / (p95 - p5), 0.0), 1.0)
        elif method == "logz":
            y = np.log1p(np.maximum(peers, 0))
            sd = y.std()
            z = 0.0 if sd <= 1e-12 * abs(y.mean()) else (math.log1p(max(x[i], 0)) - y.mean()) / sd
            out[i] = 1 / (1 + math.exp(-1.702 * z))
        elif method == "grid":
            pts = [p for b, p in spec.grid if x[i] <= b]
            out[i] = (pts[0] if pts else spec.grid[-1][1]) / 100
    return out


@PROPS
@given(st.sampled_from(list(METHODS)), st.data())
def test_every_method_matches_its_formula(method, data):
    n = data.draw(st.integers(0, 30))
    values = st.one_of(st.sampled_from([0.0, 1.0, 2.5, -3.0, 7.0]), st.floats(-100, 1e4),
                       st.just(math.nan), st.just(math.inf))
    x = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=float)
    codes = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int32)
    spec = Normalisation(method, "segment", data.draw(grids("higher")) if method == "grid" else ())
    got = METHODS[method](x, Peers(codes, 3), spec)
    np.testing.assert_allclose(got, _reference(method, x, codes, spec), atol=1e-9, rtol=0)
    assert np.array_equal(np.isnan(got), ~np.isfinite(x))  # missing stays missing, and only it
    lower = normalise_values(x, Peers(codes, 3), spec, direction="lower")
    if normalize.DIRECTION_APPLIES[method]:
        np.testing.assert_allclose(lower, 1 - got, atol=1e-12)
    else:
        np.testing.assert_array_equal(lower, got)


@PROPS
@given(books())
def test_bounds(b):
    inputs, prof = b
    norm = normalise(inputs, prof)
    m = norm.matrix
    assert np.all(np.isnan(m) | ((m >= 0) & (m <= 1)))
    out = score_book(inputs, norm, prof)
    for col in ["engagement_score", "health_score", "health_engagement", "health_nps", "health_support",
                "health_financial", "health_commercial"]:
        v = out[col].dropna()
        assert ((v >= 0) & (v <= 100)).all(), col
    assert ((out.data_confidence >= 0) & (out.data_confidence <= 1)).all()
    assert set(out.band.unique()) <= set(BANDS)
    assert out.band[out.health_score.isna()].eq("new").all()


@PROPS
@given(books(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(b, rnd):
    inputs, prof = b
    order = list(range(len(inputs)))
    rnd.shuffle(order)
    assert_same_scores(book(inputs, prof), book(inputs.iloc[order], prof), prof.bands)


@PROPS
@given(books(), st.data())
def test_a_zero_weight_removes_a_signal(b, data):
    inputs, prof = b
    assume(len(prof.signals) > 1)
    j = data.draw(st.integers(0, len(prof.signals) - 1))
    rest = prof.signals[:j] + prof.signals[j + 1:]
    assume(any(s.weight > 0 for s in rest))
    zeroed = tuple(replace(s, weight=0.0) if i == j else s for i, s in enumerate(prof.signals))
    with_zero = book(inputs, replace(prof, signals=zeroed))
    without = book(inputs, replace(prof, signals=rest))
    assert (with_zero[f"contrib_{prof.signals[j].name}"] == 0).all()
    assert_same_scores(with_zero.drop(columns=f"contrib_{prof.signals[j].name}"), without, prof.bands)


@PROPS
@given(books(), st.sampled_from([1e-3, 0.5, 3.0, 1e6]))
def test_scaling_all_weights_changes_nothing(b, factor):
    inputs, prof = b
    scaled = replace(prof, signals=tuple(replace(s, weight=s.weight * factor) for s in prof.signals),
                     health_weights={c: w * factor for c, w in prof.health_weights.items()})
    assert_same_scores(book(inputs, prof), book(inputs, scaled), prof.bands)


@pytest.mark.parametrize("method", list(METHODS))
@settings(PROPS, max_examples=40)
@given(data=st.data())
def test_raising_a_good_value_never_lowers_that_accounts_scores(method, data):
    """Raising one account's raw value, others unchanged: its normalised value, engagement and health
    never fall for a higher-is-better signal and never rise for a lower-is-better one. Expected peer
    effects, not asserted: the other accounts' percentiles, min-max bounds and z-scores move with it
    (and may fall)."""
    inputs, prof = data.draw(books((method,), min_n=2))
    j = data.draw(st.integers(0, len(prof.signals) - 1))
    sig = prof.signals[j]
    col = inputs[sig.name].to_numpy()
    finite = np.flatnonzero(np.isfinite(col))
    assume(len(finite))
    a = int(data.draw(st.sampled_from(finite.tolist())))
    higher = col[a] + data.draw(st.one_of(st.floats(1e-6, 1e6), st.sampled_from([1.0, 0.5])))
    raised = inputs.copy()
    raised.iloc[a, raised.columns.get_loc(sig.name)] = higher
    before, after = book(inputs, prof).iloc[a], book(raised, prof).iloc[a]
    sign = 1 if sig.direction == "higher" else -1
    x0, x1 = normalise(inputs, prof).matrix[a, j], normalise(raised, prof).matrix[a, j]
    assert sign * (x1 - x0) >= -1e-12
    for col_name in ("engagement_score", "health_score"):
        if np.isnan(before[col_name]):
            assert np.isnan(after[col_name])
        else:
            assert sign * (after[col_name] - before[col_name]) >= -1e-9, col_name


@PROPS
@given(books())
def test_health_is_the_weighted_mean_of_the_present_components(b):
    """Written the slow way: a missing component's weight is shared out among the present ones, and
    data_confidence is the weight that stood on data (engagement by its present signal share)."""
    inputs, prof = b
    norm = normalise(inputs, prof)
    out = score_book(inputs, norm, prof)
    w = pd.Series({f"health_{c}": prof.health_weights.get(c, 0.0) for c in
                   ("engagement", "nps", "support", "financial", "commercial")})
    comps = out[w.index]
    present = comps.notna() & (w > 0)
    den = (present * w).sum(axis=1)
    expected = (comps.fillna(0) * w).sum(axis=1) / den.where(den > 0)
    np.testing.assert_allclose(out.health_score, expected, atol=1e-9, rtol=0)
    shares = effective_shares([s.weight for s in prof.signals], prof.max_signal_share)
    signal_share = (~np.isnan(norm.matrix) * shares).sum(axis=1)
    others = (comps.notna() * w).drop(columns="health_engagement").sum(axis=1)
    on_data = signal_share * w["health_engagement"] + others
    np.testing.assert_allclose(out.data_confidence, on_data / w.sum(), atol=1e-12, rtol=0)


@PROPS
@given(books())
def test_contributions_add_up_to_engagement(b):
    inputs, prof = b
    out = book(inputs, prof)
    total = out.filter(like="contrib_").sum(axis=1)
    has = out.engagement_score.notna()
    np.testing.assert_allclose(total[has], out.engagement_score[has], atol=1e-9, rtol=0)
    assert (total[~has] == 0).all()


@PROPS
@given(st.lists(st.sampled_from([0.0, 0.1, 1.0, 2.0, 5.0, 40.0]), min_size=1, max_size=8),
       st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.9, 1.0]))
def test_shares_respect_the_cap(weights, cap):
    w = np.array(weights)
    assume(w.sum() > 0)
    s = effective_shares(w, cap)
    n_weighted = (w > 0).sum()
    assert s.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(s[w == 0] == 0)  # a zero weight stays out
    assert s.max() <= max(cap, 1 / n_weighted) + 1e-12
    order = np.argsort(w, kind="stable")
    assert np.all(np.diff(s[order]) >= -1e-12)  # more weight never means a smaller share
    free = (w > 0) & (s < cap - 1e-12)
    if free.sum() > 1:  # the uncapped ones keep their proportions
        np.testing.assert_allclose(s[free] / s[free].sum(), w[free] / w[free].sum(), atol=1e-12)
    if cap >= 1 or s.max() < cap:
        np.testing.assert_allclose(s, w / w.sum(), atol=1e-15)


def test_shares_worked_examples():
    # 3 : 1 : 1 -> 0.6, 0.2, 0.2; cap 0.5 -> the first gives 0.1 back, shared 1 : 1
    np.testing.assert_allclose(effective_shares([3, 1, 1], 0.5), [0.5, 0.25, 0.25])
    # 6 : 2 : 1 : 1 with cap 0.4: 0.6 -> 0.4; the rest 0.6 over 2 : 1 : 1 = 0.3, 0.15, 0.15
    np.testing.assert_allclose(effective_shares([6, 2, 1, 1], 0.4), [0.4, 0.3, 0.15, 0.15])
    # 10 : 10 : 1 : 1 with cap 0.3: both big ones capped, 0.4 left for 1 : 1
    np.testing.assert_allclose(effective_shares([10, 10, 1, 1], 0.3), [0.3, 0.3, 0.2, 0.2])
    # only two weighted signals cannot stay under 0.4: equal shares; the zero weight stays out
    np.testing.assert_allclose(effective_shares([5, 1, 0], 0.4), [0.5, 0.5, 0.0])
    # ten nearly equal weights at cap 0.1: all at the cap (float noise must not leave a NaN)
    np.testing.assert_array_equal(effective_shares([1] * 9 + [1.0000001, 0], 0.1), [0.1] * 10 + [0])
    with pytest.raises(ValueError):
        effective_shares([0, 0], 0.4)
    with pytest.raises(ValueError):
        effective_shares([1, -1], 0.4)


@PROPS
@given(books(), st.lists(st.sampled_from([0.0, 0.3, 1.0, 2.0, 7.5]), min_size=4, max_size=4),
       st.sampled_from([0.25, 0.4, 1.0]), st.sampled_from([20, 20, 10, 8, 4]))
def test_rescore_equals_score_book(b, weights, cap, bins):
    inputs, prof = b
    w = np.array(weights[:len(prof.signals)])
    assume(w.sum() > 0)
    reweighed = replace(prof, signals=tuple(replace(s, weight=float(wi)) for s, wi in zip(prof.signals, w)),
                        max_signal_share=cap)
    norm = normalise(inputs, prof)
    expected = score_book(inputs, norm, reweighed)
    np.testing.assert_allclose(rescore(norm, w, cap), expected.engagement_score, atol=1e-9, rtol=0)
    np.testing.assert_allclose(rescore(norm, dict(zip(norm.signals, w)), cap), expected.engagement_score,
                               atol=1e-9, rtol=0)
    # the slider's whole path: health, band counts, histogram from a Rescorer of the old profile
    # (with bands on bin edges, bands come from the bins; otherwise each account is banded)
    fast = whatif(prepare_rescore(inputs, norm, prof), w, max_share=cap, bins=bins)
    np.testing.assert_allclose(fast.health, expected.health_score, atol=1e-9, rtol=0)
    assert fast.band_counts == {b: int((expected.band == b).sum()) for b in BANDS}
    h = expected.health_score.dropna()
    assert fast.histogram.tolist() == np.histogram(h, bins=bins, range=(0, 100))[0].tolist()
    assert fast.by_band.sum() == len(inputs)
    assert fast.by_band[:, -1].sum() == expected.health_score.isna().sum()
    for code, band in enumerate(BANDS):  # each band's own histogram
        in_band = expected.health_score[expected.band == band].dropna()
        expected_bins = np.histogram(in_band, bins=bins, range=(0, 100))[0]
        assert fast.by_band[code, :bins].tolist() == expected_bins.tolist()


def test_histogram_edges_and_band_counts():
    h = np.array([0, 4.999, 5, 39.999, 40, 69.9, 70, 99.99, 100, np.nan])
    counts = histogram(h)
    assert counts[0] == 2 and counts[1] == 1 and counts[7] == 1 and counts[8] == 1
    assert counts[13] == 1 and counts[14] == 1 and counts[19] == 2 and counts.sum() == 9
    assert band_counts(h, Bands()) == {"at_risk": 4, "watch": 2, "healthy": 3, "new": 1}
    new = np.zeros(len(h), dtype=bool)
    new[-2] = True
    assert band_counts(h, Bands(), new=new) == {"at_risk": 4, "watch": 2, "healthy": 2, "new": 2}


# ---------------------------------------------------------------- missing values


def test_all_signals_missing():
    prof = profile(signal("a", 1), signal("b", 2, "logz", peer="book"))
    inputs = frame({"a": [np.nan, 1, 2], "b": [np.nan, 5, 6]}, age_days=np.full(3, 400.0),
                   active_days=np.full(3, 20.0),
                   **{f: np.zeros(3, dtype=bool)
                      for f in ("has_nps", "has_tickets", "has_invoices", "has_mrr")})
    out = book(inputs, prof)
    first = out.iloc[0]
    assert np.isnan(first.engagement_score) and np.isnan(first.health_score)
    assert first.band == "new" and first.data_confidence == 0
    assert first.contrib_a == 0 and first.contrib_b == 0
    assert out.band.iloc[1:].ne("new").all()  # old enough, active, scored: judged by health
    # with the other components present, health stands on them alone (their weights share out)
    inputs = inputs.assign(has_nps=True, nps_mean=[6.0, 6, 6], nps_count=[1.0, 1, 1], has_tickets=False,
                           has_invoices=False, has_mrr=False)
    first = book(inputs, prof).iloc[0]
    assert first.health_score == 60 and first.band == "watch"
    assert first.data_confidence == pytest.approx(15 / 100)  # only NPS's 15 of 100 stood on data


def test_a_missing_signal_is_left_out_and_the_rest_renormalised():
    # book-wide percentiles. a: 1, 2 (and missing) -> 0.25, 0.75, NaN; b: 10, 20, 30 -> 1/6, 3/6, 5/6
    prof = profile(signal("a", 1, peer="book"), signal("b", 1, peer="book"), max_signal_share=1.0)
    out = book(frame({"a": [1, 2, np.nan], "b": [10, 20, 30]}), prof)
    np.testing.assert_allclose(out.engagement_score, [100 * (0.25 + 1 / 6) / 2, 100 * (0.75 + 0.5) / 2,
                                                      100 * 5 / 6])  # the third: b alone, share 1
    np.testing.assert_allclose(out.contrib_a, [12.5, 37.5, 0.0])


# ---------------------------------------------------------------- hand-worked examples


def hand_book() -> tuple[pd.DataFrame, Profile]:
    prof = profile(
        signal("logins", 3, "percentile", peer="segment"),
        signal("reports", 1, "minmax", peer="book"),
        signal("errors", 1, "grid", peer="book", direction="lower", grid=((0, 100), (5, 50), (10, 0))),
        max_signal_share=0.5)
    inputs = frame(
        {"logins": [10, 20, 5, 5], "reports": [0, 4, 8, np.nan], "errors": [0, 3, np.nan, 12]},
        ids=["A1", "A2", "A3", "A4"],
        segment=np.array(["SMB", "SMB", "Ent", "Ent"], dtype=object),
        seats=np.array([20.0, 10, 0, np.nan]), age_days=np.array([400.0, 400, 400, 10]),
        active_days=np.array([20.0, 20, 20, 1]), active_users=np.array([19.0, 10, 3, np.nan]),
        usage=np.array([100.0, 50, 0, 10]), usage_prev=np.array([80.0, 50, 10, 0]),
        value_usage=np.array([40.0, 10, 0, 5]), burst=np.array([False, False, True, False]),
        nps_mean=np.array([8.0, np.nan, 7, 5]), nps_count=np.array([2.0, 0, 1, 1]),
        tickets_open_weighted=np.array([2.0, 0, 1, 0]), ticket_sentiment=np.array([0.5, np.nan, -1, 0]),
        invoices_overdue=np.array([3.0, 0, 1, 0]), days_overdue_max=np.array([45.0, 0, 100, 0]),
        mrr_now=np.array([1100.0, 500, 100, 50]), mrr_90d_ago=np.array([1000.0, 0, 200, 50]))
    return inputs, prof


def test_hand_worked_normalisation_and_engagement():
    inputs, prof = hand_book()
    norm = normalise(inputs, prof)
    # logins, percentile within segment. SMB {10, 20}: A1 (0 + 0.5*1)/2 = 0.25, A2 (1 + 0.5)/2 = 0.75;
    #   Ent {5, 5}: both (0 + 0.5*2)/2 = 0.5
    # reports, minmax over the book {0, 4, 8} (A4 missing): p5 at position 2*0.05 = 0.1 -> 0.4,
    #   p95 at 1.9 -> 4 + 0.9*4 = 7.6; A1 (0-0.4)/7.2 -> 0, A2 3.6/7.2 = 0.5, A3 7.6/7.2 -> 1
    # errors, grid as written (direction not applied): 0 -> 100, 3 -> 50, 12 (above 10) -> last 0
    expected = np.array([[0.25, 0.0, 1.0], [0.75, 0.5, 0.5], [0.5, 1.0, np.nan], [0.5, np.nan, 0.0]])
    np.testing.assert_allclose(norm.matrix, expected, atol=1e-12)
    out = score_book(inputs, norm, prof)
    # shares 3:1:1 = 0.6, 0.2, 0.2, capped at 0.5 -> 0.5, 0.25, 0.25
    e = [100 * (0.5 * 0.25 + 0.25 * 0 + 0.25 * 1.0),  # A1 = 37.5
         100 * (0.5 * 0.75 + 0.25 * 0.5 + 0.25 * 0.5),  # A2 = 62.5
         100 * (0.5 * 0.5 + 0.25 * 1.0) / 0.75,  # A3, errors missing: renormalised = 66.67
         100 * (0.5 * 0.5 + 0.25 * 0.0) / 0.75]  # A4, reports missing = 33.33
    np.testing.assert_allclose(out.engagement_score, e, atol=1e-12)
    np.testing.assert_allclose(out.contrib_logins, [12.5, 37.5, 100 * 0.25 / 0.75, 100 * 0.25 / 0.75])
    np.testing.assert_allclose(out.contrib_errors, [25.0, 12.5, 0.0, 0.0])


def test_hand_worked_health():
    inputs, prof = hand_book()
    out = book(inputs, prof).T.to_dict()
    a1, a2, a3, a4 = (out[k] for k in ("A1", "A2", "A3", "A4"))
    # A1: nps 10*8 = 80; support: load 2 / max(1, 20/10) = 1 -> 100*exp(-0.5) + 10*0.5 = 65.65;
    #     financial 100*(1 - 45/90) - 10*(3-1) = 30; commercial 50 + 100*(1100/1000 - 1) = 60
    support1 = 100 * math.exp(-0.5) + 5
    assert (a1["health_nps"], a1["health_financial"], a1["health_commercial"]) == pytest.approx((80, 30, 60))
    assert a1["health_support"] == pytest.approx(support1)
    h1 = (50 * 37.5 + 15 * 80 + 15 * support1 + 10 * 30 + 10 * 60) / 100
    assert a1["health_score"] == pytest.approx(h1) and a1["data_confidence"] == 1.0
    assert a1["band"] == "watch"  # 49.6
    # A2: no NPS response, MRR 90 days ago 0 -> both missing; their weights (15 + 10) shared out:
    #     support 100 (no open ticket), financial 100 -> (50*62.5 + 15*100 + 10*100) / 75
    assert np.isnan(a2["health_nps"]) and np.isnan(a2["health_commercial"])
    assert a2["health_score"] == pytest.approx((50 * 62.5 + 15 * 100 + 10 * 100) / 75)  # 75.0
    assert a2["data_confidence"] == pytest.approx(75 / 100)
    assert a2["band"] == "healthy"
    # A2 is healthy; utilisation 10/10 >= 0.9 but usage growth 50/50 - 1 = 0 < 0.10: not ready
    assert not a2["expansion_ready"]
    # A3: seats 0 -> load per max(1, 0) = 1: 100*exp(-1/2) - 10 = 50.65; financial 100 days late -> 0,
    #     commercial 50 + 100*(100/200 - 1) = 0; engagement stood on shares 0.5 + 0.25 of 1
    assert a3["health_support"] == pytest.approx(100 * math.exp(-0.5) - 10)
    assert (a3["health_financial"], a3["health_commercial"]) == (0, 0)
    assert a3["data_confidence"] == pytest.approx((50 * 0.75 + 15 + 15 + 10 + 10) / 100)  # 0.875
    assert a3["value_share"] != a3["value_share"]  # usage 0: NaN
    # A4: 10 days old -> new, whatever its health; reports missing -> confidence (50*0.75 + 50) / 100
    assert a4["band"] == "new" and a4["data_confidence"] == pytest.approx(0.875)
    assert a4["value_share"] == 0.5 and a1["value_share"] == 0.4


def test_expansion_ready():
    prof = profile(signal("a", 1, peer="book"))
    n = 4
    inputs = frame({"a": [1, 1, 1, 1]}, age_days=np.full(n, 400.0), active_days=np.full(n, 20.0),
                   seats=np.array([10.0, 10, 0, 10]), active_users=np.array([9.0, 8, 5, 10]),
                   usage=np.array([110.0, 200, 200, 200]), usage_prev=np.array([100.0, 100, 100, 0]),
                   nps_mean=np.full(n, 10.0), nps_count=np.ones(n), tickets_open_weighted=np.zeros(n),
                   ticket_sentiment=np.zeros(n), invoices_overdue=np.zeros(n), days_overdue_max=np.zeros(n),
                   mrr_now=np.full(n, 150.0), mrr_90d_ago=np.full(n, 100.0))
    out = book(inputs, prof)
    assert (out.band == "healthy").all()  # 50*50 (lone percentile) + 50*100 -> 75
    # 9/10 >= 0.9 and 110/100 - 1 = 0.10 (float: 0.10000000000000009) >= 0.10; 8/10 too few users;
    # 0 seats: utilisation unknown; usage_prev 0: growth unknown
    assert out.expansion_ready.tolist() == [True, False, False, False]


def test_new_rule():
    rule = NewRule(min_age_days=60, min_active_days=3)
    inputs = pd.DataFrame({"age_days": [np.nan, 59, 60, 60, 119, 120, 400],
                           "active_days": [30, 30, 30, 2, 2, 2, np.nan]})
    # unknown age, younger than 60: new; 60..119 days and under 3 active days: new; 120+: judged
    assert scores.new_accounts(inputs, rule).tolist() == [True, True, False, True, True, False, False]


def test_logz_worked_example():
    # raw e-1, 0, e^2-1 -> y = 1, 0, 2; mean 1, population std sqrt(2/3); z = 0, -1.2247, 1.2247
    x = np.array([math.e - 1, 0.0, math.e ** 2 - 1, np.nan])
    z = np.array([0.0, -1 / math.sqrt(2 / 3), 1 / math.sqrt(2 / 3)])
    got = normalise_values(x, Peers.book(4), Normalisation("logz", "book"))
    np.testing.assert_allclose(got[:3], 1 / (1 + np.exp(-1.702 * z)), atol=1e-12)
    assert got[0] == pytest.approx(0.5) and np.isnan(got[3])
    # all equal: no spread -> z = 0 -> 0.5; a lone peer likewise
    flat = normalise_values(np.array([3.0, 3.0, 3.0]), Peers.book(3), Normalisation("logz", "book"))
    assert flat.tolist() == [0.5, 0.5, 0.5]


def test_component_formulas_missing_rules():
    n = 3
    cols = dict(nps_mean=np.array([9.0, 9, np.nan]), nps_count=np.array([1.0, 0, 2]),
                tickets_open_weighted=np.array([0.0, np.nan, 40]),
                ticket_sentiment=np.array([1.0, np.nan, -1]),
                seats=np.array([10.0, 100, 10]), invoices_overdue=np.array([0.0, 1, 12]),
                days_overdue_max=np.array([0.0, 30, 10]), mrr_now=np.array([200.0, 100, np.nan]),
                mrr_90d_ago=np.array([100.0, np.nan, 100]))
    inputs = frame({"a": [1, 2, 3]}, **cols)
    assert health.nps_component(inputs)[0] == 90 and np.isnan(health.nps_component(inputs)[1:]).all()
    # 0 tickets + sentiment 1 -> 110 clipped to 100; unknown load counts 0; 40 per 10 seats -> ~0 - 10 -> 0
    np.testing.assert_allclose(health.support_component(inputs), [100, 100, 0], atol=1e-6)
    # 12 overdue, 10 days: 100*(1 - 10/90) - 10*11 < 0 -> 0; one invoice 30 days late: 66.67
    np.testing.assert_allclose(health.financial_component(inputs), [100, 100 * (1 - 30 / 90), 0])
    c = health.commercial_component(inputs)
    assert c[0] == 100 and np.isnan(c[1:]).all()  # doubled -> clipped; no base; no MRR now
    absent = inputs.assign(has_nps=False, has_tickets=False, has_invoices=False, has_mrr=False)
    for f in health.COMPONENT_FORMULAS.values():
        assert np.isnan(f(absent)).all()
    assert n == len(inputs)


# ---------------------------------------------------------------- the matrix


def test_normalised_is_read_only_and_column_major():
    inputs, prof = hand_book()
    norm = normalise(inputs, prof)
    for a in (norm.matrix, norm.filled, norm.missing_rows, norm.patterns, norm.pattern_of):
        assert not a.flags.writeable
    with pytest.raises(ValueError):
        norm.matrix[0, 0] = 1.0
    assert norm.filled.flags.f_contiguous
    assert norm.signals == ("logins", "reports", "errors") and list(norm.index) == ["A1", "A2", "A3", "A4"]
    assert norm.missing_rows.tolist() == [2, 3]
    # the present-mask of those rows, as distinct patterns: A3 lacks errors, A4 reports
    mask = norm.patterns[norm.pattern_of]
    np.testing.assert_array_equal(mask, [[1, 1, 0], [1, 0, 1]])
    mine = np.zeros((2, 1))
    Normalised.from_matrix(mine, ["x"])
    assert mine.flags.writeable  # the caller's array is never frozen


def test_score_book_refuses_a_mismatched_matrix():
    inputs, prof = hand_book()
    norm = normalise(inputs, prof)
    with pytest.raises(ValueError, match="another inputs frame"):
        score_book(inputs.iloc[::-1], norm, prof)
    with pytest.raises(ValueError, match="other signals"):
        score_book(inputs, norm, profile(signal("logins", 1)))
    with pytest.raises(ValueError, match="lacks"):
        normalise(inputs.drop(columns="reports"), prof)


# ---------------------------------------------------------------- the benchmark


def test_bench_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "score_bench.py"), "--smoke"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "result:" in r.stdout and "rescore+bands+histogram" in r.stdout
