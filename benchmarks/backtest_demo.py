"""The backtest on the demo catalog: the model against the baselines, with the committed report.

Usage: ``uv run python benchmarks/backtest_demo.py [folds] [horizon]`` (defaults: 3 folds of 13 weeks, as
``demand-forecast backtest`` runs on the demo database). Writes ``results/backtest_demo.json`` and the
HTML report to ``results/backtest_demo.html``. ``--rerender DB`` rebuilds both from the tables of a
backtest already stored in ``DB`` (the tables are the source of truth; no fit runs).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import OUT, save

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from flows.backtest import backtest_flow
from flows.ingest import ingest_flow
from forecast import storage
from forecast.evaluation import backtest, report
from forecast.prep.synthetic import generate_retail_data


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
    shutil.copy(summary.report_path, OUT / "backtest_demo.html")
    record(db, summary.backtest_id, round(seconds, 1))


def record(db: str, backtest_id: str, seconds: float | None = None) -> None:
    """Results JSON (and, with ``seconds`` None, a re-rendered report) from the stored tables."""
    with storage.connect_read_only(db) as con:
        stored = storage.read_backtest(con, backtest_id)
        sales, _ = storage.load_training_data(con)
    m = stored["metrics"]
    comparison = backtest.compare(m)
    rec = stored["record"]
    if seconds is None:
        _, grid, _ = backtest.plan_folds(sales, rec["folds"], rec["horizon"], rec["step"])
        history = backtest.dense_panel(sales, grid)
        forecasts = stored["forecasts"].assign(
            date=lambda f: pd.to_datetime(f["date"]), cutoff=lambda f: pd.to_datetime(f["cutoff"])
        )
        text = report.render(rec, m, stored["pit"], forecasts, history, comparison, comparison["advice"])
        report.write(OUT / "backtest_demo.html", text)
        seconds = sum(v for k, v in rec["timings"].items())
    overall = m[m["fold"] == 0]
    OUT.mkdir(exist_ok=True)
    save(
        "backtest_demo",
        {
            "backtest_id": backtest_id,
            "seconds": seconds,
            "timings": rec["timings"],
            "fits": rec["fits"],
            "comparison": comparison,
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
    if sys.argv[1:2] == ["--rerender"]:
        db = sys.argv[2]
        with storage.connect_read_only(db) as con:
            record(db, storage.latest_backtest_id(con))
    else:
        main(*[int(a) for a in sys.argv[1:]])
