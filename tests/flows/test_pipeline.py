"""The scheduled pipeline flow: inbox -> ingest (cached) -> forecast -> artifacts, and its failures."""

from __future__ import annotations

import json

import pytest

from flows.pipeline import CHANGES_KEY, SUMMARY_KEY, InboxFiles, ingest_cache_key
from forecast import storage
from forecast.config.settings import parse_settings

# Enough draws to exercise every step; too few to pass the convergence checks.
SMALL_FIT = {"draws": 60, "tune": 60, "chains": 2, "sample_paths": 20, "horizon": 4}


def _q(db, sql):
    with storage.connect_read_only(db) as con:
        return con.execute(sql).fetchall()


def _artifacts(flow_run_id):
    """The flow run's artifacts by key (through the REST filter: only the fields that matter)."""
    from prefect.client.orchestration import get_client

    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 50}
    with get_client(sync_client=True) as client:
        found = client.request("POST", "/artifacts/filter", json=body).json()
    return {a["key"]: a["data"] for a in found if a["key"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data, prefect_harness):
    """Three runs on one inbox: first fit, the same inbox again, a corrected file that fails the checks."""
    from flows.pipeline import pipeline_flow

    folder = tmp_path_factory.mktemp("pipeline")
    inbox = folder / "inbox"
    inbox.mkdir()
    sales = tiny_data.sales.assign(date=tiny_data.sales["date"].dt.date)
    sales.to_csv(inbox / "sales_001.csv", index=False)
    tiny_data.products.to_csv(inbox / "products.csv", index=False)
    db = str(folder / "demand.duckdb")
    common = {"inbox": str(inbox), "db": db, "sales": "sales_*.csv"}

    first = pipeline_flow(**common, forecast={**SMALL_FIT, "publish_unconverged": True}, return_state=True)
    ingests_after_first = _q(db, "select count(*) from ingest_log")[0][0]
    again = pipeline_flow(**common, only_new_data=True, forecast=SMALL_FIT, return_state=True)
    ingests_after_again = _q(db, "select count(*) from ingest_log")[0][0]

    # A later file doubles the last week's sales of the five best sellers: new data, a new fit.
    last = sales["date"].max()
    top = sales.groupby("product_id")["quantity"].sum().nlargest(5).index
    fix = sales[(sales["date"] == last) & sales["product_id"].isin(top)].copy()
    fix["quantity"] = fix["quantity"] * 2 + 10
    fix.to_csv(inbox / "sales_002.csv", index=False)
    failed = pipeline_flow(**common, forecast=SMALL_FIT, return_state=True)
    return {
        "db": db,
        "first": first,
        "again": again,
        "failed": failed,
        "ingests": (ingests_after_first, ingests_after_again),
    }


@pytest.mark.slow
def test_first_run_ingests_forecasts_and_reports(runs, tiny_data):
    state, db = runs["first"], runs["db"]
    assert state.is_completed()
    summary = state.result()
    assert not summary.ingest_cached and summary.ingest.rows_loaded == len(tiny_data.sales)
    run_id = summary.forecast.run_id
    assert _q(db, "select run_id from latest_forecasts limit 1")[0][0] == run_id
    artifacts = _artifacts(state.state_details.flow_run_id)
    assert {SUMMARY_KEY, CHANGES_KEY} <= set(artifacts)
    text = artifacts[SUMMARY_KEY]
    assert run_id in text and "products: 30" in text and "diagnostics:" in text
    assert "first published run" in text  # nothing earlier to compare with
    table = json.loads(artifacts[CHANGES_KEY])
    assert len(table) == 20 and all(row["previous_total"] is None for row in table)
    assert all(row["new_total"] == row["change"] for row in table)


@pytest.mark.slow
def test_unchanged_inbox_is_not_ingested_again(runs):
    state = runs["again"]
    assert state.is_completed()
    summary = state.result()
    assert summary.ingest_cached  # the ingest task's result came from its cache
    assert summary.forecast is None and "no new sales" in summary.skipped
    first, again = runs["ingests"]
    assert first == again == 1


@pytest.mark.slow
def test_failed_diagnostics_fail_the_run_with_the_reason_and_still_report(runs):
    state, db = runs["failed"], runs["db"]
    assert state.is_failed()
    assert "failed its convergence checks" in state.message
    assert "was not published" in state.message
    first_run = runs["first"].result().forecast.run_id
    statuses = dict(_q(db, "select run_id, status from forecast_runs"))
    new_run = next(r for r in statuses if r != first_run)
    assert statuses[new_run] == "unconverged"
    assert _q(db, "select distinct run_id from latest_forecasts") == [(first_run,)]
    assert _q(db, "select count(*) from ingest_log")[0][0] == 2  # the new file was loaded
    artifacts = _artifacts(state.state_details.flow_run_id)
    assert f"Forecast run {new_run}" in artifacts[SUMMARY_KEY]
    assert "not published" in artifacts[SUMMARY_KEY]
    assert f"Top movers against run {first_run}" in artifacts[SUMMARY_KEY]
    # The changes compare the new run with the published one, from the SQL macro.
    with storage.connect_read_only(db) as con:
        changes = storage.forecast_changes(con, new_run, first_run)
    assert len(changes) == 30
    assert changes["change"].abs().is_monotonic_decreasing
    assert changes["previous_total"].notna().all() and changes["new_total"].notna().all()
    table = json.loads(artifacts[CHANGES_KEY])
    assert [row["product_id"] for row in table] == list(changes["product_id"][:20])
    assert table[0]["change"] == pytest.approx(changes["change"].iloc[0], abs=1e-3)


def test_ingest_cache_key_follows_content_and_database():
    def key(database, prints, column_map=None):
        files = InboxFiles(sales=[], products=[], fingerprints=prints)
        params = {"database_id": database, "files": files, "column_map": column_map, "encoding": "utf-8"}
        return ingest_cache_key(None, params)

    a = [("products", "/in/products.csv", "p1"), ("sales", "/in/sales_1.csv", "s1")]
    renamed = [("products", "/other/p.csv", "p1"), ("sales", "/other/s.csv", "s1")]
    assert key("db1", a) == key("db1", renamed)  # the content counts, not the name
    assert key("db1", a) != key("db2", a)  # a new database loads everything again
    assert key("db1", a) != key("db1", [*a, ("sales", "/in/sales_2.csv", "s2")])
    assert key("db1", a) != key("db1", a, {"day": "date"})


def test_settings_become_the_pipeline_parameters(tmp_path):
    import tomllib

    text = """
        db = "demand.duckdb"
        [inbox]
        folder = "drop"
        [inbox.map]
        date = "day"
        [forecast]
        sampler = "advi"
        draws = 300
        [backtest]
        enabled = true
        folds = 3
        [schedule]
        cron = "30 5 * * *"
    """
    settings = parse_settings(tomllib.loads(text), base=tmp_path)
    params = settings.pipeline_parameters()
    assert params["inbox"] == str(tmp_path / "drop") and params["db"] == str(tmp_path / "demand.duckdb")
    assert params["column_map"] == {"day": "date"}
    assert params["forecast"] == {"sampler": "advi", "draws": 300}
    assert params["backtest"] is True and params["backtest_options"] == {"folds": 3}
    assert settings.cron == "30 5 * * *" and settings.timezone == "UTC"
    with pytest.raises(ValueError, match="unknown setting"):
        parse_settings({"forecast": {"drawz": 3}})
    with pytest.raises(ValueError, match="draws must be of type int"):
        parse_settings({"forecast": {"draws": "many"}})
