"""The Tune weights page and ``scoring.tuning`` (proposal, link, band changes, blend, ROC).

Pure tests first (the link's round trip by hypothesis, the band-change matrix and the changed
accounts by hand, the blend, the ROC curve against the rank AUC). The page then runs with
Streamlit's ``AppTest`` on a 300-account demo built once for the module; each test works on its
own copy of the state store, so saves never leak between tests. Nothing reads data/cs.duckdb.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest
from ui.backtest import NO_MRR
from ui.frame import plain

from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, accounts_rows, chart_figures, cli, events_rows, write_csv
from scoring import comparison, profiles, tuning
from scoring.access import Viewer
from scoring.outcomes import backtest_dates
from scoring.current import load_book
from scoring.demo import build_demo
from scoring.engine import default_as_of
from scoring.history import resolve_profile
from scoring.normalize import Normalisation, normalise
from scoring.outcomes import rank_auc
from scoring.portfolio import BAND_LABELS
from scoring.profile import Bands, demo_profile
from scoring.scope import Scope
from scoring.scores import BANDS, effective_shares, score_book
from scoring.state import StateStore
from scoring.store import DataStore
from scoring.validate import backtest_frame, quick_figures

APP = str(ROOT / "app.py")
PAGE = "pages/4_Tune_weights.py"
TIMEOUT = 120


# ---------------------------------------------------------------- pure: the proposal and its link


def grid_profile():
    """The classic profile with one grid signal (its grid is kept as written)."""
    p = demo_profile()
    grid = Normalisation("grid", "book", ((1.0, 0.0), (5.0, 60.0), (20.0, 100.0)))
    sigs = list(p.signals)
    sigs[4] = dataclasses.replace(sigs[4], normalisation=grid)
    return dataclasses.replace(p, signals=tuple(sigs))


BASE = grid_profile()
NAMES = [s.name for s in BASE.signals]
weight = hs.floats(0, 100, allow_nan=False) | hs.integers(0, 100).map(float)


@hs.composite
def proposals(draw) -> tuning.Proposal:
    lo = draw(hs.floats(0, 100, allow_nan=False))
    return tuning.Proposal(
        "classic@3", draw(hs.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1))),
        {n: draw(weight) for n in NAMES}, {n: draw(hs.sampled_from(["higher", "lower"])) for n in NAMES},
        {n: "grid" if n == "api_calls" else draw(hs.sampled_from(tuning.TUNABLE_METHODS)) for n in NAMES},
        Bands(lo, draw(hs.floats(lo, 100, allow_nan=False))),
        {c: draw(hs.floats(0, 1e6, allow_nan=False)) for c in BASE.health_weights})


@settings(max_examples=150, deadline=None)
@given(proposals())
def test_link_round_trip(p):
    params = tuning.to_params(p)
    assert all(isinstance(v, str) for v in params.values())
    start = tuning.proposal_of(BASE, p.base, p.as_of)
    back, problems = tuning.from_params(params, start)
    assert problems == [] and back == p
    assert tuning.read_as_of(params, dt.date(2000, 1, 1)) == (p.as_of, None)
    assert not tuning.link_changed(params, params) and tuning.stale_params(params, params) == []
    # the typed widget values read back to the same proposal, and give the profile to save
    assert tuning.from_widgets(tuning.widget_values(p), start) == p
    prof = tuning.proposed_profile(BASE, p, name="tuned")
    assert [s.weight for s in prof.signals] == [p.weights[n] for n in NAMES]
    assert prof.signal("api_calls").normalisation == BASE.signal("api_calls").normalisation
    assert prof.bands == p.bands and prof.name == "tuned" and prof.version is None


def test_link_with_bad_values_keeps_the_base_and_says_why():
    start = tuning.proposal_of(BASE, "classic@1", dt.date(2026, 1, 1))
    p, problems = tuning.from_params({"w.logins": "lots", "w.api_calls": "101", "dir.logins": "up",
                                      "norm.api_calls": "logz", "norm.logins": "logz", "at_risk_below": "-1",
                                      "hw.nps": "inf", "w.teammates_invited": ["5", "7"]}, start)
    assert p.weights["logins"] == 20 and p.weights["api_calls"] == 10 and p.weights["teammates_invited"] == 7
    assert p.directions["logins"] == "higher" and p.methods["logins"] == "logz"
    assert p.methods["api_calls"] == "grid"  # a grid keeps its grid, whatever the link says
    assert p.bands == BASE.bands and p.health_weights["nps"] == 15
    assert len(problems) == 5 and any("w.logins='lots'" in x for x in problems)
    assert tuning.read_as_of({"as_of": "2026-13-01"}, dt.date(2026, 1, 1))[1]
    assert tuning.read_as_of({"as_of": "2027-01-01"}, dt.date(2026, 1, 1), latest=dt.date(2026, 6, 1)) == (
        dt.date(2026, 1, 1), "as_of=2027-01-01 is after the data's as-of date 2026-06-01")


def test_weights_above_100_are_scaled_onto_the_sliders():
    p = dataclasses.replace(BASE, signals=tuple(dataclasses.replace(s, weight=s.weight * 10) for s in BASE.signals))
    w = tuning.slider_weights(p)
    assert max(w.values()) == 100 and w["logins"] == pytest.approx(100 * 200 / 300)


def test_cache_keys_follow_what_each_preparation_depends_on():
    cat = pd.DataFrame({"event_type": ["login"], "feature": ["login"], "dimension": ["frequency"],
                        "value_action": [False]})
    start = tuning.proposal_of(BASE, "x", dt.date(2026, 1, 1))
    heavier = tuning.proposed_profile(BASE, dataclasses.replace(start, weights={**start.weights, "logins": 90}))
    turned = tuning.proposed_profile(BASE, dataclasses.replace(start, directions={**start.directions,
                                                                                 "logins": "lower"}))
    banded = tuning.proposed_profile(BASE, dataclasses.replace(start, bands=Bands(10, 20)))
    assert {tuning.inputs_key(p, cat) for p in (BASE, heavier, turned, banded)} == {tuning.inputs_key(BASE, cat)}
    assert tuning.settings_key(heavier) == tuning.settings_key(banded) == tuning.settings_key(BASE)
    assert tuning.settings_key(turned) != tuning.settings_key(BASE)
    assert tuning.inputs_key(BASE, cat.assign(value_action=True)) != tuning.inputs_key(BASE, cat)


def test_profile_choices():
    ch = tuning.profile_choices([("classic", 1, False, ""), ("classic", 2, True, "n"), ("alt", 1, False, "")])
    assert ch.refs == ("alt@1", "classic@2", "classic@1", "default") and ch.default == ch.published == "classic@2"
    assert ch.labels["classic@2"] == "classic@2 (published)"
    none = tuning.profile_choices([("default", 1, False, "")])
    assert none.refs == ("default@1",) and none.default == "default@1" and none.published is None


# ---------------------------------------------------------------- pure: comparisons


def test_band_change_matrix_by_hand():
    at_risk, watch, healthy, new = range(4)
    saved = np.array([at_risk, at_risk, watch, healthy, new, watch])
    proposed = np.array([at_risk, watch, watch, watch, new, at_risk])
    arr = np.array([10.0, 20.0, 30.0, 40.0, np.nan, 60.0])
    counts, money = comparison.band_change(saved, proposed, arr)
    expect = pd.DataFrame(0, index=list(BANDS), columns=list(BANDS))
    expect.loc["at_risk", "at_risk"] = 1
    expect.loc["at_risk", "watch"] = 1
    expect.loc["watch", "watch"] = 1
    expect.loc["healthy", "watch"] = 1
    expect.loc["new", "new"] = 1
    expect.loc["watch", "at_risk"] = 1
    assert (counts.to_numpy() == expect.to_numpy()).all() and list(counts.index) == list(BANDS)
    assert money.loc["at_risk", "watch"] == 20 and money.loc["healthy", "watch"] == 40
    assert money.loc["new", "new"] == 0 and money.to_numpy().sum() == 160


def test_changed_accounts_largest_arr_first():
    saved = np.array([0, 0, 1, 1, 2, 2, 3])
    proposed = np.array([1, 0, 2, 1, 1, 2, 0])  # positions 0, 2, 4, 6 change
    arr = np.array([5.0, 99.0, 7.0, 98.0, 7.0, 97.0, np.nan])
    assert comparison.changed_accounts(saved, proposed, arr).tolist() == [2, 4, 0, 6]  # ties by position
    assert comparison.changed_accounts(saved, proposed, arr, limit=2).tolist() == [2, 4]
    assert comparison.changed_accounts(saved, saved, arr).tolist() == []
    mine = np.array([True, True, False, True, True, True, False])
    assert comparison.changed_accounts(saved, proposed, arr, within=mine).tolist() == [4, 0]


def test_changed_table_is_those_rows_of_the_book():
    inputs = pd.DataFrame({"name": pd.array(["a", "b", None, "d", "e"], dtype="str"),
                           "csm_owner": pd.array(["x", "y", "x", None, "y"], dtype="str"),
                           "arr": [10.0, np.nan, 30.0, 40.0, 50.0]},
                          index=pd.Index(["A1", "A2", "A3", "A4", "A5"], name="account_id"))
    health = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    cmp = comparison.Comparison(None, None, np.array([0, 1, 2, 3, 0]), np.array([1, 1, 0, 3, 2]))
    cmp = dataclasses.replace(cmp, saved=dataclasses.make_dataclass("W", ["health"])(health),
                              proposed=dataclasses.make_dataclass("W", ["health"])(health + 1))
    rows = np.array([4, 2, 0])
    table = comparison.changed_table(inputs, cmp, rows)
    ref = inputs.iloc[rows]
    assert list(table.index) == ["A5", "A3", "A1"] and table.index.name == "account_id"
    assert table["name"].tolist()[0::2] == ["e", "a"] and pd.isna(table["name"].iloc[1])
    assert table["csm_owner"].tolist() == ref["csm_owner"].tolist()
    assert table["arr"].tolist() == [50.0, 30.0, 10.0]
    assert table["saved_band"].tolist() == [BANDS[0], BANDS[2], BANDS[0]]
    assert table["proposed_band"].tolist() == [BANDS[2], BANDS[0], BANDS[1]]
    assert table["saved_health"].tolist() == [50.0, 30.0, 10.0]
    assert table["proposed_health"].tolist() == [51.0, 31.0, 11.0]
    assert len(comparison.changed_table(inputs, cmp, np.array([], dtype=np.intp))) == 0


def test_changed_accounts_sent_as_arrow_hold_what_the_frame_holds():
    from ui import charts

    table = pd.DataFrame({"name": pd.array(["<b>x</b>", None], dtype="str"), "csm_owner": ["c", None],
                          "arr": [5.0, np.nan], "saved_band": ["watch", "new"]},
                         index=pd.Index(["A 1", "A2"], name="account_id"))
    arrow = charts.linked_accounts(table).to_pandas()
    assert list(arrow.columns) == ["account", "csm_owner", "arr", "saved_band"]
    assert arrow["account"].tolist() == charts.account_links(table.index, table["name"]).tolist()
    assert arrow["account"].tolist()[0] == "Account?account=A%201#%3Cb%3Ex%3C%2Fb%3E"
    assert arrow["saved_band"].tolist() == ["watch", "new"] and arrow["arr"].iloc[0] == 5.0
    assert pd.isna(arrow["arr"].iloc[1]) and pd.isna(arrow["csm_owner"].iloc[1])


def test_figures_keys_follow_what_the_figures_depend_on():
    from ui import backtest as bk
    from scoring.validate import Backtest

    cat = pd.DataFrame({"event_type": ["login"], "feature": ["login"], "dimension": ["frequency"],
                        "value_action": [False]})
    start = tuning.proposal_of(BASE, "x", dt.date(2026, 1, 1))

    def bt(profile, **kw):
        return Backtest(profile, kw.get("horizon", 90), kw.get("score", "health"), None, ())

    heavier = tuning.proposed_profile(BASE, dataclasses.replace(start, weights={**start.weights, "logins": 90}))
    banded = tuning.proposed_profile(BASE, dataclasses.replace(start, bands=Bands(10, 20)))
    renamed = dataclasses.replace(BASE, name="other", description="same settings")
    base = bk.figures_key(bt(BASE), cat)
    assert bk.figures_key(bt(renamed), cat) == base  # names do not change figures
    others = [bk.figures_key(bt(heavier), cat), bk.figures_key(bt(banded), cat),
              bk.figures_key(bt(BASE, horizon=60), cat), bk.figures_key(bt(BASE, score="engagement"), cat),
              bk.figures_key(bt(BASE), cat.assign(value_action=True))]  # a reclassification
    assert len({base, *others}) == 6
    # the Validation report's key, too, follows a reclassification (it once did not)
    assert bk.document_key(BASE, cat) != bk.document_key(BASE, cat.assign(value_action=True))
    assert bk.document_key(BASE, cat) == bk.document_key(BASE, cat.copy())


def test_blend():
    cur, sug = {"a": 30.0, "b": 10.0, "c": 0.0}, {"a": 0.0, "b": 50.0, "c": 50.0}
    assert comparison.blend(cur, sug, 0) == {"a": 75.0, "b": 25.0, "c": 0.0}
    assert comparison.blend(cur, sug, 1) == {"a": 0.0, "b": 50.0, "c": 50.0}
    half = comparison.blend(cur, sug, 0.5)
    assert half == pytest.approx({"a": 37.5, "b": 37.5, "c": 25.0}) and sum(half.values()) == pytest.approx(100)
    assert comparison.blend({"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 3.0}, 0.5) == pytest.approx({"a": 25.0, "b": 75.0})
    with pytest.raises(ValueError):
        comparison.blend(cur, sug, 1.5)


@settings(max_examples=60, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 6), hs.booleans()), min_size=2, max_size=60))
def test_roc_area_is_the_rank_auc(rows):
    score = np.array([float(s) for s, _ in rows])
    churned = np.array([c for _, c in rows])
    x, y = comparison.roc_curve(score, churned)
    if churned.all() or not churned.any():
        assert len(x) == 0
        return
    assert (x[0], y[0], x[-1], y[-1]) == (0, 0, 1, 1) and (np.diff(x) >= 0).all() and (np.diff(y) >= 0).all()
    assert np.trapezoid(y, x) == pytest.approx(rank_auc(score, churned))


def test_flip_sentences_and_figure_text():
    rows = [{"signal": "a", "label": "Errors <b>hit</b>", "direction": "higher", "auc": 0.41,
             "auc_ci": [0.35, 0.47]}, {"signal": "b", "label": "B", "direction": "higher", "auc": 0.6,
                                       "auc_ci": [0.55, 0.65]}]
    [line] = comparison.flip_sentences(rows, ("a",))
    assert line.startswith("Errors <b>hit</b> works the other way round") and '"lower"' in line
    q = {"auc": None, "auc_ci": None, "pr_auc": None, "lift_at_risk": 3.2, "recall_at_risk": 0.5,
         "recall_at_capacity": None, "precision_at_capacity": 0.1, "healthy_share": 0.25,
         "early_warning_share": None, "n_accounts": 1200, "n_churned": 7,
         "floors": {"auc": None, "healthy_share": True}}
    text = comparison.quick_rows(q)
    assert text["ROC AUC (95% CI)"] == "n/a" and text["at_risk lift"] == "3.20x"
    assert text["account-dates / churned"] == "1,200 / 7" and text["floor: ROC AUC >= 0.70"] == "n/a"
    assert text["floor: no more than 80% of the book is healthy"] == "PASS"


# ---------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    db = tmp_path_factory.mktemp("tune") / "cs.duckdb"
    build_demo(db, accounts=300, seed=23)
    return db, db.with_name("cs.state.sqlite")


def copy_state(src: Path, dst: Path) -> Path:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


@pytest.fixture
def env(demo, tmp_path, monkeypatch) -> tuple[Path, Path]:
    db, state = demo
    mine = copy_state(state, tmp_path / "state.sqlite")
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(mine))
    return db, mine


def backtest_table(at: AppTest) -> pd.DataFrame:
    """The saved-against-proposed backtest table (the page's last static table) as people read it:
    ``text_table`` escapes Markdown punctuation, which the page shows as written."""
    table = at.table[-1].value.map(lambda v: re.sub(r"\\(.)", r"\1", v))
    return table.set_index("figure")


def open_page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).switch_page(PAGE)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def bands_of(at: AppTest) -> dict[str, int]:
    label = {v: k for k, v in BAND_LABELS.items()}
    return {label[m.label]: int(m.value.replace(",", "")) for m in at.metric if m.label in label}


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def open_settings(at: AppTest, is_open: bool = True) -> AppTest:
    """Unfold (or fold) the directions, normalisations and health weights: drawn only when open."""
    at.session_state["tw_settings"] = is_open
    return run(at)


def drawn_settings(at: AppTest) -> list[str]:
    return [w.key for w in [*at.selectbox, *at.number_input]
            if w.key.startswith((tuning.DIRECTION, tuning.METHOD, tuning.HEALTH))]


def move(at: AppTest) -> AppTest:
    """A proposal that changes every kind of value: weights, a direction, a method, a threshold."""
    open_settings(at)
    at.slider(key="w.logins").set_value(80.0)
    at.slider(key="w.reports_generated").set_value(5.0)
    at.selectbox(key="dir.api_calls").set_value("lower")
    at.selectbox(key="norm.integrations_connected").set_value("logz")
    at.number_input(key="at_risk_below").set_value(50.0)
    return run(at)


def test_slider_move_rescores_the_book_as_score_book_does(env):
    db, state = env
    at = open_page()
    before = bands_of(at)
    assert at.session_state["base"] == "classic@1"
    assert not any(m.delta for m in at.metric if m.label in BAND_LABELS.values())
    at.slider(key="w.logins").set_value(100.0)
    at.slider(key="w.reports_generated").set_value(0.0)
    after = bands_of(run(at))
    assert after != before
    # each slider's label says its share of engagement under the proposal; the values stay put
    sliders = {x.key: x for x in at.slider if x.key.startswith(tuning.WEIGHT)}
    weights = {k[len(tuning.WEIGHT):]: x.value for k, x in sliders.items()}
    shares = dict(zip(weights, effective_shares(list(weights.values()), demo_profile().max_signal_share)))
    assert sliders["w.logins"].value == 100.0 and sliders["w.reports_generated"].value == 0.0
    for name, x in sliders.items():
        share = shares[name[len(tuning.WEIGHT):]]
        assert x.label.split(" · ")[1].startswith(f"share {share:.1%}"), (x.label, share)
    assert sliders["w.reports_generated"].label.endswith("share 0.0%")
    ds = DataStore(db)
    with ds.cursor() as con:
        base, cat = resolve_profile(con, StateStore(state), "classic@1")
        book = load_book(con, base, cat, default_as_of(con))
    weights = {**tuning.slider_weights(base), "logins": 100.0, "reports_generated": 0.0}
    proposed = dataclasses.replace(base, signals=tuple(dataclasses.replace(s, weight=weights[s.name])
                                                       for s in base.signals))
    expect = score_book(book.inputs, normalise(book.inputs, proposed), proposed)["band"].value_counts()
    assert after == {b: int(expect[b]) for b in BANDS}
    assert before == {b: int(book.scores["band"].value_counts()[b]) for b in BANDS}
    changed = next(d.value for d in at.dataframe if "account" in d.value.columns)
    assert 0 < len(changed) <= 50
    assert changed["account"].str.startswith("Account?account=").all()
    assert changed["arr"].is_monotonic_decreasing
    assert (changed["saved_band"] != changed["proposed_band"]).all()
    # each row is its account's: name, CSM, ARR and bands and health saved and proposed
    from urllib.parse import unquote, urlsplit
    scored = score_book(book.inputs, normalise(book.inputs, proposed), proposed)
    for _, row in changed.iterrows():
        link = urlsplit(row["account"])
        aid = unquote(link.query.removeprefix("account="))
        assert unquote(link.fragment) == book.inputs.loc[aid, "name"]
        assert row["csm_owner"] == book.inputs.loc[aid, "csm_owner"] and row["arr"] == book.inputs.loc[aid, "arr"]
        assert row["saved_band"] == book.scores.loc[aid, "band"] and row["proposed_band"] == scored.loc[aid, "band"]
        assert row["saved_health"] == pytest.approx(book.scores.loc[aid, "health_score"])
        assert row["proposed_health"] == pytest.approx(scored.loc[aid, "health_score"])


def test_proposed_auc_is_validates_and_the_proposal_saves_and_publishes(env):
    db, state = env
    at = move(open_page())
    shown = metric(at, "ROC AUC, proposed")
    at.text_input(key="tw_name").input("tuned")
    at.text_area(key="tw_note").input("heavier logins <b>test</b>")
    at.button(key="tw_save").click()
    run(at)
    assert any("Saved tuned@1" in s for s in texts(at.success))
    saved = profiles.load(StateStore(state), "tuned")
    assert saved.signal("logins").weight == 80 and saved.signal("api_calls").direction == "lower"
    assert saved.signal("integrations_connected").normalisation.method == "logz"
    assert saved.bands.at_risk_below == 50
    [info] = profiles.versions(StateStore(state), "tuned")
    assert (info.author, info.note, info.published) == ("single-user", "heavier logins <b>test</b>", False)
    done = cli("validate", "--db", str(db), "--state", str(state), "--profile", "tuned@1", "--json")
    assert done.returncode == 0, done.stderr
    reported = json.loads(done.stdout)
    ds = DataStore(db)
    with ds.cursor() as con:
        profile, cat = resolve_profile(con, StateStore(state), "tuned@1")
        dates = backtest_dates(con, window_days=profile.window_days, horizon=90, count=6)
        q = quick_figures(backtest_frame(con, profile, dates, horizon=90, catalogue=cat),
                          {s.name: s.weight for s in profile.signals})
    assert q["auc"] == reported["auc"] and q["n_churned"] == reported["n_churned"]
    assert q["pr_auc"] == reported["pr_auc"] and q["auc_ci"] == reported["auc_ci"]
    assert shown == f"{reported['auc']:.3f}"
    assert backtest_table(at).loc["ROC AUC (95% CI)", "proposed"].startswith(shown)
    at.button(key="tw_publish").click()
    run(at)
    assert profiles.published(StateStore(state)).ref == "tuned@1"


def test_settings_are_drawn_only_when_unfolded_and_keep_their_values(env):
    """The directions, normalisations and health weights are drawn only while their expander is
    open (hidden, they cost a new visitor's browser about 0.2 s); folded away, their values stay
    in the proposal, its link and its scores, and the page says what differs from the base."""
    at = open_page()
    assert drawn_settings(at) == []
    assert at.expander[0].label == "Direction and normalisation per signal, health component weights"
    open_settings(at)
    assert {f"{tuning.DIRECTION}api_calls", f"{tuning.METHOD}logins", f"{tuning.HEALTH}nps"} <= set(drawn_settings(at))
    at.selectbox(key="dir.api_calls").set_value("lower")
    at.selectbox(key="norm.integrations_connected").set_value("logz")
    at.number_input(key="hw.nps").set_value(40.0)
    unfolded = bands_of(run(at))
    link = {k: at.query_params[k] for k in at.query_params}
    open_settings(at, False)
    assert drawn_settings(at) == []
    at.slider(key="w.logins").set_value(80.0)
    run(at)  # a slider move (the fragment), then a full rerun: neither draws nor loses the settings
    run(at)
    assert at.query_params["dir.api_calls"] == "lower" and at.query_params["norm.integrations_connected"] == "logz"
    assert at.query_params["hw.nps"] == "40"
    assert at.expander[0].label.endswith("(3 changed)")
    said = " ".join(c.value for c in at.caption)
    label = {s.name: s.label for s in demo_profile().signals}
    assert plain(f"{label['api_calls']}: lower is better") in said
    assert plain(f"{label['integrations_connected']}: logz") in said and "nps weight 40" in said
    fresh = open_page({k: at.query_params[k] for k in at.query_params})  # the same proposal, folded
    assert drawn_settings(fresh) == [] and bands_of(fresh) == bands_of(at)
    folded = open_page(link)  # the link taken while unfolded scores the same folded away
    assert drawn_settings(folded) == [] and bands_of(folded) == unfolded
    assert bands_of(open_page()) != unfolded  # (the settings do change the scores)


def test_a_link_reopens_the_proposal_exactly(env):
    at = move(open_page())
    params = {k: at.query_params[k] for k in at.query_params}
    assert params["base"] == "classic@1" and params["w.logins"] == "80" and params["dir.api_calls"] == "lower"
    assert params["norm.integrations_connected"] == "logz" and params["at_risk_below"] == "50"
    fresh = open_page(params)
    assert bands_of(fresh) == bands_of(at)
    assert metric(fresh, "ROC AUC, proposed") == metric(at, "ROC AUC, proposed")
    assert backtest_table(fresh).equals(backtest_table(at))
    assert {k: fresh.query_params[k] for k in fresh.query_params} == params
    # a link opened over a running session decides again
    fresh.query_params["w.logins"] = "33"
    assert run(fresh).slider(key="w.logins").value == 33 and fresh.query_params["w.logins"] == "33"
    # a link with unusable values says so and keeps the base's
    odd = open_page({**params, "w.logins": "lots", "base": "nosuch@9"})
    warned = " ".join(texts(odd.warning))
    assert "nosuch@9" in warned and odd.slider(key="w.logins").value == 20


def test_all_zero_weights_is_refused_and_saves_nothing(env):
    _, state = env
    at = open_page()
    for s in at.slider:
        if str(s.key).startswith("w."):
            s.set_value(0.0)
    run(at)
    assert any("all signal weights are zero" in e for e in texts(at.error))
    assert not any(m.label == "ROC AUC, proposed" for m in at.metric)
    before = len(profiles.versions(StateStore(state), "classic"))
    at.text_input(key="tw_name").input("zeros")
    at.button(key="tw_save").click()
    run(at)
    assert any(e.startswith("Not saved:") and "all signal weights are zero" in e for e in texts(at.error))
    assert len(profiles.versions(StateStore(state), "classic")) == before
    assert "zeros" not in [p.name for p in profiles.list_profiles(StateStore(state))]


def test_viewers_without_the_permission_cannot_save_and_see_their_accounts_only(env, monkeypatch):
    import ui.auth
    import ui.frame

    db, _ = env
    owner = DataStore(db).rows("SELECT csm_owner FROM accounts GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0][0]
    csm = Viewer(owner, "csm", "t", Scope.for_owners({owner}), False)
    monkeypatch.setattr(ui.auth, "current_viewer", lambda: csm)
    monkeypatch.setattr(ui.frame, "viewer_scope", lambda: csm.scope)
    at = open_page()
    assert any("may not edit and publish weight profiles" in e for e in texts(at.error))
    assert not [b for b in at.button if b.key in ("tw_save", "tw_publish")]
    at.slider(key="w.logins").set_value(100.0)
    at.slider(key="w.reports_generated").set_value(0.0)
    changed = next(d.value for d in run(at).dataframe if "account" in d.value.columns)
    assert len(changed) and set(changed["csm_owner"]) == {owner}
    assert any("of them yours" in m for m in texts(at.markdown))


def test_without_mrr_history_the_backtest_says_so(tmp_path, monkeypatch):
    from scoring.ingest import import_dir

    d = tmp_path / "in"
    write_csv(d / "accounts.csv", ACCOUNT_COLS, accounts_rows())
    write_csv(d / "usage_events.csv", EVENT_COLS, events_rows())
    db = tmp_path / "store" / "cs.duckdb"
    import_dir(d, db)
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(tmp_path / "state.sqlite"))
    at = open_page()
    assert at.session_state["base"] == "default"
    assert plain(NO_MRR) in texts(at.info)
    assert sum(bands_of(at).values()) == 5


def test_previews_and_suggested_weights(env):
    at = open_page()
    at.session_state["tw_preview"] = True  # open the two expanders that draw only when open
    at.session_state["tw_suggest"] = True
    run(at)
    previews = [k for k, fig in chart_figures(at).items() if "normalised (1 = best)" in json.dumps(fig)]
    assert len(previews) == 5
    at.slider(key="tw_blend").set_value(0.5)
    table = next(d.value for d in run(at).dataframe if "blended" in d.value.columns)
    assert list(table.index) == [s.key[2:] for s in at.slider if str(s.key).startswith("w.")]
    mix = comparison.blend(table["current"].to_dict(), table["suggested"].to_dict(), 0.5)
    assert table["blended"].to_dict() == mix and sum(mix.values()) == pytest.approx(100, abs=0.3)
    assert any("in sample" in c for c in texts(at.caption))
    at.button(key="tw_apply").click()
    run(at)
    assert {k: at.slider(key="w." + k).value for k in mix} == mix
    assert at.query_params["w.logins"] == tuning.to_params(dataclasses.replace(
        tuning.proposal_of(demo_profile(), "x", dt.date(2026, 1, 1)), weights=mix))["w.logins"]
