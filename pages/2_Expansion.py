"""Expansion ready: healthy accounts outgrowing their seats, biggest opportunity first.

The page is ``ui.outreach.outreach_page`` with the expansion list's columns (the same list
``python -m scoring export --list expansion`` writes).
"""
import streamlit as st

from ui.outreach import outreach_page

outreach_page(
    "expansion", title="Expansion ready", list_name="expansion",
    ranked_by="ARR x seat utilisation x (1 + usage growth)",
    days_label="Days healthy before an account enters (0: at once)", with_drop=False,
    columns=["rank", "account", "health_score", "change_30d", "seat_utilisation", "usage_growth",
             "breadth", "arr", "renewal_date", "opportunity", "flag", "play", "reasons", "csm_owner",
             "flag_reason"],
    column_config={"seat_utilisation": st.column_config.NumberColumn("Seats used", format="percent"),
                   "usage_growth": st.column_config.NumberColumn("Usage growth", format="percent"),
                   "breadth": st.column_config.NumberColumn("Breadth", format="%.0f"),
                   "opportunity": st.column_config.NumberColumn("Opportunity", format="localized")})
