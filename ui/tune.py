"""The Tune weights page's parts: the settings, the live sliders, and what a proposal changes.

``pages/4_Tune_weights.py`` wires them together (the frame, the base-profile pickers, the link,
one ``st.fragment``, the save form); these only draw. Every number comes from ``scoring``
(``tuning``, ``comparison``, ``scores.effective_shares``, ``validate.quick_figures``) through the
caches of ``ui.backtest``; text from data or people goes through ``plain``.

Why it is shaped like this:

- **Two speeds.** The sliders, the band thresholds and everything they change
  (``weight_widgets``, ``book_effects``, ``backtest_effects``) are drawn inside the page's one
  ``st.fragment``: a move reruns that part only, not the menu, the banner, the base-profile
  pickers, the directions, normalisations and health weights or the save form. Those settings
  (``setting_widgets``) sit in an expander above it: changed now and then, each change preparing
  the what-if anew, so a change there reruns the page.
- **The proposal's backtest figures start first**, on a worker thread, while the sliders and the
  book's part are drawn (``bk.figures_soon``): ``backtest_effects`` takes the function that waits
  for them.
- **Widget keys come from ``scoring.tuning``** (``tuning.WEIGHT + name`` and so on): the session,
  the proposal and its link read the same keys. Functions take what they draw as arguments; the
  session holds only widget values.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from scoring import comparison, tuning
from scoring.current import Book
from scoring.portfolio import BAND_LABELS
from scoring.profile import DIRECTIONS, Profile
from scoring.scores import effective_shares
from scoring.validate import Backtest, quick_figures
from ui import backtest as bk
from ui import charts, plot
from ui.frame import Page, plain, small_table

GRID_HELP = "A grid's points say how good each range is, so direction does not apply."
SELECT_WIDTH, LABEL_WIDTH = 170, 260  # pixels, of a select box and of a signal's name beside two


def share_texts(base: Profile, proposal: tuning.Proposal) -> dict[str, str]:
    """Each signal's share of engagement under the proposed weights, as its slider's label says."""
    weights = list(proposal.weights.values())
    total = sum(weights)
    if total <= 0:
        return {}
    shares = effective_shares(weights, base.max_signal_share)
    return {name: f"share {share:.1%}" + (" (capped)" if share < w / total - 1e-9 else "")
            for (name, w), share in zip(proposal.weights.items(), shares)}


def setting_widgets(base: Profile, start: tuning.Proposal) -> None:
    """Each signal's direction and normalisation and the health component weights: settings people
    change now and then, each change preparing the what-if anew (hundreds of milliseconds), so
    they sit above the live part and a change reruns the page. Keeping them out of the fragment
    takes 2 widgets per signal and the health weights off every slider move's rerun.

    They are drawn only while their expander is open: even hidden, two select boxes per signal
    cost a new visitor's browser about 0.2 s to draw (bench/browser_bench.py). Their values live
    in the session under the widgets' keys (seeded from the base profile or the link), and are
    kept there while the widgets are not drawn, so the proposal and its link still carry them."""
    ss = st.session_state
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


def weight_widgets(base: Profile, shares: dict[str, str]) -> None:
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


def book_effects(page: Page, base: Profile, proposed: Profile, proposal: tuning.Proposal, book: Book,
                 as_of: dt.date, previews: DeltaGenerator) -> None:
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
    small_table(counts.reset_index(), where=left)
    right.markdown("**Band change, ARR**")
    small_table(money.round().astype("int64").reset_index(), where=right)
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


def backtest_effects(page: Page, saved_bt: Backtest | str, bt: Backtest | str,
                     proposed_figures: Callable[[], dict] | None, proposal: tuning.Proposal,
                     cat: pd.DataFrame) -> None:
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
    small_table(comparison.quick_table(old, new).reset_index())
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
