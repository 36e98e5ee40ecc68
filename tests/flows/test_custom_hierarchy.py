"""A catalog with attributes of its own, end to end: ingest, `forecast --nested region,store --crossed
size` through the command line, then the aggregate views and the dashboards by region, store and size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from forecast import storage
from tests.dashboards.conftest import open_page

pytestmark = pytest.mark.slow  # fits the model (a small one: seconds)

HORIZON = 3
PATHS = 60
# store "central" exists in both regions: two groups, as the model nests stores in regions
STORES = {"north": ["n1", "central"], "south": ["s1", "central"]}
SIZES = ["S", "M", "L"]


def make_catalog(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two products per store (sizes cycling), 40 weeks of negative-binomial sales; zero weeks absent."""
    rng = np.random.default_rng(seed)
    rows = []
    for region, stores in STORES.items():
        for store in stores:
            for k in range(2):
                rows.append((f"P{len(rows) + 1:02d}", region, store, SIZES[(len(rows) + k) % 3]))
    products = pd.DataFrame(rows, columns=["product_id", "region", "store", "size"])
    dates = pd.date_range("2025-01-06", periods=40, freq="7D")
    region_level = {"north": 1.0, "south": 0.4}
    size_level = {"S": 0.3, "M": 0.0, "L": -0.3}
    sales = []
    for p in products.itertuples():
        mu = np.exp(1.0 + region_level[p.region] + size_level[p.size] + rng.normal(0, 0.3))
        units = rng.negative_binomial(3, 3 / (3 + mu), size=len(dates))
        sales += [(d.date(), p.product_id, int(u)) for d, u in zip(dates, units, strict=True) if u > 0]
    return products, pd.DataFrame(sales, columns=["date", "product_id", "quantity"])


@pytest.fixture(scope="module")
def custom_db(tmp_path_factory, prefect_harness):
    folder = tmp_path_factory.mktemp("custom_hierarchy")
    products, sales = make_catalog()
    products.to_csv(folder / "products.csv", index=False)
    sales.to_csv(folder / "sales.csv", index=False)
    db = str(folder / "demand.duckdb")
    runner = CliRunner()
    args = ["--db", db]
    result = runner.invoke(
        app,
        ["ingest", "--sales", str(folder / "sales.csv"), "--products", str(folder / "products.csv"), *args],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "forecast", *args, "--nested", "region,store", "--crossed", "size", "--horizon", str(HORIZON),
            "--draws", "100", "--tune", "100", "--chains", "2", "--sample-paths", str(PATHS),
            "--attempt-budget", "1", "--publish-unconverged",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with storage.connect_read_only(db) as con:
        run_id = con.execute("select run_id from latest_run").fetchone()[0]
        draws = con.execute(
            "select product_id, date, draw, quantity from forecast_draws where run_id = ?", [run_id]
        ).df()
    return {"db": db, "run_id": run_id, "products": products, "draws": draws}


def _q(db: str, sql: str, params=None) -> pd.DataFrame:
    with storage.connect_read_only(db) as con:
        return con.execute(sql, params or []).df()


def _summed(draws: pd.DataFrame, ids) -> np.ndarray:
    """numpy: units per (draw, date) summed over the products ``ids``."""
    picked = draws[draws["product_id"].isin(list(ids))]
    return picked.pivot_table(index="draw", columns="date", values="quantity", aggfunc="sum").to_numpy()


def test_the_run_records_its_hierarchy(custom_db):
    got = _q(
        custom_db["db"],
        "select attribute, kind, position from run_hierarchy where run_id = ? order by position",
        [custom_db["run_id"]],
    )
    assert got.values.tolist() == [["region", "nested", 1], ["store", "nested", 2], ["size", "crossed", 3]]


def test_aggregates_per_region_store_and_size_are_sums_of_the_product_draws(custom_db):
    db, products, draws = custom_db["db"], custom_db["products"], custom_db["draws"]
    got = _q(db, "select * from latest_level_forecasts order by position, parents, level, date")
    got["parents"] = got["parents"].map(tuple)
    assert set(got["run_id"]) == {custom_db["run_id"]}
    groups = got.groupby(["attribute", "parents", "level"]).size()
    assert (groups == HORIZON).all()
    want = (
        {("region", (), r) for r in STORES}
        | {("store", (r,), s) for r, stores in STORES.items() for s in stores}
        | {("size", (), s) for s in SIZES}
    )
    assert set(groups.index) == want
    for (attribute, parents, level), frame in got.groupby(["attribute", "parents", "level"]):
        keep = products[attribute] == level
        if parents:
            keep &= products["region"] == parents[0]
        units = _summed(draws, products.loc[keep, "product_id"])
        assert (frame["products"] == keep.sum()).all()
        np.testing.assert_allclose(frame["mean"], units.mean(axis=0))
        np.testing.assert_allclose(frame["p10"], np.quantile(units, 0.1, axis=0))
        np.testing.assert_allclose(frame["p90"], np.quantile(units, 0.9, axis=0))
    # every attribute's levels add up to the catalog's total
    total = _summed(draws, products["product_id"]).mean(axis=0)
    for _, frame in got.groupby("attribute"):
        np.testing.assert_allclose(frame.groupby("date")["mean"].sum(), total)
    # a slice by any pairs, and the catalog's default views have nothing to show
    sliced = _q(db, "select * from slice_forecast_by(map {'region': 'north', 'size': 'L'})")
    ids = products[(products["region"] == "north") & (products["size"] == "L")]["product_id"]
    np.testing.assert_allclose(sliced["p50"], np.quantile(_summed(draws, ids), 0.5, axis=0))
    assert _q(db, "select count(*) as n from category_forecasts")["n"][0] == 0


def test_dashboards_filter_and_group_by_the_runs_attributes(monkeypatch, custom_db):
    db, products, draws = custom_db["db"], custom_db["products"], custom_db["draws"]
    at = open_page(monkeypatch, db, "aggregates")
    boxes = {box.key for box in at.selectbox}
    assert {"slice-region", "slice-store", "slice-size"} <= boxes and "slice-category" not in boxes
    assert at.selectbox(key="by").options == ["region", "store", "size"]
    at.selectbox(key="slice-region").set_value("south").run()
    assert not at.exception
    south = products[products["region"] == "south"]
    assert next(m.value for m in at.metric if m.label == "Products in slice") == str(len(south))
    assert set(at.selectbox(key="slice-store").options[1:]) == set(south["store"])
    np.testing.assert_allclose(
        at.dataframe[-1].value["mean"], _summed(draws, south["product_id"]).mean(axis=0)
    )
    at.selectbox(key="by").set_value("size").run()
    assert set(at.dataframe[0].value["size"]) == set(south["size"])

    at = open_page(monkeypatch, db, "new_products")
    assert at.selectbox(key="group_by").options == ["region", "store", "size"]
    at = open_page(monkeypatch, db, "model_health")
    assert "Region, store and size effects" in [h.value for h in at.subheader]
    at = open_page(monkeypatch, db, "explorer")
    label = at.selectbox(key="product").options[0]
    assert "None" not in label and len(label.split(" · ")) == 4  # id, region, store, size
