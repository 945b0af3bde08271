"""Tune weights (CS ops): re-weight a saved profile and see at once what it would change.

Every move re-scores the book with one matrix-vector product (``scores.whatif`` on a matrix
prepared once per setting, ``ui.backtest``) and the past dates with ``validate.quick_figures``:
the same numbers ``python -m scoring validate`` gives for those weights. The proposal lives in the
URL (``scoring.tuning``), so a link reopens it exactly. docs/DASHBOARD.md defines every figure.

The sliders, the band thresholds and everything they change are one ``st.fragment``: a move
reruns that part only, not the menu, the banner, the base-profile pickers, the directions,
normalisations and health weights (an expander above: changed now and then, each change
preparing the what-if anew) or the save form. The proposal's backtest figures start first, on a
worker thread, while the sliders and the book's part are drawn (``bk.figures_soon``).
"""
import datetime as dt

import streamlit as st

from scoring import comparison, profiles, tuning
from scoring.errors import DataError
from scoring.portfolio import BAND_LABELS
from scoring.profile import DIRECTIONS
from scoring.scores import effective_shares
from scoring.validate import quick_figures
from ui import backtest as bk
from ui import charts, plot
from ui.auth import require_permission
from ui.frame import frame, plain

GRID_HELP = "A grid's points say how good each range is, so direction does not apply."
SELECT_WIDTH, LABEL_WIDTH = 170, 260  # pixels, of a select box and of a signal's name beside two

page = frame("Tune weights", charts=True)
if page.facts.as_of is None:
    st.info("No usage events yet, so there is nothing to tune.", icon=":material/info:")
    st.stop()
latest = page.facts.as_of.date()
ch = bk.choices(page.state)
ss, url = st.session_state, st.query_params.to_dict()
if tuning.BASE not in ss or tuning.link_changed(url, ss.get("_tw_written")):
    # the session's first visit, or a link opened over it: the link decides, else the defaults
    ss[tuning.BASE] = url[tuning.BASE] if url.get(tuning.BASE) in ch.refs else ch.default
    ss[tuning.AS_OF], problem = tuning.read_as_of(url, latest, latest=latest)
    ss["_tw_seeded"], ss["_tw_link"] = None, True
    if url.get(tuning.BASE) not in (None, *ch.refs):
        problem = f"the profile {url[tuning.BASE]} is not saved here; showing {ch.default}"
    if problem:
        st.warning(f"From the link: {plain(problem)}", icon=":material/link_off:")

left, right = st.columns([3, 1])
base_ref = left.selectbox("Base profile", ch.refs, key=tuning.BASE, format_func=ch.labels.get,
                          help="A saved version (NAME@N) or the built-in default. Default: the published one.")
as_of = right.date_input("As of", key=tuning.AS_OF, min_value=dt.date(2000, 1, 1), max_value=latest,
                         format="YYYY-MM-DD",
                         help="The book is scored with what was known before this date.")
try:
    base, cat = page.profile(base_ref)
except DataError as exc:
    st.error(f"The profile {plain(base_ref)} cannot be loaded: {plain(exc)}", icon=":material/error:")
    st.stop()
start = tuning.proposal_of(base, base_ref, as_of)
if ss["_tw_seeded"] != base_ref:  # a new base: its values (or, on the first visit, the link's)
    values, problems = tuning.from_params(url, start) if ss["_tw_link"] else (start, [])
    ss.update({k: v for k, v in tuning.widget_values(values).items() if k not in (tuning.BASE, tuning.AS_OF)})
    ss["_tw_seeded"], ss["_tw_link"] = base_ref, False
    for p in problems:
        st.warning(f"From the link, ignored: {plain(p)}", icon=":material/link_off:")

try:
    book = page.book(base_ref, as_of)
except DataError as exc:
    st.error(f"Cannot score the book as of {as_of}: {plain(exc)}", icon=":material/error:")
    st.stop()


def share_texts(base, proposal) -> dict[str, str]:
    """Each signal's share of engagement under the proposed weights, as its slider's label says."""
    weights = list(proposal.weights.values())
    total = sum(weights)
    if total <= 0:
        return {}
    shares = effective_shares(weights, base.max_signal_share)
    return {name: f"share {share:.1%}" + (" (capped)" if share < w / total - 1e-9 else "")
            for (name, w), share in zip(proposal.weights.items(), shares)}


def setting_widgets(base, start) -> None:
    """Each signal's direction and normalisation and the health component weights: settings people
    change now and then, each change preparing the what-if anew (hundreds of milliseconds), so
    they sit above the live part and a change reruns the page. Keeping them out of the fragment
    takes 2 widgets per signal and the health weights off every slider move's rerun.

    They are drawn only while their expander is open: even hidden, two select boxes per signal
    cost a new visitor's browser about 0.2 s to draw (bench/browser_bench.py). Their values live
    in the session under the widgets' keys (seeded from the base profile or the link), and are
    kept there while the widgets are not drawn, so the proposal and its link still carry them."""
    keys = [k + s.name for s in base.signals for k in (tuning.DIRECTION, tuning.METHOD)]
    keys += [tuning.HEALTH + comp for comp in start.health_weights]
    for key in keys:  # Streamlit forgets a widget's value after a run that does not draw it
        if key in ss:
            ss[key] = ss[key]
    changed = tuning.settings_changed(tuning.from_widgets(ss, start), start, {s.name: s.label for s in base.signals})
    label = "Direction and normalisation per signal, health component weights"
    if changed:
        st.caption("Changed from the base profile: " + "; ".join(plain(c) for c in changed))
    with st.expander(label + (f" ({len(changed)} changed)" if changed else ""), key="tw_settings",
                     on_change="rerun") as box:
        if not box.open:
            return
        for s in base.signals:
            row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
            row.markdown(plain(s.label), width=LABEL_WIDTH)
            grid = s.normalisation.method not in tuning.TUNABLE_METHODS
            row.selectbox("direction", DIRECTIONS, key=tuning.DIRECTION + s.name, disabled=grid,
                          help=GRID_HELP if grid else None, width=SELECT_WIDTH)
            if grid:
                row.caption("normalisation: grid, as written", width=SELECT_WIDTH)
            else:
                row.selectbox("normalisation", tuning.TUNABLE_METHODS, key=tuning.METHOD + s.name,
                              width=SELECT_WIDTH)
        st.markdown("**Health component weights** (relative; a component without data shares its "
                    "weight out)")
        row = st.container(horizontal=True, gap="medium")
        for comp in start.health_weights:
            row.number_input(comp, min_value=0.0, step=5.0, key=tuning.HEALTH + comp, width=SELECT_WIDTH)


def weight_widgets(base, shares: dict[str, str]) -> None:
    """A slider per signal, its share of engagement in its label (``shares``; the session holds
    this run's values before the widgets are drawn), and the band thresholds: what a slider move
    reruns. The share rides in the label, not in an element beside the slider: a move resends every
    element of the part it reruns (two fewer per signal), and a keyed slider keeps its value when
    only its label changes (Streamlit takes the key, range and step as its identity)."""
    st.subheader("Signal weights", divider="gray")
    for s in base.signals:
        share = shares.get(s.name)
        st.slider(plain(s.label) + (f" · {share}" if share else ""), 0.0, tuning.WEIGHT_MAX, step=0.5,
                  key=tuning.WEIGHT + s.name)
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    row.number_input("at_risk below", 0.0, 100.0, step=1.0, key=tuning.AT_RISK, width=SELECT_WIDTH)
    row.number_input("healthy from", 0.0, 100.0, step=1.0, key=tuning.HEALTHY, width=SELECT_WIDTH)


def book_effects(page, base, proposed, proposal, book, as_of, previews) -> None:
    """The book as of ``as_of`` under the saved and the proposed profile: band counts, histograms,
    the band-change matrices and the accounts that change band (and the raw-versus-normalised
    preview in ``previews``, drawn only when open)."""
    saved_r, prop_r = bk.rescorer(page, book, base), bk.rescorer(page, book, proposed)
    cmp = comparison.compare(saved_r, tuning.slider_weights(base), prop_r, proposal.weights,
                             saved_side=bk.saved_side(page, book, base))
    with previews.expander("Raw value against normalised score, over the book", key="tw_preview",
                           on_change="rerun") as box:
        if box.open:  # drawn only when open
            cols = st.columns(3)
            for j, s in enumerate(base.signals):
                x, y = comparison.preview(book.inputs[s.name].to_numpy(dtype=float), prop_r.normalised.matrix[:, j])
                plot.show(bk.preview_chart(x, y, s.label), key=f"tw_px_{s.name}", where=cols[j % 3])

    st.subheader(f"The book as of {as_of:%Y-%m-%d}: saved against proposed", divider="gray")
    row = st.container(horizontal=True)
    for band in BAND_LABELS:
        old, new = cmp.saved.band_counts[band], cmp.proposed.band_counts[band]
        row.metric(BAND_LABELS[band], f"{new:,}", delta=f"{new - old:+,}" if new != old else None,
                   delta_color="off", help=f"Accounts in the band: {old:,} saved, {new:,} proposed.")
    plot.show(bk.histogram_chart(cmp.saved.histogram, cmp.proposed.histogram), key="tw_hist")
    arr, mine = book.inputs["arr"].to_numpy(float), bk.visible(page, book)
    counts, money = comparison.band_change(cmp.saved_codes, cmp.proposed_codes, arr)
    left, right = st.columns(2)
    left.markdown("**Band change, accounts** (rows: saved band, columns: proposed band)")
    left.dataframe(charts.arrow_matrix(counts), width="stretch", hide_index=True)
    right.markdown("**Band change, ARR**")
    right.dataframe(charts.arrow_matrix(money), width="stretch", hide_index=True, column_config={
        b: st.column_config.NumberColumn(b, format="localized") for b in money.columns})
    rows = comparison.changed_accounts(cmp.saved_codes, cmp.proposed_codes, arr, within=mine)
    moved = cmp.saved_codes != cmp.proposed_codes
    st.markdown(f"**Accounts that change band**: {int(moved.sum()):,} in the book"
                + ("" if mine is None else f", {int((moved & mine).sum()):,} of them yours")
                + (f"; the {len(rows)} largest by ARR:" if len(rows) else ""))
    if len(rows):
        st.dataframe(charts.linked_accounts(comparison.changed_table(book.inputs, cmp, rows)), hide_index=True,
                     width="stretch", column_config={
                         "account": st.column_config.LinkColumn("account", display_text=charts.ACCOUNT_LINK_TEXT),
                         "csm_owner": "CSM", "arr": st.column_config.NumberColumn("ARR", format="localized"),
                         "saved_health": st.column_config.NumberColumn("saved health", format="%.1f"),
                         "proposed_health": st.column_config.NumberColumn("proposed health", format="%.1f")})


def backtest_effects(page, saved_bt, bt, proposed_figures, proposal, cat) -> None:
    """Saved against proposed backtest figures (``proposed_figures()`` waits for the worker
    thread's), and the suggestion from the outcomes with its blend slider (when opened)."""
    st.subheader("Backtest: saved against proposed", divider="gray")
    if isinstance(bt, str) or isinstance(saved_bt, str):
        st.info(plain(bt if isinstance(bt, str) else saved_bt), icon=":material/info:")
        return
    old, new = bk.figures(page, saved_bt, cat), proposed_figures()  # each profile's own weights
    st.caption(f"As `python -m scoring validate` with these weights: {len(bt.dates)} as-of dates "
               f"{bt.dates[0].as_of} to {bt.dates[-1].as_of}, churn within {bt.horizon} days.")
    row = st.container(horizontal=True)
    row.metric("ROC AUC, proposed", comparison.auc_text(new["auc"]),
                delta=None if None in (old["auc"], new["auc"]) or old["auc"] == new["auc"]
                else f"{new['auc'] - old['auc']:+.3f}")
    row.metric("ROC AUC, saved", comparison.auc_text(old["auc"]))
    row.metric("Churned / account-dates", f"{new['n_churned']:,} / {new['n_accounts']:,}")
    st.dataframe(comparison.quick_table(old, new), width="stretch")
    for why in sorted(set(new["reasons"].values())):
        st.caption(f"n/a: {plain(why)}")
    with st.expander("Suggest weights from the outcomes", key="tw_suggest", on_change="rerun") as box:
        if not box.open:
            return
        sug = bk.suggestion(page, bt, cat)
        if isinstance(sug, str):
            st.info(plain(sug), icon=":material/info:")
            return
        b = st.slider("Blend: 0 = current weights, 1 = suggested", 0.0, 1.0, 1.0, 0.05, key="tw_blend")
        mix = comparison.blend(proposal.weights, sug.weights, b)
        st.dataframe({"current": proposal.weights, "suggested": sug.weights, "blended": mix}, width="stretch")
        auc = quick_figures(bt, mix)["auc"]
        st.caption("Fitted on the same dates it is judged on here (in sample): blended ROC AUC "
                   f"{'n/a' if auc is None else f'{auc:.3f}'}. `python -m scoring calibrate` fits "
                   "on earlier dates and judges on later ones.")
        flips = comparison.flip_sentences(sug.signals, sug.proposed_flips) or ["No signal works the other way round."]
        for line in flips:
            st.markdown(f"- {plain(line)}")
        st.button("Use the blended weights", key="tw_apply", on_click=bk.set_weights, args=(mix,))


@st.fragment
def proposal_and_effects(page, base, cat, start, book, as_of) -> None:
    """The weights, thresholds and health weights, and what the proposal changes: a widget in here
    reruns this function only (Streamlit keeps the arguments of the page's last full run)."""
    proposal = tuning.from_widgets(ss, start)  # this run's values, before the widgets (not a copy of all)
    proposed = tuning.proposed_profile(base, proposal)
    try:
        profiles.validate(proposed)
        problems = []
    except DataError as exc:
        problems = getattr(exc, "problems", [str(exc)])
    if not problems:  # the proposal's backtest figures start first, on a worker thread
        saved_bt, bt = bk.backtest(page, base, cat), bk.backtest(page, proposed, cat)
        proposed_figures = None if isinstance(bt, str) else bk.figures_soon(page, bt, cat)
    weight_widgets(base, share_texts(base, proposal))
    ss["_tw_written"] = tuning.to_params(proposal)
    bk.sync_url(ss["_tw_written"])
    total = sum(proposal.weights.values())
    st.caption(f"Total weight {total:g}. Weights are relative: a signal's share of engagement is its weight "
               f"over the total, then no signal above max_signal_share ({base.max_signal_share:.0%}), "
               "the excess going to the others.")
    for p in problems:
        st.error(plain(p), icon=":material/error:")
    previews = st.container()
    if not problems:
        book_effects(page, base, proposed, proposal, book, as_of, previews)
        backtest_effects(page, saved_bt, bt, proposed_figures, proposal, cat)


setting_widgets(base, start)
proposal_and_effects(page, base, cat, start, book, as_of)

st.subheader("Save", divider="gray")
viewer = require_permission("edit_profiles")  # stops here for viewers who may not edit profiles
proposal = tuning.from_widgets(ss, start)
name = st.text_input("Save as profile", value=base.name, key="tw_name")
note = st.text_area("Note (why this change)", key="tw_note")
if st.button("Save as a new version", key="tw_save", type="primary"):
    try:
        version = profiles.save(page.state, tuning.proposed_profile(base, proposal, name=name.strip()),
                                author=viewer.email, note=note)
        ss["_tw_saved"] = f"{name.strip()}@{version}"
    except DataError as exc:
        for p in getattr(exc, "problems", [str(exc)]):
            st.error(f"Not saved: {plain(p)}", icon=":material/error:")
if saved := ss.get("_tw_saved"):
    st.success(f"Saved {plain(saved)}" + (", published." if saved == ch.published else ": not published."),
               icon=":material/check:")
    st.markdown(f"[Open {plain(saved)} here as the base]({bk.link(saved, as_of)})")
target = saved or (base_ref if "@" in base_ref else None)
if target and target != ch.published and st.button(f"Publish {plain(target)}", key="tw_publish",
                                                   help="Scores, lists and exports then use it."):
    n, v = profiles.parse_ref(target)
    profiles.publish(page.state, n, v, author=viewer.email)
    st.success(f"Published {plain(target)}.", icon=":material/check:")
