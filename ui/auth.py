"""The sign-in gate: who is looking, decided before any page reads data.

``frame()`` calls ``gate()`` first thing on every page. Two modes, chosen by the ``[auth]``
section of Streamlit's secrets (``.streamlit/secrets.toml``, see docs/ACCESS.md):

- **No ``[auth]``** (and no roles file): single-user mode. The viewer is ``access.single_user()``
  (ops, every account) and every page says so in a caption.
- **``[auth]`` present**: sign-in with OpenID Connect through ``st.login``. The gate checks the
  settings and the provider's metadata, shows a sign-in button to those not signed in, looks the
  signed-in email up in the roles file (``scoring.access``) and refuses anyone not in it.

It fails closed: ``[auth]`` with a missing or malformed key, provider metadata that cannot be
fetched or lacks an endpoint, a secrets file that cannot be parsed, a missing or invalid roles
file, or a roles file without ``[auth]`` all stop the page with an error saying what is wrong.
Nothing ever falls back to single-user mode. The checks are cached (metadata for ten minutes,
the roles file until it changes), so a rerun costs a ``stat``.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

import streamlit as st

from scoring import access, paths
from scoring.access import AccessDenied, AccessFileError, Roles, Viewer

SINGLE_USER_NOTE = "Single-user mode: no sign-in configured; everyone sees every account"
REQUIRED = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
METADATA_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
MIN_COOKIE_SECRET = 32  # characters; the cookie that proves who is signed in is signed with it
METADATA_TIMEOUT_S = 5
_SESSION_KEY = "_access_viewer"

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """Sign-in or the roles file is set up wrongly: the app must not serve."""


# ---------------------------------------------------------------- the pieces (testable alone)


def auth_section() -> dict[str, Any] | None:
    """The ``[auth]`` section of the secrets as a plain dict; None when there is none."""
    try:
        if "auth" not in st.secrets:
            return None
        section = st.secrets["auth"]
    except FileNotFoundError as exc:  # no secrets file, or one Streamlit cannot parse
        broken = [p for p in _secrets_files() if os.path.exists(p)]
        if broken:  # it may hold [auth]: never guess single-user
            raise ConfigError(f"The secrets file cannot be read: {exc}") from None
        return None
    if not isinstance(section, Mapping):
        raise ConfigError("`auth` in the secrets must be a table: `[auth]`")
    return _plain_dict(section)


def _secrets_files() -> list[str]:
    from streamlit import config

    return list(config.get_option("secrets.files") or [])


def _plain_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain_dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}


def check_settings(section: Mapping[str, Any]) -> list[str]:
    """What is wrong with an ``[auth]`` section (empty when nothing); values are never quoted."""
    problems = []
    named = sorted(k for k, v in section.items() if isinstance(v, Mapping) and k != "client_kwargs")
    if named:
        problems.append(f"[auth.{named[0]}]: named providers are not supported here; put client_id, "
                        "client_secret and server_metadata_url directly under [auth]")
    for key in REQUIRED:
        value = section.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"[auth] {key} is missing (or empty)")
    secret = section.get("cookie_secret")
    if isinstance(secret, str) and 0 < len(secret) < MIN_COOKIE_SECRET:
        problems.append(f"[auth] cookie_secret is shorter than {MIN_COOKIE_SECRET} characters; "
                        "make one with: python -c \"import secrets; print(secrets.token_hex(32))\"")
    redirect = section.get("redirect_uri")
    if isinstance(redirect, str) and redirect and not (
            _is_http_url(redirect.replace("{port}", "8501"))
            and urlparse(redirect).path.endswith("/oauth2callback")):
        problems.append("[auth] redirect_uri must be the app's absolute http(s) address ending in "
                        "/oauth2callback, e.g. http://localhost:8501/oauth2callback")
    metadata = section.get("server_metadata_url")
    if isinstance(metadata, str) and metadata and not _is_http_url(metadata):
        problems.append("[auth] server_metadata_url must be an absolute http(s) address, e.g. "
                        "https://accounts.google.com/.well-known/openid-configuration")
    return problems


def _is_http_url(url: str) -> bool:
    try:
        parts = urlparse(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


@st.cache_data(ttl=600, show_spinner=False, max_entries=4)
def provider_metadata(url: str) -> dict[str, Any]:
    """The provider's OpenID configuration; ``ConfigError`` (never cached) when unusable."""
    try:
        with urllib.request.urlopen(url, timeout=METADATA_TIMEOUT_S) as response:
            body = response.read(1_000_000)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConfigError(f"The sign-in provider's metadata could not be fetched from "
                          f"{url}: {getattr(exc, 'reason', exc)}") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise ConfigError(f"The sign-in provider's metadata at {url} is not JSON") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"The sign-in provider's metadata at {url} is not a JSON object")
    missing = [k for k in METADATA_KEYS if not isinstance(doc.get(k), str) or not doc[k]]
    if missing:
        raise ConfigError(f"The sign-in provider's metadata at {url} lacks {', '.join(missing)}: "
                          "is server_metadata_url the provider's /.well-known/openid-configuration?")
    return doc


def roles_file() -> Path | None:
    """The roles file (``CS_ACCESS``, else ``access.toml`` beside the state store or here)."""
    return access.roles_path(paths.state_path(paths.db_path()))


@st.cache_data(show_spinner=False, max_entries=8)
def _roles(path: str, mtime_ns: int, size: int) -> Roles:
    # Keyed by the file's mtime and size, so an edited file is read again on the next rerun.
    return access.load_roles(Path(path))


def load_roles(path: Path) -> tuple[Roles, tuple]:
    """The roles file's people, and a key that changes whenever the file does."""
    try:
        stat = path.stat()
    except OSError:
        raise ConfigError(f"The roles file {path} does not exist (CS_ACCESS names it)") from None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    try:
        return _roles(*key), key
    except AccessFileError as exc:
        raise ConfigError("The roles file is invalid:\n" + "\n".join(exc.problems)) from None


# ---------------------------------------------------------------- the gate


def gate() -> Viewer:
    """The viewer of this rerun; stops the page (sign-in button, refusal or config error) when
    there is none who may see data. Cached per session until the sign-in or roles file change."""
    try:
        section = auth_section()
        where = roles_file()
        if section is None:
            if where is not None:
                raise ConfigError(
                    f"A roles file is set up ({where}) but the secrets have no [auth] section, so "
                    "nobody can sign in. Add [auth] to .streamlit/secrets.toml (docs/ACCESS.md), or "
                    "remove the roles file (and unset CS_ACCESS) to run single-user.")
            return _remember(("single-user",), access.single_user)
        problems = check_settings(section)
        if importlib.util.find_spec("authlib") is None:
            problems.append("Sign-in needs Authlib: pip install -r requirements.txt")
        if problems:
            raise ConfigError("Sign-in settings ([auth] in .streamlit/secrets.toml):\n"
                              + "\n".join(problems))
        provider_metadata(section["server_metadata_url"])
        if where is None:
            state = paths.state_path(paths.db_path())
            raise ConfigError(
                f"Sign-in is configured but there is no roles file: set CS_ACCESS, or put "
                f"{access.FILE_NAME} beside the state store ({state.parent}) or in the working "
                f"directory ({Path.cwd()}).")
        roles, roles_key = load_roles(where)
    except ConfigError as exc:
        log.error("access refused to everyone: %s", exc)
        _stop_with("Sign-in is set up wrongly, so the app shows no data until it is fixed.", str(exc))

    user = st.user
    if not user.get("is_logged_in"):
        _sign_in()
    email = user.get("email")
    if not isinstance(email, str) or not email.strip():
        _refuse("Your sign-in did not include an email address, which this app needs to know "
                "which accounts are yours. Ask your sign-in provider's admin to release the "
                "`email` claim.")
    if user.get("email_verified") is False:
        _refuse(f"Your sign-in provider has not verified the email {_md(email)}, so this app cannot "
                "rely on it.")
    try:
        return _remember((email.lower(), *roles_key), lambda: access.viewer_for(email, roles))
    except AccessDenied as exc:
        log.warning("sign-in refused: %s", exc)
        _refuse(_md(exc))


def current_viewer() -> Viewer:
    """The viewer of this session (the gate's answer; pages call this, or ``page.scope``)."""
    return gate()


def require_permission(permission: str) -> Viewer:
    """The viewer, when they hold ``permission`` (``access.PERMISSIONS``); otherwise the page
    shows why not and stops."""
    viewer = current_viewer()
    try:
        access.require(viewer, permission)
    except AccessDenied as exc:
        st.error(_md(exc), icon=":material/block:")
        st.stop()
    return viewer


def show_viewer(viewer: Viewer) -> None:
    """The single-user caption under the title, or who is signed in (and sign-out) in the menu."""
    if viewer.email == access.SINGLE_USER:
        st.caption(SINGLE_USER_NOTE)
        return
    with st.sidebar:
        st.caption(f"Signed in as {_md(viewer.label)}")
        if st.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
            st.logout()


def _remember(key: tuple, make) -> Viewer:
    held = st.session_state.get(_SESSION_KEY)
    if held is not None and held[0] == key:
        return held[1]
    viewer = make()
    st.session_state[_SESSION_KEY] = (key, viewer)
    return viewer


def _sign_in() -> NoReturn:
    from ui.frame import APP_TITLE  # late: ui.frame imports this module

    st.session_state.pop(_SESSION_KEY, None)
    st.title(APP_TITLE)
    st.info("Sign in to see the accounts you look after.", icon=":material/lock:")
    if st.button("Sign in", key="auth_sign_in", type="primary", icon=":material/login:"):
        st.login()
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def _refuse(message: str) -> NoReturn:
    st.session_state.pop(_SESSION_KEY, None)
    st.error(message, icon=":material/block:")
    if st.button("Sign out", key="auth_sign_out_refused", icon=":material/logout:"):
        st.logout()
    st.stop()
    raise AssertionError("unreachable")


def _stop_with(headline: str, detail: str) -> NoReturn:
    st.session_state.pop(_SESSION_KEY, None)
    st.error(headline, icon=":material/lock:")
    st.code(detail, language=None, wrap_lines=True)
    st.stop()
    raise AssertionError("unreachable")


def _md(text: object) -> str:
    from ui.frame import plain  # late: ui.frame imports this module

    return plain(text)
