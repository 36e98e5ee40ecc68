"""The analyst dashboards: ``demand-forecast dashboard [--db PATH]`` serves this app with Streamlit.

Each page is one module under ``dashboards/pages/``; every query is in ``dashboards/data.py``.
"""

from __future__ import annotations

import streamlit as st

from dashboards import data

PAGES = {
    "Forecasts": [
        st.Page("pages/explorer.py", title="Forecast explorer", icon=":material/query_stats:", default=True),
        st.Page("pages/aggregates.py", title="Aggregates", icon=":material/stacked_line_chart:"),
        st.Page("pages/new_products.py", title="New and sparse products", icon=":material/fiber_new:"),
    ],
    "Quality": [
        st.Page("pages/model_health.py", title="Model health", icon=":material/monitor_heart:"),
        st.Page("pages/accuracy.py", title="Accuracy", icon=":material/target:"),
    ],
}

st.set_page_config(page_title="demand-forecast", page_icon=":material/query_stats:", layout="wide")
st.sidebar.caption(f"Database: `{data.db_path()}` (read-only)")
st.navigation(PAGES).run()
