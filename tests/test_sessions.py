"""Many sessions on one real server: each sees the numbers one session alone sees, and a load smoke.

One ``streamlit run app.py`` (the real server with the app's own config: XSRF protection, the host
allow-list) on a 300-account demo store built for this module in a temporary folder, driven by
scripted websocket clients (``tests/wsclient.py``) the way browsers drive it. Nothing reads
``data/``; the server is stopped at the end, also when a test fails.

- Twenty sessions in twenty threads at once, on cold caches, each make two runs: half open the
  Portfolio with a filter by URL and then change a widget, the others open an Account deep link
  or another page and then go through the menu to another page or account (every page, several
  accounts). Each run shows exactly what one session alone saw for the same URL (metrics, texts,
  alerts, tables, chart figures), with no exception and no error on the page.
- A smoke: twenty sessions replay the load benchmark's scripted journeys (``bench/load_bench.py``)
  back to back for ``CS_LOAD_SECONDS`` (default 20) with zero errors. The median and 95th
  percentile interaction times are printed, never asserted: timings on a shared machine are noise.
"""
from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest

from bench.load_bench import Facts, check, discover_pages, query, scripted_load
from conftest import ROOT
from load_report import pct  # bench/ is on the path (conftest.py)
from scoring.portfolio import SECTIONS
from ui import plot
from wsclient import Run, Session, differences, log_tail, serve

ACCOUNTS = 300
SESSIONS = 20
SMOKE_SECONDS = float(os.environ.get("CS_LOAD_SECONDS", "20"))


class Server(NamedTuple):
    base: str
    facts: Facts
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    folder = tmp_path_factory.mktemp("sessions")
    db, state = folder / "cs.duckdb", folder / "cs.state.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env["PYTHONPATH"] = str(ROOT)
    # The demo builds while the server starts: the server opens the data file on a page's first run.
    demo = subprocess.Popen([sys.executable, "-m", "scoring", "demo", "--accounts", str(ACCOUNTS),
                             "--db", str(db), "--state", str(state)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = folder / "server.log"
    try:
        with serve(db, state, log=log) as base:
            output, _ = demo.communicate(timeout=300)
            assert demo.returncode == 0, output
            yield Server(base, Facts.of(db).with_pages(discover_pages(base)), log)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def key(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A URL as a page and its query parameters in any order."""
    path, _, q = url.partition("?")
    return path.strip("/"), tuple(sorted(urllib.parse.parse_qsl(q)))


def other_breakdown(q: str) -> str:
    return "CSM" if ("by", "Segment") in urllib.parse.parse_qsl(q.lstrip("?")) else "Segment"


def with_param(q: str, name: str, value: str) -> str:
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(q.lstrip("?")) if k != name] + [(name, value)]
    return "?" + urllib.parse.urlencode(pairs)


def urls(f: Facts) -> tuple[list[str], list[str], list[str]]:
    """Portfolio queries, Account deep links and the other pages, for the store ``f``."""
    per = SECTIONS[1]  # the section with the "Per" radio the even sessions change
    portfolio = [query(segment=f.segments[-1], view=per),
                 query(segment=list(f.segments[:2]), by="Segment", view=per),
                 query(csm=f.csms[0], region=f.regions[0], view=per),
                 query(plan=f.plans[0], renewal_within=180, view=per)]
    accounts = [f"/Account{query(account=a)}" for a in f.accounts[::4]]
    others = [f"/{p}" for p in sorted(f.pages) if p not in ("", "Account")]
    if "At_risk" in f.pages:
        others.append(f"/At_risk{query(owner=f.csms[0])}")
    return portfolio, accounts, others


def problem(url: str, run: Run, reference: Run | None) -> str | None:
    if (why := check(run)) is not None:
        return f"{url}: {why}"
    if reference is not None and (diff := differences(reference, run)):
        return f"{url}: differs from one session alone: {'; '.join(diff)[:600]}"
    return None


def assert_quiet_log(log: Path) -> None:
    """The server logged no traceback: nothing failed out of sight (a page's uncaught exception,
    an error sending to a websocket, a session that could not be closed)."""
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, log_tail(log, 60)


def split(url: str) -> tuple[str, str]:
    path, _, q = url.partition("?")
    return path.strip("/"), q


def plan_for(i: int, s: Session | None, portfolio: list[tuple[str, str]],
             pages: list[str]) -> list[tuple[str, object]]:
    """Session ``i``'s two runs, as (URL it should show, action): a page load by URL, then an
    interaction in the same session. Even sessions take the Portfolio by URL, then change a
    widget; odd ones open one of ``pages`` (accounts and the other pages, taken in turn) by URL,
    then go through the menu to the next."""
    if i % 2 == 0:
        first, after = portfolio[i // 2 % len(portfolio)]
        return [(first, lambda: s.open(first)),
                (after, lambda: s.set_widget("by", other_breakdown(split(first)[1])))]
    j = i // 2
    first, then = pages[2 * j % len(pages)], pages[(2 * j + 1) % len(pages)]
    return [(first, lambda: s.open(first)), (then, lambda: s.goto(*split(then)))]


def test_twenty_sessions_at_once_see_what_one_session_sees(server, capsys):
    queries, accounts, others = urls(server.facts)
    portfolio = [("/" + q, with_param(q, "by", other_breakdown(q))) for q in queries]
    pages = [u for pair in itertools.zip_longest(accounts, others) for u in pair if u]  # alternate
    wanted = [u for pair in portfolio for u in pair] + pages
    covered = {key(url) for i in range(SESSIONS) for url, _ in plan_for(i, None, portfolio, pages)}
    assert covered == {key(u) for u in wanted}, "more pages than sessions: raise SESSIONS"

    # One session at a time: the reference (on caches only one session alone has filled).
    started = time.perf_counter()
    reference: dict = {}
    with Session(server.base) as alone:
        for url in wanted:
            run = alone.open(url if url.startswith("/") else "/" + url)
            assert (why := problem(url, run, None)) is None, why + "\n" + log_tail(server.log)
            reference[key(url)] = run
        alone.clear_cache()  # cold again: the twenty sessions fill the caches together
    reference_s = time.perf_counter() - started

    barrier = threading.Barrier(SESSIONS)
    found: list[str] = []
    runs: list[Run] = []
    lock = threading.Lock()

    def session(i: int) -> None:
        mine: list[str] = []
        s = Session(server.base)
        try:
            plan = plan_for(i, s, portfolio, pages)
            barrier.wait(timeout=60)
            for n, (url, act) in enumerate(plan):
                run = act()
                if n and i % 2 == 0:  # the widget put its value into the URL, as the browser does
                    assert key("?" + s.query_string) == key(url), (s.query_string, url)
                with lock:
                    runs.append(run)
                if (why := problem(url, run, reference[key(url)])) is not None:
                    mine.append(f"session {i}: {why}")
        except Exception as exc:
            mine.append(f"session {i}: {type(exc).__name__}: {exc}")
        finally:
            s.close()
            with lock:
                found.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i,), name=f"session-{i}") for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    burst_s = time.perf_counter() - started
    assert not any(t.is_alive() for t in threads), "a session hung"
    assert not found, "\n".join(found[:10]) + "\n" + log_tail(server.log)
    assert len(runs) == 2 * SESSIONS
    assert_quiet_log(server.log)
    times = [r.interaction_seconds for r in runs]
    with capsys.disabled():
        print(f"\n  {len(wanted)} URLs alone in {reference_s:.1f} s; {SESSIONS} sessions x 2 runs at once "
              f"in {burst_s:.1f} s: median {statistics.median(times):.2f} s, p95 {pct(times, 0.95):.2f} s")


def test_load_smoke_has_no_errors(server, capsys):
    out = scripted_load(server.base, server.facts, sessions=SESSIONS, seconds=SMOKE_SECONDS, think=0)
    errors = [f"{i.journey} / {i.step}: {i.error}" for i in out if i.error]
    assert out, "no interaction finished"
    assert not errors, "\n".join(errors[:10]) + "\n" + log_tail(server.log)
    assert_quiet_log(server.log)
    times = [i.seconds for i in out]
    with capsys.disabled():
        print(f"\n  smoke: {SESSIONS} sessions for {SMOKE_SECONDS:.0f} s, {len(out)} interactions, 0 errors; "
              f"median {statistics.median(times):.2f} s, p95 {pct(times, 0.95):.2f} s, "
              f"{sum(i.payload_bytes for i in out) / len(out) / 1024:.0f} KB per rerun")


def test_the_chart_bundle_is_served_as_javascript_and_nothing_else_is(server):
    with urllib.request.urlopen(f"{server.base}/app/static/{plot.BUNDLE}", timeout=30) as r:
        assert r.status == 200 and "javascript" in r.headers["Content-Type"]
        assert r.read() == plot.BUNDLE_PATH.read_bytes()
    for path in ("app.py", ".streamlit/config.toml", "missing.js"):  # only what lies in static/
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.base}/app/static/{path}", timeout=30)
        assert err.value.code in (400, 404), path
