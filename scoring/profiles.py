"""Weight profiles in the state store: saved versions, the published one, and name resolution.

Each save is a new row of ``profiles`` (name, version, author, created_at, note, body), with
``body`` the profile's TOML document, so what is stored is exactly what people review and
export. Versions count up per name from 1 and are never changed or deleted: a score, snapshot or
export that cites ``NAME@N`` can always be reproduced. At most one version of one profile is
published; commands and pages use it when no profile is named.

Every function is one short state-store transaction (``BEGIN IMMEDIATE``), so two processes
saving the same name at once get distinct versions, and an audit row is written in the same
transaction as the change it records.

Resolution (the contract): ``NAME`` is its newest version, ``NAME@N`` pins version N, no name
means the published profile, and with none published the default built from the event-type
catalogue. ``default`` names that built-in default too, unless a profile of that name was saved.

This module is also the one place callers import the profile document functions from
(``validate``, ``to_toml``, ``from_toml``, ``check_known_events``).
"""
from __future__ import annotations

import dataclasses
import functools
import re
from typing import TYPE_CHECKING, NamedTuple

from .profile import Profile, ProfileError, default_profile, demo_profile
from .profile_rules import check_known_events, closest, validate
from .profile_toml import from_toml, to_toml
from .state import StateStore, now_utc

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ProfileSummary", "VersionInfo", "check_known_events", "default_profile",
           "demo_profile", "ensure_demo_profile", "from_toml", "list_profiles", "load", "parse_ref", "publish",
           "published", "resolve", "save", "to_toml", "validate", "versions"]

DEFAULT_NAME = "default"


class ProfileSummary(NamedTuple):
    """One saved profile: how many versions, the newest and the published one, who saved last."""

    name: str
    versions: int
    newest: int
    published: int | None  # the published version of this profile, if it is the published one
    author: str  # of the newest version
    created_at: str  # of the newest version (UTC, ISO 8601)
    note: str  # of the newest version


class VersionInfo(NamedTuple):
    """One saved version of a profile."""

    name: str
    version: int
    author: str
    created_at: str
    note: str
    published: bool


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split ``NAME`` or ``NAME@N`` into the name and the version (None: the newest)."""
    match = re.fullmatch(r"([^@\s]+)(?:@(\d+))?", ref.strip()) if isinstance(ref, str) else None
    if match is None or (match.group(2) is not None and int(match.group(2)) < 1):
        raise ProfileError(f'profile reference "{ref}" — expected NAME or NAME@VERSION, with VERSION '
                           "a whole number of at least 1 (e.g. classic or classic@3)")
    name, version = match.group(1), match.group(2)
    return name, None if version is None else int(version)


def save(state: StateStore, profile: Profile, *, author: str, note: str = "") -> int:
    """Validate the profile and save it as a new version of its name; return that version."""
    validate(profile)
    body = to_toml(profile)
    at = now_utc()
    with state.transaction() as con:
        (newest,) = con.execute("SELECT coalesce(max(version), 0) FROM profiles WHERE name = ?",
                                (profile.name,)).fetchone()
        version = newest + 1
        con.execute("INSERT INTO profiles(name, version, author, created_at, note, body, published)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0)", (profile.name, version, author, at, note, body))
        con.execute("INSERT INTO audit_log(at, actor, action, target, detail) "
                    "VALUES (?, ?, 'profile.save', ?, ?)",
                    (at, author, f"{profile.name}@{version}", note))
    return version


def load(state: StateStore, name: str, version: int | None = None) -> Profile:
    """A saved profile: its newest version, or version ``version``; ``profile.version`` is set."""
    if version is None:
        rows = state.read("SELECT version, body FROM profiles WHERE name = ? "
                          "ORDER BY version DESC LIMIT 1", (name,))
    else:
        rows = state.read("SELECT version, body FROM profiles WHERE name = ? AND version = ?",
                          (name, version))
    if not rows:
        _raise_missing(state, name, version)
    v, body = rows[0]
    return _parsed(body, name, v)


@functools.lru_cache(maxsize=256)
def _parsed(body: str, name: str, version: int) -> Profile:
    """A stored version's document read (once per document: versions never change, and pages
    load the same one on every rerun)."""
    return dataclasses.replace(from_toml(body, source=f"stored profile {name}@{version}"), version=version)


def _raise_missing(state: StateStore, name: str, version: int | None) -> None:
    saved = [r[0] for r in state.read("SELECT version FROM profiles WHERE name = ? ORDER BY 1",
                                      (name,))]
    if saved:
        raise ProfileError(f'profile "{name}" has no version {version} — saved versions: '
                           f"{_ranges(saved)}")
    names = [r[0] for r in state.read("SELECT DISTINCT name FROM profiles ORDER BY 1")]
    if not names:
        raise ProfileError(f'no saved profile "{name}" — no profile is saved yet')
    guess = closest(name, names)
    hint = f' did you mean "{guess}"?' if guess else ""
    more = " ..." if len(names) > 20 else ""
    raise ProfileError(f'no saved profile "{name}" —{hint} saved profiles: {", ".join(names[:20])}{more}')


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``1-3, 5``."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def list_profiles(state: StateStore) -> list[ProfileSummary]:
    """Every saved profile, by name, with its newest version's author, time and note."""
    rows = state.read(
        "SELECT n.name, n.versions, n.newest, n.published, p.author, p.created_at, p.note "
        "FROM (SELECT name, count(*) AS versions, max(version) AS newest, "
        "             max(CASE WHEN published = 1 THEN version END) AS published "
        "      FROM profiles GROUP BY name) AS n "
        "JOIN profiles AS p ON p.name = n.name AND p.version = n.newest ORDER BY n.name")
    return [ProfileSummary(*r) for r in rows]


def versions(state: StateStore, name: str) -> list[VersionInfo]:
    """Every saved version of one profile, oldest first."""
    rows = state.read("SELECT name, version, author, created_at, note, published FROM profiles "
                      "WHERE name = ? ORDER BY version", (name,))
    if not rows:
        _raise_missing(state, name, None)
    return [VersionInfo(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def publish(state: StateStore, name: str, version: int | None = None, *, author: str) -> int:
    """Publish one version (default: the newest) of a profile, unpublishing any other."""
    at = now_utc()
    with state.transaction() as con:
        if version is None:
            (version,) = con.execute("SELECT max(version) FROM profiles WHERE name = ?",
                                     (name,)).fetchone()
            found = version is not None
        else:
            found = con.execute("SELECT 1 FROM profiles WHERE name = ? AND version = ?",
                                (name, version)).fetchone() is not None
        if found:
            con.execute("UPDATE profiles SET published = (name = ? AND version = ?) "
                        "WHERE published = 1 OR (name = ? AND version = ?)",
                        (name, version, name, version))
            con.execute("INSERT INTO audit_log(at, actor, action, target, detail) "
                        "VALUES (?, ?, 'profile.publish', ?, '')", (at, author, f"{name}@{version}"))
    if not found:
        _raise_missing(state, name, version)
    assert version is not None
    return version


def published(state: StateStore) -> Profile | None:
    """The published profile (with its version), or None when none is published."""
    rows = state.read("SELECT name, version FROM profiles WHERE published = 1")
    return load(state, rows[0][0], rows[0][1]) if rows else None


def resolve(state: StateStore, ref: str | None, catalogue: pd.DataFrame | None) -> Profile:
    """The profile a command or page uses, per the contract (see the module docstring)."""
    if ref is None:
        chosen = published(state)
        return chosen if chosen is not None else default_profile(catalogue)
    name, version = parse_ref(ref)
    if name == DEFAULT_NAME and version is None and not state.read(
            "SELECT 1 FROM profiles WHERE name = ? LIMIT 1", (name,)):
        return default_profile(catalogue)
    return load(state, name, version)


def ensure_demo_profile(state: StateStore, *, author: str = "demo") -> Profile:
    """Give a demo's state store the "classic" profile, published unless another one already is.

    Safe to call on every demo build: it saves "classic" only when no profile of that name
    exists, and never unpublishes what someone chose.
    """
    demo = demo_profile()
    if not state.read("SELECT 1 FROM profiles WHERE name = ? LIMIT 1", (demo.name,)):
        save(state, demo, author=author, note="the demo's profile: the classic example")
    if published(state) is None:
        publish(state, demo.name, author=author)
    return load(state, demo.name)
