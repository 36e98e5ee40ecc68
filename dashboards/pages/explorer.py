"""Forecast explorer: one product's history, forecast bands, actuals since, and how much it pooled."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui

st.title("Forecast explorer")
db = ui.database()
run = ui.latest_run(db)
stamp = data.version(db)

attributes = data.run_attributes(run)
with ui.shown_problems():
    catalog = data.products(db, stamp, run["run_id"])
# the run's attributes first, then any other attribute a product holds (not the default ones a
# catalog of other attributes leaves empty)
metrics = ("n_obs", "units", "shrinkage")
others = [
    c for c in catalog.columns if c not in ("product_id", *metrics, *attributes) and catalog[c].notna().any()
]
attrs = [a for a in attributes if a in catalog.columns] + others
catalog = catalog[["product_id", *attrs, *metrics]]

text = st.text_input("Search products", placeholder="product id or attributes, e.g. 'tops red'", key="search")
found = data.search(catalog, text)
if found.empty:
    st.info(f"No product matches '{text}'.")
    st.stop()
labels = {
    row.product_id: " · ".join([str(row.product_id), *[str(getattr(row, a)) for a in attrs]])
    for row in found.itertuples()
}
product_id = st.selectbox(
    f"Product ({len(found)} of {len(catalog)} match)",
    list(labels),
    format_func=labels.get,
    key="product",
)

with ui.shown_problems():
    view = data.product_view(db, stamp, run["run_id"], run["last_date"], run.get("frequency"), product_id)
forecast, history, actuals = view["forecast"], view["history"], view["actuals"]
effects = view["effects"]

left, right = st.columns([3, 1])
with left:
    if forecast.empty:
        st.warning(f"Run `{run['run_id']}` has no forecast for `{product_id}`.")
    else:
        st.altair_chart(
            charts.fan(history, forecast, actuals, title=f"{product_id}: history and forecast"),
            width="stretch",
        )
        st.caption(
            "Bands: 50%, 80% and 95% intervals of the forecast distribution (95% from the sample paths); "
            "line: median. Red points: sales that arrived after the fit."
        )
with right:
    st.markdown("**Attributes**")
    values = view["attributes"][[a for a in attrs if a in view["attributes"].columns]].T.reset_index()
    values.columns = ["attribute", "value"]
    st.dataframe(values, hide_index=True, width="stretch")
    st.markdown("**Borrowed from its groups**")
    if effects.empty:
        st.info("No pooling record for this product in this run.")
    else:
        e = effects.iloc[0]
        shrinkage = e["shrinkage"]
        st.metric(
            "Shrinkage",
            "n/a" if pd.isna(shrinkage) else f"{shrinkage:.0%}",
            help=f"The weight of its groups' mean ({', '.join(attributes)}) in the product's level: "
            "0% its own sales alone, 100% its groups alone (a product without history). It weighs the "
            "information in its own rows against how far products spread around their groups.",
        )
        st.metric("Periods of history", int(e["n_obs"] or 0))
        st.metric("Units sold in history", f"{int(e['units'] or 0):,}")
        st.caption(
            f"Level (log scale): pooled {e['pooled_effect']:.2f}, its groups {e['group_effect']:.2f}, "
            + (
                "no sales of its own."
                if pd.isna(e["no_pooling_effect"])
                else f"its own rows alone {e['no_pooling_effect']:.2f}."
            )
        )

if len(actuals) and not forecast.empty:
    scored = actuals.merge(forecast[["date", "p10", "p50", "p90"]], on="date", how="inner")
    if len(scored):
        inside = ((scored["actual"] >= scored["p10"]) & (scored["actual"] <= scored["p90"])).mean()
        st.info(
            f"{len(scored)} forecast period(s) have arrived: {inside:.0%} of them inside the 80% interval."
        )

st.subheader("Forecast table")
table = forecast.merge(actuals.rename(columns={"actual": "actual_since"}), on="date", how="left")
table.insert(0, "product_id", product_id)
table = ui.shown(table)
st.dataframe(table, hide_index=True, width="stretch")
ui.download(table, f"forecast_{product_id}", "Download this product's forecast (CSV)")
