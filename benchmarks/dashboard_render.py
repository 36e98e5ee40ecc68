"""How long each dashboard page takes to render, under Streamlit's AppTest, on a real database.

    uv run --locked python benchmarks/dashboard_render.py /tmp/dash_demo.duckdb [--repeats 5]

Per page: ``cold`` is a first render with every query cache cleared (what an analyst waits for the
first time a page opens, or after a new run lands); ``warm`` is a rerun with the caches filled (a
widget changed elsewhere on the page). Imports and the first script start are paid once before
timing. Also times the heaviest interaction of each page (another product, slice, run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import duckdb
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
PAGES = ["explorer", "aggregates", "new_products", "model_health", "accuracy"]


def _interaction(at: AppTest, page: str, db: str) -> None:
    """Change the page's main choice: the work an analyst triggers most."""
    with duckdb.connect(db, read_only=True) as con:
        if page == "explorer":
            pid = con.execute("select product_id from products order by product_id desc limit 1").fetchone()[
                0
            ]
            at.selectbox(key="product").set_value(pid)
        elif page == "aggregates":
            cat = con.execute("select category from products order by category limit 1").fetchone()[0]
            at.selectbox(key="slice-category").set_value(cat)
        elif page == "new_products":
            at.selectbox(key="group_by").set_value("brand")
        elif page == "model_health":
            options = at.selectbox(key="run").options
            at.selectbox(key="run").set_value(options[-1])
        elif page == "accuracy" and at.selectbox:
            at.selectbox(key="level").set_value(at.selectbox(key="level").options[-1])


def timed(at: AppTest) -> float:
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["DEMAND_DB"] = args.db
    size = Path(args.db).stat().st_size / 2**20
    with duckdb.connect(args.db, read_only=True) as con:
        counts = {
            t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("products", "forecast_draws")
        }
    print(
        f"database {args.db}: {size:.0f} MiB, {counts['products']} products, {counts['forecast_draws']:,} draw rows"
    )

    warmup = AppTest.from_file(str(APP), default_timeout=300)
    for page in PAGES:  # imports, first script start
        warmup.switch_page(f"pages/{page}.py").run()

    print(
        f"{'page':<14} {'cold median':>12} {'cold max':>9} {'warm median':>12} {'interaction':>12}   (seconds)"
    )
    for page in PAGES:
        cold, warm, change = [], [], []
        for _ in range(args.repeats):
            st.cache_data.clear()
            at = AppTest.from_file(str(APP), default_timeout=300)
            at.switch_page(f"pages/{page}.py")
            cold.append(timed(at))
            warm.append(timed(at))
            _interaction(at, page, args.db)
            change.append(timed(at))
        print(
            f"{page:<14} {statistics.median(cold):>12.2f} {max(cold):>9.2f} {statistics.median(warm):>12.2f} "
            f"{statistics.median(change):>12.2f}"
        )


if __name__ == "__main__":
    main()
