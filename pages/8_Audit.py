"""Audit log: who changed what, and when (profile saves and publishes, classifications, ...).

For ops (everyone's changes) and managers (their team's changes; a manager of team "*" sees
everyone's). Rows come from ``scoring.access.audit_entries``; each is written in the same
transaction as the change it records.
"""
import streamlit as st

from scoring import access
from ui.auth import require_permission
from ui.frame import frame, plural

page = frame("Audit log")
viewer = require_permission("view_audit")
actors = viewer.scope.owners  # None: everyone's changes; else the team's people

left, right = st.columns([2, 1])
kinds = ["all changes", *access.audit_actions(page.state)]
kind = left.selectbox("Kind of change", kinds, key="audit_kind", bind="query-params")
limit = right.number_input("Newest rows", min_value=10, max_value=5000, value=200, step=50,
                           key="audit_limit", bind="query-params")
rows = access.audit_entries(page.state, int(limit), actors=actors,
                            action=None if kind == "all changes" else kind)
whose = "everyone's changes" if actors is None else "changes made by your team"
st.caption(f"{plural(len(rows), 'row')}, newest first: {whose}. Times are UTC.")
if rows.empty:
    st.info("Nothing recorded yet for this choice.", icon=":material/history:")
else:
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "at": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "actor": "who", "action": "what", "target": "on", "detail": "detail"})
