"""Plotly charts on the pages, drawn by plotly.js's basic bundle instead of ``st.plotly_chart``.

Why (measured, bench/browser_bench.py and docs/DASHBOARD.md): Streamlit's Plotly element loads
the full plotly.js, a 4.7 MB chunk with every trace type there is, the first time a page shows a
chart, and a new visitor's browser then spends about 0.95 s of main-thread time evaluating it;
every page with a chart took 2.3-3.7 s to load for a new visitor against 1.2-1.5 s without one.
Our charts use two trace types (bar and scatter, with shapes, annotations and error bars), all in
plotly.js's *basic* bundle (1.2 MB, evaluated in about 0.2 s). It is vendored in ``static/``
(``plotly-basic-4.1.1.min.js``, MIT licence beside it; 4.1.1 is the plotly.js that plotly.py 7.1
ships) and served by Streamlit's static file serving (``server.enableStaticServing``).

The figures are the same Plotly figures as before: built with plotly.py by ``ui.charts`` and
``ui.backtest``, serialised by plotly.py, drawn by plotly.js (``ui/plot.js``, a Streamlit
component that loads the bundle once per page and redraws in place with ``Plotly.react``). A
figure with a trace type the bundle does not draw is refused here, with its name, rather than
showing an empty box in the browser.

The look: ``TEMPLATE`` (registered as plotly.py's default template, ``cs``) gives Streamlit's
font and grid colours and the Okabe-Ito colour sequence, which people with any common
colour-vision deficiency can tell apart (bands keep their own colours and patterns, ``ui.charts``).
"""
from __future__ import annotations

import datetime as dt
import re
from contextlib import nullcontext
from pathlib import Path

import numpy as np

import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

BUNDLE = "plotly-basic-4.1.1.min.js"
SRC = f"./app/static/{BUNDLE}"  # relative: also right under server.baseUrlPath
BUNDLE_PATH = Path(__file__).resolve().parent.parent / "static" / BUNDLE
TRACES = frozenset({"bar", "scatter", "pie"})  # what the basic bundle draws
DEFAULT_HEIGHT = 450  # plotly.js's own default when a layout sets none
COMPONENT = "cs.plotly_chart"  # the Streamlit component's name
PRELOAD_KEY = "plotly_preload"  # the empty element under the menu (``preload``)
# A JavaScript expression, true in the page once every chart on it is drawn (plot.js marks each
# chart's box): browser tests and benches wait for it, so a page counts as loaded with its charts.
DRAWN_JS = ("[...document.querySelectorAll('.stBidiComponent')].every(c => "
            f"c.closest('.st-key-{PRELOAD_KEY}') || c.querySelector('.cs-chart[data-drawn=true]'))")

_GRID = "#E6EAF1"
TEMPLATE = go.layout.Template(layout={
    "font": {"family": '"Source Sans", sans-serif', "color": "#31333F", "size": 13},
    "title": {"font": {"size": 16}, "x": 0, "xanchor": "left"},
    "colorway": ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"],
    "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
    "xaxis": {"gridcolor": _GRID, "linecolor": _GRID, "zerolinecolor": _GRID, "automargin": True},
    "yaxis": {"gridcolor": _GRID, "linecolor": _GRID, "zerolinecolor": _GRID, "automargin": True},
    "hoverlabel": {"font": {"family": '"Source Sans", sans-serif'}},
})
pio.templates["cs"] = TEMPLATE
pio.templates.default = "cs"  # every figure built in this process, px's included

_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}

_JS = (Path(__file__).with_name("plot.js").read_text(encoding="utf-8")).replace("__PLOTLY_SRC__", SRC)
# not isolated in a shadow root: plotly.js puts its own styles (mode bar, hover) in the page head
_component = st.components.v2.component(COMPONENT, js=_JS, isolate_styles=False)


def spec(fig: go.Figure) -> tuple[str, int]:
    """The figure as the component's JSON (data, layout and config) and its height in pixels.

    Raises ``ValueError`` naming the trace types the basic bundle does not draw."""
    d = fig.to_dict()
    kinds = {t.get("type", "scatter") for t in d["data"]}
    if kinds - TRACES:
        raise ValueError(f"chart {fig.layout.title.text!r}: trace type(s) {sorted(kinds - TRACES)} are not in "
                         f"plotly.js's basic bundle ({BUNDLE}), which draws {sorted(TRACES)}")
    height = int(d["layout"].get("height") or DEFAULT_HEIGHT)
    fixed_margins(d)
    return pio.json.to_json_plotly({**d, "config": CONFIG}), height


CHAR_PX, LINE_PX, TITLE_PX = 7, 17, 24  # Source Sans at 13 px: a character (generously), a line, a title


def fixed_margins(d: dict) -> None:
    """Margins worked out here, so plotly.js need not measure every label and lay the chart out
    again (axis ``automargin``): with it, drawing the charts of a page took a new visitor's browser
    about 0.1-0.16 s more (A/B on Account, Tune weights and Validation, 100k demo). The left margin
    holds the longest category label on the y axis (or a number's six characters) and the axis
    title; the bottom one a line of tick labels (two for dates) and the title. A figure with more
    than one pair of axes, or one that sets ``automargin`` itself, keeps plotly's own margins."""
    layout = d["layout"]
    axes = [k for k in layout if k.startswith(("xaxis", "yaxis"))]
    if set(axes) - {"xaxis", "yaxis"}:
        return
    x, y = layout.setdefault("xaxis", {}), layout.setdefault("yaxis", {})
    if "automargin" in x or "automargin" in y:
        return
    labels = [v for t in d["data"] for v in _as_list(t.get("y")) if isinstance(v, str)]
    tick_w = CHAR_PX * (max(map(len, labels)) if labels else 6)
    left = min(tick_w, 320) + 10 + (TITLE_PX if _title(y) else 0)
    dates = any(getattr(t.get("x"), "dtype", np.dtype(object)).kind == "M"
                or any(_is_date(v) for v in _as_list(t.get("x"))[:3]) for t in d["data"])
    bottom = LINE_PX * (2 if dates else 1) + 12 + (TITLE_PX if _title(x) else 0)
    margin = dict(layout.get("margin") or {})
    margin["l"], margin["b"] = max(margin.get("l", 0), left), max(margin.get("b", 0), bottom)
    layout["margin"] = margin
    x["automargin"] = y["automargin"] = False


def _as_list(v: object) -> list:
    if v is None or isinstance(v, (dict, str)):
        return []
    return v.tolist() if hasattr(v, "tolist") else list(v)  # type: ignore[call-overload]


def _title(axis: dict) -> bool:
    title = axis.get("title")
    return bool(title.get("text") if isinstance(title, dict) else title)


def _is_date(v: object) -> bool:
    return isinstance(v, (dt.date, np.datetime64)) or (isinstance(v, str) and bool(_ISO_DATE.match(v)))


def show(fig: go.Figure, *, key: str, where: object = None) -> None:
    """Draw ``fig`` (full width of ``where``, a column or container; the page if None).

    ``key`` names the chart: it keeps the same chart across reruns (redrawn in place) and gives
    its element the ``st-key-<key>`` class that end-to-end tests find it by."""
    figure, height = spec(fig)
    with where if where is not None else nullcontext():  # type: ignore[attr-defined]
        _component(key=key, data={"figure": figure, "height": height}, height=height)


def preload() -> None:
    """Start loading the bundle in the browser now: an empty element that ``ui.frame`` puts under
    the menu of the pages that draw charts, so their first chart need not wait for it. Measured
    (marks ``cs-plotly-preload`` and ``cs-plotly-loaded`` in the page): on Portfolio the bundle
    is in before the first chart; on pages with tables Streamlit mounts this element together
    with the page's other elements once its table code has loaded, which saves less there."""
    _component(key=PRELOAD_KEY, data={"preload": True}, height="content")
