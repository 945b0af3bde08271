"""Plotly figures and table helpers shared by the pages.

Builders take the frames of ``scoring`` views (already computed and tested there) and only
draw: no arithmetic beyond laying numbers out. Bands keep one colour and order everywhere.

Text from data (CSM names, segments, account names) is never markup here: Plotly renders a
subset of HTML in labels and hover text (``<a href>``, ``<b>``, ``<br>``), so every data label
goes through ``safe_label`` first; account names go to tables, where links are built by
``account_links`` with the name URL-encoded.
"""
from __future__ import annotations

from urllib.parse import quote

import pandas as pd
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


def linked_accounts(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (index account_id, column name) with the name replaced by an ``account`` link
    column in front, for ``st.column_config.LinkColumn(display_text=ACCOUNT_LINK_TEXT)``."""
    out = table.drop(columns=["name"])
    out.insert(0, "account", account_links(table.index, table["name"]))
    return out


def _layout(fig: go.Figure, *, title: str, x: str, y: str, barmode: str | None = "stack") -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, legend_title_text="Band",
                      margin={"t": 50, "b": 40, "l": 40, "r": 10}, height=360)
    if barmode:
        fig.update_layout(barmode=barmode)
    return fig


def health_histogram(bins: pd.DataFrame, *, width: int = 5) -> go.Figure:
    """Stacked bars of accounts per health bin and band (``portfolio.health_bins``)."""
    fig = go.Figure()
    for band in BANDS:
        b = bins[bins["band"] == band]
        fig.add_bar(x=b["bin_start"] + width / 2, y=b["accounts"], width=width, name=BAND_LABELS[band],
                    marker_color=BAND_COLORS[band], marker_pattern_shape=BAND_PATTERNS[band],
                    customdata=[f"{x}–{x + width}" for x in b["bin_start"]],
                    hovertemplate="health %{customdata}: %{y} accounts<extra>" + BAND_LABELS[band]
                    + "</extra>")
    fig.update_xaxes(range=[0, 100])
    return _layout(fig, title="Health score distribution", x="health score", y="accounts")


def arr_by_band(bands: pd.DataFrame) -> go.Figure:
    """ARR per band (``portfolio.band_summary``), with the share of ARR as text."""
    fig = go.Figure(go.Bar(
        x=[BAND_LABELS[b] for b in bands.index], y=bands["arr"],
        marker_color=[BAND_COLORS[b] for b in bands.index],
        marker_pattern_shape=[BAND_PATTERNS[b] for b in bands.index],
        text=[f"{s:.0%}" for s in bands["share_arr"]], textposition="auto",
        hovertemplate="%{x}: ARR %{y:,.0f}<extra></extra>"))
    return _layout(fig, title="ARR by band", x="band", y="ARR", barmode=None)


def band_mix_bars(table: pd.DataFrame, *, by_label: str) -> go.Figure:
    """Horizontal stacked band shares per row of ``portfolio.breakdown``."""
    labels = [safe_label(k) if k != "" else "(empty)" for k in table.index]
    fig = go.Figure()
    for band in BANDS:
        fig.add_bar(y=labels, x=table[f"share_{band}"], orientation="h", name=BAND_LABELS[band],
                    marker_color=BAND_COLORS[band], marker_pattern_shape=BAND_PATTERNS[band],
                    hovertemplate="%{y}: %{x:.0%}<extra>" + BAND_LABELS[band] + "</extra>")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    fig = _layout(fig, title=f"Band mix per {by_label}", x="share of accounts", y=by_label)
    fig.update_layout(height=max(300, 40 + 28 * len(labels)))
    return fig


def renewal_pipeline(pipeline: pd.DataFrame) -> go.Figure:
    """ARR renewing per bucket, stacked by band (``portfolio.renewal_pipeline``)."""
    fig = go.Figure()
    for band in BANDS:
        b = pipeline[pipeline["band"] == band]
        fig.add_bar(x=b["bucket"], y=b["arr"], name=BAND_LABELS[band], marker_color=BAND_COLORS[band],
                    marker_pattern_shape=BAND_PATTERNS[band],
                    customdata=b["accounts"],
                    hovertemplate="%{x}: ARR %{y:,.0f} in %{customdata} accounts<extra>"
                    + BAND_LABELS[band] + "</extra>")
    return _layout(fig, title="Renewals due, by band", x="renewal in", y="ARR")


def band_history(mix: pd.DataFrame, changes: pd.DataFrame) -> go.Figure:
    """Share of accounts per band over the snapshot dates (``movers.band_mix``), with a dotted
    line where the profile version changed (``movers.version_changes``)."""
    fig = go.Figure()
    for band in BANDS:
        b = mix[mix["band"] == band]
        fig.add_scatter(x=b["as_of"], y=b["share"], name=BAND_LABELS[band], stackgroup="bands",
                        mode="lines", line={"color": BAND_COLORS[band]}, customdata=b["accounts"],
                        hovertemplate="%{x|%Y-%m-%d}: %{y:.1%} (%{customdata} accounts)<extra>"
                        + BAND_LABELS[band] + "</extra>")
    for row in changes.itertuples(index=False):  # a handful of version changes, not accounts
        fig.add_vline(x=pd.Timestamp(row.as_of).timestamp() * 1000, line_dash="dot",
                      annotation_text=f"profile v{row.from_version} → v{row.to_version}")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return _layout(fig, title="Band mix over time (weekly snapshots)", x="as of", y="share of accounts",
                   barmode=None)
