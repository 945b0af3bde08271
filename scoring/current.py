"""The book as of the default date: its inputs stored at import and snapshot, read by the pages.

Pages must never aggregate raw events while someone waits, so the writers (``import``, ``demo``,
``snapshot`` of the default date) store the inputs frame of the default as-of date for the profile
in use in the data store (table ``current_inputs``, one row per active account, the columns of
``signals.input_columns``), with a key in ``meta`` naming what it was computed for. A reader uses
the stored frame only when the key matches the profile document, the catalogue and the date it
asks for; otherwise (a profile published since, a classification changed in the app, another
date) it computes the frame live. Either way the numbers are the same: a test compares them.

Peers are the whole book. Normalisation compares an account with its peers, so the book is
always scored whole and a viewer's scope only selects rows afterwards: a CSM sees the very
numbers a manager sees for the same account.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .memo import Memo
from .normalize import Normalised, normalise
from .profile import Profile, SignalDef
from .profile_toml import to_toml
from .scope import Scope
from .scores import score_book
from .signals import compute_inputs, typed_inputs

if TYPE_CHECKING:
    import duckdb

TABLE = "current_inputs"
KEY = "current_inputs_key"  # meta key: fingerprint of (profile document, catalogue, as-of date)


def fingerprint(profile: Profile, catalogue: pd.DataFrame, as_of: dt.date) -> str:
    """What a stored inputs frame was computed for: the profile as written (its TOML, name and
    version), every catalogue row, and the as-of date. Equal fingerprints, equal frames."""
    h = hashlib.sha256()
    h.update(f"{profile.ref}\n{as_of.isoformat()}\n".encode())
    h.update(to_toml(profile).encode())
    h.update(catalogue_digest(catalogue).encode())
    return h.hexdigest()


_digests: dict[int, tuple[weakref.ref, str]] = {}


def catalogue_digest(catalogue: pd.DataFrame) -> str:
    """SHA-256 of every catalogue row in event-type order, remembered per frame object while it
    lives (a page fingerprints the same catalogue several times a rerun). Catalogue frames are
    never changed in place anywhere: a changed catalogue is a new frame."""
    seen = _digests.get(id(catalogue))
    if seen is not None and seen[0]() is catalogue:
        return seen[1]
    digest = hashlib.sha256(catalogue.sort_values("event_type").to_csv(index=False).encode()).hexdigest()
    key = id(catalogue)
    _digests[key] = (weakref.ref(catalogue, lambda _r, key=key: _digests.pop(key, None)), digest)
    return digest


def store_inputs(con: "duckdb.DuckDBPyConnection", profile: Profile, catalogue: pd.DataFrame,
                 as_of: dt.date) -> int:
    """Compute the whole book's inputs frame as of ``as_of`` and store it (writers only)."""
    inputs = compute_inputs(con, profile, as_of=as_of, scope=Scope.everyone(), catalogue=catalogue)
    rows = inputs.reset_index()
    con.register("_current_inputs", rows)
    try:
        con.execute("CREATE OR REPLACE TABLE " + TABLE + " AS SELECT * FROM _current_inputs")
    finally:
        con.unregister("_current_inputs")
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [KEY, fingerprint(profile, catalogue, as_of)])
    return len(rows)


def stored_inputs(con: "duckdb.DuckDBPyConnection", profile: Profile, catalogue: pd.DataFrame,
                  as_of: dt.date) -> pd.DataFrame | None:
    """The stored inputs frame when it was computed for exactly this profile, catalogue and date."""
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [KEY]).fetchall()
    if not rows or rows[0][0] != fingerprint(profile, catalogue, as_of):
        return None
    df = con.sql("SELECT * FROM " + TABLE).to_arrow_table().to_pandas()
    return typed_inputs(df)


def inputs_for(con: "duckdb.DuckDBPyConnection", profile: Profile, catalogue: pd.DataFrame,
               as_of: dt.date) -> tuple[pd.DataFrame, str]:
    """The whole book's inputs frame and where it came from (``"stored"`` or ``"computed"``)."""
    stored = stored_inputs(con, profile, catalogue, as_of)
    if stored is not None:
        return stored, "stored"
    return compute_inputs(con, profile, as_of=as_of, scope=Scope.everyone(), catalogue=catalogue), "computed"


@dataclass(frozen=True)
class Book(Memo):
    """The whole book scored as of one date with one profile. Treat every part as read-only."""

    as_of: dt.date
    profile: Profile
    inputs: pd.DataFrame  # the inputs frame, index account_id
    normalised: Normalised
    scores: pd.DataFrame  # score_book's columns after name, segment, plan, region, csm_owner, crm_id, arr
    source: str  # "stored" or "computed"
    catalogue: pd.DataFrame | None = None  # the event-type catalogue the inputs were computed with

    def catalogue_flags(self, signal: SignalDef) -> np.ndarray | None:
        """The value_action flags of the event types ``signal`` selects; None when it selects
        every event type (or the catalogue is unknown)."""
        cat = self.catalogue
        if cat is None or not (signal.event_types or signal.features):
            return None
        chosen = cat["event_type"].isin(signal.event_types) | cat["feature"].isin(signal.features)
        return cat.loc[chosen, "value_action"].to_numpy(dtype=bool)

    def visible(self, scope: Scope) -> pd.DataFrame:
        """The score rows the viewer may see: a new frame, changed by the caller at no risk to the
        book (pandas' copy-on-write copies a column when it is first written), and no deep copy
        of the whole book on every rerun."""
        if scope.owners is None:
            return self.scores.copy(deep=False)
        return self.scores[self.scores["csm_owner"].isin(scope.owners)]


def score_inputs(inputs: pd.DataFrame, profile: Profile,
                 normalised: Normalised | None = None) -> tuple[Normalised, pd.DataFrame]:
    """Normalise (unless ``normalised`` is given) and score an inputs frame; the account columns
    first, then ``score_book``'s."""
    normalised = normalise(inputs, profile) if normalised is None else normalised
    scored = score_book(inputs, normalised, profile)
    keep = ["name", "segment", "plan", "region", "csm_owner", "crm_id", "arr", "seats", "age_days"]
    return normalised, inputs[keep].join(scored)


def load_book(con: "duckdb.DuckDBPyConnection", profile: Profile, catalogue: pd.DataFrame,
              as_of: dt.date) -> Book:
    """Score the whole book as of ``as_of`` (stored inputs when they fit, else computed live)."""
    inputs, source = inputs_for(con, profile, catalogue, as_of)
    normalised, scores = score_inputs(inputs, profile)
    return Book(as_of, profile, inputs, normalised, scores, source, catalogue)
