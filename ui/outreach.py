"""The outreach list page, shared by At risk and Expansion ready.

The list is ``scoring.lists.build_list`` (the ranking, alert-fatigue rules and plays of
docs/OUTREACH.md), the same function ``python -m scoring export`` calls, so the downloads hold
exactly the rows on screen. Actions go through ``scoring.feedback`` and the list is rebuilt after
each. Widgets are bound to the URL, so a view can be shared as a link. Names, reasons and notes
are shown in tables or as plain text, never as HTML.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from scoring import export, feedback, list_data, lists
from ui.auth import current_viewer
from ui.frame import frame, plain, plural

# Columns both lists show; each page adds its own.
COMMON_COLUMNS: dict[str, Any] = {
    "account": st.column_config.LinkColumn("Account", display_text=r"#(.*)$", help="Opens the account page"),
    "health_score": st.column_config.NumberColumn("Health", format="%.1f"),
    "change_30d": st.column_config.NumberColumn("Change 30 d", format="%+.1f"),
    "arr": st.column_config.NumberColumn("ARR", format="localized"),
    "renewal_date": st.column_config.DateColumn("Renewal"),
    "reasons": st.column_config.TextColumn("Top reasons", width="large"),
    "play": st.column_config.TextColumn("Suggested play", width="medium"),
    "flag": st.column_config.TextColumn("CSM flag"),
    "flag_reason": st.column_config.TextColumn("Flag reason"),
}


def outreach_page(kind: str, *, title: str, list_name: str, ranked_by: str, days_label: str,
                  with_drop: bool, columns: list[str], column_config: dict[str, Any]) -> None:
    """Draw one outreach list page: settings, the ranked list, actions, downloads."""
    page = frame(title)
    book = page.book()
    author = current_viewer().email

    if msg := st.session_state.pop("outreach_saved", None):
        st.success(msg, icon=":material/check:")

    # ---------------------------------------------------------------- settings (bound to the URL)
    mine, room = st.columns([2, 1])
    owner = mine.selectbox("My accounts", ["All", *lists.owners(book, page.scope)], key="owner",
                           bind="query-params", help="Only the accounts of this CSM (csm_owner).")
    capacity = room.number_input("I can reach N this week", min_value=1, max_value=500, value=lists.CAPACITY,
                                 step=1, key="capacity", bind="query-params")
    with st.expander("List rules"):
        days = st.number_input(days_label, min_value=0, max_value=180, value=lists.MIN_DAYS_IN_BAND,
                               key="days", bind="query-params")
        drop = None
        if with_drop:
            drop = st.number_input("…or after falling this many points in 30 days", min_value=0.0,
                                   max_value=100.0, value=lists.MIN_DROP, step=1.0, key="drop",
                                   bind="query-params")
        recent = st.checkbox(f"Include accounts contacted or exported in the last {lists.RECENT_DAYS} days",
                             key="recent", bind="query-params")
    rules = {} if drop is None else {"min_drop": float(drop)}
    settings = lists.ListSettings(kind, owner=None if owner == "All" else owner, limit=int(capacity),
                                  min_days_in_band=int(days), include_recent=recent, **rules)

    # ---------------------------------------------------------------- the list
    data = page.shared(list_data.read_list_data, profile=book.profile, as_of=book.as_of,
                       catalogue=book.catalogue, history_days=settings.min_days_in_band)
    said = feedback.current(page.state, feedback.today_utc())
    ol = lists.build_list(book, data, said, settings, scope=page.scope)
    st.caption(plain(settings.describe()) + f" · ranked by {ranked_by} · "
               + " · ".join(plain(n) for n in ol.notes))
    held = [f"{n:,} {why}" for why, n in ol.held_back.items() if n]
    if held:
        st.caption("Not shown: " + plain(", ".join(held)))

    if ol.rows.empty:
        st.info(f"No account is on the {list_name} list for these settings. The downloads below still give "
                "the column headers.")
    else:
        view = ol.rows.assign(account=[lists.account_url(a, n) for a, n in zip(ol.rows.account_id, ol.rows.name)])
        picked = st.dataframe(
            view, hide_index=True, width="stretch", key="table", on_select="rerun", selection_mode="single-row",
            column_order=columns, column_config={**COMMON_COLUMNS, **column_config})

        # ---------------------------------------------------------------- act on one account
        st.subheader("Act on an account")
        labels = dict(zip(ol.rows.account_id, "#" + ol.rows["rank"].astype("str") + " " +
                          ol.rows.name.fillna("").astype("str") + " (" + ol.rows.account_id + ")"))
        rows_picked = picked.selection.rows if picked is not None else []
        start = rows_picked[0] if rows_picked and rows_picked[0] < len(ol.rows) else 0
        target = st.selectbox("Account", list(labels), index=start, format_func=labels.get, key="act_on")
        row = ol.rows.set_index("account_id").loc[target]

        def save(action, done: str, **kw) -> None:
            try:
                action(page.state, target, author=author, **kw)
            except ValueError as exc:
                st.error(plain(exc))
            else:
                st.session_state["outreach_saved"] = done
                st.rerun()

        contact, later, drop_it = st.columns(3)
        with contact.form("contact", clear_on_submit=True):
            note = st.text_input("Note (optional)", key="contact_note")
            if st.form_submit_button("Mark contacted", key="contact_save"):
                save(feedback.mark_contacted, f"{plain(target)}: marked as contacted.", note=note, list_name=kind)
        with later.form("snooze", clear_on_submit=True):
            until = st.date_input("Snooze until", value=feedback.today_utc() + dt.timedelta(days=14),
                                  key="snooze_until")
            why = st.text_input("Reason", key="snooze_reason")
            if st.form_submit_button("Snooze", key="snooze_save"):
                save(feedback.snooze, f"{plain(target)}: snoozed until {until}.", until=until, reason=why)
        with drop_it.form("dismiss", clear_on_submit=True):
            why_not = st.text_input("Reason", key="dismiss_reason")
            if st.form_submit_button("Dismiss", key="dismiss_save"):
                save(feedback.dismiss, f"{plain(target)}: dismissed.", reason=why_not, list_name=kind,
                     band=row["band"], health=row["health_score"])

    # ---------------------------------------------------------------- downloads (the same rows)
    st.subheader("Download")
    demo = page.facts.is_demo
    log = st.checkbox(f"Log the download as outreach (the accounts then rest {lists.RECENT_DAYS} days)",
                      key="log_download")
    left, right = st.columns(2)
    for col, fmt in ((left, "csv"), (right, "xlsx")):
        out = export.render(ol, fmt, demo=demo, bom=True)  # the BOM makes Excel read UTF-8 names right
        if col.download_button(f"{fmt.upper()} ({plural(len(ol.rows), 'row')})", out.data,
                               file_name=export.file_name(ol, fmt), mime=out.mime, key=f"dl_{fmt}") and log:
            feedback.log_export(page.state, out.account_ids, author=author, list_name=kind)
