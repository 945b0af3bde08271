"""A scripted Streamlit client: talks to a real ``streamlit run app.py`` server as a browser tab does,
without a browser, and reports what the page showed.

Why it is shaped like this (read off the installed Streamlit 1.67, ``streamlit/web/server/starlette/``
and ``streamlit/static``'s connection code; this Streamlit serves with Starlette and uvicorn, not
Tornado, so the client uses ``websockets``, which Streamlit itself depends on):

- **Handshake, as the browser's ``ConnectionManager`` does it.** ``GET /_stcore/health`` first (the
  browser's ping; with ``server.enableXsrfProtection`` the answer sets the ``_streamlit_xsrf``
  cookie), then the websocket ``/_stcore/stream`` with ``Origin`` and ``Cookie`` headers and the
  subprotocols ``["streamlit", <xsrf cookie value>]``: the server repurposes the second
  subprotocol entry as the XSRF token and compares it with the cookie. ``Host`` is
  ``127.0.0.1:PORT``, which ``server.allowedHosts`` must list (the app's config does).
- **A run is a ``BackMsg.rerun_script``** (a ``ClientState``): ``query_string`` (without ``?``),
  ``page_name`` (the URL path, ``""`` for the main page) on a page load, or ``page_script_hash``
  for in-app navigation, plus ``widget_states`` for widget changes, ``context_info`` and the
  hashes of cached messages. The server answers with ``ForwardMsg``s (``new_session``,
  ``page_info_changed``, ``delta``s keyed by ``metadata.delta_path``, ...) until
  ``script_finished``; the client keeps the last element per path, as the page would show it.
- **One ``Session`` is one browser tab.** ``open(url)`` is a page load: a new websocket and so a
  new Streamlit session, where query parameters seed the widgets bound to them.
  ``set_widget``, ``goto`` and ``rerun`` are interactions inside that session. Widget values sent
  once stay on the server, so the client sends only the ones it changed (the browser sends all).
- **Fragments, as the browser.** A widget drawn inside an ``st.fragment`` carries its fragment id;
  changing it sends that id with the rerun (``ClientState.fragment_id``), so the server reruns the
  fragment only, and the run's elements are the previous run's with the fragment's replaced.
- **Message cache, as the browser.** ``cacheable`` messages (elements of 10 kB and more) are
  kept by hash and their hashes sent with each rerun, so the server answers with a small
  ``ref_hash`` for what the tab already holds (``Run.cached`` counts them). ``Run.payload_bytes``
  (message bytes) and ``Run.wire_bytes`` (socket bytes: frames, and compression when the server
  enables it, which Streamlit does not by default) are what a browser tab would receive.

Not a browser: nothing is rendered, no JavaScript runs, charts are counted, not drawn; lazy
dataframes (over 150,000 rows) are read from their first chunk only (``Table.partial``).
"""
from __future__ import annotations

import contextlib
import json
import io
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
FINISHED = ForwardMsg.ScriptFinishedStatus
DONE_STATUSES = ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY")  # a page, a fragment
ALERT_KINDS = {1: "error", 2: "warning", 3: "info", 4: "success"}
MAX_MESSAGE = 200 * 2**20  # server.maxMessageSize's default; websockets would stop at 1 MB
# Widget kinds by the WidgetState field their value travels in (streamlit/elements/widgets/*.py).
STRING_ARRAY = {"multiselect", "select_slider", "button_group", "date_input"}
STRING = {"selectbox", "radio", "text_input", "text_area", "color_picker", "time_input"}
TRIGGER = {"button", "download_button"}


class ProtocolError(RuntimeError):
    """The server said something a browser would show as broken (page not found, closed socket)."""


@dataclass(frozen=True)
class Element:
    path: tuple[int, ...]
    kind: str  # the Element oneof: "metric", "markdown", "dataframe", ...
    proto: Any  # that oneof's message
    fragment: str = ""  # the st.fragment that drew it ("": the page itself)


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    partial: bool  # a lazy dataframe of which only the first chunk was read


@dataclass
class Run:
    """What one run of a page showed, and what it cost."""

    elements: list[Element]
    seconds: float  # from sending the rerun to receiving script_finished
    payload_bytes: int  # ForwardMsg bytes received for this run
    wire_bytes: int  # socket bytes received for this run
    messages: int
    status: str  # script_finished status name
    query_string: str  # the URL's query after the run (page_info_changed)
    page_script_hash: str
    problems: list[str] = field(default_factory=list)  # page_not_found, unresolved ref_hash
    cached: int = 0  # messages the server sent as a reference to this tab's cache
    connect_seconds: float = 0.0  # a page load only: health check and websocket handshake

    @property
    def interaction_seconds(self) -> float:
        """What a person waits: the run, plus the connection on a page load."""
        return self.connect_seconds + self.seconds

    def of(self, *kinds: str) -> list[Element]:
        return [e for e in self.elements if e.kind in kinds]

    @property
    def metrics(self) -> dict[str, str]:
        """label -> value; a label seen again gets `` (2)``, `` (3)``... so nothing is lost."""
        out: dict[str, str] = {}
        for e in self.of("metric"):
            label, n = e.proto.label, 2
            while label in out:
                label, n = f"{e.proto.label} ({n})", n + 1
            out[label] = e.proto.body
        return out

    @property
    def texts(self) -> list[str]:
        """Markdown, captions, headings, text and code, in page order."""
        out = []
        for e in self.of("markdown", "text", "heading", "code"):
            out.append(e.proto.code_text if e.kind == "code" else e.proto.body)
        return out

    @property
    def captions(self) -> list[str]:
        return [e.proto.body for e in self.of("markdown") if e.proto.element_type == 2]

    @property
    def alerts(self) -> list[tuple[str, str]]:
        """(error|warning|info|success, body) of each ``st.error``/``st.warning``/..."""
        return [(ALERT_KINDS.get(e.proto.format, "?"), e.proto.body) for e in self.of("alert")]

    @property
    def errors(self) -> list[str]:
        return [body for kind, body in self.alerts if kind == "error"]

    @property
    def exceptions(self) -> list[str]:
        """Every ``exception`` element, as ``Type: message`` (also deprecation warnings)."""
        return [f"{e.proto.type}: {e.proto.message}" for e in self.of("exception")]

    @property
    def tables(self) -> list[Table]:
        return [_table(e.proto) for e in self.of("dataframe", "table")]

    @property
    def dataframes(self) -> list[pd.DataFrame]:
        return [t.frame for t in self.tables]

    @property
    def widgets(self) -> dict[str, Element]:
        """Widgets with a user key, by key."""
        out = {}
        for e in self.elements:
            key = _user_key(getattr(e.proto, "id", "") if e.kind != "dataframe" else "")
            if key is not None:
                out[key] = e
        return out

    @property
    def ok(self) -> bool:
        return (self.status in DONE_STATUSES and not self.exceptions and not self.errors
                and not self.problems)

    @property
    def charts(self) -> list[str]:
        """Each Plotly chart's figure (JSON text; ``ui.plot``), the numbers it draws included."""
        from ui import plot

        sent = [json.loads(e.proto.json) for e in self.of("bidi_component") if e.proto.component_name == plot.COMPONENT]
        return [d["figure"] for d in sent if "figure" in d]  # not the preload under the menu


def differences(a: Run, b: Run) -> list[str]:
    """How the pages of two runs differ in what a person reads (empty: the same): metrics, texts,
    alerts, exceptions, chart figures and tables (values, columns and types; NaN equals NaN)."""
    out = []
    for name in ("metrics", "texts", "alerts", "exceptions", "charts"):
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            out.append(f"{name}: {_diff(x, y)}")
    ta, tb = a.dataframes, b.dataframes
    if len(ta) != len(tb):
        out.append(f"tables: {len(ta)} against {len(tb)}")
    for i, (x, y) in enumerate(zip(ta, tb)):
        if list(x.columns) != list(y.columns) or not x.equals(y):
            out.append(f"table {i}: {x.shape} {list(x.columns)[:6]} against {y.shape}")
    return out


def _diff(x: Any, y: Any) -> str:
    if isinstance(x, dict) and isinstance(y, dict):
        keys = [k for k in {**x, **y} if x.get(k) != y.get(k)]
        return ", ".join(f"{k!r}: {x.get(k)!r} != {y.get(k)!r}" for k in keys[:5])
    if isinstance(x, list) and isinstance(y, list):
        for i, (u, v) in enumerate(zip(x, y)):
            if u != v:
                return f"item {i}: {_diff(u, v)}"
        return f"{len(x)} items against {len(y)}"
    if isinstance(x, str) and isinstance(y, str):  # where they part, not how they start
        at = next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
        lo = max(0, at - 40)
        return f"at {at}: {x[lo:at + 60]!r} != {y[lo:at + 60]!r}"
    return f"{str(x)[:200]!r} != {str(y)[:200]!r}"


def _table(proto: Any) -> Table:
    data, partial = proto.arrow_data.data, False
    if not data and proto.HasField("lazy_data"):
        data = proto.lazy_data.initial_chunk.data
        partial = (not proto.lazy_data.HasField("row_count")
                   or proto.lazy_data.row_count > _rows(data))
    if not data:
        return Table(pd.DataFrame(), partial)
    return Table(pa.ipc.open_stream(io.BytesIO(data)).read_pandas(), partial)


def _rows(data: bytes) -> int:
    return pa.ipc.open_stream(io.BytesIO(data)).read_all().num_rows if data else 0


def _user_key(element_id: str) -> str | None:
    # Element ids look like "$$ID-<hash>-<user key>" ("None" without a key); see
    # streamlit.runtime.state.common.user_key_from_element_id.
    if not element_id or not element_id.startswith("$$ID-"):
        return None
    key = element_id.split("-", maxsplit=2)[-1]
    return None if key == "None" else key


class _CountingSocket(socket.socket):
    """A TCP socket that counts the bytes it receives (websockets reads through ``recv``)."""

    received = 0

    def recv(self, bufsize: int, flags: int = 0) -> bytes:  # type: ignore[override]
        data = super().recv(bufsize, flags)
        self.received += len(data)
        return data


class Session:
    """One browser tab on a Streamlit server at ``base_url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, base_url: str, *, timeout: float = 120.0, cache_messages: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cache_messages = cache_messages
        self._ws: Any = None
        self._sock: _CountingSocket | None = None
        self._cache: dict[str, ForwardMsg] = {}
        self._widgets: dict[str, WidgetState] = {}  # values this tab changed, by widget id
        self.pages: dict[str, str] = {}  # url path ("" = main page) -> page_script_hash
        self.page_script_hash = ""
        self.query_string = ""
        self.last: Run | None = None
        self.connect_seconds = 0.0

    # ------------------------------------------------------------ connecting

    def connect(self) -> None:
        """Open a new connection, and so a new Streamlit session, without running a page."""
        self.close()
        started = time.perf_counter()
        parts = urllib.parse.urlsplit(self.base_url)
        with urllib.request.urlopen(f"{self.base_url}/_stcore/health", timeout=self.timeout) as resp:
            cookie = _xsrf_cookie(resp.headers.get_all("Set-Cookie") or [])
        sock = _CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect((parts.hostname, parts.port or 80))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {"Cookie": f"_streamlit_xsrf={cookie}"} if cookie else {}
        self._ws = connect(
            f"ws://{parts.netloc}/_stcore/stream", sock=sock, origin=self.base_url,
            subprotocols=["streamlit", cookie or "PLACEHOLDER_AUTH_TOKEN"],
            additional_headers=headers, max_size=MAX_MESSAGE, open_timeout=self.timeout,
            ping_interval=None,  # the server pings; websockets answers in its own thread
            legacy=True)  # a connection object kept by this Session, not a `with` block
        self._sock = sock
        self._cache.clear()
        self._widgets.clear()
        self.connect_seconds = time.perf_counter() - started

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:
                pass
        self._ws = self._sock = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ what a person does

    def open(self, url: str = "/") -> Run:
        """Load ``url`` (``/``, ``/Account?account=ID``, ``?segment=SMB``) in a new session."""
        path, _, query = url.partition("?")
        self.connect()
        run = self._run(query=query, page_name=path.strip("/"), page_script_hash="")
        run.connect_seconds = self.connect_seconds
        return run

    def rerun(self) -> Run:
        """Run the current page again, as the "Rerun" menu item does."""
        return self._run(query=self.query_string, page_script_hash=self.page_script_hash)

    def goto(self, page: str, query: str = "") -> Run:
        """Navigate inside the app (``st.page_link``) to ``page`` (its URL path, ``""`` = main)."""
        if page not in self.pages:
            raise ProtocolError(f"no page {page!r}; the app has {sorted(self.pages)}")
        # The old page's widgets are gone; element ids do not name the page, so values sent for
        # them could land on a same-looking widget of the new page.
        self._widgets.clear()
        return self._run(query=query.lstrip("?"), page_script_hash=self.pages[page])

    def set_widget(self, key: str, value: Any) -> Run:
        """Change the widget with user key ``key`` on the current page to ``value`` (option
        labels for selections, numbers, text, True for a button) and rerun, as a click does."""
        if self.last is None or key not in self.last.widgets:
            shown = sorted(self.last.widgets) if self.last else []
            raise KeyError(f"no widget with key {key!r} on this page; it has {shown}")
        element = self.last.widgets[key]
        state = widget_state(element, value)
        if element.kind not in TRIGGER:  # a click fires once; values persist like the browser's
            self._widgets[state.id] = state
        if getattr(element.proto, "query_param_key", ""):
            # The browser itself writes a bound widget's new value into the URL, and the rerun
            # carries that query string (the server sends page_info_changed only to correct it).
            self.query_string = _with_param(self.query_string, element.proto.query_param_key, value)
        others = [s for wid, s in self._widgets.items() if wid != state.id]
        return self._run(query=self.query_string, page_script_hash=self.page_script_hash,
                         widgets=[*others, state], fragment=element.fragment)

    def clear_cache(self) -> None:
        """Clear the server's ``st.cache_data`` and ``st.cache_resource`` for every session (the
        menu's "Clear cache"); returns once the server has done it."""
        if self._ws is None:
            self.connect()
        self._ws.send(BackMsg(clear_cache=True).SerializeToString())
        self.heartbeat()  # handled in order on the server, after the clearing

    def heartbeat(self) -> float:
        """Send the browser's app heartbeat and wait for its acknowledgement; the seconds taken."""
        if self._ws is None:
            raise ProtocolError("not connected: open() a URL first")
        started = time.perf_counter()
        self._ws.send(BackMsg(app_heartbeat=True).SerializeToString())
        while True:
            left = started + self.timeout - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no heartbeat_ack within {self.timeout:.0f} s")
            try:
                data = self._ws.recv(timeout=left)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                raise ProtocolError(f"the server closed the connection: {exc}") from None
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            if fwd.WhichOneof("type") == "heartbeat_ack":
                return time.perf_counter() - started

    # ------------------------------------------------------------ the protocol

    def _run(self, *, query: str, page_script_hash: str, page_name: str = "",
             widgets: Iterable[WidgetState] | None = None, fragment: str = "") -> Run:
        if self._ws is None:
            raise ProtocolError("not connected: open() a URL first")
        self.query_string = query
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string = query
        rerun.page_script_hash = page_script_hash
        rerun.page_name = page_name
        rerun.fragment_id = fragment
        for state in widgets if widgets is not None else self._widgets.values():
            rerun.widget_states.widgets.add().CopyFrom(state)
        if self.cache_messages:
            rerun.cached_message_hashes.extend(self._cache)
        info = rerun.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url = f"{self.base_url}/{page_name}" + (f"?{query}" if query else "")
        info.is_embedded, info.color_scheme = False, "light"
        assert self._sock is not None
        wire_before = self._sock.received
        started = time.perf_counter()
        self._ws.send(msg.SerializeToString())
        run = self._collect(started, wire_before, fragment)
        self.last = run
        return run

    def _collect(self, started: float, wire_before: int, fragment: str = "") -> Run:
        # a fragment's run replaces that fragment's elements and leaves the rest of the page
        kept = self.last.elements if fragment and self.last is not None else []
        elements: dict[tuple[int, ...], Element] = {e.path: e for e in kept}
        problems: list[str] = []
        payload = count = cached = 0
        status = ""
        deadline = started + self.timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no script_finished within {self.timeout:.0f} s "
                                   f"({count} messages received)")
            try:
                data = self._ws.recv(timeout=left)
            except TimeoutError:
                continue  # the deadline check above raises with the details
            except ConnectionClosed as exc:
                raise ProtocolError(f"the server closed the connection: {exc}") from None
            if isinstance(data, str):
                raise ProtocolError("the server sent a text frame; Streamlit sends binary protobufs")
            payload += len(data)
            count += 1
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            kind = fwd.WhichOneof("type")
            if kind == "ref_hash":
                held = self._cache.get(fwd.ref_hash)
                if held is None:
                    problems.append(f"ref_hash {fwd.ref_hash} not in this tab's cache")
                    continue
                resolved = ForwardMsg()
                resolved.CopyFrom(held)
                resolved.metadata.CopyFrom(fwd.metadata)
                fwd, kind = resolved, resolved.WhichOneof("type")
                cached += 1
            elif self.cache_messages and fwd.metadata.cacheable and fwd.hash:
                self._cache[fwd.hash] = fwd
            if kind == "new_session":  # a run (re)starts: every element (of the fragment) is sent again
                for path in [p for p, e in elements.items() if not fragment or e.fragment == fragment]:
                    del elements[path]
                self.page_script_hash = fwd.new_session.page_script_hash
                self._learn_pages(fwd.new_session.app_pages)
            elif kind == "navigation":
                self._learn_pages(fwd.navigation.app_pages)
                if fwd.navigation.page_script_hash:
                    self.page_script_hash = fwd.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query_string = fwd.page_info_changed.query_string
            elif kind == "page_not_found":
                problems.append(f"page not found: {fwd.page_not_found.page_name!r}")
            elif kind == "delta":
                self._apply(elements, tuple(fwd.metadata.delta_path), fwd.delta)
            elif kind == "script_finished":
                status = FINISHED.Name(fwd.script_finished)
                if fwd.script_finished != FINISHED.FINISHED_EARLY_FOR_RERUN:
                    break
        seconds = time.perf_counter() - started
        assert self._sock is not None
        ordered = [elements[p] for p in sorted(elements)]
        return Run(ordered, seconds, payload, self._sock.received - wire_before, count, status,
                   self.query_string, self.page_script_hash, problems, cached=cached)

    @staticmethod
    def _apply(elements: dict[tuple[int, ...], Element], path: tuple[int, ...], delta: Any) -> None:
        kind = delta.WhichOneof("type")
        if kind not in ("new_element", "add_block"):
            return  # new_transient (toasts, spinners) leaves the page's elements as they are
        for stale in [p for p in elements if p[:len(path)] == path and len(p) > len(path)]:
            del elements[stale]  # what was inside a replaced container is gone
        if kind == "add_block":
            elements.pop(path, None)
            return
        el = delta.new_element
        inner = el.WhichOneof("type")
        if inner is None:
            elements.pop(path, None)
            return
        elements[path] = Element(path, inner, getattr(el, inner), delta.fragment_id)

    def _learn_pages(self, pages: Iterable[Any]) -> None:
        for p in pages:
            self.pages["" if p.is_default else p.url_pathname] = p.page_script_hash


def _with_param(query: str, key: str, value: Any) -> str:
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k != key]
    values = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
    for v in values:
        if isinstance(v, bool):
            v = str(v).lower()
        elif isinstance(v, float) and v.is_integer():
            v = int(v)
        pairs.append((key, str(v)))
    return urllib.parse.urlencode(pairs)


def _xsrf_cookie(set_cookies: list[str]) -> str | None:
    for header in set_cookies:
        name, _, rest = header.partition("=")
        if name.strip() == "_streamlit_xsrf":
            return rest.split(";", 1)[0].strip()
    return None


def widget_state(element: Element, value: Any) -> WidgetState:
    """The ``WidgetState`` a browser sends when the widget ``element`` takes ``value``."""
    proto, kind = element.proto, element.kind
    state = WidgetState(id=proto.id)
    options = list(getattr(proto, "options", []))
    if kind in STRING_ARRAY:
        values = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        _check_options(kind, values, options)
        state.string_array_value.SetInParent()  # an empty selection is a value too
        state.string_array_value.data.extend(values)
    elif kind in STRING:
        if value is not None:
            _check_options(kind, [str(value)], options)
            state.string_value = str(value)
        # None clears a selectbox: a state with no value set
    elif kind == "checkbox":
        state.bool_value = bool(value)
    elif kind == "number_input":
        if value is not None:
            state.double_value = float(value)
    elif kind == "slider":
        values = value if isinstance(value, (list, tuple)) else [value]
        state.double_array_value.SetInParent()
        state.double_array_value.data.extend(float(v) for v in values)
    elif kind in TRIGGER:
        state.trigger_value = True
    else:
        raise NotImplementedError(f"setting a {kind} is not supported by this client")
    return state


def _check_options(kind: str, values: list[str], options: list[str]) -> None:
    if options and kind in {"multiselect", "selectbox", "radio", "select_slider"}:
        missing = [v for v in values if v not in options]
        if missing:
            raise ValueError(f"{missing} not among the {kind}'s options {options[:20]}")


def wait_healthy(base_url: str, *, timeout: float = 60.0, proc: Any = None) -> float:
    """Wait until ``/_stcore/health`` answers 200; the seconds it took. ``proc``: a server
    ``Popen`` whose early exit ends the wait with an error."""
    started = time.perf_counter()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"{base_url.rstrip('/')}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{base_url} not healthy after {timeout:.0f} s")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(db: Path, state: Path, *, log: Path, port: int | None = None, start_timeout: float = 90.0,
          root: Path = ROOT) -> Iterator[str]:
    """``streamlit run app.py`` from ``root`` on ``db`` and ``state``, on a free loopback port;
    yields its base URL once ``/_stcore/health`` answers, and stops it (its own process, by id)
    on the way out, also on failure. Its output goes to ``log``."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("CS_ACCESS", "CS_CRASH_AT", "CS_TEST_SWAP_WITH")}
    env.update(CS_DB=str(db), CS_STATE=str(state))
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.headless", "true", "--server.address", "127.0.0.1",
           # others may edit the code while this runs: no file watcher work inside the server
           "--server.fileWatcherType", "none"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, timeout=start_timeout, proc=proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"
