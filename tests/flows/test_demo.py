"""The demo flow's realism switch end to end on a small catalog: the realism files through ingest
and forecast, stock-outs read as censored periods, discontinued products forecast zero."""

import pandas as pd
import pytest

from forecast import storage
from forecast.storage.connection import SQL_DIR

N_PRODUCTS = 12
WEEKS = 60


@pytest.fixture(scope="module")
def realism_demo(tmp_path_factory, prefect_harness):
    from flows.demo import demo_flow

    db = str(tmp_path_factory.mktemp("realism") / "demand.duckdb")
    summary = demo_flow(
        db=db,
        n_products=N_PRODUCTS,
        seed=1,
        realism=True,
        realism_weeks=WEEKS,
        # ADVI: plumbing, not inference, is under test here
        options={"sampler": "advi", "draws": 60, "chains": 1, "sample_paths": 30},
        progressbar=False,
    )
    return db, summary


def _q(db, sql):
    with storage.connect_read_only(db) as con:
        return con.execute(sql).df()


def test_the_realism_files_are_written_and_loaded_whole(realism_demo):
    db, summary = realism_demo
    sales = pd.read_csv(summary.sales_csv)
    assert {"availability"} <= set(sales.columns) and (sales["availability"] < 1).any()
    written = pd.read_csv(summary.products_csv)
    assert {"end_date", "launch_date"} <= set(written.columns)
    loaded = _q(db, "select count(launch_date) as n from products")["n"][0]
    assert loaded == written["launch_date"].notna().sum()
    assert summary.ingest.rows_loaded == len(sales) and summary.ingest.rows_rejected == 0
    stored = _q(db, "select count(*) as n, count(*) filter (where availability < 1) as out from sales")
    assert stored["out"][0] == (sales["availability"] < 1).sum()
    truth = pd.read_csv(summary.truth_csv, parse_dates=["date"])
    assert len(truth) == N_PRODUCTS * 13 and {"demand", "mean", "stockout"} <= set(truth.columns)


def test_the_forecast_reads_the_plan_and_the_stock_outs(realism_demo):
    db, summary = realism_demo
    run = _q(db, f"select * from forecast_runs where run_id = '{summary.forecast.run_id}'").iloc[0]
    sales = pd.read_csv(summary.sales_csv)
    assert run["censored_rows"] == (sales["availability"] < 1).sum() > 0
    assert summary.forecast.censored_rows == run["censored_rows"]
    assert "read as lower bounds on demand" in run["message"] and "planned prices" in run["message"]
    events = _q(db, "select count(*) as n from events")["n"][0]
    assert events > 0 and "calendar event column(s)" in run["message"]
    f = _q(db, f"select * from forecasts where run_id = '{summary.forecast.run_id}'")
    plan = pd.read_csv(summary.plan_csv, parse_dates=["date"])
    assert set(f["date"]) == set(plan["date"])  # the held-out weeks are the forecast's
    flagged = set(f.loc[f["had_stockouts"], "product_id"])
    assert flagged == set(sales.loc[sales["availability"] < 1, "product_id"])
    listed = _q(db, (SQL_DIR / "queries" / "products_with_stockouts.sql").read_text())
    assert set(listed["product_id"]) == flagged and (listed["periods_out_of_stock"] > 0).all()


def test_discontinued_products_forecast_zero_after_their_end_date(realism_demo):
    db, summary = realism_demo
    ended = _q(
        db,
        "select f.product_id, max(f.p95) as p95 from latest_forecasts f join products p using (product_id) "
        "where f.date > p.end_date group by 1",
    )
    assert len(ended) and (ended["p95"] == 0).all()
