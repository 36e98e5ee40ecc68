"""Every dashboard page under Streamlit's AppTest, on a database from a real (small) fit."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import data
from forecast import storage
from forecast.contract.segments import NEW_MAX_PERIODS, SPARSE_MAX_UNITS
from tests.dashboards.conftest import ARRIVED, BACKTEST_ID, HORIZON, PAGES, open_page

pytestmark = pytest.mark.slow  # the database comes from a real MCMC fit


def q(db: str, sql: str, params=None) -> pd.DataFrame:
    with duckdb.connect(db, read_only=True) as con:
        return con.execute(sql, params or []).df()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def summed_draws(db: str, run_id: str, product_ids) -> np.ndarray:
    """numpy: units per (draw, date) summed over ``product_ids``."""
    draws = q(db, "select product_id, date, draw, quantity from forecast_draws where run_id = ?", [run_id])
    picked = draws[draws["product_id"].isin(list(product_ids))]
    return picked.pivot_table(index="draw", columns="date", values="quantity", aggfunc="sum").to_numpy()


# ----------------------------------------------------------------------------------------- pages


def test_explorer_shows_history_forecast_bands_arrivals_and_pooling(monkeypatch, dashboard_db):
    db, run_id, later = dashboard_db["db"], dashboard_db["run_id"], dashboard_db["later"]
    at = open_page(monkeypatch, db, "explorer")
    assert f"Run `{run_id}`" in captions(at)
    assert len(at.selectbox(key="product").options) == len(dashboard_db["products"])

    sold = later.groupby("product_id")["quantity"].sum()
    pid = sold[sold > 0].index[0]
    at.selectbox(key="product").set_value(pid).run()
    assert not at.exception
    assert charts(at) == 1
    table = at.dataframe[-1].value
    expected = q(
        db, "select * from forecasts where run_id = ? and product_id = ? order by date", [run_id, pid]
    )
    assert len(table) == HORIZON
    np.testing.assert_allclose(table["p50"], expected["p50"])
    np.testing.assert_allclose(table["p90"], expected["p90"])
    # the 95% band comes from the sample paths and is wider than the stored 90% one
    assert (table["p975"] >= table["p95"]).all() and (table["p025"] <= table["p05"]).all()
    mine = later[later["product_id"] == pid]
    arrived = mine.set_index(pd.to_datetime(mine["date"]))["quantity"]
    got = table.set_index(pd.to_datetime(table["date"]))["actual_since"]
    assert got.notna().sum() == ARRIVED
    for date, value in got.dropna().items():
        assert value == arrived.get(date, 0)  # no row that period: sold zero

    effects = q(db, "select * from product_effects where run_id = ? and product_id = ?", [run_id, pid]).iloc[
        0
    ]
    assert metric(at, "Shrinkage") == f"{effects['shrinkage']:.0%}"
    assert metric(at, "Periods of history") == str(int(effects["n_obs"]))
    assert at.get("download_button")


def test_explorer_search_by_attributes(monkeypatch, dashboard_db):
    products = dashboard_db["products"]
    category, color = products.iloc[0][["category", "color"]]
    at = open_page(monkeypatch, dashboard_db["db"], "explorer")
    at.text_input(key="search").input(f"{category.upper()} {color}").run()
    want = products[(products["category"] == category) & (products["color"] == color)]["product_id"]
    shown = [label.split(" · ")[0] for label in at.selectbox(key="product").options]  # "id · attributes"
    assert sorted(shown) == sorted(want)
    at.text_input(key="search").input("no-such-product").run()
    assert "No product matches" in at.info[0].value


def test_explorer_shows_only_the_published_run(monkeypatch, dashboard_db, tmp_path):
    """A newer run that is written but not published (unconverged) never reaches the pages."""
    db = str(tmp_path / "copy.duckdb")
    shutil.copy(dashboard_db["db"], db)
    with storage.connect(db) as con:
        con.execute(
            "insert into forecast_runs (run_id, created_at, status, published) "
            "values ('newer', now()::timestamp + interval 1 day, 'unconverged', false)"
        )
        con.execute(
            "insert into forecasts by name select 'newer' as run_id, product_id, date, 1e6 as mean, 1e6 as p05, "
            "1e6 as p10, 1e6 as p25, 1e6 as p50, 1e6 as p75, 1e6 as p90, 1e6 as p95 "
            "from forecasts where run_id = ?",
            [dashboard_db["run_id"]],
        )
    at = open_page(monkeypatch, db, "explorer")
    assert f"Run `{dashboard_db['run_id']}`" in captions(at) and "`newer`" not in captions(at)
    assert at.dataframe[-1].value["p50"].max() < 1e6


def test_aggregates_are_coherent_sums_of_sample_paths(monkeypatch, dashboard_db):
    db, run_id, products = dashboard_db["db"], dashboard_db["run_id"], dashboard_db["products"]
    at = open_page(monkeypatch, db, "aggregates")
    assert metric(at, "Products in slice") == str(len(products))
    total = q(db, "select sum(mean) as s from forecasts where run_id = ?", [run_id])["s"][0]
    assert metric(at, "Expected units over the horizon") == f"{total:,.0f}"
    assert charts(at) == 2

    category = products["category"].value_counts().index[0]
    at.selectbox(key="slice-category").set_value(category).run()
    assert not at.exception
    members = products[products["category"] == category]["product_id"]
    assert metric(at, "Products in slice") == str(len(members))
    units = summed_draws(db, run_id, members)
    per_period = at.dataframe[-1].value
    np.testing.assert_allclose(per_period["p90"], np.quantile(units, 0.9, axis=0))
    np.testing.assert_allclose(per_period["mean"], units.mean(axis=0))
    # brand choices narrow to the category's brands
    assert set(at.selectbox(key="slice-brand").options[1:]) == set(
        products[products["category"] == category]["brand"]
    )

    at.selectbox(key="by").set_value("color").run()
    split = at.dataframe[0].value
    assert set(split["color"]) == set(products[products["category"] == category]["color"])
    for _, row in split.iterrows():
        ids = products[(products["category"] == category) & (products["color"] == row["color"])]["product_id"]
        horizon_units = summed_draws(db, run_id, ids).sum(axis=1)
        assert row["mean"] == pytest.approx(horizon_units.mean())
        assert row["p10"] == pytest.approx(np.quantile(horizon_units, 0.1))
    assert len(at.get("download_button")) == 2


def test_new_and_sparse_products_with_their_groups(monkeypatch, dashboard_db):
    db, run_id = dashboard_db["db"], dashboard_db["run_id"]
    effects = q(db, "select * from product_effects where run_id = ?", [run_id])
    at = open_page(monkeypatch, db, "new_products")
    no_history = effects["units"].fillna(0) <= 0
    new = ~no_history & (effects["n_obs"] <= NEW_MAX_PERIODS)
    sparse = ~no_history & ~new & (effects["units"] < SPARSE_MAX_UNITS)
    assert metric(at, "No history products") == str(int(no_history.sum()))
    assert metric(at, "New products") == str(int(new.sum()))
    assert metric(at, "Sparse products") == str(int(sparse.sum()))
    assert new.sum() > 0
    shown = at.dataframe[0].value
    assert len(shown) == int((no_history | new | sparse).sum())
    assert set(shown["product_id"]) == set(effects[no_history | new | sparse]["product_id"])
    # the group's mean forecast per product, from the forecasts table
    fc = q(
        db,
        "select p.category, avg(f.mean) as m from forecasts f join products p using (product_id) "
        "where run_id = ? group by p.category",
        [run_id],
    ).set_index("category")["m"]
    for _, row in shown.iterrows():
        assert row["category_mean_per_product"] == pytest.approx(fc[row["group"]])
    assert charts(at) == 3  # shrinkage scatter, the product's fan, its group's fan

    at.number_input(key="new_max").set_value(30).run()
    assert metric(at, "New products") == str(int((~no_history & (effects["n_obs"] <= 30)).sum()))


def test_model_health_shows_checks_history_and_group_effects(monkeypatch, dashboard_db):
    import arviz as az

    db, run_id, products = dashboard_db["db"], dashboard_db["run_id"], dashboard_db["products"]
    run = q(db, "select * from forecast_runs where run_id = ?", [run_id]).iloc[0]
    at = open_page(monkeypatch, db, "model_health")
    verdict_box = (at.success or at.error)[0].value
    assert run["verdict"] in verdict_box
    assert metric(at, "max R-hat") == f"{run['max_rhat']:.3f}"
    assert metric(at, "divergences") == str(int(run["divergences"]))
    assert set(at.selectbox(key="run").options) == {f"{run_id} ({run['status']})", "failed-run (failed)"}
    params = at.dataframe[0].value
    assert (
        len(params) == q(db, "select count(*) as n from fit_diagnostics where run_id = ?", [run_id])["n"][0]
    )
    assert params["r_hat"].iloc[0] == pytest.approx(run["max_rhat"])  # the gated worst leads the table
    raw = (params["role"] == "raw").to_numpy()
    assert not raw[: (~raw).sum()].any()  # the ungated raw draws come after every gated parameter
    assert charts(at) == 2  # forest plot, timings

    effects = data.group_effects(db, data.version(db), run_id, run["posterior_path"])
    assert "fit_diagnostics" in effects.source  # the effects themselves, whichever form was sampled
    # brands nest in categories, so a brand's level is "category/brand"
    levels = products.assign(brand=products["category"] + "/" + products["brand"])
    want = {(a, str(v)) for a in data.ATTRIBUTES for v in levels[a].unique()}
    assert set(zip(effects.frame["attribute"], effects.frame["level"], strict=True)) == want
    posterior = az.from_netcdf(run["posterior_path"]).posterior
    for row in effects.frame.itertuples():
        var = posterior[f"effect_{row.attribute}"]
        values = var.sel({var.dims[-1]: row.level}).to_numpy()
        assert row.mean == pytest.approx(values.mean())
        lo, hi = az.hdi(values.ravel(), hdi_prob=0.9)
        assert (row.hdi_05, row.hdi_95) == pytest.approx((lo, hi))
    # runs that recorded only the standardized z: the effects come from the posterior file, the same
    older = data._effects_from_posterior(run["posterior_path"]).set_index(["attribute", "level"])
    same = effects.frame.set_index(["attribute", "level"]).loc[older.index]
    np.testing.assert_allclose(older[["mean", "hdi_05", "hdi_95"]], same[["mean", "hdi_05", "hdi_95"]])

    at.selectbox(key="run").set_value("failed-run").run()
    assert not at.exception
    assert "failed" in at.info[0].value
    assert "an example failure" in captions(at)


def test_accuracy_against_baselines_by_level_and_segment(monkeypatch, dashboard_db):
    metrics = dashboard_db["backtest"]["metrics"]
    at = open_page(monkeypatch, dashboard_db["db"], "accuracy")
    assert at.selectbox(key="backtest").value == BACKTEST_ID

    def expected(level, segment, fold=0):
        m = metrics[(metrics["level"] == level) & (metrics["segment"] == segment) & (metrics["fold"] == fold)]
        return m.sort_values("crps")

    want = expected("product", "all")
    got = at.dataframe[0].value
    assert list(got["method"]) == list(want["method"])
    np.testing.assert_allclose(got["crps"], want["crps"])
    model = want[want["method"] == "hierarchical"]["crps"].iloc[0]
    baseline = want[want["method"].isin(["seasonal_naive", "auto_ets"])]["crps"].min()
    assert metric(at, "CRPS of the model relative to the best baseline") == f"{model / baseline:.2f}"
    assert charts(at) >= 4  # CRPS bars, CRPS by segment, coverage, PIT, one product's fans

    at.selectbox(key="level").set_value("category").run()
    at.selectbox(key="segment").set_value("new").run()
    at.selectbox(key="fold").set_value(1).run()
    assert not at.exception
    np.testing.assert_allclose(at.dataframe[0].value["crps"], expected("category", "new", 1)["crps"])
    assert len(at.get("download_button")) == 3


def test_every_page_reads_without_writing(monkeypatch, dashboard_db):
    db = dashboard_db["db"]
    before = hashlib.sha256(Path(db).read_bytes()).hexdigest()
    for page in PAGES:
        at = open_page(monkeypatch, db, page)
        assert at.get("download_button"), page
    assert hashlib.sha256(Path(db).read_bytes()).hexdigest() == before
    assert not Path(f"{db}.wal").exists()
