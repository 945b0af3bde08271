"""Load benchmark: a few real browsers and about twenty scripted sessions working the app at once.

Why it is shaped like this:

- **One real server, as people get it.** ``streamlit run app.py`` in a subprocess on a demo store
  built for the run in a temporary folder (``python -m scoring demo --accounts N``), the app's own
  ``.streamlit/config.toml`` (XSRF protection, host allow-list) included. Nothing reads ``data/``.
- **Two kinds of client.** Browsers (Playwright driving Debian's chromium, one browser with a
  context per session) measure what a person waits for: from the click or the address bar to the
  page showing its numbers, i.e. ``data-test-script-state=notRunning`` with no skeleton left
  (element code loads lazily); a click waits for the run's ``script_finished`` on the page's own
  websocket first, so it never reads the state from before the rerun. Scripted sessions
  (``tests/wsclient.py``) speak the websocket protocol without rendering, so a 2-core machine can
  run twenty of them; their time is from sending the rerun to ``script_finished`` (plus the
  handshake on a page load).
- **Journeys, not single pages.** Each session repeats journeys people make: a manager filtering
  the portfolio, a CSM working the at-risk and expansion lists and opening accounts, a deep link
  to an account, a what-if on the weights, the reference pages. All read only: nothing is saved,
  marked or exported, so every session sees the same data throughout. A journey whose page is
  not in the app (yet) is skipped.
- **Figures and ratios.** Before the window every scripted journey runs once in one session,
  and the browser journey once in one browser, with nothing else running: the "alone" medians.
  The summary prints the loaded medians and 95th percentiles next to them, and their ratio.
- **Errors are counted, never retried:** an exception or ``st.error`` on the page, a run that does
  not finish, a closed connection, a page not found. The run exits 1 when there is any.
- **Think time** (``--think``, default 1 s, each pause 0.5x-1.5x of it, seeded) paces sessions as
  people; 0 makes it a closed loop that measures saturation instead.

The summary ends with one machine-readable line starting with ``result:`` (``key=value`` pairs).
``tests/test_sessions.py`` replays the scripted journeys (``scripted_load``) in its smoke run.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from scoring.portfolio import SECTIONS  # noqa: E402  (the Portfolio's tabs)
from wsclient import DONE_STATUSES, Run, Session, log_tail, serve  # noqa: E402  (needs the path above)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DONE = "[data-testid=stApp][data-test-script-state=notRunning]"
NO_SKELETON = "() => !document.querySelector('[data-testid=stSkeleton]')"
BROWSER_TIMEOUT_MS = 120_000  # an upper bound on a loaded machine, not a wait
REFERENCE_PAGES = ("How_scores_work", "Data", "Audit", "Validation")


# ---------------------------------------------------------------- what the journeys pick from


@dataclass(frozen=True)
class Facts:
    """Filter values and account ids of the store, read before the server starts."""

    csms: tuple[str, ...]
    segments: tuple[str, ...]
    plans: tuple[str, ...]
    regions: tuple[str, ...]
    accounts: tuple[str, ...]  # a spread of ids: active and churned ones
    pages: frozenset[str] = frozenset()  # URL paths of the app's pages ("" = Portfolio)

    @classmethod
    def of(cls, db: Path, *, sample: int = 12) -> "Facts":
        from scoring.store import DataStore

        ds = DataStore(db)
        try:
            def values(column: str) -> tuple[str, ...]:
                return tuple(r[0] for r in ds.rows(
                    f"SELECT DISTINCT {column} FROM accounts WHERE {column} IS NOT NULL "
                    f"AND {column} <> '' ORDER BY 1"))

            ids = [r[0] for r in ds.rows("SELECT account_id FROM accounts ORDER BY account_id")]
            step = max(1, len(ids) // sample)
            return cls(values("csm_owner"), values("segment"), values("plan"), values("region"),
                       tuple(ids[::step][:sample]))
        finally:
            ds.close()

    def with_pages(self, pages: set[str]) -> "Facts":
        return Facts(self.csms, self.segments, self.plans, self.regions, self.accounts,
                     frozenset(pages))


def query(**params: object) -> str:
    """``?a=1&b=x&b=y`` from keyword arguments (lists repeat the key, as bound widgets do)."""
    return "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, [])},
                                        doseq=True)


# ---------------------------------------------------------------- scripted journeys

Step = tuple[str, Run]
Journey = Callable[[Session, Facts, random.Random], Iterator[Step]]


def manager(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
    yield "portfolio", s.open("/" + query(segment=rng.choice([None, *f.segments]),
                                          by=rng.choice(["CSM", "Segment"]), view=rng.choice(SECTIONS)))
    yield "filter segment", s.set_widget("segment", rng.sample(f.segments, rng.randint(1, 2)))
    yield "filter csm", s.set_widget("csm", rng.sample(f.csms, 1))
    yield "clear csm", s.set_widget("csm", [])
    yield "account", s.goto("Account", query(account=rng.choice(f.accounts)))


def _work_list(path: str) -> Journey:
    def journey(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
        run = s.open(f"/{path}")
        yield path.lower(), run
        owners = list(run.widgets["owner"].proto.options)
        yield "owner", s.set_widget("owner", rng.choice(owners))
        yield "capacity", s.set_widget("capacity", rng.choice([5, 10, 25, 50]))
        yield "account", s.goto("Account", query(account=rng.choice(f.accounts)))
    return journey


def deep_link(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
    yield "account link", s.open("/Account" + query(account=rng.choice(f.accounts)))
    yield "rerun", s.rerun()
    yield "portfolio", s.goto("", query(region=rng.choice(f.regions)).lstrip("?"))


def what_if(s: Session, f: Facts, rng: random.Random) -> Iterator[Step]:
    run = s.open("/Tune_weights")
    yield "tune weights", run
    sliders = sorted(k for k, e in run.widgets.items() if e.kind == "slider")
    for key in rng.sample(sliders, min(2, len(sliders))):
        top = run.widgets[key].proto.max
        run = s.set_widget(key, round(rng.uniform(0, top) * 2) / 2)  # the slider's 0.5 steps
        yield "move weight", run


def reference(s: Session, f: Facts, rng: random.Random, *, pages: int = 2) -> Iterator[Step]:
    present = sorted(p for p in REFERENCE_PAGES if p in f.pages)
    for page in rng.sample(present, min(pages, len(present))):
        yield page.lower(), s.open(f"/{page}")


# (name, the pages it needs, journey, weight)
JOURNEYS: tuple[tuple[str, tuple[str, ...], Journey, int], ...] = (
    ("manager", ("", "Account"), manager, 3),
    ("at risk", ("At_risk", "Account"), _work_list("At_risk"), 3),
    ("expansion", ("Expansion", "Account"), _work_list("Expansion"), 2),
    ("deep link", ("Account", ""), deep_link, 2),
    ("what-if", ("Tune_weights",), what_if, 1),
    ("reference", (), reference, 1),
)


def journeys_for(facts: Facts) -> list[tuple[str, Journey, int]]:
    out = [(name, fn, w) for name, needs, fn, w in JOURNEYS if all(p in facts.pages for p in needs)]
    if sum(p in facts.pages for p in REFERENCE_PAGES) < 2:
        out = [j for j in out if j[0] != "reference"]
    return out


@dataclass(frozen=True)
class Interaction:
    kind: str  # "browser" or "scripted"
    journey: str
    step: str
    seconds: float
    error: str | None = None
    payload_bytes: int = 0  # of the rerun(s) it caused
    reruns: int = 0


def check(run: Run) -> str | None:
    """Why this run counts as an error, or None."""
    if run.status not in DONE_STATUSES:
        return f"script {run.status or 'did not finish'}"
    for what in (run.exceptions, run.errors, run.problems):
        if what:
            return what[0][:200]
    return None


def run_journey(base: str, name: str, journey: Journey, facts: Facts, rng: random.Random, *,
                until: float, think: float, record: Callable[[Interaction], None]) -> None:
    """One journey in a new session, each interaction recorded; an error ends the journey."""
    session = Session(base, timeout=120)
    steps = journey(session, facts, rng)
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                step, run = next(steps)
            except StopIteration:
                break
            except Exception as exc:  # the journey broke: one error, then a new journey
                record(Interaction("scripted", name, "?", time.perf_counter() - started,
                                   f"{type(exc).__name__}: {exc}"[:200]))
                break
            record(Interaction("scripted", name, step, run.interaction_seconds, check(run),
                               run.payload_bytes, 1))
            if think:
                time.sleep(rng.uniform(0.5, 1.5) * think)  # a person reading, not a wait
    finally:
        steps.close()
        session.close()


def scripted_session(base: str, facts: Facts, *, seed: int, until: float, think: float,
                     out: list[Interaction], lock: threading.Lock) -> None:
    """One scripted session doing weighted-random journeys until ``until`` (monotonic)."""
    rng = random.Random(seed)
    names, fns, weights = zip(*journeys_for(facts))

    def record(got: Interaction) -> None:
        with lock:
            out.append(got)

    while time.monotonic() < until:
        i = rng.choices(range(len(fns)), weights)[0]
        run_journey(base, names[i], fns[i], facts, rng, until=until, think=think, record=record)


def scripted_alone(base: str, facts: Facts, *, seed: int = 7) -> list[Interaction]:
    """Every journey once, one session at a time and nothing else running: the times to
    compare the loaded ones with."""
    out: list[Interaction] = []
    rng = random.Random(seed)
    for name, fn, _ in journeys_for(facts):
        if fn is reference:  # every reference page, so each step has its time alone
            fn = functools.partial(reference, pages=len(REFERENCE_PAGES))
        run_journey(base, name, fn, facts, rng, until=float("inf"), think=0, record=out.append)
    return out


def scripted_load(base: str, facts: Facts, *, sessions: int, seconds: float, think: float = 0.0,
                  seed: int = 7) -> list[Interaction]:
    """``sessions`` scripted sessions in threads, working the journeys for ``seconds``."""
    out: list[Interaction] = []
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=scripted_session, name=f"scripted-{i}", daemon=True,
                                kwargs=dict(base=base, facts=facts, seed=seed * 1000 + i, until=until,
                                            think=think, out=out, lock=lock))
               for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def discover_pages(base: str) -> set[str]:
    with Session(base) as s:
        s.open("/")
        return set(s.pages)


# ---------------------------------------------------------------- browser journeys


def _finished(payload: object) -> bool:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not isinstance(payload, bytes):
        return False
    msg = ForwardMsg()
    msg.ParseFromString(payload)
    return (msg.WhichOneof("type") == "script_finished"
            and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN)


class BrowserTab:
    """One Playwright page (its own browser context, so its own Streamlit session)."""

    def __init__(self, page, base: str) -> None:
        self.page, self.base = page, base
        self.ws = None
        self.received = 0  # websocket bytes
        self.finished = 0  # script_finished messages
        page.on("websocket", self._on_ws)

    def _on_ws(self, ws) -> None:
        self.ws = ws

        def frame(payload: object) -> None:
            if isinstance(payload, bytes):
                self.received += len(payload)
                if _finished(payload):
                    self.finished += 1
        ws.on("framereceived", frame)

    async def settled(self) -> str | None:
        """Wait until the page shows its numbers; what is wrong on it, or None."""
        await self.page.wait_for_selector(DONE, timeout=BROWSER_TIMEOUT_MS)
        await self.page.wait_for_function(NO_SKELETON, timeout=BROWSER_TIMEOUT_MS)
        app = self.page.locator("[data-testid=stApp]")
        if (state := await app.get_attribute("data-test-connection-state")) not in (None, "CONNECTED"):
            return f"connection {state}"
        for testid in ("stException", "stAlertContentError"):
            box = self.page.locator(f"[data-testid={testid}]")
            if await box.count():
                return f"{testid}: {(await box.first.inner_text())[:200]}"
        return None

    async def load(self, url: str) -> str | None:
        await self.page.goto(self.base + url, timeout=BROWSER_TIMEOUT_MS)
        return await self.settled()

    async def click(self, locator) -> str | None:
        """Click and wait for the rerun it causes to finish and show."""
        async with self.ws.expect_event("framereceived", predicate=_finished,
                                        timeout=BROWSER_TIMEOUT_MS):
            await locator.click(timeout=BROWSER_TIMEOUT_MS)
        return await self.settled()


async def browser_portfolio(tab: BrowserTab, f: Facts, rng: random.Random):
    yield "portfolio", await tab.load("/" + query(segment=rng.choice(f.segments), view=SECTIONS[1]))
    # the "Per" radio starts at CSM (the URL above does not set it): Segment reruns
    yield "breakdown", await tab.click(tab.page.locator("[data-testid=stRadio]").get_by_text(
        "Segment", exact=True))
    yield "menu at risk", await tab.click(tab.page.locator("[data-testid=stPageLink] a",
                                                           has_text="At risk"))
    yield "account link", await tab.load("/Account" + query(account=rng.choice(f.accounts)))
    yield "menu portfolio", await tab.click(tab.page.locator("[data-testid=stPageLink] a",
                                                             has_text="Portfolio"))


async def browser_journey(tab: BrowserTab, facts: Facts, rng: random.Random, *, until: float,
                          think: float, out: list[Interaction]) -> None:
    """The browser journey once (or until ``until``); an error ends it."""
    steps = browser_portfolio(tab, facts, rng)
    try:
        while time.monotonic() < until:
            started, before_bytes, before_runs = time.perf_counter(), tab.received, tab.finished
            try:
                step, problem = await steps.__anext__()
            except StopAsyncIteration:
                break
            except Exception as exc:  # the journey broke: one error, then a new journey
                out.append(Interaction("browser", "portfolio", "?", time.perf_counter() - started,
                                       f"{type(exc).__name__}: {str(exc).splitlines()[0]}"[:200]))
                break
            out.append(Interaction("browser", "portfolio", step, time.perf_counter() - started,
                                   problem, tab.received - before_bytes, tab.finished - before_runs))
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)  # reading, not a wait
    finally:
        await steps.aclose()


async def browser_load(base: str, facts: Facts, *, sessions: int, seconds: float, think: float,
                       seed: int, started: threading.Event,
                       ) -> tuple[list[Interaction], list[Interaction]]:
    """``sessions`` browser contexts in one chromium: the interactions of the measured window,
    and those of one journey by the first browser alone before it. Each browser loads the app
    once first, unmeasured (the script bundle, element code loaded lazily); then the journey
    alone; then ``started`` is set and the window of ``seconds`` begins."""
    from playwright.async_api import async_playwright

    out: list[Interaction] = []
    alone: list[Interaction] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tabs = []
            for _ in range(sessions):
                context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                tabs.append(BrowserTab(await context.new_page(), base))
            warm = await asyncio.gather(*(tab.load("/") for tab in tabs))
            if any(warm):
                raise RuntimeError(f"the browsers' first load failed: {[w for w in warm if w]}")
            await browser_journey(tabs[0], facts, random.Random(seed), until=float("inf"), think=0,
                                  out=alone)
            started.set()
            until = time.monotonic() + seconds

            async def session(i: int, tab: BrowserTab) -> None:
                rng = random.Random(seed * 7919 + i)
                while time.monotonic() < until:
                    await browser_journey(tab, facts, rng, until=until, think=think, out=out)

            await asyncio.gather(*(session(i, tab) for i, tab in enumerate(tabs)))
        finally:
            started.set()  # never leave the scripted sessions waiting
            await browser.close()
    return out, alone


# ---------------------------------------------------------------- reporting


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1), nearest rank: the value that q of the values do not exceed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Summary:
    kind: str
    sessions: int
    interactions: list[Interaction] = field(default_factory=list)
    alone: list[Interaction] = field(default_factory=list)  # the journeys once, nothing else running

    @property
    def errors(self) -> list[Interaction]:
        return [i for i in self.interactions + self.alone if i.error]

    @property
    def times(self) -> list[float]:
        return [i.seconds for i in self.interactions if not i.error]

    @property
    def alone_times(self) -> list[float]:
        return [i.seconds for i in self.alone if not i.error]

    @property
    def slowdown(self) -> float:
        """Median under load / median alone."""
        return median(self.times) / median(self.alone_times) if self.alone_times else float("nan")

    @property
    def bytes_per_rerun(self) -> float:
        reruns = sum(i.reruns for i in self.interactions)
        return sum(i.payload_bytes for i in self.interactions) / reruns if reruns else float("nan")

    def row(self) -> str:
        t = self.times
        return (f"{self.kind:<10}{self.sessions:>9}{len(self.interactions):>14}{len(self.errors):>8}"
                f"{median(t):>10.2f}{pct(t, 0.95):>9.2f}{max(t) if t else float('nan'):>9.2f}"
                f"{median(self.alone_times):>9.2f}{self.slowdown:>9.1f}x{self.bytes_per_rerun / 1024:>11.1f}")


def by_step(items: list[Interaction], alone: list[Interaction]) -> list[str]:
    def groups(of: list[Interaction]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for i in of:
            if not i.error:
                out.setdefault(f"{i.journey} / {i.step}", []).append(i.seconds)
        return out

    loaded, quiet = groups(items), groups(alone)
    return [f"  {name:<34}{len(t):>6}{median(t):>10.2f}{pct(t, 0.95):>9.2f}"
            f"{median(quiet.get(name, [])):>9.2f}" for name, t in sorted(loaded.items())]


def report(args: argparse.Namespace, browsers: Summary, scripted: Summary, *, warm_s: float,
           loads: tuple[float, float]) -> str:
    import duckdb
    import streamlit

    lines = [
        "",
        f"load benchmark: {args.accounts:,} accounts, {args.seconds:.0f} s, {browsers.sessions} browser + "
        f"{scripted.sessions} scripted sessions, think {args.think:g} s, {os.cpu_count()} cores, "
        f"Streamlit {streamlit.__version__}, DuckDB {duckdb.__version__}, Python {platform.python_version()}",
        f"load average (1 min) at the start of the window {loads[0]:.2f}, at its end {loads[1]:.2f}; "
        f"warm-up (every page once, scoring the book): {warm_s:.1f} s",
        "times in seconds; browsers: click or address bar to numbers on screen; scripted: rerun sent "
        "to script_finished (+ handshake on a page load); alone: each journey once, nothing else "
        "running; load / alone: the medians' ratio",
        "",
        f"{'kind':<10}{'sessions':>9}{'interactions':>14}{'errors':>8}{'median':>10}{'p95':>9}{'max':>9}"
        f"{'alone':>9}{'/ alone':>10}{'KB/rerun':>11}",
        *([browsers.row()] if browsers.sessions else []),
        scripted.row(),
        "",
        f"  {'by journey / step':<34}{'n':>6}{'median':>10}{'p95':>9}{'alone':>9}",
        *(["  browsers:"] + by_step(browsers.interactions, browsers.alone) if browsers.sessions else []),
        "  scripted:", *by_step(scripted.interactions, scripted.alone),
    ]
    errors = browsers.errors + scripted.errors
    if errors:
        lines += ["", f"errors ({len(errors)}; the first ten):"]
        lines += [f"  {e.kind} {e.journey} / {e.step}: {e.error}" for e in errors[:10]]
    summary = {
        "accounts": args.accounts, "seconds": f"{args.seconds:.0f}", "think": f"{args.think:g}",
        "browsers": browsers.sessions, "scripted": scripted.sessions,
        "load_before": f"{loads[0]:.2f}", "load_after": f"{loads[1]:.2f}",
    }
    for sm in (browsers, scripted):
        summary.update({
            f"{sm.kind}_interactions": len(sm.interactions), f"{sm.kind}_errors": len(sm.errors),
            f"{sm.kind}_median_s": f"{median(sm.times):.3f}", f"{sm.kind}_p95_s": f"{pct(sm.times, 0.95):.3f}",
            f"{sm.kind}_alone_median_s": f"{median(sm.alone_times):.3f}",
            f"{sm.kind}_vs_alone": f"{sm.slowdown:.2f}",
            f"{sm.kind}_bytes_per_rerun": f"{sm.bytes_per_rerun:.0f}"})
    lines.append("result: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120, help="length of the measured window (default 120)")
    p.add_argument("--accounts", type=int, default=2000, help="demo accounts (default 2,000)")
    p.add_argument("--browsers", type=int, default=4, help="real browser sessions (default 4; 0: none)")
    p.add_argument("--scripted", type=int, default=20, help="scripted sessions (default 20)")
    p.add_argument("--think", type=float, default=1.0,
                   help="mean pause between a session's interactions, seconds (default 1; 0: none)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--db", type=Path, help="use this data file (and the state file beside it) "
                                          "instead of building a demo store")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (store, server log)")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.accounts < 1 or args.browsers < 0 or args.scripted < 0:
        p.error("--seconds and --accounts must be positive, --browsers and --scripted at least 0")
    return args


def build_demo(folder: Path, accounts: int) -> tuple[Path, Path]:
    db, state = folder / "cs.duckdb", folder / "cs.state.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "scoring", "demo", "--accounts", str(accounts), "--db", str(db),
           "--state", str(state)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"building the demo store failed:\n{done.stdout}{done.stderr}")
    return db, state


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="cs-load-"))
    log = folder / "server.log"
    try:
        if args.db:
            db = args.db.absolute()
            state = db.with_name(db.stem + ".state.sqlite")
        else:
            started = time.perf_counter()
            print(f"building a {args.accounts:,}-account demo store in {folder}", flush=True)
            db, state = build_demo(folder, args.accounts)
            print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        facts = Facts.of(db)
        with serve(db, state, log=log) as base:
            print(f"server {base} (log {log})", flush=True)
            started = time.perf_counter()
            facts = facts.with_pages(discover_pages(base))
            with Session(base) as s:  # every page once: the first visit scores the book
                for p in sorted(facts.pages):
                    s.open(f"/{p}")
            warm_s = time.perf_counter() - started
            print(f"  pages {sorted(facts.pages)}; warm in {warm_s:.1f} s; journeys: "
                  f"{', '.join(n for n, _, _ in journeys_for(facts))}", flush=True)
            started = time.perf_counter()
            scripted_quiet = scripted_alone(base, facts, seed=args.seed)
            print(f"  every scripted journey once, alone: {time.perf_counter() - started:.1f} s", flush=True)
            browser_out: list[Interaction] = []
            browser_quiet: list[Interaction] = []
            browser_failed: list[str] = []
            ready = threading.Event()

            def drive_browsers() -> None:
                try:
                    loaded, quiet = asyncio.run(browser_load(
                        base, facts, sessions=args.browsers, seconds=args.seconds, think=args.think,
                        seed=args.seed, started=ready))
                    browser_out.extend(loaded)
                    browser_quiet.extend(quiet)
                except Exception as exc:
                    browser_failed.append(f"{type(exc).__name__}: {exc}")
                finally:
                    ready.set()

            thread = None
            if args.browsers:
                thread = threading.Thread(target=drive_browsers, name="browsers", daemon=True)
                thread.start()
                started = time.perf_counter()
                ready.wait()  # the browsers are warm: the measured window starts for everyone
                print(f"  {args.browsers} browser(s) warm, one journey alone, in "
                      f"{time.perf_counter() - started:.1f} s", flush=True)
            load_before = os.getloadavg()[0]
            print(f"working for {args.seconds:.0f} s ...", flush=True)
            scripted_out = scripted_load(base, facts, sessions=args.scripted, seconds=args.seconds,
                                         think=args.think, seed=args.seed)
            if thread is not None:
                thread.join()
            load_after = os.getloadavg()[0]
        browsers = Summary("browser", args.browsers, browser_out, browser_quiet)
        scripted = Summary("scripted", args.scripted, scripted_out, scripted_quiet)
        print(report(args, browsers, scripted, warm_s=warm_s, loads=(load_before, load_after)))
        if browsers.errors or scripted.errors:
            print(f"\nserver log (last lines):\n{log_tail(log)}", file=sys.stderr)
            return 1
        if browser_failed or (args.browsers and not browsers.interactions):
            print(f"error: the browsers did not work: {browser_failed or 'no interaction'}",
                  file=sys.stderr)
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
