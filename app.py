"""Home page (Portfolio): the shared frame and a short overview of the accounts in the data.

Run with ``streamlit run app.py``. It opens the data file of ``CS_DB`` (else ``data/cs.duckdb``,
where the demo is built on first start). Pages live in ``pages/`` and share ``ui.frame``.
"""
import streamlit as st

from scoring import dataview
from ui.frame import frame

page = frame("Portfolio")

summary = page.query(dataview.overview, as_of=page.facts.as_of)
accounts, active, arr = st.columns(3)
accounts.metric("Accounts", f"{summary.accounts:,}")
if page.facts.as_of is None:
    active.metric("Active accounts", "—", help="No usage events yet, so there is no as-of date.")
else:
    active.metric(f"Active on {page.facts.as_of:%Y-%m-%d}", f"{summary.active_accounts:,}",
                  help="MRR in force above 0 on that date; without MRR history, the contract "
                       "has started.")
arr.metric("ARR", f"{summary.total_arr:,.0f}", help="Sum of the arr column of the accounts file.")

st.page_link("pages/9_Data.py", label="What is loaded, and the data warnings to check",
             icon=":material/database:")
