"""Plotly figures and table helpers shared by the pages.

Builders take the frames of ``scoring`` views (already computed and tested there) and only
draw: no arithmetic beyond laying numbers out. Bands keep one colour and order everywhere.

Text from data (CSM names, segments, account names) is never markup here: Plotly renders a
subset of HTML in labels and hover text (``<a href>``, ``<b>``, ``<br>``), so every data label
goes through ``safe_label`` first; account names go to tables, where links are built by
``account_links`` with the name URL-encoded.
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import plotly.graph_objects as go

from scoring.portfolio import BAND_LABELS, BANDS

# Okabe-Ito colours (told apart with every common colour-vision deficiency), and a bar pattern
# per band so a band never rests on colour alone; legends and hovers name the band too.
BAND_COLORS = {"at_risk": "#D55E00", "watch": "#E69F00", "healthy": "#0072B2", "new": "#999999"}
BAND_PATTERNS = {"at_risk": "x", "watch": "/", "healthy": "", "new": "."}
ACCOUNT_PAGE = "Account"  # URL path of pages/3_Account.py (Streamlit drops the "3_" prefix)
# LinkColumn(display_text=...) shows the first capture group, URL-decoded: the name after "#".
ACCOUNT_LINK_TEXT = "#(.*)$"


def safe_label(text: object) -> str:
    """``text`` as Plotly shows it literally: its HTML-like tags escaped as entities."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def account_links(ids: pd.Index | pd.Series, names: pd.Series) -> pd.Series:
    """Relative links to the Account page, ``Account?account=<id>#<name>``, both URL-encoded.

    Relative, so they also work when the app is served under a base path; the name rides in the
    fragment only so a ``LinkColumn`` can show it (``ACCOUNT_LINK_TEXT``).
    """
    ids = pd.Series(ids, index=names.index).astype(str)
    return pd.Series([f"{ACCOUNT_PAGE}?account={quote(i, safe='')}#{quote(str(n), safe='')}"
                      for i, n in zip(ids, names.fillna(ids))], index=names.index)


def linked_accounts(table: pd.DataFrame) -> pa.Table:
    """``table`` (index account_id, column name) with the name replaced by an ``account`` link
    column in front, for ``st.column_config.LinkColumn(display_text=ACCOUNT_LINK_TEXT)``; as an
    Arrow table (no index), which Streamlit sends as it is instead of converting a pandas frame."""
    links = account_links(table.index, table["name"])
    return pa.table({"account": pa.array(links.tolist(), type=pa.string()),
                     **{str(c): pa.array(np.asarray(table[c].array), from_pandas=True)
                        for c in table.columns if c != "name"}})


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plotly's own dictionaries, taken without plotly's per-property checks.

    Pages redraw their charts on every filter change or slider move, and building a figure
    property by property (``add_bar``, ``update_layout``) spends most of its time validating:
    about 10 ms a chart here, against under 1 ms this way. The builders below only write literals,
    numbers and ``safe_label`` text; ``tests/test_portfolio.py`` passes each one through plotly's
    validation to keep them honest."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _values(x: object) -> list:
    """Plain Python values for a figure (numbers, strings, dates as ISO text)."""
    s = pd.Series(x)
    if pd.api.types.is_datetime64_any_dtype(s):
        return [t.isoformat() for t in s]
    return s.tolist()


def _layout(*, title: str, x: str, y: str, barmode: str | None = "stack", height: int = 360,
            **more: object) -> dict:
    layout = {"title": {"text": title}, "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}},
              "legend": {"title": {"text": "Band"}}, "margin": {"t": 50, "b": 40, "l": 40, "r": 10},
              "height": height}
    if barmode:
        layout["barmode"] = barmode
    for key, extra in more.items():  # axes merge with their titles; shapes and annotations are lists
        layout[key] = {**layout.get(key, {}), **extra} if isinstance(extra, dict) else extra  # type: ignore[dict-item]
    return layout


def _band_bar(band: str, **trace: object) -> dict:
    return {"type": "bar", "name": BAND_LABELS[band],
            "marker": {"color": BAND_COLORS[band], "pattern": {"shape": BAND_PATTERNS[band]}}, **trace}


def health_histogram(bins: pd.DataFrame, *, width: int = 5) -> go.Figure:
    """Stacked bars of accounts per health bin and band (``portfolio.health_bins``)."""
    data = []
    for band in BANDS:
        b = bins[bins["band"] == band]
        data.append(_band_bar(band, x=_values(b["bin_start"] + width / 2), y=_values(b["accounts"]), width=width,
                              customdata=[f"{x}–{x + width}" for x in b["bin_start"]],
                              hovertemplate="health %{customdata}: %{y} accounts<extra>" + BAND_LABELS[band]
                              + "</extra>"))
    return figure(data, _layout(title="Health score distribution", x="health score", y="accounts",
                                xaxis={"range": [0, 100]}))


def arr_by_band(bands: pd.DataFrame) -> go.Figure:
    """ARR per band (``portfolio.band_summary``), with the share of ARR as text."""
    bar = {"type": "bar", "x": [BAND_LABELS[b] for b in bands.index], "y": _values(bands["arr"]),
           "marker": {"color": [BAND_COLORS[b] for b in bands.index],
                      "pattern": {"shape": [BAND_PATTERNS[b] for b in bands.index]}},
           "text": [f"{s:.0%}" for s in bands["share_arr"]], "textposition": "auto",
           "hovertemplate": "%{x}: ARR %{y:,.0f}<extra></extra>"}
    return figure([bar], _layout(title="ARR by band", x="band", y="ARR", barmode=None))


def band_mix_bars(table: pd.DataFrame, *, by_label: str) -> go.Figure:
    """Horizontal stacked band shares per row of ``portfolio.breakdown``."""
    labels = [safe_label(k) if k != "" else "(empty)" for k in table.index]
    data = [_band_bar(band, y=labels, x=_values(table[f"share_{band}"]), orientation="h",
                      hovertemplate="%{y}: %{x:.0%}<extra>" + BAND_LABELS[band] + "</extra>")
            for band in BANDS]
    return figure(data, _layout(title=f"Band mix per {safe_label(by_label)}", x="share of accounts",
                                y=safe_label(by_label), height=max(300, 40 + 28 * len(labels)),
                                xaxis={"tickformat": ".0%", "range": [0, 1]}, yaxis={"autorange": "reversed"}))


def renewal_pipeline(pipeline: pd.DataFrame) -> go.Figure:
    """ARR renewing per bucket, stacked by band (``portfolio.renewal_pipeline``)."""
    data = []
    for band in BANDS:
        b = pipeline[pipeline["band"] == band]
        data.append(_band_bar(band, x=_values(b["bucket"]), y=_values(b["arr"]), customdata=_values(b["accounts"]),
                              hovertemplate="%{x}: ARR %{y:,.0f} in %{customdata} accounts<extra>"
                              + BAND_LABELS[band] + "</extra>"))
    return figure(data, _layout(title="Renewals due, by band", x="renewal in", y="ARR"))


def band_history(mix: pd.DataFrame, changes: pd.DataFrame) -> go.Figure:
    """Share of accounts per band over the snapshot dates (``movers.band_mix``), with a dotted
    line where the profile version changed (``movers.version_changes``)."""
    data = []
    for band in BANDS:
        b = mix[mix["band"] == band]
        data.append({"type": "scatter", "x": _values(pd.to_datetime(b["as_of"])), "y": _values(b["share"]),
                     "name": BAND_LABELS[band], "stackgroup": "bands", "mode": "lines",
                     "line": {"color": BAND_COLORS[band]}, "customdata": _values(b["accounts"]),
                     "hovertemplate": "%{x|%Y-%m-%d}: %{y:.1%} (%{customdata} accounts)<extra>"
                     + BAND_LABELS[band] + "</extra>"})
    shapes, notes = [], []
    for row in changes.itertuples(index=False):  # a handful of version changes, not accounts
        x = pd.Timestamp(row.as_of).isoformat()
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "line": {"dash": "dot"}})
        notes.append({"x": x, "xref": "x", "y": 1, "yref": "paper", "showarrow": False, "xanchor": "left",
                      "yanchor": "top", "text": f"profile v{int(row.from_version)} → v{int(row.to_version)}"})
    return figure(data, _layout(title="Band mix over time (weekly snapshots)", x="as of", y="share of accounts",
                                barmode=None, yaxis={"tickformat": ".0%", "range": [0, 1]},
                                shapes=shapes, annotations=notes))


# ---------------------------------------------------------------- the Account page
# (plotly.express took about 20 ms a chart here, most of a new session's chart time on that page)

PART_COLORS = {"signal (via engagement)": "#0072B2", "health component": "#E69F00"}
USAGE_COLORS = {"value": "#009E73", "passive": "#56B4E9"}


def contributions(parts: pd.DataFrame) -> go.Figure:
    """One account's points per signal and health component (``account.contributions``),
    horizontal bars coloured by kind; the bars add up to its health score."""
    data = []
    for kind, part in parts.groupby("kind", sort=False):
        data.append({"type": "bar", "orientation": "h", "name": safe_label(kind),
                     "x": _values(part["points"]), "y": [safe_label(t) for t in part["label"]],
                     "marker": {"color": PART_COLORS.get(str(kind))},
                     "hovertemplate": "%{y}: %{x:.1f} points<extra>" + safe_label(kind) + "</extra>"})
    return figure(data, _layout(title="What health is made of (points; they add up to the health score)",
                                x="points", y="", barmode="relative", height=max(300, 60 + 30 * len(parts)),
                                legend={"title": {"text": "kind"}}, yaxis={"autorange": "reversed"}))


def score_history(hist: pd.DataFrame, *, at_risk_below: float, healthy_from: float) -> go.Figure:
    """Health and engagement over the stored snapshots (``account.score_history``), diamonds where
    the profile version changed, dotted lines at the band thresholds."""
    changed = hist[hist["version_changed"]]
    dates = _values(pd.to_datetime(hist["as_of"]))
    data = [{"type": "scatter", "x": dates, "y": _values(hist["health_score"]), "name": "Health",
             "mode": "lines+markers"},
            {"type": "scatter", "x": dates, "y": _values(hist["engagement_score"]), "name": "Engagement",
             "mode": "lines"},
            {"type": "scatter", "x": _values(pd.to_datetime(changed["as_of"])), "y": _values(changed["health_score"]),
             "name": "profile version changed", "mode": "markers", "marker": {"symbol": "diamond", "size": 13},
             "text": [f"version {v}" for v in changed["profile_version"]]}]
    lines = [(at_risk_below, "at risk below"), (healthy_from, "healthy from")]
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
               "line": {"dash": "dot"}} for y, _ in lines]
    notes = [{"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": y, "yanchor": "bottom",
              "text": text, "showarrow": False} for y, text in lines]
    return figure(data, _layout(title="Health and engagement over the weekly snapshots", x="as of", y="score",
                                barmode=None, legend={"title": {"text": ""}}, yaxis={"range": [0, 100]},
                                shapes=shapes, annotations=notes))


def weekly_usage(usage: pd.DataFrame) -> go.Figure:
    """Events per week, value actions and passive events stacked (``account.weekly_usage``)."""
    data = [{"type": "bar", "name": str(kind), "x": _values(pd.to_datetime(part["week_start"])),
             "y": _values(part["events"]), "marker": {"color": USAGE_COLORS.get(str(kind))},
             "hovertemplate": "week from %{x|%Y-%m-%d}: %{y:,.0f} events<extra>" + str(kind) + "</extra>"}
            for kind, part in usage.groupby("kind", sort=False)]
    return figure(data, _layout(title="Events per week", x="week from", y="events (sum of quantity)",
                                legend={"title": {"text": "kind"}}))


# ---------------------------------------------------------------- small tables as text

STATIC_ROWS = 50  # a table this long or shorter is static text (ui.frame.small_table)


def text_table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> pd.DataFrame:
    """``frame`` written out as text for ``st.table``, which draws every cell as Markdown (HTML
    off): text from data is escaped (``ui.frame.plain``), so a name like ``**x** [y](z)`` shows
    as written, and text holding an e-mail address is a code span (``_code``: copied exactly);
    numbers get ``formats`` (a column's ``"%.1f"``-style format, or ``"percent"``),
    else up to six significant digits; dates as ISO dates; a missing value as an empty cell.

    Why ``st.table`` at all: on a page of small tables it spares a new visitor's browser
    Streamlit's data grid code (1.2 MB), about 0.17 s of the Account page's first load."""
    from ui.frame import plain

    formats = formats or {}
    out = {}
    for col in frame.columns:
        out[str(col)] = [_cell(v, formats.get(col), plain) for v in frame[col].tolist()]
    return pd.DataFrame(out, index=frame.index)


def _cell(v: object, fmt: str | None, plain) -> str:  # noqa: ANN001 - plain: ui.frame.plain
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)) and fmt is None:
        return f"{int(v):,}"
    if isinstance(v, (int, float, np.integer, np.floating)):
        if fmt == "percent":
            return f"{float(v):.1%}"
        return fmt % float(v) if fmt else f"{float(v):,.6g}"
    if isinstance(v, pd.Timestamp) or isinstance(v, dt.datetime):
        t = pd.Timestamp(v)
        return t.date().isoformat() if t == t.normalize() else t.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dt.date):
        return v.isoformat()
    text = str(v).replace("\n", " ")
    if _EMAIL.search(text):
        return _code(text)
    return plain(text)


# In a table, text holding an e-mail address (a contact's, an author's) is a code span rather than
# plain()'s text: plain() keeps Markdown from linking it with a zero-width space after the "@",
# which would ride along when someone copies the address; a code span is never linked either and
# copies exactly.
_EMAIL = re.compile(r"[^\s@]@[^\s@]+\.[^\s@]")


def _code(text: str) -> str:
    """``text`` as a Markdown code span: a run of backticks longer than any inside it, and a space
    inside each end when the text starts or ends with a backtick."""
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
