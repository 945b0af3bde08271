"""Account (360): one account before a call — who they are, how healthy, why, and what changed.

Find an account by name or id (or open ``?account=ID``); an id that is unknown or outside the
viewer's scope gets the same message. Every figure comes from ``scoring.account`` (queries and
words), ``scoring.explain`` (contributions, drivers) and ``scoring.moved`` (why it moved); docs/DASHBOARD.md says
where each one comes from. Text from data or people goes through ``plain``, in tables too
(``small_table``: short tables as static text, which spares the page Streamlit's data grid code).
"""
import streamlit as st

from scoring import account, explain, feedback
from ui import charts, plot
from ui.auth import current_viewer
from ui.frame import frame, plain, small_table

NUM, PCT = "%.1f", "percent"  # formats of small_table's number columns

page = frame("Account", charts=True)
book = page.book()
as_of = book.as_of

# ---------------------------------------------------------------- which account
query = st.text_input("Search by name or id", key="q", bind="query-params",
                      placeholder="part of a name, or an exact account id")
chosen = None
if query and query.strip():
    matches = page.query(account.find_accounts, text=query)
    if matches.empty:
        st.info(f"No account in your accounts has a name containing {plain(query)} or that id.")
    elif len(matches) == 1:
        chosen = matches.account_id.iloc[0]
    else:
        names = dict(zip(matches.account_id, matches.name.fillna("") + " (" + matches.account_id + ")"))
        more = " (the first ones: refine the search)" if len(matches) == account.SEARCH_LIMIT else ""
        chosen = st.selectbox(f"{len(matches)} accounts match{more}", list(names), index=None,
                              format_func=names.get, key=f"pick:{query}", placeholder="Pick one")
if chosen:
    st.query_params["account"] = chosen
account_id = chosen or st.query_params.get("account")
if not account_id:
    st.info("Search for an account above, or open a link ending in `?account=ID`.")
    st.stop()
facts = page.query(account.account_facts, account_id=account_id)
if facts is None:
    st.error(f"No account with id {plain(account_id)} in your accounts.")
    st.stop()

# ---------------------------------------------------------------- who they are
st.header(plain(facts["name"] or account_id), anchor=False)
st.caption(f"Account id {plain(account_id)}"
           + (f" · CRM id {plain(facts['crm_id'])}" if facts["crm_id"] else ""))
for col, (label, value) in zip(st.columns(4) + st.columns(4), [
        ("Segment", facts["segment"]), ("Plan", facts["plan"]), ("Region", facts["region"]),
        ("CSM", facts["csm_owner"]), ("ARR", f"{facts['arr']:,.0f}"), ("Seats", f"{facts['seats']:,}"),
        ("Renewal date", facts["renewal_date"]), ("Contract start", facts["contract_start"])]):
    col.metric(label, "—" if value is None else plain(value) if isinstance(value, str) else str(value))

# ---------------------------------------------------------------- scores and why
row = account.scored_row(book, page.scope, account_id)
said = feedback.current(page.state, feedback.today_utc())
flag = said.flags.loc[account_id] if account_id in said.flags.index else None
st.subheader("Scores")
st.caption(f"Scored with profile {plain(book.profile.ref)} as of {as_of} (only data from before that day).")
if row is None:
    st.warning(f"Not active on {as_of} (no MRR in force, or the contract has not started), so it "
               "has no score on that date. Its history, usage and records are below.")
else:
    e = explain.explain(book, account_id)
    eng, health, band, mine, conf = st.columns(5)
    eng.metric("Engagement", f"{e.engagement:.1f}")
    health.metric("Health", f"{e.health:.1f}")
    band.metric("Band (from the score)", e.band.replace("_", " "), help=account.band_help(book))
    mine.metric("CSM flag", "—" if flag is None else flag["flag"].replace("_", " "),
                help="A person's judgement, set under Feedback below; the score never changes it.")
    conf.metric("Data confidence", f"{row['data_confidence']:.0%}")
    st.text(account.confidence_text(book, account_id))
    up, down = st.columns(2)
    for col, title, lines, empty in ((up, "Lifting the score", e.up, "Nothing above its peers."),
                                     (down, "Holding it down", e.down, "Nothing below its peers.")):
        col.markdown(f"**{title}**\n" + ("".join(f"\n- {plain(t)}" for t in lines) or f"\n{empty}"))
    st.markdown(f"**Biggest lever:** {plain(e.lever or 'none: every signal is at or above the peer median')}")
    plot.show(charts.contributions(account.contributions(book, account_id)), key="contributions")
    small_table(account.signal_table(e), {"change": PCT, "points in health": NUM, "points vs peers": NUM})
    small_table(account.component_table(e),
                {c: NUM for c in ("score", "book median", "points in health", "points vs median")})
    st.text(account.value_share_text(e.value_share))
    burst = account.burst_text(book, account_id)
    if burst:
        st.warning(plain(burst), icon=":material/bolt:")

# ---------------------------------------------------------------- history and why it moved
st.subheader("History")
hist = page.query(account.score_history, account_id=account_id, profile_name=book.profile.name, as_of=as_of)
if hist.empty:
    st.info(f"No stored scores of profile {plain(book.profile.name)} for this account yet: history "
            "comes from `python -m scoring snapshot` and the weekly backfill at import.")
else:
    plot.show(charts.score_history(hist, at_risk_below=book.profile.bands.at_risk_below,
                                   healthy_from=book.profile.bands.healthy_from), key="history")
    st.caption("Band lines are the current profile's thresholds. Diamonds mark snapshots scored "
               "with another profile version than the one before.")
    earlier = hist[hist.as_of < as_of].reset_index(drop=True)
    if row is None or earlier.empty:
        st.info("No earlier snapshot to compare with." if row is not None else
                "Not active now, so there is no change to explain.")
    else:
        st.markdown("##### Why it moved")
        pos = st.selectbox("Since the snapshot of", list(earlier.index), key=f"since:{account_id}",
                           index=account.default_since(list(earlier.as_of), as_of),
                           format_func=lambda i: f"{earlier.as_of[i]} (profile version "
                                                 f"{earlier.profile_version[i]})")
        snap = earlier.loc[pos]
        with st.spinner("Scoring the earlier date…"):
            moved = account.compare(page.book, book, account_id, since=snap.as_of,
                                    profile_name=book.profile.name,
                                    profile_version=int(snap.profile_version),
                                    snapshot_health=float(snap.health_score))
        for note in moved.notes:
            st.warning(plain(note))
        st.info(plain(moved.summary))
        if moved.table is not None:
            small_table(moved.table, {c: NUM for c in ("before", "after", "own", "peers", "profile", "change")})
            st.caption("own: the account's own change (its new inputs against its old peers); peers: "
                       "the shift among its peers; profile: the change of weight profile.")

# ---------------------------------------------------------------- usage and records
st.subheader(f"Usage, last {account.USAGE_WEEKS} weeks")
usage = page.query(account.weekly_usage, account_id=account_id, as_of=as_of,
                   value_types=account.value_event_types(book.catalogue))
if usage.events.sum() == 0:
    st.info(f"No usage events in the {account.USAGE_WEEKS} weeks before {as_of}.")
else:
    plot.show(charts.weekly_usage(usage), key="usage")

people, tickets, invoices, nps = st.tabs(["Contacts", "Open tickets", "Overdue invoices", "NPS answers"])
for tab, fn, empty in (
        (people, account.contacts, "No contacts for this account (the contacts file is optional)."),
        (tickets, account.open_tickets, f"No support ticket open on {as_of}."),
        (invoices, account.overdue_invoices, f"No invoice overdue on {as_of}."),
        (nps, account.recent_nps, f"No NPS answer before {as_of}.")):
    kw = {} if fn is account.contacts else {"as_of": as_of}
    rows = page.query(fn, account_id=account_id, **kw)
    if rows.empty:
        tab.info(empty)
    else:
        small_table(rows, where=tab)

# ---------------------------------------------------------------- feedback
st.subheader("Feedback")
if saved := st.session_state.pop("feedback_saved", None):
    st.success(saved)
if flag is not None:
    st.text(f"Flagged {flag['flag'].replace('_', ' ')} by {flag['author']} on {flag['at']:%Y-%m-%d}: "
            f"{flag['reason']}" + (f" (until {flag['expires']})" if flag["expires"] else " (no end date)"))
if (snoozed := said.snoozed.get(account_id)) is not None:
    st.text(f"Snoozed until {snoozed.until} by {snoozed.author}: {snoozed.reason}")
if (dismissed := said.dismissed.get(account_id)) is not None:
    st.text(f"Dismissed on {dismissed.at:%Y-%m-%d}: {dismissed.reason}")


def save(action, done: str, **kw) -> None:
    """Run one feedback action; a rule it breaks (empty reason, past date) is shown, nothing saved."""
    try:
        action(page.state, account_id, author=current_viewer().email, **kw)
    except ValueError as exc:
        st.error(plain(exc))
    else:
        st.session_state["feedback_saved"] = done
        st.rerun()


contact, later, drop, judge = st.columns(4)
with contact.form("contact", clear_on_submit=True):
    note = st.text_input("Note (optional)", key="contact_note")
    if st.form_submit_button("Mark contacted", key="contact_save"):
        save(feedback.mark_contacted, "Marked as contacted.", note=note)
with later.form("snooze"):
    until = st.date_input("Snooze until", value=feedback.today_utc() + account.SNOOZE_DAYS, key="snooze_until")
    reason = st.text_input("Reason", key="snooze_reason")
    if st.form_submit_button("Snooze", key="snooze_save"):
        save(feedback.snooze, f"Snoozed until {until}.", until=until, reason=reason)
with drop.form("dismiss"):
    reason = st.text_input("Reason", key="dismiss_reason")
    if st.form_submit_button("Dismiss", key="dismiss_save"):
        save(feedback.dismiss, "Dismissed from the lists.", reason=reason,
             band=None if row is None else row["band"], health=None if row is None else row["health_score"])
with judge.form("flag"):
    chosen_flag = st.selectbox("Risk flag", feedback.FLAGS, key="flag_value",
                               format_func=lambda f: f.replace("_", " "))
    reason = st.text_input("Reason", key="flag_reason")
    expires = st.date_input("Expires (empty: no end)", value=None, key="flag_expires")
    if st.form_submit_button("Set flag", key="flag_save"):
        save(feedback.set_risk_flag, "Risk flag set.", flag=chosen_flag, reason=reason, expires=expires)
if flag is not None and st.button("Clear the risk flag", key="flag_clear"):
    save(feedback.clear_risk_flag, "Risk flag cleared.")
if snoozed is not None and st.button("End the snooze", key="snooze_clear"):
    save(feedback.clear_snooze, "Snooze ended.")
history = feedback.account_history(page.state, account_id)
if history.empty:
    st.info("No feedback on this account yet.")
else:
    small_table(history)
