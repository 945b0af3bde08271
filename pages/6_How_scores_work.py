"""How scores work: the profile in use, every formula and weight, and what the data covers.

Generated from the published profile (or the default) and the scored book by
``scoring.describe``; nothing on this page is written by hand, so it cannot drift from the code.
"""
import streamlit as st

from scoring import describe
from ui.frame import frame, plain

page = frame("How scores work")
book = page.book()
profile = book.profile
st.markdown(f"Profile **{plain(profile.ref)}** as of **{book.as_of:%Y-%m-%d}**, over "
            f"{len(book.scores):,} active accounts. {plain(profile.description)}")

st.subheader("Engagement: the usage signals")
st.caption("engagement_score = 100 × the weighted mean of the normalised signals (0..1, 1 = best) "
           "the account has a value for. Share = the weight after the cap on any one signal.")
signals = describe.signal_table(profile, book)
st.dataframe(signals, hide_index=True, width="stretch", column_config={
    "weight": st.column_config.NumberColumn(format="%.1f"),
    "share": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
    "coverage": st.column_config.ProgressColumn("accounts with a value", format="percent",
                                                min_value=0.0, max_value=1.0),
    "median": st.column_config.NumberColumn("median raw value", format="%.3g")})

st.subheader("Health: the components")
st.caption("health_score = the weighted mean of the components that have data.")
components = describe.component_table(profile, book)
st.dataframe(components.drop(columns="formula"), hide_index=True, width="stretch", column_config={
    "share": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
    "coverage": st.column_config.ProgressColumn("accounts with data", format="percent",
                                                min_value=0.0, max_value=1.0)})
for row in components.itertuples():
    with st.expander(f"{row.component}: formula"):
        st.text(row.formula)

st.subheader("Bands and rules")
for name, text in describe.rules(profile).items():
    st.markdown(f"**{name}**")
    st.text(text)

st.subheader("Normalisation methods")
for name, text in describe.method_formulas().items():
    with st.expander(name):
        st.text(text)
