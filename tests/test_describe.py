"""The "How scores work" page (``scoring.describe``) and the Data page's classification editor."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from scoring import dataview, describe
from scoring.profile import Expansion, Normalisation, demo_profile
from scoring.state import StateStore
from test_app import run_app, seeded  # noqa: F401 (fixture)

HOW = "pages/6_How_scores_work.py"
DATA = "pages/9_Data.py"


def test_signal_table_states_what_each_signal_counts_and_its_share_after_the_cap():
    p = demo_profile()
    capped = dataclasses.replace(p, max_signal_share=0.25, signals=(
        dataclasses.replace(p.signals[0], normalisation=Normalisation("grid", "book", ((1, 10), (5, 90)))),
        *p.signals[1:]))
    table = describe.signal_table(capped).set_index("signal")
    assert table.loc["reports_generated", "counts"] == \
        "Sum of quantity over events of type report_generated in the last 30 days"
    assert table.loc["logins", "normalisation"] == "grid: up to 1 -> 10 points; up to 5 -> 90 points"
    assert table.loc["api_calls", "normalisation"] == "percentile within the segment"
    # reports weigh 30 of 100 but no signal may carry more than 25%: the excess goes to the rest
    assert table.loc["reports_generated", "share"] == pytest.approx(0.25)
    assert table["share"].sum() == pytest.approx(1.0)
    rules = describe.rules(dataclasses.replace(p, expansion=Expansion(0.8, 0.2)))
    assert "at_risk: health below 55; watch: 55 to below 70" in rules["bands"]
    assert "at least 80%" in rules["expansion"] and "at least 20%" in rules["expansion"]


def test_component_formulas_are_the_code_docstrings():
    table = describe.component_table(demo_profile()).set_index("component")
    from scoring.health import support_component

    assert table.loc["support", "formula"] == describe.doc_of(support_component)
    assert table["share"].sum() == pytest.approx(1.0)


def test_how_scores_work_page_shows_the_profile_and_coverage(seeded):  # noqa: F811
    at = run_app(HOW)
    signals = at.dataframe[0].value
    assert list(signals["signal"]) == ["days_active", "features_used", "value_actions_per_user",
                                       "users_per_seat", "integration_events"]
    assert signals["coverage"].between(0, 1).all()
    components = at.dataframe[1].value.set_index("component")
    # the seeded store has no NPS, tickets, invoices or MRR: only engagement has data
    assert components.loc["engagement", "coverage"] == 1.0
    assert components.loc["nps", "coverage"] == 0.0


def test_classification_changes_are_the_edited_rows_only():
    before = pd.DataFrame({"event_type": ["login", "odd", "report"], "feature": ["login", "odd", "Reports"],
                           "dimension": ["frequency", None, "depth"], "value_action": [False, False, True],
                           "source": ["imported", "unclassified", "imported"]})
    edited = before.copy()
    assert dataview.classification_changes(before, edited) == []
    edited.loc[1, ["dimension", "value_action"]] = ["integration", True]
    edited.loc[2, "feature"] = "Reporting"
    assert dataview.classification_changes(before, edited) == [
        ("odd", None, "integration", True), ("report", "Reporting", "depth", True)]
    edited.loc[1, "dimension"] = None
    with pytest.raises(ValueError, match="odd: choose a dimension"):
        dataview.classification_changes(before, edited)


def test_classify_many_saves_all_or_nothing_and_logs_each(tmp_path):
    state = StateStore(tmp_path / "s.sqlite")
    state.classify_many([("a", None, "depth", True), ("b", "B", "breadth", False)], author="ops")
    assert state.classifications() == {"a": (None, "depth", True), "b": ("B", "breadth", False)}
    with pytest.raises(ValueError, match="c: dimension 'nowhere'"):
        state.classify_many([("a", None, "frequency", False), ("c", None, "nowhere", False)], author="ops")
    assert state.classifications()["a"] == (None, "depth", True)  # nothing of the failed batch
    assert state.unclassify("a", author="ops") and not state.unclassify("a", author="ops")
    actions = [r[0] for r in state.read("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["classify", "classify", "unclassify"]


def test_data_page_editor_lists_every_event_type_with_its_source(seeded):  # noqa: F811
    at = run_app(DATA)
    table = next(d.value for d in at.dataframe if {"event_type", "source", "value_action"} <= set(d.value.columns))
    sources = dict(zip(table.event_type, table.source))
    assert sources["legacy_sync"] == "app" and sources["login"] == "imported"
    assert sources["mystery_click"] == "unclassified"
