"""Accuracy: rolling-origin backtests of the model against baselines, by level and segment; calibration."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import charts, data, ui

st.title("Accuracy")
db = ui.database()
stamp = data.version(db)
with ui.shown_problems():
    runs = data.backtests(db, stamp)
runs = runs[runs["status"] == "succeeded"]
if runs.empty:
    st.info(
        f"No finished backtest in `{db}` yet. Run `{data.BACKTEST_COMMAND} --db {db}`: it refits the model "
        "at earlier cutoffs and scores it and the baselines on the periods that followed."
    )
    st.stop()

backtest_id = st.selectbox("Backtest", runs["backtest_id"].tolist(), key="backtest")
bt = runs[runs["backtest_id"] == backtest_id].iloc[0]
st.caption(
    f"{bt['folds']} fold(s) of {bt['horizon']} periods ({bt['frequency']}), {bt['n_products']} products, "
    f"cutoffs {bt['cutoffs']}. {bt['message'] or ''}"
)
with ui.shown_problems():
    results = data.backtest_results(db, stamp, backtest_id)
metrics, pit = results["metrics"], results["pit"]
if metrics.empty:
    st.info("This backtest stored no metrics.")
    st.stop()

c1, c2, c3 = st.columns(3)
level_options = sorted(metrics["level"].unique(), key=lambda v: (v != "product", v))
level = c1.selectbox("Level", level_options, key="level")
at_level = metrics[metrics["level"] == level]
segment_options = sorted(at_level["segment"].unique(), key=lambda v: (v != "all", v))
segment = c2.selectbox("Segment", segment_options, key="segment")
folds = sorted(at_level["fold"].unique())
fold = c3.selectbox("Fold (0: all folds together)", folds, key="fold")

picked = at_level[(at_level["segment"] == segment) & (at_level["fold"] == fold)].sort_values("crps")
st.subheader(f"{level} level, segment {segment}")
best = picked.iloc[0] if len(picked) else None
if best is not None:
    model = picked[picked["method"] == "hierarchical"]
    if len(model):
        baselines = picked[~picked["method"].str.startswith(("hierarchical", "no_pooling"))]
        if len(baselines):
            top = baselines.iloc[0]
            ratio = model["crps"].iloc[0] / top["crps"] if top["crps"] else float("nan")
            st.metric(
                "CRPS of the model relative to the best baseline",
                f"{ratio:.2f}",
                help=f"best baseline here: {top['method']} (below 1: the model is better)",
            )
st.altair_chart(
    charts.bars(picked, "crps", "method", title="mean CRPS (units; lower is better)"), width="stretch"
)
st.dataframe(picked, hide_index=True, width="stretch")
ui.download(picked, f"backtest_{backtest_id}_{level}_{segment}", "Download these metrics (CSV)")

st.subheader("CRPS by segment")
by_segment = at_level[at_level["fold"] == fold]
st.altair_chart(
    alt.Chart(by_segment)
    .mark_bar()
    .encode(
        x=alt.X("crps:Q", title="mean CRPS"),
        y=alt.Y("method:N", title=None),
        color="method:N",
        row=alt.Row("segment:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        tooltip=["segment", "method", alt.Tooltip("crps:Q", format=",.3f"), "n_series"],
    )
    .properties(height=alt.Step(12)),
)

st.subheader("Coverage")
cov = picked.melt(
    id_vars="method",
    value_vars=["coverage_80", "coverage_95", "pit_coverage_80"],
    var_name="measure",
    value_name="share",
).dropna()
nominal = {"coverage_80": 0.8, "coverage_95": 0.95, "pit_coverage_80": 0.8}
cov["nominal"] = cov["measure"].map(nominal)
points = (
    alt.Chart(cov)
    .mark_point(filled=True, size=70)
    .encode(
        x=alt.X("share:Q", scale=alt.Scale(domain=[0, 1]), title="share of actuals inside"),
        y=alt.Y("method:N", title=None),
        color="measure:N",
        tooltip=[
            "method",
            "measure",
            alt.Tooltip("share:Q", format=".1%"),
            alt.Tooltip("nominal:Q", format=".0%"),
        ],
    )
)
ticks = alt.Chart(cov).mark_rule(strokeDash=[4, 4], color="#999999").encode(x="nominal:Q")
st.altair_chart(alt.layer(ticks, points), width="stretch")
st.caption(
    "Calibrated forecasts sit on the dashed lines (80% and 95%). For counts, the randomized-PIT coverage "
    "is the fair measure: ties at whole units make plain interval coverage read high."
)

st.subheader("PIT histogram (product level, all folds)")
pit_here = pit[pit["segment"] == segment] if segment in set(pit["segment"]) else pit[pit["segment"] == "all"]
if pit_here.empty:
    st.info("No PIT histogram stored for this segment.")
else:
    hist = (
        alt.Chart(pit_here)
        .mark_bar()
        .encode(
            x=alt.X("bin:O", title="PIT decile"),
            y=alt.Y("share:Q", title="share"),
            tooltip=["method", "bin", alt.Tooltip("share:Q", format=".3f")],
        )
        .properties(width=180, height=120)
    )
    flat = alt.Chart(pit_here).mark_rule(color="#d62728", strokeDash=[4, 4]).encode(y=alt.datum(0.1))
    st.altair_chart(alt.layer(hist, flat).facet(facet=alt.Facet("method:N", title=None), columns=4))
    st.caption("Flat at 0.1 is calibrated; a U shape means intervals too narrow, a hump too wide.")
    ui.download(pit_here, f"backtest_{backtest_id}_pit", "Download the PIT histogram (CSV)")

products = results["products"]
if len(products):
    st.subheader("One product's backtest forecasts")
    seg_products = products[products["segment"] == segment] if segment != "all" else products
    options = (seg_products if len(seg_products) else products)["product_id"].drop_duplicates().tolist()
    product_id = st.selectbox("Product", options, key="bt_product")
    with ui.shown_problems():
        fans = data.backtest_product(db, stamp, backtest_id, product_id)
    methods = fans["method"].unique().tolist()
    method = st.selectbox(
        "Method",
        methods,
        index=methods.index("hierarchical") if "hierarchical" in methods else 0,
        key="bt_method",
    )
    one = fans[fans["method"] == method].sort_values(["fold", "date"])
    actual = one[["date", "actual"]].drop_duplicates("date")
    st.altair_chart(
        charts.fan(
            actual.iloc[0:0],
            one,
            actual,
            title=f"{product_id}: {method} at each cutoff",
            height=260,
            actual_label="actual",
        ),
        width="stretch",
    )
    ui.download(
        ui.shown(one), f"backtest_{backtest_id}_{product_id}_{method}", "Download these forecasts (CSV)"
    )
