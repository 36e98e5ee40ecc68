"""New and sparse products: their forecasts next to their groups', and how far they were pooled."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import charts, data, ui
from forecast.contract.segments import NEW_MAX_PERIODS, SPARSE_MAX_UNITS

st.title("New and sparse products")
db = ui.database()
run = ui.latest_run(db)
stamp = data.version(db)
attributes = data.run_attributes(run)

with ui.shown_problems():
    table = data.pooling_table(db, stamp, run["run_id"], attributes)
if table.empty:
    st.info("This run has no per-product pooling record (product_effects).")
    st.stop()
if not attributes:
    st.info("This run's hierarchy has no attributes: its products have no groups to compare with.")
    st.stop()

c1, c2, c3 = st.columns(3)
new_max = c1.number_input("New: at most this many periods of history", 1, 520, NEW_MAX_PERIODS, key="new_max")
sparse_max = c2.number_input(
    "Sparse: fewer units than this in history", 1, 100_000, SPARSE_MAX_UNITS, key="sparse_max"
)
by = c3.selectbox("Compare with the group by", list(attributes), key="group_by")
table = data.with_group_means(table.assign(segment=data.segment(table, new_max, sparse_max)), by)

counts = table["segment"].value_counts()
shrink = table.groupby("segment")["shrinkage"].median()
cols = st.columns(4)
for col, seg in zip(cols, ["no history", "new", "sparse", "regular"], strict=True):
    col.metric(
        f"{seg.capitalize()} products",
        int(counts.get(seg, 0)),
        help="median shrinkage "
        + ("n/a" if seg not in shrink or shrink.isna()[seg] else f"{shrink[seg]:.0%}"),
    )

st.subheader("Shrinkage at a glance")
scatter = (
    alt.Chart(table)
    .mark_circle(size=45, opacity=0.7)
    .encode(
        x=alt.X("n_obs:Q", title="periods of history"),
        y=alt.Y("shrinkage:Q", title="shrinkage (1: all from its groups)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color(
            "segment:N", scale=alt.Scale(domain=["no history", "new", "sparse", "regular"]), title="segment"
        ),
        tooltip=[
            "product_id",
            *attributes,
            "segment",
            "n_obs",
            "units",
            alt.Tooltip("shrinkage:Q", format=".0%"),
            alt.Tooltip("forecast_mean:Q", format=",.2f"),
        ],
    )
    .properties(height=280)
)
st.altair_chart(scatter, width="stretch")
st.caption(
    "Products with little history are pulled toward their groups (shrinkage near 1); established ones "
    "keep their own level (near 0). Products that never sold get their level from their groups alone."
)

focus = table[table["segment"] != "regular"].sort_values(["segment", "n_obs", "product_id"])
show = focus[
    [
        "product_id",
        *attributes,
        "segment",
        "n_obs",
        "units",
        "shrinkage",
        "forecast_mean",
        "group",
        "group_forecast_mean",
    ]
].rename(columns={"forecast_mean": "forecast_per_period", "group_forecast_mean": f"{by}_mean_per_product"})
st.subheader(f"{len(show)} new, sparse or unsold products, next to their {by}")
st.dataframe(
    show,
    hide_index=True,
    width="stretch",
    column_config={
        "shrinkage": st.column_config.ProgressColumn(
            "shrinkage", min_value=0.0, max_value=1.0, format="percent"
        )
    },
)
ui.download(show, "new_and_sparse_products", "Download this table (CSV)")

if show.empty:
    st.stop()
st.subheader("One product against its group")
product_id = st.selectbox("Product", show["product_id"].tolist(), key="focus_product")
row = show[show["product_id"] == product_id].iloc[0]
with ui.shown_problems():
    view = data.product_view(db, stamp, run["run_id"], run["last_date"], run.get("frequency"), product_id)
    group = data.group_fan(db, stamp, run["run_id"], by, str(row["group"]), attributes)
left, right = st.columns(2)
with left:
    st.altair_chart(
        charts.fan(
            view["history"],
            view["forecast"],
            view["actuals"],
            title=f"{product_id} ({row['segment']})",
            height=260,
        ),
        width="stretch",
    )
with right:
    empty = view["history"].iloc[0:0]
    st.altair_chart(
        charts.fan(empty, group, title=f"average product of {by} {row['group']}", height=260),
        width="stretch",
    )
st.caption(f"Shrinkage {row['shrinkage']:.0%}: the weight of its groups in this product's level.")
