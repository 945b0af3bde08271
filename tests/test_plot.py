"""The charts' own renderer (``ui.plot``): the figure JSON it sends, the trace types it refuses,
the vendored plotly.js basic bundle it loads, and the server configuration that serves it.

That the charts are really drawn is checked in a real browser (``tests/e2e``: each journey reads
the drawn traces back from the page), and what each page charts by the page tests.
"""
from __future__ import annotations

import base64
import json
import re
import tomllib

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, chart_figures
from ui import charts, plot


def test_spec_sends_the_figure_with_the_template_config_and_height():
    fig = charts.figure([{"type": "bar", "x": ["a", "b"], "y": [1, 2], "name": "n"}],
                        {"title": {"text": "t"}, "height": 320})
    text, height = plot.spec(fig)
    sent = json.loads(text)
    assert height == 320
    assert sent["data"] == [{"type": "bar", "x": ["a", "b"], "y": [1, 2], "name": "n"}]
    assert sent["layout"]["title"] == {"text": "t"} and sent["layout"]["height"] == 320
    assert sent["layout"]["template"]["layout"]["colorway"][0] == "#0072B2"  # ours, not plotly's
    assert sent["config"] == plot.CONFIG and sent["config"]["displaylogo"] is False


def test_spec_takes_plotly_express_figures_and_a_default_height():
    fig = px.bar({"week": ["w1", "w2"], "events": [3, 4]}, x="week", y="events")
    sent = json.loads(plot.spec(fig)[0])
    assert plot.spec(fig)[1] == plot.DEFAULT_HEIGHT
    y = sent["data"][0]["y"]  # plotly.py sends NumPy arrays as typed arrays, which plotly.js reads
    assert sent["data"][0]["type"] == "bar"
    assert np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist() == [3, 4]


@pytest.mark.parametrize("trace", [go.Heatmap(z=[[1, 2]]), go.Box(y=[1, 2]), go.Scatter3d(x=[1], y=[1], z=[1])])
def test_a_trace_type_the_bundle_cannot_draw_is_refused_by_name(trace):
    fig = go.Figure(trace, layout={"title": {"text": "a chart"}})
    with pytest.raises(ValueError, match=rf"'a chart'.*{trace.type}.*basic bundle.*\['bar', 'pie', 'scatter'\]"):
        plot.spec(fig)


def test_the_vendored_bundle_is_the_named_version_and_draws_every_allowed_trace_type():
    text = plot.BUNDLE_PATH.read_text(encoding="utf-8")
    version = re.search(r"plotly\.js \(basic - minified\) v([\d.]+)", text[:300]).group(1)
    assert plot.BUNDLE == f"plotly-basic-{version}.min.js"
    registered = set(re.findall(r'moduleType:"trace",name:"([a-z0-9]+)"', text))
    assert plot.TRACES <= registered, plot.TRACES - registered
    assert (plot.BUNDLE_PATH.parent / f"plotly-basic-{version}.LICENSE").read_text().startswith("MIT License")


def test_the_server_config_serves_the_static_folder_and_it_holds_only_the_bundle():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableStaticServing"] is True
    assert plot.SRC == f"./app/static/{plot.BUNDLE}"  # where Streamlit serves static/
    served = {p.name for p in (ROOT / "static").iterdir()}
    assert served == {plot.BUNDLE, plot.BUNDLE.replace(".min.js", ".LICENSE")}


def test_the_component_script_loads_the_bundle_once_and_never_writes_markup():
    js = plot._JS
    assert plot.SRC in js and "__PLOTLY_SRC__" not in js
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js  # error text goes in as text
    assert js.count("document.createElement(\"script\")") == 1
    # what tests and benches wait for (plot.DRAWN_JS) is what the script marks
    assert 'box.className = "cs-chart"' in js and 'box.dataset.drawn = "true"' in js
    assert ".cs-chart[data-drawn=true]" in plot.DRAWN_JS and f".st-key-{plot.PRELOAD_KEY}" in plot.DRAWN_JS


def test_pages_draw_through_the_component_with_a_preload_under_the_menu(tmp_path):
    script = tmp_path / "page.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import streamlit as st\n"
        "from ui import charts, plot\n"
        "plot.preload()\n"
        "left, right = st.columns(2)\n"
        "plot.show(charts.figure([{'type': 'bar', 'x': ['a'], 'y': [st.session_state.get('n', 1)]}], {}), "
        "key='one', where=left)\n"
        "plot.show(charts.figure([{'type': 'scatter', 'x': [1, 2], 'y': [3, 4]}], {'height': 200}), key='two')\n")
    at = AppTest.from_file(str(script)).run()
    assert not at.exception
    figs = chart_figures(at)
    assert list(figs) == ["one", "two"]  # the preload element is not a chart
    assert figs["one"]["data"][0]["y"] == [1] and figs["two"]["layout"]["height"] == 200
    at.session_state["n"] = 7
    assert chart_figures(at.run())["one"]["data"][0]["y"] == [7]  # a rerun sends the new figure
    sent = {e.key: e.proto.json for e in at.get("bidi_component")}
    assert json.loads(sent["plotly_preload"]) == {"preload": True}


def test_margins_are_worked_out_so_plotly_need_not_measure_labels():
    """plot.spec turns plotly's automargin off and sets margins that hold the labels: the
    longest category label on the y axis and its title on the left, a line of tick labels (two
    for dates) and the title at the bottom. Figures with more axes, or their own automargin, keep
    plotly's own margins."""
    long = "a CSM with a long e-mail address@example.com"
    bars = go.Figure(go.Bar(x=[1, 2], y=[long, "short"], orientation="h"),
                     layout={"yaxis": {"title": {"text": "CSM"}}, "margin": {"l": 40, "b": 40}})
    layout = json.loads(plot.spec(bars)[0])["layout"]
    assert layout["xaxis"]["automargin"] is False and layout["yaxis"]["automargin"] is False
    assert layout["margin"]["l"] >= plot.CHAR_PX * len(long) + plot.TITLE_PX
    assert layout["margin"]["b"] == 40  # one line of numbers, no title: what it asked for is enough
    dated = go.Figure(go.Scatter(x=["2026-01-05", "2026-01-12"], y=[1, 2]), layout={"xaxis": {"title": {"text": "as of"}}})
    layout = json.loads(plot.spec(dated)[0])["layout"]
    assert layout["margin"]["b"] >= 2 * plot.LINE_PX + plot.TITLE_PX
    assert layout["margin"]["l"] >= 6 * plot.CHAR_PX
    stamps = go.Figure(go.Scatter(x=pd.to_datetime(["2026-01-05", "2026-01-12"]), y=[1, 2]))
    assert json.loads(plot.spec(stamps)[0])["layout"]["margin"]["b"] >= 2 * plot.LINE_PX
    two = go.Figure(go.Scatter(x=[1], y=[1]), layout={"yaxis2": {"overlaying": "y"}})
    own = go.Figure(go.Scatter(x=[1], y=[1]), layout={"yaxis": {"automargin": True}})
    for fig in (two, own):
        layout = json.loads(plot.spec(fig)[0])["layout"]
        assert "automargin" not in layout.get("xaxis", {}) and "margin" not in layout
