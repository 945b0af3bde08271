"""Validation: does a profile's score, made on past dates, predict what happened next?

The backtest of ``python -m scoring validate`` on screen: every figure comes from
``cli_validate.build_report`` (``scoring.validate``, ``calibrate``, ``risk``) on the command's own
default dates, so the page and ``validate --json`` agree to the last digit. A second profile can
be set beside the first. The pickers live in the URL (``bind``). docs/DASHBOARD.md defines it all.
"""
import pandas as pd
import streamlit as st

from scoring import comparison
from scoring.errors import DataError
from ui import backtest as bk
from ui import plot
from ui.frame import frame, plain

HORIZONS = (30, 60, 90, 180)
NONE = ""  # no second profile

page = frame("Validation", charts=True)
ch = bk.choices(page.state)
c = st.columns([2, 1, 1, 2])
ref = c[0].selectbox("Profile", ch.refs, index=ch.refs.index(ch.default), key="profile", bind="query-params",
                     help="A saved version (NAME@N) or the built-in default. Default: the published one.")
horizon = c[1].selectbox("Horizon (days)", HORIZONS, index=HORIZONS.index(90), key="horizon",
                         bind="query-params", help="Churn counts when the MRR falls to 0 within this many "
                                                   "days after an as-of date.")
score = c[2].radio("Score", ["health", "engagement"], key="score", bind="query-params", horizontal=True)
other = c[3].selectbox("Compare with", [NONE, *ch.refs], key="compare", bind="query-params",
                       format_func=lambda r: r or "(none)")
st.caption(f"Published: {plain(ch.published or 'none, so commands use the built-in default')}.")


def prepared(r: str):  # noqa: ANN201 - a Backtest, or the message saying why there is none
    try:
        profile, cat = page.profile(r)
        bt = bk.backtest(page, profile, cat, horizon=horizon, score=score)
        return bt if isinstance(bt, str) else (bt, bk.report(page, bt, cat))
    except DataError as exc:
        return f"The profile {r} cannot be backtested: {exc}"


main = prepared(ref)
if isinstance(main, str):
    st.info(plain(main), icon=":material/info:")
    st.stop()
bt, rep = main
runs = {ref: main}
if other and other != ref:
    second = prepared(other)
    if isinstance(second, str):
        st.warning(plain(second), icon=":material/warning:")
    else:
        runs[other] = second
st.markdown(f"**{plain(rep['profile'])}**, {rep['score']}: {len(rep['as_of'])} as-of dates "
            f"{rep['as_of'][0]} to {rep['as_of'][-1]}, churn within {rep['horizon_days']} days; "
            f"{rep['n_accounts']:,} account-dates, {rep['n_churned']:,} churned.")
for why in sorted(set(rep["reasons"].values())):
    st.warning(plain(why), icon=":material/help:")

st.subheader("Headline figures", divider="gray")
st.dataframe(pd.DataFrame({r: comparison.headline(x[1]) for r, x in runs.items()}).rename_axis("figure"),
             width="stretch", column_config={r: st.column_config.NumberColumn(r, format="%.4g") for r in runs})
left, right = st.columns(2)
curves = {r: comparison.roc_curve(*comparison.pooled_scores(x[0])) for r, x in runs.items()}
plot.show(bk.roc_chart({r: cv for r, cv in curves.items() if len(cv[0])}), key="val_roc", where=left)
plot.show(bk.decile_chart(rep["deciles"]), key="val_deciles", where=right)
right.caption("Bars only where the decile has enough churned to judge (Wilson 95% intervals).")

st.subheader("Floors", divider="gray")
floors = pd.DataFrame(rep["floors"]).rename(columns={"floor": "rule"})
floors["result"] = floors["passed"].map(comparison.RESULT)
floors["reason"] = floors.get("reason", pd.Series(dtype=object))
st.dataframe(floors[["rule", "value", "threshold", "result", "reason"]], hide_index=True, width="stretch",
             column_config={"value": st.column_config.NumberColumn(format="%.3f"),
                            "threshold": st.column_config.NumberColumn(format="%.3g")})

st.subheader("Bands: churn, retention and expansion", divider="gray")
bands = pd.DataFrame(rep["bands"]).T[["accounts", "share", "churned", "churn_rate", "lift", "expansion_rate",
                                      "nrr"]].rename_axis("band")
left, right = st.columns([3, 2])
left.dataframe(bands.astype(float), width="stretch", column_config={
    c: st.column_config.NumberColumn(c.replace("_", " "), format="%.3g") for c in bands.columns})
plot.show(bk.band_outcomes_chart(rep["bands"]), key="val_bands", where=right)

st.subheader("Churn risk: calibration", divider="gray")
risk = rep["churn_risk"]
if risk["fit"] is None:
    st.info(plain(risk["reason"]), icon=":material/info:")
else:
    plot.show(bk.calibration_chart(risk["calibration"]), key="val_calibration")
    st.caption(f"{plain(risk['fit']['about'])}. Brier score {risk['brier']:.4f}. The fit's snapshots can "
               "overlap these dates: this shows the fit is sound, not how it does on new dates.")

st.subheader("Each signal on its own", divider="gray")
st.caption("Its normalised value (direction applied, 1 = best) alone as the score: AUC above 0.5 means "
           "a high value goes with staying.")
signals = pd.DataFrame(rep["signals"]).drop(columns=["deciles"])
signals["verdict"] = signals["verdict"].fillna(signals.get("reason", pd.Series(dtype=object)))
signals["auc_ci"] = signals["auc_ci"].map(lambda ci: "" if ci is None else f"{ci[0]:.3f}-{ci[1]:.3f}")
st.dataframe(signals[["label", "direction", "weight", "auc", "auc_ci", "agrees", "verdict"]], hide_index=True,
             width="stretch", column_config={"auc": st.column_config.NumberColumn("AUC", format="%.3f"),
                                             "auc_ci": "95% CI"})

with st.expander("Per as-of date"):
    st.dataframe(pd.DataFrame([{"as_of": d["as_of"], "account-dates": d["n_accounts"], "churned": d["n_churned"],
                                "AUC": d["auc"]} for d in rep["per_date"]]), hide_index=True, width="stretch")
