"""The frame every page shares: page setup, the menu, one data version, and the banner.

Each page starts with one call, ``page = frame("Title")``, and then reads only through ``page``:
``page.ds`` is the single ``DataStore`` of this rerun and ``page.query(fn, **kw)`` runs a query
function of the core (``fn(ds, scope=..., **kw)``) through ``st.cache_data``, keyed by the data
version, the viewer's scope and the arguments, so a swapped-in import or another viewer never
gets someone else's cached rows; ``page.shared`` is the same through ``st.cache_resource``, for
large results pages only read.

The banner says what the numbers rest on: the as-of date, the last import (and how old it is),
the weight profile, and DEMO DATA when the store is the demo. Text that comes from data or users
is never rendered as HTML; where it goes through Markdown, ``plain`` escapes it first.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

from scoring import dataview, paths
from scoring.current import Book, fingerprint, load_book
from scoring.errors import DataError
from scoring.profile import Profile
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataStore, Version
from ui import plot
from ui.auth import current_viewer, gate, show_viewer
from ui.hot import Index
from ui.process import setup_once
from ui.source import open_store

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

APP_TITLE = "Customer health"
DEFAULT_PROFILE = "default profile (built from the event-type catalogue)"
# The menu, drawn by hand (client.showSidebarNavigation = false): (script, label, icon).
# A page joins the menu once its script exists (pages arrive one at a time).
PAGES = (("app.py", "Portfolio", ":material/dashboard:"),
         ("pages/1_At_risk.py", "At risk", ":material/warning:"),
         ("pages/2_Expansion.py", "Expansion ready", ":material/trending_up:"),
         ("pages/3_Account.py", "Account", ":material/person_search:"),
         ("pages/4_Tune_weights.py", "Tune weights", ":material/tune:"),
         ("pages/5_Validation.py", "Validation", ":material/fact_check:"),
         ("pages/6_How_scores_work.py", "How scores work", ":material/functions:"),
         ("pages/8_Audit.py", "Audit log", ":material/history:"),
         ("pages/9_Data.py", "Data", ":material/database:"))
ROOT = Path(__file__).resolve().parent.parent


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(_fn: Callable[..., Any], name: str, _ds: DataStore, version: Version, scope: Scope,
            kwargs: dict[str, Any]) -> Any:
    return _fn(_ds, scope=scope, **kwargs)


_SHARED = Index(16)  # ui.hot, in front of _shared: large per-account results, so fewer than it holds


@st.cache_resource(show_spinner=False, max_entries=64)
def _shared(_fn: Callable[..., Any], name: str, _ds: DataStore, version: Version, scope: Scope,
            kwargs: dict[str, Any]) -> Any:
    return _fn(_ds, scope=scope, **kwargs)


@dataclass(frozen=True)
class Page:
    """What one rerun of one page reads: one data version, one viewer scope."""

    ds: DataStore
    scope: Scope
    facts: dataview.DataFacts

    @property
    def version(self) -> Version:
        return self.ds.version

    @property
    def state(self) -> StateStore:
        return _state_store(str(paths.state_path(self.ds.path)))

    def query(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(ds, scope=scope, **kwargs)``, cached per data version, scope and arguments."""
        return _query(self.ds, self.scope, fn, **kwargs)

    def shared(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``query``, but every rerun gets the same object, not a copy: for large results a page
        only reads (``st.cache_data`` unpickles its copy on every rerun: 10-60 ms for a
        100,000-row frame). The caller must not change what it gets."""
        name = f"{fn.__module__}.{fn.__qualname__}"
        key = (name, self.scope, tuple(sorted(kwargs.items())))

        def make() -> Any:
            return _shared(fn, name, self.ds, self.ds.version, self.scope, kwargs)

        try:
            hash(key)
        except TypeError:  # an argument Python cannot hash: Streamlit's own hasher only
            key = None
        # otherwise found without Streamlit's argument hashing (ui/hot.py)
        result = make() if key is None else _SHARED.get(self.ds.version, key, make)
        _swap_hook(self.ds)
        return result


    def profile(self, ref: str | None = None) -> tuple[Profile, "pd.DataFrame"]:
        """The profile ``ref`` (NAME, NAME@N; None: the published one, else the default) and the
        event-type catalogue with this state store's classifications."""
        from scoring.profiles import resolve

        cat = catalogue_of(self.ds, self.state.classifications())
        return resolve(self.state, ref, cat), cat

    def book(self, ref: str | None = None, as_of: dt.date | None = None) -> Book:
        """The whole book scored with profile ``ref`` as of ``as_of`` (default: the data's as-of
        date), shared by every rerun and viewer of this data version. Read-only: never modify it;
        take the viewer's rows with ``book.visible(page.scope)``."""
        profile, cat = self.profile(ref)
        when = as_of or (self.facts.as_of.date() if self.facts.as_of is not None else None)
        if when is None:
            raise DataError("the data store has no usage events yet, so there is nothing to score")
        key = fingerprint(profile, cat, when)
        return _book(self.ds, self.ds.version, key, when, profile, cat)

    def positions(self, book: Book, attrs: "pd.DataFrame") -> "np.ndarray":
        """Each of ``book.visible(scope)``'s rows' position among ``attrs``' rows (this page's
        ``shared(account_attributes)``), kept per data version, viewer and book, so a filter is a
        mask (``portfolio.view``) instead of a lookup of every account id on each rerun."""
        return _positions(self.ds.version, self.scope, fingerprint(book.profile, book.catalogue, book.as_of),
                          book, attrs)


@st.cache_resource(show_spinner=False, max_entries=16)
def _positions(version: Version, scope: Scope, key: str, _book: Book, _attrs: "pd.DataFrame") -> "np.ndarray":
    from scoring.portfolio import account_positions

    return account_positions(_attrs, _book.visible(scope))


def catalogue_of(ds: DataStore, overrides: dict) -> "pd.DataFrame":
    """The event-type catalogue of this data version with the app's classifications."""
    return _catalogue(ds, ds.version, tuple(sorted(overrides.items())))


@st.cache_resource(show_spinner=False, max_entries=64)
def _catalogue(_ds: DataStore, version: Version, overrides: tuple) -> "pd.DataFrame":
    # one shared frame per data version and classifications (read-only, never changed in place),
    # so its digest (scoring.current.catalogue_digest) is computed once, not on every rerun
    from scoring.signals import catalogue_ds

    return catalogue_ds(_ds, dict(overrides))


@st.cache_resource(show_spinner=False, max_entries=16)
def _state_store(path: str) -> StateStore:
    # one handle per state file and process: it checks the file's schema once and keeps one
    # connection for reads, not one per read (a page reads the store several times per rerun)
    return StateStore(path, keep_reader=True)


@st.cache_resource(show_spinner="Scoring the book…", max_entries=8)
def _book(_ds: DataStore, version: Version, key: str, as_of: dt.date, _profile: Profile,
          _cat: "pd.DataFrame") -> Book:
    # cache_resource hands every rerun the same object (no copy of the arrays per read); the key
    # is the data version plus the fingerprint of (profile document, catalogue, as-of date).
    with _ds.cursor() as con:
        return load_book(con, _profile, _cat, as_of)


def _query(ds: DataStore, scope: Scope, fn: Callable[..., Any], **kwargs: Any) -> Any:
    result = _cached(fn, f"{fn.__module__}.{fn.__qualname__}", ds, ds.version, scope, kwargs)
    _swap_hook(ds)
    return result


def _swap_hook(ds: DataStore) -> None:
    """Test hook: with ``CS_TEST_SWAP_WITH`` naming a data file, move it over the live data file
    right after a query (once: the file is gone afterwards), as an import landing mid-rerun
    would. Tests use it to show that one rerun reads one data version only."""
    other = os.environ.get("CS_TEST_SWAP_WITH")
    if other and os.path.exists(other):
        os.replace(other, ds.path)


def viewer_scope() -> Scope:
    """The accounts this viewer may see: the signed-in viewer's scope (``ui.auth``), or
    everyone's in single-user mode."""
    return current_viewer().scope


def profile_in_use(state: StateStore) -> str:
    """The banner's words for the profile scores use: the published one, else the default."""
    from scoring.profiles import published

    try:
        profile = published(state)
    except Exception as exc:  # shown in the banner, not hidden: the state store is unreadable
        return f"unknown (state store: {exc})"
    if profile is None:
        return DEFAULT_PROFILE
    return f"{profile.name} version {profile.version} (published)"


def frame(title: str, *, profile: str | None = None, charts: bool = False) -> Page:
    """Set up the page, draw the menu, the title and the banner, and return this rerun's data.

    ``charts``: the page draws Plotly charts (``ui.plot``); the browser starts loading plotly.js
    under the menu, before the page's first chart (a page without charts does not pay for it)."""
    setup_once()  # this process's settings, made once (ui/process.py says why)
    st.set_page_config(page_title=f"{title} · {APP_TITLE}", layout="wide")
    viewer = gate()  # sign-in: stops the page here unless this viewer may see data
    _menu(charts=charts)
    st.title(title)
    show_viewer(viewer)
    ds = open_store()
    scope = viewer_scope()
    page = Page(ds, scope, _query(ds, scope, dataview.data_facts))
    _banner(page, profile=profile or profile_in_use(page.state))
    return page


def _menu(*, charts: bool) -> None:
    with st.sidebar:
        st.markdown(f"**{APP_TITLE}**")
        for script, label, icon in PAGES:
            if (ROOT / script).exists():
                st.page_link(script, label=label, icon=icon)
        if charts:
            plot.preload()


def _banner(page: Page, *, profile: str) -> None:
    facts = page.facts
    if facts.is_demo:
        st.warning("**DEMO DATA** — generated accounts, not real customers. Import your own files "
                   "with `python -m scoring import DIR`.", icon=":material/science:")
    as_of = "no usage events yet" if facts.as_of is None else f"{facts.as_of:%Y-%m-%d}"
    if facts.last_import_at is None:
        imported = "never imported"
    else:
        imported = f"{facts.last_import_at:%Y-%m-%d %H:%M} UTC (data version {facts.data_version})"
    st.caption(f"Data as of **{as_of}** · Last import {imported} · Profile: {plain(profile)} · "
               f"Viewing: {plain(page.scope.label)}")
    age = dataview.import_age_days(facts.last_import_at, now=dt.datetime.now(dt.timezone.utc))
    if dataview.is_stale(age):
        st.warning(f"The data is {age} days old: the last import was on "
                   f"{facts.last_import_at:%Y-%m-%d}. Run the import again to refresh it.",
                   icon=":material/schedule:")


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|:~$])")


# Markdown turns bare URLs and e-mail addresses into links ("autolinks") even when their
# punctuation is escaped (they are found in the text after escapes are read); a zero-width space
# after the scheme, "www" or the "@" keeps them text, and looks the same.
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|www)(?=\\?[:.])")
_MAIL = re.compile(r"@(?=[\w-]+(?:\\?\.[\w-]+)+)")  # an address's domain has a dot ("NAME@2" has none)


def plain(text: object) -> str:
    """``text`` escaped so Markdown shows it as written (no links, emphasis, icons or HTML)."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
    return _MAIL.sub("@\u200b", _AUTOLINK.sub("\\1\u200b", escaped))


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def small_table(rows: "pd.DataFrame", formats: dict[str, str] | None = None, *, where: Any = None) -> None:
    """A short table as static text (``st.table``; ``ui.charts.text_table`` says why and how it
    is kept plain). One longer than ``charts.STATIC_ROWS`` rows is a data grid, every row in it
    (scrolled, sorted): the rare long table pays for the grid's code, the usual short one not."""
    from ui.charts import STATIC_ROWS, text_table

    where = st if where is None else where
    if len(rows) <= STATIC_ROWS:
        where.table(text_table(rows, formats), hide_index=True)
    else:
        where.dataframe(rows, hide_index=True, width="stretch", column_config={
            c: st.column_config.NumberColumn(format=f) for c, f in (formats or {}).items()})


def show_finding(finding: dataview.Finding, *, problem: str, fine: str) -> None:
    """One data warning: a warning with the count and a table of examples, or a quiet all-clear."""
    if not finding.count:
        st.success(fine, icon=":material/check:")
        return
    st.warning(problem, icon=":material/warning:")
    if not finding.examples.empty:
        shown = len(finding.examples)
        if shown < finding.count:
            st.caption(f"First {shown:,} of {finding.count:,}:")
        st.dataframe(finding.examples, hide_index=True, width="stretch")
    if finding.note:
        st.text(finding.note)
