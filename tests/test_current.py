"""The stored inputs of the default date (``scoring.current``): same numbers as computing live."""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import duckdb
import pandas as pd
import pytest

from scoring import current
from scoring.demo import build_demo
from scoring.engine import default_as_of, score_as_of
from scoring.history import resolve_profile, snapshot
from scoring.scope import Scope
from scoring.signals import compute_inputs
from scoring.state import StateStore


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("current") / "cs.duckdb"
    build_demo(db, accounts=300, seed=5)
    return db


def _state(db):
    return StateStore(db.with_name(db.stem + ".state.sqlite"))


def _copy(demo, tmp_path):
    db = tmp_path / "cs.duckdb"
    shutil.copyfile(demo, db)
    shutil.copyfile(demo.with_name(demo.stem + ".state.sqlite"), db.with_name("cs.state.sqlite"))
    return db


def test_import_stores_the_default_dates_inputs_exactly(demo):
    with duckdb.connect(str(demo), read_only=True) as con:
        profile, cat = resolve_profile(con, _state(demo), None)
        as_of = default_as_of(con)
        stored = current.stored_inputs(con, profile, cat, as_of)
        live = compute_inputs(con, profile, as_of=as_of, scope=Scope.everyone(), catalogue=cat)
        book = current.load_book(con, profile, cat, as_of)
    assert stored is not None, "the demo import stores the inputs of the default date"
    pd.testing.assert_frame_equal(stored, live)
    assert book.source == "stored"
    assert len(book.scores) == len(live)


def test_another_profile_date_or_classification_is_computed_live(demo, tmp_path):
    with duckdb.connect(str(demo), read_only=True) as con:
        profile, cat = resolve_profile(con, _state(demo), None)
        as_of = default_as_of(con)
        other = dataclasses.replace(profile, window_days=14)
        assert current.load_book(con, other, cat, as_of).source == "computed"
        earlier = as_of - dt.timedelta(days=7)
        assert current.load_book(con, profile, cat, earlier).source == "computed"
        et = cat.event_type.iloc[0]
        changed = cat.copy()
        changed.loc[changed.event_type == et, "value_action"] = ~changed.loc[changed.event_type == et, "value_action"]
        assert current.stored_inputs(con, profile, changed, as_of) is None


def test_snapshot_of_another_profile_refreshes_the_stored_inputs(demo, tmp_path):
    db = _copy(demo, tmp_path)
    state = _state(db)
    with duckdb.connect(str(db), read_only=True) as con:
        profile, cat = resolve_profile(con, state, None)
        as_of = default_as_of(con)
    from scoring import profiles

    profiles.save(state, dataclasses.replace(profile, window_days=21, version=None), author="t", note="")
    snapshot(db, db.with_name("cs.state.sqlite"), profile_ref=profile.name, as_of=None)
    with duckdb.connect(str(db), read_only=True) as con:
        newer, cat = resolve_profile(con, state, profile.name)
        assert newer.window_days == 21
        book = current.load_book(con, newer, cat, as_of)
        assert book.source == "stored"
        live = compute_inputs(con, newer, as_of=as_of, scope=Scope.everyone(), catalogue=cat)
    pd.testing.assert_frame_equal(book.inputs, live)


def test_a_scope_selects_rows_but_never_changes_numbers(demo):
    with duckdb.connect(str(demo), read_only=True) as con:
        profile, cat = resolve_profile(con, _state(demo), None)
        as_of = default_as_of(con)
        everyone = score_as_of(con, profile, as_of=as_of, scope=Scope.everyone(), catalogue_df=cat)
        owner = everyone.csm_owner.mode().iloc[0]
        mine = score_as_of(con, profile, as_of=as_of, scope=Scope.for_owners({owner}), catalogue_df=cat)
    assert 0 < len(mine) < len(everyone)
    assert set(mine.csm_owner) == {owner}
    expected = everyone[everyone.csm_owner == owner].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, expected)
