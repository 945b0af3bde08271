"""Data page: what is loaded, and the data warnings people must see before trusting a score.

Warnings, each with a count and examples: event types nobody classified (and app classifications
that disagree with the imported catalogue), accounts without usage, accounts that vanished in the
newest import, rows that import skipped, and its other warnings. Every figure comes from
``scoring.dataview`` or ``scoring.store`` through ``page.query``.
"""
import streamlit as st

from scoring import dataview, store
from scoring.schema import DIMENSIONS
from ui.auth import current_viewer
from ui.frame import frame, plural, show_finding


page = frame("Data")

st.subheader("What is loaded")
st.text(f"Data file: {page.ds.path}")
st.dataframe(page.query(store.table_overview), hide_index=True, width="stretch",
             column_config={"needed": st.column_config.CheckboxColumn("needed"),
                            "loaded": st.column_config.CheckboxColumn("loaded"),
                            "rows": st.column_config.NumberColumn("rows", format="localized")})
st.markdown("**Imports**, newest first")
st.dataframe(page.query(dataview.import_history), hide_index=True, width="stretch")

st.subheader("Warnings")

app_classes = page.state.classifications()
st.markdown("##### Unclassified event types")
unclassified = page.query(dataview.unclassified_event_types, app_classified=tuple(sorted(app_classes)))
show_finding(
    unclassified,
    problem=f"{plural(unclassified.count, 'event type')} in the usage data "
            f"{'is' if unclassified.count == 1 else 'are'} neither in the event-type catalogue nor "
            "classified in the app. They are scored as passive actions of a feature named after "
            "the event type until someone classifies them.",
    fine="Every event type in the usage data is classified.")

conflicts = page.query(dataview.classification_conflicts, app=app_classes)
if conflicts.count:
    show_finding(
        conflicts,
        problem=f"{plural(conflicts.count, 'event type')} classified in the app "
                f"differently from the imported catalogue. The app's classification is used.",
        fine="")

st.markdown("##### Accounts without usage")
no_usage = page.query(dataview.accounts_without_usage)
show_finding(
    no_usage,
    problem=f"{plural(no_usage.count, 'account')} {'has' if no_usage.count == 1 else 'have'} no "
            "usage event at all, so their engagement cannot be measured. Check that their "
            "account_id matches the one in the usage export.",
    fine="Every account has usage events.")

st.markdown("##### Accounts that vanished in the last import")
vanished = page.query(dataview.vanished_accounts)
show_finding(
    vanished,
    problem=f"{plural(vanished.count, 'account')} from the previous data "
            f"{'is' if vanished.count == 1 else 'are'} not in the newest accounts file.",
    fine="No account vanished in the last import.")

st.markdown("##### Rows skipped in the last import")
skipped = page.query(dataview.skipped_rows)
show_finding(
    skipped,
    problem=f"{plural(skipped.count, 'row')} broke an import rule and "
            f"{'was' if skipped.count == 1 else 'were'} skipped (--skip-bad-rows).",
    fine="The last import skipped no rows.")

st.markdown("##### Other warnings of the last import")
notes = page.query(dataview.import_warnings)
show_finding(notes, problem=f"The last import reported {plural(notes.count, 'warning')}.",
             fine="The last import reported no other warnings.")

st.subheader("Classify event types")
viewer = current_viewer()
if not viewer.can("classify_events"):
    st.info("Classifying event types is for CS ops; ask one if a classification looks wrong.")
    st.stop()
st.caption("Dimension and value action of each event type. Value actions (a report generated, a "
           "workflow automated) count for more than passive ones (a page view, a login). What you "
           "save here overrides the imported catalogue, survives every import, and re-scores the "
           "book. Source: imported, app (saved here) or unclassified.")
_, catalogue = page.profile()
editable = catalogue[["event_type", "feature", "dimension", "value_action", "source"]].copy()
editable["dimension"] = editable["dimension"].map(dataview._text)
edited = st.data_editor(
    editable, key="classify", hide_index=True, width="stretch", num_rows="fixed",
    disabled=["event_type", "source"],
    column_config={"dimension": st.column_config.SelectboxColumn(options=list(DIMENSIONS)),
                   "value_action": st.column_config.CheckboxColumn("value action"),
                   "feature": st.column_config.TextColumn(help="Empty: the event type itself")})
try:
    changes = dataview.classification_changes(catalogue, edited)
except ValueError as exc:
    st.error(str(exc))
    changes = []
if st.button(f"Save {plural(len(changes), 'change')}", disabled=not changes, key="save_classes"):
    page.state.classify_many(changes, author=viewer.email)
    st.success(f"Saved {plural(len(changes), 'classification')}; the scores use them from now on.")
    st.rerun()
app_saved = sorted(page.state.classifications())
if app_saved:
    undo = st.selectbox("Remove an app classification (the imported one applies again)",
                        ["—"] + app_saved, key="unclassify")
    if undo != "—" and st.button("Remove", key="remove_class"):
        page.state.unclassify(undo, author=viewer.email)
        st.rerun()
