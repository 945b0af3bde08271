"""Portfolio (home page, for managers): the book's health, ARR at risk, retention and movers.

Run with ``streamlit run app.py``. It opens the data file of ``CS_DB`` (else ``data/cs.duckdb``,
where the demo is built on first start). Every number comes from ``scoring.portfolio`` and
``scoring.movers``; figures from ``ui.charts``. The filters and the open section (a tab that
runs only when open) live in the URL (``bind``), so a view is a link people can share.
docs/DASHBOARD.md defines every figure.
"""
import streamlit as st

from scoring import movers, portfolio as pf, retention as rt
from scoring.errors import DataError
from ui import charts, plot
from ui.frame import frame, plain, plural

page = frame("Portfolio", charts=True)
if page.facts.as_of is None:
    st.info("No usage events yet, so there is nothing to score. Import your files with "
            "`python -m scoring import DIR`.", icon=":material/info:")
    st.stop()
book = page.book()
as_of, profile = book.as_of, book.profile
# large per-account results: one shared read-only copy per data version and viewer (page.shared)
attrs = page.shared(pf.account_attributes)
options = page.shared(pf.filter_choices)


def shown(value: str) -> str:
    return value if value != "" else "(empty)"  # how a missing CSM, segment, ... is listed



with st.sidebar:
    st.markdown("**Filters**")
    filters = pf.Filters(
        csm=tuple(st.multiselect("CSM", options["csm"], format_func=shown, key="csm", bind="query-params")),
        segment=tuple(st.multiselect("Segment", options["segment"], format_func=shown, key="segment",
                                     bind="query-params")),
        plan=tuple(st.multiselect("Plan", options["plan"], format_func=shown, key="plan",
                                  bind="query-params")),
        region=tuple(st.multiselect("Region", options["region"], format_func=shown, key="region",
                                    bind="query-params")),
        renewal_within=st.number_input("Renewal within (days)", min_value=0, max_value=3650, value=None,
                                       step=30, placeholder="any", key="renewal_within", bind="query-params",
                                       help="Accounts whose renewal_date is from the as-of date to N "
                                            "days after it."))

v = pf.view(book.visible(page.scope), attrs, filters, as_of=as_of,
            model=page.shared(pf.churn_model, profile=profile), positions=page.positions(book, attrs))
k = pf.kpis(v)
st.caption(f"Showing: {plain(filters.describe())}")

c = st.columns(4)
c[0].metric("Accounts", f"{len(v.selected):,}", help="Accounts in the accounts file that pass the "
            "filters, churned ones included.")
c[1].metric(f"Active on {as_of:%Y-%m-%d}", f"{k.accounts:,}", help="Scored accounts: MRR in force "
            "above 0 on the as-of date (without MRR history: contract started). All figures below "
            "are about them.")
c[2].metric("ARR", f"{k.arr:,.0f}", help="ARR on the as-of date of the active accounts: 12 x MRR in "
            "force, or accounts.arr without MRR history.")
PROXY = "arr x (100 - health) / 100 (health unknown: 50)"
c[3].metric("Expected ARR at risk", f"{k.arr_at_risk:,.0f}", help=(
    f"Sum of arr x churn_risk, the churn-risk model's probability of churn within "
    f"{pf.RISK_HORIZON_DAYS} days from each account's health; {plural(v.unpredicted, 'account')} "
    f"without one (no health score) count {PROXY}. {plain(v.risk_note)}" if v.risk_basis == "expected" else
    f"No churn-risk model is fitted for this data (too little score history or no mrr_history), so "
    f"each account counts {PROXY}.") + " The same rule ranks the At risk list and its exports.")
for col, (band, row) in zip(st.columns(4), k.bands.iterrows()):
    col.metric(pf.BAND_LABELS[band], f"{row.share_accounts:.1%}", help=f"Share of active accounts in "
               f"the {band} band; {row.share_arr:.1%} of ARR ({row.arr:,.0f}).")
    col.caption(f"{plural(int(row.accounts), 'account')} · {row.share_arr:.1%} of ARR")
if v.rows.empty:
    st.info("No active account matches these filters. Clear a filter in the sidebar.",
            icon=":material/filter_alt_off:")
    st.stop()

st.subheader("Retention the score should lead", divider="gray")
# per account once per data version and date; a filter change only adds up other rows
chosen = None if filters == pf.Filters() else v.keep  # the attributes' rows: same accounts, same order
ret = rt.retention_of(page.shared(rt.retention_by_account, as_of=as_of), as_of, chosen)
value_types = rt.value_action_types(page.profile()[1])
act = rt.activation_of(page.shared(rt.activation_by_account, as_of=as_of, value_types=value_types),
                       value_types, chosen)
r = st.columns(4)
NEEDS = "needs mrr_history"
r[0].metric("Logo retention, 12 months", NEEDS if ret is None else
            "—" if ret.logo_retention is None else f"{ret.logo_retention:.1%}",
            help="Renewed / due. Due: an anniversary of renewal_date in the 12 months before the as-of "
                 "date, after contract_start, of an account that had paid before it. Renewed: MRR in "
                 "force above 0 the day after. " + ("" if ret is None else
                 f"{ret.renewed:,} of {ret.renewals_due:,} renewed."))
r[1].metric("Net revenue retention", NEEDS if ret is None else "—" if ret.nrr is None else f"{ret.nrr:.1%}",
            help="MRR in force now of the accounts paying 12 months ago / their MRR then (new "
                 "accounts left out). " + ("" if ret is None else f"{ret.cohort_accounts:,} accounts."))
r[2].metric("Expansion MRR, 12 months", NEEDS if ret is None else f"{ret.expansion_mrr:,.0f}",
            help="Sum over the same accounts of max(MRR now - MRR 12 months ago, 0). " +
                 ("" if ret is None else f"Contraction {ret.contraction_mrr:,.0f}, churned "
                                        f"{ret.churned_mrr:,.0f}."))
r[3].metric("Activation rate", "needs value actions" if not act.has_value_actions else
            "needs user ids" if not act.has_user_ids else "—" if act.rate is None else f"{act.rate:.1%}",
            help="Users first seen 30 to 90 days before the as-of date who did a value action "
                 "(event_types.value_action) within 30 days of first being seen. "
                 f"{act.activated:,} of {act.judged:,}; {act.in_progress:,} users seen in the last 30 "
                 f"days are left out ({act.in_progress_activated:,} of them already activated).")

# The sections below are tabs that run only when open (on_change="rerun"): a filter change
# redraws one section's charts, not all five (each Plotly chart costs the browser 60-80 ms on two
# cores), and computes only what that section shows. The open tab is in the URL (``view``).
tabs = st.tabs(pf.SECTIONS, key="view", on_change="rerun", bind="query-params")


def health_and_arr() -> None:
    left, right = st.columns(2)
    plot.show(charts.health_histogram(pf.health_bins(v.rows)), key="chart_health", where=left)
    plot.show(charts.arr_by_band(k.bands), key="chart_arr", where=right)


def breakdown() -> None:
    by = st.radio("Per", ["CSM", "Segment"], horizontal=True, key="by", bind="query-params")
    column = {"CSM": "csm_owner", "Segment": "segment"}[by]
    table = pf.breakdown(v.rows, by=column)
    left, right = st.columns([3, 2])
    left.dataframe(table, width="stretch", column_config={
        column: by, "arr": st.column_config.NumberColumn("ARR", format="localized"),
        "arr_at_risk": st.column_config.NumberColumn("ARR at risk", format="localized"),
        "mean_health": st.column_config.NumberColumn("mean health", format="%.1f"),
        **{f"share_{b}": st.column_config.ProgressColumn(pf.BAND_LABELS[b], format="percent", min_value=0,
                                                         max_value=1) for b in pf.BANDS}})
    plot.show(charts.band_mix_bars(table, by_label=by), key="chart_mix", where=right)


def renewals() -> None:
    plot.show(charts.renewal_pipeline(pf.renewal_pipeline(v.rows)), key="chart_pipeline")
    st.caption("Active accounts by days from the as-of date to renewal_date (0-30 includes the as-of date).")


def band_mix() -> None:
    mix = movers.band_mix_of(  # snapshot rows per account once; a filter counts them in memory
        page.shared(movers.band_history_by_account, profile_name=profile.name, as_of=as_of), chosen)
    if mix.empty:
        st.info(f"No score snapshots of the profile {plain(profile.name)} yet. `python -m scoring "
                "snapshot` stores one; each import backfills weekly history.", icon=":material/history:")
        return
    changes = movers.version_changes(mix)
    plot.show(charts.band_history(mix, changes), key="chart_history")
    st.caption(f"Snapshots of profile {plain(profile.name)}, the one made first on each date. " +
               ("Dotted lines mark a profile version change: a jump there may be the profile's, "
                "not the customers'." if len(changes) else "One profile version throughout."))


def movers_since() -> None:
    snap = page.shared(movers.previous_snapshot, profile_name=profile.name, before=as_of)
    if snap is None:
        st.info(f"No snapshot of the profile {plain(profile.name)} before {as_of:%Y-%m-%d} yet, so "
                "there is nothing to compare with.", icon=":material/history:")
        return
    snap = movers.in_view(snap, v.selected, v.keep)
    now_old = None
    if snap.version != (profile.version or 0):
        try:
            now_old = page.book(snap.ref, as_of).visible(page.scope)["health_score"]
            st.caption(f"The snapshot of {snap.as_of:%Y-%m-%d} was made with {plain(snap.ref)}, scores now "
                       f"with {plain(profile.ref)}: each change is split into customer movement (old "
                       "profile, then and now) and profile change (both profiles, today's data).")
        except DataError as exc:
            st.warning(f"The snapshot's profile {plain(snap.ref)} cannot be loaded ({plain(exc)}), so "
                       "changes are not split into customer and profile.", icon=":material/warning:")
    st.markdown(f"**Band then ({snap.as_of:%Y-%m-%d}) and now ({as_of:%Y-%m-%d})**, accounts")
    st.dataframe(movers.band_matrix(snap.rows["band"], v.rows["band"], then_pos=snap.pos, now_pos=v.pos),
                 width="stretch")
    drops = movers.biggest_drops(v.rows, snap, now_old=now_old, now_pos=v.pos)
    st.markdown("**Biggest drops in health**")
    if drops.empty:
        st.info("No account's health fell since the last snapshot.", icon=":material/check:")
        return
    split = ["customer_change", "profile_change"] if now_old is not None else []
    st.dataframe(charts.linked_accounts(drops), hide_index=True, width="stretch", column_order=[
        "account", "csm_owner", "arr", "band_then", "band_now", "health_then", "health_now", "change",
        *split], column_config={
        "account": st.column_config.LinkColumn("account", display_text=charts.ACCOUNT_LINK_TEXT),
        "csm_owner": "CSM", "arr": st.column_config.NumberColumn("ARR", format="localized"),
        **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.1f") for c in
           ("health_then", "health_now", "change", "customer_change", "profile_change")}})


for tab, draw in zip(tabs, (health_and_arr, breakdown, renewals, band_mix, movers_since)):
    with tab:
        if tab.open:
            draw()
