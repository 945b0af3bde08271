"""Load benchmark, the browser journeys: real browsers working the app beside the scripted sessions.

Why it is shaped like this:

- **What a person waits for.** Playwright drives Debian's chromium, one browser with a context
  per session (its own Streamlit session). A time runs from the click or the address bar to the
  page showing its numbers, i.e. ``data-test-script-state=notRunning`` with no skeleton left
  (element code loads lazily); a click waits for the run's ``script_finished`` on the page's own
  websocket first (``_finished``), so it never reads the state from before the rerun.
- **Warm first, then alone, then the window.** Each browser loads the app once, unmeasured (the
  script bundle, element code loaded lazily); then the first browser makes the journey once with
  nothing else running (the "alone" times); then the measured window begins for everyone.
- **Errors end the journey, never retried:** an exception or ``st.error`` on the page, a lost
  connection, a step that broke.

``CHROMIUM``, ``CHROMIUM_ARGS``, ``DONE``, ``_finished`` and ``shown_problem`` are defined here once
and also used by the browser benchmark (``bench/browser_bench.py``, ``bench/browser_tab.py``).
"""
from __future__ import annotations

import asyncio
import random
import threading
import time

from load_facts import Facts, Interaction, query
from scoring.portfolio import SECTIONS  # the Portfolio's tabs

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DONE = "[data-testid=stApp][data-test-script-state=notRunning]"
NO_SKELETON = "() => !document.querySelector('[data-testid=stSkeleton]')"
BROWSER_TIMEOUT_MS = 120_000  # an upper bound on a loaded machine, not a wait


def _finished(payload: object) -> bool:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not isinstance(payload, bytes):
        return False
    msg = ForwardMsg()
    msg.ParseFromString(payload)
    return (msg.WhichOneof("type") == "script_finished"
            and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN)


async def shown_problem(page) -> str | None:
    """What the page shows is wrong (an exception box, an error, a lost connection), or None."""
    app = page.locator("[data-testid=stApp]")
    if (state := await app.get_attribute("data-test-connection-state")) not in (None, "CONNECTED"):
        return f"connection {state}"
    for testid in ("stException", "stAlertContentError"):
        box = page.locator(f"[data-testid={testid}]")
        if await box.count():
            return f"{testid}: {(await box.first.inner_text())[:200]}"
    return None


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
        return await shown_problem(self.page)

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

