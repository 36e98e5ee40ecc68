"""Aggregates: any slice by the run's attributes (category, brand and color by default), from sample
paths summed within each draw."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, ui

st.title("Aggregates")
db = ui.database()
run = ui.latest_run(db)
stamp = data.version(db)
attributes = data.run_attributes(run)
if not attributes:
    st.info("This run's hierarchy has no attributes: there is nothing to slice or break down by.")
    st.stop()

with ui.shown_problems():
    levels = data.attribute_levels(db, stamp, attributes)

cols = st.columns(len(attributes) + 1)
picked: dict[str, str | None] = {}
remaining = levels
for col, attr in zip(cols, attributes, strict=False):
    options = [ui.ALL, *sorted(remaining[attr].dropna().astype(str).unique())]
    choice = col.selectbox(attr.capitalize(), options, key=f"slice-{attr}")
    picked[attr] = ui.none_if_all(choice)
    if picked[attr] is not None:
        remaining = remaining[remaining[attr].astype(str) == picked[attr]]
by = cols[-1].selectbox("Break down by", list(attributes), key="by")

with ui.shown_problems():
    view = data.slice_view(db, stamp, run["run_id"], by, tuple(picked.items()))
split = view["breakdown"]

n = int(view["products"]["n"][0])
name = ", ".join(f"{a} {v}" for a, v in picked.items() if v) or "whole catalog"
if n == 0 or view["forecast"].empty:
    st.info(f"No product in this slice ({name}).")
    st.stop()

forecast = view["forecast"]
horizon_total = forecast["mean"].sum()
m1, m2, m3 = st.columns(3)
m1.metric("Products in slice", f"{n:,}")
m2.metric("Expected units over the horizon", f"{horizon_total:,.0f}")
m3.metric("Periods ahead", len(forecast))
st.altair_chart(charts.fan(view["history"], forecast, title=f"{name}: units per period"), width="stretch")
st.caption(
    "Coherent: each sample path is summed across the slice's products within one posterior draw, then "
    "its quantiles taken, so the bands of a slice account for products moving together."
)

st.subheader(f"Over the horizon, by {by}")
st.altair_chart(charts.totals(split, by), width="stretch")
st.caption("Bar: expected units over the whole horizon; thick line: 80% interval; thin line: 95% interval.")
st.dataframe(split, hide_index=True, width="stretch")

st.subheader("Per period")
table = ui.shown(forecast.assign(**{a: v or ui.ALL for a, v in picked.items()}))
st.dataframe(table, hide_index=True, width="stretch")
c1, c2 = st.columns(2)
with c1:
    ui.download(table, "slice_forecast", "Download the slice's forecast (CSV)")
with c2:
    ui.download(split, f"horizon_by_{by}", f"Download the totals by {by} (CSV)")
