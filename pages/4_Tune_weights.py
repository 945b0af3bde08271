"""Tune weights (CS ops): re-weight a saved profile and see at once what it would change.

Every move re-scores the book with one matrix-vector product (``scores.whatif`` on a matrix
prepared once per setting, ``ui.backtest``) and the past dates with ``validate.quick_figures``:
the same numbers ``python -m scoring validate`` gives for those weights. The proposal lives in the
URL (``scoring.tuning``), so a link reopens it exactly. docs/DASHBOARD.md defines every figure.

The page wires the frame, the base-profile pickers, the link, one ``st.fragment`` (the sliders,
the band thresholds and everything they change: a move reruns that part only) and the save form;
``ui/tune.py`` draws the parts and says why they are split so.
"""
import datetime as dt

import streamlit as st

from scoring import profiles, tuning
from scoring.errors import DataError
from ui import backtest as bk
from ui import tune
from ui.auth import require_permission
from ui.frame import frame, plain

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


@st.fragment
def proposal_and_effects(page, base, cat, start, book, as_of) -> None:
    """The weights and band thresholds, and what the proposal changes: a widget in here reruns
    this function only (Streamlit keeps the arguments of the page's last full run)."""
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
    tune.weight_widgets(base, tune.share_texts(base, proposal))
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
        tune.book_effects(page, base, proposed, proposal, book, as_of, previews)
        tune.backtest_effects(page, saved_bt, bt, proposed_figures, proposal, cat)


tune.setting_widgets(base, start)
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
