"""Who may see what: the roles file, the viewer it gives a signed-in email, and the audit log.

Sign-in (OpenID Connect, ``ui.auth``) proves an email address; this module decides what that
address may do. The answer is a ``Viewer`` whose ``scope`` every query already takes, so access
is enforced once, in the query layer, and is part of every cache key. Nothing here imports
Streamlit: the rules are tested on their own.

**The roles file** (TOML, reviewed like code; path: ``CS_ACCESS``, else ``access.toml`` beside
the state store, else ``access.toml`` in the working directory) maps each email to a role and a
team, one line a person::

    [people]
    "ana@example.com" = { role = "csm", team = "emea" }
    "max@example.com" = { role = "manager", team = "emea" }
    "ops@example.com" = { role = "ops" }

- ``csm``: the accounts whose ``csm_owner`` is their email (as written in the file, which must
  match the data);
- ``manager``: the accounts of their team's CSMs (and their own); team ``"*"``: every account;
- ``ops``: every account; may also edit and publish weight profiles and classify event types.

Anything the file does not say plainly is an error that names the line and key (an unknown role,
a missing team, a manager whose team has no CSM, two entries for one email, an unknown key):
the app then refuses to serve instead of guessing. An email not in the file is refused.
"""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .scope import Scope
from .state import StateStore

ROLES = ("csm", "manager", "ops")
ALL_TEAMS = "*"
ENV_VAR = "CS_ACCESS"
FILE_NAME = "access.toml"
SINGLE_USER = "single-user"

# What each permission allows, and which roles hold it. Seeing accounts is not a permission:
# every viewer sees (and exports) exactly their scope.
PERMISSIONS: Mapping[str, tuple[str, frozenset[str]]] = {
    "edit_profiles": ("edit and publish weight profiles", frozenset({"ops"})),
    "classify_events": ("classify event types", frozenset({"ops"})),
    "view_audit": ("read the audit log", frozenset({"ops", "manager"})),
}

_PERSON_KEYS = {"role", "team"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class AccessFileError(ValueError):
    """The roles file is missing or says something unclear; the app must not serve."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


class AccessDenied(PermissionError):
    """This viewer may not do that (or may not sign in at all)."""


@dataclass(frozen=True)
class Person:
    """One entry of the roles file."""

    email: str  # as written in the file: it is matched against accounts.csm_owner
    role: str
    team: str
    line: int | None = None


@dataclass(frozen=True)
class Roles:
    """The parsed roles file: people by lower-cased email."""

    people: Mapping[str, Person]
    source: str = FILE_NAME

    def team_csms(self, team: str) -> frozenset[str]:
        return frozenset(p.email for p in self.people.values() if p.role == "csm" and p.team == team)


@dataclass(frozen=True)
class Viewer:
    """Who is looking, and so which accounts they see and what they may change."""

    email: str
    role: str
    team: str
    scope: Scope
    can_edit_profiles: bool
    permissions: frozenset[str] = field(default=frozenset())

    @property
    def label(self) -> str:
        if self.email == SINGLE_USER:
            return SINGLE_USER
        team = "" if self.role == "ops" or not self.team else f", team {self.team}"
        return f"{self.email} ({self.role}{team})"

    def can(self, permission: str) -> bool:
        _known(permission)
        return permission in self.permissions


def single_user() -> Viewer:
    """The viewer when no sign-in is configured: one trusted person who may do everything."""
    return _viewer(SINGLE_USER, "ops", ALL_TEAMS, Scope.everyone())


# ---------------------------------------------------------------- the roles file


def roles_path(state_path: Path, *, env: Mapping[str, str] | None = None,
               cwd: Path | None = None) -> Path | None:
    """Where the roles file is: ``CS_ACCESS`` (even when missing, so that is reported), else
    ``access.toml`` beside the state store, else in the working directory; None when neither."""
    env = os.environ if env is None else env
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).absolute()
    for folder in (state_path.parent, cwd or Path.cwd()):
        candidate = (folder / FILE_NAME).absolute()
        if candidate.is_file():
            return candidate
    return None


def load_roles(path: Path) -> Roles:
    """Read and check the roles file; ``AccessFileError`` names what is wrong and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccessFileError([f"{path}: the roles file does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessFileError([f"{path}: the roles file cannot be read ({exc})"]) from None
    return parse_roles(text, source=str(path))


def parse_roles(text: str, *, source: str = FILE_NAME) -> Roles:
    """Parse the roles file's text (see the module docstring for the format)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column
        raise AccessFileError([f"{source}: not valid TOML: {exc}"]) from None
    lines = text.splitlines()
    problems: list[str] = []
    for key in doc:
        if key != "people":
            problems.append(f"{_at(source, _line_of(lines, key), key)}: unknown key (the file "
                            "holds one [people] table)")
    people_doc = doc.get("people")
    if not isinstance(people_doc, dict) or not people_doc:
        problems.append(f"{source}: no [people] table with at least one person, so nobody could "
                        "sign in")
        raise AccessFileError(problems)

    people: dict[str, Person] = {}
    for email, entry in people_doc.items():
        line = _line_of(lines, f'"{email}"') or _line_of(lines, f"'{email}'")
        at = _at(source, line, f'people."{email}"')
        if not _EMAIL.match(email):
            problems.append(f"{at}: {email!r} is not an email address")
            continue
        if not isinstance(entry, dict):
            problems.append(f'{at}: expected {{ role = "...", team = "..." }}')
            continue
        for extra in sorted(set(entry) - _PERSON_KEYS):
            problems.append(f"{at}.{extra}: unknown key (expected role and team)")
        role, team = entry.get("role"), entry.get("team", "")
        if role not in ROLES:
            problems.append(f"{at}.role: {role!r} is not a role (expected one of {', '.join(ROLES)})")
            continue
        if not isinstance(team, str) or team != team.strip():
            problems.append(f"{at}.team: {team!r} must be a name without surrounding spaces")
            continue
        if role == "manager" and not team:
            problems.append(f'{at}.team: a manager needs a team (or "{ALL_TEAMS}" for every account)')
            continue
        if role == "csm" and team == ALL_TEAMS:
            problems.append(f'{at}.team: "{ALL_TEAMS}" is for managers; a csm sees only their accounts')
            continue
        folded = email.lower()
        if folded in people:
            problems.append(f"{at}: the same email as line {people[folded].line} (emails are "
                            "compared without regard to case)")
            continue
        people[folded] = Person(email, role, ALL_TEAMS if role == "ops" else team, line)

    roles = Roles(people, source)
    for person in people.values():
        if person.role == "manager" and person.team != ALL_TEAMS and not roles.team_csms(person.team):
            key = 'people."' + person.email + '".team'
            problems.append(f"{_at(source, person.line, key)}: no csm is in team {person.team!r}, "
                            "so this manager would see no account")
    if problems:
        raise AccessFileError(problems)
    return roles


def _at(source: str, line: int | None, key: str) -> str:
    """Where a problem is: file, line (when found) and key."""
    return f"{source}, {'' if line is None else f'line {line}, '}{key}"


def _line_of(lines: list[str], needle: str) -> int | None:
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return None


# ---------------------------------------------------------------- viewers and permissions


def viewer_for(email: str, roles: Roles) -> Viewer:
    """The viewer of a signed-in ``email``; ``AccessDenied`` when the roles file lacks it."""
    person = roles.people.get(email.strip().lower())
    if person is None:
        raise AccessDenied(f"{email} may not use this app: that email is not in the roles file. "
                           "Ask whoever keeps the roles file to add it.")
    if person.role == "ops" or (person.role == "manager" and person.team == ALL_TEAMS):
        scope = Scope.everyone()
    elif person.role == "manager":
        csms = roles.team_csms(person.team)
        names = ", ".join(sorted(csms)) if len(csms) <= 3 else f"{len(csms)} CSMs"
        scope = Scope.for_owners(csms | {person.email}, f"accounts of team {person.team} ({names})")
    else:
        scope = Scope.for_owners({person.email}, f"accounts of {person.email}")
    return _viewer(person.email, person.role, person.team, scope)


def _viewer(email: str, role: str, team: str, scope: Scope) -> Viewer:
    granted = frozenset(name for name, (_, roles) in PERMISSIONS.items() if role in roles)
    return Viewer(email, role, team, scope, can_edit_profiles="edit_profiles" in granted,
                  permissions=granted)


def require(viewer: Viewer, permission: str) -> None:
    """Raise ``AccessDenied`` (a ``PermissionError``) unless ``viewer`` holds ``permission``."""
    what, roles = _known(permission)
    if permission not in viewer.permissions:
        needs = " or ".join(sorted(roles))
        raise AccessDenied(f"{viewer.label} may not {what}: that needs the {needs} role.")


def _known(permission: str) -> tuple[str, frozenset[str]]:
    try:
        return PERMISSIONS[permission]
    except KeyError:  # a typo in code must neither grant nor silently deny
        raise ValueError(f"unknown permission {permission!r}; known: {', '.join(PERMISSIONS)}") from None


# ---------------------------------------------------------------- the audit log


def audit_entries(state: StateStore, limit: int = 200, *, actors: frozenset[str] | None = None,
                  action: str | None = None) -> pd.DataFrame:
    """The newest ``limit`` audit-log rows (who, when, what changed), newest first.

    ``actors`` keeps the rows of those people only (compared without case; None: everyone's),
    ``action`` one kind of change (``profile.save``, ``profile.publish``, ``classify``, ...).
    Profile saves and publishes, classifications and the other changes write these rows in
    the same transaction as the change itself (``scoring.profiles``, ``scoring.state``).
    """
    where, params = ["1 = 1"], []
    if actors is not None:
        folded = sorted({a.lower() for a in actors})
        where.append(f"lower(actor) IN ({', '.join('?' * len(folded)) or 'NULL'})")
        params.extend(folded)
    if action is not None:
        where.append("action = ?")
        params.append(action)
    rows = state.read("SELECT at, actor, action, target, detail FROM audit_log "
                      f"WHERE {' AND '.join(where)} ORDER BY at DESC, id DESC LIMIT ?",
                      [*params, int(limit)])
    df = pd.DataFrame(rows, columns=["at", "actor", "action", "target", "detail"])
    df["at"] = pd.to_datetime(df["at"])
    return df


def audit_actions(state: StateStore) -> list[str]:
    """The kinds of change the audit log holds, for a filter."""
    return [r[0] for r in state.read("SELECT DISTINCT action FROM audit_log ORDER BY action")]
