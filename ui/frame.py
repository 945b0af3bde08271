"""The frame every page shares: page setup, the menu, one data version, and the banner.

Each page starts with one call, ``page = frame("Title")``, and then reads only through ``page``:
``page.ds`` is the single ``DataStore`` of this rerun and ``page.query(fn, **kw)`` runs a query
function of the core (``fn(ds, scope=..., **kw)``) through ``st.cache_data``, keyed by the data
version, the viewer's scope and the arguments, so a swapped-in import or another viewer never
gets someone else's cached rows.

The banner says what the numbers rest on: the as-of date, the last import (and how old it is),
the weight profile, and DEMO DATA when the store is the demo. Text that comes from data or users
is never rendered as HTML; where it goes through Markdown, ``plain`` escapes it first.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from scoring import dataview, paths
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataStore, Version
from ui.source import open_store

APP_TITLE = "Customer health"
DEFAULT_PROFILE = "default profile (built from the event-type catalogue)"
# The menu, drawn by hand (client.showSidebarNavigation = false): (script, label, icon).
PAGES = (("app.py", "Portfolio", ":material/dashboard:"),
         ("pages/9_Data.py", "Data", ":material/database:"))


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(_fn: Callable[..., Any], name: str, _ds: DataStore, version: Version, scope: Scope,
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
        return StateStore(paths.state_path(self.ds.path))

    def query(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(ds, scope=scope, **kwargs)``, cached per data version, scope and arguments."""
        return _query(self.ds, self.scope, fn, **kwargs)


def _query(ds: DataStore, scope: Scope, fn: Callable[..., Any], **kwargs: Any) -> Any:
    return _cached(fn, f"{fn.__module__}.{fn.__qualname__}", ds, ds.version, scope, kwargs)


def viewer_scope() -> Scope:
    """The accounts this viewer may see (everyone's until sign-in arrives)."""
    return Scope.everyone()


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


def frame(title: str, *, profile: str | None = None) -> Page:
    """Set up the page, draw the menu, the title and the banner, and return this rerun's data."""
    st.set_page_config(page_title=f"{title} · {APP_TITLE}", layout="wide")
    _menu()
    st.title(title)
    ds = open_store()
    scope = viewer_scope()
    page = Page(ds, scope, _query(ds, scope, dataview.data_facts))
    _banner(page, profile=profile or profile_in_use(page.state))
    return page


def _menu() -> None:
    with st.sidebar:
        st.markdown(f"**{APP_TITLE}**")
        for script, label, icon in PAGES:
            st.page_link(script, label=label, icon=icon)


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


def plain(text: object) -> str:
    """``text`` escaped so Markdown shows it as written (no links, emphasis, icons or HTML)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


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
