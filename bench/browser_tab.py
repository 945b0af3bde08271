"""Browser benchmark, one visitor: a browser context and its page, and how an interaction is timed.

Why it is shaped like this:

- **Debian's chromium through Playwright**, one browser context per visitor, 1400x1000 window.
- **Times are taken inside the page**, so Playwright's own round trips are not counted: an init
  script notes ``performance.now()`` at every ``keydown`` and ``pointerdown`` (capture phase), and
  counts the app's finished runs as the browser journeys do (``tests/e2e/page_js.py``, ``RUN_COUNTER``: off
  ``data-test-script-state``, and off the page's websocket for a run whose state change React drew
  in one batch). The end of an interaction is the first animation frame in which a
  run that started after the input has finished (``[data-testid=stApp][data-test-script-state=
  notRunning]``), no element skeleton is left (element code loads lazily) and no element of the
  previous run is still marked stale: the page shows the new numbers and charts. Besides, Python
  waits for the run's ``script_finished`` on the page's own websocket, so it never reads the state
  from before the rerun. A page load runs from the navigation's start (``page.goto``; the
  document's ``performance.timeOrigin``) to that same frame.

Kept apart from what is measured (``bench/browser_measure.py``) so that the timing rules live in
one place, whatever the phase: every load and every input goes through ``Tab.load`` and ``Tab.act``.
"""
from __future__ import annotations

import asyncio
import time

from e2e.page_js import NO_RUNS, RAN_SINCE_JS, RUN_COUNTER, RUNS_NOW_JS
from load_browser import DONE, _finished, shown_problem
from ui import plot

TIMEOUT_MS = 600_000  # an upper bound (a cold 1M-account page on a loaded machine), not a wait
VIEWPORT = {"width": 1400, "height": 1000}

# the input's time; the finished runs are counted as the browser journeys count them
MARKS_JS = """(() => {
  if (window.__bb) return;
  const bb = window.__bb = {t0: null, t1: null};
  const mark = () => { bb.t0 = performance.now(); };
  addEventListener('keydown', mark, true);
  addEventListener('pointerdown', mark, true);
})();"""

# polled on every animation frame: the first frame that shows the finished run notes its time
SETTLED_JS = f"""n => {{
  const bb = window.__bb;
  const ok = !!bb && {RAN_SINCE_JS}(n)
    && document.querySelector('{DONE}') !== null
    && document.querySelector('[data-testid=stSkeleton]') === null
    && document.querySelector('[data-stale=true]') === null
    && {plot.DRAWN_JS};
  if (ok) bb.t1 = performance.now();
  return ok;
}}"""


class Tab:
    """One browser context and its page: one visitor with their own Streamlit session."""

    def __init__(self, context, page, base: str) -> None:
        self.context, self.page, self.base = context, page, base
        self.ws = None
        self.finished = 0  # script_finished messages seen on the page's websocket
        self.page_errors: list[str] = []
        page.on("websocket", self._on_ws)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)[:200]))

    @classmethod
    async def open(cls, browser, base: str) -> "Tab":
        context = await browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        await context.add_init_script(RUN_COUNTER)
        await context.add_init_script(MARKS_JS)
        return cls(context, await context.new_page(), base)

    def _on_ws(self, ws) -> None:
        self.ws = ws

        def frame(payload: object) -> None:
            if _finished(payload):
                self.finished += 1
        ws.on("framereceived", frame)

    async def close(self) -> None:
        await self.context.close()

    async def problem(self) -> str | None:
        """What is wrong on the page (an exception box, an error, a lost connection), or None."""
        if shown := await shown_problem(self.page):
            return shown
        if self.page_errors:
            return f"page error: {self.page_errors[0]}"
        return None

    async def load(self, path: str) -> tuple[float, float]:
        """Open ``path``: (seconds from the navigation's start to the page showing its numbers,
        measured in the page; the same seen from here, for comparison)."""
        started = time.perf_counter()
        await self.page.goto(self.base + path, wait_until="commit", timeout=TIMEOUT_MS)
        await self.page.wait_for_function(SETTLED_JS, arg=NO_RUNS, polling="raf", timeout=TIMEOUT_MS)
        wall = time.perf_counter() - started
        t1 = await self.page.evaluate("window.__bb.t1")
        return t1 / 1000, wall

    async def act(self, action) -> tuple[float, float]:
        """Do ``action`` (an input that reruns the script) and wait for the rerun to finish and
        show: (ms from the input event to the first frame showing it, in the page; ms from here)."""
        before = await self.page.evaluate(f"window.__bb.t0 = null; {RUNS_NOW_JS}")
        finished = self.finished
        started = time.perf_counter()
        async with self.ws.expect_event("framereceived", predicate=_finished, timeout=TIMEOUT_MS):
            await action()
            settle = asyncio.ensure_future(self.page.wait_for_function(
                SETTLED_JS, arg=before, polling="raf", timeout=TIMEOUT_MS))
        await settle
        wall = (time.perf_counter() - started) * 1000
        t0, t1 = await self.page.evaluate("[window.__bb.t0, window.__bb.t1]")
        if t0 is None or self.finished <= finished:
            raise RuntimeError("the input or the rerun was not seen")
        return t1 - t0, wall
