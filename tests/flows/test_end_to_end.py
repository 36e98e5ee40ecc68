"""Ingest and forecast through the Prefect flows on a tiny data set, then check the tables."""

import numpy as np
import pytest

from forecast import storage
from forecast.contract.quantiles import QUANTILE_COLUMNS
from tests.conftest import write_inputs

HORIZON = 5
PATHS = 40


@pytest.fixture(scope="module")
def forecast_db(tmp_path_factory, tiny_data, prefect_harness):
    from flows.forecast_flow import forecast_flow
    from flows.ingest import ingest_flow

    folder = tmp_path_factory.mktemp("e2e")
    sales, products = write_inputs(tiny_data, folder)
    db = str(folder / "demand.duckdb")
    ingested = ingest_flow(str(sales), str(products), db=db)
    summary = forecast_flow(
        db=db,
        options={
            "horizon": HORIZON,
            "draws": 150,
            "tune": 150,
            "chains": 2,
            "sample_paths": PATHS,
            "attempt_budget": 1.0,  # no retries: 150 draws are for plumbing, not for passing the checks
        },
        progressbar=False,
        publish_unconverged=True,
    )
    return db, ingested, summary


def _q(db, sql):
    con = storage.connect(db, read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_ingest_flow_accounts_for_every_row(forecast_db, tiny_data):
    db, ingested, _ = forecast_db
    assert ingested.rows_read == ingested.rows_loaded + ingested.rows_rejected == len(tiny_data.sales)
    assert _q(db, "select count(*) as n from sales")["n"][0] == len(tiny_data.sales)


def test_every_product_has_every_horizon_date(forecast_db, tiny_data):
    db, _, summary = forecast_db
    f = _q(db, f"select * from forecasts where run_id = '{summary.run_id}'")
    assert f["product_id"].nunique() == len(tiny_data.products)  # incl. products with no sales
    assert f.groupby("product_id")["date"].nunique().eq(HORIZON).all()
    assert len(f) == len(tiny_data.products) * HORIZON
    last_sale = tiny_data.sales["date"].max()
    assert (f["date"] > last_sale).all()
    assert f["date"].nunique() == HORIZON


def test_quantiles_are_ordered_and_bracket_the_mean(forecast_db):
    db, _, summary = forecast_db
    f = _q(db, f"select * from forecasts where run_id = '{summary.run_id}'")
    q = f[list(QUANTILE_COLUMNS)].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    assert (q >= 0).all()
    assert ((f["mean"] >= f["p05"]) & (f["mean"] <= f["p95"] + 1e-9)).mean() > 0.95


def test_draws_per_cell_match_the_configuration(forecast_db):
    db, _, summary = forecast_db
    d = _q(
        db,
        f"select product_id, date, count(*) as n, count(distinct draw) as k, min(quantity) as lo "
        f"from forecast_draws where run_id = '{summary.run_id}' group by all",
    )
    assert (d["n"] == PATHS).all() and (d["k"] == PATHS).all()
    assert (d["lo"] >= 0).all()


def test_run_record_is_complete_and_published(forecast_db, tiny_data):
    db, _, summary = forecast_db
    r = _q(db, f"select * from forecast_runs where run_id = '{summary.run_id}'").iloc[0]
    assert r["run_id"] == summary.run_id
    assert r["status"] == "succeeded" and r["published"]
    assert r["frequency"] == "weekly" and r["horizon"] == HORIZON
    assert r["n_products"] == len(tiny_data.products)
    assert len(r["config_hash"]) == 16
    assert r["verdict"] in ("converged", "not converged")
    assert r["posterior_path"].endswith(f"{summary.run_id}.nc")
    assert set(summary.timings) == {"load", "prepare", "fit", "forecast", "write"}
    latest = _q(db, "select distinct run_id from latest_forecasts")
    assert latest["run_id"].tolist() == [summary.run_id]


def test_forecasts_follow_sales_levels(forecast_db, tiny_data):
    """Products that sold more in the last weeks get larger forecasts: the fit is not noise."""
    db, _, summary = forecast_db
    f = _q(
        db, f"select product_id, avg(mean) as fc from forecasts where run_id = '{summary.run_id}' group by 1"
    )
    recent = tiny_data.sales[
        tiny_data.sales["date"] > tiny_data.sales["date"].max() - np.timedelta64(20 * 7, "D")
    ]
    level = recent.groupby("product_id")["quantity"].sum() / 20
    joined = f.set_index("product_id")["fc"].to_frame().join(level.rename("recent"), how="inner")
    assert joined.corr(method="spearman").iloc[0, 1] > 0.8


def test_diagnostics_and_effects_tables(forecast_db, tiny_data):
    db, _, summary = forecast_db
    diag = _q(db, f"select * from fit_diagnostics where run_id = '{summary.run_id}'")
    assert {"sigma_category", "sigma_brand", "sigma_color", "log_alpha"} <= set(diag["parameter"])
    assert diag.loc[diag["parameter"] == "sigma_brand", "hyperparameter"].item()
    assert (diag["r_hat"] > 0.9).all() and (diag["ess_bulk"] > 0).all()
    run = _q(db, f"select max_rhat, min_ess_hyper from forecast_runs where run_id = '{summary.run_id}'")
    gated = diag[diag["role"] != "raw"]  # the raw variables of a parameterisation are reported, not gated
    assert set(diag["role"]) <= {"hyper", "shared", "product", "raw"} and len(gated) < len(diag)
    assert run["max_rhat"][0] == pytest.approx(gated["r_hat"].max())
    eff = _q(db, f"select * from product_effects where run_id = '{summary.run_id}'")
    assert len(eff) == len(tiny_data.products)
    no_history = eff[eff["n_obs"] == 0]
    assert len(no_history) and no_history["no_pooling_effect"].isna().all()
    # Shrinkage is the groups' weight in each product's level, on its 0-1 scale for every product:
    # 1 for a product with no rows. (That sparse products are shrunk further is a statistical claim,
    # tested on a converged fit in tests/forecast/evaluation/test_evidence.py; this fit's 150 draws are for plumbing.)
    assert eff["shrinkage"].notna().all() and eff["shrinkage"].between(0, 1).all()
    assert (eff.loc[eff["n_obs"] == 0, "shrinkage"] == 1).all()


def test_posterior_is_saved_with_its_config_hash(forecast_db):
    import arviz as az

    db, _, summary = forecast_db
    r = _q(db, f"select posterior_path, config_hash from forecast_runs where run_id = '{summary.run_id}'")
    idata = az.from_netcdf(r["posterior_path"][0])
    assert idata.posterior.attrs["config_hash"] == r["config_hash"][0]
    assert "alpha_product" in idata.posterior


def test_unconverged_run_is_kept_but_not_published(forecast_db):
    from flows.forecast_flow import DiagnosticsError, forecast_flow

    db, _, good = forecast_db
    with pytest.raises(DiagnosticsError, match="failed its convergence checks") as err:
        options = {"horizon": HORIZON, "draws": 15, "tune": 15, "sample_paths": 5, "attempt_budget": 1.0}
        forecast_flow(db=db, options=options, progressbar=False)
    runs = _q(db, "select run_id, status, published, problems from forecast_runs order by created_at")
    bad = runs.iloc[-1]
    assert f"demand-forecast publish {bad['run_id']}" in str(err.value)  # how to publish it anyway
    assert bad["status"] == "unconverged" and not bad["published"] and bad["problems"]
    assert _q(db, "select distinct run_id from latest_forecasts")["run_id"].tolist() == [good.run_id]
