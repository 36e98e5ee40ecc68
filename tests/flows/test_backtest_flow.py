"""A real backtest through the Prefect flow on tiny data: every method fitted and scored per fold."""

import json

import numpy as np
import pandas as pd
import pytest

from forecast import storage
from forecast.contract.quantiles import BACKTEST_QUANTILES
from forecast.evaluation.backtest import FROM_ATTRIBUTES, MODEL, NO_POOLING
from forecast.evaluation.baselines import BASELINES
from forecast.evaluation.reconciled import METHODS as RECONCILED
from tests.conftest import write_inputs

FOLDS = 2
HORIZON = 4


@pytest.fixture(scope="module")
def backtest_db(tmp_path_factory, tiny_data, prefect_harness):
    from flows.backtest import backtest_flow
    from flows.ingest import ingest_flow

    folder = tmp_path_factory.mktemp("backtest")
    sales, products = write_inputs(tiny_data, folder)
    db = str(folder / "demand.duckdb")
    ingest_flow(str(sales), str(products), db=db)
    summary = backtest_flow(
        db=db,
        folds=FOLDS,
        horizon=HORIZON,
        options={
            "draws": 150,
            "tune": 150,
            "attempt_budget": 1.0,  # test-sized fits, scored whatever their verdict
            "sample_paths": 100,
        },
        cold_start_share=0.2,
        progressbar=False,
    )
    return db, summary


def _q(db, sql):
    with storage.connect_read_only(db) as con:
        return con.execute(sql).df()


def test_run_record_says_what_was_done(backtest_db, tiny_data):
    db, summary = backtest_db
    runs = _q(db, "select * from backtest_runs")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "succeeded" and run["backtest_id"] == summary.backtest_id
    cutoffs = pd.to_datetime(json.loads(run["cutoffs"]))
    last = tiny_data.sales["date"].max()
    assert cutoffs[-1] == last - pd.Timedelta(weeks=HORIZON)
    assert (np.diff(cutoffs) == pd.Timedelta(weeks=HORIZON)).all()
    fits = json.loads(run["fits"])
    # Per fold: the model and the no-pooling model; in the last fold one more, from attributes only.
    assert sorted((f["fold"], f["model"]) for f in fits) == sorted(
        [(k, m) for k in (1, 2) for m in (MODEL, NO_POOLING)] + [(2, FROM_ATTRIBUTES)]
    )


def test_every_method_scored_at_every_level(backtest_db):
    db, summary = backtest_db
    m = _q(db, f"select * from backtest_metrics where backtest_id = '{summary.backtest_id}'")
    overall = m[(m["fold"] == 0) & (m["segment"] == "all")]
    for method in (MODEL, NO_POOLING, *BASELINES, *RECONCILED):
        levels = set(overall.loc[overall["method"] == method, "level"])
        assert levels == {"product", "category", "brand", "color", "total"}, method
    assert set(m["fold"]) == {0, 1, 2}
    assert (m["crps"] >= 0).all() and m["coverage_80"].between(0, 1).all()
    # Only the project's models forecast products launched after the cutoff.
    unseen = m[m["segment"] == "unseen"]
    assert len(unseen) and set(unseen["method"]) <= {MODEL, NO_POOLING}
    # Cold start: the same products, from attributes and with history.
    cold = m[(m["segment"] == "cold_start") & (m["fold"] == 0)].set_index("method")
    assert set(cold.index) == {MODEL, FROM_ATTRIBUTES}
    assert cold.loc[MODEL, "n_cells"] == cold.loc[FROM_ATTRIBUTES, "n_cells"] > 0


def test_scored_forecasts_are_after_their_cutoff_and_match_the_sales(backtest_db, tiny_data):
    db, summary = backtest_db
    f = _q(db, f"select * from backtest_forecasts where backtest_id = '{summary.backtest_id}'")
    f["date"] = pd.to_datetime(f["date"])
    f["cutoff"] = pd.to_datetime(f["cutoff"])
    ahead = (f["date"] - f["cutoff"]).dt.days // 7
    assert ahead.between(1, HORIZON).all()
    q = f[BACKTEST_QUANTILES].to_numpy()
    assert (np.diff(q, axis=1) >= -1e-9).all()
    sold = tiny_data.sales.groupby(["product_id", "date"])["quantity"].sum()
    expected = sold.reindex(pd.MultiIndex.from_frame(f[["product_id", "date"]])).fillna(0).to_numpy()
    np.testing.assert_allclose(f["actual"].to_numpy(), expected)


def test_pit_histograms_are_distributions(backtest_db):
    db, summary = backtest_db
    p = _q(db, f"select * from backtest_pit where backtest_id = '{summary.backtest_id}'")
    sums = p.groupby(["method", "segment"])["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert (p.groupby(["method", "segment"])["bin"].nunique() == 10).all()


def test_report_is_self_contained(backtest_db):
    _, summary = backtest_db
    with open(summary.report_path, encoding="utf-8") as fh:
        text = fh.read()
    assert text.count('<img src="data:image/png;base64,') >= 5
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for heading in ("Verdict", "Accuracy by segment", "Accuracy by level", "Calibration", "Examples"):
        assert f"<h2>{heading}</h2>" in text


def test_summary_artifact_is_attached_to_the_run(backtest_db):
    import httpx
    from prefect.settings import PREFECT_API_URL

    _, summary = backtest_db
    artifact = httpx.get(f"{PREFECT_API_URL.value()}/artifacts/{summary.artifact_id}").json()
    assert artifact["key"] == "backtest-summary" and artifact["type"] == "markdown"
    assert artifact["flow_run_id"]  # attached to the backtest's flow run
    text = artifact["data"]
    assert summary.backtest_id in text and "CRPS by segment" in text and summary.report_path in text


def test_a_failed_backtest_is_marked_and_writes_no_results(
    tmp_path, tiny_files, prefect_harness, monkeypatch
):
    import flows.backtest as bt
    from flows.ingest import ingest_flow

    sales, products = tiny_files
    db = str(tmp_path / "demand.duckdb")
    ingest_flow(str(sales), str(products), db=db)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bt.backtest, "run_fold", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        bt.backtest_flow(db=db, folds=2, horizon=HORIZON, progressbar=False)
    runs = _q(db, "select status, message from backtest_runs")
    assert runs["status"].tolist() == ["failed"] and "disk full" in runs["message"][0]
    for table in ("backtest_metrics", "backtest_pit", "backtest_forecasts"):
        assert _q(db, f"select count(*) as n from {table}")["n"][0] == 0


def test_too_little_history_for_the_folds_is_a_clear_error(tmp_path, tiny_files, prefect_harness):
    from flows.backtest import backtest_flow
    from flows.ingest import ingest_flow

    sales, products = tiny_files
    db = str(tmp_path / "demand.duckdb")
    ingest_flow(str(sales), str(products), db=db)
    with pytest.raises(ValueError, match="cannot hold 10 folds"):
        backtest_flow(db=db, folds=10, horizon=8, progressbar=False)
    assert _q(db, "select count(*) as n from backtest_runs")["n"][0] == 0


def test_the_pipeline_backtest_step_runs_the_backtest_flow(tmp_path, tiny_files, prefect_harness):
    from flows.ingest import ingest_flow
    from flows.pipeline import run_backtest

    sales, products = tiny_files
    db = str(tmp_path / "demand.duckdb")
    ingest_flow(str(sales), str(products), db=db)
    # The pipeline's [backtest] options reach the flow: too many folds for 60 weeks is its clear error.
    with pytest.raises(ValueError, match="cannot hold 10 folds of 8 periods"):
        run_backtest(db, {"folds": 10, "horizon": 8})
