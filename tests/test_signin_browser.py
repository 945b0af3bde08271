"""Sign-in end to end: Debian's chromium, an OpenID provider and ``streamlit run``, all on loopback.

The provider is ``oidc-provider-mock`` in a thread of this process (its sign-in form takes any
subject; the subject becomes the email claim). The app is the real ``app.py`` served by
``streamlit run`` from a temporary folder holding links to the code, a copy of
``.streamlit/config.toml`` and a ``secrets.toml`` with ``[auth]`` (Streamlit reads secrets from
``.streamlit/`` in the working directory, beside the main script, and in ``~/.streamlit``, so
``HOME`` points into the folder too). The data is a 200-account demo store built for the test.

A CSM signs in and the Portfolio counts exactly their accounts; an email missing from the roles
file is refused and sees no figure. Every wait is on the page's state, never a fixed sleep.
Skipped, with the reason, when chromium or Playwright is missing, unless ``CS_REQUIRE_BROWSER=1``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT
from e2e.helpers import CHROMIUM, require_browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
UI_TIMEOUT_MS = 60_000  # an upper bound for a loaded machine: the first page scores the book
START_TIMEOUT_S = 45
RUNNING_DONE = "[data-testid=stApp][data-test-script-state=notRunning]"
# The mock provider calls an Authlib hook Authlib has deprecated; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling the health endpoint, not waiting on the page
    pytest.fail(f"streamlit did not answer {url} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def provider():
    import authlib.deprecate  # it turns its warnings on when imported: import it first

    with warnings.catch_warnings():  # the mock imports Authlib modules Authlib deprecates
        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory, provider):
    """A ``streamlit run app.py`` with sign-in on a demo store: (url, {csm email: accounts})."""
    require_browser("browser test")
    tmp = tmp_path_factory.mktemp("signin")
    db = tmp / "data" / "cs.duckdb"
    env = {k: v for k, v in os.environ.items()
           if k not in ("CS_DB", "CS_STATE", "CS_ACCESS", "AUTHLIB_INSECURE_TRANSPORT")}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp / "home"))
    built = subprocess.run([sys.executable, "-m", "scoring", "demo", "--accounts", "200", "--db", str(db)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr
    con = duckdb.connect(str(db), read_only=True)
    counts = dict(con.execute("SELECT csm_owner, count(*) FROM accounts GROUP BY 1").fetchall())
    con.close()

    site = tmp / "site"
    (site / ".streamlit").mkdir(parents=True)
    for name in ("app.py", "pages", "ui", "scoring", "static"):
        (site / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / ".streamlit" / "config.toml", site / ".streamlit" / "config.toml")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    (site / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{os.urandom(24).hex()}"\n'
        'client_id = "cs-app"\n'
        'client_secret = "not-a-real-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')
    csm = min(counts, key=counts.get)
    roles = tmp / "access.toml"
    roles.write_text("[people]\n" + "".join(
        f'"{email}" = {{ role = "csm", team = "demo" }}\n' for email in sorted(counts))
        + '"ops@demo-cs.example" = { role = "ops" }\n')
    env.update(CS_DB=str(db), CS_ACCESS=str(roles))
    log = tmp / "streamlit.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
                                 str(port), "--server.address", "127.0.0.1"],
                                cwd=site, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"{url}/_stcore/health", proc, log)
        yield url, csm, counts[csm], log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)  # its default (5 s) is shorter than a first scoring
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _sign_in(browser, url: str, email: str):
    """A fresh browser (no cookies) signs in as ``email`` through the provider's form."""
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    page.locator(RUNNING_DONE).wait_for()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("sub").fill(email)  # the provider's page
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**")
    return context, page


def test_csm_signs_in_and_sees_only_their_accounts(served, browser, tmp_path):
    from playwright.sync_api import expect

    url, csm, n_accounts, log = served
    context, page = _sign_in(browser, url, csm)
    try:
        accounts = page.get_by_test_id("stMetric").filter(
            has=page.get_by_test_id("stMetricLabel").get_by_text("Accounts", exact=True))
        expect(accounts.get_by_test_id("stMetricValue")).to_have_text(f"{n_accounts:,}")
        page.locator(RUNNING_DONE).wait_for()
        expect(page.get_by_text(f"Viewing: accounts of {csm}")).to_be_visible()
        expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {csm} (csm, team demo)")).to_be_visible()
        expect(page.get_by_text("Single-user mode")).to_have_count(0)
    except Exception:
        page.screenshot(path=str(tmp_path / "csm.png"), full_page=True)
        print(log.read_text()[-3000:])
        raise
    finally:
        context.close()


def test_unknown_email_is_refused(served, browser, tmp_path):
    from playwright.sync_api import expect

    url, _, _, log = served
    context, page = _sign_in(browser, url, "stranger@example.com")
    try:
        expect(page.get_by_test_id("stAlertContentError")).to_contain_text(
            "stranger@example.com may not use this app: that email is not in the roles file")
        page.locator(RUNNING_DONE).wait_for()
        expect(page.get_by_test_id("stMetric")).to_have_count(0)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    except Exception:
        page.screenshot(path=str(tmp_path / "stranger.png"), full_page=True)
        print(log.read_text()[-3000:])
        raise
    finally:
        context.close()
