"""At risk: the accounts a CSM should reach this week, most ARR at stake first, and what to say.

The page is ``ui.outreach.outreach_page`` with the at-risk list's columns (the same list
``python -m scoring export --list at-risk`` writes).
"""
import streamlit as st

from ui.outreach import outreach_page

outreach_page(
    "at-risk", title="At risk", list_name="at-risk",
    ranked_by="expected ARR at risk x renewal proximity",
    days_label="Days in the band before an account enters (0: at once)", with_drop=True,
    columns=["rank", "account", "band", "flag", "health_score", "change_30d", "churn_risk", "arr",
             "renewal_date", "priority", "reasons", "play", "csm_owner", "flag_reason"],
    column_config={"churn_risk": st.column_config.NumberColumn("Churn risk", format="percent"),
                   "priority": st.column_config.NumberColumn("Priority", format="localized")})
