"""A small real forecast database for the dashboards: ingest, a fit, sales that arrived, a backtest."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from forecast import storage
from forecast.contract.run_record import RunRecord
from forecast.prep.synthetic import generate_retail_data

HORIZON = 4
ARRIVED = 2  # forecast periods whose sales are ingested after the fit
METHODS = ["hierarchical", "no_pooling", "seasonal_naive", "auto_ets"]
BACKTEST_ID = "bt-test"

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PAGES = ["explorer", "aggregates", "new_products", "model_health", "accuracy"]


def open_page(monkeypatch, db: str, page: str) -> AppTest:
    monkeypatch.setenv("DEMAND_DB", db)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.assign(date=pd.to_datetime(frame["date"]).dt.date).to_csv(path, index=False)
    return path


def build_database(folder: Path) -> dict:
    """Ingest 30 products x 60 weeks, fit and forecast through the flows, then let two weeks arrive,
    record a failed run and a backtest (rows shaped by ``sql/006_backtest_tables.sql``)."""
    from flows.forecast_flow import forecast_flow
    from flows.ingest import ingest_flow

    world = generate_retail_data(n_products=30, n_periods=60, seed=7, new_share=0.15, horizon=ARRIVED)
    train_end = pd.Timestamp(world.sales["date"].min()) + pd.Timedelta(weeks=59)
    sales = world.sales[world.sales["date"] <= train_end]
    later = world.sales[world.sales["date"] > train_end]
    products = folder / "products.csv"
    world.products.to_csv(products, index=False)
    db = str(folder / "demand.duckdb")
    ingest_flow(str(_write_csv(sales, folder / "sales.csv")), str(products), db=db)
    summary = forecast_flow(
        db=db,
        options={
            "horizon": HORIZON,
            "draws": 150,
            "tune": 150,
            "chains": 2,
            "sample_paths": 100,
            "attempt_budget": 1.0,
        },
        progressbar=False,
        publish_unconverged=True,  # a test-sized fit; the dashboards show its verdict either way
    )
    ingest_flow(str(_write_csv(later, folder / "sales_later.csv")), str(products), db=db)
    con = storage.connect(db)
    try:
        storage.start_run(con, RunRecord.started("failed-run", sampler="nutpie"))
        storage.fail_run(con, "failed-run", "ValueError: an example failure")
        backtest = insert_backtest(con)
    finally:
        con.close()
    return {
        "db": db,
        "run_id": summary.run_id,
        "products": world.products,
        "later": later,
        "backtest": backtest,
    }


def insert_backtest(con) -> dict[str, pd.DataFrame]:
    """A finished backtest with known numbers: two folds, two levels, three segments."""
    rng = np.random.default_rng(11)
    con.execute(
        "insert into backtest_runs (backtest_id, created_at, finished_at, status, message, frequency, folds, "
        "horizon, step, cutoffs, n_products, methods) values (?, ?, ?, 'succeeded', 'test backtest', "
        "'weekly', 2, 4, 4, ?, 30, ?)",
        [
            BACKTEST_ID,
            datetime(2026, 1, 1),
            datetime(2026, 1, 1, 0, 5),
            json.dumps(["2025-10-27", "2025-11-24"]),
            json.dumps(METHODS),
        ],
    )
    rows = []
    for level in ("product", "category"):
        for segment in ("all", "new", "regular"):
            for fold in (0, 1, 2):
                for i, method in enumerate(METHODS):
                    crps = round(1.0 + 0.25 * i + rng.uniform(0, 0.1) + (level == "category") * 5, 4)
                    cov = [round(x, 3) for x in rng.uniform(0.6, 0.97, 3)]
                    rows.append(
                        (BACKTEST_ID, method, level, segment, fold, 10, 40, crps, crps / 3, 0.9, 0.05, *cov)
                    )
    metrics = pd.DataFrame(
        rows,
        columns=[
            "backtest_id",
            "method",
            "level",
            "segment",
            "fold",
            "n_series",
            "n_cells",
            "crps",
            "wql",
            "mase",
            "bias",
            "coverage_80",
            "coverage_95",
            "pit_coverage_80",
        ],
    )
    con.register("m", metrics)
    con.execute("insert into backtest_metrics by name select * from m")
    pit = pd.DataFrame(
        [
            (BACKTEST_ID, method, segment, b, share)
            for method in METHODS
            for segment in ("all", "new", "regular")
            for b, share in enumerate(rng.dirichlet(np.full(10, 30.0)))
        ],
        columns=["backtest_id", "method", "segment", "bin", "share"],
    )
    con.register("pt", pit)
    con.execute("insert into backtest_pit by name select * from pt")
    dates = pd.date_range("2025-11-03", periods=4, freq="7D")
    fc = []
    for method in METHODS:
        for pid, segment in (("P00001", "regular"), ("P00002", "new")):
            for d, actual in zip(dates, (3, 0, 5, 2), strict=True):
                q = np.sort(rng.uniform(0, 8, 9))
                fc.append(
                    (
                        BACKTEST_ID,
                        1,
                        dates[0] - pd.Timedelta(weeks=1),
                        method,
                        pid,
                        segment,
                        d,
                        actual,
                        float(q.mean()),
                        *q,
                    )
                )
    fcs = pd.DataFrame(
        fc,
        columns=[
            "backtest_id",
            "fold",
            "cutoff",
            "method",
            "product_id",
            "segment",
            "date",
            "actual",
            "mean",
            "p025",
            "p05",
            "p10",
            "p25",
            "p50",
            "p75",
            "p90",
            "p95",
            "p975",
        ],
    )
    con.register("bf", fcs)
    con.execute("insert into backtest_forecasts by name select * from bf")
    return {"metrics": metrics, "pit": pit, "forecasts": fcs}


@pytest.fixture(scope="session")
def dashboard_db(tmp_path_factory, prefect_harness):
    return build_database(tmp_path_factory.mktemp("dashboards"))
