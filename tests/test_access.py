"""Access: the roles file, viewers and permissions, scoped cached queries, the sign-in gate.

Unit tests of ``scoring.access`` need nothing but text. The cache test calls the frame's query
layer directly with two CSMs' scopes in one process. The gate tests run the real pages with
``AppTest``: ``at.secrets`` carries an ``[auth]`` section whose metadata URL points at an
``oidc-provider-mock`` served on loopback in this process, and ``at.user`` plays the identity
Streamlit would read from the sign-in cookie. Each test builds its own small store.
"""
from __future__ import annotations

import re
import socket
import textwrap
import warnings
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ACCOUNT_COLS, EVENT_COLS, ROOT, write_csv
from scoring import access
from scoring.access import AccessDenied, AccessFileError, parse_roles, require, viewer_for
from scoring.ingest import import_dir
from scoring.profile import demo_profile
from scoring.profiles import publish, save
from scoring.scope import Scope
from scoring.state import StateStore
from scoring.store import DataStore

APP = str(ROOT / "app.py")
DATA_PAGE = "pages/9_Data.py"
AUDIT_PAGE = "pages/8_Audit.py"
TIMEOUT = 60

ROLES = textwrap.dedent("""\
    # who may sign in
    [people]
    "Ana@Example.com" = { role = "csm", team = "emea" }
    "bo@example.com" = { role = "csm", team = "emea" }
    "cy@example.com" = { role = "csm", team = "apac" }
    "max@example.com" = { role = "manager", team = "emea" }
    "all@example.com" = { role = "manager", team = "*" }
    "ops@example.com" = { role = "ops" }
    """)
# A1-A3 are Ana's (written as in the roles file), A4-A5 Bo's, A6 Cy's, A7 nobody's in the file.
OWNERS = {1: "Ana@Example.com", 2: "Ana@Example.com", 3: "Ana@Example.com", 4: "bo@example.com",
          5: "bo@example.com", 6: "cy@example.com", 7: "zed@example.com"}


# ---------------------------------------------------------------- the roles file and viewers


def test_csm_scope_holds_only_their_email():
    roles = parse_roles(ROLES)
    ana = viewer_for(" ana@EXAMPLE.com ", roles)  # sign-in emails match without case
    assert ana.scope.owners == frozenset({"Ana@Example.com"})  # as written: matched to the data
    assert ana.scope.label == "accounts of Ana@Example.com"
    assert (ana.role, ana.team, ana.can_edit_profiles) == ("csm", "emea", False)
    assert ana.label == "Ana@Example.com (csm, team emea)"


def test_manager_sees_their_team_and_star_and_ops_see_everyone():
    roles = parse_roles(ROLES)
    mgr = viewer_for("max@example.com", roles)
    assert mgr.scope.owners == frozenset({"Ana@Example.com", "bo@example.com", "max@example.com"})
    assert mgr.scope.label.startswith("accounts of team emea (")
    assert not mgr.can_edit_profiles and mgr.can("view_audit")
    assert viewer_for("all@example.com", roles).scope == Scope.everyone()
    ops = viewer_for("ops@example.com", roles)
    assert ops.scope == Scope.everyone() and ops.team == "*"
    assert ops.can_edit_profiles and ops.can("classify_events") and ops.can("view_audit")
    solo = access.single_user()
    assert solo.scope == Scope.everyone() and solo.label == "single-user" and solo.role == "ops"


def test_unknown_email_is_refused():
    with pytest.raises(AccessDenied, match="not in the roles file") as err:
        viewer_for("stranger@example.com", parse_roles(ROLES))
    assert isinstance(err.value, PermissionError)


def test_require_names_who_what_and_the_role_needed():
    roles = parse_roles(ROLES)
    with pytest.raises(PermissionError, match=r"Ana@Example.com \(csm, team emea\) may not edit and "
                                              r"publish weight profiles: that needs the ops role"):
        require(viewer_for("ana@example.com", roles), "edit_profiles")
    require(viewer_for("ops@example.com", roles), "edit_profiles")
    require(viewer_for("max@example.com", roles), "view_audit")
    with pytest.raises(PermissionError, match="manager or ops"):
        require(viewer_for("bo@example.com", roles), "view_audit")
    with pytest.raises(ValueError, match="unknown permission 'edit_profile'"):
        require(viewer_for("ops@example.com", roles), "edit_profile")


@pytest.mark.parametrize("text, expected", [
    ('[people]\n"a@x.io" = { role = "csm" \n', "not valid TOML: .*line 2"),
    ('[people]\n"a@x.io" = { role = "csm" }\n"b@x.io" = { role = "admin" }\n',
     r'line 3, people."b@x.io".role: \'admin\' is not a role \(expected one of csm, manager, ops\)'),
    ('[people]\n"a@x.io" = { role = "manager" }\n', r'line 2, people."a@x.io".team: a manager needs a team'),
    ('[people]\n"a@x.io" = { role = "csm", team = "x" }\n"m@x.io" = { role = "manager", team = "y" }\n',
     r'line 3, people."m@x.io".team: no csm is in team \'y\''),
    ('[people]\n"a@x.io" = { role = "csm" }\n"A@X.io" = { role = "ops" }\n',
     r'line 3, people."A@X.io": the same email as line 2'),
    ('[people]\n"a@x.io" = { role = "csm", tema = "x" }\n', r'line 2, people."a@x.io".tema: unknown key'),
    ('[people]\n"ana" = { role = "csm" }\n', r"line 2, people.\"ana\": 'ana' is not an email"),
    ('[people]\n"a@x.io" = { role = "csm", team = "*" }\n', r'line 2, people."a@x.io".team: "\*" is for managers'),
    ('[peoples]\n"a@x.io" = { role = "csm" }\n', r"line 1, peoples: unknown key"),
    ('# nobody yet\n', "no \\[people\\] table"),
])
def test_invalid_roles_files_name_the_line_and_key(text, expected):
    with pytest.raises(AccessFileError, match=expected):
        parse_roles(text, source="access.toml")


def test_table_form_is_accepted_too():
    roles = parse_roles('[people."a@x.io"]\nrole = "csm"\nteam = "x"\n')
    assert viewer_for("a@x.io", roles).scope.owners == frozenset({"a@x.io"})


def test_roles_file_location(tmp_path):
    state = tmp_path / "store" / "cs.state.sqlite"
    here = tmp_path / "cwd"
    here.mkdir()
    assert access.roles_path(state, env={}, cwd=here) is None
    (here / "access.toml").write_text(ROLES)
    assert access.roles_path(state, env={}, cwd=here) == here / "access.toml"
    state.parent.mkdir()
    (state.parent / "access.toml").write_text(ROLES)
    assert access.roles_path(state, env={}, cwd=here) == state.parent / "access.toml"
    named = tmp_path / "elsewhere.toml"  # CS_ACCESS wins, even when missing (then it is reported)
    assert access.roles_path(state, env={"CS_ACCESS": str(named)}, cwd=here) == named
    with pytest.raises(AccessFileError, match="does not exist"):
        access.load_roles(named)


def test_audit_entries_record_who_when_what(tmp_path):
    state = StateStore(tmp_path / "state.sqlite")
    save(state, demo_profile(), author="ops@example.com", note="first cut")
    save(state, demo_profile(), author="ops@example.com", note="second")
    publish(state, "classic", 2, author="max@example.com")
    state.classify("login", feature="login", dimension="frequency", value_action=False,
                   author="Ana@Example.com")
    rows = access.audit_entries(state, limit=10)
    assert list(rows.columns) == ["at", "actor", "action", "target", "detail"]
    assert list(rows["action"]) == ["classify", "profile.publish", "profile.save", "profile.save"]
    assert list(rows["target"][1:]) == ["classic@2", "classic@2", "classic@1"]
    assert rows["detail"].iloc[3] == "first cut" and rows["at"].notna().all()
    assert len(access.audit_entries(state, limit=2)) == 2
    team = access.audit_entries(state, actors=frozenset({"ana@example.com", "max@example.com"}))
    assert set(team["actor"]) == {"Ana@Example.com", "max@example.com"}
    assert access.audit_entries(state, actors=frozenset()).empty
    assert list(access.audit_entries(state, action="profile.save")["target"]) == ["classic@2", "classic@1"]
    assert access.audit_actions(state) == ["classify", "profile.publish", "profile.save"]


# ---------------------------------------------------------------- scoped, cached queries


def build_store(root: Path) -> Path:
    db = root / "store" / "cs.duckdb"
    src = root / "in"
    write_csv(src / "accounts.csv", ACCOUNT_COLS,
              [[f"A{i}", f"Account {i}", "SMB", "pro", "EU", owner, "", 1000.0 * i, 10, "2024-01-01",
                "2025-12-31"] for i, owner in OWNERS.items()])
    write_csv(src / "usage_events.csv", EVENT_COLS,
              [[f"A{i}", f"2024-06-0{d}T09:00:00", "login", "u1", 1] for i in OWNERS for d in (1, 2, 3)])
    import_dir(src, db)
    return db


CALLS: list[Scope] = []


def visible_accounts(ds: DataStore, *, scope: Scope, order: str = "account_id") -> list[tuple]:
    """A scoped query as the core writes them, counting its real runs."""
    CALLS.append(scope)
    where, params = scope.account_filter("account_id")
    return ds.rows(f"SELECT account_id FROM accounts WHERE {where} ORDER BY account_id", params)


def test_cached_query_never_serves_one_csm_anothers_rows(tmp_path):
    from ui.frame import _query

    ds = DataStore(build_store(tmp_path))
    roles = parse_roles(ROLES)
    ana, bo = (viewer_for(e, roles).scope for e in ("ana@example.com", "bo@example.com"))
    CALLS.clear()
    assert _query(ds, ana, visible_accounts, order="x") == [("A1",), ("A2",), ("A3",)]
    assert _query(ds, bo, visible_accounts, order="x") == [("A4",), ("A5",)]  # same args
    assert _query(ds, ana, visible_accounts, order="x") == [("A1",), ("A2",), ("A3",)]
    assert CALLS == [ana, bo]  # the third call came from the cache, keyed by Ana's scope
    team = viewer_for("max@example.com", roles).scope
    assert [r[0] for r in _query(ds, team, visible_accounts, order="x")] == ["A1", "A2", "A3", "A4", "A5"]


# ---------------------------------------------------------------- the gate, in the real pages


@pytest.fixture(scope="module")
def provider():
    """An OpenID provider on loopback (its metadata is all the gate fetches)."""
    import authlib.deprecate  # it turns its warnings on when imported: import it first

    with warnings.catch_warnings():  # the mock imports Authlib modules Authlib deprecates
        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        import oidc_provider_mock as oidc
    with oidc.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def site(tmp_path, monkeypatch):
    db = build_store(tmp_path)
    state = db.with_name("cs.state.sqlite")
    roles = tmp_path / "access.toml"
    roles.write_text(ROLES)
    monkeypatch.setenv("CS_DB", str(db))
    monkeypatch.setenv("CS_STATE", str(state))
    monkeypatch.setenv("CS_ACCESS", str(roles))
    return tmp_path


def auth(provider: str, **changes) -> dict:
    section = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 40,
               "client_id": "cs-app", "client_secret": "s3cret",
               "server_metadata_url": f"{provider}/.well-known/openid-configuration"}
    section.update(changes)
    return {"auth": {k: v for k, v in section.items() if v is not None}}


def run(page: str | None = None, *, secrets: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if secrets:
        at.secrets = secrets
    if user is not None:
        at.user = user
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def signed_in(email: str) -> dict:
    return {"email": email, "is_logged_in": True, "name": email.split("@")[0]}


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def read(markdown: str) -> str:
    """Markdown as people read it: ``plain`` escapes punctuation and puts an invisible zero-width
    space after an address's "@" (so it is not made a link)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


def shown(element) -> str:
    """An element's Markdown as people read it."""
    return read(element.value)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_single_user_mode_says_so_on_every_page(site, monkeypatch):
    monkeypatch.delenv("CS_ACCESS")
    for page in (None, DATA_PAGE):
        at = run(page)
        assert ("Single-user mode: no sign-in configured; everyone sees every account"
                in texts(at.caption))
        assert any("Viewing: all accounts" in c for c in texts(at.caption))
    assert metrics(run())["Accounts"] == "7"


def test_signed_in_csm_sees_only_their_accounts(site, provider):
    at = run(secrets=auth(provider), user=signed_in("ana@example.com"))
    assert metrics(at)["Accounts"] == "3"
    captions = " ".join(read(c) for c in texts(at.caption))
    assert "Viewing: accounts of Ana@Example.com" in captions
    assert "Signed in as" in captions and "Single-user" not in captions
    other = run(secrets=auth(provider), user=signed_in("bo@example.com"))
    assert metrics(other)["Accounts"] == "2"
    assert metrics(run(secrets=auth(provider), user=signed_in("max@example.com")))["Accounts"] == "5"
    assert metrics(run(secrets=auth(provider), user=signed_in("ops@example.com")))["Accounts"] == "7"


def test_not_signed_in_sees_a_sign_in_button_and_no_data(site, provider):
    at = run(secrets=auth(provider), user={"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in"]
    assert [t.value for t in at.title] == ["Customer health"]  # the app's name, not a page's
    assert not at.metric and not at.dataframe and not at.caption


def test_unknown_email_is_refused_with_no_data(site, provider):
    for page in (None, DATA_PAGE):
        at = run(page, secrets=auth(provider), user=signed_in("stranger@example.com"))
        assert shown(at.error[0]).startswith("stranger@example.com may not use this app: that "
                                             "email is not in the roles file.")
        assert not at.metric and not at.dataframe


def test_unverified_or_missing_email_is_refused(site, provider):
    at = run(secrets=auth(provider), user={**signed_in("ana@example.com"), "email_verified": False})
    assert "not verified" in at.error[0].value and not at.metric
    at = run(secrets=auth(provider), user={"is_logged_in": True, "sub": "123"})
    assert "did not include an email" in at.error[0].value and not at.metric


@pytest.mark.parametrize("changes, expected", [
    ({"client_secret": None}, "[auth] client_secret is missing"),
    ({"cookie_secret": "short"}, "cookie_secret is shorter than 32"),
    ({"redirect_uri": "http://localhost:8501/"}, "redirect_uri must be"),
    ({"server_metadata_url": "accounts.example/.well-known"}, "server_metadata_url must be"),
])
def test_broken_auth_settings_fail_closed(site, provider, changes, expected):
    at = run(secrets=auth(provider, **changes), user=signed_in("ops@example.com"))
    assert "Sign-in is set up wrongly" in at.error[0].value
    assert expected in at.code[0].value
    assert not at.metric and not any("Single-user" in c for c in texts(at.caption))


def test_unreachable_or_wrong_metadata_fails_closed(site, provider):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/.well-known/openid-configuration"
    at = run(secrets=auth(provider, server_metadata_url=closed), user=signed_in("ops@example.com"))
    assert "could not be fetched" in at.code[0].value and not at.metric
    at = run(secrets=auth(provider, server_metadata_url=f"{provider}/jwks"), user=signed_in("ops@example.com"))
    assert "lacks issuer, authorization_endpoint, token_endpoint" in at.code[0].value and not at.metric


def test_invalid_or_missing_roles_file_fails_closed(site, provider, monkeypatch):
    (site / "access.toml").write_text('[people]\n"a@x.io" = { role = "boss" }\n')
    at = run(secrets=auth(provider), user=signed_in("a@x.io"))
    assert "The roles file is invalid" in at.code[0].value
    assert 'line 2, people."a@x.io".role' in at.code[0].value and not at.metric
    monkeypatch.delenv("CS_ACCESS")  # and none beside the state store or in the working dir
    at = run(secrets=auth(provider), user=signed_in("ops@example.com"))
    assert "there is no roles file" in at.code[0].value and not at.metric


def test_roles_file_without_sign_in_refuses_rather_than_showing_everything(site):
    at = run()
    assert "no [auth] section" in at.code[0].value
    assert not at.metric and not any("Single-user" in c for c in texts(at.caption))


def test_unparseable_secrets_file_fails_closed(site, monkeypatch):
    """A secrets file Streamlit cannot parse may hold [auth]: never guess single-user."""
    import ui.auth
    from streamlit.runtime.secrets import Secrets
    from streamlit.testing.v1.util import patch_config_options

    broken = site / "secrets.toml"
    broken.write_text('[auth\nclient_id = "x"\n')
    monkeypatch.setattr(ui.auth.st, "secrets", Secrets())
    with patch_config_options({"secrets.files": [str(broken)]}):
        with pytest.raises(ui.auth.ConfigError, match="secrets file cannot be read"):
            ui.auth.auth_section()
        broken.unlink()  # no file at all: single-user
        monkeypatch.setattr(ui.auth.st, "secrets", Secrets())
        assert ui.auth.auth_section() is None


# ---------------------------------------------------------------- permissions and the audit page


def test_audit_page_for_ops_and_managers_only(site, provider, monkeypatch):
    state = StateStore(site / "store" / "cs.state.sqlite")
    save(state, demo_profile(), author="ops@example.com", note="tuned")
    publish(state, "classic", author="ops@example.com")
    state.classify("login", feature="login", dimension="frequency", value_action=False,
                   author="bo@example.com")
    ops = run(AUDIT_PAGE, secrets=auth(provider), user=signed_in("ops@example.com"))
    table = ops.dataframe[0].value
    assert list(table["action"]) == ["classify", "profile.publish", "profile.save"]
    assert list(table["actor"]) == ["bo@example.com", "ops@example.com", "ops@example.com"]
    team = run(AUDIT_PAGE, secrets=auth(provider), user=signed_in("max@example.com"))
    assert list(team.dataframe[0].value["actor"]) == ["bo@example.com"]  # their team's changes
    csm = run(AUDIT_PAGE, secrets=auth(provider), user=signed_in("ana@example.com"))
    assert "may not read the audit log" in shown(csm.error[0]) and not csm.dataframe
    monkeypatch.delenv("CS_ACCESS")
    solo = run(AUDIT_PAGE)  # single-user mode may do everything
    assert not solo.error


def test_require_permission_stops_the_page_with_a_reason(site, provider, tmp_path):
    script = tmp_path / "edit.py"
    script.write_text("import sys\nsys.path.insert(0, %r)\nimport streamlit as st\n"
                      "from ui.auth import require_permission\n"
                      "viewer = require_permission('edit_profiles')\n"
                      "st.write('editing as ' + viewer.email)\n" % str(ROOT))
    at = AppTest.from_file(str(script), default_timeout=TIMEOUT)
    at.secrets, at.user = auth(provider), signed_in("ana@example.com")
    at.run()
    assert shown(at.error[0]) == ("Ana@Example.com (csm, team emea) may not edit and publish weight "
                                  "profiles: that needs the ops role.")
    assert not at.markdown
    at.user = signed_in("ops@example.com")
    at.run()
    assert not at.error and at.markdown[0].value == "editing as ops@example.com"
