"""Fixtures of the browser journeys: one demo store, one ``streamlit run app.py``, one chromium.

- ``demo`` (session): ``python -m scoring demo --accounts 300`` in a temporary folder, and what
  the journeys need to know about it beforehand, read from the store and the command line before
  any server opens it (``Demo``).
- ``server`` and ``browser`` (module): the real server on a free loopback port with ``CS_DB`` and
  ``CS_STATE`` pointing at the demo, and Debian's chromium; both end with the module, so no other
  test module meets a second Playwright.
- ``session`` (test): a fresh browser context. Every tab in it is watched: a Streamlit exception
  box or an uncaught page error fails the test (``Session.check``, after every settle and at the
  end). ``sessions`` makes more contexts, on any server.

Without chromium (or Playwright) the journeys are skipped with the reason, and the run's summary
says so in one line; with ``CS_REQUIRE_BROWSER=1`` (CI) a missing browser is a failure instead.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import (ROOT, TEST_SERVER_ARGS, Server, Session, browser_problem, build_demo, chromium,
                      make_site, parse_csv, read_back, server_env, streamlit_server)

E2E = Path(__file__).resolve().parent
REQUIRED = os.environ.get("CS_REQUIRE_BROWSER") == "1"
DEMO_ACCOUNTS = 300
_RUN: dict = {"problem": None, "items": 0}


def _ours(item: pytest.Item) -> bool:
    return E2E in Path(str(item.path)).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [i for i in items if _ours(i)]
    _RUN.update(problem=browser_problem(), items=len(ours),
                prefix=os.path.relpath(E2E, config.rootpath).replace(os.sep, "/") + "/")
    if _RUN["problem"] and not REQUIRED:
        skip = pytest.mark.skip(reason=f"browser journeys skipped: {_RUN['problem']}")
        for item in ours:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line on the browser journeys: how many ran and how long, or why they were skipped."""
    if not _RUN["items"]:
        return
    reports = [r for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "")
               for r in terminalreporter.stats.get(outcome, [])
               if getattr(r, "nodeid", "").startswith(_RUN["prefix"]) and hasattr(r, "when")]
    ran = len({r.nodeid for r in reports})
    if not ran:
        return
    if _RUN["problem"] and not REQUIRED:
        terminalreporter.write_line(
            f"browser journeys ({_RUN['prefix']}): {ran} SKIPPED: {_RUN['problem']}; "
            "CS_REQUIRE_BROWSER=1 makes this a failure", yellow=True, bold=True)
        return
    calls = [r for r in reports if r.when == "call"]
    passed = sum(r.passed and not hasattr(r, "wasxfail") for r in calls)
    xfailed = sum(hasattr(r, "wasxfail") for r in calls)
    bad = len({r.nodeid for r in reports if r.failed})
    skipped = ran - passed - xfailed - bad
    seconds = sum(r.duration for r in reports)
    terminalreporter.write_line(
        f"browser journeys ({_RUN['prefix']}): {passed} passed, {bad} failed or errored, {xfailed} "
        f"known defect(s) (xfail), {skipped} skipped, in {seconds:.0f} s (demo build and server starts included)",
        green=not bad, red=bool(bad), bold=True)


@dataclass(frozen=True)
class Demo:
    """The demo store and what the journeys need to know about it, read before the server."""

    folder: Path
    db: Path
    state: Path
    accounts: list[dict]  # account_id, name, csm_owner, segment: the accounts table, by id
    at_risk: list[dict]  # ``python -m scoring export --list at-risk`` (defaults), read back

    def account(self, account_id: str) -> dict:
        return next(a for a in self.accounts if a["account_id"] == account_id)


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    if _RUN["problem"]:
        _no_browser()
    import duckdb

    folder = tmp_path_factory.mktemp("e2e-demo")
    db = build_demo(folder, accounts=DEMO_ACCOUNTS)
    state = db.with_name("cs.state.sqlite")
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT account_id, name, csm_owner, segment FROM accounts ORDER BY account_id")
        cols = [d[0] for d in cur.description]
        accounts = [dict(zip(cols, row)) for row in cur.fetchall()]
    finally:
        con.close()
    out = folder / "at-risk.csv"
    done = subprocess.run([sys.executable, "-m", "scoring", "export", "--list", "at-risk", "--no-log",
                           "--db", str(db), "--state", str(state), "--out", str(out)],
                          cwd=ROOT, env=server_env(folder / "home"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    header, rows = parse_csv(out.read_bytes())
    at_risk = [{h: read_back(c) for h, c in zip(header, row)} for row in rows]
    return Demo(folder, db, state, accounts, at_risk)


def _no_browser() -> None:
    if REQUIRED:
        pytest.fail(f"CS_REQUIRE_BROWSER=1 but {_RUN['problem']}")
    pytest.skip(f"browser journeys skipped: {_RUN['problem']}")


@pytest.fixture(scope="module")
def browser():
    problem = browser_problem()
    if problem:
        _RUN["problem"] = problem
        _no_browser()
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def server(browser, demo, tmp_path_factory) -> Iterator[Server]:
    site = make_site(tmp_path_factory.mktemp("e2e-site"))
    env = server_env(site / "home", CS_DB=str(demo.db), CS_STATE=str(demo.state))
    with streamlit_server(site, env=env, args=TEST_SERVER_ARGS) as s:
        yield s


@pytest.fixture
def sessions(browser):
    """Open browser contexts: ``sessions(url)``; all are checked and closed at the end."""
    opened: list[Session] = []

    def open_session(url: str) -> Session:
        s = Session.open(browser, url)
        opened.append(s)
        return s

    yield open_session
    try:
        for s in opened:
            s.check()
    finally:
        for s in opened:
            s.close()


@pytest.fixture
def session(server, sessions) -> Session:
    return sessions(server.url)
