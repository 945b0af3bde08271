"""The machinery of the browser journeys: a demo store, a real ``streamlit run app.py``, Debian's
chromium, and a thin wrapper over a Playwright page that knows when Streamlit has settled.

Shared by ``tests/e2e/conftest.py`` and ``scripts/screenshots.py``. Why it is shaped so:

- **The server runs from a folder of links** (``make_site``): ``app.py``, ``pages/``, ``ui/``, ``static/``,
  ``scoring/`` and a copy of ``.streamlit/config.toml``, with ``HOME`` inside it. Streamlit reads
  secrets from the working directory and ``~/.streamlit``, so a developer's own
  ``secrets.toml`` never turns sign-in on under the tests, and ``data/`` there is empty, so the
  first-start journey finds no database at the default path.
- **Settled means a finished run, not a quiet moment.** An init script counts the app's finished
  script runs, off the ``data-test-script-state`` attribute of ``[data-testid=stApp]`` and off the
  page's websocket (``page_js.RUN_COUNTER`` says why both); ``App.act`` waits for a run that finished
  after the action, and for the page to have drawn it. No fixed sleeps anywhere.
- **Tables are canvases** (Glide Data Grid). Their cell values are read from the grid's own
  accessible table (``role=grid``; only the rows and columns drawn on screen), and links and
  row checkboxes are found by moving the mouse along a row until the canvas shows a pointer.
- **Charts are read from Plotly's own figure** (``el._fullData``, decoded arrays), not pixels.
"""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from .page_js import (NO_RUNS, PAGE_STATE_JS, RUN_COUNTER, RUNS_NOW_JS,  # noqa: E402
                      SETTLED_JS)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SITE_ITEMS = ("app.py", "pages", "ui", "scoring", "static")
VIEWPORT = {"width": 1400, "height": 1000}
UI_TIMEOUT_MS = 60_000  # a first page load scores the whole book and fits the churn model
START_TIMEOUT_S = 60
EXCEPTION = "[data-testid=stException]"
ROW_PX = 35  # Streamlit's dataframe row (and header) height at the default theme
# The tests want the real error in the exception box; people get "none" (config.toml).
TEST_SERVER_ARGS = ("--client.showErrorDetails", "full")

def browser_problem() -> str | None:
    """Why the browser journeys cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"no chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    return None


def require_browser(what: str) -> None:
    """For a browser test outside the journeys: skip it, saying why, when ``browser_problem`` finds
    one, or fail it instead under ``CS_REQUIRE_BROWSER=1`` (CI), as the journeys do."""
    import pytest

    problem = browser_problem()
    if problem:
        if os.environ.get("CS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CS_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(f"{what} skipped: {problem}")


def read_back(cell: str) -> str:
    """The CSV reading rule (README): strip exactly one leading ``'`` from a text cell."""
    return cell[1:] if cell.startswith("'") else cell


def parse_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    """An outreach CSV as written (header, raw rows): UTF-8, optional BOM, RFC 4180."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    return rows[0], rows[1:]


# ---------------------------------------------------------------- the store and the server


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server or a command: ours minus the app's own settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CS_", "STREAMLIT_")) and k != "AUTHLIB_INSECURE_TRANSPORT"}
    env.update(PYTHONPATH=str(ROOT), HOME=str(home), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def build_demo(folder: Path, *, accounts: int = 300) -> Path:
    """``python -m scoring demo`` into ``folder/data/cs.duckdb``; returns the data file."""
    db = folder / "data" / "cs.duckdb"
    done = subprocess.run([sys.executable, "-m", "scoring", "demo", "--accounts", str(accounts),
                           "--db", str(db)], cwd=ROOT, env=server_env(folder / "home"),
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"building the demo failed:\n{done.stderr[-3000:]}")
    return db


def make_site(folder: Path) -> Path:
    """A folder the server runs in: links to the code and a copy of the app's config only."""
    site = folder / "site"
    (site / ".streamlit").mkdir(parents=True)
    (site / "home").mkdir()
    for name in SITE_ITEMS:
        (site / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / ".streamlit" / "config.toml", site / ".streamlit" / "config.toml")
    return site


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def streamlit_server(site: Path, *, env: dict[str, str], args: tuple[str, ...] = ()) -> Iterator[Server]:
    """``streamlit run app.py`` in ``site`` on a free loopback port, until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = site.parent / f"streamlit-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--server.runOnSave", "false", *args],
            cwd=site, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(url, proc, log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling the health endpoint while the server starts, not the page
    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT_S} s:\n{server.log_tail()}")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium driven by Playwright, until the block ends."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------- one browser context


class AppError(AssertionError):
    """The page showed a Streamlit exception or threw an uncaught JavaScript error."""


@dataclass
class Session:
    """One browser context (a person with their own cookies and tabs) on one server.

    Every tab opened in it is watched: uncaught page errors are collected, and ``check`` (run
    after every settle and at the end of each test) fails on them or on an exception box.
    """

    context: Any
    base_url: str
    page_errors: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Any, base_url: str, **context_options: Any) -> "Session":
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, **context_options)
        context.set_default_timeout(UI_TIMEOUT_MS)
        context.add_init_script(RUN_COUNTER)
        session = cls(context, base_url)
        context.on("page", session._watch)
        return session

    def _watch(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.page_errors.append(f"{page.url}: {exc}"))

    def new_app(self) -> "App":
        return App(self.context.new_page(), self)

    def check(self) -> None:
        problems = list(self.page_errors)
        for page in self.context.pages:
            if page.is_closed():
                continue
            boxes = page.locator(EXCEPTION)
            for i in range(boxes.count()):
                problems.append(f"{page.url}: Streamlit exception: {boxes.nth(i).inner_text()[:2000]}")
        if problems:
            raise AppError("\n".join(problems))

    def close(self) -> None:
        self.context.close()


class App:
    """One tab of the app, with the waits and readers the journeys use."""

    def __init__(self, page: Any, session: Session):
        self.page, self.session = page, session

    # -------------------------------------------------------- navigation and settling

    def goto(self, path: str = "/") -> "App":
        """Load ``path`` (a URL path with its query) and wait for its first run to finish."""
        self.page.goto(self.session.base_url + path)
        self.settled()
        return self

    def settled(self, after: dict[str, int] | None = None, *, timeout_ms: int = UI_TIMEOUT_MS) -> None:
        """Wait until a run has finished since the counts ``after`` (``runs()``; none: since the
        page opened) and none is running, and the page has drawn it; then check."""
        try:
            self.page.wait_for_function(SETTLED_JS, arg=after or NO_RUNS, timeout=timeout_ms)
        except Exception as exc:  # say what the page was waiting for, not only that it timed out
            raise AssertionError(f"the page did not settle after run {after}: "
                                 f"{self.page.evaluate(PAGE_STATE_JS)}") from exc
        self.frames(2)  # what the last messages brought is drawn on the next frames
        self.session.check()

    def frames(self, n: int = 1) -> None:
        """Let ``n`` animation frames pass (a hidden tab gets none: a timer stands in)."""
        self.page.evaluate("""n => new Promise(done => {
            const tick = () => (--n <= 0 ? done() : requestAnimationFrame(tick));
            requestAnimationFrame(tick);
            setTimeout(done, 250);
        })""", n)

    def eventually(self, check: Callable[[], T], *, timeout_ms: int = 15_000) -> T:
        """``check()``'s result once it passes (no AssertionError), tried again on every frame
        until ``timeout_ms``, then once more to report: grids and charts draw new data a few
        frames after the run that sent it, and more on a busy machine."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                return check()
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                self.frames(1)

    def runs(self) -> dict[str, int]:
        """The finished-run counts now, to wait for a run after them (``settled``)."""
        return self.page.evaluate(RUNS_NOW_JS)

    def act(self, action: Callable[[], Any]) -> Any:
        """Do something that makes the script run again, and wait for that run to finish."""
        before = self.runs()
        result = action()
        self.settled(before)
        return result

    def reload(self) -> None:
        self.page.reload()
        self.settled()

    # -------------------------------------------------------- widgets (by label)

    def widget(self, testid: str, label: str) -> Any:
        """The widget of that kind whose label is exactly ``label``."""
        label_el = self.page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
        return self.page.get_by_test_id(testid).filter(has=label_el)

    def select(self, label: str, option: str) -> None:
        """Choose ``option`` in the selectbox ``label``."""
        self.widget("stSelectbox", label).click()
        self.act(lambda: self.page.get_by_role("option", name=option, exact=True).click())

    def multiselect(self, label: str, option: str) -> None:
        """Add ``option`` to the multiselect ``label`` (the dropdown is closed afterwards)."""
        self.widget("stMultiSelect", label).click()
        self.act(lambda: self.page.get_by_role("option", name=option, exact=True).click())
        self.page.keyboard.press("Escape")

    def tab(self, label: str) -> None:
        """Open the tab ``label`` (tabs that run only when open rerun the page)."""
        self.act(lambda: self.page.get_by_role("tab", name=label, exact=True).click())

    def fill(self, label: str, value: str, *, submit: bool = True) -> None:
        """Type into the text or number input ``label``; Enter sends it (a rerun)."""
        box = self.page.get_by_label(label, exact=True)
        box.fill(value)
        if submit:
            self.act(lambda: box.press("Enter"))

    def click(self, name: str, *, key: str | None = None) -> None:
        """Press the button named ``name`` (inside the element with key ``key`` if given)."""
        scope = self.page.locator(f".st-key-{key}") if key else self.page
        self.act(lambda: scope.get_by_role("button", name=name, exact=True).click())

    def keyed(self, key: str) -> Any:
        """The element created with ``key=...`` (Streamlit gives it the class ``st-key-KEY``)."""
        return self.page.locator(f".st-key-{key}")

    # -------------------------------------------------------- readers

    def main_text(self) -> str:
        return self.page.get_by_test_id("stMain").inner_text()

    def metrics(self) -> dict[str, str]:
        """Every metric on the page: label -> value as shown."""
        return self.page.eval_on_selector_all("[data-testid=stMetric]", """els => Object.fromEntries(
            els.map(e => [e.querySelector('[data-testid=stMetricLabel]').innerText.trim(),
                          e.querySelector('[data-testid=stMetricValue]').innerText.trim()]))""")

    def alerts(self, kind: str) -> list[str]:
        """Texts of the alerts of one kind (Info, Warning, Error, Success)."""
        return self.page.get_by_test_id(f"stAlertContent{kind}").all_inner_texts()

    def grid(self, grid: Any) -> Any:
        """``grid`` (a ``stDataFrame`` locator) once it is drawn."""
        grid.get_by_test_id("data-grid-canvas").wait_for()
        grid.locator("table[role=grid]").wait_for(state="attached")  # inside the canvas: never "visible"
        return grid

    def grid_size(self, grid: Any) -> int:
        """How many data rows the dataframe holds (drawn or not)."""
        n = self.grid(grid).locator("table[role=grid]").get_attribute("aria-rowcount")
        return int(n) - 1

    def grid_rows(self, grid: Any) -> list[dict[str, str]]:
        """The rows drawn in a dataframe, header -> cell text (raw values, as the grid holds
        them; link cells give their URL). Only drawn rows and columns: keep tables short, and
        compare the count with ``grid_size``."""
        table = self.grid(grid).locator("table[role=grid]").element_handle()
        self.page.wait_for_function(  # no rows left over from the grid's previous data
            "t => t.querySelectorAll('tbody tr').length <= +t.getAttribute('aria-rowcount') - 1", arg=table)
        return grid.evaluate("""el => {
            const t = el.querySelector('table[role=grid]');
            const heads = {};
            t.querySelectorAll('thead th').forEach(h => heads[h.getAttribute('aria-colindex')] = h.innerText);
            return [...t.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
                [...tr.querySelectorAll('td')].map(td => [heads[td.getAttribute('aria-colindex')], td.innerText])));
        }""")

    def table_rows(self, table: Any) -> list[dict[str, str]]:
        """The rows of a static table (``st.table``, ``stTable``), header -> cell text as shown."""
        return table.evaluate("""el => {
            const t = el.querySelector('table');
            const heads = [...t.querySelectorAll('thead th')].map(h => h.innerText.trim());
            return [...t.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
                [...tr.querySelectorAll('th, td')].map((c, i) => [heads[i], c.innerText.trim()])));
        }""")

    def _pointer_spans(self, grid: Any, row: int) -> tuple[list[tuple[float, float]], float]:
        """Where along a row the canvas shows a pointer (links, row checkboxes): [(x0, x1)], y."""
        canvas = self.grid(grid).get_by_test_id("data-grid-canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        y = box["y"] + ROW_PX * (row + 1) + ROW_PX / 2
        spans: list[tuple[float, float]] = []
        x, end = box["x"] + 2, box["x"] + box["width"] - 2
        while x < end:
            self.page.mouse.move(x, y)
            if canvas.evaluate("c => getComputedStyle(c).cursor") == "pointer":
                if spans and spans[-1][1] >= x - 5:
                    spans[-1] = (spans[-1][0], x)
                else:
                    spans.append((x, x))
            x += 4
        return spans, y

    def open_link(self, grid: Any, row: int, *, selectable: bool = False) -> "App":
        """Click the first link in ``row`` of a dataframe (0 = first data row); links open in a
        new tab, which is returned settled. ``selectable``: the grid has row checkboxes first."""
        spans, y = self._pointer_spans(grid, row)
        spans = spans[1:] if selectable else spans
        assert spans, f"no link in row {row} of the table"
        x = (spans[0][0] + spans[0][1]) / 2
        with self.session.context.expect_page() as opened:
            self.page.mouse.click(x, y)
        tab = App(opened.value, self.session)
        tab.settled()
        return tab

    def select_row(self, grid: Any, row: int) -> None:
        """Tick the row checkbox of ``row`` (a rerun: the selection goes to the script)."""
        spans, y = self._pointer_spans(grid, row)
        assert spans, f"no row checkbox in row {row} of the table"
        x = (spans[0][0] + spans[0][1]) / 2
        self.act(lambda: self.page.mouse.click(x, y))

    def plotly(self, key: str) -> list[dict[str, Any]]:
        """The traces of the Plotly chart created with ``key``: name, x, y, type."""
        plot = self.keyed(key).locator(".cs-chart[data-drawn=true]")
        plot.wait_for()
        return plot.evaluate("""el => el._fullData.map(t => ({
            name: t.name, type: t.type, x: Array.from(t.x || []), y: Array.from(t.y || [])}))""")

    def plotly_layout(self, key: str) -> dict[str, Any]:
        """The shapes and annotations of that chart's layout (threshold lines, their labels)."""
        plot = self.keyed(key).locator(".cs-chart[data-drawn=true]")
        plot.wait_for()
        return plot.evaluate("""el => ({
            shapes: (el._fullLayout.shapes || []).map(s => ({y0: s.y0, y1: s.y1, x0: s.x0, x1: s.x1})),
            annotations: (el._fullLayout.annotations || []).map(a => ({text: a.text, y: a.y, x: a.x}))})""")

    def download(self, button: str) -> tuple[str, bytes]:
        """Press the download button named ``button``; the file's suggested name and bytes."""
        target = self.page.get_by_test_id("stDownloadButton").get_by_role("button", name=button, exact=True)
        with self.page.expect_download() as got:
            self.act(target.click)
        d = got.value
        path = d.path()
        return d.suggested_filename, Path(path).read_bytes()

    def full_page_screenshot(self, path: Path, *, width: int = VIEWPORT["width"]) -> None:
        """The whole page, not just the window: Streamlit scrolls inside its own container, so
        the window is made as tall as the content first (and put back afterwards)."""
        height = self.page.evaluate("""() => {
            const main = document.querySelector('[data-testid=stMain]');
            const side = document.querySelector('[data-testid=stSidebarContent]');
            return Math.max(main ? main.scrollHeight : 0, side ? side.scrollHeight : 0, 600);
        }""")
        self.page.set_viewport_size({"width": width, "height": int(height) + 40})
        for chart in self.page.locator(".js-plotly-plot").all():
            chart.wait_for()
        self.page.wait_for_function(
            "() => !document.querySelector('[data-testid=stSkeleton]')", timeout=UI_TIMEOUT_MS)
        self.page.screenshot(path=str(path), full_page=True)
        self.page.set_viewport_size(VIEWPORT)
