"""The backtest on the demo catalog: the model against the baselines, with the committed report.

Usage: ``uv run python benchmarks/backtest_demo.py [folds] [horizon]`` (defaults: 3 folds of 13 weeks, as
``demand-forecast backtest`` runs on the demo database). Writes ``results/backtest_demo.json`` and the
HTML report to ``results/backtest_demo.html``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import OUT, save

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from flows.backtest import backtest_flow
from flows.ingest import ingest_flow
from forecast.synthetic import generate_retail_data


def main(folds: int = 3, horizon: int | None = None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="backtest-demo-"))
    data = generate_retail_data(n_products=500, seed=42)  # the demo's catalog
    sales, products = folder / "sales.csv", folder / "products.csv"
    data.sales.assign(date=data.sales["date"].dt.date).to_csv(sales, index=False)
    data.products.to_csv(products, index=False)
    db = str(folder / "demand.duckdb")
    ingest_flow(str(sales), str(products), db=db)
    clock = time.perf_counter()
    summary = backtest_flow(db=db, folds=folds, horizon=horizon, progressbar=False)
    seconds = time.perf_counter() - clock
    m = summary.metrics
    overall = m[m["fold"] == 0]
    OUT.mkdir(exist_ok=True)
    shutil.copy(summary.report_path, OUT / "backtest_demo.html")
    save(
        "backtest_demo",
        {
            "backtest_id": summary.backtest_id,
            "seconds": round(seconds, 1),
            "timings": summary.timings,
            "verdict": summary.verdict,
            "crps_by_segment": overall[overall["level"] == "product"]
            .pivot_table(index="method", columns="segment", values="crps")
            .round(4)
            .to_dict(),
            "crps_by_level": overall[overall["segment"] == "all"]
            .pivot_table(index="method", columns="level", values="crps")
            .round(4)
            .to_dict(),
            "product_all": overall[(overall["level"] == "product") & (overall["segment"] == "all")]
            .drop(columns=["level", "segment", "fold"])
            .round(4)
            .to_dict(orient="records"),
        },
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
