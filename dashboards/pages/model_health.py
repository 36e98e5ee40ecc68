"""Model health: convergence checks per run, run history and timings, the group effects' posterior."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import charts, data, ui

st.title("Model health")
db = ui.database()
stamp = data.version(db)
with ui.shown_problems():
    history = data.run_history(db, stamp)
if history.empty:
    st.warning(f"No forecast run in `{db}` yet. Run `demand-forecast forecast --db {db}`.")
    st.stop()

published = history[(history["status"] == "succeeded") & history["published"]]
default = history.index.get_loc(published.index[0]) if len(published) else 0
run_id = st.selectbox(
    "Run",
    history["run_id"].tolist(),
    index=int(default),
    format_func=lambda r: f"{r} ({history.loc[history['run_id'] == r, 'status'].iloc[0]})",
    key="run",
)
run = history[history["run_id"] == run_id].iloc[0]

verdict = run["verdict"] or run["status"]
state = f"status {run['status']}, {'published' if run['published'] else 'not published'}"
if run["status"] in ("running", "failed"):
    st.info(f"This run is **{run['status']}**: it has no fit to check ({state}).")
else:
    (st.success if verdict == "converged" else st.error)(f"Verdict: **{verdict}** ({state})")
if isinstance(run["problems"], str) and run["problems"]:
    st.warning(run["problems"])
if isinstance(run["message"], str) and run["message"]:
    st.caption(run["message"])


def _num(value, fmt: str) -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, fmt)


m = st.columns(6)
m[0].metric("max R-hat", _num(run["max_rhat"], ".3f"), help="at most 1.01")
m[1].metric("min bulk ESS", _num(run["min_ess_bulk"], ",.0f"))
m[2].metric("min tail ESS", _num(run["min_ess_tail"], ",.0f"))
m[3].metric("min ESS, hyperparameters", _num(run["min_ess_hyper"], ",.0f"), help="at least 400")
m[4].metric("divergences", _num(run["divergences"], ".0f"), help="none")
m[5].metric("min energy BFMI", _num(run["min_bfmi"], ".2f"), help="at least 0.3")

attempts = pd.DataFrame()
if data.has_relations(db, ("fit_attempts",))["fit_attempts"]:  # a database from before retries has none
    with ui.shown_problems():
        attempts = data.fit_attempts(db, stamp, run_id)
if len(attempts) > 1:
    st.subheader("Attempts")
    st.caption(
        "A fit that fails its checks is retried by the run itself (more chains, smaller steps, another "
        "form for the failing part), within its time budget; the verdict above is the last attempt's."
    )
    st.dataframe(attempts.dropna(axis=1, how="all"), hide_index=True, width="stretch")

with ui.shown_problems():
    params = data.fit_parameters(db, stamp, run_id)
    effects = data.group_effects(db, stamp, run_id, run["posterior_path"])

with ui.shown_problems():
    attributes = data.run_attributes({"config": data.run_config(db, stamp, run_id) or None})
st.subheader(f"{ui.listed(attributes).capitalize() or 'Group'} effects")
if effects.frame.empty:
    st.info("This run recorded no group effects.")
else:
    st.altair_chart(charts.forest(effects.frame, attributes=attributes), width="content")
    st.caption(f"From {effects.source}. Log scale: +0.1 is about 10% more demand than the average product.")
    ui.download(effects.frame, f"group_effects_{run_id}", "Download the effects (CSV)")

st.subheader("Parameters, worst R-hat first")
st.caption(
    "The checked parameters come first; the sampler's raw coordinates (role raw) follow and are not checked."
)
if params.empty:
    st.info("No per-parameter diagnostics stored for this run.")
else:
    st.dataframe(params, hide_index=True, width="stretch", height=260)
    ui.download(params, f"fit_diagnostics_{run_id}", "Download the parameter diagnostics (CSV)")

st.subheader("Run history")
timing_cols = [c for c in history.columns if c.startswith("seconds_")]
if timing_cols:
    timings = history.melt(id_vars="run_id", value_vars=timing_cols, var_name="stage", value_name="seconds")
    timings["stage"] = timings["stage"].str.removeprefix("seconds_")
    st.altair_chart(
        alt.Chart(timings.dropna())
        .mark_bar()
        .encode(
            x=alt.X("seconds:Q", stack="zero", title="seconds"),
            y=alt.Y("run_id:N", title=None, sort=history["run_id"].tolist(), axis=alt.Axis(labelLimit=240)),
            color=alt.Color(
                "stage:N",
                sort=[c.removeprefix("seconds_") for c in timing_cols],
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["run_id", "stage", alt.Tooltip("seconds:Q", format=",.1f")],
        )
        .properties(height=max(60, 28 * len(history)), title="seconds per stage of each run"),
        width="stretch",
    )
shown = history[
    [
        "run_id",
        "created_at",
        "status",
        "published",
        "verdict",
        "max_rhat",
        "min_ess_hyper",
        "divergences",
        "sampler",
        "n_products",
        "horizon",
        "last_date",
        *timing_cols,
    ]
]
st.dataframe(shown, hide_index=True, width="stretch")
ui.download(history, "forecast_runs", "Download the run history (CSV)")
