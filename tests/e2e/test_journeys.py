"""The user journeys in a real browser: Debian's chromium, a real ``streamlit run app.py``, a seeded
300-account demo store (``conftest.py``; machinery in ``helpers.py``).

Each test is one person's path through the app, checked against what the page itself showed
and, where the page could be wrong in the same way as the code behind it, against the store or
the command line read independently. Every wait is on Streamlit's run state or on an element;
an exception box or an uncaught page error anywhere fails the test.

1. ``test_csm_morning``: At risk, my accounts, capacity, open the first account (reasons, history,
   band against the thresholds), snooze it with a reason, back, download the CSV and compare it
   with the page: same accounts, same order, snoozed one left out, text cells made inert.
2. ``test_what_if_tuning``: two weight sliders move; distribution, band-change matrix and
   backtest change; saved as a new version; the URL opens the same proposal in a fresh context.
3. ``test_manager_review``: Portfolio filtered by CSM and segment; KPIs, breakdown and charts
   follow (and agree with each other and with the accounts table); a mover opens.
4. ``test_deep_link_and_search``: ``?account=ID``, an unknown id, search by name and by id.
5. ``test_validation``: the backtest figures of the saved profile and a comparison.
6. ``test_first_start``: no database at the default path: the demo is built once, with progress,
   while a second tab waits; then Portfolio with the DEMO DATA marker.

``test_account_name_never_becomes_a_link`` guards a defect these journeys found (Markdown's
autolinks turned a URL inside an account name into a link; ``ui.frame.plain`` now breaks them). ``BREAKAGES.md`` lists the deliberate
breakages these journeys must catch (``scripts/breakages.py`` checks them).
"""
from __future__ import annotations

import re
from collections import Counter
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from scoring.portfolio import SECTIONS

from .helpers import (TEST_SERVER_ARGS, App, make_site, parse_csv, read_back, server_env,
                      streamlit_server)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run (README)
BUILD_TIMEOUT_MS = 300_000  # first start: the default 2,000-account demo, on a busy machine


def expect(*args, **kwargs):
    from playwright.sync_api import expect as pw_expect

    return pw_expect(*args, **kwargs)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def link_target(cell: str) -> tuple[str, str]:
    """(account id, name) of an account link cell (``Account?account=ID#NAME``, both encoded)."""
    parts = urlsplit(cell)
    query = parse_qs(parts.query)
    assert urlsplit(cell).path.endswith("Account") and "account" in query, f"not an account link: {cell}"
    return query["account"][0], unquote(parts.fragment)


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", ""))


def shown(name: str) -> str:
    """A name as the page shows it in a heading: one line, and a zero-width space after a URL
    scheme, "www" or an address's "@" (``ui.frame.plain`` keeps Markdown from linking them)."""
    text = re.sub(r"(?i)\b(https?|ftp|www)(?=[:.])", "\\1\u200b", name.replace("\n", " "))
    return re.sub(r"@(?=[\w-]+(?:\.[\w-]+)+)", "@\u200b", text)


def band_of(health: float, low: float, high: float) -> str:
    return "at risk" if health < low else "healthy" if health >= high else "watch"


def list_rows(app: App, table, *, expected: int) -> list[dict]:
    """The outreach table as shown, once it shows ``expected`` rows (all drawn: keep it short)."""
    def drawn() -> list[dict]:
        rows = app.grid_rows(table)
        assert len(rows) == app.grid_size(table) == expected, f"{len(rows)} rows shown, {expected} expected"
        return rows

    out = []
    for r in app.eventually(drawn):
        account_id, name = link_target(r["Account"])
        out.append({"rank": int(r["rank"]), "id": account_id, "name": name, "band": r["band"],
                    "health": float(r["Health"]), "reasons": r["Top reasons"]})
    return out


def thresholds(account_page: App) -> tuple[float, float]:
    """The band thresholds drawn on an Account page's history chart."""
    lines = {a["text"]: float(a["y"]) for a in account_page.plotly_layout("history")["annotations"]}
    return lines["at risk below"], lines["healthy from"]


# ---------------------------------------------------------------- 1. CSM morning


def morning_plan(demo) -> tuple[str, list[dict]]:
    """The CSM whose at-risk list (from ``python -m scoring export``) suits the journey best: at
    least 3 accounts, and a name a spreadsheet would run left after the first is snoozed."""
    by_csm: dict[str, list[dict]] = {}
    for row in demo.at_risk:
        by_csm.setdefault(row["csm_owner"], []).append(row)

    def fit(item):
        csm, rows = item
        hostile = any(r["name"].startswith(FORMULA_START + ("'",)) for r in rows[1:])
        return len(rows) >= 3, hostile, len(rows), csm

    csm, rows = max(by_csm.items(), key=fit)
    assert len(rows) >= 3, f"no CSM has 3 accounts on the demo's at-risk list: {by_csm}"
    return csm, rows


def test_csm_morning(demo, session):
    csm, planned = morning_plan(demo)
    capacity = len(planned) - 1  # one over capacity: the snooze lets the next one in
    app = session.new_app().goto("/At_risk")
    app.select("My accounts", csm)
    app.fill("I can reach N this week", str(capacity))
    assert query_of(app.page.url)["owner"] == [csm]
    assert query_of(app.page.url)["capacity"] == [str(capacity)]
    table = app.page.get_by_test_id("stDataFrame")
    before = list_rows(app, table, expected=capacity)
    assert [r["id"] for r in before] == [r["account_id"] for r in planned[:capacity]], \
        "the page's list differs from `python -m scoring export --list at-risk` for this CSM"
    assert [r["rank"] for r in before] == list(range(1, capacity + 1))
    expect(app.page.get_by_text(re.compile(r"^Not shown: .*\b1 over capacity"))).to_be_visible()

    # the first account, from its link: reasons, history, band
    first = before[0]
    tab = app.open_link(table, 0, selectable=True)
    assert urlsplit(tab.page.url).path == "/Account"
    assert query_of(tab.page.url)["account"] == [first["id"]]
    expect(tab.page.get_by_test_id("stHeading").filter(has_text=shown(first["name"]))).to_have_count(1)
    holding = tab.page.get_by_test_id("stMarkdownContainer").filter(has_text="Holding it down").first
    for reason in first["reasons"].split("; "):
        assert reason in holding.inner_text(), f"reason {reason!r} of the list is not on the Account page"
    metrics = tab.metrics()
    assert abs(float(metrics["Health"]) - first["health"]) <= 0.05
    low, high = thresholds(tab)
    assert first["band"] == "at_risk" and band_of(first["health"], low, high) == "at risk"
    assert metrics["Band (from the score)"] == band_of(first["health"], low, high)
    history = next(t for t in tab.plotly("history") if t["name"] == "Health")
    assert len(history["y"]) >= 2 and abs(history["y"][-1] - first["health"]) < 1e-6
    expect(tab.page.get_by_role("heading", name="Why it moved")).to_be_visible()

    # snooze it, with a reason
    reason = "@billing: wait for the invoice dispute to close"
    tab.keyed("snooze_reason").locator("input").fill(reason)
    tab.click("Snooze", key="snooze_save")
    expect(tab.page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Snoozed until")
    expect(tab.page.get_by_test_id("stText").filter(has_text=reason)).to_contain_text("Snoozed until")
    tab.page.close()

    # back on the list (the URL kept the settings): the snoozed account is gone, the next came in
    app.reload()
    expect(app.page.get_by_role("combobox", name="My accounts")).to_have_value(csm)
    expect(app.page.get_by_label("I can reach N this week", exact=True)).to_have_value(str(capacity))
    after = list_rows(app, table, expected=capacity)
    assert first["id"] not in [r["id"] for r in after], "the snoozed account is still on the list"
    assert [r["id"] for r in after] == [r["account_id"] for r in planned[1:capacity + 1]]
    expect(app.page.get_by_text(re.compile(r"^Not shown: .*\b1 snoozed"))).to_be_visible()

    # the download holds what the page shows
    file_name, data = app.download(f"CSV ({capacity} rows)")
    assert file_name.startswith("at-risk-") and file_name.endswith(".csv")
    header, raw = parse_csv(data)
    for row in raw:
        for cell in row:
            if cell.startswith(FORMULA_START):
                assert re.fullmatch(r"-?[0-9.]+(e[-+]?[0-9]+)?", cell), f"cell a spreadsheet would run: {cell!r}"
    got = [{h: read_back(c) for h, c in zip(header, row)} for row in raw]
    assert [g["account_id"] for g in got] == [r["id"] for r in after]
    assert [int(g["rank"]) for g in got] == [r["rank"] for r in after]
    assert [g["name"] for g in got] == [r["name"] for r in after]
    assert all(abs(float(g["health_score"]) - r["health"]) < 1e-6 for g, r in zip(got, after))
    assert {g["csm_owner"] for g in got} == {csm} and {g["data"] for g in got} == {"DEMO DATA"}
    hostile = [i for i, r in enumerate(after) if r["name"].startswith(FORMULA_START + ("'",))]
    assert hostile, "precondition: a name on this list that a spreadsheet would run"
    for i in hostile:
        assert raw[i][header.index("name")] == "'" + after[i]["name"]


# ---------------------------------------------------------------- 2. what-if tuning

SAVED: dict = {}  # what the tuning journey saved, for the validation journey


def tuning_figures(app: App) -> dict:
    """What the Tune weights page shows of the proposal against the saved profile."""
    tables = app.page.get_by_test_id("stTable")
    matrix = app.table_rows(tables.first)  # band change, accounts: rows saved band, columns proposed
    backtest = {r["figure"]: (r["saved"], r["proposed"]) for r in app.table_rows(tables.last)}
    hist = {t["name"]: t["y"] for t in app.plotly("tw_hist")}
    changed = app.page.get_by_test_id("stMarkdownContainer").filter(has_text="Accounts that change band")
    return {"metrics": app.metrics(), "matrix": matrix, "backtest": backtest, "hist": hist,
            "changed": int(number(re.search(r"change band\W+([\d,]+)", changed.inner_text()).group(1)))}


def off_diagonal(matrix: list[dict]) -> int:
    first = next(iter(matrix[0]))  # the row header column: the saved band
    return sum(int(number(v)) for r in matrix for band, v in r.items() if band not in (first, r[first]))


def test_what_if_tuning(server, sessions):
    app = sessions(server.url).new_app().goto("/Tune_weights")
    before = tuning_figures(app)
    assert before["hist"]["saved"] == before["hist"]["proposed"]
    assert off_diagonal(before["matrix"]) == 0 and before["changed"] == 0
    assert before["metrics"]["ROC AUC, proposed"] == before["metrics"]["ROC AUC, saved"]

    # the first and last weight sliders (by place: a label carries the signal's share, which moves)
    sliders = app.page.get_by_test_id("stSlider")
    labels = sliders.get_by_test_id("stWidgetLabel").all_inner_texts()
    assert len(labels) >= 2 and all(" · share " in x for x in labels), labels
    down, up = 0, len(labels) - 1
    for at, key, value in ((down, "Home", "0"), (up, "End", "100")):
        thumb = sliders.nth(at).locator("input[type=range]")
        thumb.focus()
        app.act(lambda: thumb.press(key))
        assert thumb.input_value() == value
    assert sliders.nth(down).get_by_test_id("stWidgetLabel").inner_text().endswith("share 0.0%")

    def moved() -> dict:  # and all parts of the page agree (tables draw a few frames late)
        f = tuning_figures(app)
        assert f["hist"]["proposed"] != before["hist"]["proposed"], "the distribution did not change"
        assert 0 < off_diagonal(f["matrix"]) == f["changed"], "the band-change matrix did not change"
        first = next(iter(f["matrix"][0]))
        for band, label in (("at_risk", "At risk"), ("watch", "Watch"), ("healthy", "Healthy"), ("new", "New")):
            column = sum(int(number(r[band])) for r in f["matrix"])
            row = sum(int(number(v)) for r in f["matrix"] if r[first] == band for k, v in r.items() if k != first)
            assert column == int(number(f["metrics"][label])), f"{label}: matrix and band counts disagree"
            assert row == int(number(before["metrics"][label])), f"{label}: the saved side moved"
        auc = f["backtest"]["ROC AUC (95% CI)"]
        assert auc[0] == before["backtest"]["ROC AUC (95% CI)"][0] and auc[1] != auc[0], "the backtest did not change"
        assert f["metrics"]["ROC AUC, proposed"] == auc[1].split(" ")[0]
        return f

    after = app.eventually(moved)
    proposal_url = app.page.url

    # distribution, band changes and backtest move; the saved side stays
    assert after["hist"]["saved"] == before["hist"]["saved"]
    assert sum(after["hist"]["proposed"]) == sum(before["hist"]["proposed"])

    # the link carries the proposal
    query = query_of(proposal_url)
    weights = [v for k, (v, *_) in query.items() if k.startswith("w.")]
    assert "0" in weights and "100" in weights, f"the URL does not carry the moved weights: {query}"

    # save it as a new version
    note = app.page.get_by_label("Note (why this change)", exact=True)
    note.fill("e2e: fewer logins, more API calls")
    app.act(lambda: note.press("Control+Enter"))
    app.click("Save as a new version")
    saved = app.page.get_by_test_id("stAlertContentSuccess").filter(has_text="Saved ")
    expect(saved).to_contain_text("not published")
    ref = re.search(r"Saved (\S+@\d+)", saved.inner_text()).group(1)
    assert ref != query["base"][0]
    SAVED.update(ref=ref, base=query["base"][0], auc=after["metrics"]["ROC AUC, proposed"],
                 base_auc=after["metrics"]["ROC AUC, saved"])

    # a fresh browser (no session state, no cookies) opens the same proposal from the link
    other = sessions(server.url).new_app()
    other.page.goto(proposal_url)
    other.settled()
    for at, value in ((down, "0"), (up, "100")):
        assert other.page.get_by_test_id("stSlider").nth(at).locator("input[type=range]").input_value() == value

    def same() -> None:
        again = tuning_figures(other)
        for part in ("metrics", "hist", "matrix", "backtest"):
            assert again[part] == after[part], f"the link reopens another proposal: {part} differ"

    other.eventually(same)


# ---------------------------------------------------------------- 3. manager review


def portfolio_figures(app: App, *, breakdown_rows: int) -> dict:
    """The Portfolio's KPIs, band counts and breakdown rows (per CSM), once the breakdown shows
    ``breakdown_rows`` rows and agrees with the KPIs (tables draw a few frames after the run)."""
    def read() -> dict:
        m = app.metrics()
        active = next(int(number(v)) for k, v in m.items() if k.startswith("Active on"))
        bands = [int(number(c.split(" account")[0])) for c in
                 app.page.get_by_test_id("stCaptionContainer").all_inner_texts()
                 if re.match(r"^[\d,]+ accounts? · ", c)]
        rows = app.grid_rows(app.page.get_by_test_id("stDataFrame").first)
        f = {"accounts": int(number(m["Accounts"])), "active": active, "arr": number(m["ARR"]),
             "bands": bands, "breakdown": {next(iter(r.values())): r for r in rows}}
        assert len(rows) == breakdown_rows, f"breakdown rows: {list(f['breakdown'])}"
        assert sum(int(number(r["accounts"])) for r in rows) == active, \
            "the KPIs and the breakdown disagree: a filter is lost on one of them"
        assert abs(sum(number(r["ARR"]) for r in rows) - f["arr"]) <= 1, "ARR: KPI and breakdown disagree"
        assert len(bands) == 4 and sum(bands) == active, "band counts do not add up to Active"
        return f

    return app.eventually(read)


def chart_total(app: App, key: str) -> float:
    """The sum of all y values of a chart."""
    return sum(float(v) for t in app.plotly(key) for v in t["y"])


def test_manager_review(demo, session):
    # a segment several CSMs work in (in the demo each CSM has one segment), and its biggest CSM
    csms = {}
    for a in demo.accounts:
        csms.setdefault(a["segment"], Counter())[a["csm_owner"]] += 1
    segment = max((s for s in csms if s and len(csms[s]) >= 2), key=lambda s: (sum(csms[s].values()), s))
    csm = max(csms[segment], key=lambda c: (csms[segment][c], c))
    in_segment, in_both = sum(csms[segment].values()), csms[segment][csm]

    app = session.new_app().goto("/")
    expect(app.page.get_by_text("Showing: all accounts", exact=True)).to_be_visible()
    everyone_hist = chart_total(app, "chart_health")  # the first section, open by default
    app.tab(SECTIONS[1])  # the breakdown per CSM, which the checks below read with the KPIs
    assert query_of(app.page.url)["view"] == [SECTIONS[1]]
    everyone = portfolio_figures(app, breakdown_rows=len({a["csm_owner"] for a in demo.accounts}))
    assert everyone["accounts"] == len(demo.accounts)

    app.multiselect("Segment", segment)
    seg = portfolio_figures(app, breakdown_rows=len(csms[segment]))
    assert seg["accounts"] == in_segment, "the Accounts KPI does not follow the segment filter"
    assert set(seg["breakdown"]) == set(csms[segment]), "the breakdown shows CSMs of other segments"
    assert seg["active"] < everyone["active"]

    app.multiselect("CSM", csm)
    assert query_of(app.page.url)["csm"] == [csm] and query_of(app.page.url)["segment"] == [segment]
    expect(app.page.get_by_text(f"Showing: CSM is {csm}; segment is {segment}", exact=True)).to_be_visible()
    f = portfolio_figures(app, breakdown_rows=1)
    assert f["accounts"] == in_both, "the Accounts KPI does not follow the filters"
    assert list(f["breakdown"]) == [csm]
    assert 0 < f["active"] <= f["accounts"] and f["active"] < seg["active"]

    # the charts follow, in each section
    def mix_follows() -> None:
        mix = app.plotly("chart_mix")
        assert {y for t in mix for y in t["y"]} == {csm}, "the band mix chart shows other CSMs"

    def charts_follow() -> None:
        hist = chart_total(app, "chart_health")
        assert f["active"] - f["bands"][3] <= hist <= f["active"], \
            f"the health histogram holds {hist} accounts, {f['active']} are active"
        assert hist < everyone_hist
        assert abs(chart_total(app, "chart_arr") - f["arr"]) <= 2, "ARR by band differs from the ARR KPI"

    app.eventually(mix_follows)
    app.tab(SECTIONS[0])
    app.eventually(charts_follow)
    histogram = app.plotly("chart_health")

    # open the biggest drop
    app.tab(SECTIONS[4])
    assert query_of(app.page.url)["view"] == [SECTIONS[4]] and query_of(app.page.url)["csm"] == [csm]
    drops = app.page.get_by_test_id("stDataFrame").last
    first = app.grid_rows(drops)[0]
    mover_id, mover_name = link_target(first["account"])
    tab = app.open_link(drops, 0)
    assert query_of(tab.page.url)["account"] == [mover_id]
    expect(tab.page.get_by_test_id("stHeading").filter(has_text=shown(mover_name))).to_have_count(1)
    m = tab.metrics()
    assert (m["CSM"], m["Segment"]) == (csm, segment)

    # the histogram's bands agree with the thresholds the profile draws
    low, high = thresholds(tab)
    for trace in histogram:
        for x, y in zip(trace["x"], trace["y"]):
            start = x - 2.5  # bars are drawn at the middle of 5-point bins
            if not y or trace["name"] == "New":
                continue
            ok = {"At risk": start < low, "Watch": start + 5 > low and start < high,
                  "Healthy": start + 5 > high}[trace["name"]]
            assert ok, f"{y} {trace['name']} account(s) with health {start:g}-{start + 5:g} " \
                       f"(at risk below {low:g}, healthy from {high:g})"


# ---------------------------------------------------------------- 4. deep link and search


def test_deep_link_and_search(demo, session):
    odd = next((a for a in demo.accounts if (a["name"] or "").startswith("=")), demo.accounts[0])
    app = session.new_app().goto(f"/Account?account={quote(odd['account_id'])}")
    expect(app.page.get_by_test_id("stHeading").filter(has_text=shown(odd["name"]))).to_have_count(1)
    expect(app.page.get_by_text(f"Account id {odd['account_id']}")).to_be_visible()
    m = app.metrics()
    assert (m["CSM"], m["Segment"]) == (odd["csm_owner"], odd["segment"])

    app.goto("/Account?account=NO-SUCH-ACCOUNT")
    expect(app.page.get_by_test_id("stAlertContentError")).to_have_text(
        "No account with id NO-SUCH-ACCOUNT in your accounts.")
    assert "Segment" not in app.metrics()

    # search by part of a name, in another case: several match, pick one
    target, word, matches = search_case(demo)
    app.goto("/Account")
    expect(app.page.get_by_test_id("stAlertContentInfo")).to_contain_text("Search for an account")
    app.fill("Search by name or id", word.upper())
    label = f"{len(matches)} accounts match"
    picker = app.widget("stSelectbox", label)
    expect(picker).to_be_visible()
    picker.click()
    app.page.keyboard.type(target["account_id"])
    app.act(lambda: app.page.get_by_role("option", name=f"{target['name']} ({target['account_id']})",
                                         exact=True).click())
    expect(app.page.get_by_test_id("stHeading").filter(has_text=target["name"])).to_have_count(1)
    assert query_of(app.page.url)["account"] == [target["account_id"]]

    # an exact id opens it at once
    app.goto("/Account")
    app.fill("Search by name or id", odd["account_id"])
    expect(app.page.get_by_test_id("stHeading").filter(has_text=shown(odd["name"]))).to_have_count(1)


def test_account_name_never_becomes_a_link(demo, session):
    odd = next(a for a in demo.accounts if "http://" in (a["name"] or ""))
    app = session.new_app().goto(f"/Account?account={quote(odd['account_id'])}")
    expect(app.page.get_by_test_id("stHeading").filter(has_text=shown(odd["name"]))).to_have_count(1)
    links = app.page.locator("[data-testid=stMain] a[href*='evil.example']")
    assert links.count() == 0, links.first.evaluate("a => a.parentElement.outerHTML")


def search_case(demo) -> tuple[dict, str, list[dict]]:
    """An account, a word of its name that 2 to 49 accounts share, and those accounts."""
    for a in demo.accounts:
        for word in re.findall(r"[A-Za-z]{4,}", a["name"] or ""):
            matches = [b for b in demo.accounts if word.lower() in (b["name"] or "").lower()]
            if 2 <= len(matches) < 50:
                return a, word, matches
    pytest.fail("no account name shares a word with 2 to 49 others")


# ---------------------------------------------------------------- 5. validation


def test_validation(server, sessions):
    if not SAVED:
        pytest.skip("validates the profile test_what_if_tuning saves: run them together")
    app = sessions(server.url).new_app().goto("/Validation")
    app.select("Profile", SAVED["ref"])
    app.select("Compare with", SAVED["base"])
    query = query_of(app.page.url)
    assert query["profile"] == [SAVED["ref"]] and query["compare"] == [SAVED["base"]]
    expect(app.page.get_by_text(re.compile(rf"^{re.escape(SAVED['ref'])}, health_score: \d+ as-of dates"))
           ).to_be_visible()

    def headline() -> None:  # the same backtest the Tune weights page showed, both profiles
        rows = app.grid_rows(app.page.get_by_test_id("stDataFrame").first)
        heads = list(rows[0])
        assert heads[1:] == [SAVED["ref"], SAVED["base"]], heads
        auc = next(r for r in rows if r[heads[0]].startswith("ROC AUC"))
        assert f"{float(auc[SAVED['ref']]):.3f}" == SAVED["auc"]
        assert f"{float(auc[SAVED['base']]):.3f}" == SAVED["base_auc"]

    app.eventually(headline)
    roc = {t["name"] for t in app.plotly("val_roc")}
    assert {SAVED["ref"], SAVED["base"]} <= roc, roc
    deciles = app.plotly("val_deciles")
    assert deciles and any(t["y"] for t in deciles)
    expect(app.page.get_by_role("heading", name="Floors")).to_be_visible()


# ---------------------------------------------------------------- 6. first start


def test_first_start(sessions, tmp_path):
    site = make_site(tmp_path)
    assert not (site / "data").exists()
    env = server_env(site / "home")  # no CS_DB: the default data/cs.duckdb, missing here
    with streamlit_server(site, env=env, args=TEST_SERVER_ARGS) as server:
        s = sessions(server.url)
        first = s.new_app()
        first.page.goto(server.url + "/")
        expect(first.page.get_by_test_id("stAlertContentInfo")).to_contain_text("No data yet: building a demo")
        expect(first.page.get_by_test_id("stProgress")).to_contain_text("Building the demo data")
        other = s.new_app()  # a second person opens the app meanwhile
        other.page.goto(server.url + "/Data")
        expect(other.page.get_by_test_id("stAlertContentInfo")).to_contain_text(
            "Another session is building the demo data")

        first.settled(timeout_ms=BUILD_TIMEOUT_MS)
        expect(first.page.get_by_test_id("stProgress")).to_have_count(0)
        expect(first.page.get_by_role("heading", name="Portfolio")).to_be_visible()
        expect(first.page.get_by_test_id("stAlertContentWarning").filter(has_text="DEMO DATA")).to_be_visible()
        assert first.metrics()["Accounts"] == "2,000"  # the default demo: no setting makes it smaller
        other.settled(timeout_ms=BUILD_TIMEOUT_MS)
        expect(other.page.get_by_role("heading", name="Data")).to_be_visible()
        expect(other.page.get_by_test_id("stAlertContentWarning").filter(has_text="DEMO DATA")).to_be_visible()
        assert (site / "data" / "cs.duckdb").is_file()
